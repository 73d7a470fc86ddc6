/**
 * The threads API the pipeline reads, over HTTP with `fetch`: the port of threadsync/provider.py's
 * HttpThreadsProvider. Each method makes exactly one request and never retries; the harness
 * counts every request as one step of the function that made it.
 */

import { loads } from "./pyjson.ts";
import { get, type PyDict, PyException, type PyValue } from "./pyvalue.ts";

/** One page of threads and the cursor of the next page (null on the last page). */
export interface ThreadPage {
  threads: PyDict[];
  nextCursor: string | null;
}

/** The API refused or failed a call: `status` is the HTTP status (null when it was not reached). */
export class ProviderError extends Error {
  override name = "ProviderError";

  constructor(
    message: string,
    readonly status: number | null,
    readonly retryAfter: number | null = null,
  ) {
    super(message);
  }
}

/** What the handlers need from the API: a page of threads, and one whole thread by id. */
export interface ThreadsApi {
  fetchPage(cursor: string | null, pageSize: number): Promise<ThreadPage>;
  fetchThread(threadId: string): Promise<PyDict>;
}

/** The API at `THREADS_API_URL`, or null when it is not set (the handlers then refuse to run,
 * at the point where the Python handlers check `ctx.api`). */
export function threadsApiFromEnv(): ThreadsApi | null {
  const url = Deno.env.get("THREADS_API_URL");
  return url ? new HttpThreadsApi(url) : null;
}

/** Reads `GET {baseUrl}/threads?limit=N[&cursor=C]` and `GET {baseUrl}/threads/<id>`. */
export class HttpThreadsApi implements ThreadsApi {
  readonly baseUrl: string;

  constructor(baseUrl: string) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
  }

  async fetchPage(cursor: string | null, pageSize: number): Promise<ThreadPage> {
    let query = `limit=${quote(String(pageSize), true)}`;
    if (cursor !== null) query += `&cursor=${quote(cursor, true)}`;
    return parsePage(await this.get(`/threads?${query}`));
  }

  async fetchThread(threadId: string): Promise<PyDict> {
    return parseThread(await this.get(`/threads/${quote(threadId, false)}`));
  }

  private async get(path: string): Promise<Uint8Array> {
    let response: Response;
    try {
      // No timeout of our own: the platform bounds a function's run, and the harness answers a
      // timed-out API call with 504 itself.
      response = await fetch(`${this.baseUrl}${path}`, {
        headers: { Accept: "application/json" },
      });
    } catch (e) {
      const reason = e instanceof Error ? e.message : String(e);
      if (/connection refused/i.test(reason)) {
        throw new ProviderError(`connection refused by threads API at ${this.baseUrl}`, null);
      }
      throw new ProviderError(`cannot reach threads API at ${this.baseUrl}: ${reason}`, null);
    }
    const body = new Uint8Array(await response.arrayBuffer());
    if (!response.ok) throw httpError(response, body);
    return body;
  }
}

/** A refusal: the API's own `{"error": "..."}` text when it sent one. The harness's API server
 * puts the message of the fake API's ProviderError there, so the reply quotes what the Python
 * handler, calling the fake API directly, quotes. */
function httpError(response: Response, body: Uint8Array): ProviderError {
  let message = `threads API answered HTTP ${response.status}`;
  try {
    const payload = loads(body);
    const error = payload instanceof Map ? get(payload, "error") : null;
    if (typeof error === "string") message = error;
  } catch (e) {
    if (!(e instanceof PyException)) throw e;
  }
  let retryAfter: number | null = null;
  if (response.status === 429) retryAfter = pythonFloat(response.headers.get("Retry-After") ?? "");
  return new ProviderError(message, response.status, retryAfter);
}

/** `float(text)`, or null where Python raises ValueError. */
function pythonFloat(text: string): number | null {
  const t = text.trim();
  if (/^[+-]?(inf|infinity)$/i.test(t)) return t.startsWith("-") ? -Infinity : Infinity;
  if (/^[+-]?nan$/i.test(t)) return NaN;
  return /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(t) ? Number(t) : null;
}

function parseJson(body: Uint8Array): PyValue {
  try {
    return loads(body);
  } catch (e) {
    if (e instanceof PyException && e.isValueError) {
      throw new ProviderError(`malformed response from threads API: ${e.message}`, 502);
    }
    throw e;
  }
}

function parseThread(body: Uint8Array): PyDict {
  const payload = parseJson(body);
  if (!(payload instanceof Map) || typeof get(payload, "id") !== "string") {
    throw new ProviderError(
      "malformed response from threads API: a thread must be an object with a string 'id'",
      502,
    );
  }
  return payload;
}

function parsePage(body: Uint8Array): ThreadPage {
  const payload = parseJson(body);
  if (!(payload instanceof Map)) {
    throw new ProviderError("malformed response from threads API: not an object", 502);
  }
  const threads = get(payload, "threads");
  if (!Array.isArray(threads) || !threads.every((t) => t instanceof Map)) {
    throw new ProviderError(
      "malformed response from threads API: 'threads' is not a list of objects",
      502,
    );
  }
  const nextCursor = payload.has("next_cursor") ? get(payload, "next_cursor") : undefined;
  if (nextCursor !== null && typeof nextCursor !== "string") {
    throw new ProviderError(
      "malformed response from threads API: 'next_cursor' missing or not a string",
      502,
    );
  }
  return { threads: threads as PyDict[], nextCursor };
}

/** `urllib.parse.quote(text, safe='')`, or `quote_plus` (space as +) when `plus`: UTF-8, with
 * only letters, digits and `_.-~` left as they are. */
function quote(text: string, plus: boolean): string {
  if (!text.isWellFormed()) {
    throw new PyException(
      "UnicodeEncodeError",
      `cannot quote ${JSON.stringify(text)}: lone surrogate`,
    );
  }
  let out = "";
  for (const byte of new TextEncoder().encode(text)) {
    const ch = String.fromCharCode(byte);
    if (/[A-Za-z0-9_.~-]/.test(ch)) out += ch;
    else if (plus && ch === " ") out += "+";
    else out += `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

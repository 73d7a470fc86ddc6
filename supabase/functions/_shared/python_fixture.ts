/**
 * Cases whose expected results Python computed: tests/test_functions_static.py writes them to a
 * JSON file and names it in THREADSYNC_PY_FIXTURE; without it, only the built-in cases run.
 */

/** Bytes given as base64 (bodies are bytes: some are not UTF-8, or not text at all). */
export interface BodyCase {
  name: string;
  body: string;
}

export interface HashCase extends BodyCase {
  hash: string;
}

export interface SummariseCase extends BodyCase {
  result: string | null; // json.dumps(summarise(thread), sort_keys=True)
  error: string | null; // "<Python exception class>: <str(exc)>"
}

export interface WebhookCase extends BodyCase {
  table: string;
  id: string | null;
  error: string | null;
}

/** One API answer as the harness's HTTP surface gives it. */
export interface ApiAnswer {
  status: number;
  body: string; // base64
  retry_after: string | null;
}

/** One handler run: what the fakes answer, and what the Python handler did with them. */
export interface HandlerCase extends BodyCase {
  handler: "page_worker" | "processor";
  rows: Record<string, unknown>[]; // each RPC's one row, as PostgREST sends it, in call order
  answers: ApiAnswer[]; // each API call's answer, in call order
  calls: string[]; // "rpc <fn> <json.dumps(args, sort_keys=True)>" or "GET <path>", in order
  status: number;
  reply: string; // json.dumps(reply.body, sort_keys=True)
}

export interface Fixture {
  hash: HashCase[];
  summarise: SummariseCase[];
  webhook: WebhookCase[];
  handlers: HandlerCase[];
}

export const FIXTURE_ENV = "THREADSYNC_PY_FIXTURE";

export function fixture(): Fixture | null {
  const allowed = Deno.permissions.querySync({ name: "env", variable: FIXTURE_ENV });
  const path = allowed.state === "granted" ? Deno.env.get(FIXTURE_ENV) : undefined;
  return path ? JSON.parse(Deno.readTextFileSync(path)) as Fixture : null;
}

export function bytes(base64: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}

export function utf8(text: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(text);
}

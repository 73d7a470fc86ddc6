/**
 * Page worker: claims the page its webhook names, fetches it, stages its threads, completes it.
 * The port of threadsync/page_worker.py: the same RPCs with the same arguments, in the same order.
 */

import type { Context } from "../_shared/context.ts";
import { rpcRow } from "../_shared/db.ts";
import type { PyDict } from "../_shared/pyvalue.ts";
import { type Reply, reply } from "../_shared/reply.ts";
import { ProviderError } from "../_shared/threads_api.ts";
import { BadWebhook, rowId } from "../_shared/webhook.ts";
import { int, wire } from "../_shared/wire.ts";

export const TABLE = "sync_page_queue";

/** Serve one Database Webhook for a new `sync_page_queue` row. */
export async function handle(ctx: Context, body: Uint8Array): Promise<Reply> {
  let pageId: bigint;
  try {
    pageId = rowId(body, TABLE);
  } catch (e) {
    if (e instanceof BadWebhook) return reply(400, { outcome: "rejected", error: e.message });
    throw e;
  }
  if (ctx.api === null) {
    throw new Error("the page worker needs a threads API (set THREADS_API_URL)");
  }

  const claim = await rpcRow(ctx.db, "claim_page", { p_page_id: int(pageId) });
  if (!claim.claimed) return reply(200, { outcome: "noop", page_id: pageId, reason: claim.reason });
  const token = claim.claim_token;

  // The API call happens outside any transaction: no lock is held while we wait on the network.
  let threads: PyDict[];
  let nextCursor: string | null;
  try {
    ({ threads, nextCursor } = await ctx.api.fetchPage(
      claim.cursor as string | null,
      claim.page_size as number,
    ));
  } catch (e) {
    if (!(e instanceof ProviderError)) throw e;
    return fail(ctx, pageId, token, `threads API: ${e.message}`, e.retryAfter);
  }

  const done = await rpcRow(ctx.db, "complete_page", {
    p_page_id: int(pageId),
    p_token: token,
    p_threads: wire(threads),
    p_next_cursor: nextCursor,
  });
  if (!done.completed) return reply(200, { outcome: "noop", page_id: pageId, reason: done.reason });
  return reply(200, {
    outcome: "done",
    page_id: pageId,
    staged: done.staged,
    next_page_id: done.next_page_id,
  });
}

async function fail(
  ctx: Context,
  pageId: bigint,
  token: unknown,
  error: string,
  retryAfter: number | null,
): Promise<Reply> {
  const failed = await rpcRow(ctx.db, "fail_page", {
    p_page_id: int(pageId),
    p_token: token,
    p_error: error,
    p_retry_after_seconds: retryAfter === null ? null : wire(retryAfter),
  });
  let outcome = failed.status === "failed" ? "dead-letter" : "retry";
  if (!failed.recorded) outcome = "noop";
  return reply(503, {
    outcome,
    page_id: pageId,
    error,
    next_retry_at: pythonDatetime(failed.next_retry_at),
  });
}

/** `str(datetime)` of a timestamptz that PostgREST sent as ISO 8601 text, as the Python handler
 * writes what psycopg gave it: a space before the time, microseconds in six digits, `+HH:MM`. */
export function pythonDatetime(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  const text = String(value);
  const m = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?(Z|[+-]\d{2}(?::?\d{2})?)$/
    .exec(text);
  if (!m) return text;
  const [, date, time, fraction, zone] = m;
  const micros = fraction && /[1-9]/.test(fraction) ? `.${fraction.padEnd(6, "0")}` : "";
  let offset = zone === "Z" ? "+00:00" : zone.replace(":", "");
  if (offset !== "+00:00") offset = `${offset.slice(0, 3)}:${offset.slice(3, 5) || "00"}`;
  return `${date} ${time}${micros}${offset}`;
}

/**
 * Processor: claims the entry its webhook names, reads its thread from the API, processes it,
 * writes it and completes the entry. The port of threadsync/processor.py: the same RPCs with the
 * same arguments, in the same order.
 */

import type { Context } from "../_shared/context.ts";
import { rpcRow } from "../_shared/db.ts";
import { get, type PyDict, PyException } from "../_shared/pyvalue.ts";
import { type Reply, reply } from "../_shared/reply.ts";
import { summarise } from "../_shared/summarise.ts";
import { ProviderError } from "../_shared/threads_api.ts";
import { BadWebhook, rowId } from "../_shared/webhook.ts";
import { int, wire } from "../_shared/wire.ts";

export const TABLE = "thread_processing_queue";

/** Serve one Database Webhook for a new `thread_processing_queue` row. */
export async function handle(ctx: Context, body: Uint8Array): Promise<Reply> {
  let entryId: bigint;
  try {
    entryId = rowId(body, TABLE);
  } catch (e) {
    if (e instanceof BadWebhook) return reply(400, { outcome: "rejected", error: e.message });
    throw e;
  }

  const claim = await rpcRow(ctx.db, "claim_thread", { p_entry_id: int(entryId) });
  if (!claim.claimed) {
    return reply(200, { outcome: "noop", entry_id: entryId, reason: claim.reason });
  }
  const threadId = claim.external_id === null ? "None" : String(claim.external_id);
  return processClaimed(ctx, entryId, claim.claim_token, threadId);
}

/** After the claim: read the thread from the API, process it, complete (or fail) the entry. */
export async function processClaimed(
  ctx: Context,
  entryId: bigint,
  token: unknown,
  threadId: string,
): Promise<Reply> {
  if (ctx.api === null) {
    throw new Error("the processor needs a threads API (set THREADS_API_URL)");
  }
  // The API call happens outside any transaction: no lock is held while we wait on the network.
  let thread: PyDict;
  try {
    thread = await ctx.api.fetchThread(threadId);
  } catch (e) {
    if (!(e instanceof ProviderError)) throw e;
    return fail(ctx, entryId, token, 503, `threads API: ${e.message}`, e.retryAfter);
  }
  let result: PyDict;
  try {
    result = await summarise(thread);
  } catch (e) {
    const caught = e instanceof PyException &&
      (e.isValueError || e.pyType === "KeyError" || e.pyType === "TypeError");
    if (!caught) throw e;
    return fail(ctx, entryId, token, 500, e.message, null);
  }

  const done = await rpcRow(ctx.db, "complete_thread", {
    p_entry_id: int(entryId),
    p_token: token,
    p_result: wire(result),
  });
  if (!done.completed) {
    return reply(200, { outcome: "noop", entry_id: entryId, reason: done.reason });
  }
  return reply(200, { outcome: "done", entry_id: entryId, thread: get(result, "external_id") });
}

async function fail(
  ctx: Context,
  entryId: bigint,
  token: unknown,
  status: number,
  error: string,
  retryAfter: number | null,
): Promise<Reply> {
  const failed = await rpcRow(ctx.db, "fail_thread", {
    p_entry_id: int(entryId),
    p_token: token,
    p_error: error,
    p_retry_after_seconds: retryAfter === null ? null : wire(retryAfter),
  });
  let outcome = failed.status === "failed" ? "dead-letter" : "retry";
  if (!failed.recorded) outcome = "noop";
  return reply(status, { outcome, entry_id: entryId, error });
}

"""A page worker that completes its page (staging the threads) in one RPC and queues the staged
threads for processing in a second one, so the job's open-work counter does not count them when
the page completes: the last page's completion finishes the job before its threads are even
queued, and they are processed after the job finished. Violates job-finishes-last, and nothing
else once every thread has been processed."""

from __future__ import annotations

from harness.mutants._base import mq, mutant
from threadsync import page_worker
from threadsync.pipeline import Context, Reply


def handle(ctx: Context, body: str | bytes) -> Reply:
    """The reference page worker, then a second RPC that queues what the page staged."""
    reply = page_worker.handle(ctx, body)
    if reply.body.get("outcome") == "done":
        (row,) = ctx.db.query(mq("queue_page_entries"), {"page_id": reply.body["page_id"]})
        return Reply(reply.status, {**reply.body, "queued": int(row["queued"])})
    return reply


pipeline = mutant("queue_after_complete", sql=("queue_after_complete",), page_worker=handle)

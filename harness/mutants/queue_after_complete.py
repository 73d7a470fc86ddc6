"""A page worker that completes its page (staging the threads) in one RPC and queues the staged
threads for processing in a second one, so the job's open-work counter does not count them when
the page completes: the last page's completion finishes the job before its threads are even
queued, and they are processed after the job finished. Violates job-finishes-last, and nothing
else once every thread has been processed."""

from __future__ import annotations

from harness.mutants import _reference_text
from harness.mutants._base import edits, mq, mutant
from threadsync import page_worker
from threadsync.pipeline import Context, Reply


def handle(ctx: Context, body: str | bytes) -> Reply:
    """The reference page worker, then a second RPC that queues what the page staged."""
    reply = page_worker.handle(ctx, body)
    if reply.body.get("outcome") == "done":
        (row,) = ctx.db.query(mq("queue_page_entries"), {"page_id": reply.body["page_id"]})
        return Reply(reply.status, {**reply.body, "queued": int(row["queued"])})
    return reply


# complete_page stages the page's threads but no longer queues them; queue_page_entries (SQL of
# this mutant's own) does, in the handler's second RPC.
STAGE_ONLY = edits(
    "complete_page",
    (
        "    WITH staged AS (\n",
        "    -- THE BUG: the threads are staged here, but queued for processing by a second\n"
        "    -- call (queue_page_entries) after this transaction commits, so the open-work\n"
        "    -- counter that finishes the job does not count them yet.\n"
        "    WITH staged AS (\n",
    ),
    (
        _reference_text.QUEUED_CTE,
        "    )\n    SELECT (SELECT count(*) FROM staged), 0 INTO n_staged, n_queued;\n",
    ),
)

pipeline = mutant(
    "queue_after_complete",
    patches=(STAGE_ONLY,),
    sql=("queue_after_complete",),
    page_worker=handle,
)

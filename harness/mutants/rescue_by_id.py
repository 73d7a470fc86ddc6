"""A sweeper that rescues expired leases by reading them first and then re-queueing each by id
alone, in separate statements: a worker whose lease expired but who completes between the read
and the write has its finished item set back to pending, re-sent and processed again. Only a
sweep that runs while that worker is mid-step (a slow step, or a stall ending at the tick) shows
it: violates thread-exactly-once or page-exactly-once."""

from __future__ import annotations

from harness.mutants._base import mq, mutant
from threadsync import sweeper
from threadsync.pipeline import Context, Reply


def sweep(ctx: Context) -> Reply:
    """Read the expired leases, re-queue each by id, then the reference sweep's re-sends."""
    expired = ctx.db.query(mq("expired_leases"))
    for row in expired:
        name = "requeue_page_by_id" if row["queue"] == "page" else "requeue_entry_by_id"
        ctx.db.query(mq(name), {"id": row["id"]})
    reply = sweeper.sweep(ctx)
    return Reply(reply.status, {**reply.body, "rescued_by_id": len(expired)})


# Shown in docs/mutants.md.
WHY_NOT_A_PATCH = (
    "Its bug is in the sweeper handler (a read, then writes by id, in separate statements), not "
    "in SQL."
)

pipeline = mutant("rescue_by_id", sweeper=sweep)

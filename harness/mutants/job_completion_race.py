"""Job completion by "count what is left, then mark the job finished" in separate statements
from the handlers, with no status guard, so two finishers that both count zero finish the job
twice: violates job-completes-once."""

from __future__ import annotations

from harness.mutants._base import mq, mutant
from threadsync import page_worker, processor, sweeper
from threadsync.pipeline import Context, Reply

# Replies after which the item is finished for good, so the job may be finished too.
_FINISHING = ("done", "dead-letter")


def open_work(ctx: Context, job_id: int) -> int:
    """Step 1: count the job's pending and processing items, as of this statement's snapshot."""
    (row,) = ctx.db.query(mq("open_work_of_job"), {"job_id": job_id})
    return int(row["open"])


def mark_finished(ctx: Context, job_id: int) -> None:
    """Step 2: mark the job finished; any finisher that counted zero gets here and does it again."""
    ctx.db.query(mq("mark_job_finished"), {"job_id": job_id})


def finish_if_nothing_left(ctx: Context, job_id: int) -> None:
    """Both steps, each committing on its own as separate RPC calls from an Edge Function would."""
    if open_work(ctx, job_id) == 0:
        mark_finished(ctx, job_id)


def handle_page(ctx: Context, body: str | bytes) -> Reply:
    """The reference page worker, then the handler-side job completion."""
    reply = page_worker.handle(ctx, body)
    if reply.body.get("outcome") in _FINISHING:
        (row,) = ctx.db.query(mq("job_of_page"), {"page_id": reply.body["page_id"]})
        finish_if_nothing_left(ctx, int(row["job_id"]))
    return reply


def handle_thread(ctx: Context, body: str | bytes) -> Reply:
    """The reference processor, then the handler-side job completion."""
    reply = processor.handle(ctx, body)
    if reply.body.get("outcome") in _FINISHING:
        (row,) = ctx.db.query(mq("job_of_entry"), {"entry_id": reply.body["entry_id"]})
        finish_if_nothing_left(ctx, int(row["job_id"]))
    return reply


def sweep(ctx: Context) -> Reply:
    """The reference sweep; its dead letters can be the last work of a job, so check every job."""
    reply = sweeper.sweep(ctx)
    if reply.body.get("pages_failed") or reply.body.get("threads_failed"):
        for row in ctx.db.query(mq("running_jobs")):
            finish_if_nothing_left(ctx, int(row["job_id"]))
    return reply


# Shown in docs/mutants.md.
WHY_NOT_A_PATCH = (
    "Its bug is in the handlers (count what is left, then finish the job, in separate "
    "statements); its SQL only empties finish_job_if_done so that the handlers do the "
    "finishing, a stub rather than an edit."
)

pipeline = mutant(
    "job_completion_race",
    sql=("job_completion_race",),
    page_worker=handle_page,
    processor=handle_thread,
    sweeper=sweep,
)

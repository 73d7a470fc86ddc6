"""A page worker that ignores the job's page size and fetches a fixed batch of 100 threads per
call, so one page row holds several of the source's pages: every thread is still synced once,
but the job's pages no longer match the source's (too few, each too big), and per-page progress,
retries and dead letters count the wrong units. Violates pages-match-source."""

from __future__ import annotations

import dataclasses

from harness.mutants._base import mutant
from threadsync import page_worker
from threadsync.pipeline import Context, Reply
from threadsync.provider import Thread, ThreadPage, ThreadsProvider

BATCH = 100


@dataclasses.dataclass(frozen=True)
class FixedBatch:
    """The API as this worker calls it: whatever page size it is asked for, it asks for BATCH."""

    api: ThreadsProvider

    def fetch_page(self, cursor: str | None, page_size: int) -> ThreadPage:
        return self.api.fetch_page(cursor, BATCH)

    def fetch_thread(self, thread_id: str) -> Thread:
        return self.api.fetch_thread(thread_id)


def handle(ctx: Context, body: str | bytes) -> Reply:
    """The reference page worker, fetching BATCH threads at a time."""
    api = FixedBatch(ctx.api) if ctx.api is not None else None
    return page_worker.handle(dataclasses.replace(ctx, api=api), body)


# Shown in docs/mutants.md.
WHY_NOT_A_PATCH = (
    "Its bug is in the page worker handler (it asks the API for a fixed batch), not in SQL."
)

pipeline = mutant("fixed_batch_fetch", page_worker=handle)

"""Seed issue 1, a page worker that ignores the id its webhook names and polls for the oldest
pending page (with the seed's non-atomic claim), so deliveries process pages they did not name and
racing deliveries process one page twice: violates page-exactly-once."""

from __future__ import annotations

from harness.mutants._base import mq, mutant
from harness.mutants.nonatomic_claim import SEED_COMPLETION, fetch_and_complete, mark_processing
from threadsync.page_worker import TABLE
from threadsync.pipeline import Context, Reply
from threadsync.webhook import BadWebhook, row_id


def poll(ctx: Context) -> int | None:
    """The seed's query: any pending, due page, oldest first; no lock is taken."""
    found = ctx.db.query(mq("poll_pending_page"))
    return int(found[0]["id"]) if found else None


def handle(ctx: Context, body: str | bytes) -> Reply:
    """Serve a page webhook by processing whichever page is oldest, not the one it names."""
    try:
        # Still parsed, so a malformed body keeps its 400; the id itself is then ignored.
        named = row_id(body, TABLE)
    except BadWebhook as exc:
        return Reply(400, {"outcome": "rejected", "error": str(exc)})
    if ctx.api is None:
        raise RuntimeError("the page worker needs a threads API in its context (ctx.api)")
    page_id = poll(ctx)
    if page_id is None:
        return Reply(200, {"outcome": "noop", "page_id": named, "reason": "no pending page"})
    # Two deliveries that polled at once both get here with the same page.
    return fetch_and_complete(ctx, mark_processing(ctx, page_id))


pipeline = mutant(
    "polling_worker",
    # The seed's worker: its completion is the seed's too (fenced by status alone).
    patches=(SEED_COMPLETION,),
    page_worker=handle,
)

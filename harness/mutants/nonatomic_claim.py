"""Seed issue 2, a claim that reads then writes (no status guard, no token fence on completion),
so two racing deliveries of one page both process it: violates page-exactly-once."""

from __future__ import annotations

import json

from harness.mutants import _first_finish, _reference_text
from harness.mutants._base import edits, mq, mutant
from threadsync.page_worker import TABLE
from threadsync.pipeline import Context, Reply, Row
from threadsync.provider import ProviderError
from threadsync.queries import q
from threadsync.webhook import BadWebhook, row_id


def select_page(ctx: Context, page_id: int) -> Row | None:
    """The seed's step 1: read the page; the decision to claim it is taken in Python."""
    found = ctx.db.query(mq("seed_select_page"), {"page_id": page_id})
    return found[0] if found else None


def unclaimable_reason(page: Row | None) -> str | None:
    """Why the page read in step 1 looks unclaimable, or None when it looks claimable."""
    if page is None:
        return "unknown id"
    if page["status"] == "processing":
        return "claimed by another worker"
    if page["status"] != "pending":
        return f"already {page['status']}"
    if not page["due"]:
        return f"not due until {page['next_retry_at']}"
    return None


def mark_processing(ctx: Context, page_id: int) -> Row:
    """The seed's step 2: a separate UPDATE by id alone; whatever happened since step 1 is lost."""
    (claim,) = ctx.db.query(mq("seed_mark_page_processing"), {"page_id": page_id})
    return claim


def fetch_and_complete(ctx: Context, claim: Row) -> Reply:
    """The rest of the reference page worker: fetch outside any transaction, then complete."""
    if ctx.api is None:
        raise RuntimeError("the page worker needs a threads API in its context (ctx.api)")
    page_id = int(claim["page_id"])
    token = claim["claim_token"]
    try:
        page = ctx.api.fetch_page(claim["cursor"], claim["page_size"])
    except ProviderError as exc:
        (failed,) = ctx.db.query(
            q("fail_page"),
            {
                "page_id": page_id,
                "token": token,
                "error": f"threads API: {exc}",
                "retry_after": exc.retry_after,
            },
        )
        outcome = "dead-letter" if failed["status"] == "failed" else "retry"
        if not failed["recorded"]:
            outcome = "noop"
        return Reply(503, {"outcome": outcome, "page_id": page_id, "error": f"threads API: {exc}"})

    (done,) = ctx.db.query(
        q("complete_page"),
        {
            "page_id": page_id,
            "token": token,
            "threads": json.dumps(list(page.threads)),
            "next_cursor": page.next_cursor,
        },
    )
    if not done["completed"]:
        return Reply(200, {"outcome": "noop", "page_id": page_id, "reason": done["reason"]})
    return Reply(
        200,
        {
            "outcome": "done",
            "page_id": page_id,
            "staged": done["staged"],
            "next_page_id": done["next_page_id"],
        },
    )


def handle(ctx: Context, body: str | bytes) -> Reply:
    """Serve a page webhook with the seed's two-step claim of the page it names."""
    try:
        page_id = row_id(body, TABLE)
    except BadWebhook as exc:
        return Reply(400, {"outcome": "rejected", "error": str(exc)})
    if ctx.api is None:
        raise RuntimeError("the page worker needs a threads API in its context (ctx.api)")
    reason = unclaimable_reason(select_page(ctx, page_id))
    if reason is not None:
        return Reply(200, {"outcome": "noop", "page_id": page_id, "reason": reason})
    # Another delivery may claim, or even complete, the page between the read above and this.
    return fetch_and_complete(ctx, mark_processing(ctx, page_id))


# The seed's page completion: it had no claim token, so completion is fenced by status alone.
# With the claim by id alone above, a worker that read "pending" before another worker completed
# the page re-opens it and completes it again.
SEED_COMPLETION = edits(
    "complete_page",
    _first_finish.PAGE[0],
    (
        _reference_text.PAGE_FENCE_REFUSAL,
        "    -- THE BUG: p_token is ignored; any worker that set the page to processing may\n"
        "    -- complete it.\n"
        "    IF q.status <> 'processing' THEN\n"
        "        RETURN QUERY SELECT false, ('page is ' || q.status)::text, 0, 0, NULL::bigint;\n",
    ),
    _first_finish.PAGE[1],
)

pipeline = mutant("nonatomic_claim", patches=(SEED_COMPLETION,), page_worker=handle)

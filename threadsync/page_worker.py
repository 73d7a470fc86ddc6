"""Page worker: claims the page its webhook names, fetches it, stages its threads, completes it."""

from __future__ import annotations

import json

from threadsync.pipeline import Context, Reply
from threadsync.provider import ProviderError
from threadsync.queries import q
from threadsync.webhook import BadWebhook, row_id

TABLE = "sync_page_queue"


def handle(ctx: Context, body: str | bytes) -> Reply:
    """Serve one Database Webhook for a new `sync_page_queue` row."""
    try:
        page_id = row_id(body, TABLE)
    except BadWebhook as exc:
        return Reply(400, {"outcome": "rejected", "error": str(exc)})
    if ctx.api is None:
        raise RuntimeError("the page worker needs a threads API in its context (ctx.api)")

    (claim,) = ctx.db.query(q("claim_page"), {"page_id": page_id})
    if not claim["claimed"]:
        return Reply(200, {"outcome": "noop", "page_id": page_id, "reason": claim["reason"]})
    token = claim["claim_token"]

    # The API call happens outside any transaction: no lock is held while we wait on the network.
    try:
        page = ctx.api.fetch_page(claim["cursor"], claim["page_size"])
    except ProviderError as exc:
        return _fail(ctx, page_id, token, f"threads API: {exc}", exc.retry_after)

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


def _fail(
    ctx: Context, page_id: int, token: object, error: str, retry_after: float | None
) -> Reply:
    (failed,) = ctx.db.query(
        q("fail_page"),
        {"page_id": page_id, "token": token, "error": error, "retry_after": retry_after},
    )
    outcome = "dead-letter" if failed["status"] == "failed" else "retry"
    if not failed["recorded"]:
        outcome = "noop"
    return Reply(
        503,
        {
            "outcome": outcome,
            "page_id": page_id,
            "error": error,
            "next_retry_at": _iso(failed["next_retry_at"]),
        },
    )


def _iso(value: object) -> str | None:
    return None if value is None else str(value)

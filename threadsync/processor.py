"""Processor: claims the entry its webhook names, reads its thread from the API, processes it,
writes it and completes the entry."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from threadsync.pipeline import Context, Reply
from threadsync.provider import ProviderError
from threadsync.queries import q
from threadsync.webhook import BadWebhook, row_id

TABLE = "thread_processing_queue"


def summarise(thread: Mapping[str, Any]) -> dict[str, Any]:
    """The processing itself: the row `threads` keeps for one source thread."""
    messages = thread.get("messages") or []
    if not isinstance(messages, list):
        raise ValueError(f"thread {thread.get('id')!r}: 'messages' must be a list")
    sent = sorted(str(m["sent_at"]) for m in messages if isinstance(m, dict) and m.get("sent_at"))
    subject = thread.get("subject")
    if not isinstance(subject, str):
        raise ValueError(f"thread {thread.get('id')!r} has no subject")
    return {
        "external_id": thread["id"],
        "subject": subject,
        "participants": sorted(thread.get("participants") or []),
        "message_count": len(messages),
        "last_message_at": sent[-1] if sent else None,
        "source_updated_at": thread.get("updated_at"),
        "content_hash": content_hash(thread),
    }


def content_hash(thread: Mapping[str, Any]) -> str:
    """A digest of a thread's content, so a check can tell the latest version from an older one."""
    canonical = json.dumps(thread, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def handle(ctx: Context, body: str | bytes) -> Reply:
    """Serve one Database Webhook for a new `thread_processing_queue` row."""
    try:
        entry_id = row_id(body, TABLE)
    except BadWebhook as exc:
        return Reply(400, {"outcome": "rejected", "error": str(exc)})

    (claim,) = ctx.db.query(q("claim_thread"), {"entry_id": entry_id})
    if not claim["claimed"]:
        return Reply(200, {"outcome": "noop", "entry_id": entry_id, "reason": claim["reason"]})
    return process_claimed(ctx, entry_id, claim["claim_token"], str(claim["external_id"]))


def process_claimed(ctx: Context, entry_id: int, token: object, thread_id: str) -> Reply:
    """After the claim: read the thread from the API, process it, complete (or fail) the entry."""
    if ctx.api is None:
        raise RuntimeError("the processor needs a threads API in its context (ctx.api)")
    # The API call happens outside any transaction: no lock is held while we wait on the network.
    try:
        thread = ctx.api.fetch_thread(thread_id)
    except ProviderError as exc:
        return _fail(ctx, entry_id, token, 503, f"threads API: {exc}", exc.retry_after)
    try:
        result = summarise(thread)
    except (ValueError, KeyError, TypeError) as exc:
        return _fail(ctx, entry_id, token, 500, str(exc), None)

    (done,) = ctx.db.query(
        q("complete_thread"),
        {"entry_id": entry_id, "token": token, "result": json.dumps(result)},
    )
    if not done["completed"]:
        return Reply(200, {"outcome": "noop", "entry_id": entry_id, "reason": done["reason"]})
    return Reply(200, {"outcome": "done", "entry_id": entry_id, "thread": result["external_id"]})


def _fail(
    ctx: Context, entry_id: int, token: object, status: int, error: str, retry_after: float | None
) -> Reply:
    (failed,) = ctx.db.query(
        q("fail_thread"),
        {"entry_id": entry_id, "token": token, "error": error, "retry_after": retry_after},
    )
    outcome = "dead-letter" if failed["status"] == "failed" else "retry"
    if not failed["recorded"]:
        outcome = "noop"
    return Reply(status, {"outcome": outcome, "entry_id": entry_id, "error": error})

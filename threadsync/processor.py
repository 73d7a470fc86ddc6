"""Processor: claims the entry its webhook names, processes its thread, writes it, completes it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from threadsync.pipeline import Context, Reply
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
    token = claim["claim_token"]

    try:
        result = summarise(claim["payload"])
    except (ValueError, KeyError, TypeError) as exc:
        (failed,) = ctx.db.query(
            q("fail_thread"),
            {"entry_id": entry_id, "token": token, "error": str(exc), "retry_after": None},
        )
        outcome = "dead-letter" if failed["status"] == "failed" else "retry"
        return Reply(500, {"outcome": outcome, "entry_id": entry_id, "error": str(exc)})

    (done,) = ctx.db.query(
        q("complete_thread"),
        {"entry_id": entry_id, "token": token, "result": json.dumps(result)},
    )
    if not done["completed"]:
        return Reply(200, {"outcome": "noop", "entry_id": entry_id, "reason": done["reason"]})
    return Reply(200, {"outcome": "done", "entry_id": entry_id, "thread": result["external_id"]})

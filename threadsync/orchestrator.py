"""Orchestrator: starts a sync job; its first page row's webhook sets the rest in motion."""

from __future__ import annotations

from threadsync.pipeline import Context, Reply
from threadsync.queries import q


def start_sync(ctx: Context, page_size: int) -> Reply:
    """Create a job and queue its first page."""
    if not 1 <= page_size <= 1000:
        error = f"page_size must be 1..1000, got {page_size}"
        return Reply(400, {"outcome": "rejected", "error": error})
    (job,) = ctx.db.query(q("start_sync"), {"page_size": page_size})
    return Reply(200, {"outcome": "done", "job_id": job["id"]})

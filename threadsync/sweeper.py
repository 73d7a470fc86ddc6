"""Sweeper: one tick of the rescue job that pg_cron runs every minute in production."""

from __future__ import annotations

from threadsync.pipeline import Context, Reply
from threadsync.queries import q


def sweep(ctx: Context) -> Reply:
    """Return expired leases to pending (or dead letter) and re-send webhooks nobody acted on."""
    (counts,) = ctx.db.query(q("sweep"))
    return Reply(200, {"outcome": "done", **{k: int(v) for k, v in counts.items()}})

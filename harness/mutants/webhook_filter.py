"""Seed issue 4, a pipeline that trusts each Database Webhook to fire and arrive (filtered
triggers, and a sweeper that never re-sends a webhook), so a dropped or too-early webhook, or a
retry after backoff, strands its item pending forever: violates no-stuck-work and no-lost-work."""

from __future__ import annotations

from harness.mutants._base import mutant

# SQL only: the handlers are the reference's; an early delivery is still a 200 no-op ("unknown
# id"), which is harmless in the reference only because its sweeper re-sends the webhook later.
pipeline = mutant("webhook_filter", sql=("webhook_filter",))

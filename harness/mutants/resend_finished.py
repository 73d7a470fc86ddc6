"""The sweeper re-sends webhooks for finished pages too (`threadsync mutate`'s
sweep:drop-conjunct:8, `p.status = 'pending' AND` dropped from the re-send's filter): each done or
dead-lettered page whose emit time passed is announced again, and again each grace period; every
claim refuses them, so the outcome holds: violates resends-only-due-work."""

from __future__ import annotations

from harness.mutants._base import from_mutation

pipeline = from_mutation("resend_finished", "sweep:drop-conjunct:8")

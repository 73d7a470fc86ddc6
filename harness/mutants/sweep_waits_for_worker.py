"""The sweep's rescue of expired page leases waits for a locked row instead of skipping it
(`threadsync mutate`'s sweep:drop-skip-locked:1, `FOR UPDATE SKIP LOCKED` -> `FOR UPDATE`): a
sweep that meets a page whose worker is inside complete_page or fail_page queues behind that
worker, then re-checks the row and leaves it alone. Nothing is processed twice or lost, but the
sweep stalls every other rescue behind live work and can deadlock with its worker: violates
sweep-skips-held-work."""

from __future__ import annotations

from harness.mutants._base import from_mutation

pipeline = from_mutation("sweep_waits_for_worker", "sweep:drop-skip-locked:1")

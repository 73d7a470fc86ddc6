"""fail_page leaves the page's emit time where it was (`threadsync mutate`'s
fail_page:drop-set-column:12, `emit_after = retry_at,` dropped): a page whose fetch failed gets its
webhook re-sent by the next sweep even while its backoff still runs; the claim refuses the early
copy and the page is retried later, so the outcome holds: violates resends-only-due-work."""

from __future__ import annotations

from harness.mutants._base import from_mutation

pipeline = from_mutation("early_resend", "fail_page:drop-set-column:12")

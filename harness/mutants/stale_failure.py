"""fail_page fences a failure by the page's status only (`threadsync mutate`'s
fail_page:drop-disjunct:3, `OR q.claim_token IS DISTINCT FROM p_token` dropped): a worker that
outlived its lease records its failed fetch on the claim of the worker that took the page over,
putting the page back to pending (or dead-lettering it) under the new owner's feet. The new owner's
completion is then refused and the retry syncs the page once, so the outcome holds: violates
attempts-by-holder."""

from __future__ import annotations

from harness.mutants._base import from_mutation

pipeline = from_mutation("stale_failure", "fail_page:drop-disjunct:3")

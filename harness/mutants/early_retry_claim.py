"""claim_page ignores the page's retry time (`threadsync mutate`'s claim_page:drop-conjunct:3,
drop `AND p.next_retry_at <= t`): a webhook that arrives while a failed page waits out its
backoff (a duplicate, a late or a re-sent one) claims it at once, before the retry is due and
sooner than the API's Retry-After asked. Every thread is still synced once: violates
retry-waits-for-its-time."""

from __future__ import annotations

from harness.mutants._base import from_mutation

pipeline = from_mutation("early_retry_claim", "claim_page:drop-conjunct:3")

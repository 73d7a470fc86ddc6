"""fail_page leaves the page's retry time where it was (`threadsync mutate`'s
fail_page:drop-set-column:11, drop `next_retry_at = retry_at,`): the failed page is pending and
due at once, so any webhook retries it without waiting for the backoff or the API's Retry-After.
Every thread is still synced once: violates failure-backs-off."""

from __future__ import annotations

from harness.mutants._base import from_mutation

pipeline = from_mutation("retry_without_backoff", "fail_page:drop-set-column:11")

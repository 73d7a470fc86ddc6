"""fail_page schedules a retry without recording why the attempt failed (`threadsync mutate`'s
fail_page:drop-set-column:13, the retry's `last_error = format(...)` dropped): the page goes back
to pending with no error, or with an earlier attempt's, so an operator looking at a retrying page
cannot tell what is wrong. Everything is still synced once: violates failure-records-its-error."""

from __future__ import annotations

from harness.mutants._base import from_mutation

pipeline = from_mutation("retry_forgets_error", "fail_page:drop-set-column:13")

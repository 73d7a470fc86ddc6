"""fail_page's fence is inverted (`threadsync mutate`'s fail_page:flip-comparison:3,
`q.claim_token IS DISTINCT FROM p_token` -> `IS NOT DISTINCT FROM`): the worker that holds the page
has its failed fetch refused as `lease lost`, while a worker whose claim is stale would have its
failure recorded. The refused page stays processing until its lease runs out and the sweeper
retries it, so the page is still synced once: violates attempts-by-holder."""

from __future__ import annotations

from harness.mutants._base import from_mutation

pipeline = from_mutation("inverted_fence", "fail_page:flip-comparison:3")

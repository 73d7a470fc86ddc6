"""fail_page answers `retry scheduled` without putting the page back (`threadsync mutate`'s
fail_page:drop-statement:10, its retry branch's UPDATE dropped): the page stays processing under
the failed claim until its lease runs out and the sweeper re-queues it, so the retry comes a lease
late and every thread is still synced once: violates failure-releases-claim."""

from __future__ import annotations

from harness.mutants._base import from_mutation

pipeline = from_mutation("failure_keeps_claim", "fail_page:drop-statement:10")

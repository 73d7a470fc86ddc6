"""fail_page's retry leaves the page `processing` (`threadsync mutate`'s
fail_page:drop-set-column:8, `status = 'pending',` dropped from the retry's UPDATE): the row then
breaks its own CHECK (a processing page holds a token and a lease), so every failed fetch of a
page makes fail_page raise instead of recording the attempt. The sweeper retries the page when its
lease runs out, so the page is still synced once: violates no-unexpected-errors."""

from __future__ import annotations

from harness.mutants._base import from_mutation

pipeline = from_mutation("retry_keeps_processing", "fail_page:drop-set-column:8")

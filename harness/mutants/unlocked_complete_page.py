"""complete_page reads its page without FOR UPDATE (`threadsync mutate`'s
complete_page:drop-for-update:1): a worker checks its claim token, and while it stages the page
another claim of the same page (its lease expired, the sweeper re-sent it) completes it too; the
stale worker then completes it a second time. Only reachable when a statement pauses inside the
function (a Pause fault): violates page-exactly-once."""

from __future__ import annotations

from harness.mutants._base import from_mutation

pipeline = from_mutation("unlocked_complete_page", "complete_page:drop-for-update:1")

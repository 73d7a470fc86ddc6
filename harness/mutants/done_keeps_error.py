"""complete_thread leaves a processed entry's last error in place (`threadsync mutate`'s
complete_thread:drop-set-column:14, `, last_error = NULL` dropped): an entry whose first attempt
failed and whose retry succeeded ends `done` yet still reports the first attempt's error, so an
operator reading the queue sees a failure that did not happen. The thread is synced once and the
job completes: violates finished-rows-consistent."""

from __future__ import annotations

from harness.mutants._base import from_mutation

pipeline = from_mutation("done_keeps_error", "complete_thread:drop-set-column:14")

"""complete_thread inserts a thread it has not synced yet and leaves one it has alone (`threadsync
mutate`'s complete_thread:on-conflict-nothing:1, `ON CONFLICT DO NOTHING`): a later sync's newer
version of a thread never reaches `threads`. Only reachable with a second sync over a changed
source: violates newest-version (and no-lost-work)."""

from __future__ import annotations

from harness.mutants._base import from_mutation

pipeline = from_mutation("insert_only_threads", "complete_thread:on-conflict-nothing:1")

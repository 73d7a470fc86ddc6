"""complete_thread lets a version without `updated_at` overwrite only a stored version without one
(`threadsync mutate`'s complete_thread:drop-disjunct:4, drop `OR EXCLUDED.source_updated_at IS
NULL`): when a source stops dating a thread, the newer undated version is skipped and the row keeps
the older dated one until a later dated version comes. The last sync still writes the newest
content, so nothing is lost in the end: violates newest-version (a completed entry's write that had
to win was skipped)."""

from __future__ import annotations

from harness.mutants._base import from_mutation

pipeline = from_mutation("undated_never_overwrites", "complete_thread:drop-disjunct:4")

"""A user's repository, in miniature: their pipelines and an invariant of their own."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from harness.mutants.job_completion_race import pipeline as _racy
from threadsync.processor import content_hash
from threadsync.reference import pipeline as reference
from threadsync.testing import CheckInput, Violation, register_check

good = dataclasses.replace(reference, name="good")
# A known-bad pipeline: two finishers can both mark the job finished.
bad = dataclasses.replace(_racy, name="bad")
# Drops the last participant of every synced thread, after the content hash was computed: no
# built-in check looks at participants, so only the invariant below can see it.
dropper = dataclasses.replace(
    reference,
    name="dropper",
    migrations=(*reference.migrations, Path(__file__).parent / "drop_participant.sql"),
)


def participants_kept(inp: CheckInput) -> Violation | None:
    """Every synced thread lists every participant of the source version it holds (the one whose
    content hash it carries: with further syncs, or a dead-lettered entry, a row may rightly hold
    an older version than the latest)."""
    held = {
        (str(t["id"]), content_hash(t)): sorted(t.get("participants") or [])
        for version in inp.versions
        for t in version.threads
    }
    lost = [
        f"thread {row['external_id']} has {len(row['participants'])} of {len(want)} participants"
        for row in inp.state.threads
        if (want := held.get((str(row["external_id"]), str(row["content_hash"])))) is not None
        and sorted(row["participants"]) != want
    ]
    if not lost:
        return None
    return Violation("participants-kept", f"{len(lost)} threads lost a participant", tuple(lost))


register_check("participants-kept", participants_kept)

"""Regenerate the saved scenarios with further syncs (`resync-*.json`, `insert_only_threads.json`).

    .venv/bin/python scripts/make_resync_scenarios.py

Each scenario runs with schedule seed 0; it is saved with the exact choices it made
(`Verdict.recorded()`) after a replay of the recorded file gives the same verdict, the reference
scenarios pass and the mutant's fails the check it names (and the reference passes it). It
overwrites only its own files and exits non-zero when one cannot be reproduced.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from harness.engine.faults import Delay, FaultPlan, Stall  # noqa: E402
from harness.mutants import MUTANTS  # noqa: E402
from harness.replay import run_scenario, workbench  # noqa: E402
from harness.resync import Resync  # noqa: E402
from harness.scenario import Dataset, Expect, Scenario, Schedule  # noqa: E402

REFERENCE = "threadsync.reference:pipeline"
P = "sync-threads-page-worker"
T = "sync-threads-processor"

SCENARIOS = [
    Scenario(
        name="resync-changed-source",
        impl=REFERENCE,
        dataset=Dataset(seed=0, threads=12, page_size=4),
        syncs=(Resync(at=30.0, seed=1, updated=4, added=2, removed=1),),
        description="A second sync 30 s after the first, once it has finished: four threads "
        "updated (a newer updated_at, one more message), two added, one removed from the "
        "listing. Every updated thread must end with its newer version in every column.",
    ),
    Scenario(
        name="resync-overlap",
        impl=REFERENCE,
        dataset=Dataset(seed=2, threads=10, page_size=4),
        syncs=(Resync(at=30.0, seed=2, updated=3, added=3, removed=2),),
        faults=FaultPlan((Delay(function=P, occurrence=1, seconds=130.0),)),
        description="The first sync's second page webhook is 130 s late, so a second sync over "
        "a changed source starts at 30 s while the first still has a pending page: two jobs' "
        "pages are pending and due at once, and each claim must take only the page its webhook "
        "names. The first job keeps listing its own snapshot.",
    ),
    Scenario(
        name="resync-stale-write",
        impl=REFERENCE,
        dataset=Dataset(seed=1, threads=8, page_size=4),
        syncs=(Resync(at=30.0, seed=1, updated=8, added=1),),
        faults=FaultPlan((Stall(function=T, occurrence=0, at_step=2, seconds=45.0),)),
        description="The first processor reads its thread, then stalls 45 s (inside its 60 s "
        "lease) before completing; meanwhile a second sync, started at 30 s over a source where "
        "every thread was updated, writes the newer version. The stalled worker's completion of "
        "the older version must not overwrite it.",
    ),
    Scenario(
        name="resync-three-syncs",
        impl=REFERENCE,
        dataset=Dataset(seed=3, threads=9, page_size=3),
        syncs=(
            Resync(at=0.0, seed=4, updated=2),
            Resync(at=120.0, seed=5, updated=4, added=2, removed=1),
        ),
        description="Two syncs start together at 0 s (the second already over a changed "
        "source) and interleave all the way; a third starts at 120 s over a source changed "
        "again.",
    ),
    Scenario(
        name="insert_only_threads",
        impl=MUTANTS["insert_only_threads"],
        dataset=Dataset(seed=0, threads=8, page_size=4),
        syncs=(Resync(at=30.0, seed=1, updated=3, added=1),),
        expect=Expect("fail", "newest-version"),
        description="A second sync at 30 s, over a source with three threads updated: the "
        "mutant never updates a thread it already has, so their newer versions, read by the "
        "second job's completed entries, never reach `threads`.",
    ),
]


def main() -> int:
    ok = True
    with workbench() as bench:
        for scenario in SCENARIOS:
            verdict = run_scenario(bench, replace(scenario, schedule=Schedule(seed=0)))
            recorded = verdict.recorded()
            again = run_scenario(bench, recorded)
            reference = run_scenario(bench, recorded, impl=REFERENCE)
            good = (
                verdict.as_expected
                and again.violated == verdict.violated
                and not reference.violations
            )
            where = "mutants" if scenario.impl != REFERENCE else "reference"
            path = ROOT / "scenarios" / where / f"{scenario.name}.json"
            if good:
                path.write_text(recorded.to_json(), encoding="utf-8")
            ok &= good
            print(f"{'ok ' if good else 'BAD'} {path.relative_to(ROOT)}: {verdict.label}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

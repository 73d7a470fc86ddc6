"""no-lost-work with a further sync whose start a restart broke: the source had moved on anyway."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.postgres import Server
from harness.replay import Workbench, run_scenario
from harness.scenario import from_dict

# Found by exploration (session 8, seed 2 of the resend_storm mutant, shrunk) as a false alarm of
# no-lost-work on the reference. One thread; two further syncs at 0 s, the second removing it.
# A clean restart breaks the second one's start_sync, so it starts no job; the fake API has
# switched to its version anyway, so both started jobs list a source without the thread.
REMOVED_BY_AN_UNSTARTED_SYNC = {
    "version": 1,
    "name": "unstarted-sync-removed-the-thread",
    "impl": "threadsync.reference:pipeline",
    "dataset": {"seed": 0, "threads": 1, "page_size": 2},
    "syncs": [
        {"at": 0.0, "seed": 0, "updated": 1, "added": 0, "removed": 0},
        {"at": 0.0, "seed": 0, "updated": 1, "added": 0, "removed": 2},
    ],
    "faults": {"rules": [{"type": "CleanRestart", "after_delivery": 2}]},
    "schedule": {
        "choices": [0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0],
        "strategy": "random",
        "seed": 0,
        "pct_depth": 2,
    },
    "expect": {"verdict": "pass"},
}


@pytest.fixture(scope="module")
def bench(pg_server: Server) -> Iterator[Workbench]:
    b = Workbench(pg_server)
    yield b
    b.close()


def test_a_thread_an_unstarted_sync_removed_is_not_owed(bench: Workbench) -> None:
    scenario = from_dict(REMOVED_BY_AN_UNSTARTED_SYNC)
    verdict = run_scenario(bench, scenario)
    # The restart broke the last sync's start (else this tests nothing), and no check fires.
    starts = {
        e.actor: e.detail.get("outcome")
        for e in verdict.result.history.events
        if e.kind == "reply" and e.role == "orchestrator"
    }
    assert starts == {"o1": "ok", "o2": "ok", "o3": "fail"}
    assert verdict.violated == []

"""Free mode (real concurrency) through the workbench and `threadsync run --workers N`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.cli import main
from harness.engine import Crash, Drop, Early, FaultPlan, KillConnection, Stall
from harness.engine.free import playable
from harness.impl import DEFAULT_IMPL
from harness.postgres import Server
from harness.replay import Workbench, run_scenario_free
from harness.scenario import Dataset, Scenario, Schedule

PROCESSOR = "sync-threads-processor"


@pytest.fixture(scope="module")
def bench(pg_server: Server) -> Iterator[Workbench]:
    b = Workbench(pg_server)
    yield b
    b.close()


def _scenario(faults: FaultPlan, threads: int = 60) -> Scenario:
    return Scenario(
        name="free",
        impl=DEFAULT_IMPL,
        dataset=Dataset(seed=5, threads=threads, page_size=10),
        faults=faults,
        schedule=Schedule(strategy="random", seed=0),
    )


def test_eight_workers_sync_everything_exactly_once(bench: Workbench) -> None:
    verdict = run_scenario_free(bench, _scenario(FaultPlan()), workers=8)
    assert verdict.violations == [], verdict.label
    assert len(verdict.state.threads) == 60
    # Runs back to back on the one reusable database, each from the template's state.
    again = run_scenario_free(bench, _scenario(FaultPlan(), threads=30), workers=8)
    assert again.violations == [] and len(again.state.threads) == 30
    assert bench.database(again.scenario.impl).resets >= 1


def test_crashes_and_killed_connections_under_real_concurrency(bench: Workbench) -> None:
    faults = FaultPlan(
        (
            Crash(function=PROCESSOR, occurrence=3, at_step=1),
            KillConnection(function=PROCESSOR, occurrence=7, at_step=1),
            Drop(function=PROCESSOR, occurrence=11),
        )
    )
    verdict = run_scenario_free(bench, _scenario(faults), workers=8)
    assert verdict.violations == [], verdict.label
    assert verdict.result.history.by_kind("crash"), "the crash fault never fired"


def test_playable_leaves_out_what_free_mode_cannot_play() -> None:
    plan = FaultPlan(
        (
            Stall(function=PROCESSOR, occurrence=0, at_step=1, seconds=30),
            Early(function=PROCESSOR, occurrence=1),
            Drop(function=PROCESSOR, occurrence=2),
        )
    )
    kept, left_out = playable(plan)
    assert kept.rules == (Drop(function=PROCESSOR, occurrence=2),)
    assert left_out == ["Early", "Stall"]


def test_run_with_workers_checks_the_run(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--workers", "4", "--threads", "40", "--page-size", "8"]) == 0
    out = capsys.readouterr().out
    assert "4 workers: 40 threads" in out and "verdict: pass" in out


def test_run_with_workers_and_faults_says_what_it_left_out(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["run", "--workers", "4", "--threads", "40", "--faults", "chaos", "--seed", "2"])
    assert code == 0
    out = capsys.readouterr().out
    assert "left out" in out and "verdict: pass" in out


def test_bad_worker_count_is_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--workers", "-3"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "threadsync: --workers must be 0..64, got -3"

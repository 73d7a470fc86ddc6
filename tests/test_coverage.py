"""Coverage of rare situations: for each situation, a small scenario that reaches it (and the
detector says so) and one that does not; the tally, the table and the JUnit properties."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path

import pytest

from harness.cli import main
from harness.coverage import SITUATIONS, Tally, properties, reached, table, table_of_run
from harness.engine.faults import Early, FaultPlan, RestartServer
from harness.postgres import Server
from harness.profiles import fault_plan
from harness.replay import Verdict, Workbench, run_scenario
from harness.scenario import Dataset, Scenario, Schedule, load

REFERENCE = Path(__file__).resolve().parent.parent / "scenarios" / "reference"

# situation -> (a saved scenario that reaches it, one that does not although it is close)
SAVED: dict[str, tuple[str, str]] = {
    # A stalled worker outlives its lease; a crashed one does not run on.
    "lease-expired-mid-work": ("stall-page-past-lease", "crash-page-step-1"),
    "fence-refused": ("stall-page-past-lease", "crash-page-step-1"),
    "claim-refused-held": ("duplicate-processor-webhooks", "duplicate-page-webhook"),
    "duplicate-in-flight": ("duplicate-page-webhook", "delay-webhooks"),
    # The sweeper re-emits in both, but only the crash leaves an expired lease to return...
    "sweeper-rescued-lease": ("crash-page-step-1", "drop-page-webhook"),
    # ...and only the drop leaves a dropped webhook to re-send.
    "sweeper-re-emitted-dropped": ("drop-page-webhook", "crash-page-step-1"),
    # A rate limit carries Retry-After; a server error is retried on the backoff alone.
    "retry-after-wait": ("api-rate-limit", "api-server-error"),
    "dead-letter": ("api-exhausts-attempts", "api-rate-limit"),
    "early-found-no-row": ("early-webhooks", "duplicate-page-webhook"),
    "restart-lost-requests": ("server-restart", "kill-connection"),
    # Both pause a page worker inside complete_page; only the first outlasts a sweeper tick.
    "paused-mid-function": ("pause-page-past-lease", "pause-page-alone"),
}
# No saved scenario blocks on a lock: an early delivery keeps the page worker's transaction (and
# the job row's lock) open across steps, and a processor of the first page completing then waits.
BLOCKING_SEEDS = range(40)


def _blocking(seed: int) -> Scenario:
    return Scenario(
        name="early-blocks",
        dataset=Dataset(seed=0, threads=8, page_size=4),
        faults=FaultPlan((Early(function="sync-threads-processor", occurrence=4),)),
        schedule=Schedule("random", seed),
    )


@pytest.fixture(scope="module")
def bench(pg_server: Server) -> Iterator[Workbench]:
    b = Workbench(pg_server)
    yield b
    b.close()


@pytest.fixture(scope="module")
def saved(bench: Workbench) -> Callable[[str], Verdict]:
    @cache
    def verdict(name: str) -> Verdict:
        return run_scenario(bench, load(REFERENCE / f"{name}.json"))

    return verdict


def test_every_situation_has_a_test() -> None:
    assert set(SAVED) | {"blocked-on-lock"} == set(SITUATIONS)
    assert all(description.strip() for description in SITUATIONS.values())


@pytest.mark.parametrize("situation", sorted(SAVED))
def test_a_saved_scenario_reaches_it_and_a_close_one_does_not(
    saved: object, situation: str
) -> None:
    hit, miss = SAVED[situation]
    yes, no = saved(hit), saved(miss)
    assert yes.as_expected and no.as_expected
    assert situation in reached(yes.result.history, yes.state), hit
    assert situation not in reached(no.result.history, no.state), miss


def test_a_statement_blocked_on_a_row_lock_is_seen(bench: Workbench) -> None:
    for seed in BLOCKING_SEEDS:
        verdict = run_scenario(bench, _blocking(seed))
        found = reached(verdict.result.history, verdict.state)
        assert found == reached(verdict.result.history)  # the history alone tells it
        assert ("blocked-on-lock" in found) == bool(verdict.result.history.by_kind("blocked"))
        if "blocked-on-lock" in found:
            assert verdict.violated == []
            return
    pytest.fail(f"no schedule in seeds {BLOCKING_SEEDS} made a statement wait on a lock")


def test_a_fault_free_run_reaches_nothing(bench: Workbench) -> None:
    verdict = run_scenario(bench, Scenario(name="plain", dataset=Dataset(0, 8, 4)))
    assert reached(verdict.result.history, verdict.state) == frozenset()
    assert "NOT REACHED: " + ", ".join(SITUATIONS) in table_of_run(verdict.result.history)


def test_tally_table_and_properties() -> None:
    tally = Tally()
    tally.add({"dead-letter", "fence-refused"})
    tally.add({"dead-letter"})
    assert tally.runs == 2 and tally.counts["dead-letter"] == 2
    assert list(tally.counts) == list(SITUATIONS)  # every name, zeros included
    text = table(tally.counts, tally.runs)
    assert "dead-letter" in text and "100.0%" in text
    never = tally.never()
    assert "dead-letter" not in never and "blocked-on-lock" in never
    assert text.splitlines()[-1].startswith("NOT REACHED: " + never[0])
    props = properties(tally.counts, tally.runs)
    assert props["coverage.dead-letter"] == "2" and props["coverage.runs"] == "2"
    assert props["coverage.not_reached"].split(",") == never
    everything = dict.fromkeys(SITUATIONS, 1)
    assert table(everything, 1).endswith("every situation was reached at least once")


def test_the_restart_profile_restarts_the_server_once() -> None:
    plan = fault_plan("restart", seed=3, threads=12, page_size=4)
    restarts = [r for r in plan.rules if isinstance(r, RestartServer)]
    assert len(restarts) == 1 and 1 <= (restarts[0].after_delivery or 0) <= 3 + 12


def test_run_and_replay_print_coverage(
    pg_server: Server, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    dsn = ["--pg", "dsn", "--dsn", pg_server.dsn(pg_server.admin_dbname)]
    args = ["run", "--faults", "chaos", "--threads", "8", "--page-size", "4", "--seed", "1"]
    assert main([*args, *dsn]) == 0
    out = capsys.readouterr().out
    assert "coverage over 1 runs" in out and "NOT REACHED: " in out
    junit_path = tmp_path / "replay.xml"
    path = str(REFERENCE / "drop-page-webhook.json")
    assert main(["replay", path, "--junit", str(junit_path), *dsn]) == 0
    out = capsys.readouterr().out
    assert "sweeper-re-emitted-dropped       1  100.0%" in out
    props = {p.get("name"): p.get("value") for p in ET.parse(junit_path).iter("property")}
    assert props["coverage.sweeper-re-emitted-dropped"] == "1"
    assert "sweeper-re-emitted-dropped" not in props["coverage.not_reached"].split(",")


def test_a_situation_the_fault_set_cannot_reach_is_not_possible_not_unreached() -> None:
    from harness.coverage import impossible
    from harness.explore.strategies import fault_kinds

    supabase = impossible(fault_kinds(early=False, restart=True))
    assert supabase == ["early-found-no-row"]
    assert impossible(fault_kinds(early=True, restart=True)) == []
    assert impossible(fault_kinds(early=True, restart=False)) == ["restart-lost-requests"]
    counts = dict.fromkeys(SITUATIONS, 1) | {"early-found-no-row": 0}
    text = table(counts, 1, supabase)
    assert "not possible in this fault set (needs Early)" in text
    assert "NOT REACHED" not in text
    assert text.endswith("every situation possible in this fault set was reached at least once")
    # A fault set that could reach it and did not still says NOT REACHED.
    assert table(counts, 1).splitlines()[-1].startswith("NOT REACHED: early-found-no-row")
    # And one that cannot, with another situation missed, names only that one.
    missed = counts | {"dead-letter": 0}
    assert table(missed, 1, supabase).splitlines()[-1].startswith("NOT REACHED: dead-letter;")
    props = properties(missed, 1, supabase)
    assert props["coverage.not_reached"] == "dead-letter"
    assert props["coverage.not_possible"] == "early-found-no-row"

"""threadsync mutate skips a scenario whose reference run never enters the mutated function:
what learning sees, what it never skips, and that skipping never changes a verdict."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from harness.mutate.generate import Mutant, generate, mutant_pipeline
from harness.mutate.kill import Plan, kill
from harness.mutate.reach import Reach, learn, trackable, untrack
from harness.mutate.report import progress_line
from harness.mutate.source import functions
from harness.postgres import Server
from harness.replay import Workbench
from harness.scenario import Scenario
from harness.scenario import load as load_scenario
from threadsync.reference import pipeline as reference

IMPL = "threadsync.reference:pipeline"
REFERENCE = Path(__file__).resolve().parent.parent / "scenarios" / "reference"
# A small mix: plain webhooks, a page that fails, a thread that fails, the sweep, a restart.
CHOSEN = (
    "duplicate-page-webhook.json",
    "pause-fail-page-past-lease.json",
    "api-thread-exhausts-attempts.json",
    "pause-sweeper-mid-sweep.json",
    "server-restart.json",
)
TRACKABLE = trackable(functions(reference.migrations))


def _plan(tmp_path: Path) -> Plan:
    return Plan(impl=IMPL, scenarios=(), budget_s=0.0, cache=tmp_path / "cache", save=None)


@pytest.fixture(scope="module")
def learned(pg_server: Server) -> tuple[list[tuple[Path, Scenario]], Reach]:
    scenarios = [(REFERENCE / name, load_scenario(REFERENCE / name)) for name in CHOSEN]
    bench = Workbench(pg_server)
    try:
        reach = learn(bench, IMPL, scenarios, TRACKABLE)
    finally:
        untrack(bench)  # the server is shared with other tests
        bench.close()
    if reach.note is not None:
        pytest.skip(
            f"function statistics unavailable on this server, nothing to test: {reach.note}"
        )
    return scenarios, reach


def test_learning_sees_what_each_run_enters(
    learned: tuple[list[tuple[Path, Scenario]], Reach],
) -> None:
    _, reach = learned
    seen = reach.entered[REFERENCE / "pause-fail-page-past-lease.json"]
    plain = reach.entered[REFERENCE / "duplicate-page-webhook.json"]
    assert seen is not None and plain is not None
    # Called by the processor's handler, and nested: the trigger function the webhook rides on.
    assert {"public.fail_page", "public.claim_page"} <= seen
    assert "threadsync.database_webhook" in plain
    assert "public.fail_page" not in plain
    assert reach.skips(REFERENCE / "duplicate-page-webhook.json", "public.fail_page")
    assert not reach.skips(REFERENCE / "pause-fail-page-past-lease.json", "public.fail_page")
    # A restart may lose statistics: that run is never skipped, whatever the function.
    assert reach.entered[REFERENCE / "server-restart.json"] is None
    assert not reach.skips(REFERENCE / "server-restart.json", "public.fail_page")
    # An SQL function whose body is one SELECT may be inlined, and statistics do not see an
    # inlined call: never skipped. One that updates cannot be inlined.
    assert "threadsync.now" not in TRACKABLE
    assert not reach.skips(REFERENCE / "duplicate-page-webhook.json", "threadsync.now")
    assert "threadsync.finish_job_if_done" in TRACKABLE
    assert "threadsync.finish_job_if_done" in plain


def test_a_run_that_fails_is_never_skipped(pg_server: Server, tmp_path: Path) -> None:
    """Learning on a pipeline whose run violates a check records nothing for that scenario."""
    [mutant] = [
        m
        for m in generate(reference).mutants
        if m.function == "public.claim_page" and m.summary == "drop `AND p.status = 'pending'`"
    ]
    path = REFERENCE / "duplicate-page-webhook.json"
    bench = Workbench(pg_server)
    try:
        bench.pipelines["broken"] = mutant_pipeline(reference, mutant, tmp_path / "cache")
        reach = learn(bench, "broken", [(path, load_scenario(path))], TRACKABLE)
    finally:
        untrack(bench)
        bench.close()
    if reach.note is not None:
        pytest.skip(
            f"function statistics unavailable on this server, nothing to test: {reach.note}"
        )
    assert reach.entered == {path: None}
    assert not reach.skips(path, "public.fail_page")


def _one_per_operator(reach: Reach, paths: list[Path]) -> list[Mutant]:
    chosen: dict[str, Mutant] = {}
    for m in generate(reference).mutants:
        if m.operator not in chosen and any(reach.skips(p, m.function) for p in paths):
            chosen[m.operator] = m
    return list(chosen.values())


def test_skipping_never_changes_a_verdict(
    pg_server: Server, tmp_path: Path, learned: tuple[list[tuple[Path, Scenario]], Reach]
) -> None:
    """For one mutant per operator kind: every scenario skipped for it passes when run against
    it, and its verdict with skipping equals its verdict without."""
    scenarios, reach = learned
    mutants = _one_per_operator(reach, [p for p, _ in scenarios])
    assert len(mutants) >= 8, [m.id for m in mutants]
    plan = _plan(tmp_path)
    bench = Workbench(pg_server)
    learn(bench, IMPL, [], TRACKABLE)  # statistics on, as in a worker
    try:
        for m in mutants:
            skipped = [(p, s) for p, s in scenarios if reach.skips(p, m.function)]
            alone = kill(bench, reference, m, skipped, plan)
            assert alone.status == "survived" and alone.errors == [], (m.id, alone)
            with_skip = kill(bench, reference, m, scenarios, plan, reach)
            without = kill(bench, reference, m, scenarios, plan)
            assert with_skip.status == without.status, (m.id, with_skip, without)
            assert with_skip.skipped == len(skipped) or with_skip.status == "killed"
            assert without.skipped == 0
    finally:
        untrack(bench)
        bench.close()


def test_a_survivor_says_whether_exploration_reached_its_function(
    pg_server: Server, tmp_path: Path, learned: tuple[list[tuple[Path, Scenario]], Reach]
) -> None:
    """Every exploration run claims a page, so a claim_page mutant that survives (one written
    down as equivalent) is reported as reached; the line says so."""
    scenarios, reach = learned
    [m] = [x for x in generate(reference).mutants if x.id == "claim_page:drop-where:1"]
    plan = dataclasses.replace(_plan(tmp_path), budget_s=2.0)
    bench = Workbench(pg_server)
    learn(bench, IMPL, [], TRACKABLE)
    try:
        out = kill(bench, reference, m, scenarios[:1], plan, reach)
    finally:
        untrack(bench)
        bench.close()
    assert out.status == "survived", out
    assert out.explore_reached is True, out
    assert "exploration reached claim_page" in progress_line(m, out, 1, 1)

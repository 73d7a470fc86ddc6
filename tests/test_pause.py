"""Pause faults: a statement stops inside its function while other actors run, on a real server.

The engine grants one RPC as one step; a Pause rule arms that step so its statement waits at a
pause point (a read of threadsync.now(), or the start of a write to one of the pipeline's tables)
on a key the engine holds. These tests show that statements inside a function then interleave
with other actors' work, that a pause never hangs a run (whatever else happens meanwhile), and
that the saved scenarios give the FOR UPDATE mutants of `threadsync mutate` a schedule that
fails them, replayably, where the reference passes.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest

from harness.coverage import reached
from harness.engine import (
    SWEEPER,
    ActorSpec,
    Crash,
    Drop,
    FaultPlan,
    KillConnection,
    Pause,
    RestartServer,
    RunConfig,
    run,
    run_actors,
)
from harness.engine.free import playable
from harness.explore.strategies import fault_rules
from harness.history import History
from harness.mutate.generate import generate, mutant_pipeline
from harness.postgres import Server, TemplateDatabases, start_server
from harness.replay import Workbench, run_scenario
from harness.scenario import Scenario, ScenarioError, from_dict, load
from harness.supabase import migrations
from threadsync.pipeline import Database
from threadsync.reference import pipeline as reference

ROOT = Path(__file__).resolve().parents[1]
PAGE_WORKER = "sync-threads-page-worker"
PROCESSOR = "sync-threads-processor"
# A read-then-write inside one function, with a clock read (pause point 0) in between: the
# lost update every FOR UPDATE prevents.
BUMP = """
CREATE TABLE counter (id int PRIMARY KEY, v int NOT NULL);
INSERT INTO counter VALUES (1, 0);
CREATE FUNCTION bump() RETURNS int LANGUAGE plpgsql AS $$
DECLARE x int;
BEGIN
    SELECT v INTO x FROM counter WHERE id = 1;
    PERFORM threadsync.now();
    UPDATE counter SET v = x + 1 WHERE id = 1;
    RETURN x + 1;
END
$$;
CREATE FUNCTION hold() RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    UPDATE counter SET v = v + 1 WHERE id = 1;
    PERFORM threadsync.now();
    RETURN 1;
END
$$;
"""


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    # A server of our own: one test restarts it.
    with start_server("embedded") as s:
        yield s


@pytest.fixture(scope="module")
def templates(server: Server) -> Iterator[TemplateDatabases]:
    with TemplateDatabases(server, migrations(reference), name_hint="pause") as t:
        yield t


@pytest.fixture
def dsn(server: Server, templates: TemplateDatabases) -> Iterator[str]:
    name = templates.fresh("pause")
    with psycopg.connect(server.dsn(name), autocommit=True) as c:
        c.execute(BUMP.encode())
    yield server.dsn(name)
    templates.drop(name)


@pytest.fixture(scope="module")
def bench(server: Server) -> Iterator[Workbench]:
    b = Workbench(server)
    yield b
    b.close()


def _bump(db: Database) -> object:
    return db.query("SELECT bump() AS v")[0]["v"]


def _counter(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as c:
        row = c.execute("SELECT v FROM counter").fetchone()
        assert row is not None
        return int(row[0])


# --- the engine -------------------------------------------------------------------------------


def test_statements_inside_a_function_interleave_with_another_actor(dsn: str) -> None:
    # a reads, stops at the clock read; b is invoked and bumps; a writes what it read plus one.
    paused = Pause(at_step=0, at_point=0, resume_after_steps=2)
    result = run_actors(
        dsn, [ActorSpec("a", _bump, faults=(paused,)), ActorSpec("b", _bump)], choices=[0, 0]
    )
    h = result.history
    (stop,) = h.by_kind("paused")
    (go,) = h.by_kind("resumed")
    assert stop.actor == go.actor == "a" and stop.detail["where"] == "threadsync.now()"
    b_bump = [e for e in h.by_actor("b") if e.kind == "statement"]
    assert stop.seq < b_bump[0].seq < go.seq
    assert go.detail == {"reason": "after 2 steps of others", "steps_since": 2}
    assert _counter(dsn) == 1  # b's bump was lost: both read 0
    assert "<paused ...>" in h.transcript() and "resumed a: after 2 steps" in h.transcript()


def test_without_the_pause_no_update_is_lost(dsn: str) -> None:
    run_actors(dsn, [ActorSpec("a", _bump), ActorSpec("b", _bump)], choices=[0, 0])
    assert _counter(dsn) == 2


def test_a_paused_lock_holder_goes_on_when_everyone_else_waits_for_it(dsn: str) -> None:
    def holds(db: Database) -> object:
        # The row lock first, then the pause point: b queues behind a paused statement.
        return db.query("SELECT hold() AS v")[0]["v"]

    def writes(db: Database) -> object:
        return db.query("UPDATE counter SET v = v + 10 WHERE id = 1 RETURNING v")[0]["v"]

    paused = Pause(at_step=0, at_point=0)
    # a's invoke and statement (it stops); b's invoke and UPDATE, not a's resumption.
    result = run_actors(
        dsn,
        [ActorSpec("a", holds, faults=(paused,)), ActorSpec("b", writes)],
        choices=[0, 0, 0, 0],
    )
    h = result.history
    (stop,) = h.by_kind("paused")
    (wait,) = h.by_kind("blocked")
    (go,) = h.by_kind("resumed")
    (released,) = h.by_kind("released")
    assert wait.actor == "b" and wait.detail["blocked_by"] == ["a"]
    assert stop.seq < wait.seq < go.seq < released.seq
    assert go.detail["reason"] == "nothing else could run"
    assert _counter(dsn) == 11 and not result.errors


def test_a_pause_point_never_reached_is_reported_unfired(dsn: str) -> None:
    def in_transaction(db: Database) -> object:
        with db.transaction():
            return _bump(db)

    far = Pause(at_step=0, at_point=5)  # bump() reads the clock once
    past = Pause(at_step=1, at_point=0)  # a's only step is step 0
    begin = Pause(at_step=0, at_point=0)  # b's step 0 is its BEGIN
    h = run_actors(
        dsn,
        [ActorSpec("a", _bump, faults=(far, past)), ActorSpec("b", in_transaction, (begin,))],
        choices=[0, 0, 0],
    ).history
    unfired = sorted(
        (e.actor, e.detail["at_step"], str(e.detail.get("reason")))
        for e in h.by_kind("fault")
        if e.detail["fault"] == "unfired"
    )
    assert unfired == [
        ("a", 0, "the statement of step 0 ended before pause point 5"),
        ("a", 1, "None"),  # aimed past the last step, reported like any other rule
        ("b", 0, "step 0 has no statement to pause: it is a begin step"),
    ]
    assert not h.by_kind("paused") and _counter(dsn) == 2


def _run(server: Server, templates: TemplateDatabases, plan: FaultPlan) -> History:
    """Run the reference (2 pages x 4 threads) in a fresh database; every thread must be synced
    and the job completed."""
    name = templates.fresh("run")
    try:
        config = RunConfig(
            reference, dsn=server.dsn(name), server=server, faults=plan, threads=8, page_size=4
        )
        result = run(config)
        with psycopg.connect(server.dsn(name), autocommit=True) as c:
            row = c.execute(
                "SELECT (SELECT count(*) FROM threads), (SELECT string_agg(status::text, ',') "
                "FROM sync_jobs)"
            ).fetchone()
    finally:
        templates.drop(name)
    assert result.quiesced and row == (8, "completed"), (row, result.errors)
    return result.history


def test_a_server_restart_while_paused_ends_the_pause(
    server: Server, templates: TemplateDatabases
) -> None:
    plan = FaultPlan(
        (
            Pause(function=PAGE_WORKER, occurrence=0, at_step=2, at_point=1, seconds=30.0),
            RestartServer(at_time=10.0),
        )
    )
    h = _run(server, templates, plan)
    (stop,) = h.by_kind("paused")
    (restart,) = [e for e in h.by_kind("fault") if e.detail["fault"] == "restart_server"]
    (go,) = [e for e in h.by_kind("resumed") if e.actor == stop.actor]
    assert stop.seq < restart.seq < go.seq
    failed = [e for e in h.by_actor(stop.actor) if e.kind == "statement"][-1]
    assert failed.outcome == "error" and "complete_page" in failed.detail["sql"]


def test_others_crash_and_lose_their_connection_while_one_is_paused(
    server: Server, templates: TemplateDatabases
) -> None:
    plan = FaultPlan(
        (
            Pause(function=PROCESSOR, occurrence=0, at_step=2, at_point=3, resume_after_steps=12),
            # Processors of the second page, which run while the first one's p1 is paused.
            Crash(function=PROCESSOR, occurrence=4, at_step=1),
            KillConnection(function=PROCESSOR, occurrence=6, at_step=2),
        )
    )
    h = _run(server, templates, plan)
    (stop,) = h.by_kind("paused")
    (go,) = h.by_kind("resumed")
    during = {
        e.detail["fault"]
        for e in h.by_kind("fault")
        if stop.seq < e.seq < go.seq and e.detail["fault"] in ("crash", "kill_connection")
    }
    assert during == {"crash", "kill_connection"}


def test_the_sweeper_pauses_too(server: Server, templates: TemplateDatabases) -> None:
    # A dropped webhook leaves work for the sweeper (a fault-free job is done before any tick).
    plan = FaultPlan(
        (Drop(function=PROCESSOR, occurrence=0), Pause(function=SWEEPER, occurrence=0, at_point=1))
    )
    h = _run(server, templates, plan)
    (stop,) = h.by_kind("paused")
    assert stop.actor == "s1" and stop.detail["where"] == "UPDATE public.sync_page_queue"


# --- the rule ---------------------------------------------------------------------------------


def test_the_rule_round_trips_and_its_numbers_are_checked() -> None:
    rule = Pause(function=SWEEPER, occurrence=2, at_step=0, at_point=3, resume_after_steps=None)
    plan = FaultPlan((rule,))
    assert FaultPlan.from_dict(json.loads(json.dumps(plan.to_dict()))) == plan
    assert plan.for_sweep(2) == (rule,) and plan.for_sweep(1) == ()
    assert FaultPlan((Pause(at_point=1),)).for_sweep(0) == ()  # unnamed rules: webhooks only
    base = json.loads(load(ROOT / "scenarios" / "reference" / "pause-page-alone.json").to_json())
    for field, bad in (("at_point", -1), ("resume_after_steps", 1.5), ("seconds", 1e300)):
        data = json.loads(json.dumps(base))
        data["faults"]["rules"][0][field] = bad
        with pytest.raises(ScenarioError, match=rf"\(Pause\)\.{field}"):
            from_dict(data, "x.json")


def test_free_mode_leaves_pauses_out() -> None:
    kept, left_out = playable(FaultPlan((Pause(at_point=1), Crash(at_step=1))))
    assert kept == FaultPlan((Crash(at_step=1),)) and left_out == ["Pause"]


def test_the_search_draws_pauses_of_deliveries_and_of_the_sweeper() -> None:
    from hypothesis import find, settings

    quick = settings(max_examples=2000, database=None)
    rules = fault_rules(threads=8, page_size=4)
    on_sweeper = find(
        rules, lambda r: isinstance(r, Pause) and r.function == SWEEPER, settings=quick
    )
    mid = find(
        rules, lambda r: isinstance(r, Pause) and r.at_step == 2 and r.at_point > 0, settings=quick
    )
    assert isinstance(on_sweeper, Pause) and on_sweeper.at_step == 0
    assert isinstance(mid, Pause) and mid.function in (PAGE_WORKER, PROCESSOR)


# --- teeth: the FOR UPDATE mutants ------------------------------------------------------------


def _mutated(bench: Workbench, mutant_id: str) -> str:
    """Register `threadsync mutate`'s mutant `mutant_id` of the reference on the bench."""
    (mutant,) = [m for m in generate(reference).mutants if m.id == mutant_id]
    impl = f"mutant:{mutant_id}"
    bench.pipelines[impl] = mutant_pipeline(reference, mutant, Path(tempfile.mkdtemp()))
    return impl


# Each FOR UPDATE that `threadsync mutate` can drop, the saved scenario that races it, and the
# check its mutant then fails.
FOR_UPDATE = [
    # The stale worker completes its page a second time.
    ("complete_page:drop-for-update:1", "mutants/unlocked_complete_page", "page-exactly-once"),
    # The stale worker puts the page the new owner completed back to pending: the job finishes
    # with that page open.
    ("fail_page:drop-for-update:1", "reference/pause-fail-page-past-lease", "job-completes-once"),
    (
        "complete_thread:drop-for-update:1",
        "reference/pause-thread-past-lease",
        "thread-exactly-once",
    ),
    (
        "fail_thread:drop-for-update:1",
        "reference/pause-fail-thread-past-lease",
        "thread-exactly-once",
    ),
    # The sweep, on its stale snapshot, puts the item just completed back to pending.
    ("sweep:drop-for-update:1", "reference/pause-sweeper-mid-sweep", "job-completes-once"),
    ("sweep:drop-for-update:2", "reference/pause-sweeper-mid-thread-sweep", "no-stuck-work"),
]


@pytest.mark.parametrize(("mutant_id", "saved", "check"), FOR_UPDATE)
def test_a_pause_fails_a_for_update_mutant_replayably_and_the_reference_passes(
    bench: Workbench, mutant_id: str, saved: str, check: str
) -> None:
    scenario = load(ROOT / "scenarios" / f"{saved}.json")
    impl = _mutated(bench, mutant_id)
    first = run_scenario(bench, scenario, impl=impl)
    second = run_scenario(bench, scenario, impl=impl)
    assert check in first.violated
    assert first.violated == second.violated
    assert first.result.choices == second.result.choices
    assert first.result.history.comparable() == second.result.history.comparable()
    assert not run_scenario(bench, scenario, impl="threadsync.reference:pipeline").violations
    # The pause is what reaches the bug: without it the same schedule passes.
    unpaused = replace(
        scenario, faults=FaultPlan(tuple(r for r in scenario.faults if not isinstance(r, Pause)))
    )
    assert not run_scenario(bench, unpaused, impl=impl).violations


def test_the_saved_pause_scenarios_reach_the_situation(bench: Workbench) -> None:
    def situations(name: str) -> frozenset[str]:
        verdict = run_scenario(bench, load(ROOT / "scenarios" / "reference" / f"{name}.json"))
        assert verdict.as_expected
        return reached(verdict.result.history, verdict.state)

    assert "paused-mid-function" in situations("pause-page-past-lease")
    assert "paused-mid-function" not in situations("pause-page-alone")


def test_a_scenario_with_a_pause_for_the_mutant_names_it() -> None:
    scenario: Scenario = load(ROOT / "scenarios" / "mutants" / "unlocked_complete_page.json")
    assert scenario.impl == "harness.mutants.unlocked_complete_page:pipeline"
    assert any(isinstance(r, Pause) for r in scenario.faults)

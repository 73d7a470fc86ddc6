"""The deterministic engine on a real embedded PostgreSQL: blocking, replay, faults, hangs."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg
import pytest

from harness.engine import (
    ActorSpec,
    ApiFaults,
    CallerTimeout,
    ChoiceList,
    Crash,
    Drop,
    Duplicate,
    Early,
    EngineError,
    FaultPlan,
    KillConnection,
    PCTStrategy,
    RestartServer,
    RunConfig,
    RunResult,
    SlowSteps,
    Stall,
    apply_settings,
    run,
    run_actors,
    run_free,
)
from harness.engine.actor import recorded_error
from harness.engine.scheduler import Scheduler, has_cycle
from harness.engine.strategy import Chooser
from harness.history import Event, History
from harness.postgres import Server, TemplateDatabases, start_server
from harness.supabase import migrations
from threadsync.pipeline import Database, Reply
from threadsync.reference import pipeline as reference

PAGE_WORKER = "sync-threads-page-worker"
PROCESSOR = "sync-threads-processor"


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    # A server of our own: one test restarts it.
    with start_server("embedded") as s:
        yield s


@pytest.fixture(scope="module")
def templates(server: Server) -> Iterator[TemplateDatabases]:
    with TemplateDatabases(server, migrations(reference), name_hint="engine") as t:
        yield t


@pytest.fixture
def dsn(server: Server, templates: TemplateDatabases) -> Iterator[str]:
    name = templates.fresh("engine")
    yield server.dsn(name)
    templates.drop(name)


def _run(server: Server, templates: TemplateDatabases, **kw: Any) -> tuple[RunResult, Any]:
    """Run the reference pipeline (3 pages x 4 threads) in a fresh database; return the result
    and the final state (threads count, job status)."""
    name = templates.fresh("run")
    try:
        config = RunConfig(reference, dsn=server.dsn(name), server=server, **kw)
        config.threads = kw.get("threads", 12)
        config.page_size = kw.get("page_size", 4)
        result = run(config)
        with psycopg.connect(server.dsn(name), autocommit=True) as c:
            row = c.execute(
                "SELECT (SELECT count(*) FROM threads), (SELECT string_agg(status::text, ',') "
                "FROM sync_jobs)"
            ).fetchone()
        return result, row
    finally:
        templates.drop(name)


def _table(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("CREATE TABLE t (id int PRIMARY KEY, v int NOT NULL)")
        c.execute("INSERT INTO t VALUES (1, 0), (2, 0)")


def _events(h: History, actor: str, *kinds: str) -> list[Event]:
    return [e for e in h.by_actor(actor) if not kinds or e.kind in kinds]


def _replies(h: History, role: str) -> list[Event]:
    return [e for e in h.by_kind("reply") if e.role == role]


class LastFirst:
    """Always the newest runnable actor: makes an early delivery run before the commit."""

    def pick(self, runnable: Sequence[str], last: str | None, chooser: Chooser) -> int:
        return len(runnable) - 1


def test_fault_plan_round_trips_through_json_and_rejects_unknown_rules() -> None:
    plan = FaultPlan((Drop(index=1), Duplicate(function=PROCESSOR, copies=2, extra_delays=(0, 30))))
    plan = plan | Stall(at_step=2, seconds=90) | RestartServer(after_delivery=4)
    assert FaultPlan.from_dict(json.loads(json.dumps(plan.to_dict()))) == plan
    with pytest.raises(ValueError, match="type 'Explode'"):
        FaultPlan.from_dict({"rules": [{"type": "Explode"}]})
    with pytest.raises(ValueError, match="unknown fields"):
        FaultPlan.from_dict({"rules": [{"type": "Drop", "idx": 1}]})


def test_choice_list_replays_and_records() -> None:
    chooser = ChoiceList([2, 7])
    assert [chooser.choose(3, "a"), chooser.choose(1, "b"), chooser.choose(4, "c")] == [2, 0, 3]
    assert chooser.choose(5, "d") == 0  # past the end: the simplest choice
    assert chooser.made == [2, 3, 0] and chooser.labels == ["a", "c", "d"]


def test_settings_are_overridden_for_the_run(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as c:
        apply_settings(c, {"max_attempts": 2, "page_lease_seconds": 30})
        row = c.execute("SELECT max_attempts, page_lease_seconds FROM threadsync.settings")
        assert row.fetchone() == (2, 30)
        with pytest.raises(ValueError, match=r"unknown threadsync\.settings columns"):
            apply_settings(c, {"max_attempt": 2})


# --- blocking ------------------------------------------------------------------------------------


def test_second_update_is_blocked_by_first_and_completes_after_its_commit(dsn: str) -> None:
    _table(dsn)

    def a(db: Database) -> None:
        with db.transaction():
            db.query("UPDATE t SET v = v + 1 WHERE id = 1")
            db.query("SELECT 1")

    def b(db: Database) -> object:
        return db.query("UPDATE t SET v = v + 10 WHERE id = 1 RETURNING v")[0]["v"]

    # a: invoke, BEGIN, UPDATE; b: invoke, UPDATE (blocks); a: SELECT, COMMIT.
    result = run_actors(dsn, [ActorSpec("a", a), ActorSpec("b", b)], choices=[0, 0, 0, 1, 1])
    h = result.history
    (blocked,) = h.by_kind("blocked")
    assert blocked.actor == "b" and blocked.detail["blocked_by"] == ["a"]
    commit = _events(h, "a", "commit")[0]
    b_update = _events(h, "b", "statement")[0]
    assert blocked.seq < commit.seq < b_update.seq
    assert b_update.detail["rows"] == [{"v": 11}]
    assert "<waiting ...>" in h.transcript() and "<... completed>" in h.transcript()


def test_skip_locked_is_never_reported_blocked(dsn: str) -> None:
    _table(dsn)

    def a(db: Database) -> None:
        with db.transaction():
            db.query("SELECT * FROM t WHERE id = 1 FOR UPDATE")
            db.query("SELECT 1")

    def b(db: Database) -> object:
        return db.query("SELECT id FROM t ORDER BY id FOR UPDATE SKIP LOCKED")

    for seed in range(5):
        h = run_actors(dsn, [ActorSpec("a", a), ActorSpec("b", b)], seed=seed).history
        assert h.by_kind("blocked") == []
        rows = _events(h, "b", "statement")[0].detail["rows"]
        assert rows in ([{"id": 2}], [{"id": 1}, {"id": 2}])


def test_deadlock_is_broken_by_the_server_and_seen_by_one_actor(dsn: str) -> None:
    _table(dsn)

    def one_then(first: int, second: int) -> Any:
        def actor(db: Database) -> None:
            with db.transaction():
                db.query("UPDATE t SET v = v + 1 WHERE id = %s", (first,))
                db.query("UPDATE t SET v = v + 1 WHERE id = %s", (second,))

        return actor

    # a: invoke, BEGIN, UPDATE 1; b: invoke, BEGIN, UPDATE 2; then each updates the other row.
    result = run_actors(
        dsn,
        [ActorSpec("a", one_then(1, 2)), ActorSpec("b", one_then(2, 1))],
        choices=[0, 0, 0, 1, 1, 1, 0],
    )
    errors = [e for e in result.history.by_kind("statement") if e.outcome == "error"]
    assert [e.detail["sqlstate"] for e in errors] == ["40P01"]
    assert len(result.errors) == 1 and "DeadlockDetected" in result.errors[0]


def test_waits_behind_a_stalled_lock_holder_move_time_instead_of_hanging(dsn: str) -> None:
    """Issue 14's false deadlock: a stalled worker holds a lock, two actors wait on it, a third
    waits on one of those. No cycle, so time moves to the stalled worker's wake-up."""
    _table(dsn)

    def holder(db: Database) -> None:
        with db.transaction():  # BEGIN (step 0), UPDATE (1), stalled before COMMIT (2)
            db.query("UPDATE t SET v = v + 1 WHERE id = 1")

    def waiter_holding_2(db: Database) -> None:
        with db.transaction():
            db.query("UPDATE t SET v = v + 1 WHERE id = 2")
            db.query("UPDATE t SET v = v + 1 WHERE id = 1")

    def waiter(db: Database) -> None:
        db.query("UPDATE t SET v = v + 1 WHERE id = 1")

    def waits_on_waiter(db: Database) -> None:
        db.query("UPDATE t SET v = v + 1 WHERE id = 2")

    actors = [
        ActorSpec("w", holder, faults=(Stall(at_step=2, seconds=100.0),)),
        ActorSpec("p1", waiter_holding_2),
        ActorSpec("p2", waiter),
        ActorSpec("s", waits_on_waiter),
    ]
    # Always the first runnable actor: w takes its lock and stalls, then p1, p2, s block.
    result = run_actors(dsn, actors, choices=[0] * 40, safety_timeout=3.0)
    h = result.history
    blocked = {e.actor: e.detail["blocked_by"] for e in h.by_kind("blocked")}
    assert blocked["p1"] == ["w"] and blocked["s"] == ["p1"], blocked
    assert "p2" in blocked
    assert result.clock == 100.0 and result.errors == []
    with psycopg.connect(dsn, autocommit=True) as c:
        assert c.execute("SELECT v FROM t ORDER BY id").fetchall() == [(3,), (2,)]


def test_has_cycle_finds_only_real_wait_cycles() -> None:
    assert has_cycle({"a": {"b"}, "b": {"a"}})
    assert has_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}})
    assert not has_cycle({"p1": {"w"}, "p2": {"w", "p1"}, "s": {"p1"}})
    assert not has_cycle({})


# --- the reference pipeline ----------------------------------------------------------------------


def test_reference_pipeline_fault_free_completes(
    server: Server, templates: TemplateDatabases
) -> None:
    result, (threads, job) = _run(server, templates, seed=3)
    assert (threads, job) == (12, "completed")
    assert result.quiesced and result.errors == []
    assert {e.detail["outcome"] for e in result.history.by_kind("reply")} == {"ok"}


def test_same_seed_and_plan_replay_identically(
    server: Server, templates: TemplateDatabases
) -> None:
    plan = FaultPlan((Duplicate(function=PAGE_WORKER, occurrence=1), Crash(index=3, at_step=1)))
    first, state = _run(server, templates, seed=7, faults=plan)
    assert state == (12, "completed")
    assert first.history.by_kind("crash")
    expected = first.history.comparable()
    for _ in range(19):
        again, _state = _run(server, templates, seed=7, faults=plan)
        assert again.history.comparable() == expected
    # The recorded choices replay the same history without the seed.
    replayed, _state = _run(server, templates, seed=999, faults=plan, choices=first.choices)
    assert replayed.history.comparable() == expected
    # And the history survives JSON.
    assert History.from_json(first.history.to_json()).comparable() == expected


def test_clock_skips_and_processor_faults_replay_identically(
    server: Server, templates: TemplateDatabases
) -> None:
    plan = FaultPlan(
        (
            SlowSteps(times=2, seconds=120.0),
            ApiFaults(calls=((1, "rate_limit", 30.0),), function="fetch_thread"),
            Stall(function=PROCESSOR, occurrence=2, at_step=1, seconds=90.0),
        )
    )
    first, state = _run(server, templates, seed=2, faults=plan, threads=8, page_size=4)
    assert state == (8, "completed")
    assert [e for e in first.history.by_kind("fault") if e.detail["fault"] == "clock_skip"]
    expected = first.history.comparable()
    for _ in range(2):
        again, _state = _run(server, templates, seed=2, faults=plan, threads=8, page_size=4)
        assert again.history.comparable() == expected
    replayed, _state = _run(
        server, templates, seed=999, faults=plan, choices=first.choices, threads=8, page_size=4
    )
    assert replayed.history.comparable() == expected


def test_pct_strategy_runs_the_pipeline(server: Server, templates: TemplateDatabases) -> None:
    result, state = _run(server, templates, seed=1, strategy=lambda: PCTStrategy(3, 60))
    assert state == (12, "completed")
    assert "pct.change_point" in result.choice_labels


# --- faults --------------------------------------------------------------------------------------


def test_dropped_delivery_never_reaches_its_handler_and_the_sweeper_recovers(
    server: Server, templates: TemplateDatabases
) -> None:
    plan = FaultPlan((Drop(function=PROCESSOR, occurrence=0),))
    result, state = _run(server, templates, faults=plan)
    h = result.history
    (dropped,) = [e for e in h.by_kind("delivery") if e.detail["outcome"] == "dropped"]
    index = dropped.detail["request"]
    assert not [e for e in h.by_kind("invoke") if e.detail.get("request") == index]
    assert h.by_role("sweeper") and state == (12, "completed")


def test_duplicate_delivery_reaches_the_handler_twice(
    server: Server, templates: TemplateDatabases
) -> None:
    plan = FaultPlan((Duplicate(function=PAGE_WORKER, occurrence=0),))
    result, state = _run(server, templates, faults=plan)
    invokes = [e for e in result.history.by_kind("invoke") if e.detail.get("request") == 0]
    assert sorted(e.detail["copy"] for e in invokes) == [0, 1]
    outcomes = sorted(result.history.replies()[e.actor].detail["body"]["outcome"] for e in invokes)
    assert outcomes == ["done", "noop"]
    assert state == (12, "completed")


def test_early_delivery_finds_no_row(server: Server, templates: TemplateDatabases) -> None:
    plan = FaultPlan((Early(function=PROCESSOR, occurrence=0),))
    result, state = _run(server, templates, faults=plan, strategy=LastFirst)
    h = result.history
    (early,) = [e for e in h.by_kind("invoke") if e.detail.get("copy") == "early"]
    reply = h.replies()[early.actor]
    assert reply.detail["body"]["outcome"] == "noop"
    assert reply.detail["body"]["reason"] == "unknown id"
    # The original is still delivered after the commit, and does the work.
    assert state == (12, "completed")


def test_crash_rolls_back_the_open_transaction_and_keeps_committed_work(dsn: str) -> None:
    _table(dsn)

    def a(db: Database) -> None:
        db.query("UPDATE t SET v = 1 WHERE id = 1")  # step 0, autocommit
        with db.transaction():  # step 1
            db.query("UPDATE t SET v = 2 WHERE id = 2")  # step 2
            db.query("SELECT 1")  # step 3: dies before it

    def b(db: Database) -> object:
        return db.query("UPDATE t SET v = v + 10 WHERE id = 2 RETURNING v")[0]["v"]

    result = run_actors(
        dsn, [ActorSpec("a", a, faults=(Crash(at_step=3),)), ActorSpec("b", b)], choices=[0] * 6
    )
    h = result.history
    assert _events(h, "a", "crash")[0].detail["at_step"] == 3
    assert h.replies()["a"].detail["outcome"] == "info"
    assert h.by_kind("blocked") == []  # the crashed transaction's row lock is gone
    with psycopg.connect(dsn) as c:
        assert c.execute("SELECT id, v FROM t ORDER BY id").fetchall() == [(1, 1), (2, 10)]


def test_crashed_page_worker_is_rescued_by_the_sweeper(
    server: Server, templates: TemplateDatabases
) -> None:
    plan = FaultPlan((Crash(function=PAGE_WORKER, occurrence=0, at_step=2),))
    result, state = _run(server, templates, faults=plan)
    assert result.history.by_kind("crash") and result.history.by_role("sweeper")
    assert state == (12, "completed") and result.quiesced


def test_caller_timeout_records_info_while_the_handler_finishes(
    server: Server, templates: TemplateDatabases
) -> None:
    plan = FaultPlan((CallerTimeout(function=PAGE_WORKER, occurrence=0, after_steps=1),))
    result, state = _run(server, templates, faults=plan)
    replies = _events(result.history, "w1", "reply")
    assert [r.detail["outcome"] for r in replies] == ["info", "ok"]
    assert replies[1].detail["caller_gone"] is True
    assert replies[1].detail["body"]["outcome"] == "done"
    assert state == (12, "completed")


def test_stalled_worker_loses_its_lease_to_the_sweeper(
    server: Server, templates: TemplateDatabases
) -> None:
    plan = FaultPlan(
        (
            Stall(function=PAGE_WORKER, occurrence=0, at_step=2, seconds=600),
            CallerTimeout(function=PAGE_WORKER, occurrence=0, after_steps=None, seconds=5),
        )
    )
    result, state = _run(server, templates, faults=plan)
    h = result.history
    sweeps_before = [e for e in h.by_role("sweeper") if e.kind == "invoke" and e.time < 600]
    assert sweeps_before
    gave_up, late = _events(h, "w1", "reply")
    assert (gave_up.time, gave_up.detail["outcome"]) == (5.0, "info")
    assert late.time >= 600
    assert late.detail["body"]["outcome"] == "noop"
    assert late.detail["body"]["reason"].startswith("lease lost")
    assert state == (12, "completed")


def test_killed_connection_surfaces_as_the_actors_error(
    server: Server, templates: TemplateDatabases
) -> None:
    plan = FaultPlan((KillConnection(function=PAGE_WORKER, occurrence=0, at_step=2),))
    result, state = _run(server, templates, faults=plan)
    h = result.history
    (failed,) = [e for e in _events(h, "w1", "statement") if e.outcome == "error"]
    assert "complete_page" in failed.detail["sql"]
    assert h.replies()["w1"].detail["outcome"] == "fail"
    assert state == (12, "completed")


def test_run_continues_after_a_server_restart(server: Server, templates: TemplateDatabases) -> None:
    plan = FaultPlan((RestartServer(after_delivery=3),))
    result, state = _run(server, templates, faults=plan)
    (restart,) = [
        e for e in result.history.by_kind("fault") if e.detail["fault"] == "restart_server"
    ]
    assert isinstance(restart.detail["queued_requests"], int)
    assert state == (12, "completed") and result.quiesced


def test_an_actor_spawned_before_a_restart_meets_a_dead_connection(
    server: Server, templates: TemplateDatabases, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Actors take their backend at their first statement; one that was spawned (its delivery
    # arrived) before the restart must still find its connection gone there, as a function
    # instance already running when the server went down does.
    spawned: dict[str, int] = {}
    spawn = Scheduler.spawn

    def noting(self: Scheduler, actor_id: str, *args: Any, **kw: Any) -> Any:
        spawned[actor_id] = len(self.events)
        return spawn(self, actor_id, *args, **kw)

    monkeypatch.setattr(Scheduler, "spawn", noting)
    plan = FaultPlan((RestartServer(after_delivery=3),))
    result, state = _run(server, templates, faults=plan)
    h = result.history
    (restart,) = [e for e in h.by_kind("fault") if e.detail["fault"] == "restart_server"]
    first: dict[str, Event] = {}
    for e in h.by_kind("statement"):
        first.setdefault(e.actor, e)
    caught = [a for a, e in first.items() if spawned[a] <= restart.seq < e.seq]
    assert caught, "no actor was spawned before the restart and ran its first statement after"
    for actor in caught:
        assert first[actor].detail["outcome"] == "error", first[actor]
    assert state == (12, "completed") and result.quiesced


def test_a_restart_records_how_many_queued_requests_it_lost(
    server: Server, templates: TemplateDatabases
) -> None:
    # As soon as two webhooks wait in the pg_net queue (a page's completion queues four).
    plan = FaultPlan((RestartServer(queued=2),))
    result, state = _run(server, templates, faults=plan, threads=4, page_size=4)
    h = result.history
    (restart,) = [e for e in h.by_kind("fault") if e.detail["fault"] == "restart_server"]
    lost = restart.detail["queued_requests"]
    assert lost >= 2
    # Those webhooks never arrived: only the sweeper's re-sends got their entries processed.
    before = [e for e in h.by_kind("delivery") if e.seq < restart.seq]
    assert len([e for e in before if e.detail["function"] == PROCESSOR]) == 4 - lost
    resent = sum(int(e.detail["body"].get("threads_emitted", 0)) for e in _replies(h, "sweeper"))
    assert resent >= lost
    assert state == (4, "completed")


def test_a_sweepers_reply_body_is_kept_whole(dsn: str) -> None:
    long = "x" * 500

    def replies(db: Database) -> Reply:
        return Reply(200, {"report": long, "rows": list(range(20))})

    h = run_actors(dsn, [ActorSpec("s", replies, role="sweeper"), ActorSpec("a", replies)]).history
    bodies = {e.actor: e.detail["body"] for e in h.by_kind("reply")}
    assert bodies["s"] == {"report": long, "rows": list(range(20))}
    assert bodies["a"]["report"] != long  # other replies are shortened for the history


def test_free_mode_runs_the_same_pipeline_with_real_concurrency(
    server: Server, templates: TemplateDatabases
) -> None:
    name = templates.fresh("free")
    try:
        plan = FaultPlan((Duplicate(function=PROCESSOR, occurrence=2), Crash(index=0, at_step=1)))
        config = RunConfig(reference, dsn=server.dsn(name), threads=12, page_size=4, faults=plan)
        result = run_free(config, workers=4)
        assert result.quiesced, result.errors
        assert result.history.by_kind("crash") and result.history.by_role("sweeper")
        with psycopg.connect(server.dsn(name)) as c:
            assert c.execute("SELECT count(*) FROM threads").fetchone() == (12,)
    finally:
        templates.drop(name)


# --- never hangs ---------------------------------------------------------------------------------


def test_actor_stuck_outside_any_step_is_an_engine_error(dsn: str) -> None:
    release = threading.Event()

    def stuck(db: Database) -> None:
        db.query("SELECT 1")
        release.wait(30)

    try:
        with pytest.raises(EngineError, match="actor stuck") as info:
            run_actors(dsn, [ActorSpec("stuck", stuck)], safety_timeout=1.5)
        assert "stuck (actor) running" in str(info.value)
    finally:
        release.set()


def test_actor_waiting_on_an_outside_lock_is_an_engine_error(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as outside:
        outside.execute("SELECT pg_advisory_lock(42)")

        def waits(db: Database) -> None:
            db.query("SELECT pg_advisory_lock(42)")

        with pytest.raises(EngineError, match="actor waits") as info:
            run_actors(dsn, [ActorSpec("waits", waits)], safety_timeout=1.5)
        assert "Lock:advisory" in str(info.value)


def test_a_fault_aimed_past_the_last_step_is_reported_unfired(
    server: Server, templates: TemplateDatabases
) -> None:
    plan = FaultPlan((Crash(function="sync-threads-processor", occurrence=0, at_step=9),))
    result = run(
        RunConfig(
            reference, server=server, templates=templates, threads=2, page_size=2, faults=plan
        )
    )
    unfired = [e for e in result.history.events if e.detail.get("fault") == "unfired"]
    assert len(unfired) == 1 and unfired[0].detail["rule"] == "Crash"
    assert unfired[0].detail["steps_taken"] < 9


def test_a_fault_at_the_last_step_fires_and_is_not_reported_unfired(dsn: str) -> None:
    def two_steps(db: Database) -> None:
        db.query("SELECT 1")
        db.query("SELECT 2")  # step 1, the last

    rules = (Stall(at_step=1, seconds=5.0), CallerTimeout(after_steps=1), Crash(at_step=2))
    h = run_actors(dsn, [ActorSpec("a", two_steps, faults=rules)]).history
    faults = [e.detail for e in h.by_kind("fault")]
    assert [f["fault"] for f in faults] == ["stall", "unfired"], faults
    assert faults[1]["rule"] == "Crash" and faults[1]["at_step"] == 2
    assert any(e.detail.get("error") == "caller timed out" for e in h.by_kind("reply"))


def test_processor_api_faults_reach_fail_thread_and_the_sync_still_completes(
    server: Server, templates: TemplateDatabases
) -> None:
    plan = FaultPlan(
        (
            ApiFaults(
                calls=((0, "server_error", 0.0), (1, "rate_limit", 30.0), (2, "timeout", 0.0)),
                function="fetch_thread",
            ),
        )
    )
    result, (threads, job) = _run(server, templates, faults=plan, threads=4, page_size=4)
    replies = [e.detail for e in _replies(result.history, "processor")]
    retries = [r for r in replies if r.get("status") == 503]
    assert len(retries) == 3 and all(r["body"]["outcome"] == "retry" for r in retries)
    assert {r["body"]["error"].split(": ", 1)[0] for r in retries} == {"threads API"}
    assert threads == 4 and job == "completed"
    failed_calls = [e for e in result.history.by_kind("api") if e.outcome == "error"]
    assert [e.role for e in failed_calls] == ["processor"] * 3
    assert result.api_calls.count("ok") == 1 + 4  # one page, four threads


def test_api_faults_name_an_api_function() -> None:
    with pytest.raises(ValueError, match="fetch_everything"):
        ApiFaults(calls=((0, "timeout", 0.0),), function="fetch_everything")


# --- time passing under live actors --------------------------------------------------------------

WORKERS = ("page_worker", "processor")


def _sweeps_under_live_workers(h: History) -> tuple[int, int, int]:
    """(sweeper steps taken while a worker was mid-handler, sweeper replies that rescued an
    expired lease while a worker was mid-handler, most sweepers alive at once)."""
    live: set[str] = set()
    sweepers: set[str] = set()
    between = rescues = most = 0
    for e in h.events:
        if e.kind == "invoke" and e.role in WORKERS:
            live.add(e.actor)
        elif (
            e.kind == "reply" and e.role in WORKERS and e.detail.get("error") != "caller timed out"
        ):
            live.discard(e.actor)
        if e.role == "sweeper" and e.kind == "invoke":
            sweepers.add(e.actor)
            most = max(most, len(sweepers))
        elif e.role == "sweeper" and e.kind == "reply":
            sweepers.discard(e.actor)
            body = e.detail.get("body") or {}
            if live and (body.get("pages_requeued") or body.get("threads_requeued")):
                rescues += 1
        elif e.role == "sweeper" and e.kind == "statement" and live:
            between += 1
    return between, rescues, most


def test_slow_steps_put_sweeper_ticks_between_steps_of_live_workers(
    server: Server, templates: TemplateDatabases
) -> None:
    found = {"between": 0, "rescues": 0, "queued": 0}
    for seed in range(6):
        plan = FaultPlan((SlowSteps(times=2, seconds=120.0),))
        result, (threads, job) = _run(
            server, templates, faults=plan, seed=seed, threads=8, page_size=4
        )
        h = result.history
        skips = [e for e in h.by_kind("fault") if e.detail["fault"] == "clock_skip"]
        assert 1 <= len(skips) <= 2 and all(s.detail["live"] for s in skips)
        between, rescues, most = _sweeps_under_live_workers(h)
        assert most == 1, "pg_cron runs one sweep at a time"
        found["between"] += between
        found["rescues"] += rescues
        found["queued"] += sum(1 for e in h.by_kind("info") if e.detail.get("sweep") == "queued")
        assert threads == 8 and job == "completed"
    # A tick due while the last sweep still runs was queued behind it, as pg_cron does.
    assert found["between"] and found["rescues"] and found["queued"], found


def test_without_slow_steps_time_never_moves_while_an_actor_can_run(
    server: Server, templates: TemplateDatabases
) -> None:
    result, _ = _run(server, templates, threads=8, page_size=4, seed=3)
    assert not [e for e in result.history.by_kind("fault") if e.detail["fault"] == "clock_skip"]
    assert not any(label.startswith("(clock") for label in result.choice_labels)


def test_slow_steps_rule_round_trips() -> None:
    plan = FaultPlan((SlowSteps(times=2, seconds=90.0), SlowSteps()))
    assert FaultPlan.from_dict(json.loads(json.dumps(plan.to_dict()))) == plan
    assert plan.clock_skips() == (3, 90.0)


def test_a_lost_connection_is_recorded_alike_whichever_libpq_call_noticed_it() -> None:
    """A backend the harness terminated is noticed by libpq while it reads the answer or while
    it flushes the query, by timing: the history must not say which, or a replay differs."""
    said = "server closed the connection unexpectedly"
    calls = (
        "consuming input",
        "flushing",
        "flush request",
        "sending query",
        "sending query and params",
        "sending prepared query",
        "sending describe portal",
        "sending close prepared",
        "sending copy data",
        "receiving copy data",
        "fetching results",
    )
    for call in calls:
        assert recorded_error(psycopg.OperationalError(f"{call} failed: {said}")) == said
    # Anything else is recorded as it was raised.
    for text in ("the connection is lost", "terminating connection due to administrator command"):
        assert recorded_error(psycopg.OperationalError(text)) == text

"""The backend pool: a reused backend starts as a new session; dead or killed ones never return."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from harness.engine import ActorSpec, Crash, KillConnection, run_actors
from harness.engine import pool as pools
from harness.engine.pool import BackendPool
from harness.history import History
from harness.postgres import Server, start_server
from threadsync.pipeline import Database


@pytest.fixture
def pool(ref_dsn: str) -> Iterator[BackendPool]:
    p = BackendPool(ref_dsn)
    pools.register(p)
    yield p
    pools.unregister(p)


def _one(conn: psycopg.Connection[Any], query: str) -> Any:
    row = conn.execute(query.encode()).fetchone()
    assert row is not None
    return row[0]


def test_a_reused_backend_starts_as_a_new_session(pool: BackendPool, ref_dsn: str) -> None:
    conn = pool.acquire()
    pid = conn.info.backend_pid
    # Everything a session can carry: GUCs (the virtual clock too), role, prepared statements,
    # an open cursor, LISTEN, an advisory lock, a temp table, a sequence's currval.
    conn.execute(b"SELECT set_config('threadsync.now', '2030-01-01 00:00:00+00', false)")
    conn.execute(b"SET statement_timeout = '1234ms'")
    conn.execute(b"PREPARE leftover AS SELECT 1")
    conn.execute(b"DECLARE leftover_cursor CURSOR WITH HOLD FOR SELECT 1")
    conn.execute(b"LISTEN leftover_channel")
    conn.execute(b"SELECT pg_advisory_lock(4242)")
    conn.execute(b"CREATE TEMP TABLE leftover_temp (x int)")
    conn.execute(b"SELECT nextval('net.http_request_queue_id_seq')")
    assert _one(conn, "SELECT threadsync.now() = '2030-01-01 00:00:00+00'::timestamptz")
    conn.execute(b"SET ROLE pg_monitor")
    assert _one(conn, "SELECT current_user") == "pg_monitor"
    pool.release(conn)

    again = pool.acquire()
    assert again.info.backend_pid == pid, "the pool should have handed the same backend back"
    assert not _one(again, "SELECT threadsync.now() = '2030-01-01 00:00:00+00'::timestamptz")
    assert _one(again, "SELECT coalesce(current_setting('threadsync.now', true), '')") == ""
    assert _one(again, "SHOW statement_timeout") == "0"
    assert _one(again, "SELECT current_user = session_user")
    assert _one(again, "SELECT count(*) FROM pg_prepared_statements") == 0
    assert _one(again, "SELECT count(*) FROM pg_cursors") == 0
    assert _one(again, "SELECT count(*) FROM pg_listening_channels()") == 0
    assert _one(again, "SELECT to_regclass('pg_temp.leftover_temp') IS NULL")
    assert (
        _one(
            again,
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()",
        )
        == 0
    )
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState):
        again.execute(b"SELECT currval('net.http_request_queue_id_seq')")
    pool.release(again)


def test_a_lock_ends_with_its_actor_not_with_its_backend(pool: BackendPool, ref_dsn: str) -> None:
    """A session advisory lock is released when the actor is done, as a closed session's is."""

    def holder(db: Database) -> object:
        return db.query("SELECT pg_advisory_lock(77) IS NOT NULL AS locked")

    result = run_actors(ref_dsn, [ActorSpec("a", holder)], seed=0)
    assert not result.errors
    assert pool.idle_pids(), "the actor's backend should be back in the pool"
    with psycopg.connect(ref_dsn, autocommit=True) as other:
        assert _one(other, "SELECT pg_try_advisory_lock(77)") is True


def _pid_of(history: History, actor: str) -> int:
    for event in history.by_actor(actor):
        if event.kind == "statement" and event.detail.get("rows"):
            return int(event.detail["rows"][0]["pid"])
    raise AssertionError(f"{actor} never reported its backend pid")


def _pid_then_more(db: Database) -> object:
    db.query("SELECT pg_backend_pid() AS pid")
    db.query("SELECT 1 AS one")
    db.query("SELECT 2 AS two")
    return None


@pytest.mark.parametrize(
    "fault", [Crash(at_step=1), KillConnection(at_step=1)], ids=["crash", "kill"]
)
def test_a_killed_backend_never_returns_to_the_pool(
    pool: BackendPool, ref_dsn: str, fault: Crash | KillConnection
) -> None:
    result = run_actors(
        ref_dsn,
        [ActorSpec("victim", _pid_then_more, faults=(fault,)), ActorSpec("bystander", _pid_of_db)],
        choices=[0] * 8,
    )
    victim = _pid_of(result.history, "victim")
    bystander = _pid_of(result.history, "bystander")
    assert victim != bystander
    assert victim not in pool.idle_pids()
    assert bystander in pool.idle_pids()
    # Whatever comes out of the pool next is alive.
    conn = pool.acquire()
    assert _one(conn, "SELECT 1") == 1
    pool.release(conn)


def _pid_of_db(db: Database) -> object:
    return db.query("SELECT pg_backend_pid() AS pid")


def test_a_connection_left_in_a_transaction_is_rolled_back(pool: BackendPool) -> None:
    conn = pool.acquire()
    conn.execute(b"BEGIN")
    conn.execute(b"UPDATE threadsync.settings SET max_attempts = max_attempts + 100")
    pool.release(conn)
    other = pool.acquire()
    assert _one(other, "SELECT max_attempts < 100 FROM threadsync.settings")
    pool.release(other)


def test_after_a_server_restart_no_dead_backend_is_handed_out() -> None:
    server: Server
    with start_server("embedded") as server:
        dsn = server.dsn("postgres")
        p = BackendPool(dsn)
        pools.register(p)
        try:
            idle, held = p.acquire(), p.acquire()
            p.release(idle)
            assert len(p.idle_pids()) == 1
            server.restart(immediate=True)
            pools.server_restarted()
            assert p.idle_pids() == []
            p.release(held)  # open across the restart: closed, not kept
            assert p.idle_pids() == []
            fresh = p.acquire()
            assert _one(fresh, "SELECT 1") == 1
            p.release(fresh)
            assert len(p.idle_pids()) == 1
        finally:
            pools.unregister(p)


def test_a_backend_that_died_unnoticed_is_not_kept(pool: BackendPool, ref_dsn: str) -> None:
    conn = pool.acquire()
    pid = conn.info.backend_pid
    with psycopg.connect(ref_dsn, autocommit=True) as admin:
        admin.execute(b"SELECT pg_terminate_backend(%s, 5000)", (pid,))
    pool.release(conn)
    assert pid not in pool.idle_pids()


def test_an_actor_takes_a_backend_at_its_first_statement(pool: BackendPool, ref_dsn: str) -> None:
    # Three actors spawned at once: the first to run finds none of them holding a backend.
    def held_then_query(db: Database) -> object:
        held = pool.in_use
        db.query("SELECT 1")
        return held

    result = run_actors(
        ref_dsn, [ActorSpec(name, held_then_query) for name in "abc"], choices=[0] * 12
    )
    replies = result.history.by_kind("reply")
    assert len(replies) == 3 and not result.errors
    # Only the engine's own session (the monitor) is out; when actors took theirs as they were
    # spawned, it was 4.
    assert replies[0].detail["body"]["value"] == 1, replies[0]
    assert pool.in_use == 0


def test_a_kill_aimed_before_the_first_statement_still_meets_a_dead_backend(
    pool: BackendPool, ref_dsn: str
) -> None:
    result = run_actors(
        ref_dsn,
        [ActorSpec("victim", _pid_of_db, faults=(KillConnection(at_step=0),))],
        choices=[0] * 4,
    )
    (statement,) = result.history.by_kind("statement")
    assert statement.detail["outcome"] == "error", statement.detail
    assert "pid" not in str(statement.detail.get("rows", ""))

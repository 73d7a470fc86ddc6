"""Asks the server whether an actor's statement waits on a lock, and ends backends on purpose.

Never a timeout as a verdict: a statement is finished or reported blocked by the server; the
safety timeout only turns a hang into an EngineError that names every actor.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import psycopg

from harness.engine import pool
from harness.engine.errors import EngineError
from harness.sql import HERE, PAUSE
from threadsync.queries import load_named

# Which lock a blocked statement waits for (see locks.sql); read once per recorded lock wait.
WAITED_SQL = load_named(HERE / "locks.sql")["waited_lock"].encode()

BLOCKED_SQL = (
    "SELECT pg_isolation_test_session_is_blocked(%(pid)s, %(others)s) AS blocked, "
    "pg_blocking_pids(%(pid)s) AS by"
)

_FIRST_PAUSE_S = 0.0001
_MAX_PAUSE_S = 0.005


class Monitor:
    """The engine's own connection: lock-wait checks, backend termination, the deliverer's reads."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.conn: psycopg.Connection[Any] = pool.acquire(dsn)
        self.pid = self.conn.info.backend_pid
        self.polls = 0
        # Bumped when the session (and every pause key it held) is gone.
        self.generation = 0

    def reconnect(self) -> None:
        """After a server restart: the old backend is gone, and so is every pooled one."""
        pool.server_restarted()
        pool.drop(self.dsn, self.conn)
        self.conn = pool.acquire(self.dsn)
        self.pid = self.conn.info.backend_pid
        self.generation += 1

    def hold(self, key: int) -> None:
        """Take pause key `key`: a statement armed with it waits at its pause point until
        `let_go`. Keys are used once, so nobody else ever holds or waits for this one yet."""
        self.conn.execute(PAUSE["hold"], {"key": key})

    def let_go(self, key: int) -> None:
        self.conn.execute(PAUSE["let_go"], {"key": key})

    def where(self, pid: int) -> str:
        """What a paused backend said about where it stopped (its application_name)."""
        row = self.conn.execute(PAUSE["where"], {"pid": pid}).fetchone()
        return str(row[0]) if row and row[0] else ""

    def close(self) -> None:
        pool.release(self.dsn, self.conn)

    def blocked(self, pid: int, others: Sequence[int]) -> tuple[bool, list[int]]:
        """Whether `pid` waits on a lock held by one of `others` (and every pid it waits on)."""
        self.polls += 1
        row = self.conn.execute(BLOCKED_SQL, {"pid": pid, "others": list(others)}).fetchone()
        assert row is not None
        return bool(row[0]), list(row[1] or [])

    def waited_lock(self, pid: int) -> dict[str, Any] | None:
        """The lock `pid` waits for: its type and mode, the table it is on (for a row lock, the
        row's table) and the backends holding it; None when it waits for none any more."""
        with self.conn.cursor() as cur:
            row = cur.execute(WAITED_SQL, {"pid": pid}).fetchone()
        if row is None:
            return None
        locktype, mode, schema, relation, holders = row
        return {
            "locktype": locktype,
            "mode": mode,
            "relation": f"{schema}.{relation}" if relation else None,
            "holders": list(holders or []),
        }

    def blockers(self, pid: int) -> list[int]:
        row = self.conn.execute("SELECT pg_blocking_pids(%s)", (pid,)).fetchone()
        return list(row[0] or []) if row else []

    def terminate(self, pid: int, timeout: float = 5.0) -> bool:
        """End a backend and wait until it is gone, so its transaction has rolled back.

        Polled here rather than with pg_terminate_backend's own timeout, which sleeps in 100 ms
        steps; the backend's status entry goes only after it released its locks. The pause
        between two looks doubles (a backend usually exits within a millisecond; one stuck in
        a long statement should not be asked about thousands of times).
        """
        row = self.conn.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()
        if not (row and row[0]):
            return False
        deadline = time.monotonic() + timeout
        pause = _FIRST_PAUSE_S
        while time.monotonic() < deadline:
            gone = self.conn.execute(
                "SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = %s)", (pid,)
            ).fetchone()
            if gone and gone[0]:
                return True
            time.sleep(pause)
            pause = min(pause * 2, _MAX_PAUSE_S)
        raise EngineError(f"backend {pid} still exists {timeout:g}s after pg_terminate_backend")

    def activity(self, pids: Sequence[int]) -> dict[int, str]:
        rows = self.conn.execute(
            "SELECT pid, coalesce(wait_event_type || ':' || wait_event, state, '?') || ' ' || "
            "left(coalesce(query, ''), 80) FROM pg_stat_activity WHERE pid = ANY(%s)",
            (list(pids),),
        ).fetchall()
        return {int(r[0]): str(r[1]) for r in rows}


__all__ = ["Monitor"]

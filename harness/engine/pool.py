"""Warm backends of one database, each handed out in the state of a brand-new session.

A new backend pays for its catalog caches and PL/pgSQL compilation on its first statements
(about 30x a warm one's first `start_sync`), and a connection costs a fork; a pool keeps both
across actors and runs. When an actor is done with its connection, everything closing the
session would have ended ends (DISCARD ALL but cached plans: role, GUCs such as the virtual clock
`threadsync.now`, prepared statements, cursors, LISTENs, advisory locks, temp objects, sequence
caches), so the next actor starts as on a new session and no lock outlives its actor. A
connection that is broken, in an unknown state, was killed on purpose, or was open across a
server restart is never handed out again. Psycopg never prepares statements on these
connections, so no client-side cache outlives an actor either.

Actors reach the pool through the database's DSN (`acquire`/`release`), so the scheduler and
the actors need no pool argument: whoever owns a database registers its pool (`serve`,
`register`).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus

from threadsync.queries import load_named

RESET_SQL = Path(__file__).parent.parent / "sql" / "reset.sql"
RESET: dict[str, str] = load_named(RESET_SQL)
_SESSION_END = RESET["session_end"].encode()

# A run of the deterministic engine keeps dozens of actors alive at once; beyond this many idle
# backends, released ones are closed instead of kept.
MAX_IDLE = 48


def connect(dsn: str) -> psycopg.Connection[Any]:
    """A new autocommit connection; prepare_threshold=None: statements are never prepared
    server-side, so what a backend plans does not depend on how often earlier actors ran them."""
    return psycopg.connect(dsn, autocommit=True, prepare_threshold=None)


class BackendPool:
    """Idle connections to one database; thread-safe (free mode releases from worker threads)."""

    def __init__(self, dsn: str, max_idle: int = MAX_IDLE) -> None:
        self.dsn = dsn
        self.max_idle = max_idle
        self._idle: list[psycopg.Connection[Any]] = []
        self._lock = threading.Lock()
        self._generation = 0
        self._out: dict[int, int] = {}  # id(conn) handed out -> generation it belongs to
        self.opened = 0
        self.reused = 0
        self.discarded = 0

    @property
    def in_use(self) -> int:
        """Connections handed out and not given back (an actor still running, or stuck)."""
        with self._lock:
            return len(self._out)

    def acquire(self) -> psycopg.Connection[Any]:
        """A connection in a new session's state: a warm one when there is one, else a new one."""
        with self._lock:
            conn = self._idle.pop() if self._idle else None
            if conn is not None:
                self.reused += 1
                self._out[id(conn)] = self._generation
                return conn
        conn = connect(self.dsn)
        with self._lock:
            self.opened += 1
            self._out[id(conn)] = self._generation
        return conn

    def release(self, conn: psycopg.Connection[Any]) -> None:
        """End the session's state and keep the connection, or close it when it is not sound."""
        with self._lock:
            generation = self._out.pop(id(conn), None)
            stale = generation != self._generation
        if stale or conn.closed or conn.broken:
            self._close(conn)
            return
        try:
            status = conn.info.transaction_status
            if status in (TransactionStatus.INTRANS, TransactionStatus.INERROR):
                conn.execute(b"ROLLBACK")
            elif status != TransactionStatus.IDLE:
                raise psycopg.InterfaceError(f"connection in state {status.name}")
            conn.execute(_SESSION_END)
        except psycopg.Error:
            # Its backend is gone (killed by a fault, or a restart this pool was not told about).
            self._close(conn, abrupt=True)
            return
        with self._lock:
            if len(self._idle) < self.max_idle and generation == self._generation:
                self._idle.append(conn)
                return
        self._close(conn)

    def drop(self, conn: psycopg.Connection[Any]) -> None:
        """A connection whose backend was killed on purpose (a crashed actor's): never reused."""
        with self._lock:
            self._out.pop(id(conn), None)
        self._close(conn, abrupt=True)

    def invalidate(self) -> None:
        """The server restarted: every backend, idle or handed out, is gone."""
        with self._lock:
            self._generation += 1
            idle, self._idle = self._idle, []
        for conn in idle:
            self._close(conn, abrupt=True)

    def close(self) -> None:
        """Close every idle connection; ones still handed out are closed when released."""
        self.invalidate()

    def idle_pids(self) -> list[int]:
        with self._lock:
            return [c.info.backend_pid for c in self._idle]

    def _close(self, conn: psycopg.Connection[Any], abrupt: bool = False) -> None:
        with self._lock:
            self.discarded += 1
        with contextlib.suppress(Exception):
            if abrupt:
                # No Terminate message: the backend is gone already, or must look killed.
                conn.pgconn.finish()
            else:
                conn.close()


_pools: dict[str, BackendPool] = {}
_registry_lock = threading.Lock()


@contextmanager
def serve(dsn: str) -> Iterator[BackendPool]:
    """The pool of `dsn` for the duration of the block: the registered one, else a new one."""
    with _registry_lock:
        existing = _pools.get(dsn)
        if existing is None:
            pool = _pools[dsn] = BackendPool(dsn)
    if existing is not None:
        yield existing
        return
    try:
        yield pool
    finally:
        with _registry_lock:
            _pools.pop(dsn, None)
        pool.close()


def register(pool: BackendPool) -> None:
    """Keep `pool` as its database's pool across runs, until `unregister`."""
    with _registry_lock:
        _pools[pool.dsn] = pool


def unregister(pool: BackendPool) -> None:
    with _registry_lock:
        if _pools.get(pool.dsn) is pool:
            del _pools[pool.dsn]
    pool.close()


def pool_for(dsn: str) -> BackendPool | None:
    with _registry_lock:
        return _pools.get(dsn)


def acquire(dsn: str) -> psycopg.Connection[Any]:
    """A connection to `dsn`: from its pool when one serves it, else a new one."""
    pool = pool_for(dsn)
    return connect(dsn) if pool is None else pool.acquire()


def release(dsn: str, conn: psycopg.Connection[Any]) -> None:
    """Hand a connection back (to its pool, or closed when none serves `dsn`)."""
    pool = pool_for(dsn)
    if pool is not None:
        pool.release(conn)
        return
    with contextlib.suppress(Exception):
        conn.close()


def drop(dsn: str, conn: psycopg.Connection[Any]) -> None:
    """A connection whose backend was killed on purpose: closed abruptly, never reused."""
    pool = pool_for(dsn)
    if pool is not None:
        pool.drop(conn)
        return
    with contextlib.suppress(Exception):
        conn.pgconn.finish()


def server_restarted() -> None:
    """A restart ends every backend of the server: no pool may hand out what it held."""
    with _registry_lock:
        pools = list(_pools.values())
    for pool in pools:
        pool.invalidate()


__all__ = [
    "MAX_IDLE",
    "RESET",
    "BackendPool",
    "acquire",
    "connect",
    "drop",
    "pool_for",
    "register",
    "release",
    "serve",
    "server_restarted",
    "unregister",
]

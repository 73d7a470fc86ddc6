"""A database cloned once from a template and put back to the template's state between runs.

Cloning (CREATE DATABASE … TEMPLATE) and dropping cost tens of milliseconds and make every
backend cold; a reset in place costs one transaction. The reset restores exactly what a fresh
clone holds: every table of the non-system schemas is emptied (TRUNCATE gives each a new, empty
file, as the clone's are) and the template's seed rows are copied back, every sequence is set to
the template's value (the pg_net queue's ids too), and the catalog is checked against the
template's fingerprint. A database whose schema changed at run time, or that a reset cannot put
back exactly (materialized views, large objects, no privilege to silence triggers, a backend
still holding locks), is dropped and cloned anew instead.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from harness.engine import pool
from harness.engine.pool import RESET, BackendPool
from harness.postgres import Server, TemplateDatabases

# Resets between two VACUUMs of pg_class (see reset.sql's vacuum_catalog).
VACUUM_EVERY = 50


@dataclass(frozen=True)
class Snapshot:
    """What a fresh clone holds beyond its schema: seed rows, sequence values, the fingerprint."""

    tables: tuple[str, ...]  # qualified names, for TRUNCATE
    identifiers: tuple[sql.Identifier, ...]
    seeds: tuple[tuple[sql.Identifier, bytes], ...]  # (table, COPY text) of non-empty tables
    sequences: tuple[str, ...]
    values: tuple[int, ...]
    called: tuple[bool, ...]
    fingerprint: str


def _q(name: str) -> bytes:
    return RESET[name].encode()


def catalog_version(conn: psycopg.Connection[Any]) -> str | None:
    """A cheap summary of the catalogs the fingerprint reads: unchanged, so is the schema (see
    reset.sql); None when it cannot tell."""
    row = conn.execute(_q("catalog_version"), prepare=True).fetchone()
    return None if row is None or row[0] is None else str(row[0])


def _fingerprint(conn: psycopg.Connection[Any]) -> str:
    # Prepared: planning this catalog query costs more than running it.
    row = conn.execute(_q("fingerprint"), prepare=True).fetchone()
    assert row is not None
    return str(row[0])


def take_snapshot(conn: psycopg.Connection[Any]) -> Snapshot | None:
    """The state of a fresh clone, or None when a reset could not restore it exactly."""
    row = conn.execute(_q("unsupported")).fetchone()
    if row is None or row[0]:
        return None
    tables = conn.execute(_q("tables")).fetchall()
    identifiers = tuple(sql.Identifier(schema, name) for _, schema, name, _ in tables)
    seeds: list[tuple[sql.Identifier, bytes]] = []
    cur = conn.cursor()
    for ident, (*_, empty) in zip(identifiers, tables, strict=True):
        if empty:  # no page at all: no row to copy (one round trip less per table)
            continue
        with cur.copy(sql.SQL(RESET["copy_out"]).format(table=ident)) as copy:
            data = b"".join(bytes(chunk) for chunk in copy)
        if data:
            seeds.append((ident, data))
    seqs = conn.execute(_q("sequences")).fetchall()
    values: list[int] = []
    called: list[bool] = []
    if seqs:
        # Every sequence's state in one query, in the order of `seqs`.
        query = sql.SQL(" UNION ALL ").join(
            sql.SQL(RESET["sequence_state"]).format(
                n=sql.Literal(n), sequence=sql.Identifier(schema, name)
            )
            for n, (_, schema, name) in enumerate(seqs)
        )
        for _, value, is_called in sorted(conn.execute(query).fetchall()):
            values.append(int(value))
            called.append(bool(is_called))
    return Snapshot(
        tables=tuple(str(t[0]) for t in tables),
        identifiers=identifiers,
        seeds=tuple(seeds),
        sequences=tuple(str(s[0]) for s in seqs),
        values=tuple(values),
        called=tuple(called),
        fingerprint=_fingerprint(conn),
    )


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


class ResetRefused(Exception):
    """The database cannot be put back exactly; clone a new one."""


def restore(
    conn: psycopg.Connection[Any], snap: Snapshot, version: str | None = None
) -> str | None:
    """Put a used database back to `snap` in one transaction (ResetRefused if it cannot be).

    `version` is the catalog_version the database had when it was last in `snap`'s state: the
    schema is fingerprinted only when the catalogs changed since (a fingerprint costs ten times
    as much). Returns the catalog_version once the database is back, for the next reset."""
    if (version is None or catalog_version(conn) != version) and _fingerprint(
        conn
    ) != snap.fingerprint:
        raise ResetRefused("the schema changed during the run")
    try:
        conn.execute(_q("begin_reset"))
        if snap.identifiers:
            tables = sql.SQL(", ").join(snap.identifiers)
            conn.execute(sql.SQL(RESET["truncate"]).format(tables=tables))
        cur = conn.cursor()
        for ident, data in snap.seeds:
            with cur.copy(sql.SQL(RESET["copy_in"]).format(table=ident)) as copy:
                copy.write(data)
        conn.execute(
            _q("set_sequences"),
            {
                "sequences": list(snap.sequences),
                "values": list(snap.values),
                "called": list(snap.called),
            },
            prepare=True,
        )
        conn.execute(b"COMMIT")
    except psycopg.Error as exc:
        with contextlib.suppress(psycopg.Error):
            conn.execute(b"ROLLBACK")
        raise ResetRefused(_first_line(exc)) from exc
    # The TRUNCATE gave tables new files (new pg_class row versions): the next reset compares
    # with the catalogs as they are now.
    return catalog_version(conn)


@dataclass
class ReusableDatabase:
    """One clone of a template serving run after run, put back by `checkout` each time."""

    server: Server
    templates: TemplateDatabases
    hint: str = "run"
    name: str = ""
    dsn: str = ""
    pool: BackendPool | None = None
    admin: psycopg.Connection[Any] | None = None  # the reset's own session, statements prepared
    snapshot: Snapshot | None = None
    # The catalogs' version while the database is in the snapshot's state (None: unknown).
    catalog: str | None = None
    used: bool = False
    resets: int = 0
    clones: int = 0
    refusals: list[str] = field(default_factory=list)
    # A reset started by `release` and not yet waited for, and what it ended with (None: done).
    _pending: threading.Thread | None = field(default=None, repr=False)
    _outcome: str | None = field(default=None, repr=False)

    def checkout(self) -> str:
        """The DSN of the database, in its template's state (reset, or cloned anew)."""
        self.wait()
        if not self.name:
            self._clone()
        elif self.used:
            self._settle(self._try_reset())
        self.used = True
        return self.dsn

    def release(self) -> None:
        """The run is over and its final state read: start putting the database back now, on a
        thread of its own, so that the server resets it while this process judges the run and
        draws the next one (`checkout` waits for it). A run whose actors still hold backends is
        left to `checkout`, which clones anew."""
        if not self.used or self._pending is not None or self.pool is None or self.pool.in_use:
            return
        self._pending = threading.Thread(target=self._reset_behind, name="reset", daemon=True)
        self._pending.start()

    def wait(self) -> None:
        """Wait for a reset `release` started (or its fallback clone) to be done."""
        if self._pending is not None:
            self._wait_reset()

    def _reset_behind(self) -> None:
        try:
            self._outcome = self._try_reset()
        except Exception as exc:  # reported by checkout, which clones anew
            self._outcome = f"reset failed: {type(exc).__name__}: {_first_line(exc)}"

    def _wait_reset(self) -> None:
        assert self._pending is not None
        self._pending.join()
        self._pending = None
        self._settle(self._outcome)
        self.used = False

    def _try_reset(self) -> str | None:
        """Put the database back in place; None, or why it could not be."""
        assert self.pool is not None
        if self.snapshot is None:
            return "the template holds what a reset cannot restore"
        if self.pool.in_use:
            return f"{self.pool.in_use} backend(s) of the last run were not given back"
        version, self.catalog = self.catalog, None
        try:
            version = restore(self._admin(), self.snapshot, version)
        except ResetRefused as exc:
            return str(exc)
        self.resets += 1
        if self.resets % VACUUM_EVERY == 0:
            self._vacuum_catalog()
            version = None  # a VACUUM may freeze row versions: read the catalogs afresh
        self.catalog = version
        return None

    def _settle(self, reason: str | None) -> None:
        """After a reset: nothing more, or, when it could not be done, a new clone."""
        if reason is not None:
            self.refusals.append(reason)
            self._drop()
            self._clone()

    def _clone(self) -> None:
        self.name = self.templates.fresh(self.hint)
        self.dsn = self.server.dsn(self.name)
        self.pool = BackendPool(self.dsn)
        pool.register(self.pool)
        self.clones += 1
        try:
            self.snapshot = take_snapshot(self._admin())
            self.catalog = catalog_version(self._admin())
        except psycopg.Error as exc:
            self.refusals.append(f"no snapshot: {_first_line(exc)}")
            self.snapshot = None
            self.catalog = None

    def _vacuum_catalog(self) -> None:
        # Not being allowed to (not the superuser on an existing server) only costs speed.
        with contextlib.suppress(psycopg.Error):
            self._admin().execute(_q("vacuum_catalog"))

    def _admin(self) -> psycopg.Connection[Any]:
        """The reset's connection, opened again after a server restart ended it."""
        if self.admin is not None and not self.admin.closed:
            try:
                self.admin.execute(b"SELECT 1")
                return self.admin
            except psycopg.Error:
                self._close_admin()
        self.admin = psycopg.connect(self.dsn, autocommit=True)
        return self.admin

    def _close_admin(self) -> None:
        admin, self.admin = self.admin, None
        if admin is not None:
            with contextlib.suppress(Exception):
                admin.close()

    def _drop(self) -> None:
        self._close_admin()
        if self.pool is not None:
            pool.unregister(self.pool)
            self.pool = None
        if self.name:
            self.templates.drop(self.name)
        self.name = self.dsn = ""

    def close(self, drop: bool = True) -> None:
        """Drop the database (its pooled backends first), or only close every connection to
        it when the server is about to go with it (`drop=False`)."""
        if self._pending is not None:
            self._pending.join()
            self._pending = None
        if drop:
            self._drop()
            return
        self._close_admin()
        if self.pool is not None:
            pool.unregister(self.pool)
            self.pool = None
        self.name = self.dsn = ""


__all__ = [
    "ResetRefused",
    "ReusableDatabase",
    "Snapshot",
    "catalog_version",
    "restore",
    "take_snapshot",
]

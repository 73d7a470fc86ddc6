"""The Supabase call path: each autocommit statement is one transaction as the caller's role."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo
from psycopg.rows import dict_row

from threadsync.pipeline import Params, Row
from threadsync.queries import load_named

# psycopg types queries as LiteralString; bytes read from our own file are accepted as they are.
REQUEST: dict[str, bytes] = {
    name: sql.encode()
    for name, sql in load_named(Path(__file__).with_name("postgrest.sql")).items()
}


# How each of a pipeline's actors reaches the database on Supabase: the sweeper is pg_cron's job,
# every other handler an Edge Function calling RPCs through PostgREST with the service_role key.
CALLERS = {
    "orchestrator": "service_role",
    "page_worker": "service_role",
    "processor": "service_role",
    "deliverer": "service_role",
    "sweeper": "cron",
}


@dataclass(frozen=True)
class RestRequest:
    """A PostgREST request ready to run: the preamble that becomes the JWT's role (bound
    values), the translated statement, and whether to commit what it returned."""

    preamble: bytes
    preamble_params: Mapping[str, Any]
    sql: str
    params: Mapping[str, Any]
    keep: Callable[[list[Row]], bool]
    # What the history shows: the request line with the statement, its arguments as the caller
    # sent them, and the rows of its answer.
    text: str = ""
    shown_params: Any = None
    show_rows: Callable[[list[Any]], list[Any]] | None = None


def caller_for(actor_role: str) -> str | None:
    """The request preamble an actor's statements get; None for an ad-hoc actor (an engine test's
    own statements), which keeps the session's rights and plain autocommit."""
    return CALLERS.get(actor_role)


def begin(conn: psycopg.Connection[Any], caller: str) -> None:
    """BEGIN, then become the caller (one round trip)."""
    conn.execute(b"BEGIN; " + REQUEST[caller])


class PostgrestDatabase:
    """A `Database` on one autocommit connection that sends every statement as PostgREST does:
    its own transaction, as `caller`'s role; `transaction()` groups statements under that role."""

    def __init__(self, conn: psycopg.Connection[Any], caller: str = "service_role") -> None:
        if not conn.autocommit:
            raise ValueError("PostgrestDatabase needs an autocommit connection")
        self._conn = conn
        self._caller = caller
        self._in_txn = False

    @property
    def dsn(self) -> str:
        info = self._conn.info
        return make_conninfo(info.dsn, password=info.password) if info.password else info.dsn

    def rest_request(self, request: RestRequest) -> list[Row]:
        """One PostgREST request in its own transaction, committed only if `request.keep`."""
        self._conn.execute(b"BEGIN")
        try:
            self._conn.execute(request.preamble, request.preamble_params)
            rows = self._run(request.sql, request.params)
        except BaseException:
            with suppress(psycopg.Error):
                self._conn.execute(b"ROLLBACK")
            raise
        self._conn.execute(b"COMMIT" if request.keep(rows) else b"ROLLBACK")
        return rows

    def query(self, sql: str, params: Params | None = None) -> list[Row]:
        if self._in_txn:
            return self._run(sql, params)
        begin(self._conn, self._caller)
        try:
            rows = self._run(sql, params)
        except BaseException:
            with suppress(psycopg.Error):
                self._conn.execute(b"ROLLBACK")
            raise
        self._conn.execute(b"COMMIT")
        return rows

    @contextmanager
    def transaction(self) -> Iterator[None]:
        begin(self._conn, self._caller)
        self._in_txn = True
        try:
            yield
        except BaseException:
            with suppress(psycopg.Error):
                self._conn.execute(b"ROLLBACK")
            raise
        else:
            self._conn.execute(b"COMMIT")
        finally:
            self._in_txn = False

    def _run(self, sql: str, params: Params | None) -> list[Row]:
        with self._conn.cursor(row_factory=dict_row) as cur:
            # Handlers' SQL comes from .sql files, never from user data.
            cur.execute(sql.encode(), params)
            return cur.fetchall() if cur.description else []


__all__ = ["CALLERS", "REQUEST", "PostgrestDatabase", "RestRequest", "begin", "caller_for"]

"""The production `Database`: a psycopg 3 connection in autocommit mode."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg.rows import dict_row

from threadsync.pipeline import Params, Row


class PsycopgDatabase:
    """Runs a handler's statements on one connection; `transaction()` groups them."""

    def __init__(self, conn: psycopg.Connection[object]) -> None:
        if not conn.autocommit:
            # Handlers rely on "outside transaction() every statement commits on its own".
            raise ValueError(
                "PsycopgDatabase needs an autocommit connection: "
                "connect with psycopg.connect(..., autocommit=True)"
            )
        self._conn = conn

    def query(self, sql: str, params: Params | None = None) -> list[Row]:
        with self._conn.cursor(row_factory=dict_row) as cur:
            # psycopg types queries as LiteralString; ours come from .sql files, not user data.
            cur.execute(sql.encode(), params)
            return cur.fetchall() if cur.description else []

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._conn.transaction():
            yield

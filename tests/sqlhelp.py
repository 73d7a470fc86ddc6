"""Helpers the SQL-level tests share: run a query, set a session's virtual clock, a webhook."""

from __future__ import annotations

import json
from typing import Any

import psycopg
from psycopg.rows import dict_row

Conn = psycopg.Connection[Any]
T0 = "2026-01-01 00:00:00+00"


def rows(conn: Conn, sql: str, params: Any = None) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql, params)
        return cur.fetchall() if cur.description else []


def one(conn: Conn, sql: str, params: Any = None) -> dict[str, Any]:
    (row,) = rows(conn, sql, params)
    return row


def at(conn: Conn, seconds: float) -> None:
    """Set this session's virtual clock to T0 + seconds."""
    conn.execute(
        "SELECT set_config('threadsync.now', (%s::timestamptz + make_interval(secs => %s))::text,"
        " false)",
        (T0, seconds),
    )


def webhook(table: str, ident: object) -> str:
    """The body a Database Webhook sends for an INSERT of row `ident` into `table`."""
    return json.dumps(
        {
            "type": "INSERT",
            "table": table,
            "schema": "public",
            "record": {"id": ident},
            "old_record": None,
        }
    )


def new_page(conn: Conn, page_size: int = 5) -> int:
    """Start a sync and return its first page's id."""
    job = one(conn, "SELECT * FROM start_sync(%s)", (page_size,))
    return int(one(conn, "SELECT id FROM sync_page_queue WHERE job_id = %s", (job["id"],))["id"])

"""The `no-public-access` check: `anon` and `authenticated` can read, write or call nothing."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg.rows import dict_row

from threadsync.queries import load_named

if TYPE_CHECKING:
    from harness.checks import CheckInput, Violation

NAME = "no-public-access"
# psycopg types queries as LiteralString; bytes read from our own file are accepted as they are.
_SQL: dict[str, bytes] = {
    name: sql.encode()
    for name, sql in load_named(Path(__file__).parent / "sql" / "access.sql").items()
}
_SHOWN = 12


def probe(conn: psycopg.Connection[Any]) -> tuple[Mapping[str, str], ...]:
    """Every statement `anon` or `authenticated` got through, tried in a rolled-back transaction on
    `conn` (a superuser session): role, action, object and what happened."""
    with conn.transaction(force_rollback=True), conn.cursor(row_factory=dict_row) as cur:
        candidates = cur.execute(_SQL["candidates"]).fetchone()
        if candidates is not None and not candidates["any"]:
            return ()
        cur.execute(_SQL["quiet_triggers"])
        cur.execute(_SQL["create_probe"])
        return tuple(cur.execute(_SQL["run_probe"]).fetchall())


def no_public_access(inp: CheckInput) -> Violation | None:
    """Nothing in the pipeline is open to the public anon key or to any signed-in user."""
    from harness.checks import Violation

    # The final-state capture runs the probe; a state built without a database has nothing to judge.
    found = inp.state.extra.get("access")
    if not found:
        return None
    rows = [f"{a['role']} can {a['action']} {a['object']}: {a['detail']}" for a in found]
    shown = rows[:_SHOWN] + ([f"... and {len(rows) - _SHOWN} more"] if len(rows) > _SHOWN else [])
    roles = sorted({str(a["role"]) for a in found})
    return Violation(
        NAME,
        f"{len(rows)} statements by {' and '.join(roles)} got past privileges and row level "
        "security; enable RLS on every public table and revoke EXECUTE from PUBLIC, anon and "
        "authenticated",
        tuple(shown),
    )


__all__ = ["NAME", "no_public_access", "probe"]

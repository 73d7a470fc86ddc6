"""The database at the end of a run, captured once as plain data for the checks to read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.rows import dict_row

from harness.access import probe
from harness.sql import INSPECT

Row = Mapping[str, Any]


@dataclass(frozen=True)
class FinalState:
    """Queue rows, synced threads, jobs and the harness's effect log, as dictionaries."""

    pages: tuple[Row, ...] = ()
    entries: tuple[Row, ...] = ()
    threads: tuple[Row, ...] = ()
    jobs: tuple[Row, ...] = ()
    effects: tuple[Row, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    def effects_of(self, kind: str) -> dict[str, list[Row]]:
        """Effect rows of one kind, grouped by key, in log order."""
        grouped: dict[str, list[Row]] = {}
        for effect in self.effects:
            if effect["kind"] == kind:
                grouped.setdefault(str(effect["key"]), []).append(effect)
        return grouped

    def to_dict(self) -> dict[str, Any]:
        return {
            "pages": [dict(r) for r in self.pages],
            "entries": [dict(r) for r in self.entries],
            "threads": [dict(r) for r in self.threads],
            "jobs": [dict(r) for r in self.jobs],
            "effects": [dict(r) for r in self.effects],
        }


def capture(conn: psycopg.Connection[Any]) -> FinalState:
    """Read the final state of a run's database (the effect log must be installed)."""
    with conn.cursor(row_factory=dict_row) as cur:

        def fetch(name: str) -> tuple[Row, ...]:
            return tuple(cur.execute(INSPECT[name]).fetchall())

        return FinalState(
            pages=fetch("state_pages"),
            entries=fetch("state_entries"),
            threads=fetch("state_threads"),
            jobs=fetch("state_jobs"),
            effects=fetch("state_effects"),
            extra={"access": probe(conn), "emit_grace": _emit_grace(cur)},
        )


def _emit_grace(cur: psycopg.Cursor[dict[str, Any]]) -> float | None:
    """The pipeline's `threadsync.settings.emit_grace_seconds`, or None where it has none."""
    present = cur.execute(INSPECT["has_settings"]).fetchone()
    if not present or not present["present"]:
        return None
    row = cur.execute(INSPECT["emit_grace"]).fetchone()
    return None if row is None or row["seconds"] is None else float(row["seconds"])

"""The harness's own SQL, as named blocks loaded from the `.sql` files beside this one."""

from __future__ import annotations

from pathlib import Path

from harness.supabase import migrations
from threadsync.pipeline import Pipeline
from threadsync.queries import load_named

HERE = Path(__file__).parent
EFFECTS_SQL = HERE / "effects.sql"
PAUSE_SQL = HERE / "pause.sql"

# psycopg types queries as LiteralString; bytes read from our own files are accepted as they are.
INSPECT: dict[str, bytes] = {
    name: sql.encode() for name, sql in load_named(HERE / "inspect.sql").items()
}
# What the engine sends to arm, hold, find and let go a pause (see pause.sql).
PAUSE: dict[str, bytes] = {
    name: sql.encode() for name, sql in load_named(PAUSE_SQL).items() if name != "install"
}


def harness_migrations(pipeline: Pipeline) -> list[tuple[str, str]]:
    """A checked run's template: Supabase emulation, the pipeline, then the harness's effect log."""
    return [*migrations(pipeline), ("harness effect log", EFFECTS_SQL.read_text(encoding="utf-8"))]


__all__ = ["EFFECTS_SQL", "INSPECT", "PAUSE", "PAUSE_SQL", "harness_migrations"]

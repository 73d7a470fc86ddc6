"""Supabase emulation: roles, pg_net, Database Webhooks, Vault and pg_cron, in SQL, and the order
a harness database applies them in with a pipeline's migrations."""

from __future__ import annotations

from pathlib import Path

from threadsync.pipeline import Pipeline
from threadsync.queries import load_named

HERE = Path(__file__).parent
ROLES_SQL = HERE / "roles.sql"
EMULATION_SQL = HERE / "emulation.sql"
PROJECT_SQL = HERE / "project.sql"
REPLAY_SQL = HERE / "replay.sql"
# The engine's pause points (harness/sql/pause.sql), read by path: harness.sql imports this module.
PAUSE_SQL = HERE.parent / "sql" / "pause.sql"
QUEUE_TABLE = "net.http_request_queue"
# Plays Supabase's `postgres`: owns what the migrations create, is not a superuser.
OWNER = "threadsync_owner"


def migrations(pipeline: Pipeline) -> list[tuple[str, str]]:
    """(label, sql) in the order a harness database applies them, on one session: Supabase's roles
    and emulation as the superuser, the project's Vault secrets, then the pipeline's migrations as
    the owner (as `supabase db push` applies them), then the replay key and the engine's pause
    points as the superuser again."""
    steps = [
        ("supabase roles", _read(ROLES_SQL)),
        ("supabase emulation", _read(EMULATION_SQL)),
        ("supabase project secrets", _read(PROJECT_SQL)),
        # SET (not LOCAL) in a committed transaction holds for the session's later steps.
        (f"as {OWNER}", f"SET ROLE {OWNER}"),
    ]
    for path, sql in pipeline.migration_sql():
        steps.append((f"{pipeline.name}: {path.name}", sql))
    steps.append(("back to the superuser", "RESET ROLE"))
    steps.append(("harness replay key", _read(REPLAY_SQL)))
    steps.append(("harness pause points", load_named(PAUSE_SQL)["install"]))
    return steps


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


__all__ = ["EMULATION_SQL", "OWNER", "QUEUE_TABLE", "ROLES_SQL", "migrations"]

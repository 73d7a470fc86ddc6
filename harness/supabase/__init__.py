"""Supabase emulation: pg_net's request queue and the Database Webhook trigger function, in SQL."""

from __future__ import annotations

from pathlib import Path

from threadsync.pipeline import Pipeline

EMULATION_SQL = Path(__file__).parent / "emulation.sql"
QUEUE_TABLE = "net.http_request_queue"


def migrations(pipeline: Pipeline) -> list[tuple[str, str]]:
    """(label, sql) in the order a harness database applies them: emulation, then the pipeline."""
    steps = [("supabase emulation", EMULATION_SQL.read_text(encoding="utf-8"))]
    for path, sql in pipeline.migration_sql():
        steps.append((f"{pipeline.name}: {path.name}", sql))
    return steps


__all__ = ["EMULATION_SQL", "QUEUE_TABLE", "migrations"]

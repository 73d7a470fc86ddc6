"""Runs one sync to the end with every webhook delivered once, in order: `threadsync run`."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from harness.fakeapi import FakeThreadsAPI, FaultPlan, generate_dataset
from harness.outcome import Outcome, verify
from harness.sql import INSPECT
from harness.supabase.postgrest import PostgrestDatabase
from threadsync.pipeline import Context, Pipeline, Reply


@dataclass
class QuickRunResult:
    """What a quick run did and whether its outcome holds."""

    job_id: int
    deliveries: int
    sweeps: int
    replies: dict[int, int] = field(default_factory=dict)
    outcome: Outcome | None = None
    # What happened, in order (deliveries and sweeps), kept only when a history was asked for.
    log: list[dict[str, Any]] | None = None


def quick_run(
    pipeline: Pipeline,
    dsn: str,
    *,
    threads: int,
    page_size: int,
    seed: int = 0,
    api_faults: FaultPlan | None = None,
    progress: Callable[[str], None] | None = None,
    max_sweeps: int = 50,
    record: bool = False,
) -> QuickRunResult:
    """Start a sync, deliver queued webhooks in order until none is left, sweep, and verify."""
    dataset = generate_dataset(seed, threads)
    api = FakeThreadsAPI(dataset, api_faults)
    with psycopg.connect(dsn, autocommit=True) as conn:
        # As on Supabase: handlers call RPCs through PostgREST as service_role; pg_cron runs the
        # sweeper as the owner. The session's clock setting holds under either role.
        ctx = Context(db=PostgrestDatabase(conn, "service_role"), api=api)
        cron = Context(db=PostgrestDatabase(conn, "cron"), api=api)
        started = pipeline.start_sync(ctx, page_size)
        if not started.ok:
            raise RuntimeError(f"start_sync refused: {started.status} {dict(started.body)}")
        job_id = int(started.body["job_id"])
        result = QuickRunResult(job_id=job_id, deliveries=0, sweeps=0, log=[] if record else None)
        last_id = 0
        clock_offset = 0.0
        while True:
            last_id = _drain(pipeline, ctx, conn, last_id, result, progress)
            if _open_work(conn) == 0 or result.sweeps >= max_sweeps:
                break
            # Work is left (a retry waits out its backoff, or a webhook led nowhere): move the
            # clock past every lease and backoff in this session, then let the sweeper rescue it.
            clock_offset += _seconds_to_last_due(conn)
            conn.execute(INSPECT["advance_session_clock"], {"offset": clock_offset})
            swept = pipeline.sweeper(cron)
            result.sweeps += 1
            if result.log is not None:
                result.log.append(
                    {"kind": "sweep", "clock_offset_s": clock_offset, "reply": _reply(swept)}
                )
        result.outcome = verify(conn, dataset, job_id)
    return result


def _drain(
    pipeline: Pipeline,
    ctx: Context,
    conn: psycopg.Connection[Any],
    last_id: int,
    result: QuickRunResult,
    progress: Callable[[str], None] | None,
) -> int:
    while True:
        with conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(INSPECT["queued_requests"], {"after": last_id}).fetchall()
        if not rows:
            return last_id
        for row in rows:
            last_id = row["id"]
            handler = pipeline.handler_for_url(row["url"])
            if handler is None:
                raise RuntimeError(f"no handler for webhook URL {row['url']!r}")
            reply: Reply = handler(ctx, json.dumps(row["body"]))
            result.deliveries += 1
            if result.log is not None:
                result.log.append(
                    {
                        "kind": "delivery",
                        "request_id": row["id"],
                        "url": row["url"],
                        "body": row["body"],
                        "reply": _reply(reply),
                    }
                )
            result.replies[reply.status] = result.replies.get(reply.status, 0) + 1
            if progress and result.deliveries % 200 == 0:
                progress(f"{result.deliveries} webhooks delivered")


def _open_work(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute(INSPECT["open_work"]).fetchone()
    return int(row[0]) if row else 0


def _seconds_to_last_due(conn: psycopg.Connection[Any]) -> float:
    row = conn.execute(INSPECT["seconds_to_last_due"]).fetchone()
    return float(row[0]) if row and row[0] is not None else 1.0


def _reply(reply: Reply) -> dict[str, Any]:
    return {"status": reply.status, "body": dict(reply.body)}


def write_history(
    result: QuickRunResult, directory: Path, *, name: str, about: Mapping[str, Any]
) -> Path:
    """`<name>.history.json`: the run's settings, every delivery and sweep in order, the outcome.

    An in-order run has no scheduler, so this is its whole story: no steps or choices are implied.
    """
    directory.mkdir(parents=True, exist_ok=True)
    outcome = result.outcome
    data = {
        "run": dict(about),
        "mode": "in order: every queued webhook delivered once, then the sweeper; no faults",
        "job_id": result.job_id,
        "deliveries": result.deliveries,
        "sweeps": result.sweeps,
        "replies": {str(k): v for k, v in sorted(result.replies.items())},
        "outcome": {
            "ok": outcome.ok if outcome else None,
            "problems": list(outcome.problems) if outcome else [],
        },
        "events": result.log or [],
    }
    path = directory / f"{name}.history.json"
    path.write_text(json.dumps(data, indent=1, sort_keys=True, default=str) + "\n")
    return path

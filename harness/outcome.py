"""Verifies the end state of one sync against its source dataset, in words."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.rows import dict_row

from harness.fakeapi import Dataset
from harness.sql import INSPECT
from threadsync.processor import content_hash

SHOWN = 5  # rows named per problem; the count says how many more there are


@dataclass
class Outcome:
    """Each property of a finished sync that failed, as one sentence; empty when all hold."""

    problems: list[str] = field(default_factory=list)
    job: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(conn: psycopg.Connection[Any], dataset: Dataset, job_id: int) -> Outcome:
    """Every source thread synced once with its content, all work done, the job completed."""
    with conn.cursor(row_factory=dict_row) as cur:
        synced = {
            r["external_id"]: r["content_hash"] for r in cur.execute(INSPECT["synced_threads"])
        }
        pages = cur.execute(INSPECT["unfinished_pages"], {"job_id": job_id}).fetchall()
        entries = cur.execute(INSPECT["unfinished_entries"], {"job_id": job_id}).fetchall()
        page_count = cur.execute(INSPECT["page_count"], {"job_id": job_id}).fetchone()
        job = cur.execute(INSPECT["job"], {"job_id": job_id}).fetchone() or {}
    out = Outcome(job=dict(job))
    source = {t["id"]: content_hash(t) for t in dataset.threads}

    missing = sorted(set(source) - set(synced))
    if missing:
        out.problems.append(
            f"{len(missing)} source threads never reached `threads`: {_few(missing)}"
        )
    extra = sorted(set(synced) - set(source))
    if extra:
        out.problems.append(f"{len(extra)} rows in `threads` match no source thread: {_few(extra)}")
    stale = sorted(k for k in set(source) & set(synced) if source[k] != synced[k])
    if stale:
        out.problems.append(
            f"{len(stale)} threads hold content other than the source's: {_few(stale)}"
        )
    if pages:
        out.problems.append(
            f"{len(pages)} pages are not done: "
            + _few([f"page {p['page_number']} {p['status']} ({p['last_error']})" for p in pages])
        )
    if entries:
        out.problems.append(
            f"{len(entries)} thread entries are not done: "
            + _few([f"{e['external_id']} {e['status']} ({e['last_error']})" for e in entries])
        )
    page_size = int(job.get("page_size") or 1)
    expected_pages = max(1, math.ceil(len(dataset.threads) / page_size))
    got_pages = int(page_count["pages"]) if page_count else 0
    if got_pages != expected_pages:
        out.problems.append(f"job has {got_pages} pages queued, the source has {expected_pages}")
    if job.get("status") != "completed":
        out.problems.append(
            f"job {job_id} is {job.get('status', 'missing')!r}, not 'completed' "
            f"(pages open {job.get('pages_open')}, threads open {job.get('threads_open')})"
        )
    return out


def _few(items: list[str]) -> str:
    shown = ", ".join(items[:SHOWN])
    return shown + (f" and {len(items) - SHOWN} more" if len(items) > SHOWN else "")

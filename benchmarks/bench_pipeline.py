"""Benchmarks: server start, template clone, a full run, and per-item cost against queue size.

Prints medians and ratios from one run; run with `nox -s bench` (or `python benchmarks/...`).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from harness.postgres import TemplateDatabases, start_server
from harness.quickrun import quick_run
from harness.supabase import migrations
from threadsync.queries import load_named, q
from threadsync.reference import pipeline as reference

FILL = {k: v.encode() for k, v in load_named(Path(__file__).parent / "sql" / "fill.sql").items()}


def median_ms(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def per_item_costs(conn: psycopg.Connection[Any], items: int) -> dict[str, float]:
    """Median µs to claim+complete a page, claim+complete a thread, sweep with nothing stuck."""
    cur = conn.cursor(row_factory=dict_row)
    threads = json.dumps([{"id": "t0", "updated_at": "2026-01-01T00:00:00Z"}])
    page_us, thread_us, sweep_us = [], [], []
    result = json.dumps(
        {
            "external_id": "x",
            "subject": "s",
            "participants": [],
            "message_count": 0,
            "content_hash": "h",
        }
    )
    for i in range(items):
        cur.execute(q("start_sync").encode(), {"page_size": 50})
        page_id = cur.execute(FILL["newest_page"]).fetchone()["id"]
        t0 = time.perf_counter()
        claim = cur.execute(q("claim_page").encode(), {"page_id": page_id}).fetchone()
        cur.execute(
            q("complete_page").encode(),
            {
                "page_id": page_id,
                "token": claim["claim_token"],
                "threads": threads.replace("t0", f"b{i}"),
                "next_cursor": None,
            },
        )
        page_us.append((time.perf_counter() - t0) * 1e6)
        entry = cur.execute(FILL["newest_entry"]).fetchone()["id"]
        t0 = time.perf_counter()
        claim = cur.execute(q("claim_thread").encode(), {"entry_id": entry}).fetchone()
        cur.execute(
            q("complete_thread").encode(),
            {
                "entry_id": entry,
                "token": claim["claim_token"],
                "result": result.replace('"x"', f'"b{i}"'),
            },
        )
        thread_us.append((time.perf_counter() - t0) * 1e6)
        t0 = time.perf_counter()
        cur.execute(q("sweep").encode())
        sweep_us.append((time.perf_counter() - t0) * 1e6)
    return {
        "page": statistics.median(page_us),
        "thread": statistics.median(thread_us),
        "sweep": statistics.median(sweep_us),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--sizes",
        default="100,100000,1000000",
        help="finished rows already in each queue (comma-separated)",
    )
    parser.add_argument("--items", type=int, default=200, help="items timed per size")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    def start_stop() -> None:
        with start_server("embedded"):
            pass

    print(f"embedded server initdb+start+stop: median {median_ms(start_stop, 5):.0f} ms (5 runs)")
    with (
        start_server("embedded") as server,
        TemplateDatabases(server, migrations(reference), name_hint="bench") as tpl,
    ):
        clones: list[str] = []
        print(
            f"template clone: median {median_ms(lambda: clones.append(tpl.fresh('b')), 15):.1f}"
            " ms (15 runs)"
        )
        for name in clones:
            tpl.drop(name)

        def run() -> None:
            db = tpl.fresh("run")
            out = quick_run(reference, server.dsn(db), threads=500, page_size=50)
            assert out.outcome is not None and out.outcome.ok, out.outcome
            tpl.drop(db)

        print(
            f"threadsync run 500 threads / 50 per page: median {median_ms(run, 5):.0f} ms"
            " (5 runs, 510 webhooks each)"
        )

        print(f"\nper-item cost against rows already in the queues (median of {args.items}):")
        print(
            f"{'rows':>10} {'page claim+complete':>20} {'thread claim+complete':>22} {'sweep':>10}"
        )
        base: dict[str, float] | None = None
        for size in sizes:
            db = tpl.fresh("size")
            with psycopg.connect(server.dsn(db), autocommit=True) as conn:
                conn.execute(b"SET session_replication_role = replica")
                conn.execute(FILL["fill_done"], {"n": size})
                conn.execute(b"RESET session_replication_role")
                conn.execute(FILL["analyze"])
                costs = per_item_costs(conn, args.items)
            tpl.drop(db)
            base = base or costs
            print(
                f"{size:>10} "
                + " ".join(
                    f"{costs[k]:>{w - 9}.0f} µs ({costs[k] / base[k]:.2f}×)"
                    for k, w in (("page", 20), ("thread", 22), ("sweep", 10))
                )
            )


if __name__ == "__main__":
    main()

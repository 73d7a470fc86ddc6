"""frontrun's time to find a two-worker select-then-update claim race on a real PostgreSQL: the
peer figure `bench_pipeline.py` prints beside threadsync's time to find `nonatomic_claim`.

frontrun's DPOR explorer needs its own command's environment (LD_PRELOAD of its I/O library), so
this runs as `frontrun python benchmarks/frontrun_race.py --dsn DSN` and prints one JSON line:
each timed `frontrun.explore` call, in seconds, after one untimed warm-up (which pays for
frontrun's lazy imports of its SQL parser). Each call stops at the first violating interleaving.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import frontrun  # type: ignore[import-not-found, unused-ignore]
import psycopg

from threadsync.queries import load_named

SQL = {k: v.encode() for k, v in load_named(Path(__file__).parent / "sql" / "race.sql").items()}


class Jobs:
    """One pending job in a fresh table, and the claims the workers made on it."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(SQL["reset_jobs"])
        self.claims: list[int] = []


def claim(jobs: Jobs) -> None:
    """A worker on its own connection: find a pending job, then claim it (not atomically)."""
    with psycopg.connect(jobs.dsn, autocommit=True) as conn:
        row = conn.execute(SQL["select_pending"]).fetchone()
        if row is None:
            return
        conn.execute(SQL["claim"], {"worker": len(jobs.claims), "id": row[0]})
        jobs.claims.append(int(row[0]))


def time_to_find(dsn: str) -> tuple[float, Any]:
    t0 = time.perf_counter()
    result = frontrun.explore(
        setup=lambda: Jobs(dsn),
        workers=claim,
        count=2,
        invariant=lambda jobs: len(jobs.claims) <= 1,  # a job is claimed once
        detect_io=True,  # SQL statements are the operations interleaved
    )
    return time.perf_counter() - t0, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dsn", required=True, help="a database this may create a table in")
    parser.add_argument("--runs", type=int, default=5, help="timed explorations (5)")
    args = parser.parse_args()
    with psycopg.connect(args.dsn, autocommit=True) as conn:
        conn.execute(SQL["create_jobs"])
    time_to_find(args.dsn)
    times, found, explored = [], 0, []
    for _ in range(args.runs):
        seconds, result = time_to_find(args.dsn)
        times.append(seconds)
        found += result.property_holds is False
        explored.append(result.num_explored)
    print(
        json.dumps(
            {
                "seconds": times,
                "found": found,
                "interleavings": explored,
                "version": frontrun.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()

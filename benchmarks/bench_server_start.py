"""Benchmark: embedded server start with initdb versus a copy of the cached initialised cluster.

Runs both ways in alternation (so machine load hits them alike) and prints medians and the ratio:
`python benchmarks/bench_server_start.py [--repeat N]`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from harness.postgres import start_server
from harness.postgres.clusters import CACHE_ENV


def start_once(cached: bool) -> float:
    """Milliseconds from start_server() until the server accepts connections (then stop it)."""
    os.environ[CACHE_ENV] = "1" if cached else "0"
    t0 = time.perf_counter()
    with start_server():
        elapsed = (time.perf_counter() - t0) * 1000
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    start_once(True)  # fills the cache and warms the binaries; not counted
    times: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(args.repeat):
        for cached in (False, True):
            times[cached].append(start_once(cached))
    initdb, copied = statistics.median(times[False]), statistics.median(times[True])
    for label, median, runs in (
        ("with initdb:        ", initdb, times[False]),
        ("from cached cluster:", copied, times[True]),
    ):
        print(f"server start {label} median {median:6.0f} ms, runs {[round(t) for t in runs]}")
    print(f"ratio initdb / cached: {initdb / copied:.1f}x")


if __name__ == "__main__":
    main()

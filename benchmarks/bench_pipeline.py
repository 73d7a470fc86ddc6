"""Benchmarks: issue 11's throughput table beside its goals, then server start, template clone,
a full run, and per-item cost against queue size.

Prints medians and ratios from one run; run with `nox -s bench` (or `python benchmarks/...`).
Timings depend on the machine and its load; compare ratios measured in the same run.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from harness.engine import RunConfig, run_free
from harness.explore import PROFILES, explore
from harness.mutants import MUTANTS
from harness.postgres import Server, TemplateDatabases, find_pg_bin, start_server, unique_db_name
from harness.quickrun import quick_run
from harness.replay import run_scenario, workbench
from harness.scenario import discover, load
from harness.sql import harness_migrations
from harness.supabase import migrations
from threadsync.queries import load_named, q
from threadsync.reference import pipeline as reference

HERE = Path(__file__).parent
FILL = {k: v.encode() for k, v in load_named(HERE / "sql" / "fill.sql").items()}
PGBENCH_SCRIPT = HERE / "sql" / "pgbench_one_row.sql"
REPLAYED = HERE.parent / "scenarios" / "reference" / "crash-page-step-0.json"
NONATOMIC = MUTANTS["nonatomic_claim"]
FRONTRUN_RACE = HERE / "frontrun_race.py"
# explore's summary line: "explored <impl>: N runs[ over K search processes] in S s (R/s), ..."
EXPLORED = re.compile(r"explored \S+: (\d+) runs(?: over \d+ search processes)? in ([\d.]+) s")


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


def item_server_cpu_us(conn: psycopg.Connection[Any], pages: int) -> float:
    """The whole server's CPU (postmaster, backends, background processes, as for pgbench) per
    item: pages of 50 threads, each page's job started, the page claimed and completed, then
    each of its threads claimed and completed. So an item is one thread's claim+complete, 1/50
    of a page's and 1/50 of a start_sync."""
    cur = conn.cursor(row_factory=dict_row)
    result = {"subject": "s", "participants": [], "message_count": 0, "content_hash": "h"}
    postmaster = _postmaster(conn)
    cpu0 = _server_cpu_s(postmaster)
    for p in range(pages):
        cur.execute(q("start_sync").encode(), {"page_size": 50})
        page_id = cur.execute(FILL["newest_page"]).fetchone()["id"]
        claim = cur.execute(q("claim_page").encode(), {"page_id": page_id}).fetchone()
        threads = [{"id": f"c{p}-{i}", "updated_at": "2026-01-01T00:00:00Z"} for i in range(50)]
        cur.execute(
            q("complete_page").encode(),
            {
                "page_id": page_id,
                "token": claim["claim_token"],
                "threads": json.dumps(threads),
                "next_cursor": None,
            },
        )
        for row in cur.execute(FILL["job_entries"], {"job_id": claim["job_id"]}).fetchall():
            entry = row["id"]
            claim = cur.execute(q("claim_thread").encode(), {"entry_id": entry}).fetchone()
            cur.execute(
                q("complete_thread").encode(),
                {
                    "entry_id": entry,
                    "token": claim["claim_token"],
                    "result": json.dumps({"external_id": f"c{p}-{entry}", **result}),
                },
            )
    return (_server_cpu_s(postmaster) - cpu0) / (pages * 50) * 1e6


def _row(measure: str, value: str, goal: str, ratio: str) -> None:
    print(f"{measure:<58} {value:>16} {goal:>10} {ratio:>8}")


# The command as an installed package runs it: with its modules' bytecode cached. Kept out of
# the source tree (PYTHONPYCACHEPREFIX), and written even where PYTHONDONTWRITEBYTECODE is set
# (compiling every module of the harness on each start added about a third to its CPU).
PYCACHE = Path(tempfile.gettempdir()) / "threadsync-bench-pycache"


def _command_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    return env


def _threadsync(*args: str, one_core: bool = False) -> subprocess.CompletedProcess[str]:
    """The `threadsync` command as a user runs it (a new process, imports and server start)."""
    cmd = [sys.executable, "-m", "harness.cli_start", *args]  # the `threadsync` entry point

    def pin() -> None:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    return subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=600,
        env=_command_env(),
        preexec_fn=pin if one_core else None,
    )


def _explored_per_s(budget: float, seed: int, workers: int, one_core: bool) -> float:
    """Scenarios/s of one `explore --profile ci` command, as its summary line says."""
    out = _threadsync(
        "explore",
        "--profile",
        "ci",
        "--budget",
        f"{budget:g}",
        "--seed",
        str(seed),
        "--workers",
        str(workers),
        one_core=one_core,
    )
    match = EXPLORED.search(out.stdout)
    if match is None:
        tail = out.stderr[-300:]
        raise SystemExit(f"explore printed no rate (exit {out.returncode}): {tail}")
    return int(match.group(1)) / float(match.group(2))


def explore_rate(budget: float, seeds: int) -> tuple[float, list[float]]:
    """Median scenarios/s of `explore --profile ci`, pinned to one core, over `seeds` seeds."""
    rates = [_explored_per_s(budget, seed, 1, one_core=True) for seed in range(1, seeds + 1)]
    return statistics.median(rates), rates


def replay_seconds(repeat: int) -> float:
    """Median wall time of one whole `threadsync replay` command of one saved scenario, after an
    untimed one (which caches the bytecode, and the dataset, as a user's first run does)."""
    _threadsync("replay", str(REPLAYED))
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = _threadsync("replay", str(REPLAYED))
        times.append(time.perf_counter() - t0)
        if out.returncode != 0:
            raise SystemExit(f"replay failed (exit {out.returncode}): {out.stdout[-300:]}")
    return statistics.median(times)


def _cpu_s(pid: int) -> float:
    """User+system CPU seconds of a process, and of its children it has waited for."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _postmaster(conn: psycopg.Connection[Any]) -> int:
    """The pid of the postmaster `conn`'s backend was forked from."""
    row = conn.execute(b"SELECT pg_backend_pid()").fetchone()
    assert row is not None
    return int(Path(f"/proc/{row[0]}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _server_cpu_s(postmaster: int) -> float:
    """CPU of the postmaster, the backends it reaped and the ones alive now."""
    total = _cpu_s(postmaster)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == postmaster:
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def cpu_per_scenario(rounds: int) -> tuple[float, float]:
    """CPU (client, server) per replay of a saved reference scenario, in ms: a measure the
    machine's load moves far less than wall time. The server-restart scenario is left out (a
    new postmaster would hide the old one's CPU)."""
    scenarios = [load(p) for p in discover(REPLAYED.parent) if "restart" not in p.name]
    with workbench() as bench, psycopg.connect(bench.server.dsn("postgres")) as conn:
        postmaster = _postmaster(conn)
        run_scenario(bench, scenarios[0])
        client0, server0 = time.process_time(), _server_cpu_s(postmaster)
        for _ in range(rounds):
            for scenario in scenarios:
                run_scenario(bench, scenario)
        n = rounds * len(scenarios)
        client = (time.process_time() - client0) / n * 1000
        server = (_server_cpu_s(postmaster) - server0) / n * 1000
    return client, server


@dataclasses.dataclass(frozen=True)
class FreeRate:
    """Free mode's median items/s, and the CPU each item cost this process and the server."""

    items_per_s: float
    client_us: float
    server_us: float

    def ceiling(self, cores: int) -> float:
        """Items/s with every core busy on this much CPU per item, client and server together."""
        return cores * 1e6 / (self.client_us + self.server_us)


def free_items_per_s(server: Server, workers: int, threads: int, repeat: int) -> FreeRate:
    """Median items (threads synced) per second of run_free with `workers` threads, and the median
    CPU per item of this process (every thread) and of the whole server."""
    rates, client, cpu = [], [], []
    with TemplateDatabases(server, harness_migrations(reference), name_hint="free") as tpl:
        with psycopg.connect(server.dsn("postgres"), autocommit=True) as conn:
            postmaster = _postmaster(conn)
        for _ in range(repeat):
            config = RunConfig(reference, server=server, templates=tpl, threads=threads)
            config.page_size = 50
            client0, server0 = time.process_time(), _server_cpu_s(postmaster)
            result = run_free(config, workers=workers)
            client.append((time.process_time() - client0) / threads * 1e6)
            cpu.append((_server_cpu_s(postmaster) - server0) / threads * 1e6)
            if result.errors or not result.quiesced:
                raise SystemExit(f"free run failed: {result.errors[:3]}")
            rates.append(threads / result.wall_s)
            assert result.db_name is not None
            tpl.drop(result.db_name)
    return FreeRate(statistics.median(rates), statistics.median(client), statistics.median(cpu))


def pgbench_costs(dsn: str, seconds: int) -> tuple[tuple[float, float] | None, str]:
    """pgbench's average latency of a one-row UPDATE on 1 client, and the whole server's CPU per
    transaction (both in µs); or None and why not."""
    found = find_pg_bin() / "pgbench"
    pgbench = str(found) if found.exists() else shutil.which("pgbench")
    if pgbench is None:
        return None, "pgbench not found beside the server binaries or on PATH"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(FILL["one_row_table"])
        postmaster = _postmaster(conn)
    with tempfile.TemporaryDirectory() as tmp:
        cpu0 = _server_cpu_s(postmaster)
        out = subprocess.run(
            [pgbench, "-n", "-c", "1", "-T", str(seconds), "-f", str(PGBENCH_SCRIPT), dsn],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            cwd=tmp,
        )
        cpu = _server_cpu_s(postmaster) - cpu0
    latency = re.search(r"latency average = ([\d.]+) ms", out.stdout)
    done = re.search(r"number of transactions actually processed: (\d+)", out.stdout)
    if out.returncode != 0 or latency is None or done is None or int(done.group(1)) == 0:
        return None, f"pgbench failed (exit {out.returncode}): {out.stderr.strip()[-200:]}"
    return (float(latency.group(1)) * 1000, cpu / int(done.group(1)) * 1e6), pgbench


def find_seconds(profile: str, seeds: int, budget: float) -> tuple[float | None, int]:
    """Median seconds from the start of a search to its first run violating a check of
    `nonatomic_claim` (no shrinking: time to find only), over seeds 1..n; and how many found it.
    One process, its server and the mutant's template made before the clock starts."""
    limits = PROFILES[profile]
    PROFILES[profile] = dataclasses.replace(
        limits, max_shrink_runs=0, min_shrink_s=0, shrink_share=0
    )
    times: list[float] = []
    try:
        with workbench() as bench:
            bench.database(NONATOMIC).checkout()
            for seed in range(1, seeds + 1):
                result = explore(bench, NONATOMIC, budget_s=budget, seed=seed, profile=profile)
                if result.found:
                    times.append(result.found[0].time_to_first_failure_s)
    finally:
        PROFILES[profile] = limits
    return (statistics.median(times) if times else None), len(times)


def frontrun_seconds(server: Server, runs: int) -> tuple[list[float] | None, str]:
    """frontrun's time to find its two-worker select-then-update claim race, each of `runs`
    explorations (benchmarks/frontrun_race.py under the `frontrun` command, on a scratch database
    of `server`), or None and why it was not measured."""
    here = str(Path(sys.executable).parent)
    command = shutil.which("frontrun", path=here) or shutil.which("frontrun")
    if command is None:
        return None, "frontrun is not installed (pip install 'frontrun[sql]')"
    name = unique_db_name("race")
    server.create_database(name)
    try:
        out = subprocess.run(
            [
                command,
                sys.executable,
                str(FRONTRUN_RACE),
                "--dsn",
                server.dsn(name),
                "--runs",
                f"{runs}",
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        server.drop_database(name)
    lines = out.stdout.strip().splitlines()
    if out.returncode != 0 or not lines:
        tail = (out.stderr.strip().splitlines() or ["no output"])[-1][-200:]
        return None, f"frontrun failed (exit {out.returncode}): {tail}"
    data = json.loads(lines[-1])
    if data["found"] < len(data["seconds"]):
        return None, f"frontrun found the race in only {data['found']} of {len(data['seconds'])}"
    return [float(t) for t in data["seconds"]], f"frontrun {data['version']}"


def goals(args: argparse.Namespace) -> None:
    """Issue 11's table: each measure beside its goal, and the ratio of the two."""
    print("issue 11 (fast, and wide): medians on this machine, beside the goals")
    _row("measure", "now", "goal", "vs goal")
    rate, rates = explore_rate(args.explore_budget, args.explore_seeds)
    _row(
        f"explore --profile ci, scenarios/s on one core ({args.explore_seeds} seeds)",
        f"{rate:.1f}",
        ">= 25",
        f"{rate / 25:.2f}x",
    )
    cores = len(os.sched_getaffinity(0))
    if cores > 1:
        wide = _explored_per_s(args.explore_budget, 1, cores, one_core=False)
        print(
            f"  (the whole machine, `explore --workers {cores}` unpinned: {wide:.1f} scenarios/s "
            f"in all, {wide / cores:.1f} per core, one run of {args.explore_budget:g} s)"
        )
    finds = {p: find_seconds(p, args.find_seeds, args.find_budget) for p in ("ci", "dev")}
    (ci_s, ci_n), (dev_s, dev_n) = finds["ci"], finds["dev"]
    _row(
        f"time to find nonatomic_claim, median of seeds 1-{args.find_seeds} (ci / default)",
        f"{_s(ci_s)} / {_s(dev_s)} s",
        "<= 1 / <= 2 s",
        f"{_ratio(1, ci_s)}/{_ratio(2, dev_s)}",
    )
    print(
        f"  (found by {ci_n} / {dev_n} of {args.find_seeds} searches of {args.find_budget:g} s; "
        "seconds from the start of the search to its first failing run, no shrinking)"
    )
    client, server = cpu_per_scenario(args.cpu_rounds)
    _row(
        "CPU per replayed reference scenario, client + server",
        f"{client:.0f}+{server:.0f} ms",
        "-",
        "-",
    )
    replay_s = replay_seconds(args.repeat)
    _row(
        f"one whole `threadsync replay` of {REPLAYED.name}",
        f"{replay_s:.2f} s",
        "<= 0.5 s",
        f"{0.5 / replay_s:.2f}x",
    )
    with start_server("embedded") as server:
        eight = free_items_per_s(server, 8, args.free_threads, args.repeat)
        one = free_items_per_s(server, 1, args.free_threads, args.repeat)
        _row(
            f"run_free items/s, 8 workers ({args.free_threads} threads; "
            f"1 worker {one.items_per_s:.0f})",
            f"{eight.items_per_s:.0f}",
            ">= 5000",
            f"{eight.items_per_s / 5000:.2f}x",
        )
        print(
            f"  (CPU per item, 8 workers: {eight.client_us:.0f} µs in this process, "
            f"{eight.server_us:.0f} µs in the server, effect log included; with all {cores} "
            f"cores busy on that: {eight.ceiling(cores):.0f} items/s at most, the server's "
            f"share alone {cores * 1e6 / eight.server_us:.0f})"
        )
        race, source = frontrun_seconds(server, args.find_seeds)
        if race is None:
            _row("frontrun: 2-worker select-then-update claim race", "not measured", "-", "-")
            print(f"  (not measured: {source})")
        else:
            _row(
                f"frontrun: 2-worker select-then-update claim race, median of {len(race)}",
                f"{statistics.median(race):.2f} s",
                "-",
                "-",
            )
            print(
                f"  ({source}, DPOR over the SQL statements of two threads that each read a "
                "pending job, then claim it; the same bug as nonatomic_claim's, on its own, "
                f"where threadsync finds it from scratch inside a whole pipeline: "
                f"{', '.join(f'{t:.2f}' for t in race)} s)"
            )
        with TemplateDatabases(server, migrations(reference), name_hint="cost") as tpl:
            db = tpl.fresh("cost")
            dsn = server.dsn(db)
            with psycopg.connect(dsn, autocommit=True) as conn:
                costs = per_item_costs(conn, args.items)
                item_cpu = item_server_cpu_us(conn, args.cpu_pages)
            item = costs["thread"] + costs["page"] / 50
            measured, source = pgbench_costs(dsn, args.pgbench_seconds)
            tpl.drop(db)
        if measured is None:
            _row("one item's server cost vs a one-row pgbench transaction", "skipped", "<= 4x", "-")
            print(f"  (skipped: {source})")
        else:
            latency, tx_cpu = measured
            ratio = item / latency
            _row(
                "one item's server cost vs a one-row pgbench transaction",
                f"{ratio:.1f}x",
                "<= 4x",
                f"{4 / ratio:.2f}x",
            )
            print(
                f"  (item = thread claim+complete + 1/50 of a page's, {item:.0f} µs wall on one "
                f"warm connection; pgbench 1 client {latency:.0f} µs: {source})"
            )
            print(
                f"  (server CPU: {item_cpu:.0f} µs per item, {args.cpu_pages} pages of 50, and "
                f"{tx_cpu:.0f} µs per pgbench transaction: {item_cpu / tx_cpu:.1f}x)"
            )
    print(f"  (per-run samples of explore: {', '.join(f'{r:.1f}' for r in rates)} scenarios/s)")
    print()


def _s(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.1f}"


def _ratio(goal: float, seconds: float | None) -> str:
    return "-" if seconds is None else f"{goal / seconds:.2f}x"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--sizes",
        default="100,100000,1000000",
        help="finished rows already in each queue (comma-separated)",
    )
    parser.add_argument("--items", type=int, default=200, help="items timed per size")
    parser.add_argument("--repeat", type=int, default=3, help="runs per median (3)")
    parser.add_argument("--explore-budget", type=float, default=10.0, help="seconds per explore")
    parser.add_argument("--explore-seeds", type=int, default=3, help="explore runs (3)")
    parser.add_argument("--cpu-rounds", type=int, default=2, help="replays of each scenario")
    parser.add_argument(
        "--find-seeds", type=int, default=5, help="searches for nonatomic_claim per profile (5)"
    )
    parser.add_argument(
        "--find-budget", type=float, default=60.0, help="seconds each search may take (60)"
    )
    parser.add_argument("--free-threads", type=int, default=500, help="threads per free run")
    parser.add_argument("--pgbench-seconds", type=int, default=5, help="pgbench duration (5)")
    parser.add_argument(
        "--cpu-pages", type=int, default=20, help="pages of 50 items for the server CPU (20)"
    )
    parser.add_argument("--only-goals", action="store_true", help="print issue 11's table and stop")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    goals(args)
    if args.only_goals:
        return

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

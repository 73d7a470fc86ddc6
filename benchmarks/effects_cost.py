"""The CPU the effect log's row-version and queued-request triggers add to a replayed scenario.

Replays the saved reference scenarios (all but the server restart) on two templates of the same
server, alternated round by round: the harness's migrations as a checked run has them, and the
same without the triggers of benchmarks/sql/effects_off.sql. Prints client and server CPU per
scenario for each, and the ratio. Run: `python benchmarks/effects_cost.py --rounds 3`.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import psycopg

from harness.postgres import TemplateDatabases
from harness.replay import Workbench, run_scenario, workbench
from harness.scenario import discover, load
from harness.sql import harness_migrations
from threadsync.reference import pipeline as reference

HERE = Path(__file__).parent
OFF = ("effect log row triggers off", (HERE / "sql" / "effects_off.sql").read_text())
SCENARIOS = HERE.parent / "scenarios" / "reference"
IMPL = "threadsync.reference:pipeline"


def _server_cpu_s(postmaster: int) -> float:
    """CPU of the postmaster, the backends it reaped and the ones alive now (from /proc)."""
    from bench_pipeline import _server_cpu_s as server_cpu

    return server_cpu(postmaster)


def _postmaster(bench: Workbench) -> int:
    with psycopg.connect(bench.server.dsn("postgres")) as conn:
        row = conn.execute(b"SELECT pg_backend_pid()").fetchone()
    assert row is not None
    return int(Path(f"/proc/{row[0]}/stat").read_text().rsplit(")", 1)[1].split()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every scenario (3)")
    args = parser.parse_args()
    scenarios = [load(p) for p in discover(SCENARIOS) if "restart" not in p.name]
    results: dict[str, list[tuple[float, float]]] = {"with": [], "without": []}
    with workbench() as on:
        off = Workbench(on.server)
        off.templates[IMPL] = TemplateDatabases(
            on.server, [*harness_migrations(reference), OFF], name_hint="noeffects"
        )
        postmaster = _postmaster(on)
        for bench in (on, off):  # warm up both: first clones, first backends
            run_scenario(bench, scenarios[0])
        for _ in range(args.rounds):
            for label, bench in (("with", on), ("without", off)):
                client0, server0 = time.process_time(), _server_cpu_s(postmaster)
                for scenario in scenarios:
                    run_scenario(bench, scenario)
                n = len(scenarios)
                results[label].append(
                    (
                        (time.process_time() - client0) / n * 1000,
                        (_server_cpu_s(postmaster) - server0) / n * 1000,
                    )
                )
        off.close(drop=False)
    medians = {
        k: (statistics.median(c for c, _ in v), statistics.median(s for _, s in v))
        for k, v in results.items()
    }
    for label, (client, server) in medians.items():
        print(f"{label:>8} the row triggers: client {client:.0f} ms + server {server:.0f} ms CPU")
    (cw, sw), (co, so) = medians["with"], medians["without"]
    added = f"{(sw / so - 1) * 100:+.0f}% server CPU, {(cw / co - 1) * 100:+.0f}% client CPU"
    print(f"the row triggers add {added}")


if __name__ == "__main__":
    main()

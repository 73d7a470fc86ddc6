"""Benchmarks for the TypeScript port (issue 10): Deno's start-up cost, and one small saved
scenario on the TypeScript Edge Functions beside the Python reference (medians and the ratio,
measured back to back in one run)."""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from harness.functions.project import load_project, spec_for, stop_all
from harness.impl import DEFAULT_IMPL
from harness.replay import run_scenario, workbench
from harness.scenario import load

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ROOT / "supabase"
SCENARIO = ROOT / "scenarios" / "reference" / "duplicate-page-webhook.json"


def deno_start_ms(repeat: int) -> list[float]:
    """Wall time to start every function's Deno host of the project (npm cache warm)."""
    times = []
    for _ in range(repeat):
        stop_all()
        t0 = time.perf_counter()
        load_project(PROJECT)
        times.append((time.perf_counter() - t0) * 1000)
    return times


def scenario_ms(repeat: int) -> tuple[list[float], list[float]]:
    """One scenario's run (engine, checks) on the Python reference and on the TypeScript port,
    alternated so that both see the same machine."""
    scenario = load(SCENARIO)
    python, typescript = [], []
    ts_impl = spec_for(PROJECT)
    with workbench() as bench:
        for impl in (DEFAULT_IMPL, ts_impl):  # warm: template, database, hosts, backends
            run_scenario(bench, scenario, impl)
        for _ in range(repeat):
            for impl, times in ((DEFAULT_IMPL, python), (ts_impl, typescript)):
                t0 = time.perf_counter()
                verdict = run_scenario(bench, scenario, impl)
                times.append((time.perf_counter() - t0) * 1000)
                if verdict.violations:
                    raise SystemExit(f"{impl} failed {SCENARIO.name}: {verdict.label}")
    return python, typescript


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=9, help="runs per median (9)")
    args = parser.parse_args()
    print("issue 10 (TypeScript Edge Functions under Deno): medians on this machine")
    starts = deno_start_ms(max(3, args.repeat // 3))
    print(
        f"  Deno start-up, every function of {PROJECT.name}/ (hosts in parallel): "
        f"median {statistics.median(starts):.0f} ms ({len(starts)} runs)"
    )
    python, typescript = scenario_ms(args.repeat)
    py, ts = statistics.median(python), statistics.median(typescript)
    print(
        f"  one small scenario ({SCENARIO.stem}): Python {py:.0f} ms, TypeScript {ts:.0f} ms, "
        f"ratio {ts / py:.2f}× ({args.repeat} runs each, alternated)"
    )
    stop_all()


if __name__ == "__main__":
    main()

"""Which rare situations an exploration reaches in a budget, for the current explore or an older
explore module (whose runs are tallied by wrapping its run_scenario), side by side.

    python benchmarks/explore_coverage.py --budget 120 --seed 1 [--baseline OLD.py]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from typing import Any

import harness.explore
from harness import coverage
from harness.impl import DEFAULT_IMPL
from harness.replay import Verdict, Workbench, workbench


def _baseline(path: Path, tally: coverage.Tally) -> Any:
    spec = importlib.util.spec_from_file_location("baseline_explore", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    run = module.run_scenario

    def counted(bench: Workbench, scenario: Any, impl: str | None = None) -> Verdict:
        verdict: Verdict = run(bench, scenario, impl)
        tally.add(coverage.reached(verdict.result.history, verdict.state))
        return verdict

    module.run_scenario = counted
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--budget", type=float, default=120.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", default="dev")
    parser.add_argument("--impl", default=DEFAULT_IMPL)
    parser.add_argument("--baseline", type=Path, help="an older explore module to compare")
    args = parser.parse_args()
    tally = coverage.Tally()
    module: Any = _baseline(args.baseline, tally) if args.baseline else harness.explore
    with workbench() as bench:
        result = module.explore(
            bench, args.impl, budget_s=args.budget, seed=args.seed, profile=args.profile
        )
    counts = tally.counts if args.baseline else result.coverage
    runs = tally.runs if args.baseline else result.coverage_runs
    label = f"baseline {args.baseline}" if args.baseline else "current"
    print(f"{label}: {result.runs} runs in {result.wall_s:.1f} s, found {len(result.found)}")
    print(coverage.table(counts, runs))


if __name__ == "__main__":
    main()

"""What the exploration draws, without running anything: per seed, over N drawn scenarios, the
rules per kind and the rare shapes a search needs (issue 14's fault-mix figures).

    python benchmarks/fault_mix.py                      # the current strategy, seeds 1-3, N=300
    python benchmarks/fault_mix.py --baseline OLD.py    # also a strategy module saved from git
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

from harness.engine.faults import (
    ApiFaults,
    Crash,
    Delay,
    Drop,
    KillConnection,
    RestartServer,
    Stall,
)
from harness.explore.sample import first_drawn
from harness.scenario import Scenario

PAGE = "sync-threads-page-worker"
BREAKS = (Crash, KillConnection)
LEASE = 120.0
GRACE = 30.0
SWEEP_INTERVAL = 60.0


def draw(strategy: Any, n: int, seed: int) -> list[Scenario]:
    """The first `n` scenarios a search with this seed would draw (generation only)."""
    return first_drawn(strategy, n, seed)


def _breaks_page(r: object, lease: float) -> bool:
    """A crash or killed connection of a page delivery, or a stall that outlives its lease."""
    if isinstance(r, Stall):
        return r.function == PAGE and r.seconds > lease
    return isinstance(r, BREAKS) and r.function == PAGE


def _page_attempts_broken(s: Scenario) -> int:
    """The longest run of consecutive page attempts an injected fault breaks (page deliveries
    and API calls both go one page attempt at a time, so consecutive ones hit the same page)."""
    lease = float(s.settings.get("page_lease_seconds", LEASE))
    broken: set[int] = set()
    for r in s.faults.rules:
        if isinstance(r, ApiFaults):
            broken |= {c[0] for c in r.calls}
        elif (
            _breaks_page(r, lease) and isinstance(r, (*BREAKS, Stall)) and r.occurrence is not None
        ):
            broken.add(r.occurrence)
    best = run = 0
    for i in range(max(broken, default=-1) + 1):
        run = run + 1 if i in broken else 0
        best = max(best, run)
    return best


def _page_lost_twice(s: Scenario) -> bool:
    """Two consecutive page deliveries dropped or late: while a page is lost no later page
    exists, so they are one page's creation webhook and its first re-send (or two re-sends)."""
    lost = {
        r.occurrence
        for r in s.faults.rules
        if isinstance(r, (Drop, Delay)) and r.function == PAGE and r.occurrence is not None
    }
    return any(o + 1 in lost for o in lost)


def _long_grace(s: Scenario) -> bool:
    """An emit grace above the sweep interval: a tick must skip a row re-sent less than the
    grace ago (with a shorter one every tick may re-send)."""
    return float(s.settings.get("emit_grace_seconds", GRACE)) > SWEEP_INTERVAL


def measure(scenarios: list[Scenario]) -> dict[str, Any]:
    kinds: Counter[str] = Counter()
    for s in scenarios:
        kinds.update(type(r).__name__ for r in s.faults.rules)
    pages = [max(1, math.ceil(s.dataset.threads / s.dataset.page_size)) for s in scenarios]
    return {
        "scenarios": len(scenarios),
        "rules": sum(kinds.values()),
        "kinds": dict(sorted(kinds.items())),
        "three_broken_page_attempts": sum(_page_attempts_broken(s) >= 3 for s in scenarios),
        "page_crash_step_3": sum(
            any(isinstance(r, Crash) and r.function == PAGE and r.at_step == 3 for r in s.faults)
            for s in scenarios
        ),
        "long_grace": sum(_long_grace(s) for s in scenarios),
        "page_lost_twice": sum(_page_lost_twice(s) for s in scenarios),
        "page_lost_twice_long_grace": sum(
            _page_lost_twice(s) and _long_grace(s) for s in scenarios
        ),
        "lost_with_api_fault": sum(
            any(isinstance(r, (Drop, Delay)) for r in s.faults)
            and any(isinstance(r, ApiFaults) for r in s.faults)
            for s in scenarios
        ),
        "restart": sum(any(isinstance(r, RestartServer) for r in s.faults) for s in scenarios),
        "empty_source": sum(s.dataset.threads == 0 for s in scenarios),
        "settings_varied": sum(bool(s.settings) for s in scenarios),
        "max_attempts_below_5": sum(s.settings.get("max_attempts", 5) < 5 for s in scenarios),
        "page_occurrence_beyond_pages": sum(
            any(
                getattr(r, "function", None) == PAGE and (getattr(r, "occurrence", 0) or 0) >= p
                for r in s.faults
            )
            for s, p in zip(scenarios, pages, strict=True)
        ),
    }


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("baseline_explore", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--baseline", type=Path, help="an older explore module to compare")
    parser.add_argument("-n", type=int, default=300)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args()
    import harness.explore as current

    strategies = {"current": current.scenarios(restart=True)}
    if args.baseline:
        strategies = {"baseline": _load(args.baseline).scenarios(), **strategies}
    for label, strategy in strategies.items():
        for seed in args.seeds:
            print(label, "seed", seed, measure(draw(strategy, args.n, seed)), flush=True)


if __name__ == "__main__":
    main()

"""One exploration spread over processes (`--workers N`) and CI jobs (`--shard K/N`).

Each search process has its own PostgreSQL server and its own seed, so no two processes draw the
same search; the first one to confirm a violation sets a shared flag and the others stop at their
next run. A shard is a deterministic slice of the seed space: job K of N searches with seed
`seed * N + K - 1`, so N CI jobs with the same `--seed` never repeat each other's search, and a
finding is reproduced with `--shard K/N --workers 1`. The results merge into one ExploreResult:
runs and coverage add up, findings are concatenated, the wall time is the longest process's.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from dataclasses import dataclass
from threading import Event  # what a Manager().Event() proxies
from typing import Any

from harness.explore.results import ExploreResult
from harness.explore.search import explore

WORKER_SEED_STRIDE = 1_000_003  # a prime far beyond any seed a person types


class ShardError(ValueError):
    """A --shard value that is not K/N with 1 <= K <= N."""


@dataclass(frozen=True)
class Shard:
    """Job `index` (1-based) of `count`."""

    index: int = 1
    count: int = 1

    @classmethod
    def parse(cls, text: str) -> Shard:
        try:
            k, n = (int(part) for part in text.split("/"))
        except ValueError:
            raise ShardError(f"--shard must look like K/N (e.g. 2/4), got {text!r}") from None
        if not 1 <= k <= n:
            raise ShardError(f"--shard K/N needs 1 <= K <= N, got {text!r}")
        return cls(k, n)

    def seed(self, seed: int) -> int:
        return seed * self.count + self.index - 1


def worker_seeds(seed: int, workers: int, shard: Shard = Shard()) -> list[int]:
    """The seed of each search process: disjoint across workers and across shards."""
    base = shard.seed(seed)
    if workers == 1:
        return [base]
    return [base + k * WORKER_SEED_STRIDE for k in range(workers)]


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


def _one(job: tuple[str, float, int, str, str, dict[str, Any], Event]) -> ExploreResult:
    from harness.replay import workbench

    impl, budget, seed, profile, kind, server_args, found = job
    with workbench(kind, **server_args) as bench:
        result = explore(
            bench, impl, budget_s=budget, seed=seed, profile=profile, should_stop=found.is_set
        )
    if result.found or result.flaky:
        found.set()
    # The run's verdicts hold the whole history; the parent needs them for its reports.
    return result


def merge(results: list[ExploreResult]) -> ExploreResult:
    """One result for several searches of the same implementation."""
    first = results[0]
    merged = ExploreResult(
        impl=first.impl,
        seed=first.seed,
        profile=first.profile,
        budget_s=first.budget_s,
        workers=len(results),
    )
    for r in results:
        merged.runs += r.runs
        merged.search_runs += r.search_runs
        merged.wall_s = max(merged.wall_s, r.wall_s)
        merged.found += r.found
        merged.flaky += r.flaky
        merged.errors += r.errors
        merged.coverage_runs += r.coverage_runs
        for name, n in r.coverage.items():
            merged.coverage[name] = merged.coverage.get(name, 0) + n
        merged.stopped = merged.stopped or r.stopped
    return merged


def explore_parallel(
    impl: str,
    *,
    budget_s: float,
    seed: int = 0,
    profile: str = "dev",
    workers: int = 0,
    shard: Shard = Shard(),
    server_kind: str = "embedded",
    server_args: dict[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> ExploreResult:
    """`workers` searches (0: one per core) of `impl` with disjoint seeds, merged."""
    n = workers or default_workers()
    seeds = worker_seeds(seed, n, shard)
    ctx = multiprocessing.get_context("spawn")  # no inherited connections or server handles
    with ctx.Manager() as manager:
        found = manager.Event()
        jobs = [(impl, budget_s, s, profile, server_kind, server_args or {}, found) for s in seeds]
        if progress is not None:
            progress(f"explore: {n} search processes, seeds {', '.join(map(str, seeds))}")
        with ctx.Pool(n) as pool:
            results = pool.map(_one, jobs)
    merged = merge(results)
    merged.seed = shard.seed(seed)
    return merged


__all__ = ["Shard", "ShardError", "default_workers", "explore_parallel", "merge", "worker_seeds"]

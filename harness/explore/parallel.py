"""One exploration spread over processes (`--workers N`) and CI jobs (`--shard K/N`).

Each search process has its own PostgreSQL server and its own seed, so no two processes draw the
same search; the first one to confirm a violation sets a shared flag and the others stop at their
next run. A shard is a deterministic slice of the seed space: job K of N searches with seed
`seed * N + K - 1`, so N CI jobs with the same `--seed` never repeat each other's search, and a
finding is reproduced with `--shard K/N --workers 1`. The results merge into one ExploreResult:
runs and coverage add up, findings are concatenated, the wall time is the longest process's.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from threading import Event  # what a Manager().Event() proxies
from typing import Any

from harness.coverage import SITUATIONS
from harness.explore.results import ExploreResult
from harness.explore.search import explore
from harness.postgres import lifecycle

WORKER_SEED_STRIDE = 1_000_003  # a prime far beyond any seed a person types


class UsageError(ValueError):
    """A bad --workers or --shard value; the message says what is wrong and what to give."""


class ShardError(UsageError):
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


Job = tuple[str, float, int, str, str, dict[str, Any], Event, Any, int, str]
STATUS_EVERY_S = 1.0
_RUNS = re.compile(r"(\d+) runs")
_COVERAGE = re.compile(r"coverage (\d+)/(\d+)")


def _one(job: Job) -> ExploreResult:
    """One search process's search. Interrupted (the parent's Pool.terminate sends SIGTERM), it
    stops its server and removes its folder, then ends quietly: the parent prints the one line."""
    try:
        with lifecycle.worker_signals():
            return _search(job)
    except KeyboardInterrupt:
        raise SystemExit(143) from None


def _search(job: Job) -> ExploreResult:
    from harness.replay import workbench

    impl, budget, seed, profile, kind, server_args, found, lines, index, faults = job
    parent = os.getppid()

    def should_stop() -> bool:
        # Another process confirmed a violation, or the parent died (SIGKILL): nobody waits.
        return os.getppid() != parent or found.is_set()

    last = [0.0]

    def status(line: str) -> None:
        # Through the manager at most once a second: each put is a round trip to its process.
        now = time.monotonic()
        if now - last[0] >= STATUS_EVERY_S:
            last[0] = now
            lines[index] = line

    with workbench(kind, prepare=[impl], **server_args) as bench:
        result = explore(
            bench,
            impl,
            budget_s=budget,
            seed=seed,
            profile=profile,
            should_stop=should_stop,
            status=status,
            faults=faults,
        )
    if result.found or result.flaky:
        found.set()
    # The run's verdicts hold the whole history; the parent needs them for its reports.
    return result


def _combined(lines: dict[int, str], n: int, elapsed: float, budget: float) -> str:
    runs = sum(int(m.group(1)) for line in lines.values() if (m := _RUNS.search(line)))
    reached = [m.group(1) for line in lines.values() if (m := _COVERAGE.search(line))]
    total = len(SITUATIONS)
    rate = runs / elapsed if elapsed > 0 else 0.0
    return (
        f"explore: {n} processes, {runs} runs, {rate:.1f} runs/s, coverage per process "
        f"{' '.join(reached) or '-'} of {total} situations, "
        f"{max(0.0, budget - elapsed):.0f} s of search left"
    )


def merge(results: list[ExploreResult]) -> ExploreResult:
    """One result for several searches of the same implementation."""
    first = results[0]
    merged = ExploreResult(
        impl=first.impl,
        seed=first.seed,
        profile=first.profile,
        budget_s=first.budget_s,
        workers=len(results),
        impossible=list(first.impossible),
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
        for name, n in r.combinations.items():
            merged.combinations[name] = merged.combinations.get(name, 0) + n
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
    status: Callable[[str], None] | None = None,
    faults: str = "supabase",
) -> ExploreResult:
    """`workers` searches (0: one per core) of `impl` with disjoint seeds, merged; `status`
    gets a line summing up every process's latest status, a few times a second."""
    n = workers or default_workers()
    seeds = worker_seeds(seed, n, shard)
    ctx = multiprocessing.get_context("spawn")  # no inherited connections or server handles
    # On Ctrl-C or SIGTERM this process alone unwinds: leaving the pool's block terminates the
    # workers (SIGTERM: each stops its server, see _one) and waits for them, then the manager's.
    with contextlib.ExitStack() as processes:
        with lifecycle.sigint_held():  # a Ctrl-C now is raised once both have started
            manager = processes.enter_context(ctx.Manager())
            pool = processes.enter_context(ctx.Pool(n))
        found = manager.Event()
        lines = manager.dict()
        jobs: list[Job] = [
            (impl, budget_s, s, profile, server_kind, server_args or {}, found, lines, k, faults)
            for k, s in enumerate(seeds)
        ]
        if progress is not None:
            progress(f"explore: {n} search processes, seeds {', '.join(map(str, seeds))}")
        t0 = time.monotonic()
        pending = pool.map_async(_one, jobs)
        while not pending.ready():
            pending.wait(0.25)
            if status is not None:
                status(_combined(dict(lines), n, time.monotonic() - t0, budget_s))
        results = pending.get()
    merged = merge(results)
    merged.seed = shard.seed(seed)
    return merged


def explore_command(
    impl: str,
    *,
    budget_s: float,
    seed: int,
    profile: str,
    workers: int,
    shard: str,
    server_kind: str,
    server_args: dict[str, Any],
    progress: Callable[[str], None] | None = None,
    status: Callable[[str], None] | None = None,
    faults: str = "supabase",
) -> ExploreResult:
    """What `threadsync explore` runs: one search in this process, or `workers` (0: the cores)
    in parallel, on this CI job's shard; UsageError for a bad --workers or --shard."""
    from harness.replay import workbench

    part = Shard.parse(shard)
    if workers < 0:
        raise UsageError(f"--workers must be >= 0 (0: one per core), got {workers}")
    if (workers or default_workers()) > 1:
        return explore_parallel(
            impl,
            budget_s=budget_s,
            seed=seed,
            profile=profile,
            workers=workers,
            shard=part,
            server_kind=server_kind,
            server_args=server_args,
            progress=progress,
            status=status,
            faults=faults,
        )
    with workbench(server_kind, prepare=[impl], **server_args) as bench:
        return explore(
            bench,
            impl,
            budget_s=budget_s,
            seed=part.seed(seed),
            profile=profile,
            progress=progress,
            status=status,
            faults=faults,
        )


__all__ = [
    "Shard",
    "ShardError",
    "UsageError",
    "default_workers",
    "explore_command",
    "explore_parallel",
    "merge",
    "worker_seeds",
]

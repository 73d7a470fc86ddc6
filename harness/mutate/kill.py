"""Tries to kill each mutant: replay every saved scenario against it, then explore it for a budget.

A mutant is killed when any check is violated on any run: a replay here judges the mutant, it
does not compare with the scenario's `expect`. Worker processes each own one server and take
mutants from a shared queue, so a slow mutant never holds up the others.
"""

from __future__ import annotations

import multiprocessing
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty
from typing import Any

from harness.explore import explore
from harness.impl import load_pipeline
from harness.mutate.generate import Mutant, mutant_pipeline
from harness.mutate.reach import Reach, entered_since_clone, learn, server_started
from harness.mutate.source import functions
from harness.postgres import EnvironmentProblem
from harness.replay import Workbench, run_scenario, workbench
from harness.scenario import Scenario, load, save
from threadsync.pipeline import Pipeline

KEY_PREFIX = "mutate:"
# Per process: how many mutants each scenario killed. Killers are replayed first (a stable sort,
# so ties keep file order): mutants of one function tend to fall to the same scenario.
_KILLS: dict[Path, int] = {}


@dataclass(frozen=True)
class Plan:
    """How to attack the mutants: the pipeline, the scenarios, the exploration and the server."""

    impl: str
    scenarios: tuple[Path, ...]
    budget_s: float
    cache: Path
    save: Path | None
    seed: int = 0
    max_runs: int | None = None  # also end each exploration after this many runs
    profile: str = "ci"
    server_kind: str = "embedded"
    server_args: tuple[tuple[str, str | None], ...] = ()
    skip: bool = True  # skip scenarios whose reference run never enters the mutated function


@dataclass(frozen=True)
class Kill:
    """What killed a mutant: the check, the run (a scenario file or an exploration), how fast."""

    check: str
    checks: tuple[str, ...]
    phase: str  # "replay" or "explore"
    by: str  # the scenario's path, or "explore seed N"
    seconds: float  # from the mutant's start to the first violating run's end
    saved: str | None = None  # where the exploration saved what it found
    flaky: bool = False  # the exploration's violation did not replay identically


@dataclass
class Outcome:
    """A mutant's fate: killed, survived, equivalent or stillborn (its SQL does not migrate)."""

    id: str
    status: str
    kill: Kill | None = None
    reason: str | None = None  # why equivalent, or why stillborn
    gap: str | None = None  # for a survivor: the written note on what would catch it
    seconds: float = 0.0
    runs: int = 0
    replayed: int = 0  # saved scenarios replayed against the mutant
    skipped: int = 0  # saved scenarios not replayed: their reference run never enters the function
    # Whether any exploration run entered the mutated function (None: not known).
    explore_reached: bool | None = None
    errors: list[str] = field(default_factory=list)  # runs the engine could not finish


def _first_check(label: str) -> str:
    return label.split(":", 1)[-1].split(",")[0].strip() or label


def kill(
    bench: Workbench,
    base: Pipeline,
    mutant: Mutant,
    scenarios: list[tuple[Path, Scenario]],
    plan: Plan,
    reach: Reach | None = None,
) -> Outcome:
    """Replay `scenarios` against the mutant until a check fails, then explore it. A scenario
    that `reach` says never enters the mutated function is skipped: it cannot kill it."""
    t0 = time.monotonic()
    key = KEY_PREFIX + mutant.id
    bench.pipelines[key] = mutant_pipeline(base, mutant, plan.cache)
    out = Outcome(mutant.id, "survived")
    try:
        try:
            bench.template(key)
        except EnvironmentProblem as exc:
            out.status, out.reason = "stillborn", str(exc)
            return out
        for path, scenario in sorted(scenarios, key=lambda ps: -_KILLS.get(ps[0], 0)):
            if reach is not None and reach.skips(path, mutant.function):
                out.skipped += 1
                continue
            out.runs += 1
            out.replayed += 1
            try:
                verdict = run_scenario(bench, scenario, impl=key)
            except Exception as exc:  # the engine could not finish: no verdict either way
                out.errors.append(f"{path}: {type(exc).__name__}: {exc}")
                continue
            if verdict.violations:
                _KILLS[path] = _KILLS.get(path, 0) + 1
                out.status = "killed"
                out.kill = Kill(
                    verdict.violated[0],
                    tuple(verdict.violated),
                    "replay",
                    str(path),
                    time.monotonic() - t0,
                )
                return out
        if plan.budget_s > 0:
            _explore(bench, key, mutant, plan, out, t0, reach)
        return out
    finally:
        out.seconds = time.monotonic() - t0
        template = bench.templates.pop(key, None)
        if template is not None:
            template.close()
        bench.pipelines.pop(key, None)


def _explore(
    bench: Workbench,
    key: str,
    mutant: Mutant,
    plan: Plan,
    out: Outcome,
    t0: float,
    reach: Reach | None = None,
) -> None:
    started = time.monotonic() - t0
    counted = reach is not None and reach.note is None and mutant.function in reach.trackable
    if counted:
        # A database of its own, so its statistics hold the exploration's runs only.
        used = bench.databases.pop(key, None)
        if used is not None:
            used.close()
    since = server_started(bench) if counted else None
    result = explore(
        bench,
        key,
        budget_s=plan.budget_s,
        seed=plan.seed,
        profile=plan.profile,
        max_runs=plan.max_runs,
    )
    if counted:
        out.explore_reached = entered_since_clone(bench, key, mutant.function, since)
    out.runs += result.runs
    out.errors += result.errors
    by = f"explore seed {plan.seed}"
    if result.found:
        found = result.found[0]
        saved = None
        if plan.save is not None:
            directory = plan.save / re.sub(r"[^A-Za-z0-9_.-]+", "_", mutant.id)
            saved = str(save(found.scenario, directory))
        out.status = "killed"
        out.kill = Kill(
            found.check,
            tuple(found.first_violated),
            "explore",
            by,
            started + found.time_to_first_failure_s,
            saved,
        )
    elif result.flaky:
        label = next((x for x in result.flaky[0].labels if x.startswith("fail")), "fail: ?")
        out.status = "killed"
        out.kill = Kill(
            _first_check(label), (_first_check(label),), "explore", by, out.seconds, None, True
        )


def _scenarios(plan: Plan) -> list[tuple[Path, Scenario]]:
    return [(path, load(path)) for path in plan.scenarios]


def _reach(
    bench: Workbench, base: Pipeline, scenarios: list[tuple[Path, Scenario]], plan: Plan
) -> Reach | None:
    """What each scenario's reference run enters (learned once per worker), or None: no skip."""
    if not plan.skip:
        return None
    # Only PL/pgSQL: the planner may inline an SQL-language function, and statistics do not
    # count an inlined call.
    trackable = frozenset(
        f.qualified for f in functions(base.migrations) if f.language == "plpgsql"
    )
    return learn(bench, plan.impl, scenarios, trackable)


def _work(plan: Plan, mutants: list[Mutant], tasks: Any, results: Any) -> None:
    """A worker process: one server, mutants from `tasks` until it is empty."""
    try:
        base = load_pipeline(plan.impl)
        scenarios = _scenarios(plan)
        with workbench(plan.server_kind, prepare=[plan.impl], **dict(plan.server_args)) as bench:
            reach = _reach(bench, base, scenarios, plan)
            while True:
                i = tasks.get()
                if i is None:
                    break
                results.put((i, kill(bench, base, mutants[i], scenarios, plan, reach)))
    except BaseException as exc:
        results.put((-1, f"{type(exc).__name__}: {exc}"))
        raise
    finally:
        results.put((-2, None))


class WorkerFailed(Exception):
    """A worker process died before finishing its mutants; the message says why."""


def kill_all(
    mutants: list[Mutant],
    plan: Plan,
    workers: int = 1,
    progress: Callable[[Mutant, Outcome, int], None] | None = None,
) -> list[Outcome]:
    """An Outcome for every mutant, in order; `workers` processes share the queue."""
    outcomes: dict[int, Outcome] = {}

    def done(i: int, outcome: Outcome) -> None:
        outcomes[i] = outcome
        if progress is not None:
            progress(mutants[i], outcome, len(outcomes))

    if workers <= 1 or len(mutants) <= 1:
        base = load_pipeline(plan.impl)
        scenarios = _scenarios(plan)
        with workbench(plan.server_kind, prepare=[plan.impl], **dict(plan.server_args)) as bench:
            reach = _reach(bench, base, scenarios, plan)
            for i, mutant in enumerate(mutants):
                done(i, kill(bench, base, mutant, scenarios, plan, reach))
        return [outcomes[i] for i in range(len(mutants))]
    ctx = multiprocessing.get_context("spawn")
    tasks = ctx.Queue()
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_work, args=(plan, mutants, tasks, results), daemon=True)
        for _ in range(min(workers, len(mutants)))
    ]
    for i in range(len(mutants)):
        tasks.put(i)
    for _ in procs:
        tasks.put(None)
    for proc in procs:
        proc.start()
    finished, failure = 0, None
    while finished < len(procs):
        try:
            i, payload = results.get(timeout=5)
        except Empty:
            if any(p.is_alive() for p in procs):
                continue
            break  # every worker is gone without saying so (killed, or failed to start)
        if i == -2:
            finished += 1
        elif i == -1:
            failure = str(payload)
        else:
            done(i, payload)
    for proc in procs:
        proc.join()
    missing = [m.id for i, m in enumerate(mutants) if i not in outcomes]
    if missing:
        raise WorkerFailed(
            f"a worker failed ({failure or 'no reason given'}); {len(missing)} mutants not run, "
            f"first {missing[0]}"
        )
    return [outcomes[i] for i in range(len(mutants))]

"""Runs a scenario on the engine, checks the outcome, and gives its verdict: scenario -> verdict."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

from harness.attribution import injected_failures
from harness.checks import CheckInput, Violation, run_checks
from harness.checks_resync import judged_syncs
from harness.engine import PCTStrategy, RandomStrategy, RunConfig, RunResult, pool, run
from harness.engine.reuse import ReusableDatabase
from harness.engine.runner import dataset as cached_dataset
from harness.engine.runner import source_versions as versions
from harness.engine.strategy import Strategy
from harness.impl import load_pipeline
from harness.postgres import Server, TemplateDatabases, ahead, start_server
from harness.scenario import Scenario
from harness.sql import harness_migrations
from harness.state import FinalState, capture
from threadsync.pipeline import Pipeline

PCT_MAX_STEPS = 400


@dataclass
class Verdict:
    """A scenario's outcome: the violations found, and whether that is what it expected."""

    scenario: Scenario
    violations: list[Violation]
    result: RunResult
    state: FinalState

    @property
    def violated(self) -> list[str]:
        return [v.check for v in self.violations]

    @property
    def as_expected(self) -> bool:
        return self.scenario.expect.matches(self.violated)

    @property
    def label(self) -> str:
        return "pass" if not self.violations else "fail: " + ", ".join(self.violated)

    def recorded(self) -> Scenario:
        """The scenario with the exact choices this run made, so it replays without a seed."""
        schedule = replace(self.scenario.schedule, choices=tuple(self.result.choices))
        return replace(self.scenario, schedule=schedule)


@dataclass
class Workbench:
    """One server, and per pipeline a migrated template and one database reset between runs."""

    server: Server
    templates: dict[str, TemplateDatabases] = field(default_factory=dict)
    pipelines: dict[str, Pipeline] = field(default_factory=dict)
    databases: dict[str, ReusableDatabase] = field(default_factory=dict)

    def pipeline(self, impl: str) -> Pipeline:
        if impl not in self.pipelines:
            self.pipelines[impl] = load_pipeline(impl)
        return self.pipelines[impl]

    def template(self, impl: str) -> TemplateDatabases:
        if impl not in self.templates:
            pipeline = self.pipeline(impl)
            self.templates[impl] = TemplateDatabases(
                self.server, harness_migrations(pipeline), name_hint=pipeline.name
            )
        return self.templates[impl]

    def database(self, impl: str) -> ReusableDatabase:
        """The pipeline's reusable database (its warm backends come with it)."""
        if impl not in self.databases:
            self.databases[impl] = ReusableDatabase(
                self.server, self.template(impl), hint=self.pipeline(impl).name
            )
        return self.databases[impl]

    def close(self, drop: bool = True) -> None:
        """Close every connection and drop every database, or with `drop=False` leave the
        databases to a server that is about to be stopped and removed (an embedded one)."""
        for db in self.databases.values():
            db.close(drop)
        self.databases.clear()
        if drop:
            for tpl in self.templates.values():
                tpl.close()
        self.templates.clear()


@contextmanager
def workbench(
    kind: str = "embedded",
    *,
    prepare: Sequence[str] = (),
    pg_bin: str | None = None,
    dsn: str | None = None,
) -> Iterator[Workbench]:
    """Start a server for a batch of scenarios; everything is dropped and stopped on exit.

    `prepare` names the pipelines the batch will run: an embedded server then starts from a
    cached cluster with their templates already migrated, instead of migrating them now.
    """
    pipelines = {impl: load_pipeline(impl) for impl in prepare}
    templates = [(p.name, harness_migrations(p)) for p in pipelines.values()]
    started = ahead.take(kind, pg_bin, templates)
    with (
        started.running()
        if started is not None
        else start_server(kind, pg_bin=pg_bin, dsn=dsn, prepare=templates)
    ) as server:
        bench = Workbench(server, pipelines=pipelines)
        if started is not None:  # the command's entry point started it (harness/cli_start.py)
            bench.templates.update(zip(pipelines, started.templates, strict=True))
        try:
            yield bench
        finally:
            # An embedded server's folder is removed with it: dropping its databases first
            # would only cost time.
            bench.close(drop=server.kind != "embedded")


def _strategy(scenario: Scenario) -> Callable[[], Strategy]:
    if scenario.schedule.strategy == "pct":
        depth = scenario.schedule.pct_depth
        return lambda: PCTStrategy(depth=depth, max_steps=PCT_MAX_STEPS)
    return RandomStrategy


def run_scenario(
    bench: Workbench, scenario: Scenario, impl: str | None = None, *, fresh_clone: bool = False
) -> Verdict:
    """Run one scenario (optionally against another implementation) and check it.

    It runs on the pipeline's reusable database, reset to the template's state; `fresh_clone`
    runs it on a new clone instead, with new backends (what a reset must be indistinguishable
    from).
    """
    impl = impl or scenario.impl
    pipeline = bench.pipeline(impl)
    templates = bench.template(impl)
    dsn = None if fresh_clone else bench.database(impl).checkout()
    ds = scenario.dataset
    config = RunConfig(
        pipeline=pipeline,
        dsn=dsn,
        server=bench.server,
        templates=templates,
        dataset_seed=ds.seed,
        threads=ds.threads,
        page_size=ds.page_size,
        faults=scenario.faults,
        seed=scenario.schedule.seed,
        choices=scenario.schedule.choices,
        strategy=_strategy(scenario),
        settings=dict(scenario.settings),
        syncs=scenario.syncs,
        quirks=scenario.dataset.quirks,
    )
    result = run(config)
    return _judge(scenario, impl, templates, result, None if fresh_clone else bench.database(impl))


def run_scenario_free(bench: Workbench, scenario: Scenario, workers: int) -> Verdict:
    """Run a scenario with real concurrency (free mode: `workers` threads, not replayable) on
    the pipeline's reusable database, and check it the same way. Its faults must be ones free
    mode plays (see harness.engine.free.playable)."""
    impl = scenario.impl
    if scenario.syncs or scenario.dataset.quirks:
        raise ValueError(
            f"scenario {scenario.name!r} has further syncs or source quirks, which free mode "
            "does not play; run it deterministically (threadsync replay)"
        )
    ds = scenario.dataset
    config = RunConfig(
        pipeline=bench.pipeline(impl),
        dsn=bench.database(impl).checkout(),
        server=bench.server,
        dataset_seed=ds.seed,
        threads=ds.threads,
        page_size=ds.page_size,
        faults=scenario.faults,
        settings=dict(scenario.settings),
    )
    from harness.engine.free import run_free  # free mode only

    result = run_free(config, workers=workers)
    return _judge(scenario, impl, bench.template(impl), result, bench.database(impl))


def _judge(
    scenario: Scenario,
    impl: str,
    templates: TemplateDatabases,
    result: RunResult,
    reused: ReusableDatabase | None,
) -> Verdict:
    """Capture the run's final state (dropping a database cloned for it, or starting the reset
    of the reused one, which goes on while the checks run) and run the checks."""
    ds = scenario.dataset
    try:
        conn = pool.acquire(result.dsn)
        try:
            state = capture(conn)
        finally:
            pool.release(result.dsn, conn)
    finally:
        if result.db_name:
            templates.drop(result.db_name)
    if reused is not None and reused.dsn == result.dsn:
        reused.release()
    sources = versions(ds.seed, ds.threads, scenario.syncs, ds.quirks) if scenario.syncs else ()
    if sources:
        last = sources[-1]
    elif ds.quirks:
        last = versions(ds.seed, ds.threads, (), ds.quirks)[0]
    else:
        last = cached_dataset(ds.seed, ds.threads)
    judged = judged_syncs(result.history, len(scenario.syncs), len(state.jobs))
    inp = CheckInput(
        history=result.history,
        state=state,
        dataset=last,
        page_size=ds.page_size,
        injected=injected_failures(result.history),
        sources=sources,
        sync_seqs=tuple(result.sync_seqs),
        unstarted=len(scenario.syncs) + 1 - judged,
    )
    return Verdict(replace(scenario, impl=impl), run_checks(inp), result, state)

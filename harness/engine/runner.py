"""Runs a pipeline (or a handful of ad-hoc actors) under the deterministic scheduler."""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from harness.engine import datasets, pool
from harness.engine.actor import QUEUE, Actor, ActorFn
from harness.engine.blocking import Monitor
from harness.engine.clock import VirtualClock
from harness.engine.deliverer import Deliverer
from harness.engine.errors import EngineError
from harness.engine.faults import ActorRule, FaultPlan, RestartServer
from harness.engine.scheduler import PlainHooks, Scheduler, Stats
from harness.engine.strategy import ChoiceList, Chooser, RandomStrategy, Strategy
from harness.fakeapi import Dataset, FakeThreadsAPI, Quirks, generate_dataset
from harness.history import History
from harness.postgres import Server, TemplateDatabases
from harness.resync import Resync, versions
from threadsync.pipeline import Context, Database, Pipeline, Reply

OPEN_WORK_SQL = """
SELECT EXISTS (SELECT 1 FROM public.sync_page_queue WHERE status IN ('pending', 'processing'))
    OR EXISTS (SELECT 1 FROM public.thread_processing_queue
                WHERE status IN ('pending', 'processing'))
"""
QUEUED_SQL = "SELECT count(*) FROM net.http_request_queue"
# How far the effect log's commit order has got: what committed before a further sync started.
COMMITTED_SQL = "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM harness.commit_seq"


@dataclass
class RunConfig:
    """One run: which pipeline, which data, which faults, which schedule, which database.

    Give `dsn` for an existing (fresh) database, or `templates` (and `server`) to clone one.
    `server` is needed for RestartServer faults.
    """

    pipeline: Pipeline
    dsn: str | None = None
    server: Server | None = None
    templates: TemplateDatabases | None = None
    dataset_seed: int = 0
    threads: int = 12
    page_size: int = 4
    faults: FaultPlan = field(default_factory=FaultPlan)
    seed: int = 0
    choices: Sequence[int] | None = None
    strategy: Callable[[], Strategy] = RandomStrategy
    settings: Mapping[str, Any] = field(default_factory=dict)
    sweep_interval: float = 60.0
    max_virtual_time: float = 6 * 3600.0
    max_idle_ticks: int = 30
    safety_timeout: float = 10.0
    open_work_sql: str = OPEN_WORK_SQL
    syncs: tuple[Resync, ...] = ()  # further syncs, each over a changed source
    quirks: Quirks = field(default_factory=Quirks)  # undated threads, repeated listings


@dataclass
class RunResult:
    """What a run did: its history, where the clock ended, its database, and what went wrong."""

    history: History
    clock: float
    dsn: str
    db_name: str | None
    choices: list[int]
    quiesced: bool
    errors: list[str]
    stats: Stats
    wall_s: float
    api_calls: list[str] = field(default_factory=list)
    choice_labels: list[str] = field(default_factory=list)
    # Per sync, the last commit (harness.commit_seq) before it started: 0 for the first.
    sync_seqs: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class ActorSpec:
    """An ad-hoc actor: a function of a Database (its return value is recorded)."""

    id: str
    fn: Callable[[Database], object]
    faults: tuple[ActorRule, ...] = ()
    role: str = "actor"


@functools.lru_cache(maxsize=256)
def dataset(seed: int, threads: int) -> Dataset:
    """The run's source threads; cached in memory, since Faker is slow and a Dataset is never
    changed (an exploration draws 4 seeds and up to 25 sizes: 100 datasets of a few kB each),
    and on disk between commands (`harness.engine.datasets`)."""
    return datasets.load_or_make(seed, threads, generate_dataset)


@functools.lru_cache(maxsize=64)
def source_versions(
    seed: int, threads: int, syncs: tuple[Resync, ...], quirks: Quirks
) -> tuple[Dataset, ...]:
    """The source as each sync finds it (`harness.resync.versions`), cached in memory: a run
    and its checks both need it, and drawing a further sync's threads took 20-30 ms."""
    return versions(seed, threads, syncs, quirks)


def _chooser(seed: int, choices: Sequence[int] | None) -> Chooser:
    return Chooser(seed) if choices is None else ChoiceList(choices, seed)


def run_actors(
    dsn: str,
    actors: Sequence[ActorSpec],
    *,
    seed: int = 0,
    choices: Sequence[int] | None = None,
    strategy: Strategy | None = None,
    safety_timeout: float = 10.0,
    clock_skips: int = 0,
) -> RunResult:
    """Run ad-hoc actors to completion under the scheduler; EngineError if one hangs.

    `clock_skips`: how many times a choice may move the clock to the next stalled actor's
    wake-up while other actors can still run."""
    with pool.serve(dsn):
        return _run_actors(dsn, actors, seed, choices, strategy, safety_timeout, clock_skips)


def _run_actors(
    dsn: str,
    actors: Sequence[ActorSpec],
    seed: int,
    choices: Sequence[int] | None,
    strategy: Strategy | None,
    safety_timeout: float,
    clock_skips: int,
) -> RunResult:
    t0 = time.perf_counter()
    chooser = _chooser(seed, choices)
    monitor = Monitor(dsn)
    s = Scheduler(
        dsn,
        monitor,
        chooser=chooser,
        strategy=strategy or RandomStrategy(),
        safety_timeout=safety_timeout,
        clock_skips=clock_skips,
    )
    try:
        for spec in actors:
            s.spawn(spec.id, spec.role, _db_actor(spec.fn), faults=spec.faults)
        s.run(PlainHooks())
    except EngineError as exc:
        exc.history = s.history()  # type: ignore[attr-defined]
        raise
    finally:
        s.shutdown()
        monitor.close()
    return RunResult(
        history=s.history(),
        clock=s.clock.now,
        dsn=dsn,
        db_name=None,
        choices=list(chooser.made),
        quiesced=True,
        errors=_errors(s.finished),
        stats=s.stats,
        wall_s=time.perf_counter() - t0,
        choice_labels=list(chooser.labels),
    )


def _db_actor(fn: Callable[[Database], object]) -> ActorFn:
    def actor(ctx: Context) -> Reply | None:
        value = fn(ctx.db)
        if isinstance(value, Reply):
            return value
        return Reply(200, {"value": value}) if value is not None else None

    return actor


def _errors(actors: Sequence[Actor]) -> list[str]:
    out = []
    for a in actors:
        if a.outcome and a.outcome[0] == "exception":
            exc = a.outcome[1]
            out.append(f"{a.id} ({a.role}) raised {type(exc).__name__}: {exc}")
    return out


def queue_oid(monitor: Monitor) -> int | None:
    """pg_net's queue table, when a transaction can count its own inserts into it (queue.sql)."""
    row = monitor.conn.execute(QUEUE["queue_oid"]).fetchone()
    return int(row[0]) if row is not None and row[0] is not None else None


def prepare_database(config: RunConfig) -> tuple[str, str | None]:
    """The run's DSN and (when cloned here) database name."""
    if config.dsn is not None:
        return config.dsn, None
    if config.templates is None or config.server is None:
        raise ValueError("RunConfig needs a dsn, or templates and server to clone a database from")
    name = config.templates.fresh("run")
    return config.server.dsn(name), name


def apply_settings(conn: psycopg.Connection[Any], settings: Mapping[str, Any]) -> None:
    """Override threadsync.settings columns for this run (e.g. max_attempts, leases)."""
    if not settings:
        return
    columns = {
        r[0]
        for r in conn.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = 'threadsync' AND table_name = 'settings'"
        ).fetchall()
    }
    unknown = sorted(set(settings) - columns)
    if unknown:
        raise ValueError(f"unknown threadsync.settings columns {unknown}; known: {sorted(columns)}")
    assignments = sql.SQL(", ").join(
        sql.SQL("{} = {}").format(sql.Identifier(k), sql.Literal(v)) for k, v in settings.items()
    )
    conn.execute(sql.SQL("UPDATE threadsync.settings SET {}").format(assignments))


class _PipelineHooks:
    """Deliveries before each choice; sweeper ticks and the end of the run when idle."""

    def __init__(self, config: RunConfig, s: Scheduler, deliverer: Deliverer) -> None:
        self.config = config
        self.s = s
        self.deliverer = deliverer
        self.idle_ticks = 0
        self.sweeps = 0
        self.quiesced = False
        self.sweep_queued = False
        # Runs before the deliverer takes the queue: what a restart may lose is still there.
        self.before_poll: Callable[[], None] | None = None
        self.skip_seconds = config.faults.clock_skips()[1]

    def before_choose(self) -> None:
        if self.before_poll is not None:
            self.before_poll()
        self.deliverer.poll()
        if self.sweep_queued and not any(a.role == "sweeper" for a in self.s.live):
            self.sweep_queued = False
            self._start_sweep()

    def on_early(self, actor: Actor, rows: list[dict[str, Any]]) -> None:
        self.deliverer.early(actor, rows)

    def _next_tick(self) -> float:
        interval = self.config.sweep_interval
        return (math.floor(self.s.clock.now / interval) + 1) * interval

    def on_idle(self, next_time: float | None) -> float | None:
        tick = self._next_tick()
        if tick > self.config.max_virtual_time:
            if next_time is not None and next_time <= self.config.max_virtual_time:
                return next_time
            self.quiesced = not self._open_work()
            return None
        # Strictly earlier: work due at the tick's own instant must not cancel the tick, or the
        # sweeper would never meet an actor woken at that instant.
        if next_time is not None and next_time < tick:
            return next_time
        if next_time is None:
            if not self._open_work():
                self.quiesced = True
                return None
            if self.idle_ticks >= self.config.max_idle_ticks:
                return None
            self.idle_ticks += 1
        self.s.add_timer(tick, "sweep", self._sweep)
        return tick

    def skip_target(self, next_time: float | None) -> float | None:
        """Where a clock skip would go: the next timer or wake-up, or the next sweeper tick; with
        SlowSteps.seconds, the first tick at least that far ahead."""
        at_least = self.skip_seconds
        if at_least > 0:
            interval = self.config.sweep_interval
            tick = math.ceil((self.s.clock.now + at_least) / interval) * interval
            return tick if tick <= self.config.max_virtual_time else None
        tick = self._next_tick()
        if tick > self.config.max_virtual_time:
            if next_time is not None and next_time <= self.config.max_virtual_time:
                return next_time
            return None
        return tick if next_time is None else min(next_time, tick)

    def on_skip(self, to: float) -> None:
        if to % self.config.sweep_interval == 0:
            self.s.add_timer(to, "sweep", self._sweep)

    def _sweep(self) -> None:
        # pg_cron runs at most one instance of a job at a time: a run due while the last one is
        # still running is queued and starts as soon as that one finishes.
        running = [a.id for a in self.s.live if a.role == "sweeper"]
        if running:
            if not self.sweep_queued:
                self.sweep_queued = True
                self.s.record(None, "info", {"sweep": "queued", "behind": running[0]})
            return
        self._start_sweep()

    def _start_sweep(self) -> None:
        self.sweeps += 1
        pipeline = self.config.pipeline

        def sweep(ctx: Context) -> Reply:
            return pipeline.sweeper(ctx)

        self.s.spawn(
            f"s{self.sweeps}",
            "sweeper",
            sweep,
            info={"tick": self.sweeps},
            faults=self.config.faults.for_sweep(self.sweeps - 1),
        )

    def _open_work(self) -> bool:
        assert self.s.monitor is not None
        row = self.s.monitor.conn.execute(self.config.open_work_sql.encode()).fetchone()
        return bool(row and row[0])


def run(config: RunConfig) -> RunResult:
    """Run one sync of `config.pipeline` from start to quiescence; EngineError if it hangs.

    Actors take warm backends from the database's pool (see harness.engine.pool): the pool its
    owner registered (a workbench's reusable database), else one kept for this run.
    """
    t0 = time.perf_counter()
    dsn, db_name = prepare_database(config)
    with pool.serve(dsn):
        return _run(config, dsn, db_name, t0)


def _run(config: RunConfig, dsn: str, db_name: str | None, t0: float) -> RunResult:
    plan = config.faults
    if plan.restarts() and (config.server is None or config.server.kind != "embedded"):
        raise ValueError("RestartServer faults need RunConfig.server (an embedded server)")
    chooser = _chooser(config.seed, config.choices)
    monitor = Monitor(dsn)
    apply_settings(monitor.conn, config.settings)
    sources = (
        source_versions(config.dataset_seed, config.threads, config.syncs, config.quirks)
        if config.syncs or config.quirks
        else (dataset(config.dataset_seed, config.threads),)
    )
    api = FakeThreadsAPI(sources[0], plan.api_plan(), sources)
    s = Scheduler(
        dsn,
        monitor,
        chooser=chooser,
        strategy=config.strategy(),
        clock=VirtualClock(),
        safety_timeout=config.safety_timeout,
        clock_skips=plan.clock_skips()[0],
    )
    s.queue_oid = queue_oid(monitor)

    def restart(rule: RestartServer) -> Callable[[], None]:
        def action() -> None:
            assert config.server is not None
            # What a crash restart loses: requests committed to the UNLOGGED pg_net queue that the
            # deliverer has not taken yet (coverage tells "a restart losing requests" by it); a
            # clean restart keeps them.
            lost = monitor.conn.execute(QUEUED_SQL).fetchone()
            s.record(
                None,
                "fault",
                {
                    "fault": "restart_server",
                    "immediate": rule.immediate,
                    "queued_requests": int(lost[0]) if lost else 0,
                },
            )
            s.connect_all()
            config.server.restart(immediate=rule.immediate)
            monitor.reconnect()
            deliverer.reset_ids()

        return action

    after_delivery = {r.after_delivery: r for r in plan.restarts() if r.after_delivery is not None}

    def on_started(n: int) -> None:
        rule = after_delivery.get(n)
        if rule is not None:
            s.add_timer(s.clock.now, "restart", restart(rule))

    deliverer = Deliverer(s, config.pipeline, plan, api, on_started)
    hooks = _PipelineHooks(config, s, deliverer)
    for rule in plan.restarts():
        if rule.at_time is not None:
            s.add_timer(rule.at_time, "restart", restart(rule))
    on_queue = [r for r in plan.restarts() if r.queued is not None]
    counted_at: list[int | None] = [None]

    def restart_on_queue() -> None:
        # The queue grows only when a step commits (the deliverer's takes and a restart only
        # shrink it): a count that fell short of every rule still does until one has.
        if counted_at[0] == s.commits:
            return
        counted_at[0] = s.commits
        for rule in list(on_queue):
            row = monitor.conn.execute(QUEUED_SQL).fetchone()
            if row and int(row[0]) >= (rule.queued or 0):
                on_queue.remove(rule)
                restart(rule)()

    if on_queue:
        hooks.before_poll = restart_on_queue
    pipeline, page_size = config.pipeline, config.page_size

    def start(ctx: Context) -> Reply:
        return pipeline.start_sync(ctx, page_size)

    sync_seqs = [0]

    def further_sync(version: int) -> Callable[[], None]:
        def action() -> None:
            row = monitor.conn.execute(COMMITTED_SQL).fetchone()
            sync_seqs.append(int(row[0]) if row else 0)
            api.switch(version)
            s.record(None, "info", {"sync": version + 1, "source_version": version})
            s.spawn(f"o{version + 1}", "orchestrator", start, info={"page_size": page_size})

        return action

    for version, sync in enumerate(config.syncs, start=1):
        s.add_timer(sync.at, "sync", further_sync(version))
    try:
        s.spawn("o1", "orchestrator", start, info={"page_size": page_size})
        s.run(hooks)
    except EngineError as exc:
        exc.history = s.history()  # type: ignore[attr-defined]
        raise
    finally:
        s.shutdown()
        monitor.close()
    errors = _errors(s.finished)
    if not hooks.quiesced:
        errors.append(
            f"did not quiesce: open work remained after {hooks.idle_ticks} idle sweeper ticks "
            f"(virtual time {s.clock.now:g}s)"
        )
    return RunResult(
        history=s.history(),
        clock=s.clock.now,
        dsn=dsn,
        db_name=db_name,
        choices=list(chooser.made),
        quiesced=hooks.quiesced,
        errors=errors,
        stats=s.stats,
        wall_s=time.perf_counter() - t0,
        api_calls=api.outcomes(),
        choice_labels=list(chooser.labels),
        sync_seqs=sync_seqs,
    )


__all__ = [
    "OPEN_WORK_SQL",
    "ActorSpec",
    "RunConfig",
    "RunResult",
    "apply_settings",
    "prepare_database",
    "run",
    "run_actors",
]

"""Free mode: the same actors, deliveries and sweeper with real concurrency (not replayable).

Steps are not gated; a pool of `workers` threads runs deliveries as they arrive. Virtual delays
become real sleeps scaled by `time_scale`; the virtual clock still moves only when all is idle
(to the next sweeper tick). Stall, Early, RestartServer and Pause faults need the deterministic
engine: a pause stops a statement until the scheduler lets it go, and here nothing schedules.
"""

from __future__ import annotations

import heapq
import itertools
import math
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from harness.engine import pool
from harness.engine.actor import Actor, ActorFn
from harness.engine.blocking import Monitor
from harness.engine.clock import VirtualClock
from harness.engine.deliverer import Deliverer
from harness.engine.errors import EngineError
from harness.engine.faults import (
    ActorRule,
    CallerTimeout,
    Crash,
    Early,
    FaultPlan,
    KillConnection,
    Pause,
    RestartServer,
    Stall,
)
from harness.engine.runner import (
    RunConfig,
    RunResult,
    apply_settings,
    dataset,
    prepare_database,
    queue_oid,
)
from harness.engine.scheduler import Scheduler
from harness.engine.strategy import Chooser, RandomStrategy
from harness.fakeapi import FakeThreadsAPI
from harness.history import Event
from threadsync.pipeline import Context, Reply

_UNSUPPORTED = (Stall, Early, RestartServer, Pause)


class _FreeScheduler(Scheduler):
    """Scheduler's bookkeeping (history, replies) with a thread pool instead of grants."""

    def __init__(self, dsn: str, monitor: Monitor, workers: int, time_scale: float) -> None:
        super().__init__(dsn, monitor, chooser=Chooser(0), strategy=RandomStrategy())
        self.lock = threading.RLock()
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="free-actor")
        self.inflight: set[Future[None]] = set()
        self.time_scale = time_scale
        self.real_timers: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        # Set when something may have been committed (a request queued) or an actor finished:
        # the main loop sleeps on it instead of polling the queue every half millisecond.
        self.wake = threading.Event()

    def record(self, actor: Actor | None, kind: str, detail: Mapping[str, Any]) -> Event:
        with self.lock:
            return super().record(actor, kind, detail)

    def spawn(
        self,
        actor_id: str,
        role: str,
        fn: ActorFn,
        *,
        api: Any = None,
        faults: tuple[ActorRule, ...] = (),
        info: Mapping[str, Any] | None = None,
        detect_early: bool = False,
    ) -> Actor:
        actor = self.new_actor(actor_id, role, fn, api, faults, info, gated=False)
        actor.before_step = self._before_step
        actor.on_result = self._on_result
        with self.lock:
            self.live.append(actor)
        self.record(actor, "invoke", actor.info)

        def body() -> None:
            try:
                actor.run_here()
                with self.lock:
                    self._on_done(actor)
            finally:
                self.wake.set()

        self.inflight.add(self.pool.submit(body))
        return actor

    def _before_step(self, actor: Actor) -> str | None:
        command = None
        for rule in actor.faults:
            if isinstance(rule, Crash) and rule.at_step == actor.steps:
                self.record(actor, "fault", {"fault": "crash", "at_step": actor.steps})
                command = "crash"
                self._terminate_locked(actor)
            elif isinstance(rule, KillConnection) and rule.at_step == actor.steps:
                self.record(actor, "fault", {"fault": "kill_connection", "at_step": actor.steps})
                self._terminate_locked(actor)
            elif isinstance(rule, CallerTimeout) and rule.after_steps == actor.steps:
                actor.caller_gone = True
                self.record(actor, "reply", {"outcome": "info", "error": "caller timed out"})
        return command

    def _terminate_locked(self, actor: Actor) -> None:
        if actor.pid is None:
            actor.connect()  # connected lazily on the first statement; kill needs a backend
        with self.lock:
            self._terminate(actor)

    def _on_result(self, actor: Actor, detail: dict[str, Any]) -> None:
        step = actor.pending
        kind = step.kind if step is not None else "statement"
        detail.pop("early", None)
        self.record(actor, kind, detail)
        if actor.committed:
            with self.lock:
                self.commits += 1
            self.wake.set()

    def add_timer(self, at: float, kind: str, action: Callable[[], None]) -> None:
        real = time.monotonic() + max(0.0, at - self.clock.now) * self.time_scale
        with self.lock:
            heapq.heappush(self.real_timers, (real, next(self._seq), action))

    def wait_for_news(self, longest: float = 0.05) -> None:
        """Sleep until an actor committed or finished, or the next timer is due."""
        with self.lock:
            due = self.real_timers[0][0] - time.monotonic() if self.real_timers else longest
        self.wake.wait(min(max(due, 0.0), longest))

    def fire_due(self) -> None:
        now = time.monotonic()
        while True:
            with self.lock:
                if not self.real_timers or self.real_timers[0][0] > now:
                    return
                _, _, action = heapq.heappop(self.real_timers)
            action()


def playable(plan: FaultPlan) -> tuple[FaultPlan, list[str]]:
    """The rules free mode can play, and the names of the kinds it had to leave out."""
    kept = tuple(r for r in plan.rules if not isinstance(r, _UNSUPPORTED))
    left_out = sorted({type(r).__name__ for r in plan.rules if isinstance(r, _UNSUPPORTED)})
    return FaultPlan(kept), left_out


def run_free(
    config: RunConfig, workers: int = 4, *, time_scale: float = 0.001, max_wall_s: float = 60.0
) -> RunResult:
    """Run the pipeline with real concurrency; the history is recorded the same way."""
    bad = [type(r).__name__ for r in config.faults if isinstance(r, _UNSUPPORTED)]
    if bad:
        raise ValueError(f"free mode does not support {sorted(set(bad))} faults; use run()")
    t0 = time.perf_counter()
    dsn, db_name = prepare_database(config)
    with pool.serve(dsn):
        return _run_free(config, dsn, db_name, workers, time_scale, max_wall_s, t0)


def _run_free(
    config: RunConfig,
    dsn: str,
    db_name: str | None,
    workers: int,
    time_scale: float,
    max_wall_s: float,
    t0: float,
) -> RunResult:
    monitor = Monitor(dsn)
    apply_settings(monitor.conn, config.settings)
    plan = config.faults
    api = FakeThreadsAPI(dataset(config.dataset_seed, config.threads), plan.api_plan())
    s = _FreeScheduler(dsn, monitor, workers, time_scale)
    s.clock = VirtualClock()
    s.queue_oid = queue_oid(monitor)
    deliverer = Deliverer(s, config.pipeline, plan, api)
    pipeline, page_size = config.pipeline, config.page_size
    quiesced = False
    idle_ticks = 0
    sweeps = 0

    def start(ctx: Context) -> Reply:
        return pipeline.start_sync(ctx, page_size)

    def sweep(ctx: Context) -> Reply:
        return pipeline.sweeper(ctx)

    deadline = time.monotonic() + max_wall_s
    try:
        s.spawn("o1", "orchestrator", start, info={"page_size": page_size})
        while True:
            if time.monotonic() > deadline:
                raise EngineError(f"free run did not finish within {max_wall_s:g}s")
            # Cleared before looking, so news arriving while we look is not lost. Only this
            # thread touches the deliverer; no lock is held across a round trip to the server.
            s.wake.clear()
            s.fire_due()
            deliverer.poll()
            s.inflight = {f for f in s.inflight if not f.done()}
            if s.inflight or s.real_timers:
                s.wait_for_news()
                continue
            row = monitor.conn.execute(config.open_work_sql.encode()).fetchone()
            if not (row and row[0]):
                quiesced = True
                break
            if idle_ticks >= config.max_idle_ticks:
                break
            idle_ticks += 1
            interval = config.sweep_interval
            with s.lock:
                s.clock.advance_to((math.floor(s.clock.now / interval) + 1) * interval)
                s.record(None, "clock", {"now": s.clock.sql_value()})
            sweeps += 1
            s.spawn(f"s{sweeps}", "sweeper", sweep, info={"tick": sweeps})
    finally:
        s.pool.shutdown(wait=True)
        monitor.close()
    errors = [
        f"{a.id} ({a.role}) raised {type(a.outcome[1]).__name__}: {a.outcome[1]}"
        for a in s.finished
        if a.outcome and a.outcome[0] == "exception"
    ]
    if not quiesced:
        errors.append(f"did not quiesce after {idle_ticks} idle sweeper ticks")
    return RunResult(
        history=s.history(),
        clock=s.clock.now,
        dsn=dsn,
        db_name=db_name,
        choices=[],
        quiesced=quiesced,
        errors=errors,
        stats=s.stats,
        wall_s=time.perf_counter() - t0,
        api_calls=api.outcomes(),
    )


__all__ = ["playable", "run_free"]

"""The deterministic scheduler: grants one actor step at a time, waits until it finished or blocked.

Every choice goes through the Chooser (via the Strategy); time moves when no actor can run, or
when a choice that SlowSteps allows moves it while actors can still run.

A step a Pause rule aims at is armed before it is granted: its statement stops inside its
function, at a pause point (harness/sql/pause.sql), waiting on a lock the engine's own session
holds. The server reports it blocked by the engine; the scheduler records it `paused`, runs
others, and lets it go (`resumed`) once the rule's seconds and steps are over or the schedule
chooses to, and always as soon as nothing else can run, so a pause never hangs a run.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.engine.actor import Actor, ActorFn, Step, recorded_error
from harness.engine.blocking import Monitor
from harness.engine.clock import VirtualClock
from harness.engine.errors import EngineError
from harness.engine.faults import ActorRule, CallerTimeout, Crash, KillConnection, Pause, Stall
from harness.engine.strategy import Chooser, Strategy
from harness.history import Event, History
from threadsync.pipeline import Reply

# How long the scheduler waits on the actor's Condition before the first monitor query: a bit
# longer than nine in ten statements take here (1.25x the 90th percentile of the last
# _RECENT_STEPS steps that finished unblocked), never less than _FIRST_WAIT_S nor more than
# _LONGEST_FIRST_WAIT_S. A statement that finishes wakes the scheduler at once, so the wait only
# decides when a slow one is asked about. Step times are skewed (a backend re-plans the
# pipeline's statements after each reset): with 1.5x their mean, a third of the steps were asked
# about, and about one question in eighty found a lock wait; each question is a round trip that
# competes with the statement for the server. A lock wait is rare; it is seen a few
# milliseconds later. The wait doubles after each query up to _MAX_WAIT_S (or the first wait, if
# longer).
_FIRST_WAIT_S = 0.0003
_LONGEST_FIRST_WAIT_S = 0.02
_MAX_WAIT_S = 0.002
_RECENT_STEPS = 64
_RECOMPUTE_EVERY = 16


class _StepTimes:
    """The last unblocked server steps' times in this process, and the first wait they give.
    Kept across runs: how long a statement takes is the machine's, not one run's (a run has
    a few dozen steps)."""

    def __init__(self) -> None:
        self.recent: list[float] = []
        self.count = 0
        self.first_wait_s = _FIRST_WAIT_S

    def note(self, seconds: float) -> None:
        if len(self.recent) < _RECENT_STEPS:
            self.recent.append(seconds)
        else:
            self.recent[self.count % _RECENT_STEPS] = seconds
        self.count += 1
        if self.count % _RECOMPUTE_EVERY == 0 or self.count < _RECOMPUTE_EVERY:
            p90 = sorted(self.recent)[(len(self.recent) * 9) // 10]
            self.first_wait_s = min(max(1.25 * p90, _FIRST_WAIT_S), _LONGEST_FIRST_WAIT_S)


_STEP_TIMES = _StepTimes()


@dataclass(order=True)
class Timer:
    at: float
    seq: int
    kind: str = field(compare=False)
    action: Callable[[], None] = field(compare=False)


class Hooks(Protocol):
    """What a runner plugs into the loop: new work before each choice, and what to do when idle."""

    def before_choose(self) -> None: ...

    def on_early(self, actor: Actor, rows: list[dict[str, Any]]) -> None: ...

    def on_idle(self, next_time: float | None) -> float | None: ...

    def skip_target(self, next_time: float | None) -> float | None: ...

    def on_skip(self, to: float) -> None: ...


class PlainHooks:
    """No deliveries, no sweeper: run until nothing is left, moving time only to timers."""

    def before_choose(self) -> None:
        pass

    def on_early(self, actor: Actor, rows: list[dict[str, Any]]) -> None:
        pass

    def on_idle(self, next_time: float | None) -> float | None:
        return next_time

    def skip_target(self, next_time: float | None) -> float | None:
        return next_time

    def on_skip(self, to: float) -> None:
        pass


@dataclass
class Stats:
    steps: int = 0
    detections: int = 0
    detect_polls: list[int] = field(default_factory=list)
    detect_ms: list[float] = field(default_factory=list)
    monitor_polls: int = 0
    queue_reads: int = 0  # the deliverer's reads of pg_net's queue...
    queue_reads_skipped: int = 0  # ...and the ones left out: nothing committed since the last
    pauses: int = 0


# How a paused actor's blockers are named: the engine's own session holds its pause key.
ENGINE = "engine"
_PAUSE_PREFIX = "threadsync pause "


@dataclass
class _Pause:
    """A Pause rule armed on an actor's granted step: the key the engine holds for it, and once
    the statement stopped, when (`seq`, `steps`), until what virtual time it must wait, and how
    many steps had been granted when that time came (`due_steps`)."""

    actor: Actor
    rule: Pause
    key: int
    generation: int  # the engine session that holds the key (a restart loses it)
    seq: int | None = None  # the `paused` event; None while armed and not stopped yet
    steps: int = 0  # Stats.steps when it stopped
    until: float = 0.0
    due_steps: int | None = None  # Stats.steps once its seconds were over

    @property
    def stopped(self) -> bool:
        return self.seq is not None


class Scheduler:
    """Owns the actors, the timers, the clock and the history of one run."""

    def __init__(
        self,
        dsn: str | None,
        monitor: Monitor | None,
        *,
        chooser: Chooser,
        strategy: Strategy,
        clock: VirtualClock | None = None,
        safety_timeout: float = 10.0,
        clock_skips: int = 0,
    ) -> None:
        self.dsn = dsn
        self.monitor = monitor
        self.chooser = chooser
        self.strategy = strategy
        self.clock = clock or VirtualClock()
        self.safety_timeout = safety_timeout
        self.cond = threading.Condition()
        self.live: list[Actor] = []
        self.finished: list[Actor] = []
        self.events: list[Event] = []
        self.timers: list[Timer] = []
        self._timer_seq = itertools.count()
        self.last: str | None = None
        self.stats = Stats()
        self.granted: dict[str, Step] = {}
        # When each actor last blocked (an event index): the server's queue order on a lock.
        self._blocked_order: dict[str, int] = {}
        # How many more times a choice may move the clock while actors can still run.
        self.skips_left = clock_skips
        self.skips = 0
        # Steps that may have committed requests into pg_net's queue (Actor.committed), so far:
        # nothing else adds to it, so the deliverer reads it again only when this has grown.
        self.commits = 0
        # pg_net's queue table, whose inserts a committing step counts (see Actor.queue_oid).
        self.queue_oid: int | None = None
        # Armed or stopped pauses by actor id; keys are never reused within a run.
        self.pauses: dict[str, _Pause] = {}
        self._pause_keys = itertools.count(1)

    # --- history -------------------------------------------------------------------------------

    def record(self, actor: Actor | None, kind: str, detail: Mapping[str, Any]) -> Event:
        event = Event(
            seq=len(self.events),
            time=round(self.clock.now, 6),
            actor=actor.id if actor else "engine",
            role=actor.role if actor else "engine",
            kind=kind,
            detail=dict(detail),
        )
        self.events.append(event)
        return event

    def history(self) -> History:
        return History(tuple(self.events))

    # --- actors and timers ---------------------------------------------------------------------

    def new_actor(
        self,
        actor_id: str,
        role: str,
        fn: ActorFn,
        api: Any,
        faults: tuple[ActorRule, ...],
        info: Mapping[str, Any] | None,
        *,
        detect_early: bool = False,
        gated: bool = True,
    ) -> Actor:
        """An actor bound to this run's clock, condition and database, not yet started."""
        return Actor(
            id=actor_id,
            role=role,
            fn=fn,
            cond=self.cond,
            clock=self.clock,
            dsn=self.dsn,
            api=api,
            faults=faults,
            info=dict(info or {}),
            detect_early=detect_early,
            gated=gated,
            queue_oid=self.queue_oid,
        )

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
        actor = self.new_actor(actor_id, role, fn, api, faults, info, detect_early=detect_early)
        actor.not_before = self.clock.now
        # No backend yet: the actor takes one from the pool at its first statement, so a
        # delivery waiting for its turn holds none (every backend an actor uses must re-plan the
        # pipeline's statements after a reset; fewer backends per run, less of that).
        actor.start()
        self.live.append(actor)
        return actor

    def connect_all(self) -> None:
        """Give every live actor its backend now (before a server restart): an actor spawned
        before the restart meets a dead connection at its first statement, as a function instance
        already running when the server went down does."""
        for actor in self.live:
            if actor.conn is None and actor.state == "waiting":
                actor.connect()

    def add_timer(self, at: float, kind: str, action: Callable[[], None]) -> None:
        heapq.heappush(
            self.timers, Timer(max(at, self.clock.now), next(self._timer_seq), kind, action)
        )

    def next_time(self, after: float | None = None) -> float | None:
        """The earliest timer or stalled actor's wake-up (only those later than `after`)."""
        times = [t.at for t in self.timers if after is None or t.at > after]
        times += [a.not_before for a in self.live if a.state == "waiting"]
        # A paused statement that must wait out its seconds wakes like a stalled actor.
        times += [p.until for p in self.pauses.values() if p.stopped]
        if after is not None:
            times = [t for t in times if t > after]
        return min(times) if times else None

    def advance(self, to: float) -> None:
        if to > self.clock.now:
            self.clock.advance_to(to)
            self.record(None, "clock", {"now": self.clock.sql_value()})
        while self.timers and self.timers[0].at <= self.clock.now:
            heapq.heappop(self.timers).action()

    def runnable(self) -> list[Actor]:
        now = self.clock.now
        return [a for a in self.live if a.state == "waiting" and a.not_before <= now]

    def blocked(self) -> list[Actor]:
        return [a for a in self.live if a.blocked_by is not None]

    # --- the loop ------------------------------------------------------------------------------

    def run(self, hooks: Hooks) -> None:
        self.hooks = hooks
        while True:
            self.advance(self.clock.now)  # timers due now (a restart after the n-th delivery)
            hooks.before_choose()
            if self._resume_due(idle=False):
                continue
            runnable = self.runnable()
            if runnable:
                ids = [a.id for a in runnable]
                # A due pause that waits for the schedule: letting it go on is one more option,
                # after the runnable actors, so that the simplest choice (0) never takes it.
                resumable = self._resumable()
                ids += [f"(resume {p.actor.id})" for p in resumable]
                target = None
                # Only while some actor has done work it could lose (a claim, say): a skip
                # before that would move time with nothing at stake.
                if self.skips_left > 0 and any(a.steps >= 1 for a in self.live):
                    target = hooks.skip_target(self.next_time(after=self.clock.now))
                    if target is not None and target > self.clock.now:
                        # One more option, last so that the simplest choice (0) never takes it:
                        # the step in progress takes real time, and the clock runs on.
                        ids.append(f"(clock {self.skips})")
                i = self.strategy.pick(ids, self.last, self.chooser)
                if len(runnable) <= i < len(runnable) + len(resumable):
                    self._resume(resumable[i - len(runnable)], "the schedule chose to")
                    continue
                if i == len(runnable) + len(resumable) and target is not None:
                    self._skip(hooks, target)
                    continue
                actor = runnable[i]
                self.last = actor.id
                self._grant(actor)
                continue
            blocked = self.blocked()
            if blocked and self._waits_only_on_server(blocked):
                self._wait_blocked_change(blocked)
                continue
            # Nothing else can run now: a pause that has waited out its seconds goes on before
            # time moves.
            if self._resume_due(idle=True):
                continue
            nxt = hooks.on_idle(self.next_time())
            if nxt is None:
                stopped = self._stopped()
                if stopped:
                    # The run would end (or time cannot move): no pause outlives it.
                    self._resume(stopped[0], "the run could not go on otherwise")
                    continue
                if blocked:
                    self._wait_blocked_change(blocked)
                    continue
                return
            self.advance(nxt)

    def _skip(self, hooks: Hooks, to: float) -> None:
        """Move the clock while actors can run, as if their current steps took that long."""
        self.skips_left -= 1
        self.skips += 1
        # Actors in the middle of a handler: their leases may run out under them.
        live = [a.id for a in self.live if a.steps >= 0]
        self.record(
            None,
            "fault",
            {"fault": "clock_skip", "from": self.clock.now, "to": to, "live": live},
        )
        hooks.on_skip(to)
        self.advance(to)

    def _waits_only_on_server(self, blocked: list[Actor]) -> bool:
        """True when blocked actors wait on each other in a cycle: a deadlock the server will
        break, so time must not move. Otherwise every chain of waits ends at an actor that is not
        blocked (a stalled one holding the lock, say), and time must move to its wake-up."""
        waits = {a.id: set(a.blocked_by or ()) for a in blocked}
        return has_cycle(waits)

    def _grant(self, actor: Actor) -> None:
        step = actor.pending
        assert step is not None
        command = "go"
        pause: Pause | None = None
        for rule in actor.faults:
            if isinstance(rule, Crash) and rule.at_step == actor.steps:
                command = "crash"
                self.record(actor, "fault", {"fault": "crash", "at_step": actor.steps})
                self._terminate(actor)
            elif isinstance(rule, KillConnection) and rule.at_step == actor.steps:
                self.record(actor, "fault", {"fault": "kill_connection", "at_step": actor.steps})
                if actor.conn is None:
                    actor.connect()  # not connected yet: the step must still meet a dead backend
                self._terminate(actor)
            elif isinstance(rule, Pause) and rule.at_step == actor.steps and pause is None:
                pause = rule
        if pause is not None and command == "go":
            self._arm(actor, step, pause)
        if step.kind == "invoke":
            self.record(actor, "invoke", actor.info)
            for rule in actor.faults:
                if isinstance(rule, CallerTimeout) and rule.seconds is not None:
                    self.add_timer(
                        self.clock.now + rule.seconds, "caller_timeout", self._timeout(actor)
                    )
        self.granted[actor.id] = step
        self.stats.steps += 1
        actor.grant(command)
        self._settle(actor, step)
        self._settle_blocked()

    # --- pauses --------------------------------------------------------------------------------

    def _arm(self, actor: Actor, step: Step, rule: Pause) -> None:
        """Hold a fresh key and hand the actor its arming, before the step is granted."""
        if step.kind != "statement" or self.monitor is None:
            why = "no database" if self.monitor is None else f"it is a {step.kind} step"
            self._unfired(actor, rule, f"step {actor.steps} has no statement to pause: {why}")
            return
        key = next(self._pause_keys)
        self.monitor.hold(key)
        self.pauses[actor.id] = _Pause(actor, rule, key, self.monitor.generation)
        actor.pause_arm = f"{rule.at_point}:{key}"

    def _unfired(self, actor: Actor, rule: Pause, reason: str) -> None:
        self.record(
            actor,
            "fault",
            {
                "fault": "unfired",
                "rule": "Pause",
                "at_step": rule.at_step,
                "at_point": rule.at_point,
                "reason": reason,
            },
        )

    def _stopped(self) -> list[_Pause]:
        """Stopped pauses, in the order they stopped."""
        return sorted((p for p in self.pauses.values() if p.stopped), key=lambda p: p.seq or 0)

    def _on_paused(self, actor: Actor, step: Step, extra: Mapping[str, Any]) -> None:
        """The armed statement reached its pause point: record where, and from when it waits."""
        p = self.pauses[actor.id]
        assert self.monitor is not None and actor.pid is not None
        where = self.monitor.where(actor.pid)
        if where.startswith(_PAUSE_PREFIX):
            where = where.split(": ", 1)[-1]
        p.steps = self.stats.steps
        p.until = self.clock.now + p.rule.seconds
        if p.rule.seconds <= 0:
            p.due_steps = p.steps
        self.stats.pauses += 1
        actor.blocked_by = (ENGINE,)
        event = self.record(
            actor,
            "paused",
            {
                "sql": step.text,
                "outcome": "paused",
                "at_point": p.rule.at_point,
                "where": where,
                "resume_after_steps": p.rule.resume_after_steps,
                "seconds": p.rule.seconds,
                **extra,
            },
        )
        p.seq = event.seq

    def _resumable(self) -> list[_Pause]:
        """Stopped pauses past their seconds whose rule leaves the moment to the schedule."""
        return [
            p
            for p in self._stopped()
            if self._held(p) and self.clock.now >= p.until and p.rule.resume_after_steps is None
        ]

    def _resume_due(self, *, idle: bool) -> bool:
        """Let the first pause that is due go on (one at a time: it changes what can run): past
        its seconds, after its rule's steps of others, or, with `idle`, because nothing else
        can run (the engine holds its key: nobody else would ever let it go)."""
        for p in self._stopped():
            assert self.monitor is not None
            if p.generation != self.monitor.generation:
                self._resume(p, "the engine's session was gone (server restart)")
                return True
            if self.clock.now < p.until:
                continue
            if p.due_steps is None:
                # Its seconds just ran out (nothing is granted between the clock reaching
                # `until` and this look): its steps of others count from here.
                p.due_steps = self.stats.steps
            after = p.rule.resume_after_steps
            if after is not None and self.stats.steps - p.due_steps >= after:
                self._resume(p, f"after {after} steps of others")
                return True
            if idle:
                self._resume(p, "nothing else could run")
                return True
        return False

    def _resume(self, p: _Pause, reason: str) -> None:
        """Let go of the key; the statement runs on to its end, or blocks on another lock."""
        actor = p.actor
        del self.pauses[actor.id]
        assert self.monitor is not None
        if p.generation == self.monitor.generation:
            self.monitor.let_go(p.key)
        self.record(actor, "resumed", {"reason": reason, "steps_since": self.stats.steps - p.steps})
        step = self.granted[actor.id]
        if self._still_blocked(actor, step):
            # Let go, it ran on into another actor's lock: an ordinary lock wait from here.
            self._blocked_order[actor.id] = len(self.events)
            by = list(actor.blocked_by or ())
            self.record(
                actor,
                "blocked",
                {
                    "sql": step.text,
                    "outcome": "blocked",
                    "blocked_by": by,
                    "lock": self._lock(actor),
                },
            )
        else:
            actor.blocked_by = None
            self._observe(actor, step)
        self._settle_blocked()

    def _end_armed(self, actor: Actor) -> None:
        """The armed step ended without stopping: its statement met fewer pause points."""
        p = self.pauses.pop(actor.id, None)
        if p is None:
            return
        assert self.monitor is not None
        if p.generation == self.monitor.generation:
            self.monitor.let_go(p.key)
        self._unfired(
            actor,
            p.rule,
            f"the statement of step {p.rule.at_step} ended before pause point {p.rule.at_point}",
        )

    def _others(self, actor: Actor) -> list[int]:
        """The backends that may block `actor`: every other actor's, and the engine's own (which
        holds the pause keys)."""
        others = [a.pid for a in self.live if a is not actor and a.pid is not None]
        if self.monitor is not None:
            others.append(self.monitor.pid)
        return others

    def _timeout(self, actor: Actor) -> Callable[[], None]:
        def fire() -> None:
            if actor.state != "done" and not actor.caller_gone:
                actor.caller_gone = True
                self.record(actor, "reply", {"outcome": "info", "error": "caller timed out"})

        return fire

    def _terminate(self, actor: Actor) -> None:
        if self.monitor is not None and actor.pid is not None:
            self.monitor.terminate(actor.pid)

    def _settle(self, actor: Actor, step: Step) -> None:
        """Wait until the granted step finished (the actor asks again or is done) or blocked."""
        t0 = time.perf_counter()
        deadline = time.monotonic() + self.safety_timeout
        polls = 0
        first = _STEP_TIMES.first_wait_s
        wait = first
        while True:
            with self.cond:
                if actor.state == "running":
                    self.cond.wait(wait if step.on_server else 0.05)
                if actor.state != "running":
                    break
            if step.on_server and actor.pid is not None and self.monitor is not None:
                polls += 1
                is_blocked, by = self.monitor.blocked(actor.pid, self._others(actor))
                if is_blocked:
                    names = self._names(by)
                    actor.blocked_by = names
                    self._blocked_order[actor.id] = len(self.events)
                    self.stats.detections += 1
                    self.stats.detect_polls.append(polls)
                    ms = round((time.perf_counter() - t0) * 1000, 3)
                    self.stats.detect_ms.append(ms)
                    if names == (ENGINE,) and actor.id in self.pauses:
                        self._on_paused(actor, step, {"polls": polls, "detect_ms": ms})
                        return
                    self.record(
                        actor,
                        "blocked",
                        {
                            "sql": step.text,
                            "outcome": "blocked",
                            "blocked_by": list(names),
                            "lock": self._lock(actor),
                            "polls": polls,
                            "detect_ms": ms,
                        },
                    )
                    return
                wait = min(wait * 2, max(first, _MAX_WAIT_S))
            if time.monotonic() > deadline:
                raise EngineError(
                    f"actor {actor.id} did not finish step {step.kind} {step.text[:80]!r} "
                    f"and the server does not report it blocked by another actor after "
                    f"{self.safety_timeout:g}s; {self.describe()}"
                )
        if step.on_server:
            _STEP_TIMES.note(time.perf_counter() - t0)
        self._observe(actor, step)

    def _lock(self, actor: Actor) -> dict[str, Any] | None:
        """Which lock a blocked actor waits for, its holders named as actors (blocking.py)."""
        if self.monitor is None or actor.pid is None:
            return None
        lock = self.monitor.waited_lock(actor.pid)
        if lock is not None:
            lock["holders"] = list(self._names(lock["holders"]))
        return lock

    def _names(self, pids: list[int]) -> tuple[str, ...]:
        by_pid = {a.pid: a.id for a in self.live if a.pid is not None}
        if self.monitor is not None:
            by_pid[self.monitor.pid] = ENGINE
        return tuple(sorted(by_pid.get(p, f"pid:{p}") for p in pids))

    def _settle_blocked(self) -> None:
        """After a step, find the actors it released and run each to the end of its step.

        One commit can wake several waiters at once; they then race each other on the server
        (for the next lock they need), and for a moment a waiter is neither blocked nor running.
        So every released waiter is run to the end of its step, until all that remain are
        blocked, before any of them is recorded; they are then recorded in the order they
        blocked, which is the server's queue order, so a replay records what it records whoever
        won the race.
        """
        order = self._blocked_order
        finished: list[Actor] = []
        paused: list[Actor] = []
        progress = True
        while progress:
            progress = False
            for b in sorted(self.blocked(), key=lambda a: order.get(a.id, 0)):
                p = self.pauses.get(b.id)
                if b in finished or b in paused or (p is not None and self._held(p)):
                    continue  # only the engine lets a stopped statement go
                if self._still_blocked(b, self.granted[b.id]):
                    if b.blocked_by == (ENGINE,) and p is not None:
                        paused.append(b)  # released, it ran on to its pause point
                    continue
                finished.append(b)
                progress = True
        for b in sorted(finished, key=lambda a: order.get(a.id, 0)):
            b.blocked_by = None
            step = self.granted[b.id]
            p = self.pauses.pop(b.id, None)
            if p is not None and p.stopped:
                # Its backend ended under it (a server restart): the statement failed.
                self.record(b, "resumed", {"reason": "its backend was gone"})
            else:
                self.record(b, "released", {"sql": step.text})
                if p is not None:
                    self.pauses[b.id] = p  # _observe tells it never stopped
            self._observe(b, step)
        for b in sorted(paused, key=lambda a: order.get(a.id, 0)):
            step = self.granted[b.id]
            self.record(b, "released", {"sql": step.text})
            self._on_paused(b, step, {})

    def _held(self, p: _Pause) -> bool:
        """Whether a stopped statement still waits on a key the engine holds."""
        return p.stopped and self.monitor is not None and p.generation == self.monitor.generation

    def _still_blocked(self, actor: Actor, step: Step) -> bool:
        """Wait until a blocked actor's step finished (False) or the server reports it blocked
        again (True, its blockers updated); a released step runs to its end here."""
        deadline = time.monotonic() + self.safety_timeout
        wait = _FIRST_WAIT_S
        while True:
            with self.cond:
                if actor.state != "running":
                    return False
            if actor.pid is None or self.monitor is None:
                with self.cond:
                    self.cond.wait(0.05)
            else:
                still, by = self.monitor.blocked(actor.pid, self._others(actor))
                if still:
                    actor.blocked_by = self._names(by)
                    return True
                with self.cond:
                    if actor.state == "running":
                        self.cond.wait(wait)
                wait = min(wait * 2, _MAX_WAIT_S)
            if time.monotonic() > deadline:
                raise EngineError(
                    f"actor {actor.id} was released from a lock wait but neither finished step "
                    f"{step.kind} {step.text[:80]!r} nor blocked again after "
                    f"{self.safety_timeout:g}s; {self.describe()}"
                )

    def _wait_blocked_change(self, blocked: list[Actor]) -> None:
        deadline = time.monotonic() + self.safety_timeout
        with self.cond:
            while all(b.state == "running" for b in blocked):
                if time.monotonic() > deadline:
                    raise EngineError(
                        f"every actor that could run is blocked and none was released after "
                        f"{self.safety_timeout:g}s; {self.describe()}"
                    )
                self.cond.wait(0.002)
        self._settle_blocked()

    def _observe(self, actor: Actor, step: Step) -> None:
        """Turn a finished step into history, then look at what the actor does next."""
        if step.on_server and actor.committed:
            self.commits += 1
        detail = actor.result
        if step.kind != "invoke" and detail is not None:
            early = detail.pop("early", None)
            self.record(actor, step.kind, detail)
            if early:
                self.hooks.on_early(actor, early)
        self._end_armed(actor)
        if actor.state == "waiting":
            self._on_request(actor)
        elif actor.state == "done":
            self._on_done(actor)

    def _on_request(self, actor: Actor) -> None:
        for rule in actor.faults:
            if isinstance(rule, CallerTimeout) and rule.after_steps == actor.steps:
                if not actor.caller_gone:
                    actor.caller_gone = True
                    self.record(
                        actor,
                        "reply",
                        {"outcome": "info", "error": "caller timed out", "at_step": actor.steps},
                    )
            elif isinstance(rule, Stall) and rule.at_step == actor.steps:
                actor.not_before = self.clock.now + rule.seconds
                self.record(
                    actor,
                    "fault",
                    {"fault": "stall", "at_step": actor.steps, "until": actor.not_before},
                )

    def _on_done(self, actor: Actor) -> None:
        self.live.remove(actor)
        self.finished.append(actor)
        # A rule aimed past the handler's last step never happened: say so, or a scenario that
        # tests nothing would pass silently.
        for rule in actor.faults:
            at = rule.after_steps if isinstance(rule, CallerTimeout) else rule.at_step
            if at is not None and at > actor.steps:
                self.record(
                    actor,
                    "fault",
                    {
                        "fault": "unfired",
                        "rule": type(rule).__name__,
                        "at_step": at,
                        "steps_taken": actor.steps,
                    },
                )
        kind, value = actor.outcome or ("exception", RuntimeError("no outcome"))
        detail: dict[str, Any]
        if kind == "crashed":
            self.record(actor, "crash", {"outcome": "crashed", "at_step": actor.steps})
            detail = {"outcome": "info", "error": "instance crashed"}
        elif kind == "exception":
            error = f"{type(value).__name__}: {recorded_error(value)}"
            detail = {"outcome": "fail", "error": error}
        elif isinstance(value, Reply):
            detail = {
                "outcome": "ok" if value.ok else "fail",
                "status": value.status,
                # A sweeper's reply is its whole report of a tick (what it rescued, re-sent,
                # dead-lettered), which coverage reads: never shortened.
                "body": _whole(value.body) if actor.role == "sweeper" else _plain(dict(value.body)),
            }
        else:
            detail = {"outcome": "ok", "value": None if value is None else str(value)}
        if actor.caller_gone:
            detail["caller_gone"] = True
        self.record(actor, "reply", detail)

    # --- diagnostics and cleanup ---------------------------------------------------------------

    def describe(self) -> str:
        activity: dict[int, str] = {}
        if self.monitor is not None:
            try:
                activity = self.monitor.activity([a.pid for a in self.live if a.pid is not None])
            except Exception as exc:  # diagnostics must not hide the real error
                activity = {-1: f"(pg_stat_activity unavailable: {exc})"}
        parts = []
        for a in self.live:
            step = self.granted.get(a.id) if a.state == "running" else a.pending
            text = f"{step.kind} {step.text[:60]!r}" if step else "-"
            extra = f", blocked by {','.join(a.blocked_by)}" if a.blocked_by else ""
            if a.not_before > self.clock.now:
                extra += f", stalled until t={a.not_before:g}"
            if a.id in self.pauses:
                p = self.pauses[a.id]
                extra += f", {'paused' if p.stopped else 'armed'} at pause point {p.rule.at_point}"
            server = activity.get(a.pid, "no backend") if a.pid is not None else "no connection"
            parts.append(f"{a.id} ({a.role}) {a.state} {text}{extra}; server: {server}")
        return "actors: " + (" | ".join(parts) if parts else "none")

    def shutdown(self) -> None:
        """Unwind every actor still alive: waiting ones crash, stuck ones lose their backend."""
        for a in list(self.live):
            if a.state == "waiting":
                a.grant("crash")
            elif a.state == "running":
                with contextlib.suppress(Exception):
                    self._terminate(a)
        for a in list(self.live):
            a.join(0.5)


def has_cycle(waits: Mapping[str, set[str]]) -> bool:
    """Whether the wait-for graph (actor -> actors it waits on) has a cycle."""
    done: set[str] = set()
    for start in waits:
        path: set[str] = set()
        stack = [(start, iter(sorted(waits.get(start, ()))))]
        path.add(start)
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                stack.pop()
                path.discard(node)
                done.add(node)
            elif nxt in path:
                return True
            elif nxt not in done and nxt in waits:
                path.add(nxt)
                stack.append((nxt, iter(sorted(waits[nxt]))))
    return False


def _whole(value: Any) -> Any:
    """A JSON-safe copy with nothing shortened."""
    if isinstance(value, Mapping):
        return {str(k): _whole(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_whole(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _plain(value: Any) -> Any:
    from harness.engine.actor import jsonable

    return jsonable(value)


__all__ = ["ENGINE", "Hooks", "PlainHooks", "Scheduler", "Stats", "Timer", "has_cycle"]

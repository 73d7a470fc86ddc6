"""What the search draws: datasets, settings, fault plans that spread themselves, and schedules.

Swarm testing (Groce et al., ISSTA 2012): each scenario first enables a random subset of the fault
kinds and then draws every rule from that subset with equal weight, so a kind that is rare in a
fixed mix (a crash at the page worker's last step, a server restart) is the whole mix of some runs.
A rule's target occurrence is drawn within the deliveries its function will get for this dataset,
and its step uniformly over the handler's steps; a stall's or a delay's length is relative to
the scenario's lease or emit grace. Besides single rules the plan holds groups that a uniform draw
almost never assembles: a sequence of broken attempts on one item (long enough to use up
`max_attempts`), correlated faults on neighbouring items, a duplicate meeting its original
mid-handler, a copy arriving during a retry wait, a worker stalled until its item is rescued whose
API call then fails, an item whose webhook is lost or late several times in a row (its creation
and the sweeper's re-sends). Each group is a member of the swarm with the weight of one kind.

Some draws follow what the search has learned (explore() passes it in): a Pause's step and point
range over the statements and pause points earlier runs showed (harness.explore.points), a
recipe aimed at one rare situation or combination is chosen towards what was reached least, and
a share of the scenarios vary a run kept for reaching something rare (harness.explore.corpus).
Each such choice is a number in a fixed range, so the same choices always make the same draws.

Every list is written simplest first and every choice shrinks towards "off": Hypothesis shrinks a
failing scenario towards fewer kinds, fewer rules, default settings, smaller data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from hypothesis import strategies as st

from harness import coverage
from harness.engine.faults import (
    SWEEPER,
    ApiFaults,
    BatchResend,
    BatchTimeout,
    CallerTimeout,
    CleanRestart,
    Crash,
    Delay,
    Drop,
    Duplicate,
    Early,
    FaultPlan,
    KillConnection,
    Pause,
    RestartServer,
    Rule,
    SlowSteps,
    Stall,
)
from harness.engine.runner import RunConfig
from harness.explore.corpus import Corpus
from harness.explore.points import PausePoints
from harness.fakeapi import FETCH_PAGE, FETCH_THREAD
from harness.impl import DEFAULT_IMPL
from harness.resync import Resync
from harness.scenario import Dataset, Scenario, Schedule

PAGE_FUNCTION = "sync-threads-page-worker"
PROCESSOR_FUNCTION = "sync-threads-processor"
FUNCTIONS = (PAGE_FUNCTION, PROCESSOR_FUNCTION)
# Steps of each handler (0 is the claim): the page worker claims, fetches, completes or fails, and
# commits when an early delivery keeps its transaction open; the processor claims, reads its
# thread from the API, completes or fails, and commits likewise.
STEPS = {PAGE_FUNCTION: 4, PROCESSOR_FUNCTION: 4}

# Small parameter sets, listed simplest first (Hypothesis shrinks towards the first).
# A Stall's and a Delay's lengths are relative to the scenario's lease and emit grace
# (_stall_seconds, _delay_seconds): a fixed list is past a short lease and short of a long one.
FIXED_STALL_SECONDS = 90.0  # wakes between ticks, after the first one
PAST_EVERY_LEASE_SECONDS = 700.0  # past every lease the settings can draw, and a few ticks more
DUPLICATE_DELAYS = (0.0, 5.0, 45.0)
# Inside the first retry wait (backoff base 10 s, Retry-After 1 or 30 s), and past it.
COPY_IN_BACKOFF_DELAYS = (5.0, 20.0, 45.0)
COPY_PAST_WAIT_ONE_IN = 4  # copies that land after the wait instead (the item is due again)
API_KINDS = ("server_error", "rate_limit", "timeout")
# Within the first backoff, past it, and past a sweeper tick (so the retry wait straddles a sweep).
API_RETRY_AFTER = (1.0, 30.0, 90.0)
# Every fault kind the swarm can enable, simplest first; RestartServer only where it can run.
RULE_KINDS = (
    "Duplicate",
    "Drop",
    "Delay",
    "Crash",
    "Stall",
    "CallerTimeout",
    "KillConnection",
    "ApiFaults",
    "SlowSteps",
    "BatchResend",
    "BatchTimeout",
    "Pause",
    "Early",
)
# Kinds that need a server the harness can restart (the embedded one).
RESTART_KINDS = ("RestartServer", "CleanRestart")
RESTART_KIND = "RestartServer"
# What faults a search draws: `supabase` (the default) is what production on Supabase can do;
# pg_net sends a request only after its transaction commits, so `Early` is left out there.
FAULT_SETS = {"supabase": False, "all": True}  # name -> whether Early is drawn
SLOW_STEP_SECONDS = (0.0, 120.0, 300.0)  # 0: to the next timer; else past a lease that long
BATCH_RESEND_DELAYS = (1.0, 30.0)
# A Pause stops a function's statement at one of its pause points. Which steps have a statement
# and how many points each has depends on the pipeline: both are learned from the runs
# (harness.explore.points) and drawn uniformly over what was seen.
# Multiples of the sweep interval: a pause that must last this long comes due at the instant of a
# sweeper tick, so the schedule can let it go on in the middle of what that tick sets off (a
# lease rescued, the item claimed again).
PAUSE_SECONDS = (0.0, 60.0, 120.0, 180.0)
PAUSE_AFTER_STEPS = (None, 2, 4, 8, 16)  # None: the schedule chooses when it goes on
SWEEP_RUNS = 6  # the sweeper runs a Pause may aim at
# Kinds that end an attempt (a sequence of them on one item exhausts its attempts).
BREAKING_KINDS = ("Crash", "Stall", "KillConnection", "ApiFaults")
GROUPS = (
    "single",
    "sequence",
    "neighbours",
    "overlap",
    "copy-in-backoff",
    "late-failure",
    "losses",
)
COMBINATIONS = GROUPS[1:]  # the groups of more than one rule
# The kinds each combination needs (a sequence: any one of them).
GROUP_NEEDS = {
    "sequence": BREAKING_KINDS,
    "neighbours": ("Stall",),
    "overlap": ("Stall", "Duplicate"),
    "copy-in-backoff": ("ApiFaults", "Duplicate"),
    "late-failure": ("Stall", "ApiFaults"),
    "losses": ("Drop", "Delay"),
}
# Kinds that lose a delivery or make it late (a losses group: any one of them).
LOSS_KINDS = ("Drop", "Delay")
# The groups that need only one of the kinds GROUP_NEEDS lists.
ANY_ONE_OF = ("sequence", "losses")
MAX_LOSSES = 3
FAULT_FREE_ONE_IN = 8
MAX_SEQUENCE = 5
# Settings a scenario may change, each with its choices, the reference's default first.
SETTING_CHOICES: dict[str, tuple[float, ...]] = {
    "max_attempts": (5, 1, 2, 3, 4),
    "page_lease_seconds": (120, 30, 60, 300),
    "thread_lease_seconds": (60, 20, 120),
    # Below the sweep interval (the sweeper re-sends at every tick) and one to three ticks above
    # it (a tick must skip a row whose re-send is younger than the grace).
    "emit_grace_seconds": (30, 5, 90, 120, 180),
}
PLACEHOLDER_NAME = "explore"


def fault_kinds(*, early: bool, restart: bool) -> tuple[str, ...]:
    """Every fault kind a search with these options can draw."""
    kinds = RULE_KINDS + (RESTART_KINDS if restart else ())
    return tuple(k for k in kinds if early or k != "Early")


def pages_of(threads: int, page_size: int) -> int:
    """How many pages the source serves (an empty source still serves one empty page)."""
    return max(1, math.ceil(threads / page_size))


def deliveries_of(function: str, threads: int, page_size: int) -> int:
    """How many first deliveries `function` gets in a fault-free run of this dataset."""
    return pages_of(threads, page_size) if function == PAGE_FUNCTION else threads


# ---------------------------------------------------------------------------------------------
# Data and settings


# One scenario in QUIRK_ONE_IN serves a source with quirks (fakeapi.Quirks): threads without
# `updated_at`, threads listed twice; off (the first values) shrinks first.
QUIRK_ONE_IN = 4
MAX_REPEATS = 3
UNDATED_RESYNC_AT = 90.0  # after a fault-free first job: its writes stand when the next ones come


@st.composite
def datasets(draw: st.DrawFn, max_threads: int = 12) -> Dataset:
    """Fake-API data: seed 0..3, 0..max_threads threads (0: an empty source), 2..6 a page;
    sometimes some threads undated and some listed twice."""
    seed = draw(st.integers(0, 3))
    threads = draw(st.integers(0, max_threads))
    page_size = draw(st.integers(2, 6))
    quirky = draw(st.integers(0, QUIRK_ONE_IN - 1)) == QUIRK_ONE_IN - 1
    undated = min(threads, draw(st.integers(1, max(1, max_threads))))
    repeats = min(threads, draw(st.integers(0, MAX_REPEATS)))
    if not quirky:
        undated = repeats = 0
    return Dataset(seed, threads, page_size, undated=undated, repeats=repeats)


# One scenario in FEW_ATTEMPTS_ONE_IN (besides those whose drawn settings do) allows 1..3 attempts,
# so that a fault or two dead-letters an item through its handler's fail_* path.
FEW_ATTEMPTS_ONE_IN = 4
FEW_ATTEMPTS = (1, 2, 3)
# Likewise one in LONG_GRACE_ONE_IN has an emit grace above the sweep interval: with a grace at
# most the interval every tick re-sends a waiting row, so how a sweep spaces its re-sends (and a
# row's emit_after) is never put to the test. About half the scenarios then have one.
LONG_GRACE_ONE_IN = 4


@st.composite
def scenario_settings(draw: st.DrawFn) -> dict[str, float]:
    """Usually the defaults; else some settings changed (only the changed ones are kept)."""
    changed = draw(st.booleans())
    out: dict[str, float] = {}
    for name, choices in SETTING_CHOICES.items():
        value = draw(st.sampled_from(choices)) if changed else choices[0]
        if value != choices[0]:
            out[name] = value
    if draw(st.integers(0, FEW_ATTEMPTS_ONE_IN - 1)) == FEW_ATTEMPTS_ONE_IN - 1:
        out["max_attempts"] = draw(st.sampled_from(FEW_ATTEMPTS))
    if draw(st.integers(0, LONG_GRACE_ONE_IN - 1)) == LONG_GRACE_ONE_IN - 1:
        out["emit_grace_seconds"] = draw(st.sampled_from(_long_graces()))
    return out


def _long_graces() -> tuple[float, ...]:
    """The emit grace choices above the sweep interval."""
    return tuple(g for g in SETTING_CHOICES["emit_grace_seconds"] if g > SWEEP_INTERVAL)


# ---------------------------------------------------------------------------------------------
# Rules


class _Shape:
    """What a rule may aim at in this scenario: which functions, how many deliveries each."""

    def __init__(
        self,
        threads: int,
        page_size: int,
        restart: bool,
        points: PausePoints | None = None,
        settings: dict[str, float] | None = None,
        counts: Mapping[str, int] | None = None,
    ) -> None:
        self.threads = threads
        self.pages = pages_of(threads, page_size)
        self.functions = FUNCTIONS if threads > 0 else (PAGE_FUNCTION,)
        self.deliveries = {f: deliveries_of(f, threads, page_size) for f in FUNCTIONS}
        self.restart = restart
        self.points = points if points is not None else PausePoints()
        self.settings = settings or {}
        # Runs so far that reached each situation, combination and race feature (the corpus').
        self.counts: Mapping[str, int] = counts or {}

    def lease(self, function: str) -> float:
        """The lease a claim by `function` gets in this scenario (its settings, else default)."""
        name = "page_lease_seconds" if function == PAGE_FUNCTION else "thread_lease_seconds"
        return float(self.settings.get(name, SETTING_CHOICES[name][0]))

    def kinds(self) -> tuple[str, ...]:
        return RULE_KINDS + (RESTART_KINDS if self.restart else ())


def _api_call(draw: st.DrawFn, index: int, kind: str | None = None) -> tuple[int, str, float]:
    return (
        index,
        kind or draw(st.sampled_from(API_KINDS)),
        draw(st.sampled_from(API_RETRY_AFTER)),
    )


def _rule(draw: st.DrawFn, kind: str, function: str, occurrence: int, shape: _Shape) -> Rule:
    """One rule of `kind` aimed at the `occurrence`-th delivery of `function`."""
    m: dict[str, Any] = {"function": function, "occurrence": occurrence}
    step = st.integers(0, STEPS[function] - 1)
    if kind == "Duplicate":
        copies = draw(st.integers(1, 2))
        delays = tuple(draw(st.sampled_from(DUPLICATE_DELAYS)) for _ in range(copies))
        return Duplicate(**m, copies=copies, extra_delays=delays)
    if kind == "Drop":
        return Drop(**m)
    if kind == "Delay":
        return Delay(**m, seconds=draw(st.sampled_from(_delay_seconds(shape))))
    if kind == "Crash":
        return Crash(**m, at_step=draw(step))
    if kind == "Stall":
        seconds = draw(st.sampled_from(_stall_seconds(shape, function)))
        return Stall(**m, at_step=draw(step), seconds=seconds)
    if kind == "CallerTimeout":
        return CallerTimeout(**m, after_steps=draw(step))
    if kind == "KillConnection":
        return KillConnection(**m, at_step=draw(step))
    if kind == "Early":
        return Early(**m)
    if kind == "ApiFaults":
        # The page worker calls fetch_page once per page attempt, in page order; the processor
        # calls fetch_thread once per entry attempt.
        if function == PROCESSOR_FUNCTION:
            call = _api_call(draw, min(occurrence, shape.threads + 1))
            return ApiFaults(calls=(call,), function=FETCH_THREAD)
        return ApiFaults(calls=(_api_call(draw, min(occurrence, shape.pages + 1)),))
    if kind == "SlowSteps":
        return SlowSteps(
            times=draw(st.integers(1, 3)), seconds=draw(st.sampled_from(SLOW_STEP_SECONDS))
        )
    if kind == "BatchResend":
        return BatchResend(
            batch=draw(st.integers(0, 3)), delay=draw(st.sampled_from(BATCH_RESEND_DELAYS))
        )
    if kind == "BatchTimeout":
        return BatchTimeout(batch=draw(st.integers(0, 3)), after_steps=draw(st.integers(0, 3)))
    if kind == "Pause":
        # Now and then the sweeper instead of the delivery (last, so shrinking leaves it).
        if draw(st.integers(0, len(shape.functions))) == len(shape.functions):
            function, occurrence = SWEEPER, draw(st.integers(0, SWEEP_RUNS - 1))
            seconds = draw(st.sampled_from(PAUSE_SECONDS))
        else:
            seconds = draw(st.sampled_from(_pause_seconds(shape, function)))
        past = function != SWEEPER and seconds >= _past_lease(shape, function)
        return _pause(
            draw,
            shape,
            function,
            occurrence,
            seconds=seconds,
            after=PAST_LEASE_AFTER_STEPS if past else PAUSE_AFTER_STEPS,
        )
    if kind in RESTART_KINDS:
        restart = CleanRestart if kind == "CleanRestart" else RestartServer
        if kind == RESTART_KIND and draw(st.booleans()):
            # As soon as requests wait in pg_net's queue: a crash then loses them.
            return RestartServer(queued=draw(st.integers(1, 4)))
        return restart(after_delivery=draw(st.integers(0, shape.pages + shape.threads)))
    raise ValueError(f"unknown fault kind {kind!r}")


# A choice among what was learned so far is drawn as a number in a fixed range, then taken modulo
# the choices: Hypothesis requires the same draws for the same prefix of choices, and what was
# learned changes between runs.
LEARNED_RANGE = 1024


def _learned_index(draw: st.DrawFn, n: int) -> int:
    """An index in 0..n-1 among choices learned from the runs (n may change from run to run).
    Scrambled, as in _recipe_name: Hypothesis draws small numbers far more often than others,
    which made the first point of every statement (before it has read anything) the usual one;
    0 still maps to 0, so shrinking still ends there."""
    raw = draw(st.integers(0, LEARNED_RANGE - 1))
    return (raw * SCRAMBLE) % LEARNED_RANGE % max(1, n)


def _rarest_statement(draw: st.DrawFn, shape: _Shape, statements: tuple[str, ...]) -> int:
    """Which of the statements a step was seen to run a race aims at (len(statements): all of
    them together), weighted by 1 / (1 + runs that paused it): a statement only some runs
    reach (a failure path, after the API failed) was drawn as often as the usual one, with
    the usual one's long range, so its few points were mostly missed and it was rarely ever
    paused (per-run logs: a thread's failure path never paused in 150 runs). Together, as
    often as the least paused one. One number in a fixed range; 0 maps to the first."""
    weights = [
        max(1, LEARNED_RANGE // (1 + shape.points.paused(name, shape.counts)))
        for name in statements
    ]
    weights.append(min(weights, default=LEARNED_RANGE))
    return _weighted_index(draw, weights)


def _weighted_index(draw: st.DrawFn, weights: list[int]) -> int:
    """An index drawn with these weights (the last one if the draw runs past them all), as one
    number in a fixed range, scrambled so small draws spread; 0 still maps to the first."""
    x = (draw(st.integers(0, LEARNED_RANGE - 1)) * SCRAMBLE) % LEARNED_RANGE * sum(weights)
    x //= LEARNED_RANGE  # scaled, not a modulo: the sum may pass the range
    for i, w in enumerate(weights):
        if x < w:
            return i
        x -= w
    return len(weights) - 1


def _unraced_point(
    draw: st.DrawFn, shape: _Shape, function: str, step: int
) -> tuple[int, str | None]:
    """A point that must stop (PausePoints.known), weighted by 1 / (1 + runs that went through
    a whole race there): once a point's race has been run through (usually the first point,
    before the statement has read anything, where the race is harmless), the draws go to the
    points whose race no run has completed yet. Drawn as one number in a fixed range; 0 still
    maps to the first point, so shrinking ends there.

    The range is that of one statement the step was seen to stop in (or, as often as any one
    of them, of them all): a step that runs a long statement on one path and a short one on
    another (a completion, or a failure after the API failed) would otherwise draw the short
    one's points past its end most of the time. Also says which statement (None: all)."""
    statements = shape.points.statements(function, step)
    which = _rarest_statement(draw, shape, statements)
    statement = statements[which] if which < len(statements) else None
    if statement is not None:
        n = shape.points.path_points(function, step, statement)
    else:
        n = shape.points.known(function, step)
    weights = [
        max(1, LEARNED_RANGE // (1 + shape.points.raced(function, step, p, shape.counts)))
        for p in range(n)
    ]
    return _weighted_index(draw, weights), statement


def _pause(
    draw: st.DrawFn,
    shape: _Shape,
    function: str,
    occurrence: int,
    *,
    seconds: float,
    after: tuple[int | None, ...],
) -> Pause:
    """A Pause of `function`'s `occurrence`-th run at a step that has a statement and one of
    that statement's pause points, both as learned so far, or in the margin past them (the
    sweeper has one step)."""
    at_step = _pause_step(draw, shape, function, None)
    at_point = _learned_index(draw, shape.points.bound(function, at_step))
    return _paused(draw, function, occurrence, at_step, at_point, seconds, after)


def _race_pause(
    draw: st.DrawFn,
    shape: _Shape,
    function: str,
    occurrence: int,
    *,
    seconds: float,
    after: tuple[int | None, ...],
    steps: tuple[int, ...] | None = None,
) -> tuple[Pause, str | None]:
    """A Pause at one of `steps` (default: as _pause) only at points some run stopped at (once
    one did): a race needs its pause to stop, and the margin past the points seen is for the
    plain Pause rules to explore. Also the statement its point was drawn for (None: the step's
    statements together)."""
    at_step = _pause_step(draw, shape, function, steps)
    at_point, statement = _unraced_point(draw, shape, function, at_step)
    return _paused(draw, function, occurrence, at_step, at_point, seconds, after), statement


def _pause_step(
    draw: st.DrawFn, shape: _Shape, function: str, steps: tuple[int, ...] | None
) -> int:
    if steps is None:
        steps = (0,) if function == SWEEPER else shape.points.steps(function, STEPS[function])
    return steps[_learned_index(draw, len(steps))]


def _paused(
    draw: st.DrawFn,
    function: str,
    occurrence: int,
    at_step: int,
    at_point: int,
    seconds: float,
    after: tuple[int | None, ...],
) -> Pause:
    return Pause(
        function=function,
        occurrence=occurrence,
        at_step=at_step,
        at_point=at_point,
        resume_after_steps=draw(st.sampled_from(after)),
        seconds=seconds,
    )


def _target(draw: st.DrawFn, shape: _Shape) -> tuple[str, int]:
    function = draw(st.sampled_from(shape.functions))
    return function, draw(st.integers(0, max(1, shape.deliveries[function]) - 1))


@st.composite
def _single(draw: st.DrawFn, kinds: tuple[str, ...], shape: _Shape) -> tuple[Rule, ...]:
    kind = draw(st.sampled_from(kinds))
    function, occurrence = _target(draw, shape)
    return (_rule(draw, kind, function, occurrence, shape),)


@st.composite
def _sequence(draw: st.DrawFn, kinds: tuple[str, ...], shape: _Shape) -> tuple[Rule, ...]:
    """Broken attempts on one item, one after another: enough of them dead-letter it."""
    breaking = tuple(k for k in kinds if k in BREAKING_KINDS)
    if not breaking:
        return draw(_single(kinds, shape))
    length = draw(st.integers(2, MAX_SEQUENCE))
    api = draw(st.sampled_from(breaking)) == "ApiFaults"
    if api:  # API calls are made by page attempts: aim at a page
        function, first = PAGE_FUNCTION, draw(st.integers(0, shape.pages - 1))
    else:
        function, first = _target(draw, shape)
    if api or function == PAGE_FUNCTION:
        # Pages run one after another, so a page's retries are the next page deliveries and
        # the next API calls: consecutive occurrences all break the same page.
        occurrences = [first + i for i in range(length)]
    else:
        # A thread's retry comes after the first delivery of every thread of the job.
        occurrences = [first] + [shape.threads + i for i in range(length - 1)]
    if api and draw(st.booleans()):
        return (ApiFaults(calls=tuple(_api_call(draw, o) for o in occurrences)),)
    rules: list[Rule] = []
    for occurrence in occurrences:
        kind = draw(st.sampled_from(breaking))
        if kind == "ApiFaults":
            rules.append(ApiFaults(calls=(_api_call(draw, occurrence),)))
        else:
            rules.append(_rule(draw, kind, function, occurrence, shape))
    return tuple(rules)


@st.composite
def _neighbours(draw: st.DrawFn, kinds: tuple[str, ...], shape: _Shape) -> tuple[Rule, ...]:
    """A long stall of one item, then another fault on the next one (rate limits by default)."""
    if "Stall" not in kinds:
        return draw(_single(kinds, shape))
    kind = draw(st.sampled_from(kinds))
    if kind == "ApiFaults":  # a stalled page, and the API limiting the next page's fetches
        function, occurrence = PAGE_FUNCTION, draw(st.integers(0, shape.pages - 1))
    else:
        function, occurrence = _target(draw, shape)
    stall = Stall(
        function=function,
        occurrence=occurrence,
        at_step=draw(st.integers(0, STEPS[function] - 1)),
        seconds=draw(st.sampled_from(_stall_seconds(shape, function)[-3:])),  # past the lease
    )
    nxt = occurrence + 1
    if kind == "ApiFaults":
        calls = tuple(
            _api_call(draw, nxt + i, "rate_limit") for i in range(draw(st.integers(1, 3)))
        )
        api = FETCH_THREAD if function == PROCESSOR_FUNCTION else FETCH_PAGE
        return (stall, ApiFaults(calls=calls, function=api))
    return (stall, _rule(draw, kind, function, nxt, shape))


@st.composite
def _overlap(draw: st.DrawFn, kinds: tuple[str, ...], shape: _Shape) -> tuple[Rule, ...]:
    """One request delivered twice while the original stalls mid-handler: the two invocations
    overlap, which is how a duplicate webhook meets a worker that has not finished."""
    if "Stall" not in kinds or "Duplicate" not in kinds:
        return draw(_single(kinds, shape))
    function, occurrence = _target(draw, shape)
    m: dict[str, Any] = {"function": function, "occurrence": occurrence}
    return (
        Duplicate(**m, copies=1, extra_delays=(0.0,)),
        Stall(
            **m,
            at_step=draw(st.integers(1, STEPS[function] - 1)),
            seconds=draw(st.sampled_from(_stall_seconds(shape, function))),
        ),
    )


@st.composite
def _copy_in_backoff(draw: st.DrawFn, kinds: tuple[str, ...], shape: _Shape) -> tuple[Rule, ...]:
    """An attempt the API fails, and a copy of its webhook that arrives while the item waits for
    its retry (a backoff or a Retry-After): the copy must be refused until the item is due."""
    if "ApiFaults" not in kinds or "Duplicate" not in kinds:
        return draw(_single(kinds, shape))
    function, occurrence = _target(draw, shape)
    return draw(_copy_in_wait(function, occurrence, shape))


@st.composite
def _copy_in_wait(
    draw: st.DrawFn, function: str, occurrence: int, shape: _Shape
) -> tuple[Rule, ...]:
    """The copy-in-backoff group's rules for the `occurrence`-th delivery of `function`."""
    if function == PROCESSOR_FUNCTION:
        # Processors call the API in the schedule's order, not in delivery order: every
        # first-round call fails, so the attempt the copy belongs to is sure to wait.
        _, kind, retry_after = _api_call(draw, 0)
        calls = tuple((i, kind, retry_after) for i in range(shape.threads))
        api = ApiFaults(calls=calls, function=FETCH_THREAD)
    else:
        call = _api_call(draw, min(occurrence, shape.pages + 1))
        _, kind, retry_after = call
        api = ApiFaults(calls=(call,))
    # The copy lands inside the wait the fault asked for (a Retry-After, else the first backoff)
    # in three draws of four, and after it in the fourth: drawn over all the delays, it landed
    # past a short wait in most draws and met an item that was already due.
    wait = retry_after if kind == "rate_limit" else 0.0
    inside = tuple(d for d in COPY_IN_BACKOFF_DELAYS if d < wait) or COPY_IN_BACKOFF_DELAYS[:1]
    past = draw(st.integers(0, COPY_PAST_WAIT_ONE_IN - 1)) == COPY_PAST_WAIT_ONE_IN - 1
    delay = draw(st.sampled_from(inside))
    copy = Duplicate(
        function=function,
        occurrence=occurrence,
        copies=1,
        extra_delays=(
            max(COPY_IN_BACKOFF_DELAYS[-1], wait + COPY_IN_BACKOFF_DELAYS[0]) if past else delay,
        ),
    )
    return (api, copy)


@st.composite
def _copy_in_unwaited(draw: st.DrawFn, shape: _Shape) -> tuple[Rule, ...]:
    """The copy-in-backoff group aimed at a function whose deliveries claimed in earlier runs
    but never while their item waited out a retry (coverage.wait_features), else at any: a wait
    reached through one function's claim says nothing of another's. Drawn as numbers in fixed
    ranges, whatever was learned."""
    unwaited = tuple(
        f
        for f in shape.functions
        if shape.counts.get(coverage.CLAIMS + f) and not shape.counts.get(coverage.WAITED + f)
    )
    functions = unwaited or shape.functions
    function = functions[_learned_index(draw, len(functions))]
    occurrence = _learned_index(draw, max(1, shape.deliveries[function]))
    return draw(_copy_in_wait(function, occurrence, shape))


@st.composite
def _late_failure(draw: st.DrawFn, kinds: tuple[str, ...], shape: _Shape) -> tuple[Rule, ...]:
    """A worker stalled before its API call until the sweeper tick that rescues its item, whose
    call then fails: its failure report meets the item claimed again by the webhook that sweep
    re-sent (woken later, it would find the item finished; woken sooner, not yet rescued)."""
    if "Stall" not in kinds or "ApiFaults" not in kinds:
        return draw(_single(kinds, shape))
    function, occurrence = _target(draw, shape)
    stall = Stall(
        function=function,
        occurrence=occurrence,
        at_step=1,
        seconds=_past_lease(shape, function),
    )
    # The stalled worker's call comes after every other first call: pages run one after
    # another (the stalled page's call is the next one), threads all at once. The re-claim's
    # call follows it, or comes first: both may fail.
    first = occurrence if function == PAGE_FUNCTION else max(0, shape.threads - 1)
    calls = tuple(_api_call(draw, first + i) for i in range(draw(st.integers(1, 2))))
    api = FETCH_PAGE if function == PAGE_FUNCTION else FETCH_THREAD
    return (stall, ApiFaults(calls=calls, function=api))


def _late_seconds(shape: _Shape, resent: bool) -> tuple[float, ...]:
    """How late a late delivery of a losses group arrives. The creation webhook (sent at about
    0): at the sweeper's first re-send (the two race for the claim), just after it (inside the
    retry wait of a re-send that failed), and past the next tick. A re-send (sent at a tick): a
    little (inside such a wait), past the next tick (the row still waits there), and past the
    re-send after that (the reference's next one)."""
    resend = _resend_tick(shape)
    if not resent:
        return (resend, resend + 5.0, resend + SWEEP_INTERVAL + 10.0)
    return tuple(dict.fromkeys((5.0, SWEEP_INTERVAL + 10.0, max(resend, SWEEP_INTERVAL) + 10.0)))


@st.composite
def _losses(draw: st.DrawFn, kinds: tuple[str, ...], shape: _Shape) -> tuple[Rule, ...]:
    """Consecutive deliveries of one item lost or late: its creation webhook and the sweeper's
    re-sends of it. Each loss keeps the row waiting past another sweeper tick (a re-send must
    then wait out the emit grace again). Now and then the API fails an attempt of the item: the
    one that gets through (a late copy then lands while it waits out its retry), or, for a page,
    its first one (the re-sends of its retry are the ones lost)."""
    lossy = tuple(k for k in kinds if k in LOSS_KINDS)
    if not lossy:
        return draw(_single(kinds, shape))
    function, first = _target(draw, shape)
    length = draw(st.integers(2, MAX_LOSSES))
    api = "ApiFaults" in kinds and draw(st.booleans())
    failed_first = api and function == PAGE_FUNCTION and draw(st.booleans())
    if function == PAGE_FUNCTION:
        # Pages run one after another: while a page is lost (or waits for its retry) no later
        # page exists, so the next page deliveries are its re-sends.
        start = first + 1 if failed_first else first
        occurrences = [start + i for i in range(length)]
    else:
        # A thread's re-send comes after the first delivery of every thread of the job.
        occurrences = [first] + [shape.threads + i for i in range(length - 1)]
    m: dict[str, Any] = {"function": function}
    rules: list[Rule] = []
    for i, occurrence in enumerate(occurrences):
        if draw(st.sampled_from(lossy)) == "Drop":
            rules.append(Drop(**m, occurrence=occurrence))
        else:
            seconds = draw(st.sampled_from(_late_seconds(shape, resent=failed_first or i > 0)))
            rules.append(Delay(**m, occurrence=occurrence, seconds=seconds))
    if api:
        # Pages call the API one attempt at a time, so the page's first attempt (the first
        # delivery, or the first to get through) makes call `first`; processors call in the
        # schedule's order, so every first-round call fails.
        _, kind, retry_after = _api_call(draw, 0)
        if function == PAGE_FUNCTION:
            rules.append(ApiFaults(calls=((first, kind, retry_after),)))
        else:
            calls = tuple((i, kind, retry_after) for i in range(shape.threads))
            rules.append(ApiFaults(calls=calls, function=FETCH_THREAD))
    return tuple(rules)


_GROUP_STRATEGIES = {
    "single": _single,
    "sequence": _sequence,
    "neighbours": _neighbours,
    "overlap": _overlap,
    "copy-in-backoff": _copy_in_backoff,
    "late-failure": _late_failure,
    "losses": _losses,
}


@st.composite
def swarm(draw: st.DrawFn, kinds: tuple[str, ...]) -> tuple[str, ...]:
    """The fault kinds this scenario enables: each kind on or off with even odds."""
    return tuple(k for k in kinds if draw(st.booleans()))


@st.composite
def fault_plans_for(
    draw: st.DrawFn,
    threads: int,
    page_size: int,
    *,
    max_rules: int = 4,
    early: bool = True,
    restart: bool = False,
    points: PausePoints | None = None,
    settings: dict[str, float] | None = None,
) -> FaultPlan:
    """A swarm plan for this dataset: up to `max_rules` groups drawn from the enabled kinds
    (pause points as `points` has learned them; leases as `settings` set them)."""
    shape = _Shape(threads, page_size, restart, points, settings)
    # Some runs without faults (the schedule alone can break a pipeline). Not at 0, which
    # Hypothesis draws far more often than 1 in 8; the shrinker still reaches a fault-free plan
    # by turning every kind off.
    if draw(st.integers(0, FAULT_FREE_ONE_IN - 1)) == FAULT_FREE_ONE_IN // 2:
        return FaultPlan()
    every_kind = tuple(k for k in shape.kinds() if early or k != "Early")
    # The combinations are members of the swarm too, each with the weight of a kind, so a group
    # is not drowned by the kinds nor lost when the swarm leaves out one of the kinds it needs.
    # A group draws from the kinds that are on plus the ones it needs, so the swarm still
    # focuses it (a sequence of lease expiries only, when no API fault is on).
    enabled = draw(swarm(every_kind + COMBINATIONS))
    if not enabled:
        return FaultPlan()

    def group_kinds(group: str) -> tuple[str, ...]:
        need = GROUP_NEEDS[group]
        if group in ANY_ONE_OF and any(k in enabled for k in need):
            need = ()  # a sequence needs one breaking kind, any of them; losses one loss kind
        return tuple(k for k in every_kind if k in enabled or k in need)

    member = st.sampled_from(enabled).flatmap(
        lambda m: (
            _GROUP_STRATEGIES[m](group_kinds(m), shape)
            if m in _GROUP_STRATEGIES
            else _single((m,), shape)
        )
    )
    groups = draw(st.lists(member, min_size=1, max_size=max_rules))
    return FaultPlan(tuple(rule for g in groups for rule in g))


def fault_rules(
    *, early: bool = True, restart: bool = False, threads: int = 12, page_size: int = 4
) -> st.SearchStrategy[Rule]:
    """One rule of any enabled kind, with equal weight per kind (no swarm, no groups)."""
    shape = _Shape(threads, page_size, restart)
    kinds = tuple(k for k in shape.kinds() if early or k != "Early")
    return _single(kinds, shape).map(lambda rules: rules[0])


def fault_plans(
    max_rules: int = 4,
    *,
    early: bool = True,
    restart: bool = False,
    threads: int = 12,
    page_size: int = 4,
) -> st.SearchStrategy[FaultPlan]:
    """Swarm plans for a fixed dataset shape (see fault_plans_for)."""
    return fault_plans_for(threads, page_size, max_rules=max_rules, early=early, restart=restart)


def schedules(max_choices: int = 60) -> st.SearchStrategy[Schedule]:
    """A schedule: a short explicit prefix of choices, then a seeded strategy (uniform random
    or PCT) for the rest. Hypothesis mutates and shrinks the prefix; the seed reaches the deep
    interleavings a short list cannot, and the run's recorded choices replay it exactly."""
    return st.builds(
        Schedule,
        strategy=st.sampled_from(("random", "pct")),
        seed=st.integers(0, 2**16),
        choices=st.lists(st.integers(0, 7), max_size=max_choices).map(tuple),
        pct_depth=st.integers(2, 3),
    )


# ---------------------------------------------------------------------------------------------
# The corpus: small fault plans known to reach the rarest situations, mixed into a share of the
# scenarios (on top of their swarm plan) so a short exploration reaches them too. Static, so the
# draws stay deterministic and shrinkable.

RECIPE_ONE_IN = 3
# A share of the scenarios are variations of a run the search kept (harness.explore.corpus).
CORPUS_ONE_IN = 3


def _sweep_interval() -> float:
    """The engine's sweeper interval (a run's sweeper ticks once per interval)."""
    default = RunConfig.__dataclass_fields__["sweep_interval"].default
    assert isinstance(default, float)
    return default


SWEEP_INTERVAL = _sweep_interval()
# When a worker paused past its lease goes on: once the tick's sweep and a re-claim had their
# steps (a sweep's invoke and statement, a worker's invoke, claim, fetch and finish: 6 steps of
# the handler contract), or when the schedule says. 2 or 4 would let it go on before anyone
# raced it, and the schedule is offered the pause at every step, so it mostly lets it go on at
# once: the fixed counts come first and outnumber it.
PAST_LEASE_AFTER_STEPS = (8, 16, 32, None)


def _past_lease(shape: _Shape, function: str) -> float:
    """Long enough for the lease of a claim made at the start of the pause to run out, and for
    the sweeper tick after that to come due (the tick that rescues the item)."""
    return shape.lease(function) + SWEEP_INTERVAL


def _pause_seconds(shape: _Shape, function: str) -> tuple[float, ...]:
    """How long a worker's Pause lasts, relative to this scenario's lease (a fixed list is past
    a short lease and short of a long one): no wait, one sweep interval, past the lease and the
    tick that rescues it, and one interval more (the re-claim then has time to finish)."""
    past = _past_lease(shape, function)
    return (0.0, SWEEP_INTERVAL, past, past + SWEEP_INTERVAL)


def _stall_seconds(shape: _Shape, function: str) -> tuple[float, ...]:
    """How long a Stall lasts: a little (within every lease); 90 s (past the first tick, short
    of the default leases: the tick meets a live lease); and relative to this scenario's lease: to
    the lease's end exactly (a claim at a tick instant expires at a later tick, where
    the sweep meets its worker waking); past the lease and the tick that rescues it (the worker
    wakes at that tick, so the schedule interleaves its steps with the sweep's and the re-claim's);
    one interval more (the re-claim has finished); and past every lease."""
    lease = shape.lease(function)
    past = _past_lease(shape, function)
    return (5.0, FIXED_STALL_SECONDS, lease, past, past + SWEEP_INTERVAL, PAST_EVERY_LEASE_SECONDS)


def _resend_tick(shape: _Shape) -> float:
    """The first sweeper tick that re-sends the webhook of an item queued at 0 and not claimed."""
    grace = float(
        shape.settings.get("emit_grace_seconds", SETTING_CHOICES["emit_grace_seconds"][0])
    )
    return math.ceil(grace / SWEEP_INTERVAL) * SWEEP_INTERVAL


def _delay_seconds(shape: _Shape) -> tuple[float, ...]:
    """How long a Delay holds a webhook back: a little; 45 s (between ticks); and relative to
    when the sweeper re-sends it: to the instant of the re-send (the late original and the
    sweeper's copy arrive together and race for the claim); and past the next tick (the copy
    has finished)."""
    resend = _resend_tick(shape)
    return (5.0, 45.0, resend, resend + SWEEP_INTERVAL + 10.0)


def _race_seconds(shape: _Shape, function: str) -> tuple[float, ...]:
    """How long a race recipe's pause lasts: to the tick that rescues the item (the worker goes
    on amid what that tick sets off: the re-sent webhook's claim, its fetch, its finish), or one
    interval more (the re-sent webhook has been delivered, claimed and finished by then, so the
    worker goes on only after the other finish: at the rescue tick alone it mostly went on
    before the re-claim had finished)."""
    past = _past_lease(shape, function)
    return (past, past + SWEEP_INTERVAL)


def _rescuing_sweeps(shape: _Shape, function: str) -> tuple[int, ...]:
    """The sweeper runs (0-based, one a sweep interval) at which a lease of `function` taken in
    the first intervals has run out: the runs that rescue it."""
    first = int(shape.lease(function) // SWEEP_INTERVAL)
    return (first, first + 1, first + 2)


def _race_steps(shape: _Shape, function: str) -> tuple[int, ...] | None:
    """The steps after the claim a race pauses at: those where a pause has stopped once one
    has (a step that only may have a statement, such as a commit that only some deliveries
    make, is for the plain Pause rules to try); before that, those at which some run's
    deliveries ran a statement (the per-run logs showed races aimed at an API call, or at a
    commit only early deliveries make, for the first 50 to 80 runs of an exploration); else
    those not known to lack a statement; else every step after the claim (a delivery whose
    claim was refused ends there, so a Pause aimed past it marks later steps as lacking one:
    the logs showed races drawn at the claim itself, where nothing can rescue the item)."""
    every = tuple(range(1, STEPS[function]))
    after_claim = tuple(s for s in shape.points.steps(function, STEPS[function]) if s > 0)
    stopped = tuple(s for s in after_claim if shape.points.reached.get((function, s)))
    ran = tuple(s for s in every if (function, s) in shape.points.ran)
    return stopped or ran or after_claim or every or None


def _clear_way(race: tuple[Rule, ...], others: tuple[Rule, ...]) -> tuple[Rule, ...]:
    """The swarm's rules a race recipe's rules are joined with: those that could also match a
    delivery the race aims at are left out. Per-run logs of explorations showed a race's
    worker crashed, cut off or stopped by another Pause at the same step before it reached the
    statement the race pauses, in most of the few runs that drew a race of a worker."""
    aimed = {
        (r.function, r.occurrence)
        for r in race
        if isinstance(r, (Pause, Stall)) and r.function not in (None, SWEEPER)
    }

    def hits(rule: Rule) -> bool:
        function = getattr(rule, "function", "")
        occurrence = getattr(rule, "occurrence", -1)
        if not hasattr(rule, "matches") or function == SWEEPER:
            return False
        return any(function in (None, f) and occurrence in (None, o) for f, o in aimed)

    return tuple(r for r in others if not hits(r))


def _item_race(draw: st.DrawFn, shape: _Shape, function: str, occurrence: int) -> tuple[Rule, ...]:
    """A worker stopped inside a statement past its lease (between what it read and what it
    writes): the sweeper rescues the item and another worker claims it while the first one
    goes on from what it read; in its completion, or in its failure path: the path the
    statement drawn is run on, when the runs showed it (a coin otherwise). The path was a coin
    alone, whatever statement the point was drawn for: per-run logs of a search (session 8's
    "one seed's rut") showed every page race of 365 runs on the failure path, and no page
    completion ever paused."""
    pause, statement = _race_pause(
        draw,
        shape,
        function,
        occurrence,
        seconds=draw(st.sampled_from(_race_seconds(shape, function))),
        after=PAST_LEASE_AFTER_STEPS,
        steps=_race_steps(shape, function),
    )
    # Both drawn whatever was learned: the same choices must make the same draws.
    coin = draw(st.booleans())
    kind = draw(st.sampled_from(API_KINDS))
    failure = shape.points.after_failure(function, pause.at_step, statement)
    if not (coin if failure is None else failure):
        return (pause,)
    # Inside its failure path: its API call fails first. Pages run one after another,
    # so the n-th page delivery's first attempt makes the n-th call of a fault-free run;
    # processors run at once and call in the schedule's order, so every first-round
    # call fails (aiming at the n-th call would mostly hit another thread's).
    calls: tuple[tuple[int, str, float], ...]
    if function == PAGE_FUNCTION:
        api, calls = FETCH_PAGE, ((occurrence, kind, 0.0),)
    else:
        api, calls = FETCH_THREAD, tuple((i, kind, 0.0) for i in range(shape.threads))
    return (pause, ApiFaults(calls=calls, function=api))


@st.composite
def _recipe(draw: st.DrawFn, name: str, shape: _Shape, early: bool) -> tuple[Rule, ...]:
    if name == "blocked-on-lock":
        occurrence = draw(st.integers(0, max(1, shape.threads) - 1))
        if early and draw(st.booleans()):
            # An early delivery keeps the completing page worker's transaction (and the job
            # row's lock) open across steps; a processor of an earlier page completing waits.
            return (Early(function=PROCESSOR_FUNCTION, occurrence=occurrence),)
        # A processor paused inside a statement, holding the rows it locked: others wait.
        return (
            _pause(
                draw, shape, PROCESSOR_FUNCTION, occurrence, seconds=0.0, after=PAUSE_AFTER_STEPS
            ),
        )
    if name in ("paused-while-item-raced", "sweep-paused-while-finished"):
        function, occurrence = _target(draw, shape)
        if function == PAGE_FUNCTION and shape.pages > 1:
            # Not the last page: a page completed twice then leaves the job's counters wrong
            # for the pages after it, instead of failing their CHECK at once.
            occurrence = min(occurrence, shape.pages - 2)
        if name == "paused-while-item-raced":
            rules: tuple[Rule, ...] = _item_race(draw, shape, function, occurrence)
            # Now and then a worker of the other function races too, on an item of its own:
            # a race recipe was drawn in about one scenario in ten, and each run raced one of
            # four shapes (a page or a thread, completing or failing); racing two at once
            # gives each shape more runs without taking runs from the other recipes. Last,
            # so shrinking drops it.
            second = tuple(f for f in shape.functions if f != function)
            both: bool = bool(second) and draw(st.booleans())
            if both:
                other = second[0]
                nth = draw(st.integers(0, max(1, shape.deliveries[other]) - 1))
                if other == PAGE_FUNCTION and shape.pages > 1:
                    nth = min(nth, shape.pages - 2)
                rules += _item_race(draw, shape, other, nth)
            return rules
        # A worker stalled past its lease, and a sweep of a tick it may wake at stopped between
        # its snapshot and its writes while the worker completes.
        sweep = draw(st.sampled_from(_rescuing_sweeps(shape, function)))
        return (
            Stall(
                function=function,
                occurrence=occurrence,
                at_step=draw(st.integers(1, STEPS[function] - 1)),
                seconds=_past_lease(shape, function),
            ),
            _pause(draw, shape, SWEEPER, sweep, seconds=0.0, after=PAUSE_AFTER_STEPS),
        )
    if name == "early-found-no-row":
        function, occurrence = _target(draw, shape)
        return (Early(function=function, occurrence=occurrence),)
    if name == "retry-after-wait":
        call = draw(st.integers(0, shape.pages - 1))
        return (ApiFaults(calls=((call, "rate_limit", draw(st.sampled_from(API_RETRY_AFTER))),)),)
    if name == "claim-refused-held":
        return draw(_overlap(("Duplicate", "Stall"), shape))
    if name == "claim-in-retry-wait":
        return draw(_copy_in_unwaited(shape))
    if name == "restart-lost-requests" and shape.restart:
        return (RestartServer(after_delivery=draw(st.integers(1, shape.pages + shape.threads))),)
    if name == "re-send-lost-in-grace":
        # Reached only where the scenario's emit grace is above the sweep interval.
        return draw(_losses((*LOSS_KINDS, "ApiFaults"), shape))
    return ()


# Each recipe is named after the situation or combination (harness.coverage) it aims at; both
# pause recipes reach paused-mid-function too.
RECIPES = (
    "blocked-on-lock",
    "early-found-no-row",
    "retry-after-wait",
    "claim-refused-held",
    "restart-lost-requests",
    "paused-while-item-raced",
    "sweep-paused-while-finished",
    "claim-in-retry-wait",
    "re-send-lost-in-grace",
)
# Recipes that need a second item: another processor to wait, a page after the paused one.
TWO_ITEM_RECIPES = ("blocked-on-lock", "paused-while-item-raced", "sweep-paused-while-finished")


# A race recipe is weighted by the runs that reached a whole race of its kind (another worker
# finished the item, then the paused actor went on: coverage.race_features), not by the first
# claim raced, which far easier races (a paused claim) reach; and by how many shapes it spreads
# over (a page or a thread, in its completion or its failure path), so each shape gets as many
# runs as a single-shape recipe.
RECIPE_AIMS = {
    "paused-while-item-raced": coverage.ITEM_RACE,
    "sweep-paused-while-finished": coverage.SWEEP_RACE,
}
RECIPE_SHAPES = {"paused-while-item-raced": 4, "sweep-paused-while-finished": 2}


def aim(recipe: str) -> str:
    """The coverage name whose count decides how often `recipe` is chosen."""
    return RECIPE_AIMS.get(recipe, recipe)


def _aimed_count(recipe: str, counts: Mapping[str, int]) -> int:
    """The runs that reached what `recipe` aims at; for a race recipe, 0 while some function
    and point where a pause stopped (`paused:f@n`) has never been raced whole there
    (`resumed:f@n`): whole races at a harmless point (before the function read anything) must
    not take the weight from points not yet raced."""
    name = aim(recipe)
    if name in (coverage.ITEM_RACE, coverage.SWEEP_RACE):
        sweep = name == coverage.SWEEP_RACE
        for feature in counts:
            site = feature.removeprefix("paused:")
            if (
                site != feature
                and site.startswith("sweep@") == sweep
                and not counts.get("resumed:" + site)
            ):
                return 0
    if name == "claim-in-retry-wait" and _claim_not_waited(counts):
        return 0
    return counts.get(name, 0)


def _claim_not_waited(counts: Mapping[str, int]) -> bool:
    """Whether some function whose deliveries claimed (coverage.wait_features' `claims:f`)
    never claimed while its item waited out a retry (`waited:f`): a wait reached through a
    thread's claim must not take the weight from a page's."""
    return any(
        f.startswith(coverage.CLAIMS)
        and not counts.get(coverage.WAITED + f.removeprefix(coverage.CLAIMS))
        for f in counts
    )


WEIGHTED_RANGE = 2**24  # far more than the weights add up to, so the modulo spreads evenly
SCRAMBLE = 2654435761  # Knuth's multiplicative hash: neighbouring numbers land far apart


# One recipe in WEIGHTED_ONE_IN is chosen uniformly (0, what shrinking ends at), the others
# towards what was reached least.
WEIGHTED_ONE_IN = 4


def _recipe_name(draw: st.DrawFn, recipes: tuple[str, ...], counts: Mapping[str, int]) -> str:
    """A recipe: now and then uniformly, else weighted towards what the runs so far reached
    least (1 / (1 + runs that reached it)), so the search keeps aiming at what it has not
    reached yet. Drawn as two numbers in fixed ranges, whatever the counts."""
    weighted = draw(st.integers(0, WEIGHTED_ONE_IN - 1)) != 0
    # Scrambled: Hypothesis draws small numbers far more often than a uniform draw would.
    raw = (draw(st.integers(0, WEIGHTED_RANGE - 1)) * SCRAMBLE) % WEIGHTED_RANGE
    if not weighted or not counts:
        return recipes[raw % len(recipes)]
    # Whole-number weights and a modulo: Hypothesis draws small numbers more often than large
    # ones, so a share of the range would favour the first recipes.
    weights = [
        max(1, RECIPE_SHAPES.get(name, 1) * LEARNED_RANGE // (1 + _aimed_count(name, counts)))
        for name in recipes
    ]
    x = raw % sum(weights)
    for name, w in zip(recipes, weights, strict=True):
        if x < w:
            return name
        x -= w
    return recipes[-1]


@st.composite
def scenarios(
    draw: st.DrawFn,
    impl: str = DEFAULT_IMPL,
    *,
    max_threads: int = 12,
    max_rules: int = 4,
    max_choices: int = 60,
    early: bool = True,
    restart: bool = False,
    points: PausePoints | None = None,
    corpus: Corpus | None = None,
) -> Scenario:
    """Whole scenarios for `impl`, expecting a pass; explore() names the ones it saves.
    `points` is what the search has learned of the pipeline's pause points, and `corpus` the
    runs it kept for reaching something rare; explore() teaches both as it runs."""
    dataset = draw(datasets(max_threads))
    settings = draw(scenario_settings())
    faults = draw(
        fault_plans_for(
            dataset.threads,
            dataset.page_size,
            max_rules=max_rules,
            early=early,
            restart=restart,
            points=points,
            settings=settings,
        )
    )
    if draw(st.integers(0, RECIPE_ONE_IN - 1)) == RECIPE_ONE_IN // 2:
        recipes = tuple(
            r
            for r in RECIPES
            if (early or "early" not in r) and (restart or r != "restart-lost-requests")
        )
        # Every recipe is drawn and then one is chosen: which one depends on what the runs
        # reached so far, and Hypothesis requires the same draws for the same choices.
        counts = corpus.counts if corpus is not None else {}
        two_items = dataset
        if dataset.threads <= dataset.page_size:
            two_items = replace(dataset, threads=min(max_threads, 2 * dataset.page_size))
        drawn: dict[str, tuple[Dataset, tuple[Rule, ...]]] = {}
        for recipe in recipes:
            ds = two_items if recipe in TWO_ITEM_RECIPES else dataset
            shape = _Shape(ds.threads, ds.page_size, restart, points, settings, counts)
            drawn[recipe] = (ds, draw(_recipe(recipe, shape, early)))
        name = _recipe_name(draw, recipes, counts)
        dataset, rules = drawn[name]
        others = _clear_way(rules, faults.rules) if name in RECIPE_AIMS else faults.rules
        faults = FaultPlan(rules + others)
    schedule = draw(schedules(max_choices))
    syncs = draw(resyncs(dataset.threads))
    # Undated threads matter when a later sync rewrites them: half the time, one more sync then.
    redate = draw(st.booleans())
    redate_seed = draw(st.integers(0, 3))
    if dataset.undated and redate and not syncs:
        syncs = (Resync(at=UNDATED_RESYNC_AT, seed=redate_seed, updated=dataset.threads),)
    settings, syncs, faults = draw(_handler_dead_letter(dataset, settings, syncs, faults))
    # Drawn whether or not the corpus has entries yet, and after every other draw, so the same
    # choices always make the same draws whatever the corpus holds (Hypothesis requires it;
    # a variant returned before the schedule was drawn made explorations die with
    # FlakyStrategyDefinition). The variation itself is all in one drawn seed.
    from_corpus = draw(st.integers(0, CORPUS_ONE_IN - 1)) == CORPUS_ONE_IN // 2
    variant_seed = draw(st.integers(0, 2**32 - 1))
    if from_corpus and corpus is not None:
        variant = corpus.variant(variant_seed, points if points is not None else PausePoints())
        if variant is not None:
            return replace(variant, name=PLACEHOLDER_NAME, impl=impl)
    return Scenario(
        name=PLACEHOLDER_NAME,
        impl=impl,
        dataset=dataset,
        faults=faults,
        schedule=schedule,
        settings=settings,
        syncs=syncs,
    )


# ---------------------------------------------------------------------------------------------
# A dead letter by a handler (fail_page / fail_thread at its last attempt), often in a second job
# while the first one's rows stand: what a fault plan drawn rule by rule seldom lines up.

DEAD_LETTER_ONE_IN = 6
# With the first job (its items and the second's interleave), or after a fault-free first job
# has finished (sweeper ticks in between); simplest first.
SECOND_JOB_AT = (0.0, 180.0)


@st.composite
def _handler_dead_letter(
    draw: st.DrawFn,
    dataset: Dataset,
    settings: dict[str, float],
    syncs: tuple[Resync, ...],
    faults: FaultPlan,
) -> tuple[dict[str, float], tuple[Resync, ...], FaultPlan]:
    """Usually nothing changed; one in DEAD_LETTER_ONE_IN, 1..3 attempts and API faults on every
    attempt of one page or one thread, half the time with a further sync (whose job's items they
    aim at when it starts after the first job). Every value is drawn whatever is used
    (Hypothesis needs the same draws for the same choices)."""
    on = draw(st.integers(0, DEAD_LETTER_ONE_IN - 1)) == DEAD_LETTER_ONE_IN - 1
    attempts = draw(st.sampled_from(FEW_ATTEMPTS))
    thread = draw(st.booleans())
    second_job = draw(st.booleans())
    second_at = draw(st.sampled_from(SECOND_JOB_AT))
    item = draw(st.integers(0, 2**16))
    kinds = [draw(st.sampled_from(API_KINDS)) for _ in range(attempts)]
    retry_after = draw(st.sampled_from(API_RETRY_AFTER))
    sync_seed = draw(st.integers(0, 3))
    if not on:
        return settings, syncs, faults
    pages = pages_of(dataset.threads, dataset.page_size)
    thread = thread and dataset.threads > 0
    offset = 0
    if second_job and not syncs:
        syncs = (Resync(at=second_at, seed=sync_seed, updated=min(dataset.threads, 2)),)
        # Aim past the first job's first attempts once it has run alone.
        offset = 0 if second_at == 0.0 else dataset.threads if thread else pages
    if thread:
        # A thread's retry comes after the first attempt of every thread of its job.
        first = item % dataset.threads
        calls = [first] + [dataset.threads + i for i in range(attempts - 1)]
    else:
        # Pages run one after another: a page's retries are the next fetches.
        first = item % pages
        calls = [first + i for i in range(attempts)]
    rule = ApiFaults(
        calls=tuple((offset + c, k, retry_after) for c, k in zip(calls, kinds, strict=True)),
        function=FETCH_THREAD if thread else FETCH_PAGE,
    )
    return (
        settings | {"max_attempts": attempts},
        syncs,
        FaultPlan((rule, *faults.rules)),
    )


# ---------------------------------------------------------------------------------------------
# Further syncs (harness.resync): rare, since each costs a second job's run; off shrinks first.

RESYNC_ONE_IN = 6
# Simplest first: together with the first sync (the two interleave throughout), then while a
# delayed or stalled first job may still run, then after it (sweeper ticks in between).
RESYNC_AT = (0.0, 30.0, 90.0)
MAX_RESYNCS = 2
MAX_UPDATED = 16


@st.composite
def resyncs(draw: st.DrawFn, threads: int) -> tuple[Resync, ...]:
    """Usually none; one in RESYNC_ONE_IN scenarios, one or two further syncs over a source with
    some threads updated, added and removed."""
    if draw(st.integers(0, RESYNC_ONE_IN - 1)) != RESYNC_ONE_IN - 1:
        return ()
    out: list[Resync] = []
    at = 0.0
    for _ in range(draw(st.integers(1, MAX_RESYNCS))):
        at += draw(st.sampled_from(RESYNC_AT))
        out.append(
            Resync(
                at=at,
                seed=draw(st.integers(0, 3)),
                # At least one thread changes when there are any: the source has moved on. The
                # draw's range is fixed (the dataset may come from what the search learned).
                updated=min(
                    max(draw(st.integers(0, MAX_UPDATED)), min(threads, 1)), max(threads, 1)
                ),
                added=draw(st.integers(0, 3)),
                removed=draw(st.integers(0, 2)),
            )
        )
    return tuple(out)


__all__ = [
    "FAULT_SETS",
    "FUNCTIONS",
    "GROUPS",
    "PAGE_FUNCTION",
    "PROCESSOR_FUNCTION",
    "RULE_KINDS",
    "SETTING_CHOICES",
    "STEPS",
    "datasets",
    "deliveries_of",
    "fault_kinds",
    "fault_plans",
    "fault_plans_for",
    "fault_rules",
    "pages_of",
    "resyncs",
    "scenario_settings",
    "scenarios",
    "schedules",
    "swarm",
]

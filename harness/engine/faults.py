"""Fault plans: small frozen rules, composed with `|`, saved as JSON.

Delivery rules match a queued request by `index` (the n-th request the deliverer saw, 0-based),
by `function` (the Edge Function name, the URL's last segment) and/or by `occurrence` (the n-th
request to that function, 0-based); a rule with no match field matches every request. Actor
rules (Crash, Stall, KillConnection, CallerTimeout, Pause) act on the normal delivery of a
matched request, never on its duplicates or early copy. A Pause rule can also aim at the sweeper:
`function` SWEEPER, `occurrence` the n-th sweeper run (0-based); no other rule acts on it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar

from harness.fakeapi import API_FUNCTIONS, FETCH_PAGE, ApiCall, ApiFault

# The `function` a Pause rule names to aim at the sweeper (pg_cron's job) rather than a webhook.
SWEEPER = "sweeper"


@dataclass(frozen=True)
class _Match:
    index: int | None = None
    function: str | None = None
    occurrence: int | None = None

    def matches(self, index: int, function: str, occurrence: int) -> bool:
        return (
            (self.index is None or self.index == index)
            and (self.function is None or self.function == function)
            and (self.occurrence is None or self.occurrence == occurrence)
        )


@dataclass(frozen=True)
class Drop(_Match):
    """The request is never delivered (pg_net gave up, the function never saw it)."""


@dataclass(frozen=True)
class Duplicate(_Match):
    """The request is delivered `copies` more times, each after its extra delay (virtual s)."""

    copies: int = 1
    extra_delays: tuple[float, ...] = ()

    def delay_of(self, copy: int) -> float:
        return self.extra_delays[copy] if copy < len(self.extra_delays) else 0.0


@dataclass(frozen=True)
class Delay(_Match):
    """The request is delivered `seconds` of virtual time after it was seen."""

    seconds: float = 60.0


@dataclass(frozen=True)
class Early(_Match):
    """An extra delivery while the inserting transaction is still open (a synchronous trigger)."""


@dataclass(frozen=True)
class Crash(_Match):
    """The delivery's instance dies before its `at_step`-th step (0-based); its connection drops."""

    at_step: int = 0


@dataclass(frozen=True)
class CallerTimeout(_Match):
    """The caller gives up (reply `info`) at step `after_steps`, or `seconds` of virtual time
    after the invoke (if the handler is still running then); the handler runs on."""

    after_steps: int | None = 1
    seconds: float | None = None


@dataclass(frozen=True)
class Stall(_Match):
    """Before step `at_step` the actor is unschedulable for `seconds` of virtual time."""

    at_step: int = 1
    seconds: float = 600.0


@dataclass(frozen=True)
class KillConnection(_Match):
    """Before step `at_step` the actor's backend is terminated; its next statement fails."""

    at_step: int = 1


@dataclass(frozen=True)
class Pause(_Match):
    """Step `at_step`'s statement stops inside its function, at its `at_point`-th pause point
    (0-based: every read of threadsync.now() and the start of every write statement on the
    pipeline's tables, in the order the server meets them), while other actors run.

    It goes on once `seconds` of virtual time have passed (0: at once; meanwhile time moves as
    for a stalled actor), and then after `resume_after_steps` steps of others; with
    `resume_after_steps` None, when the schedule chooses to (a recorded choice, offered after the
    runnable actors). Whatever the rule says, it goes on as soon as nothing else can
    run once its seconds are over, or when the run could not go on otherwise: a pause never
    hangs the engine."""

    at_step: int = 0
    at_point: int = 0
    resume_after_steps: int | None = None
    seconds: float = 0.0


@dataclass(frozen=True)
class ApiFaults:
    """Faults of the threads API by call index: (index, kind, retry_after) with fakeapi's kinds.

    `function` is the API call they aim at: `fetch_page` (the page worker's fetch) or
    `fetch_thread` (the processor's read of its thread); indexes count calls to that one, from 0.
    """

    calls: tuple[tuple[int, str, float], ...] = ()
    function: str = FETCH_PAGE

    def __post_init__(self) -> None:
        if self.function not in API_FUNCTIONS:
            raise ValueError(
                f"ApiFaults.function is {self.function!r}; expected one of {list(API_FUNCTIONS)}"
            )


@dataclass(frozen=True)
class SlowSteps:
    """Up to `times` times, the scheduler may choose (a recorded choice) to move the clock while
    actors can still run, as if their steps in progress took that long: to the next timer or
    sweeper tick, or, with `seconds`, to the first sweeper tick at least that far ahead (so a
    lease of up to `seconds` runs out under its worker). Sweeper ticks then fall between any
    two steps of live actors."""

    times: int = 1
    seconds: float = 0.0


@dataclass(frozen=True)
class RestartServer:
    """An immediate (crash-like) server restart at virtual time `at_time`, once
    `after_delivery` deliveries have started, or as soon as `queued` requests (or more) wait in
    the pg_net queue, which the restart loses."""

    at_time: float | None = None
    after_delivery: int | None = None
    queued: int | None = None
    # Crash-like: pg_net's UNLOGGED queue is truncated in recovery, queued requests are lost.
    immediate: ClassVar[bool] = True


# --- pg_net's worker (supabase) -------------------------------------------------------------------


@dataclass(frozen=True)
class CleanRestart(RestartServer):
    """A clean (fast) server restart: pg_net's UNLOGGED queue survives and is sent afterwards."""

    immediate: ClassVar[bool] = False


@dataclass(frozen=True)
class BatchResend:
    """pg_net >= 0.19: a worker error rolls back the batch's DELETE, so every request of the
    `batch`-th batch (0-based; None: every batch) is sent a second time, one worker cycle later."""

    batch: int | None = None
    delay: float = 1.0


@dataclass(frozen=True)
class BatchTimeout:
    """A whole batch times out together (pg_net#86): the caller of every request in the
    `batch`-th batch gives up at step `after_steps` while its function runs on."""

    batch: int | None = None
    after_steps: int = 1


BatchRule = BatchResend | BatchTimeout


def batch_rules(rules: tuple[Any, ...], batch: int) -> list[BatchRule]:
    """The batch rules of a plan's `rules` that match the `batch`-th batch pg_net's worker took."""
    return [
        r for r in rules if isinstance(r, BatchResend | BatchTimeout) and r.batch in (None, batch)
    ]


Rule = (
    Drop
    | Duplicate
    | Delay
    | Early
    | Crash
    | CallerTimeout
    | Stall
    | KillConnection
    | ApiFaults
    | RestartServer
    | SlowSteps
    | CleanRestart
    | BatchResend
    | BatchTimeout
    | Pause
)
RULE_TYPES: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (
        Drop,
        Duplicate,
        Delay,
        Early,
        Crash,
        CallerTimeout,
        Stall,
        KillConnection,
        ApiFaults,
        RestartServer,
        SlowSteps,
        CleanRestart,
        BatchResend,
        BatchTimeout,
        Pause,
    )
}
ActorRule = Crash | CallerTimeout | Stall | KillConnection | Pause
DeliveryRule = (
    Drop | Duplicate | Delay | Early | Crash | CallerTimeout | Stall | KillConnection | Pause
)


@dataclass(frozen=True)
class FaultPlan:
    """A tuple of rules; `a | b` composes plans (and single rules)."""

    rules: tuple[Rule, ...] = ()
    NONE: ClassVar[FaultPlan]

    def __or__(self, other: FaultPlan | Rule) -> FaultPlan:
        more = other.rules if isinstance(other, FaultPlan) else (other,)
        return FaultPlan(self.rules + more)

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.rules)

    def for_request(self, index: int, function: str, occurrence: int) -> list[DeliveryRule]:
        return [
            r
            for r in self.rules
            if isinstance(r, _Match) and r.matches(index, function, occurrence)
        ]

    def for_sweep(self, occurrence: int) -> tuple[Pause, ...]:
        """The Pause rules aimed at the `occurrence`-th sweeper run (0-based). Only rules that
        name SWEEPER: a rule with no `function` matches every webhook request, as before, and
        never the sweeper."""
        return tuple(
            r
            for r in self.rules
            if isinstance(r, Pause)
            and r.function == SWEEPER
            and r.index is None
            and r.occurrence in (None, occurrence)
        )

    @property
    def has_early(self) -> bool:
        return any(isinstance(r, Early) for r in self.rules)

    def restarts(self) -> list[RestartServer]:
        return [r for r in self.rules if isinstance(r, RestartServer)]

    def clock_skips(self) -> tuple[int, float]:
        """How many clock skips the SlowSteps rules allow in all, and how far each goes at least."""
        slow = [r for r in self.rules if isinstance(r, SlowSteps)]
        return sum(max(0, r.times) for r in slow), max((r.seconds for r in slow), default=0.0)

    def api_plan(self) -> Callable[[ApiCall], ApiFault | None] | None:
        plan: dict[tuple[str, int], ApiFault] = {}
        for r in self.rules:
            if isinstance(r, ApiFaults):
                for index, kind, retry_after in r.calls:
                    plan[r.function, index] = ApiFault(kind, retry_after)  # type: ignore[arg-type]
        if not plan:
            return None
        return lambda call: plan.get((call.function, call.index))

    def to_dict(self) -> dict[str, Any]:
        return {"rules": [{"type": type(r).__name__, **_plain(asdict(r))} for r in self.rules]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FaultPlan:
        rules: list[Rule] = []
        for i, raw in enumerate(data.get("rules") or []):
            kind = raw.get("type")
            rule_type = RULE_TYPES.get(str(kind))
            if rule_type is None:
                raise ValueError(
                    f"fault rule {i} has type {kind!r}; expected one of {sorted(RULE_TYPES)}"
                )
            names = {f.name for f in fields(rule_type)}
            unknown = set(raw) - names - {"type"}
            if unknown:
                raise ValueError(
                    f"fault rule {i} ({kind}) has unknown fields {sorted(unknown)}; "
                    f"allowed: {sorted(names)}"
                )
            args = {k: _tuples(v) for k, v in raw.items() if k != "type"}
            rules.append(rule_type(**args))
        return cls(tuple(rules))


FaultPlan.NONE = FaultPlan()


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _tuples(value: Any) -> Any:
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def actor_rules(rules: list[DeliveryRule]) -> tuple[ActorRule, ...]:
    return tuple(
        r for r in rules if isinstance(r, Crash | CallerTimeout | Stall | KillConnection | Pause)
    )


__all__ = [
    "SWEEPER",
    "ActorRule",
    "ApiFaults",
    "BatchResend",
    "BatchRule",
    "BatchTimeout",
    "CallerTimeout",
    "CleanRestart",
    "Crash",
    "Delay",
    "DeliveryRule",
    "Drop",
    "Duplicate",
    "Early",
    "FaultPlan",
    "KillConnection",
    "Pause",
    "RestartServer",
    "Rule",
    "SlowSteps",
    "Stall",
    "actor_rules",
    "batch_rules",
]

"""Named fault profiles for `threadsync run --faults`: a seeded mix of faults sized to the data."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

from harness.engine.faults import (
    ApiFaults,
    BatchResend,
    BatchTimeout,
    CallerTimeout,
    Crash,
    Delay,
    Drop,
    Duplicate,
    Early,
    FaultPlan,
    KillConnection,
    RestartServer,
    Rule,
    Stall,
)

PAGE, THREAD = "sync-threads-page-worker", "sync-threads-processor"


def _webhooks(rng: random.Random, pages: int, threads: int) -> list[Rule]:
    rules: list[Rule] = []
    for function, n in ((PAGE, pages), (THREAD, threads)):
        for occurrence in rng.sample(range(n), k=min(n, max(1, n // 5))):
            kind = rng.choice(("drop", "duplicate", "delay", "early"))
            if kind == "drop":
                rules.append(Drop(function=function, occurrence=occurrence))
            elif kind == "duplicate":
                rules.append(
                    Duplicate(function=function, occurrence=occurrence, copies=rng.randint(1, 2))
                )
            elif kind == "delay":
                rules.append(
                    Delay(function=function, occurrence=occurrence, seconds=rng.choice((5, 130)))
                )
            else:
                rules.append(Early(function=function, occurrence=occurrence))
    return rules


def _pg_net_webhooks(rng: random.Random, pages: int, threads: int) -> list[Rule]:
    """Webhook faults pg_net can produce: no Early (its worker wakes only at COMMIT)."""
    return [r for r in _webhooks(rng, pages, threads) if not isinstance(r, Early)]


def _batches(rng: random.Random, pages: int, threads: int) -> list[Rule]:
    """pg_net's worker: a batch re-sent after a worker error, a batch timing out together."""
    batches = rng.sample(range(pages * 2), k=min(pages * 2, max(1, pages // 3)))
    return [
        BatchResend(batch=b) if rng.random() < 0.5 else BatchTimeout(batch=b, after_steps=1)
        for b in sorted(batches)
    ]


def _crashes(rng: random.Random, pages: int, threads: int) -> list[Rule]:
    rules: list[Rule] = []
    for function, n in ((PAGE, pages), (THREAD, threads)):
        for occurrence in rng.sample(range(n), k=min(n, max(1, n // 8))):
            step = rng.randint(0, 3)
            kind = rng.choice(("crash", "stall", "kill", "timeout"))
            if kind == "crash":
                rules.append(Crash(function=function, occurrence=occurrence, at_step=step))
            elif kind == "stall":
                rules.append(
                    Stall(
                        function=function,
                        occurrence=occurrence,
                        at_step=step,
                        seconds=rng.choice((30, 700)),
                    )
                )
            elif kind == "kill":
                rules.append(KillConnection(function=function, occurrence=occurrence, at_step=step))
            else:
                rules.append(
                    CallerTimeout(function=function, occurrence=occurrence, after_steps=step)
                )
    return rules


def _api(rng: random.Random, pages: int, threads: int) -> list[Rule]:
    calls = sorted(rng.sample(range(pages * 2), k=min(pages * 2, max(1, pages // 3))))
    kinds = ("rate_limit", "server_error", "timeout")
    return [ApiFaults(tuple((c, rng.choice(kinds), 30.0) for c in calls))]


def _restarts(rng: random.Random, pages: int, threads: int) -> list[Rule]:
    """One crash-like server restart after a random delivery (embedded server only)."""
    return [RestartServer(after_delivery=rng.randint(1, pages + threads))]


Builder = Callable[[random.Random, int, int], list[Rule]]
PROFILES: dict[str, tuple[Builder, ...]] = {
    "none": (),
    "webhooks": (_webhooks,),
    "crashes": (_crashes,),
    "api": (_api,),
    "chaos": (_webhooks, _crashes, _api),
    # What production on Supabase can do to the pipeline; Early is left out (see docs/scenarios.md).
    "supabase": (_pg_net_webhooks, _batches, _crashes, _api),
    # Chaos plus a server restart: needs a server the harness can restart (--pg embedded).
    "restart": (_webhooks, _crashes, _api, _restarts),
}


def fault_plan(profile: str, *, seed: int, threads: int, page_size: int) -> FaultPlan:
    """The profile's faults for `threads` threads in pages of `page_size`, drawn from `seed`."""
    if profile not in PROFILES:
        raise ValueError(f"unknown fault profile {profile!r}; choose one of {', '.join(PROFILES)}")
    rng = random.Random(seed)
    pages = max(1, math.ceil(threads / page_size))
    rules: list[Rule] = []
    for build in PROFILES[profile]:
        rules += build(rng, pages, max(threads, 1))
    return FaultPlan(tuple(rules))

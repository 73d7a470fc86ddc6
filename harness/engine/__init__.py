"""The deterministic chaos engine: actors, scheduler, virtual clock, faults and delivery.

Start with `run(RunConfig(pipeline, ...))` for a pipeline, or `run_actors(dsn, [ActorSpec(...)])`
for ad-hoc actors; `run_free` runs the same actors with real concurrency (not replayable).
"""

from typing import Any

from harness.engine.actor import Actor, GatedAPI, InstrumentedDatabase, Step
from harness.engine.blocking import Monitor
from harness.engine.clock import START, VirtualClock
from harness.engine.errors import ActorCrashed, EngineError
from harness.engine.faults import (
    SWEEPER,
    ApiFaults,
    CallerTimeout,
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
from harness.engine.runner import (
    ActorSpec,
    RunConfig,
    RunResult,
    apply_settings,
    prepare_database,
    run,
    run_actors,
)
from harness.engine.scheduler import Scheduler, Stats
from harness.engine.strategy import ChoiceList, Chooser, PCTStrategy, RandomStrategy, Strategy


def __getattr__(name: str) -> Any:
    """`run_free` is imported on first use: a command that never runs free mode (replay,
    explore) does not pay for importing it."""
    if name == "run_free":
        from harness.engine.free import run_free

        return run_free
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "START",
    "SWEEPER",
    "Actor",
    "ActorCrashed",
    "ActorSpec",
    "ApiFaults",
    "CallerTimeout",
    "ChoiceList",
    "Chooser",
    "Crash",
    "Delay",
    "Drop",
    "Duplicate",
    "Early",
    "EngineError",
    "FaultPlan",
    "GatedAPI",
    "InstrumentedDatabase",
    "KillConnection",
    "Monitor",
    "PCTStrategy",
    "Pause",
    "RandomStrategy",
    "RestartServer",
    "Rule",
    "RunConfig",
    "RunResult",
    "Scheduler",
    "SlowSteps",
    "Stall",
    "Stats",
    "Step",
    "Strategy",
    "VirtualClock",
    "apply_settings",
    "prepare_database",
    "run",
    "run_actors",
    "run_free",
]

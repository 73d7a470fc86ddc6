"""The calls a test makes: explore a pipeline until a budget runs out, or run one scenario."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # harness imports psycopg and Hypothesis: only when a test uses them
    from hypothesis.strategies import SearchStrategy

    from harness.explore import ExploreResult
    from harness.replay import Verdict, Workbench
    from harness.scenario import Scenario

DEFAULT_IMPL = "threadsync.reference:pipeline"
# What the pytest plugin's options set; plain defaults outside pytest.
defaults: dict[str, Any] = {
    "impl": None,
    "budget": 60.0,
    "profile": "ci",
    "save": "scenarios/found",
}


class ViolationFound(AssertionError):
    """An exploration found a violation: the message is the report and the saved scenario's path."""

    def __init__(self, message: str, paths: list[Path]) -> None:
        super().__init__(message)
        self.paths = paths


def scenarios(impl: str | None = None, **limits: Any) -> SearchStrategy[Scenario]:
    """The Hypothesis strategy of whole scenarios for `impl`, for your own `@given` tests."""
    from harness import explore as _explore

    return _explore.scenarios(impl or defaults["impl"] or DEFAULT_IMPL, **limits)


def run(scenario: Scenario, *, workbench: Workbench, impl: str | None = None) -> Verdict:
    """Run one scenario (against `impl` instead of its own, if given) and check it."""
    from harness.replay import run_scenario

    return run_scenario(workbench, scenario, impl=impl)


def explore(
    impl: str | None = None,
    budget: float | None = None,
    *,
    seed: int = 0,
    profile: str | None = None,
    save: str | Path | None = None,
    workbench: Workbench | None = None,
) -> ExploreResult:
    """Search `impl` for a violation for `budget` seconds. Returns what was explored when nothing
    was found; raises ViolationFound (an AssertionError, so the test fails) with the shrunk
    scenario saved under `save` and its path in the message."""
    from harness.explore import explore as _explore
    from harness.explore import save_found
    from harness.impl import load_pipeline
    from harness.report import text_report

    impl = impl or defaults["impl"] or DEFAULT_IMPL
    budget = float(defaults["budget"] if budget is None else budget)
    if not math.isfinite(budget) or budget <= 0:
        raise ValueError(f"budget must be a finite number of seconds > 0, got {budget!r}")
    profile = profile or str(defaults["profile"])
    directory = Path(save or defaults["save"])
    load_pipeline(impl)  # a bad impl fails here, before a server starts
    with _bench(workbench) as bench:
        result = _explore(bench, impl, budget_s=budget, seed=seed, profile=profile)
    if result.found:
        paths = save_found(result, directory)
        parts = [text_report(found.verdict) for found in result.found]
        parts += [f"saved {p}; replay it with: threadsync replay {p}" for p in paths]
        raise ViolationFound("\n\n".join(parts), paths)
    if result.flaky:
        raise AssertionError("\n".join(f"FLAKY: {f}" for f in result.flaky))
    return result


@contextmanager
def _bench(given: Workbench | None) -> Iterator[Workbench]:
    if given is not None:
        yield given
        return
    from harness.replay import workbench

    with workbench() as bench:
        yield bench


__all__ = ["ViolationFound", "explore", "run", "scenarios"]

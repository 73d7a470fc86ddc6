"""What an exploration did and found: its findings, its coverage, and the summary it prints."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness import coverage
from harness.replay import Verdict
from harness.scenario import Scenario


@dataclass(frozen=True)
class Size:
    """How big a found scenario is: actors and scheduler steps of its run, rules, choices."""

    actors: int
    steps: int
    faults: int
    choices: int
    threads: int


@dataclass
class FoundFailure:
    """A confirmed violation: the shrunk scenario (recorded choices, expecting the failure)."""

    scenario: Scenario
    verdict: Verdict
    check: str
    shrink_runs: int
    shrink_s: float
    shrink_complete: bool  # False when shrinking was cut short by its bound
    time_to_first_failure_s: float
    first_violated: list[str]
    size: Size


@dataclass
class FlakyFailure:
    """A shrunk scenario whose replays did not all give the verdict its search run gave."""

    scenario: Scenario
    labels: list[str]

    def __str__(self) -> str:
        return (
            f"{self.scenario.name}: verdicts differ between runs of the same scenario: "
            + " / ".join(self.labels)
        )


@dataclass
class ExploreResult:
    """What an exploration did and found."""

    impl: str
    seed: int
    profile: str
    budget_s: float
    runs: int = 0  # every scenario run: search, shrink and confirmation
    search_runs: int = 0
    wall_s: float = 0.0
    found: list[FoundFailure] = field(default_factory=list)
    flaky: list[FlakyFailure] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # runs the engine itself could not finish
    # Every situation name (zeros included) -> runs that reached it; over `coverage_runs` runs.
    coverage: dict[str, int] = field(default_factory=lambda: dict.fromkeys(coverage.SITUATIONS, 0))
    coverage_runs: int = 0
    # Every combination name (coverage.COMBINATIONS) -> runs that reached it; steering only.
    combinations: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(coverage.COMBINATIONS, 0)
    )
    # Situations the search's fault set cannot produce (coverage.impossible of its kinds).
    impossible: list[str] = field(default_factory=list)
    stopped: bool = False  # the search was told to stop before its budget was spent
    workers: int = 1  # search processes merged into this result

    @property
    def runs_per_s(self) -> float:
        return self.runs / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def not_reached(self) -> list[str]:
        return [
            name
            for name in coverage.SITUATIONS
            if self.coverage.get(name, 0) == 0 and name not in self.impossible
        ]


def summary(result: ExploreResult) -> str:
    """The closing text of an exploration: what ran, what was found, and the coverage table,
    naming every situation it never reached (its "no violation" says nothing about those)."""
    processes = f" over {result.workers} search processes" if result.workers > 1 else ""
    lines = [
        f"explored {result.impl}: {result.runs} runs{processes} in {result.wall_s:.1f} s "
        f"({result.runs_per_s:.1f}/s), seed {result.seed}, profile {result.profile}",
        coverage.table(result.coverage, result.coverage_runs, result.impossible),
    ]
    if result.coverage_runs:
        combos = ", ".join(
            f"{name} {result.combinations.get(name, 0)}" for name in coverage.COMBINATIONS
        )
        lines.append(f"combinations (they steer the search; not required): {combos}")
    if result.stopped:
        lines.append("stopped early: another search process had found a violation")
    if not result.found and not result.flaky:
        lines.append(f"no violation found in {result.impl}")
    return "\n".join(lines)


__all__ = ["ExploreResult", "FlakyFailure", "FoundFailure", "Size", "summary"]

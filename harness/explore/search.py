"""Exploration: Hypothesis searches datasets, fault plans and schedules for a run that violates a
check, shrinks it, confirms it by replaying it, and saves it as a scenario: `threadsync explore`.

The search is `hypothesis.find` over `scenarios(impl)`, seeded (`random=Random(seed)`), with no
example database, no deadline and no health checks (a run takes ~0.15 s, far slower than
Hypothesis expects). It stops on the wall clock, not on a count: the condition raises a private
BaseException (which Hypothesis does not treat as a test failure, and lets through) once the
search budget is spent, or once shrinking has had its own bound; the smallest failing scenario
seen so far is kept, so an interrupted shrink still has a result.

A schedule is an explicit list of choices. The engine's Chooser takes each one modulo the number
of options and gives 0 past the end of the list, so shorter lists of smaller numbers are simpler,
which is exactly the order Hypothesis shrinks towards. A found scenario is saved with the choices
its run actually made (`Verdict.recorded()`), and is replayed twice before it is reported: if a
replay gives another verdict it is reported as flaky, with every verdict, instead.

Every judged run is also read for the rare situations it reached (harness.coverage): the counts
become `ExploreResult.coverage`, and the search's own corpus (harness.explore.corpus) keeps the
runs that reached the rarest ones, to vary them. Hypothesis' target phase is left out: from about
200 valid examples on (Hypothesis 6.170) it spent up to 625 runs hill climbing one score over
mutations of a single run, the second half of a 60 s exploration (docs/exploration.md,
"Session 9").
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from random import Random

from hypothesis import HealthCheck, Phase, Verbosity, find, settings
from hypothesis.errors import NoSuchExample

from harness import coverage
from harness.explore.corpus import Corpus
from harness.explore.points import PausePoints
from harness.explore.results import ExploreResult, FlakyFailure, FoundFailure, Size
from harness.explore.strategies import FAULT_SETS, fault_kinds, scenarios
from harness.impl import DEFAULT_IMPL
from harness.replay import Verdict, Workbench, run_scenario
from harness.scenario import Expect, Scenario, save

PROGRESS_EVERY_S = 5.0
# coverage.race_features names that mean another worker claimed or finished a paused actor's
# item: kept with the races, so the corpus varies when the paused one goes on.
DEEP_RACES = ("claimed:", "finished:", "resumed:")


# ---------------------------------------------------------------------------------------------
# Profiles


@dataclass(frozen=True)
class Limits:
    """What a profile lets the search draw, and how long shrinking may take."""

    max_threads: int
    max_rules: int
    max_choices: int
    shrink_share: float  # shrinking's time bound, as a share of the search budget...
    min_shrink_s: float  # ...but never less than this
    max_shrink_runs: int


# Hypothesis profiles are global, so ours are registered under a prefix and never replace a
# project's own "ci" or "dev"; explore(profile="ci") loads "threadsync-explore-ci".
PROFILE_PREFIX = "threadsync-explore-"
PROFILES: dict[str, Limits] = {
    "ci": Limits(
        max_threads=8,
        max_rules=3,
        max_choices=40,
        shrink_share=0.5,
        min_shrink_s=10,
        max_shrink_runs=100,
    ),
    "dev": Limits(
        max_threads=12,
        max_rules=4,
        max_choices=60,
        shrink_share=0.5,
        min_shrink_s=15,
        max_shrink_runs=200,
    ),
    "deep": Limits(
        max_threads=24,
        max_rules=6,
        max_choices=120,
        shrink_share=1.0,
        min_shrink_s=60,
        max_shrink_runs=1000,
    ),
}
_MAX_EXAMPLES = {"ci": 5_000, "dev": 20_000, "deep": 1_000_000}

for _name, _max in _MAX_EXAMPLES.items():
    settings.register_profile(
        PROFILE_PREFIX + _name,
        max_examples=_max,
        database=None,  # no example database: nothing written, every search starts from its seed
        deadline=None,
        derandomize=False,  # reproducible through the seed explore() passes instead
        # No target phase (see above): the corpus steers. No explain phase: extra runs.
        phases=(Phase.generate, Phase.shrink),
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
        print_blob=False,
        report_multiple_bugs=False,
    )


# ---------------------------------------------------------------------------------------------
# The search


class _OutOfBudget(BaseException):
    """Raised inside the condition to end the search; a BaseException, so Hypothesis lets it
    through instead of treating it as the failure it is looking for."""


MAX_ERRORS_KEPT = 20


def _key(scenario: Scenario) -> str:
    return scenario.to_json()


def _simplicity(scenario: Scenario) -> tuple[int, ...]:
    """Our own "smaller" order, used only when shrinking is cut short."""
    choices = scenario.schedule.choices or ()
    return (
        len(scenario.faults.rules),
        scenario.dataset.threads,
        len(choices),
        sum(choices),
        scenario.dataset.page_size,
        scenario.dataset.seed,
        len(_key(scenario)),
    )


class _Search:
    """The condition given to `hypothesis.find`: runs a scenario, and says whether it fails."""

    def __init__(
        self,
        bench: Workbench,
        result: ExploreResult,
        limits: Limits,
        progress: Callable[[str], None] | None,
        status: Callable[[str], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        points: PausePoints | None = None,
        corpus: Corpus | None = None,
    ) -> None:
        self.bench = bench
        self.points = points if points is not None else PausePoints()
        self.corpus = corpus if corpus is not None else Corpus()
        self.combos = coverage.Tally(counts=dict.fromkeys(coverage.COMBINATIONS, 0))
        self.features = coverage.Tally(counts={})
        self.status = status
        self.should_stop = should_stop
        self.max_runs: float = float("inf")  # search runs before it gives up (explore's max_runs)
        self.tally = coverage.Tally()
        self.result = result
        self.limits = limits
        self.progress = progress
        self.t0 = time.monotonic()
        self.search_deadline = self.t0 + result.budget_s
        self.shrink_deadline = float("inf")
        self.last_progress = self.t0
        self.outcomes: dict[str, list[str] | None] = {}  # key -> violated (None: engine error)
        self.target: str | None = None
        self.first_at: float | None = None
        self.first_violated: list[str] = []
        self.shrink_runs = 0
        self.best: tuple[Scenario, Verdict] | None = None
        self.latest: tuple[Scenario, Verdict] | None = None
        self.stopped = False  # ended early by should_stop (another search found something)
        self.in_call = False  # inside a call of ours, not Hypothesis's own code

    def fails(self, violated: list[str] | None) -> bool:
        if not violated:
            return False
        return self.target is None or self.target in violated

    def __call__(self, scenario: Scenario) -> bool:
        self.in_call = True
        try:
            return self._judge(scenario)
        finally:
            self.in_call = False

    def over_budget(self, grace_s: float) -> bool:
        """Whether the search (or its shrinking) has run `grace_s` past its bound."""
        now = time.monotonic() - grace_s
        if self.first_at is None:
            return now >= self.search_deadline
        return now >= self.shrink_deadline

    def _judge(self, scenario: Scenario) -> bool:
        key = _key(scenario)
        # The budget is checked before the cache: Hypothesis can draw scenarios already run,
        # one after another, for minutes (seen in its target phase, since left out: a 60 s
        # exploration still hill climbing after 6 minutes, every call answered from the cache).
        now = time.monotonic()
        if self.first_at is None:
            if now >= self.search_deadline or self.result.search_runs >= self.max_runs:
                raise _OutOfBudget
            if self.should_stop is not None and self.should_stop():
                self.stopped = True
                raise _OutOfBudget
        elif key not in self.outcomes and (  # a cached key: Hypothesis's final replay
            now >= self.shrink_deadline or self.shrink_runs >= self.limits.max_shrink_runs
        ):
            raise _OutOfBudget
        if key in self.outcomes:
            return self.fails(self.outcomes[key])
        verdict = self._run(scenario)
        violated = None if verdict is None else verdict.violated
        self.outcomes[key] = violated
        failed = self.fails(violated)
        if verdict is not None:
            # Learned only until a failure: shrinking then draws what the failing run drew.
            self._cover(scenario, verdict, learn=self.first_at is None and not failed)
        if failed and verdict is not None:
            self._failed(scenario, verdict)
        self._report()
        return failed

    def _cover(self, scenario: Scenario, verdict: Verdict, *, learn: bool) -> None:
        """Count the situations and combinations this run reached, and steer the search towards
        the rare ones: a run that reached a combination or a rare situation is kept in the
        corpus (when `learn`), as what its pauses showed of the pause points is learned."""
        history = verdict.result.history
        names = coverage.reached(history, verdict.state)
        combos = coverage.combinations(history)
        # Each pause by function and point, and how far the race around it went: the deep
        # ones (another worker claimed or finished the item meanwhile) count as races.
        features = coverage.race_features(history)
        deep = frozenset(f for f in features if f.startswith(DEEP_RACES))
        if learn:
            self.corpus.ran(scenario)
            self.points.learn(scenario, history)
            self.corpus.consider(scenario, names | (features - deep), combos | deep, self._counts())
        self.tally.add(names)
        self.combos.add(combos)
        self.features.add(features)
        if learn:
            self.corpus.counts = self._counts()
        self.result.coverage = dict(self.tally.counts)
        self.result.coverage_runs = self.tally.runs
        self.result.combinations = dict(self.combos.counts)

    def _counts(self) -> dict[str, int]:
        return self.tally.counts | self.combos.counts | self.features.counts

    def _run(self, scenario: Scenario) -> Verdict | None:
        self.result.runs += 1
        if self.first_at is None:
            self.result.search_runs += 1
        else:
            self.shrink_runs += 1
        try:
            return run_scenario(self.bench, scenario)
        except Exception as exc:  # an engine or harness failure, not a verdict: keep searching
            if len(self.result.errors) < MAX_ERRORS_KEPT:
                self.result.errors.append(
                    f"{type(exc).__name__}: {exc} (scenario {scenario.to_dict()})"
                )
            return None

    def _failed(self, scenario: Scenario, verdict: Verdict) -> None:
        now = time.monotonic()
        if self.first_at is None:
            self.first_at = now
            self.first_violated = verdict.violated
            self.target = verdict.violated[0]
            bound = max(self.limits.min_shrink_s, self.limits.shrink_share * self.result.budget_s)
            self.shrink_deadline = now + bound
            self._say(
                f"explore: found {verdict.label} after {self.result.runs} runs "
                f"({now - self.t0:.1f} s); shrinking for at most {bound:.0f} s"
            )
        self.latest = (scenario, verdict)
        if self.best is None or _simplicity(scenario) < _simplicity(self.best[0]):
            self.best = (scenario, verdict)

    def verdict_of(self, scenario: Scenario) -> Verdict | None:
        for kept in (self.latest, self.best):
            if kept is not None and _key(kept[0]) == _key(scenario):
                return kept[1]
        return None

    def _report(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.status is None and not force and now - self.last_progress < PROGRESS_EVERY_S:
            return
        self.last_progress = now
        elapsed = now - self.t0
        rate = self.result.runs / elapsed if elapsed > 0 else 0.0
        if self.first_at is None:
            left = f"{max(0.0, self.search_deadline - now):.0f} s of search left"
            found = 0
        else:
            left = (
                f"shrinking, {max(0.0, self.shrink_deadline - now):.0f} s / "
                f"{self.limits.max_shrink_runs - self.shrink_runs} runs left"
            )
            found = 1
        possible = [n for n in coverage.SITUATIONS if n not in self.result.impossible]
        reached = sum(1 for n in possible if self.tally.counts.get(n, 0))
        line = (
            f"explore: {self.result.runs} runs, {rate:.1f} runs/s, "
            f"coverage {reached}/{len(possible)} situations, "
            f"{found} violation(s) found, {left}"
        )
        if self.status is not None:
            self.status(line)
        else:
            self._say(line)

    def _say(self, line: str) -> None:
        if self.progress is not None:
            self.progress(line)


# How long Hypothesis may go on past the budget in its own code (its target phase, since left
# out, hill climbed over scenarios already run, or simulated, for minutes without calling the
# search), and how often that is looked at.
OVERRUN_GRACE_S = 2.0
OVERRUN_CHECK_S = 0.5


@contextmanager
def _ended_at_budget(search: _Search) -> Iterator[None]:
    """End the search with _OutOfBudget once it runs OVERRUN_GRACE_S past its bound while
    Hypothesis, not a run of ours, holds the main thread (a SIGALRM timer: only the main thread
    receives signals, so elsewhere, as in a test's thread, the calls' own checks must do)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(
        signal, "setitimer"
    ):
        yield
        return

    def check(signum: int, frame: object) -> None:
        if not search.in_call and search.over_budget(OVERRUN_GRACE_S):
            raise _OutOfBudget

    previous = signal.signal(signal.SIGALRM, check)
    signal.setitimer(signal.ITIMER_REAL, OVERRUN_CHECK_S, OVERRUN_CHECK_S)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0.0)
        signal.signal(signal.SIGALRM, previous)


def _size(scenario: Scenario, verdict: Verdict) -> Size:
    return Size(
        actors=len(verdict.result.history.actors()),
        steps=verdict.result.stats.steps,
        faults=len(scenario.faults.rules),
        choices=len(scenario.schedule.choices or ()),
        threads=scenario.dataset.threads,
    )


def explore(
    bench: Workbench,
    impl: str = DEFAULT_IMPL,
    *,
    budget_s: float,
    seed: int = 0,
    profile: str = "dev",
    progress: Callable[[str], None] | None = None,
    restart: bool | None = None,
    status: Callable[[str], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    faults: str = "supabase",
    max_runs: int | None = None,
) -> ExploreResult:
    """Search `impl` for a violation for `budget_s` seconds (plus shrinking's own bound, plus
    two confirming replays). The same seed gives the same search, run for run, as long as the
    runs themselves are deterministic and the budget is not what ends it.

    `restart` draws RestartServer faults (default: when the server can restart, i.e. embedded).
    `faults` names the fault set (FAULT_SETS): `supabase` leaves out what pg_net cannot do.
    `progress` gets messages; `status` (if given) gets the status line after every run, to
    show in place (else a status line goes to `progress` every PROGRESS_EVERY_S seconds).
    `should_stop` is asked before each search run; once it says yes the search ends (used to
    stop parallel searches when one of them has found a violation). `max_runs` also ends the
    search after that many search runs: a budget that does not depend on the machine's load,
    for measuring a search on a shared machine."""
    if profile not in PROFILES:
        raise ValueError(f"unknown explore profile {profile!r}; expected one of {list(PROFILES)}")
    if faults not in FAULT_SETS:
        raise ValueError(f"unknown fault set {faults!r}; expected one of {list(FAULT_SETS)}")
    limits = PROFILES[profile]
    result = ExploreResult(impl=impl, seed=seed, profile=profile, budget_s=budget_s)
    if restart is None:
        restart = bench.server.kind == "embedded"
    result.impossible = coverage.impossible(fault_kinds(early=FAULT_SETS[faults], restart=restart))
    points, corpus = PausePoints(), Corpus()
    search = _Search(bench, result, limits, progress, status, should_stop, points, corpus)
    if max_runs is not None:
        search.max_runs = max_runs
    strategy = scenarios(
        impl,
        max_threads=limits.max_threads,
        max_rules=limits.max_rules,
        max_choices=limits.max_choices,
        early=FAULT_SETS[faults],
        restart=restart,
        points=points,
        corpus=corpus,
    )
    found: Scenario | None = None
    shrink_complete = False
    try:
        with _ended_at_budget(search):
            found = find(
                strategy,
                search,
                settings=settings.get_profile(PROFILE_PREFIX + profile),
                random=Random(seed),
            )
        shrink_complete = True
    except _OutOfBudget:
        found = search.best[0] if search.best is not None else None
    except NoSuchExample:
        found = None
    shrink_end = time.monotonic()
    result.stopped = search.stopped
    if found is not None and search.first_at is not None:
        _confirm(bench, result, search, found, shrink_complete, shrink_end)
    result.wall_s = time.monotonic() - search.t0
    search._report(force=True)
    search._say(
        f"explore: done, {result.runs} runs in {result.wall_s:.1f} s "
        f"({result.runs_per_s:.1f} runs/s), {len(result.found)} violation(s), "
        f"{len(result.flaky)} flaky"
    )
    return result


def _confirm(
    bench: Workbench,
    result: ExploreResult,
    search: _Search,
    shrunk: Scenario,
    shrink_complete: bool,
    shrink_end: float,
) -> None:
    """Replay the shrunk scenario, with the choices its run made, twice; record what it gives."""
    assert search.first_at is not None and search.target is not None
    original = search.verdict_of(shrunk)
    if original is None:  # not kept (Hypothesis's minimal example is not ours): run it again
        original = run_scenario(bench, shrunk)
        result.runs += 1
    pipeline_name = bench.pipeline(result.impl).name
    target = search.target
    name = f"{pipeline_name}-{target}-{result.seed}"
    recorded = original.recorded()
    replays: list[Verdict] = []
    labels = [original.label]
    for _ in range(2):
        result.runs += 1
        try:
            replays.append(run_scenario(bench, recorded))
        except Exception as exc:  # a replay the engine cannot finish is no confirmation either
            labels.append(f"error: {type(exc).__name__}: {exc}")
        else:
            labels.append(replays[-1].label)
    if (
        len(replays) < 2
        or any(v.violated != original.violated for v in replays)
        or target not in original.violated
    ):
        result.flaky.append(FlakyFailure(replace(recorded, name=name), labels))
        return
    description = (
        f"Found by threadsync explore (seed {result.seed}, profile {result.profile}) after "
        f"{result.search_runs} runs; first failure: "
        f"{', '.join(search.first_violated)}. Shrunk in {search.shrink_runs} runs"
        f"{'' if shrink_complete else ' (cut short by its bound)'}; it violates "
        f"{', '.join(original.violated)}."
    )
    scenario = replace(recorded, name=name, description=description, expect=Expect("fail", target))
    result.found.append(
        FoundFailure(
            scenario=scenario,
            verdict=replace(replays[-1], scenario=scenario),
            check=target,
            shrink_runs=search.shrink_runs,
            shrink_s=shrink_end - search.first_at,
            shrink_complete=shrink_complete,
            time_to_first_failure_s=search.first_at - search.t0,
            first_violated=search.first_violated,
            size=_size(scenario, original),
        )
    )


def save_found(result: ExploreResult, directory: Path) -> list[Path]:
    """Save every found scenario in `directory` (one path per `result.found`, in order)."""
    return [save(found.scenario, directory) for found in result.found]


__all__ = [
    "PROFILES",
    "ExploreResult",
    "FlakyFailure",
    "FoundFailure",
    "Limits",
    "Size",
    "explore",
    "save_found",
]

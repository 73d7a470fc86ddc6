"""The search's own corpus: runs that reached something rare, kept so the search varies them.

Hypothesis' own target phase (hill climbing one score over mutations of the best run) is left out
of the explore profiles (harness.explore.search). So explore() keeps, itself, every run that
reached a rare combination (harness.coverage.COMBINATIONS: a pause while another worker raced the
same item, a stale finish while the item was claimed again, ...) or a situation reached by very few
runs before it, and a share of the scenarios drawn afterwards are variations of a kept one: another
schedule seed, a Pause at another of its statement's learned points or going on at another moment,
another data seed. A race that needs a rare fault plan and the right interleaving is then tried
again with the fault plan kept and the interleaving varied, instead of waiting for both to be drawn
together.

Like the pause points, the corpus only grows from runs (same seed, same search) and stops growing
once a failure is found, so shrinking sees the corpus its failing run was drawn from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from random import Random

from harness.engine.faults import SWEEPER, FaultPlan, Pause, Rule
from harness.explore.points import PausePoints
from harness.scenario import Dataset, Scenario

MAX_ENTRIES = 64  # of each kind: runs that reached a combination, and the others kept
# How often a variation starts from a run that reached a combination (when there is one).
RACE_SHARE = 2 / 3
# A situation or combination reached by fewer runs than this before is rare enough to keep a
# run for.
RARE_RUNS = 5
# How a kept scenario is varied (each independently).
NEW_SCHEDULE = 0.8
NEW_POINT = 0.5
NEW_RESUME = 0.5
NEW_DATA_SEED = 0.2
RESUME_AFTER_STEPS = (None, 2, 4, 8, 16, 32)
# An entry whose every situation is common still gets 1; one that reached something no other
# run did about ENERGY_SCALE more.
ENERGY_SCALE = 16
ENERGY_HALF = 8  # variations of an entry after which its energy (above 1) is halved
SCHEDULE_SEEDS = 2**16
DATA_SEEDS = 4


@dataclass(repr=False)
class Corpus:
    """Scenarios that reached something rare, oldest first, at most MAX_ENTRIES of each kind."""

    entries: list[Scenario] = field(default_factory=list)
    added: int = 0
    # The entries kept for a combination (the races), varied more often than the others.
    races: list[Scenario] = field(default_factory=list)
    # What each entry reached, by (kept for a combination, index), to give it its energy.
    reached: dict[tuple[bool, int], frozenset[str]] = field(default_factory=dict)
    # Runs so far that reached each situation and combination (explore() keeps it up to date),
    # for the recipes to aim at what was reached least.
    counts: dict[str, int] = field(default_factory=dict)
    # How many runs varied each entry, and the last variation handed out (its entry, and what
    # the run of it will be recognised by): explore() reports each run it learns from (ran()).
    runs: dict[tuple[bool, int], int] = field(default_factory=dict)
    last: tuple[tuple[bool, int], FaultPlan, Dataset] | None = None

    def __repr__(self) -> str:  # short: Hypothesis shows it in the strategy's repr
        return f"Corpus({len(self.races)} races, {len(self.entries)} others)"

    def consider(
        self,
        scenario: Scenario,
        situations: frozenset[str],
        combinations: frozenset[str],
        counts_before: Mapping[str, int],
    ) -> bool:
        """Keep the scenario if its run reached a rare combination or a rare situation (one that
        fewer than RARE_RUNS runs reached before it); say if kept."""
        races = any(counts_before.get(name, 0) < RARE_RUNS for name in combinations)
        rare = any(counts_before.get(name, 0) < RARE_RUNS for name in situations)
        if not races and not rare:
            return False
        kept = self.races if races else self.entries
        if len(kept) < MAX_ENTRIES:
            at = len(kept)
            kept.append(scenario)
        else:  # full: replace the entries in turn, so old and new both stay
            at = self.added % MAX_ENTRIES
            kept[at] = scenario
        self.reached[(races, at)] = situations | combinations
        self.runs.pop((races, at), None)
        self.added += 1
        return True

    def energy(self, races: bool, at: int) -> int:
        """How often an entry is picked, relative to the others: by how rarely what it reached
        has been reached since (1 / (1 + runs), summed), so the runs go to the rarest; and less
        the more runs varied it already (halved after ENERGY_HALF): variations that no longer
        reach what it reached (a pause moved off a point raced whole) would keep its rarity,
        and its energy, forever."""
        names = self.reached.get((races, at), frozenset())
        rarity = sum(1.0 / (1 + self.counts.get(name, 0)) for name in names)
        decay = ENERGY_HALF / (ENERGY_HALF + self.runs.get((races, at), 0))
        return 1 + int(ENERGY_SCALE * rarity * decay)

    def ran(self, scenario: Scenario) -> None:
        """A run of `scenario` was learned from: if it is the last variation handed out, its
        entry has been varied once more."""
        if self.last is not None and self.last[1:] == (scenario.faults, scenario.dataset):
            self.runs[self.last[0]] = self.runs.get(self.last[0], 0) + 1
        self.last = None

    def variant(self, seed: int, points: PausePoints) -> Scenario | None:
        """A variation of one kept scenario, all of it chosen by `seed` (None: corpus empty)."""
        if not self.entries and not self.races:
            return None
        r = Random(seed)
        races = bool(self.races) and (r.random() < RACE_SHARE or not self.entries)
        pool = self.races if races else self.entries
        weights = [self.energy(races, at) for at in range(len(pool))]
        at = r.choices(range(len(pool)), weights)[0]
        out = vary(pool[at], r, points, self.counts)
        self.last = ((races, at), out.faults, out.dataset)
        return out


def _vary_rule(
    rule: Rule, r: Random, points: PausePoints, counts: Mapping[str, int] | None = None
) -> Rule:
    if not isinstance(rule, Pause):
        return rule
    function, step, counts = rule.function or SWEEPER, rule.at_step, counts or {}

    def raced(point: int) -> int:
        return points.raced(function, step, point, counts)

    # A point whose race runs went through again and again is moved more often (a kept race at
    # a harmless point, before the statement read anything, took most variations), and to
    # the points no run has raced whole yet.
    done = raced(rule.at_point)
    if r.random() < max(NEW_POINT, done / (1 + done)):
        # Within one statement seen at that step (as a race recipe draws), or all of them and
        # the margin past them: a completion's points drawn for a short failure mostly never
        # stopped.
        statements = points.statements(function, step)
        which = r.randrange(len(statements) + 1)
        if which < len(statements):
            n = points.path_points(function, step, statements[which])
        else:
            n = points.bound(function, step)
        weights = [1 / (1 + raced(p)) for p in range(n)]
        rule = replace(rule, at_point=r.choices(range(n), weights)[0])
    if r.random() < NEW_RESUME:
        rule = replace(rule, resume_after_steps=r.choice(RESUME_AFTER_STEPS))
    return rule


def vary(
    scenario: Scenario, r: Random, points: PausePoints, counts: Mapping[str, int] | None = None
) -> Scenario:
    """The scenario with its fault plan kept and what decides the race changed at random
    (`counts`: runs that reached each race feature so far, to move pauses off raced points)."""
    faults = FaultPlan(tuple(_vary_rule(rule, r, points, counts) for rule in scenario.faults.rules))
    schedule = scenario.schedule
    if r.random() < NEW_SCHEDULE:
        choices = schedule.choices or ()
        schedule = replace(
            schedule,
            seed=r.randrange(SCHEDULE_SEEDS),
            choices=tuple(choices[: r.randrange(len(choices) + 1)]),
        )
    dataset: Dataset = scenario.dataset
    if r.random() < NEW_DATA_SEED:
        dataset = replace(dataset, seed=r.randrange(DATA_SEEDS))
    return replace(scenario, faults=faults, schedule=schedule, dataset=dataset)


__all__ = ["MAX_ENTRIES", "RARE_RUNS", "Corpus", "vary"]

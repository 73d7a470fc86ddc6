"""The search's steering: combinations of rare situations are detected (each by a run that reaches
it and a close one that does not), the corpus keeps exactly the runs that reached something rare,
and its variations keep the fault plan while changing what decides the race."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from random import Random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.coverage import (
    COMBINATIONS,
    ITEM_RACE,
    SITUATIONS,
    SWEEP_RACE,
    combinations,
    race_features,
)
from harness.engine.faults import FaultPlan, Pause, Stall
from harness.explore.corpus import MAX_ENTRIES, RARE_RUNS, Corpus, vary
from harness.explore.points import PausePoints
from harness.explore.strategies import PAGE_FUNCTION, scenarios
from harness.history import Event, History
from harness.postgres import Server
from harness.replay import Workbench, run_scenario
from harness.scenario import Dataset, Scenario, Schedule, load

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
# combination -> (a saved scenario whose run reaches it, a close one whose run does not)
SAVED = {
    # A page worker paused in complete_page while the page was rescued and claimed again (the
    # mutant dropped the FOR UPDATE that keeps the re-claim out); the reference's pause holds it.
    "paused-while-item-raced": (
        "mutants/unlocked_complete_page",
        "reference/pause-page-past-lease",
    ),
    "sweep-paused-while-finished": (
        "reference/pause-sweeper-mid-sweep",
        "reference/pause-page-past-lease",
    ),
    # A copy of a thread's webhook while the thread waits out its backoff; a copy of a page's
    # that comes while the original still runs.
    "claim-in-retry-wait": (
        "reference/duplicate-processor-during-backoff",
        "reference/duplicate-page-webhook",
    ),
}


@pytest.fixture(scope="module")
def bench(pg_server: Server) -> Iterator[Workbench]:
    b = Workbench(pg_server)
    yield b
    b.close()


@pytest.mark.parametrize("combination", sorted(SAVED))
def test_a_saved_run_reaches_it_and_a_close_one_does_not(
    bench: Workbench, combination: str
) -> None:
    hit, miss = SAVED[combination]
    yes = run_scenario(bench, load(SCENARIOS / f"{hit}.json"))
    no = run_scenario(bench, load(SCENARIOS / f"{miss}.json"))
    assert combination in combinations(yes.result.history)
    assert combination not in combinations(no.result.history)


def test_race_features_name_the_function_the_point_and_how_far_the_race_went(
    bench: Workbench,
) -> None:
    """The mutant's saved race: its page worker paused in complete_page at point 1, the page
    was claimed and finished by another worker, and the paused one went on. The reference's
    pause at the same place holds the row, so nobody finishes the page meanwhile."""
    mutant = run_scenario(bench, load(SCENARIOS / "mutants/unlocked_complete_page.json"))
    reference = run_scenario(bench, load(SCENARIOS / "reference/pause-page-past-lease.json"))
    raced = race_features(mutant.result.history)
    assert {
        "paused:complete_page@1",
        "finished:complete_page@1",
        "resumed:complete_page@1",
        ITEM_RACE,
    } <= raced
    assert "claimed:complete_page@1" not in raced  # the deepest the race went, only
    held = race_features(reference.result.history)
    assert any(f.startswith("paused:complete_page@") for f in held)
    assert not any(f.startswith(("finished:", "resumed:")) for f in held)


def _history(*events: tuple[str, str, str, dict[str, Any]]) -> History:
    return History(
        tuple(
            Event(seq, float(seq), actor, "page_worker", kind, detail)
            for seq, (actor, kind, _, detail) in enumerate(events)
        )
    )


def _claim(actor: str) -> tuple[str, str, str, dict[str, Any]]:
    return (
        actor,
        "statement",
        "",
        {
            "sql": "SELECT * FROM public.claim_page(%(page_id)s)",
            "params": {"page_id": 1},
            "rows": [{"claimed": True}],
        },
    )


def _complete(actor: str) -> tuple[str, str, str, dict[str, Any]]:
    return (
        actor,
        "statement",
        "",
        {
            "sql": "SELECT * FROM public.complete_page(%(page_id)s, %(token)s)",
            "params": {"page_id": 1},
            "rows": [{"completed": False, "reason": "lease lost"}],
        },
    )


def _invoke(actor: str) -> tuple[str, str, str, dict[str, Any]]:
    return (actor, "invoke", "", {"function": PAGE_FUNCTION, "record_id": 1})


def test_a_stale_finish_while_the_item_is_claimed_again_is_seen() -> None:
    # w1 claims, stalls; w2 claims again; w1 finishes before w2 has: the combination.
    stale = _history(
        _invoke("w1"), _claim("w1"), _invoke("w2"), _claim("w2"), _complete("w1"), _complete("w2")
    )
    assert "stale-finish-while-reclaimed" in combinations(stale)
    # w2 finished first: the stale finish comes after the new claim is over.
    late = _history(
        _invoke("w1"), _claim("w1"), _invoke("w2"), _claim("w2"), _complete("w2"), _complete("w1")
    )
    assert "stale-finish-while-reclaimed" not in combinations(late)


def _scenario(*rules: Pause | Stall) -> Scenario:
    return Scenario(
        name="kept",
        dataset=Dataset(1, 8, 4),
        faults=FaultPlan(rules),
        schedule=Schedule("random", 5, (1, 2, 3)),
    )


def test_the_corpus_keeps_runs_that_reached_something_rare() -> None:
    corpus = Corpus()
    common = dict.fromkeys(SITUATIONS, RARE_RUNS)
    s = _scenario()
    assert not corpus.consider(s, frozenset({"dead-letter"}), frozenset(), common)
    assert not corpus.consider(s, frozenset(), frozenset(), {})
    assert corpus.consider(s, frozenset({"dead-letter"}), frozenset(), common | {"dead-letter": 0})
    assert corpus.consider(s, frozenset(), frozenset({next(iter(COMBINATIONS))}), common)
    assert len(corpus.entries) == 1 and len(corpus.races) == 1
    for _ in range(2 * MAX_ENTRIES):
        corpus.consider(s, frozenset(), frozenset({"paused-while-item-raced"}), common)
    assert len(corpus.races) == MAX_ENTRIES and len(corpus.entries) == 1
    assert Corpus().variant(1, PausePoints()) is None


def test_a_variant_keeps_the_fault_plan_and_varies_the_race() -> None:
    pause = Pause(function=PAGE_FUNCTION, occurrence=0, at_step=2, at_point=1, seconds=180.0)
    stall = Stall(function=PAGE_FUNCTION, occurrence=1, at_step=1, seconds=90.0)
    kept = _scenario(pause, stall)
    points = PausePoints(reached={(PAGE_FUNCTION, 2): 5}, ended={(PAGE_FUNCTION, 2): {5}})
    variants = [vary(kept, Random(seed), points) for seed in range(200)]
    for v in variants:
        p, s = v.faults.rules
        assert s == stall and isinstance(p, Pause)
        assert (p.function, p.occurrence, p.at_step, p.seconds) == (PAGE_FUNCTION, 0, 2, 180.0)
        assert 0 <= p.at_point < points.bound(PAGE_FUNCTION, 2)
        assert v.dataset.threads == 8 and v.dataset.page_size == 4
    points_drawn = {
        v.faults.rules[0].at_point for v in variants if isinstance(v.faults.rules[0], Pause)
    }
    assert points_drawn == set(range(points.bound(PAGE_FUNCTION, 2)))
    assert len({v.schedule.seed for v in variants}) > 100
    corpus = Corpus([kept])
    assert corpus.variant(7, points) == corpus.variant(7, points)  # the seed decides it all


def test_a_variant_moves_a_pause_off_a_point_raced_whole_again_and_again() -> None:
    """A kept race at a point whose race many runs went through (the first point, before the
    statement read anything) is moved in most variants, and to the points not raced whole."""
    pause = Pause(function=PAGE_FUNCTION, occurrence=0, at_step=2, at_point=0, seconds=180.0)
    kept = _scenario(pause)
    points = PausePoints(
        reached={(PAGE_FUNCTION, 2): 5}, paths={(PAGE_FUNCTION, 2): {"complete_page": 5}}
    )
    counts = {"resumed:complete_page@0": 30}
    moved = [vary(kept, Random(seed), points, counts).faults.rules[0] for seed in range(300)]
    at = [p.at_point for p in moved if isinstance(p, Pause)]
    assert at.count(0) < len(at) / 10  # kept at 0 by half the variants without the counts
    assert set(at) == set(range(points.bound(PAGE_FUNCTION, 2)))
    same = [vary(kept, Random(seed), points).faults.rules[0] for seed in range(300)]
    assert [p.at_point for p in same if isinstance(p, Pause)].count(0) > len(same) / 3


def test_the_corpus_gives_its_runs_to_what_was_reached_least() -> None:
    """Two kept races: one reached a race since reached by many runs, one a race no other run
    reached; variants come mostly from the second."""
    corpus = Corpus()
    often = _scenario(Pause(function=PAGE_FUNCTION, occurrence=0, at_step=2, at_point=0))
    once = _scenario(Pause(function=PAGE_FUNCTION, occurrence=1, at_step=2, at_point=3))
    corpus.consider(often, frozenset(), frozenset({"finished:claim_page@0"}), {})
    corpus.consider(once, frozenset(), frozenset({"finished:complete_page@3"}), {})
    corpus.counts = {"finished:claim_page@0": 200, "finished:complete_page@3": 1}
    occurrences = []
    for seed in range(300):
        v = corpus.variant(seed, PausePoints())
        assert v is not None
        occurrences.append(v.faults.rules[0].occurrence)  # type: ignore[attr-defined]
    assert occurrences.count(1) > 4 * occurrences.count(0) > 0


KEPT = _scenario(Pause(function=PAGE_FUNCTION, occurrence=0, at_step=2, at_point=1, seconds=180.0))
CORPUS = Corpus([KEPT])
drawn: list[Scenario] = []


@settings(
    max_examples=150,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
@given(scenarios(max_threads=8, corpus=CORPUS, points=PausePoints()))
def _draw(scenario: Scenario) -> None:
    drawn.append(scenario)


def test_a_share_of_the_drawn_scenarios_vary_a_kept_one() -> None:
    _draw()
    varied = [
        s
        for s in drawn
        if len(s.faults.rules) == 1
        and s.faults.rules[0] == KEPT.faults.rules[0]
        and s.dataset.threads == 8
    ]
    assert varied and len(varied) < len(drawn)
    assert all(s.name == "explore" for s in drawn)


def test_recipes_aim_at_what_the_runs_reached_least() -> None:
    from collections import Counter

    from harness.explore.strategies import RECIPES, _recipe_name, aim

    # A race recipe is counted by its whole races (aim), not by its name.
    counts = {aim(name): 1000 for name in RECIPES} | {aim("sweep-paused-while-finished"): 0}
    picked: Counter[str] = Counter()

    @settings(max_examples=300, deadline=None, database=None, derandomize=True)
    @given(st.data())
    def draw(data: st.DataObject) -> None:
        picked[data.draw(st.composite(lambda d: _recipe_name(d, RECIPES, counts))())] += 1

    draw()
    # Most draws are weighted (nearly all of those go to the unreached one), a share uniform.
    assert picked["sweep-paused-while-finished"] > 0.5 * sum(picked.values())
    assert len(picked) == len(RECIPES)  # the uniform share still reaches every recipe


def test_a_race_recipe_is_aimed_at_whole_races_not_at_a_claim_raced() -> None:
    """A paused claim raced by another claim counts for `paused-while-item-raced` many times
    over; the recipe must keep its weight until a whole race (the item finished by another
    worker, then the paused one went on) was reached, and lose it once such races are common."""
    from harness.explore.strategies import RECIPES, _recipe_name

    race = "paused-while-item-raced"
    common = {name: 1000 for name in (*RECIPES, *COMBINATIONS)}

    def share(counts: dict[str, int]) -> float:
        picked: list[str] = []

        @settings(max_examples=200, deadline=None, database=None, derandomize=True)
        @given(st.data())
        def draw(data: st.DataObject) -> None:
            picked.append(data.draw(st.composite(lambda d: _recipe_name(d, RECIPES, counts))()))

        draw()
        return picked.count(race) / len(picked)

    unreached = share(common | {ITEM_RACE: 0, SWEEP_RACE: 1000})
    reached = share(common | {ITEM_RACE: 1000, SWEEP_RACE: 1000})
    assert unreached > 0.5 > reached
    # Whole races common, but all at one point: a point where a pause stopped and no whole
    # race happened yet gives the recipe its weight back; a sweep's does not.
    at_zero = common | {ITEM_RACE: 1000, SWEEP_RACE: 1000, "resumed:complete_page@0": 1000}
    assert share(at_zero | {"paused:complete_page@0": 1000, "paused:sweep@1": 9}) < 0.5
    assert share(at_zero | {"paused:complete_page@1": 3}) > 0.5


def test_draws_stay_consistent_while_the_learned_state_changes() -> None:
    """Hypothesis requires the same draws for the same choices; what the search learns changes
    between runs (counts, pause points, kept runs), so nothing it learns may change which draws
    are made (else FlakyStrategyDefinition ends the search)."""
    from harness.explore.strategies import RECIPES

    points, corpus = PausePoints(), Corpus()
    n = [0]

    @settings(
        max_examples=400, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(
        scenarios(
            max_threads=8, max_rules=3, early=False, restart=True, points=points, corpus=corpus
        )
    )
    def run(scenario: Scenario) -> None:
        n[0] += 1
        k = n[0]
        # Change everything the strategy reads, differently after each example.
        corpus.counts = {
            name: (k * (i + 3)) % 7 for i, name in enumerate((*RECIPES, *COMBINATIONS))
        }
        points.reached[(PAGE_FUNCTION, 2)] = 1 + k % 9
        points.reached[("sweeper", 0)] = 1 + k % 5
        if k % 2:
            points.no_statement.add((PAGE_FUNCTION, 1 + k % 3))
        else:
            points.no_statement.clear()
        corpus.consider(scenario, frozenset(), frozenset({"paused-while-item-raced"}), {})

    run()
    assert n[0] == 400 and corpus.races


def test_the_same_choices_make_the_same_draws_with_or_without_a_corpus_variant() -> None:
    """A scenario drawn while the corpus was empty, replayed choice by choice once the corpus
    holds runs (so some of those choices now pick a variant), consumes exactly the same choices:
    a variant returned before the schedule and the syncs were drawn stopped the draws early, and
    explorations and `threadsync mutate` died with FlakyStrategyDefinition."""
    from random import Random

    from hypothesis.control import BuildContext
    from hypothesis.internal.conjecture.data import ConjectureData, Status

    def draw(data: ConjectureData, corpus: Corpus) -> Scenario:
        with BuildContext(data, wrapped_test=lambda: None):
            scenario: Scenario = data.draw(
                scenarios(max_threads=8, max_rules=3, early=False, corpus=corpus)
            )
        data.freeze()
        return scenario

    kept = Corpus()
    kept.consider(
        draw(ConjectureData(random=Random(0)), Corpus()),
        frozenset(),
        frozenset(COMBINATIONS),
        {},
    )
    assert kept.variant(1, PausePoints()) is not None
    varied = 0
    for seed in range(300):
        fresh = ConjectureData(random=Random(seed))
        first = draw(fresh, Corpus())
        assert fresh.status is Status.VALID
        again = ConjectureData.for_choices(fresh.choices)
        second = draw(again, kept)
        assert again.status is Status.VALID
        assert again.choices == fresh.choices
        varied += second != first
    assert varied > 0, "no drawn scenario took a corpus variant: the test tried nothing"

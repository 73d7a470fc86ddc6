"""What the search learns of pause points: a Pause that stopped shows its statement has that many
points, one that ended before its point bounds the draw, a step without a statement is never drawn
again, and the draws of a learned-from strategy stay within what was learned."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.engine.faults import (
    SWEEPER,
    ApiFaults,
    Crash,
    Drop,
    FaultPlan,
    KillConnection,
    Pause,
    Rule,
    SlowSteps,
)
from harness.explore.points import MARGIN, PRIOR_POINTS, PausePoints
from harness.explore.strategies import (
    PAGE_FUNCTION,
    PROCESSOR_FUNCTION,
    STEPS,
    SWEEP_INTERVAL,
    _clear_way,
    _item_race,
    _past_lease,
    _pause,
    _race_pause,
    _race_seconds,
    _race_steps,
    _rarest_statement,
    _recipe,
    _Shape,
    fault_plans_for,
)
from harness.postgres import Server
from harness.replay import Workbench, run_scenario
from harness.scenario import Dataset, Scenario, load

REFERENCE = Path(__file__).resolve().parent.parent / "scenarios" / "reference"
BEYOND = 10_000  # more pause points than any statement of the reference has


@pytest.fixture(scope="module")
def bench(pg_server: Server) -> Iterator[Workbench]:
    b = Workbench(pg_server)
    yield b
    b.close()


def _paused_at(point: int, step: int = 2) -> Scenario:
    base = load(REFERENCE / "pause-page-alone.json")
    pause = Pause(function=PAGE_FUNCTION, occurrence=0, at_step=step, at_point=point)
    return replace(base, faults=FaultPlan((pause,)))


def test_a_stopped_pause_and_an_unmet_point_are_learned(bench: Workbench) -> None:
    points = PausePoints()
    assert points.bound(PAGE_FUNCTION, 2) == PRIOR_POINTS  # nothing learned yet
    for point in (3, BEYOND):
        scenario = _paused_at(point)
        points.learn(scenario, run_scenario(bench, scenario).result.history)
    assert points.reached[(PAGE_FUNCTION, 2)] == 4
    assert points.ended[(PAGE_FUNCTION, 2)] == {BEYOND}
    # Past the longest path seen, a margin (another path may be longer than the ones seen).
    assert points.bound(PAGE_FUNCTION, 2) == 4 + MARGIN
    # Before any stopped, statements that ended sooner than the prior bound the draw.
    short = PausePoints(ended={(PAGE_FUNCTION, 0): {2, BEYOND}, (PAGE_FUNCTION, 2): {3}})
    assert short.bound(PAGE_FUNCTION, 0) == PRIOR_POINTS
    assert short.bound(PAGE_FUNCTION, 2) == 3


def test_a_step_without_a_statement_is_learned(bench: Workbench) -> None:
    points = PausePoints()
    # Step 1 is the page worker's API fetch; without an early delivery it has no step 3.
    for step in (1, 3):
        scenario = _paused_at(0, step=step)
        points.learn(scenario, run_scenario(bench, scenario).result.history)
    assert points.no_statement == {(PAGE_FUNCTION, 1), (PAGE_FUNCTION, 3)}
    assert points.steps(PAGE_FUNCTION, STEPS[PAGE_FUNCTION]) == (0, 2)
    # A step that had a statement on another path (an early delivery's commit) stays drawn.
    points.ended[(PAGE_FUNCTION, 3)] = {0}
    assert points.steps(PAGE_FUNCTION, STEPS[PAGE_FUNCTION]) == (0, 2, 3)


def test_a_scenario_without_pauses_teaches_only_the_steps_that_ran_a_statement(
    bench: Workbench,
) -> None:
    """No pause points from a run without Pause rules; only where its deliveries ran a
    statement, and which: each worker's claim (step 0) and its finish (step 2), after its API
    call."""
    points = PausePoints()
    scenario = Scenario(name="plain", dataset=Dataset(0, 4, 4))
    points.learn(scenario, run_scenario(bench, scenario).result.history)
    assert points.ran == {(f, s) for f in (PAGE_FUNCTION, PROCESSOR_FUNCTION) for s in (0, 2)}
    assert points.ran_paths == {
        (PAGE_FUNCTION, 0): {"claim_page": (1, 0)},
        (PAGE_FUNCTION, 2): {"complete_page": (1, 0)},
        (PROCESSOR_FUNCTION, 0): {"claim_thread": (4, 0)},
        (PROCESSOR_FUNCTION, 2): {"complete_thread": (4, 0)},
    }
    assert points == PausePoints(ran=points.ran, ran_paths=points.ran_paths)
    # A race aims at the finish before any pause has stopped there, and never at the API call,
    # the commit or the claim.
    shape = _Shape(4, 4, restart=False, points=points)
    assert _race_steps(shape, PAGE_FUNCTION) == (2,)
    assert _race_steps(_Shape(4, 4, restart=False), PAGE_FUNCTION) == (1, 2, 3)


LEARNED = PausePoints(
    reached={(PAGE_FUNCTION, 2): 3, (SWEEPER, 0): 2},
    ended={(PAGE_FUNCTION, 2): {3}, (SWEEPER, 0): {2}},
    no_statement={(PAGE_FUNCTION, 1), (PAGE_FUNCTION, 3)},
)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    fault_plans_for(8, 4, max_rules=4, early=False, points=LEARNED).filter(
        lambda plan: any(isinstance(r, Pause) for r in plan.rules)
    )
)
def test_pauses_are_drawn_within_what_was_learned(plan: FaultPlan) -> None:
    for rule in plan.rules:
        if isinstance(rule, Pause) and rule.function in (PAGE_FUNCTION, SWEEPER):
            assert rule.at_step in ((0,) if rule.function == SWEEPER else (0, 2))
            assert rule.at_point < LEARNED.bound(rule.function or "", rule.at_step)


@st.composite
def _page_pauses(draw: st.DrawFn) -> Pause:
    shape = _Shape(8, 4, restart=False, points=LEARNED)
    return _pause(draw, shape, PAGE_FUNCTION, 0, seconds=0.0, after=(None,))


def test_the_draw_covers_every_learned_point() -> None:
    seen: set[tuple[int, int]] = set()

    # Derandomized: with random seeds, 200 examples missed one of the points in 2 of 300 seeds
    # (a suite here failed on step 0's point 3), which says nothing about the draw.
    @settings(max_examples=200, deadline=None, database=None, derandomize=True)
    @given(_page_pauses())
    def draw(pause: Pause) -> None:
        seen.add((pause.at_step, pause.at_point))

    draw()
    # Steps 0 and 2 (1 and 3 have no statement); step 2's 3 points seen and a margin, and
    # step 0 (nothing learned) over the prior's points.
    assert {p for s, p in seen if s == 2} == set(range(3 + MARGIN))
    assert {p for s, p in seen if s == 0} == set(range(PRIOR_POINTS))


def test_a_race_draws_only_points_that_stop_once_a_long_path_was_seen() -> None:
    """The margin past the most points seen is for exploring; a race needs its pause to stop.
    A statement seen to stop at point 11 passed points 0-10, so those are drawn and no more; one
    seen to stop only at its first point still ranges over the prior's points."""
    points = PausePoints(reached={(PAGE_FUNCTION, 2): 12, (PAGE_FUNCTION, 0): 1})
    assert points.bound(PAGE_FUNCTION, 2) == 12 + MARGIN
    assert points.known(PAGE_FUNCTION, 2) == 12
    assert points.known(PAGE_FUNCTION, 0) == min(1 + MARGIN, PRIOR_POINTS)
    assert PausePoints().known(PAGE_FUNCTION, 2) == PRIOR_POINTS
    drawn: set[int] = set()

    @settings(max_examples=300, deadline=None, database=None, derandomize=True)
    @given(st.data())
    def draw(data: st.DataObject) -> None:
        shape = _Shape(8, 4, restart=False, points=points)
        pause = data.draw(
            st.composite(
                lambda d: _race_pause(
                    d, shape, PAGE_FUNCTION, 0, seconds=0.0, after=(None,), steps=(2,)
                )[0]
            )()
        )
        drawn.add(pause.at_point)

    draw()
    assert drawn == set(range(12))


def test_each_statement_a_step_runs_is_learned_apart(bench: Workbench) -> None:
    """The page worker's step 2 completes the page, or fails it after the API failed: a short
    statement whose points are a few of the completion's. Each is learned by the function it
    called, so a race can draw within the one it aims at."""
    points = PausePoints()
    failing = ApiFaults(calls=((0, "server_error", 0.0),))
    for point, api in ((3, False), (1, True), (2, True)):
        scenario = _paused_at(point)
        if api:
            scenario = replace(scenario, faults=FaultPlan((*scenario.faults.rules, failing)))
        points.learn(scenario, run_scenario(bench, scenario).result.history)
    assert points.statements(PAGE_FUNCTION, 2) == ("complete_page", "fail_page")
    assert points.paths[(PAGE_FUNCTION, 2)] == {"complete_page": 4, "fail_page": 2}
    assert points.path_ended[(PAGE_FUNCTION, 2)] == {"fail_page": {2}}
    # The failure stopped at 1 and ended before 2: two points. The completion stopped at 3 and
    # nothing bounds it: the step's range (the prior's 8 points).
    assert points.path_points(PAGE_FUNCTION, 2, "fail_page") == 2
    assert points.path_points(PAGE_FUNCTION, 2, "complete_page") == PRIOR_POINTS
    # Together, as before: the most points seen and a margin.
    assert points.bound(PAGE_FUNCTION, 2) == 4 + MARGIN


def test_every_run_teaches_which_statements_a_step_runs_and_on_which_path(
    bench: Workbench,
) -> None:
    """No Pause needed: a run whose first page fetch failed shows the page worker's step 2 runs
    fail_page after a failed API call (that delivery) and complete_page without (the retry)."""
    points = PausePoints()
    base = load(REFERENCE / "pause-page-alone.json")
    failing = replace(base, faults=FaultPlan((ApiFaults(calls=((0, "server_error", 0.0),)),)))
    points.learn(failing, run_scenario(bench, failing).result.history)
    assert points.statements(PAGE_FUNCTION, 2) == ("complete_page", "fail_page")
    assert points.after_failure(PAGE_FUNCTION, 2, "fail_page") is True
    assert points.after_failure(PAGE_FUNCTION, 2, "complete_page") is False
    assert points.after_failure(PAGE_FUNCTION, 2, None) is None  # all statements: not known
    assert points.after_failure(PAGE_FUNCTION, 2, "never_ran") is None
    assert points.paths == {} and points.runs == 0  # nothing was paused


def _failure_share(ran: dict[str, tuple[int, int]]) -> float:
    """The share of page races drawn with the API fault that sends the worker down its failure
    path, when step 2 was seen to run these statements (plain runs, runs after a failure)."""
    points = PausePoints(reached={(PAGE_FUNCTION, 2): 4}, ran_paths={(PAGE_FUNCTION, 2): ran})
    shape = _Shape(8, 4, restart=False, points=points)
    failing: list[bool] = []

    @settings(max_examples=300, deadline=None, database=None, derandomize=True)
    @given(st.composite(lambda d: _item_race(d, shape, PAGE_FUNCTION, 0))())
    def draw(rules: tuple[Rule, ...]) -> None:
        assert isinstance(rules[0], Pause) and rules[0].at_step == 2
        failing.append(any(isinstance(r, ApiFaults) for r in rules))

    draw()
    return sum(failing) / len(failing)


def test_a_race_takes_the_path_of_the_statement_it_aims_at() -> None:
    """A race aimed at a statement run only without a failed API call (the completion) gets no
    API fault; at one run only after one (the failure path), gets one; at all of the step's
    statements together, a coin decides. Before, a coin decided every race, whatever its
    statement: a search paused only failure paths while no completion was ever paused."""
    completion_only = _failure_share({"complete_page": (5, 0)})
    failure_only = _failure_share({"fail_page": (0, 5)})
    both = _failure_share({"complete_page": (5, 0), "fail_page": (0, 5)})
    # Aimed at the one statement about half the time, at all of them (a coin) the rest.
    assert completion_only < 0.4 < 0.6 < failure_only
    assert 0.3 < both < 0.7


def test_a_race_goes_to_the_points_not_yet_raced_whole() -> None:
    """A point whose race runs already went through (another worker finished the item while
    the pause held, then the paused one went on) gets few of a race's draws; and a short
    statement's points get a share of their own, not 2 of a long one's 12."""
    points = PausePoints(
        reached={(PAGE_FUNCTION, 2): 12},
        paths={(PAGE_FUNCTION, 2): {"complete_page": 12, "fail_page": 2}},
        path_ended={(PAGE_FUNCTION, 2): {"fail_page": {2}, "complete_page": {12}}},
    )
    counts = {"resumed:complete_page@0": 40}
    drawn: list[int] = []

    @settings(max_examples=400, deadline=None, database=None, derandomize=True)
    @given(st.data())
    def draw(data: st.DataObject) -> None:
        shape = _Shape(8, 4, restart=False, points=points, counts=counts)
        pause = data.draw(
            st.composite(
                lambda d: _race_pause(
                    d, shape, PAGE_FUNCTION, 0, seconds=0.0, after=(None,), steps=(2,)
                )[0]
            )()
        )
        drawn.append(pause.at_point)

    draw()
    assert set(drawn) == set(range(12))  # every point that stops is still drawn
    # Drawn uniformly over 12 points, point 1 would get 1 draw in 12 and point 0 as many.
    assert drawn.count(1) > len(drawn) / 6
    assert drawn.count(0) < len(drawn) / 12


def test_a_race_recipe_clears_its_delivery_of_other_rules() -> None:
    """Rules of the swarm that could match the delivery a race pauses (a crash, a cut
    connection, another Pause at the same step) are left out of its scenario; rules aimed at
    other deliveries, the sweeper or the API stay."""
    race = (Pause(function=PAGE_FUNCTION, occurrence=1, at_step=2, at_point=3, seconds=180.0),)
    kept = (
        Crash(function=PAGE_FUNCTION, occurrence=0, at_step=2),
        Crash(function=PROCESSOR_FUNCTION, occurrence=1, at_step=2),
        Pause(function=SWEEPER, occurrence=1),
        ApiFaults(calls=((1, "server_error", 0.0),)),
        SlowSteps(times=2),
    )
    dropped = (
        Crash(function=PAGE_FUNCTION, occurrence=1, at_step=2),
        KillConnection(function=PAGE_FUNCTION, at_step=1),
        Pause(function=PAGE_FUNCTION, occurrence=1, at_step=2, at_point=0, seconds=60.0),
        Drop(),
    )
    assert _clear_way(race, kept + dropped) == kept
    assert _clear_way((), kept + dropped) == kept + dropped


def test_a_race_lasts_to_the_rescue_tick_or_one_interval_more_and_races_two_functions() -> None:
    """An item race pauses its worker until the tick that rescues its item (its lease plus one
    sweep interval) or one interval more, and in some scenarios a worker of the other function
    races too, on an item of its own; shrinking ends at one race."""
    shape = _Shape(8, 4, restart=False, points=LEARNED)
    page = _past_lease(shape, PAGE_FUNCTION)
    thread = _past_lease(shape, PROCESSOR_FUNCTION)
    assert _race_seconds(shape, PAGE_FUNCTION) == (page, page + SWEEP_INTERVAL)
    races: list[tuple[Pause, ...]] = []

    @settings(max_examples=200, deadline=None, database=None, derandomize=True)
    @given(_recipe("paused-while-item-raced", shape, False))
    def draw(rules: tuple[Rule, ...]) -> None:
        pauses = tuple(r for r in rules if isinstance(r, Pause))
        races.append(pauses)
        assert 1 <= len(pauses) <= 2
        assert len({p.function for p in pauses}) == len(pauses)
        for p in pauses:
            past = page if p.function == PAGE_FUNCTION else thread
            assert p.seconds in (past, past + SWEEP_INTERVAL) and p.at_step > 0

    draw()
    assert any(len(p) == 2 for p in races) and any(len(p) == 1 for p in races)
    assert {p.seconds for r in races for p in r} == {
        page,
        page + SWEEP_INTERVAL,
        thread,
        thread + SWEEP_INTERVAL,
    }


def test_a_race_aims_at_the_statement_paused_least() -> None:
    """A step that runs a completion on one path and a failure on another: once the completion
    has been paused in many runs and the failure in none, most races draw within the
    failure's points; both statements, and both together, are still drawn."""
    points = PausePoints(
        reached={(PAGE_FUNCTION, 2): 9},
        paths={(PAGE_FUNCTION, 2): {"complete_page": 9}},
        path_ended={(PAGE_FUNCTION, 2): {"fail_page": {2}}},
    )
    assert PausePoints.paused("complete_page", {"paused:complete_page@3": 30}) == 30
    counts = {"paused:complete_page@1": 20, "paused:complete_page@4": 20, "paused:claim_page@0": 9}
    shape = _Shape(8, 4, restart=False, points=points, counts=counts)
    drawn: list[int] = []

    @settings(max_examples=300, deadline=None, database=None, derandomize=True)
    @given(st.data())
    def draw(data: st.DataObject) -> None:
        drawn.append(
            data.draw(
                st.composite(
                    lambda d: _rarest_statement(d, shape, ("complete_page", "fail_page"))
                )()
            )
        )

    draw()
    assert set(drawn) == {0, 1, 2}
    assert drawn.count(1) > 0.7 * len(drawn)

"""The losses group and the emit grace draws: an item's webhook lost or late several times in a row
(its creation and the sweeper's re-sends), with a grace that makes a tick skip a re-sent row."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from random import Random

import pytest
from hypothesis import HealthCheck, Phase, find, given, settings

from harness.coverage import COMBINATIONS, combinations, wait_features
from harness.engine.faults import ApiFaults, Delay, Drop, Duplicate, Rule
from harness.explore.sample import first_drawn
from harness.explore.strategies import (
    MAX_LOSSES,
    PAGE_FUNCTION,
    PROCESSOR_FUNCTION,
    RECIPES,
    SETTING_CHOICES,
    SWEEP_INTERVAL,
    _aimed_count,
    _late_seconds,
    _losses,
    _recipe,
    _Shape,
    scenarios,
)
from harness.fakeapi import FETCH_PAGE, FETCH_THREAD
from harness.postgres import Server
from harness.replay import Workbench, run_scenario
from harness.scenario import Scenario, load

LOSSES = ("Drop", "Delay", "ApiFaults")
SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


def test_late_copies_are_timed_from_the_resend_tick() -> None:
    """With a 120 s grace the first re-send is at the 120 s tick: the creation webhook comes with
    it, 5 s after it (inside a retry wait) or past the next tick; a re-send comes 5 s late, past
    the next tick, or past the reference's next re-send two ticks later."""
    shape = _Shape(12, 4, restart=False, settings={"emit_grace_seconds": 120.0})
    assert _late_seconds(shape, resent=False) == (120.0, 125.0, 190.0)
    assert _late_seconds(shape, resent=True) == (5.0, 70.0, 130.0)
    # Below the interval every tick re-sends: past the next tick is past the next re-send.
    short = _Shape(12, 4, restart=False, settings={"emit_grace_seconds": 5.0})
    assert _late_seconds(short, resent=True) == (5.0, SWEEP_INTERVAL + 10.0)


@settings(max_examples=300, database=None, deadline=None, suppress_health_check=list(HealthCheck))
@given(_losses(LOSSES, _Shape(12, 4, restart=False, settings={"emit_grace_seconds": 90.0})))
def test_a_losses_group_loses_consecutive_deliveries_of_one_item(rules: tuple[Rule, ...]) -> None:
    lost = [r for r in rules if isinstance(r, (Drop, Delay))]
    api = [r for r in rules if isinstance(r, ApiFaults)]
    assert 2 <= len(lost) <= MAX_LOSSES and len(lost) + len(api) == len(rules) and len(api) <= 1
    (function,) = {r.function for r in lost}
    occurrences = [r.occurrence for r in lost]
    first = occurrences[0]
    assert first is not None
    calls = [c[0] for r in api for c in r.calls]
    # A page that failed first: its retry's re-sends are lost, starting one delivery later.
    failed_first = function == PAGE_FUNCTION and calls == [first - 1]
    if function == PAGE_FUNCTION:
        # Three pages: the page's creation (or first re-send), then its re-sends (no later page
        # exists meanwhile); the API fails the page's first call, before or after the losses.
        assert first <= 3 and occurrences == list(range(first, first + len(lost)))
        assert calls in ([], [first], [first - 1])
    else:
        # Twelve threads: one thread's creation, then the re-sends after every creation; every
        # first-round call fails.
        assert function == PROCESSOR_FUNCTION and first < 12
        assert occurrences[1:] == list(range(12, 12 + len(lost) - 1))
        assert all(r.function == FETCH_THREAD for r in api) and calls in ([], list(range(12)))
    shape = _Shape(12, 4, restart=False, settings={"emit_grace_seconds": 90.0})
    for i, r in enumerate(lost):
        if isinstance(r, Delay):
            assert r.seconds in _late_seconds(shape, resent=failed_first or i > 0)


def _drawn(n: int, seed: int) -> list[Scenario]:
    """The first `n` scenarios an exploration with this seed draws (generation only)."""
    return first_drawn(scenarios(), n, seed)


def _page_lost_twice(s: Scenario) -> bool:
    lost = {
        r.occurrence
        for r in s.faults.rules
        if isinstance(r, (Drop, Delay)) and r.function == PAGE_FUNCTION
    }
    return any(o is not None and o + 1 in lost for o in lost)


def test_exploration_draws_a_page_lost_twice_with_a_grace_above_the_interval() -> None:
    """What a sweep re-sending a waiting row at every tick needs to show: the row's creation
    webhook and its first re-send both lost or late, with an emit grace above the sweep
    interval. Measured (benchmarks/fault_mix.py, seeds 1-4) 31 scenarios in 1,200; before the
    losses group, none. Hypothesis' draws are correlated, so three seeds are counted."""
    drawn = [s for seed in (1, 2, 3) for s in _drawn(300, seed)]
    grace = SETTING_CHOICES["emit_grace_seconds"][0]
    long_grace = [s for s in drawn if s.settings.get("emit_grace_seconds", grace) > SWEEP_INTERVAL]
    assert len(long_grace) >= len(drawn) // 3, len(long_grace)
    both = sum(_page_lost_twice(s) for s in long_grace)
    assert both >= len(drawn) // 60, both


@pytest.fixture(scope="module")
def bench(pg_server: Server) -> Iterator[Workbench]:
    b = Workbench(pg_server)
    yield b
    b.close()


def test_a_tick_passing_over_a_lost_re_send_is_seen_only_with_a_long_grace(
    bench: Workbench,
) -> None:
    """The thread's webhook and its first re-send are dropped. With a 150 s grace (or 90 s) the
    tick after the lost re-send passes the row over; with the default 30 s every tick re-sends
    it, so the combination is not reached."""
    saved = load(SCENARIOS / "reference/resend-waits-for-grace.json")
    assert saved.settings == {"emit_grace_seconds": 150}
    for grace, reached in ((150, True), (90, True), (30, False)):
        run = run_scenario(bench, replace(saved, settings={"emit_grace_seconds": grace}))
        assert not run.violations
        assert ("re-send-lost-in-grace" in combinations(run.result.history)) is reached, grace


def test_a_recipe_aims_at_a_lost_re_send() -> None:
    """Its own recipe draws a losses group, chosen like the others towards what was reached
    least (tests/test_corpus.py)."""
    assert "re-send-lost-in-grace" in RECIPES and "re-send-lost-in-grace" in COMBINATIONS
    shape = _Shape(4, 4, restart=False, settings={"emit_grace_seconds": 120.0})
    rules = find(
        _recipe("re-send-lost-in-grace", shape, False),
        lambda rs: len(rs) >= 2,
        settings=settings(database=None, phases=(Phase.generate,)),
        random=Random(0),
    )
    assert all(isinstance(r, (Drop, Delay, ApiFaults)) for r in rules)


def test_a_claim_in_a_retry_wait_is_told_apart_by_its_function(bench: Workbench) -> None:
    """A thread's copy in its backoff reaches the combination through the processor only; until
    a page worker has claimed in a wait too, the recipe aimed at it keeps its weight and aims
    its copy at a page."""
    run = run_scenario(bench, load(SCENARIOS / "reference/duplicate-processor-during-backoff.json"))
    features = wait_features(run.result.history)
    page, processor = (f"claims:{PAGE_FUNCTION}", f"claims:{PROCESSOR_FUNCTION}")
    assert {page, processor, f"waited:{PROCESSOR_FUNCTION}"} <= features
    assert f"waited:{PAGE_FUNCTION}" not in features
    counts = {f: 3 for f in features} | {"claim-in-retry-wait": 3}
    assert _aimed_count("claim-in-retry-wait", counts) == 0
    waited = counts | {f"waited:{PAGE_FUNCTION}": 1}
    assert _aimed_count("claim-in-retry-wait", waited) == 3

    @settings(max_examples=50, database=None, deadline=None)
    @given(_recipe("claim-in-retry-wait", _Shape(8, 4, False, counts=counts), False))
    def aimed_at_a_page(rules: tuple[Rule, ...]) -> None:
        api, copy = rules
        assert isinstance(copy, Duplicate) and copy.function == PAGE_FUNCTION
        assert isinstance(api, ApiFaults) and api.function == FETCH_PAGE

    aimed_at_a_page()

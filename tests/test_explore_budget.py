"""A search ends at its budget even while Hypothesis only draws scenarios it has already run."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import cast

import pytest

from harness.explore.results import ExploreResult
from harness.explore.search import (
    OVERRUN_CHECK_S,
    OVERRUN_GRACE_S,
    PROFILES,
    _ended_at_budget,
    _OutOfBudget,
    _Search,
)
from harness.replay import Workbench
from harness.scenario import load

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios/reference/crash-page-step-0.json"


def _search(budget_s: float) -> _Search:
    result = ExploreResult(impl="reference", seed=0, profile="ci", budget_s=budget_s)
    # The bench is never used: every call below is answered from the search's own cache.
    return _Search(cast(Workbench, None), result, PROFILES["ci"], progress=None)


def test_a_scenario_already_run_is_answered_within_the_budget() -> None:
    scenario = load(SCENARIO)
    search = _search(budget_s=3600.0)
    search.outcomes[scenario.to_json()] = ["page-exactly-once"]
    assert search(scenario) is True
    search.outcomes[scenario.to_json()] = []
    assert search(scenario) is False


def test_a_scenario_already_run_ends_a_search_whose_budget_is_spent() -> None:
    scenario = load(SCENARIO)
    search = _search(budget_s=0.0)
    search.outcomes[scenario.to_json()] = []
    # Before the fix this answered from the cache, so Hypothesis' target phase, re-drawing
    # scenarios already run, kept a 60 s exploration hill climbing for minutes.
    with pytest.raises(_OutOfBudget):
        search(scenario)


def test_shrinking_past_its_bound_still_answers_the_final_replay() -> None:
    scenario = load(SCENARIO)
    search = _search(budget_s=3600.0)
    search.first_at = 0.0
    search.shrink_deadline = 0.0
    search.outcomes[scenario.to_json()] = ["page-exactly-once"]
    assert search(scenario) is True
    other = load(SCENARIO.with_name("api-server-error.json"))
    with pytest.raises(_OutOfBudget):
        search(other)


def test_hypothesis_own_code_past_the_budget_is_interrupted() -> None:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("SIGALRM reaches only the main thread, and this test runs in another")
    search = _search(budget_s=0.0)
    end = time.monotonic() + 30.0
    with pytest.raises(_OutOfBudget), _ended_at_budget(search):
        while time.monotonic() < end:  # stands for Hypothesis hill climbing on its own
            pass
    assert time.monotonic() < end


def test_a_run_of_ours_is_never_interrupted() -> None:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("SIGALRM reaches only the main thread, and this test runs in another")
    search = _search(budget_s=0.0)
    search.in_call = True
    with _ended_at_budget(search):
        busy_until = time.monotonic() + OVERRUN_GRACE_S + 3 * OVERRUN_CHECK_S
        while time.monotonic() < busy_until:  # a run the alarm must let finish
            pass
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)

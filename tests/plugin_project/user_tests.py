"""What a user's own suite looks like with threadsync installed."""

from __future__ import annotations

from harness.replay import Workbench
from harness.scenario import Dataset, Scenario
from threadsync.testing import ViolationFound, explore, run


def test_reference_survives_exploration(threadsync_workbench: Workbench) -> None:
    result = explore("mypipes:good", budget=4, workbench=threadsync_workbench)
    assert result.runs > 0 and not result.found


def test_racy_pipeline_is_caught(threadsync_workbench: Workbench) -> None:
    explore("mypipes:bad", budget=30, save="found", workbench=threadsync_workbench)


def test_only_the_custom_invariant_sees_the_dropper(threadsync_workbench: Workbench) -> None:
    scenario = Scenario(name="plain", impl="mypipes:dropper", dataset=Dataset(0, 6, 3))
    verdict = run(scenario, workbench=threadsync_workbench)
    assert verdict.violated == ["participants-kept"], verdict.label
    try:
        explore("mypipes:dropper", budget=20, save="found", workbench=threadsync_workbench)
    except ViolationFound as exc:
        assert "participants-kept" in str(exc)
    else:
        raise AssertionError("exploring the dropper found nothing")

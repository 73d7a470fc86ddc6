"""The pytest plugin, used the way a user's repository would: a throw-away project with its own
pipelines (the reference, a known-bad copy, and one whose bug only a custom invariant sees), its
own saved scenarios, run by pytest in a subprocess with the plugin loaded from its entry point."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

HERE = Path(__file__).parent
PROJECT = HERE / "plugin_project"
SCENARIOS = HERE.parent / "scenarios"


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini("[pytest]\npythonpath = .\n")
    for name in ("mypipes.py", "drop_participant.sql"):
        shutil.copy(PROJECT / name, pytester.path / name)
    shutil.copy(PROJECT / "user_tests.py", pytester.path / "test_pipelines.py")
    folder = pytester.path / "scenarios"
    folder.mkdir()
    racy = json.loads((SCENARIOS / "mutants" / "job_completion_race.json").read_text())
    racy["impl"] = "mypipes:bad"
    (folder / "racy.json").write_text(json.dumps(racy))
    wrong = {**racy, "name": "wrong", "expect": {"verdict": "pass"}}
    (folder / "wrong.json").write_text(json.dumps(wrong))
    plain = json.loads((SCENARIOS / "reference" / "drop-page-webhook.json").read_text())
    plain["impl"] = "mypipes:good"
    (folder / "plain.json").write_text(json.dumps(plain))
    (folder / "notes.json").write_text('{"not": "a scenario"}')
    return pytester


RACY_CHECKS = ("job-completes-once", "no-stuck-work")


def test_explore_in_a_users_test_catches_bugs_and_passes_the_reference(
    project: pytest.Pytester,
) -> None:
    result = project.runpytest_subprocess("test_pipelines.py", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=1)
    (saved,) = (project.path / "found").glob("bad-*.json")
    expect = json.loads(saved.read_text())["expect"]
    # Which symptom of the race the search meets first depends on its draws: two finishers
    # finishing the job, or a job whose last item the sweeper finished, which no handler then
    # finishes.
    assert expect["verdict"] == "fail" and expect["check"] in RACY_CHECKS
    check = expect["check"]
    result.stdout.fnmatch_lines(["*test_racy_pipeline_is_caught*", f"*{check}*"])
    result.stdout.fnmatch_lines([f"*saved found/bad-{check}-0.json*"])


def test_saved_scenarios_are_test_items(project: pytest.Pytester) -> None:
    reports = project.path / "reports"
    result = project.runpytest_subprocess(
        "scenarios", "-v", f"--threadsync-history={reports}", "-p", "no:cacheprovider"
    )
    # notes.json is not a scenario: not collected. wrong.json expects a pass of a racy pipeline.
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*scenario wrong did not give its expected verdict*",
            "*job-completes-once*",
            "*transcript*",
            "*HTML report: *reports*",
        ]
    )
    assert list(reports.glob("*.html")), "the failing item's HTML report was not written"
    only = project.runpytest_subprocess("scenarios", "-k", "racy", "-p", "no:cacheprovider")
    only.assert_outcomes(passed=1, deselected=2)


def test_scenario_items_run_under_xdist_and_judge_another_impl(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess(
        "scenarios",
        "-n",
        "2",
        "-m",
        "threadsync",
        "--threadsync-impl",
        "mypipes:good",
        "-p",
        "no:cacheprovider",
    )
    # Judged as the fixed pipeline, every scenario passes every check (wrong.json included).
    result.assert_outcomes(passed=3)


def test_a_broken_scenario_file_fails_with_one_line(project: pytest.Pytester) -> None:
    (project.path / "scenarios" / "broken.json").write_text('{"version": 1, "expect": ')
    result = project.runpytest_subprocess("scenarios/broken.json", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*broken.json: not valid JSON at line 1*"])

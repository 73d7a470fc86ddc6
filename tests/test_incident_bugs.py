"""The incident's bugs one at a time (examples/incident/bugs): each patch applies to the reference
project and makes a project the harness loads, and each such variant fails the scenario saved for
it (tests/data/incident), which the reference passes; so does the incident's whole project.

The scenarios are kept out of scenarios/ because their pipeline is a folder made from a patch at
test time: `threadsync replay scenarios/` could not load it. `benchmarks/incident.py --save`
writes them (with the shrunk scenario of each bug's first finding)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.functions.project import load_project, spec_for, stop_all
from harness.functions.variant import ALLOWED, VariantError, materialise, touched
from harness.postgres import Server
from harness.replay import Workbench, run_scenario
from harness.scenario import load

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "supabase"
INCIDENT = ROOT / "examples" / "incident" / "supabase"
PATCHES = ROOT / "examples" / "incident" / "bugs"
SCENARIOS = ROOT / "tests" / "data" / "incident"
BUGS = sorted(p.stem for p in PATCHES.glob("*.patch"))
WHOLE = "incident"  # the scenario of examples/incident/supabase itself


@pytest.fixture(scope="module")
def variants(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    scratch = tmp_path_factory.mktemp("incident-bugs")
    yield {bug: materialise(REFERENCE, PATCHES / f"{bug}.patch", scratch / bug) for bug in BUGS}
    stop_all()  # the variants' Deno hosts; any other project's start again when next used


@pytest.fixture(scope="module")
def bench(pg_server: Server) -> Iterator[Workbench]:
    b = Workbench(pg_server)
    yield b
    b.close()


def test_there_is_a_patch_and_a_scenario_for_each_bug() -> None:
    assert len(BUGS) == 6  # bugs 1, 2, 3, 3a, 4 and 5 of examples/incident/README.md
    assert sorted(p.stem for p in SCENARIOS.glob("*.json")) == sorted([*BUGS, WHOLE])


@pytest.mark.parametrize("bug", BUGS)
def test_the_patch_changes_only_the_project_and_loads(variants: dict[str, Path], bug: str) -> None:
    paths = touched(PATCHES / f"{bug}.patch")
    assert paths and all(path.startswith(ALLOWED) for path in paths)
    root = variants[bug].parent  # the patch's paths start at supabase/
    for path in paths:
        assert (root / path).read_bytes() != (ROOT / path).read_bytes(), (bug, path)
    pipeline = load_project(variants[bug])
    assert {"sync-threads-page-worker", "sync-threads-processor"} <= set(pipeline.functions)


@pytest.mark.parametrize("bug", [*BUGS, WHOLE])
def test_the_saved_scenario_catches_the_bug_and_the_reference_passes_it(
    bench: Workbench, variants: dict[str, Path], bug: str
) -> None:
    scenario = load(SCENARIOS / f"{bug}.json")
    assert scenario.expect.verdict == "fail" and scenario.expect.check
    caught = run_scenario(bench, scenario, spec_for(INCIDENT if bug == WHOLE else variants[bug]))
    assert scenario.expect.check in caught.violated, (bug, caught.label)
    reference = run_scenario(bench, scenario, spec_for(REFERENCE))
    assert not reference.violated, (bug, reference.label)


def test_a_patch_that_does_not_apply_says_which_and_why(tmp_path: Path) -> None:
    stale = tmp_path / "stale.patch"
    text = (PATCHES / "no_recovery.patch").read_text(encoding="utf-8")
    stale.write_text(text.replace("-    s threadsync.settings;", "-    s no.such_line;"))
    with pytest.raises(VariantError, match=r"stale\.patch does not apply to .*supabase"):
        materialise(REFERENCE, stale, tmp_path / "out")


def test_a_patch_outside_the_project_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside.patch"
    outside.write_text(
        "diff --git a/README.md b/README.md\n--- a/README.md\n+++ b/README.md\n"
        "@@ -1 +1 @@\n-# threadsync\n+# not threadsync\n"
    )
    with pytest.raises(VariantError, match=r"changes README\.md, outside supabase/migrations/"):
        materialise(REFERENCE, outside, tmp_path / "out")
    assert not (tmp_path / "out").exists()

"""`threadsync merge`: sharded CI jobs' JUnit reports and found scenarios, combined without loss."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest

from harness import junit
from harness.cli import main
from harness.engine.faults import Drop, FaultPlan
from harness.scenario import Dataset, Expect, Scenario, load, save

FOUND = Scenario(
    name="reference-page-exactly-once-0",
    dataset=Dataset(seed=1, threads=6, page_size=3),
    faults=FaultPlan((Drop(function="sync-threads-page-worker", occurrence=0),)),
    expect=Expect("fail", "page-exactly-once"),
)


def shard(
    root: Path,
    k: int,
    *,
    failure: str | None = None,
    found: tuple[Scenario, ...] = (),
    coverage: dict[str, str] | None = None,
) -> Path:
    """What `explore --shard k/N --junit shard-k/explore.xml --save shard-k/found` leaves, written
    by the same writers explore uses."""
    folder = root / f"explore-{k}"
    junit.write(
        folder / "explore.xml",
        "threadsync.explore",
        [junit.Case("explore reference", 10.0 + k, failure)],
        coverage or {"coverage.runs": str(10 * k)},
    )
    for scenario in found:
        save(scenario, folder / "found")
    return folder


def merged(path: Path) -> ET.Element:
    return ET.parse(path).getroot()


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    assert err.startswith("threadsync: ")
    return err


def test_shards_merge_into_one_report_and_one_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = replace(FOUND, name="reference-no-lost-work-2", expect=Expect("fail", "no-lost-work"))
    shards = [
        shard(tmp_path, 1),
        shard(tmp_path, 2, failure="verdict: fail page-exactly-once\n...", found=(FOUND,)),
        shard(tmp_path, 3, found=(other,)),
        shard(tmp_path, 4),
    ]
    out, saved = tmp_path / "merged.xml", tmp_path / "found"
    code = main(["merge", "--junit", str(out), "--save", str(saved), *map(str, shards)])

    assert code == 1  # a failure stays a failure
    root = merged(out)
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("4", "1", "0")
    assert float(root.get("time", "")) == pytest.approx(11 + 12 + 13 + 14)
    suites = root.findall("testsuite")
    assert len(suites) == 4
    sources = [s.find("properties/property[@name='merged.source']") for s in suites]
    assert [Path(p.get("value", "")).parent.name for p in sources if p is not None] == [
        "explore-1",
        "explore-2",
        "explore-3",
        "explore-4",
    ]
    # Each shard's own properties (its coverage) travel with its suite.
    runs = [s.find("properties/property[@name='coverage.runs']") for s in suites]
    assert [r.get("value") for r in runs if r is not None] == ["10", "20", "30", "40"]
    failures = root.findall(".//testcase/failure")
    assert len(failures) == 1
    assert failures[0].text == "verdict: fail page-exactly-once\n..."

    assert sorted(p.name for p in saved.iterdir()) == [
        "reference-no-lost-work-2.json",
        "reference-page-exactly-once-0.json",
    ]
    assert load(saved / "reference-page-exactly-once-0.json") == FOUND
    out_text = capsys.readouterr().out
    assert "merged 4 JUnit reports (4 suites, 4 tests, 1 failures, 0 errors" in out_text
    assert "2 scenarios copied" in out_text


def test_all_passing_shards_exit_0_and_a_merged_report_merges_again(tmp_path: Path) -> None:
    shards = [shard(tmp_path, k) for k in (1, 2)]
    first = tmp_path / "a.xml"
    assert main(["merge", "--junit", str(first), *map(str, shards)]) == 0
    third = shard(tmp_path, 3)
    again = tmp_path / "b.xml"
    assert main(["merge", "--junit", str(again), str(first), str(third / "explore.xml")]) == 0
    root = merged(again)
    assert root.get("tests") == "3"
    assert len(root.findall("testsuite")) == 3


def test_same_name_different_scenario_keeps_both_same_scenario_keeps_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    changed = replace(FOUND, dataset=Dataset(seed=2, threads=6, page_size=3))
    a = shard(tmp_path, 1, failure="x", found=(FOUND,))
    b = shard(tmp_path, 2, failure="x", found=(changed,))  # same file name, another run
    c = shard(tmp_path, 3, failure="x")
    # The same scenario as shard 1's, written with other formatting: still the same scenario.
    (c / "found").mkdir()
    (c / "found" / FOUND.name).with_suffix(".json").write_text(
        json.dumps(FOUND.to_dict(), indent=None)
    )
    saved = tmp_path / "found"
    code = main(
        ["merge", "--junit", str(tmp_path / "m.xml"), "--save", str(saved), str(a), str(b), str(c)]
    )
    assert code == 1
    files = sorted(saved.iterdir())
    assert [p.name for p in files] == [
        "reference-page-exactly-once-0-2.json",
        "reference-page-exactly-once-0.json",
    ]
    assert [load(p) for p in files] == [changed, FOUND]
    # Copied as the job wrote them, byte for byte.
    assert (saved / files[1].name).read_bytes() == (a / "found" / files[1].name).read_bytes()
    out = capsys.readouterr().out
    assert "2 scenarios copied" in out and "1 left out as duplicates" in out


def test_merging_into_a_folder_never_overwrites_what_is_there(tmp_path: Path) -> None:
    saved = tmp_path / "found"
    save(FOUND, saved)
    other = replace(FOUND, dataset=Dataset(seed=3, threads=6, page_size=3))
    s = shard(tmp_path, 1, failure="x", found=(other,))
    before = (saved / f"{FOUND.name}.json").read_bytes()
    assert main(["merge", "--junit", str(tmp_path / "m.xml"), "--save", str(saved), str(s)]) == 1
    assert (saved / f"{FOUND.name}.json").read_bytes() == before
    assert load(saved / f"{FOUND.name}-2.json") == other
    # Merging the same shard again adds nothing.
    assert main(["merge", "--junit", str(tmp_path / "m.xml"), "--save", str(saved), str(s)]) == 1
    assert len(list(saved.iterdir())) == 2


def test_a_suite_claiming_a_failure_without_a_failing_case_still_fails(tmp_path: Path) -> None:
    report = tmp_path / "r.xml"
    report.write_text(
        '<testsuite name="x" tests="1" failures="1" errors="0">'
        '<testcase name="a" time="0.5"/></testsuite>'
    )
    out = tmp_path / "m.xml"
    assert main(["merge", "--junit", str(out), str(report)]) == 1
    assert merged(out).get("failures") == "1"
    # And an error case is a failure of the merge too.
    report.write_text(
        '<testsuite name="x"><testcase name="a"><error message="boom"/></testcase></testsuite>'
    )
    assert main(["merge", "--junit", str(out), str(report)]) == 1
    assert merged(out).get("errors") == "1"


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("bad.xml", "<testsuite name='x'><testcase", "bad.xml: not well-formed XML"),
        ("other.xml", "<project/>", "other.xml: not a JUnit report (root element <project>"),
        ("count.xml", "<testsuite failures='many'/>", "failures='many' is not a count"),
        ("time.xml", "<testsuite time='soon'/>", "time='soon' is not a number"),
        ("x.json", '{"version": 1, "name": ', "x.json: not valid JSON at line 1"),
        ("v.json", '{"version": 9, "name": "v"}', "field 'version' is 9"),
    ],
)
def test_corrupt_input_is_one_line_exit_2_and_nothing_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, text: str, message: str
) -> None:
    good = shard(tmp_path, 1, failure="x", found=(FOUND,))
    (good / name).write_text(text)
    out, saved = tmp_path / "m.xml", tmp_path / "found"
    assert main(["merge", "--junit", str(out), "--save", str(saved), str(good)]) == 2
    assert message in one_line_error(capsys)
    assert not out.exists() and not saved.exists()


def test_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    s = shard(tmp_path, 1, found=(FOUND,))
    assert main(["merge", str(s)]) == 2
    assert "needs --junit OUT.xml, --save DIR, or both" in one_line_error(capsys)
    assert main(["merge", "--junit", str(tmp_path / "m.xml"), str(tmp_path / "nope")]) == 2
    assert "nope: no such file or folder" in one_line_error(capsys)
    assert main(["merge", "--junit", str(tmp_path / "m.xml"), str(s)]) == 2
    assert "1 scenario files (*.json) found but no --save DIR" in one_line_error(capsys)
    assert main(["merge", "--save", str(tmp_path / "f"), str(s)]) == 2
    assert "1 JUnit reports (*.xml) found but no --junit" in one_line_error(capsys)
    assert main(["merge", "--junit", str(tmp_path / "m.xml"), str(s / "found")]) == 2
    assert "no JUnit reports" in one_line_error(capsys)

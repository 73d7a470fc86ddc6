"""Combines what sharded CI jobs wrote (`explore --shard K/N --junit F --save DIR`): their JUnit
reports into one, their saved scenarios into one folder, nothing lost: `threadsync merge`.

Everything is read and checked before anything is written, so a corrupt input leaves no half-merged
output. A report's suites are copied whole (cases, failures, properties such as coverage), each
with a `merged.source` property naming the file it came from, under one `<testsuites>` whose counts
are the sums. A suite's counts are the larger of what it claims and what its cases show, so a
failure can never be lost in the merge. Two scenarios are the same when they describe the same run
(`Scenario.to_json()`), however their files are formatted; a different scenario under a name
already taken is kept beside it with a suffix, the way `explore` saves (`name-2.json`).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.scenario import ScenarioError, load

SOURCE_PROPERTY = "merged.source"


class MergeError(ValueError):
    """An input cannot be merged (unreadable, not a JUnit report, not a scenario); the message
    names the file and what is wrong with it."""


@dataclass(frozen=True)
class Inputs:
    """The files found under the paths given: JUnit reports, scenarios, and what is neither."""

    reports: tuple[Path, ...]
    scenarios: tuple[Path, ...]
    ignored: tuple[Path, ...]


def collect(paths: Sequence[Path]) -> Inputs:
    """Every `*.xml` (a JUnit report) and `*.json` (a scenario) under `paths`, in a stable order;
    a downloaded CI artifact is a folder of both, nested as the job wrote it."""
    reports: list[Path] = []
    scenarios: list[Path] = []
    ignored: list[Path] = []
    seen: set[Path] = set()  # a folder and a file inside it, given both: merged once
    for path in paths:
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            files = [path]
        else:
            raise MergeError(f"{path}: no such file or folder")
        for f in files:
            if f.resolve() in seen:
                continue
            seen.add(f.resolve())
            kind = f.suffix.lower()
            (reports if kind == ".xml" else scenarios if kind == ".json" else ignored).append(f)
    return Inputs(tuple(reports), tuple(scenarios), tuple(ignored))


# --- JUnit ----------------------------------------------------------------------------------


@dataclass
class Totals:
    """The sums over every merged suite."""

    reports: int = 0
    suites: int = 0
    tests: int = 0
    failures: int = 0
    errors: int = 0
    skipped: int = 0
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return self.failures + self.errors > 0


def _suites(path: Path) -> list[ET.Element]:
    try:
        root = ET.parse(path).getroot()
    except OSError as exc:
        raise MergeError(f"{path}: cannot read ({exc.strerror})") from None
    except ET.ParseError as exc:
        raise MergeError(f"{path}: not well-formed XML ({exc})") from None
    if root.tag == "testsuite":
        return [root]
    if root.tag == "testsuites":
        # Direct children only: a suite nested in a suite travels inside its parent.
        return root.findall("testsuite")
    raise MergeError(f"{path}: not a JUnit report (root element <{root.tag}>, not <testsuite>)")


def _count(suite: ET.Element, attribute: str, path: Path) -> int:
    text = suite.get(attribute, "0") or "0"
    try:
        value = int(text)
    except ValueError:
        raise MergeError(
            f"{path}: <testsuite name={suite.get('name')!r}> {attribute}={text!r} is not a count"
        ) from None
    if value < 0:
        raise MergeError(f"{path}: <testsuite> {attribute}={value} is negative")
    return value


def _seconds(element: ET.Element, path: Path) -> float:
    text = element.get("time", "0") or "0"
    try:
        # JUnit writers differ: some put a thousands separator in long times.
        return float(text.replace(",", ""))
    except ValueError:
        raise MergeError(f"{path}: time={text!r} is not a number of seconds") from None


def _tally(suite: ET.Element, path: Path, totals: Totals) -> None:
    cases = suite.findall("testcase")
    counted = {
        "tests": len(cases),
        "failures": sum(1 for c in cases if c.find("failure") is not None),
        "errors": sum(1 for c in cases if c.find("error") is not None),
        "skipped": sum(1 for c in cases if c.find("skipped") is not None),
    }
    # The larger of claim and evidence: a suite that says it failed without a failing case (or
    # the other way round) still counts as failed.
    merged = {k: max(n, _count(suite, k, path)) for k, n in counted.items()}
    for key, value in merged.items():
        suite.set(key, str(value))
    totals.suites += 1
    totals.tests += merged["tests"]
    totals.failures += merged["failures"]
    totals.errors += merged["errors"]
    totals.skipped += merged["skipped"]
    totals.seconds += _seconds(suite, path)


def _mark_source(suite: ET.Element, source: Path) -> None:
    props = suite.find("properties")
    if props is None:
        props = ET.Element("properties")
        suite.insert(0, props)  # JUnit's schema wants <properties> first
    ET.SubElement(props, "property", name=SOURCE_PROPERTY, value=str(source))


def read_reports(paths: Iterable[Path]) -> tuple[list[ET.Element], Totals]:
    """Every suite of every report (each marked with its file), and their sums."""
    totals = Totals()
    suites: list[ET.Element] = []
    for path in paths:
        totals.reports += 1
        for suite in _suites(path):
            _tally(suite, path, totals)
            _mark_source(suite, path)
            suites.append(suite)
    return suites, totals


def write_report(out: Path, suites: Sequence[ET.Element], totals: Totals) -> None:
    root = ET.Element(
        "testsuites",
        name="threadsync.merged",
        tests=str(totals.tests),
        failures=str(totals.failures),
        errors=str(totals.errors),
        skipped=str(totals.skipped),
        time=f"{totals.seconds:.3f}",
    )
    root.extend(suites)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    ET.ElementTree(root).write(tmp, encoding="utf-8", xml_declaration=True)
    tmp.replace(out)


# --- scenarios ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Placed:
    """Where one input scenario went: `copied` to `target`, or left out as a `duplicate` of it."""

    source: Path
    target: Path
    action: str  # "copied" | "renamed" (copied under a suffixed name) | "duplicate"


@dataclass
class _Folder:
    """The scenarios of the output folder, as they are and as the merge adds them."""

    directory: Path
    by_name: dict[str, str] = field(default_factory=dict)  # file name -> canonical text
    by_text: dict[str, Path] = field(default_factory=dict)  # canonical text -> file

    @classmethod
    def read(cls, directory: Path) -> _Folder:
        folder = cls(directory)
        if directory.is_dir():
            for path in sorted(directory.glob("*.json")):
                text = _canonical_or_bytes(path)
                folder.by_name[path.name] = text
                folder.by_text.setdefault(text, path)
        return folder

    def place(self, source: Path, text: str) -> Placed:
        same = self.by_text.get(text)
        if same is not None:
            return Placed(source, same, "duplicate")
        stem, n = source.stem, 1
        name = source.name
        while name in self.by_name:
            n += 1
            name = f"{stem}-{n}.json"
        target = self.directory / name
        self.by_name[name] = text
        self.by_text[text] = target
        return Placed(source, target, "copied" if n == 1 else "renamed")


def _canonical(path: Path) -> str:
    try:
        return load(path).to_json()
    except ScenarioError as exc:
        raise MergeError(str(exc)) from None


def _canonical_or_bytes(path: Path) -> str:
    """What an existing file of the output folder holds: its scenario, or (not one) its text, so
    it is never taken for a copy of a scenario and never overwritten."""
    try:
        return load(path).to_json()
    except ScenarioError:
        return "not a scenario: " + path.read_bytes().hex()


def plan_scenarios(paths: Iterable[Path], directory: Path) -> list[Placed]:
    """Where each scenario goes in `directory` (nothing is written): each input, in order, is
    left out when `directory` (or an earlier input) holds the same scenario, else copied under its
    own name, or its name with the first free suffix."""
    folder = _Folder.read(directory)
    texts = [(path, _canonical(path)) for path in paths]  # every input is checked first
    return [folder.place(path, text) for path, text in texts]


def copy_scenarios(placed: Iterable[Placed]) -> None:
    """Copy each placed file's bytes as they are (not re-serialised: what a job saved is kept)."""
    for p in placed:
        if p.action == "duplicate":
            continue
        p.target.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.target.with_name(p.target.name + ".tmp")
        tmp.write_bytes(p.source.read_bytes())
        tmp.replace(p.target)


__all__ = [
    "SOURCE_PROPERTY",
    "Inputs",
    "MergeError",
    "Placed",
    "Totals",
    "collect",
    "copy_scenarios",
    "plan_scenarios",
    "read_reports",
    "write_report",
]

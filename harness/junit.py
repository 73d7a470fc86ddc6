"""Writes JUnit XML so CI systems show each scenario (or exploration) as a test case."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Case:
    """One test case: its name, seconds taken, the failure text (None when it passed), and why it
    was skipped (None when it ran)."""

    name: str
    seconds: float
    failure: str | None = None
    skipped: str | None = None


def write(
    path: Path, suite: str, cases: list[Case], properties: Mapping[str, str] | None = None
) -> None:
    """Write one <testsuite> with `cases` (and suite `properties`, e.g. the coverage of an
    exploration) to `path`; folders are created."""
    import xml.etree.ElementTree as ET  # only a command given --junit needs it

    failures = sum(1 for c in cases if c.failure is not None)
    skipped = sum(1 for c in cases if c.skipped is not None)
    root = ET.Element(
        "testsuite",
        name=suite,
        tests=str(len(cases)),
        failures=str(failures),
        errors="0",
        skipped=str(skipped),
        time=f"{sum(c.seconds for c in cases):.3f}",
    )
    if properties:
        props = ET.SubElement(root, "properties")
        for name, value in properties.items():
            ET.SubElement(props, "property", name=name, value=value)
    for case in cases:
        el = ET.SubElement(
            root, "testcase", classname=suite, name=case.name, time=f"{case.seconds:.3f}"
        )
        if case.failure is not None:
            fail = ET.SubElement(el, "failure", message=case.failure.splitlines()[0][:200])
            fail.text = case.failure
        if case.skipped is not None:
            ET.SubElement(el, "skipped", message=case.skipped)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)

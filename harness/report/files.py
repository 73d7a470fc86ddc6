"""Writes a run's history JSON and HTML report, and an exploration's page, into a folder."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.replay import Verdict
from harness.report.explore_page import html_explore
from harness.report.timeline import html_timeline


def write_history(verdict: Verdict, directory: Path) -> list[Path]:
    """`<name>.history.json` (replays write identical files, wall-clock fields aside) and
    `<name>.timeline.html`, the report a person reads."""
    directory.mkdir(parents=True, exist_ok=True)
    name = verdict.scenario.name
    data = {
        "scenario": verdict.scenario.to_dict(),
        "verdict": verdict.label,
        "violations": [v.to_dict() for v in verdict.violations],
        "events": verdict.result.history.comparable(),
    }
    hist = directory / f"{name}.history.json"
    hist.write_text(json.dumps(data, indent=1, sort_keys=True, default=str) + "\n")
    timeline = directory / f"{name}.timeline.html"
    timeline.write_text(
        html_timeline(
            verdict.result.history,
            f"{name}: {verdict.label}",
            verdict.violations,
            verdict.scenario.description,
        ),
        encoding="utf-8",
    )
    return [hist, timeline]


def write_explore(result: Any, directory: Path, names: list[str] | None = None) -> list[Path]:
    """Each finding's history and report, then `explore.html` linking them. `names` are the
    saved scenarios' names (the findings' own names until they are saved)."""
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    reports: list[str] = []
    for n, found in enumerate(result.found):
        verdict = found.verdict
        if names is not None:
            verdict = _renamed(verdict, names[n])
        paths = write_history(verdict, directory)
        written += paths
        reports.append(paths[1].name)
    page = directory / "explore.html"
    page.write_text(html_explore(result, reports), encoding="utf-8")
    return [*written, page]


def _renamed(verdict: Verdict, name: str) -> Verdict:
    return replace(verdict, scenario=replace(verdict.scenario, name=name))

"""Scenario files: a versioned JSON description of one run and the verdict it must reproduce."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from harness import scenario_check
from harness.checks import CHECKS
from harness.engine.faults import FaultPlan
from harness.fakeapi import Quirks
from harness.impl import DEFAULT_IMPL
from harness.resync import Resync
from harness.scenario_check import MAX_PAGE_SIZE, MAX_SCENARIO_THREADS, MAX_SEED, RangeError

VERSION = 1
STRATEGIES = ("random", "pct")
MAX_PCT_DEPTH = 100
MAX_NAME = 200


class ScenarioError(ValueError):
    """A scenario file is unreadable or invalid; the message names the file and the field."""


@dataclass(frozen=True)
class Dataset:
    """The fake API's data: generated from `seed`, served `page_size` threads a page; `undated`
    threads without `updated_at` and `repeats` threads listed twice (see fakeapi.Quirks)."""

    seed: int = 0
    threads: int = 12
    page_size: int = 4
    undated: int = 0
    repeats: int = 0

    @property
    def quirks(self) -> Quirks:
        return Quirks(undated=self.undated, repeats=self.repeats)


@dataclass(frozen=True)
class Schedule:
    """Where the scheduler's choices come from: a strategy and seed, or an explicit list."""

    strategy: str = "random"
    seed: int = 0
    choices: tuple[int, ...] | None = None
    pct_depth: int = 3


@dataclass(frozen=True)
class Expect:
    """`pass`, or `fail` with the check that must be violated."""

    verdict: str = "pass"
    check: str | None = None

    def matches(self, violated: list[str]) -> bool:
        if self.verdict == "pass":
            return not violated
        return self.check in violated


@dataclass(frozen=True)
class Scenario:
    """One run, fully described: replaying it gives the same history and verdict every time."""

    name: str
    impl: str = DEFAULT_IMPL
    dataset: Dataset = field(default_factory=Dataset)
    faults: FaultPlan = field(default_factory=FaultPlan)
    schedule: Schedule = field(default_factory=Schedule)
    settings: Mapping[str, float] = field(default_factory=dict)
    expect: Expect = field(default_factory=Expect)
    description: str = ""
    # Further syncs after the first (which starts at 0 over the dataset): see harness.resync.
    syncs: tuple[Resync, ...] = ()

    def with_expect(self, expect: Expect) -> Scenario:
        return replace(self, expect=expect)

    def to_dict(self) -> dict[str, Any]:
        schedule: dict[str, Any] = {"strategy": self.schedule.strategy, "seed": self.schedule.seed}
        if self.schedule.strategy == "pct" or self.schedule.pct_depth != Schedule.pct_depth:
            schedule["pct_depth"] = self.schedule.pct_depth
        if self.schedule.choices is not None:
            schedule["choices"] = list(self.schedule.choices)
        expect: dict[str, Any] = {"verdict": self.expect.verdict}
        if self.expect.check:
            expect["check"] = self.expect.check
        out: dict[str, Any] = {
            "version": VERSION,
            "name": self.name,
            "description": self.description,
            "impl": self.impl,
            "dataset": {
                "seed": self.dataset.seed,
                "threads": self.dataset.threads,
                "page_size": self.dataset.page_size,
            },
        }
        # Absent when 0, so files written before quirks existed stay byte-identical.
        for quirk in ("undated", "repeats"):
            if getattr(self.dataset, quirk):
                out["dataset"][quirk] = getattr(self.dataset, quirk)
        if self.syncs:  # absent for one sync, so files written before syncs existed stay as-is
            out["syncs"] = [s.to_dict() for s in self.syncs]
        return out | {
            "settings": dict(self.settings),
            "faults": self.faults.to_dict(),
            "schedule": schedule,
            "expect": expect,
        }

    def to_json(self) -> str:
        data = self.to_dict()
        # Hundreds of choices one per line would drown the parts a reader edits: keep them on one.
        choices = data["schedule"].pop("choices", None)
        text = json.dumps(data, indent=2)
        if choices is not None:
            marker = '"strategy": '
            text = text.replace(marker, f'"choices": {json.dumps(choices)},\n    {marker}', 1)
        return text + "\n"


def _field(data: Mapping[str, Any], key: str, where: str, kind: type, default: Any = ...) -> Any:
    if key not in data:
        if default is ...:
            raise ScenarioError(f"{where}: missing field '{key}'")
        return default
    value = data[key]
    ok = isinstance(value, kind) and not (kind in (int, float) and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        ok = True
    if not ok:
        raise ScenarioError(
            f"{where}: field '{key}' must be {kind.__name__}, "
            f"got {value!r} ({type(value).__name__})"
        )
    return value


def from_dict(data: Any, source: str = "<scenario>") -> Scenario:
    """Validate and build a Scenario; every problem names the file and the field."""
    if not isinstance(data, dict):
        raise ScenarioError(
            f"{source}: a scenario must be a JSON object, got {type(data).__name__}"
        )
    version = _field(data, "version", source, int)
    if version != VERSION:
        raise ScenarioError(
            f"{source}: field 'version' is {version}, this threadsync reads version {VERSION}; "
            "upgrade threadsync or re-save the scenario"
        )
    name = _field(data, "name", source, str)
    if (
        not 1 <= len(name) <= MAX_NAME
        or name.startswith(".")
        or not name.isprintable()
        or ("/" in name or "\\" in name)
    ):
        # The name becomes a file name (saved scenarios, histories): it must not be a path.
        raise ScenarioError(
            f"{source}: field 'name' must be 1..{MAX_NAME} printable characters without '/' or "
            f"'\\', not starting with '.', got {name[:60]!r}"
        )
    ds = _field(data, "dataset", source, dict)
    dataset = Dataset(
        seed=_field(ds, "seed", f"{source}: dataset", int),
        threads=_field(ds, "threads", f"{source}: dataset", int),
        page_size=_field(ds, "page_size", f"{source}: dataset", int),
        undated=_field(ds, "undated", f"{source}: dataset", int, 0),
        repeats=_field(ds, "repeats", f"{source}: dataset", int, 0),
    )
    raw_settings = _field(data, "settings", source, dict, {})
    raw_faults = _field(data, "faults", source, dict, {"rules": []})
    try:
        scenario_check.number(dataset.seed, "dataset.seed", int, -MAX_SEED, MAX_SEED)
        scenario_check.number(dataset.threads, "dataset.threads", int, 0, MAX_SCENARIO_THREADS)
        scenario_check.number(dataset.page_size, "dataset.page_size", int, 1, MAX_PAGE_SIZE)
        scenario_check.number(dataset.undated, "dataset.undated", int, 0, dataset.threads)
        scenario_check.number(dataset.repeats, "dataset.repeats", int, 0, dataset.threads)
        scenario_check.settings(raw_settings)
        scenario_check.faults(raw_faults)
        syncs = _syncs(data.get("syncs", []))
    except RangeError as exc:
        raise ScenarioError(f"{source}: {exc}") from None
    settings: dict[str, float] = dict(raw_settings)
    try:
        faults = FaultPlan.from_dict(raw_faults)
    except (TypeError, ValueError, AttributeError) as exc:
        raise ScenarioError(f"{source}: field 'faults': {exc}") from None
    sch = _field(data, "schedule", source, dict, {})
    strategy = _field(sch, "strategy", f"{source}: schedule", str, "random")
    if strategy not in STRATEGIES:
        raise ScenarioError(
            f"{source}: schedule.strategy is {strategy!r}; expected one of {', '.join(STRATEGIES)}"
        )
    choices = _field(sch, "choices", f"{source}: schedule", list, None)
    if choices is not None and not all(
        isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in choices
    ):
        raise ScenarioError(f"{source}: schedule.choices must be a list of integers >= 0")
    schedule = Schedule(
        strategy=strategy,
        seed=_field(sch, "seed", f"{source}: schedule", int, 0),
        choices=None if choices is None else tuple(choices),
        pct_depth=_field(sch, "pct_depth", f"{source}: schedule", int, 3),
    )
    try:
        scenario_check.number(schedule.seed, "schedule.seed", int, -MAX_SEED, MAX_SEED)
        scenario_check.number(schedule.pct_depth, "schedule.pct_depth", int, 1, MAX_PCT_DEPTH)
    except RangeError as exc:
        raise ScenarioError(f"{source}: {exc}") from None
    exp = _field(data, "expect", source, dict)
    verdict = _field(exp, "verdict", f"{source}: expect", str)
    check = _field(exp, "check", f"{source}: expect", str, None)
    if verdict not in ("pass", "fail"):
        raise ScenarioError(f"{source}: expect.verdict must be 'pass' or 'fail', got {verdict!r}")
    if verdict == "fail" and check not in CHECKS:
        raise ScenarioError(
            f"{source}: expect.check must name a check when the verdict is 'fail', got {check!r};"
            f" known checks: {', '.join(CHECKS)}"
        )
    return Scenario(
        name=name,
        impl=_field(data, "impl", source, str, DEFAULT_IMPL),
        dataset=dataset,
        faults=faults,
        schedule=schedule,
        settings=settings,
        expect=Expect(verdict, check if verdict == "fail" else None),
        description=_field(data, "description", source, str, ""),
        syncs=syncs,
    )


def _syncs(raw: Any) -> tuple[Resync, ...]:
    scenario_check.syncs(raw)
    return tuple(
        Resync(
            at=float(s["at"]),
            seed=int(s.get("seed", 0)),
            updated=int(s.get("updated", 0)),
            added=int(s.get("added", 0)),
            removed=int(s.get("removed", 0)),
        )
        for s in raw
    )


def load(path: Path) -> Scenario:
    """Read one scenario file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise ScenarioError(
            f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); "
            "save the scenario as UTF-8 JSON"
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ScenarioError(
            f"{path}: not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except RecursionError:
        raise ScenarioError(f"{path}: JSON nested too deeply to be a scenario") from None
    except ValueError as exc:  # e.g. an integer with more digits than Python will parse
        raise ScenarioError(f"{path}: unreadable JSON value ({exc})") from None
    return from_dict(data, str(path))


def save(scenario: Scenario, directory: Path) -> Path:
    """Write a scenario as `<directory>/<name>.json` (never overwriting: a suffix is added)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{scenario.name}.json"
    n = 1
    while path.exists():
        n += 1
        path = directory / f"{scenario.name}-{n}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(scenario.to_json(), encoding="utf-8")
    tmp.replace(path)
    return path


def discover(root: Path) -> list[Path]:
    """Every scenario file under `root`, in a stable order."""
    return sorted(p for p in root.rglob("*.json") if p.is_file())

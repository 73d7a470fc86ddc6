"""The saved scenarios under `scenarios/`: each replays to the verdict it records, every mutant
scenario is passed by the reference, every check is some mutant's expected failure, replays are
deterministic, and corrupt files are refused with a one-line error naming the file and the field.

Regenerate the files with `scripts/make_scenarios.py`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.checks import CHECKS
from harness.mutants import MUTANTS
from harness.postgres import Server
from harness.replay import Verdict, Workbench, run_scenario
from harness.scenario import Scenario, ScenarioError, discover, load

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"
PATHS = discover(SCENARIOS)
IDS = [p.relative_to(SCENARIOS).as_posix() for p in PATHS]
REFERENCE = "threadsync.reference:pipeline"
MUTANT_PREFIX = "harness.mutants."
# Every mutant must have a saved scenario that reproduces its bug.
COVERED_MUTANTS = set(MUTANTS)


@pytest.fixture(scope="module")
def bench(pg_server: Server) -> Iterator[Workbench]:
    b = Workbench(pg_server)
    yield b
    b.close()


def explain(path: Path, verdict: Verdict) -> str:
    expect = verdict.scenario.expect
    wanted = expect.verdict + (f"/{expect.check}" if expect.check else "")
    rendered = "\n".join(v.render() for v in verdict.violations) or "(no violations)"
    return (
        f"{path.relative_to(ROOT)} with impl {verdict.scenario.impl}: expected {wanted}, "
        f"got {verdict.label}\n{rendered}"
    )


def is_mutant(scenario: Scenario) -> bool:
    return scenario.impl.startswith(MUTANT_PREFIX)


def mutant_scenarios() -> list[tuple[Path, Scenario]]:
    loaded = [(p, load(p)) for p in PATHS]
    return [(p, sc) for p, sc in loaded if is_mutant(sc)]


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_scenario_replays_as_expected(bench: Workbench, path: Path) -> None:
    scenario = load(path)
    assert scenario.name == path.stem, f"{path}: name {scenario.name!r} differs from the file name"
    if scenario.faults.restarts() and bench.server.kind != "embedded":
        pytest.skip(f"restarts the server: needs the embedded one, not {bench.server.kind}")
    verdict = run_scenario(bench, scenario)
    assert verdict.as_expected, explain(path, verdict)
    if is_mutant(scenario):
        ref = run_scenario(bench, scenario, impl=REFERENCE)
        assert not ref.violations, "the reference must pass every mutant scenario\n" + explain(
            path, ref
        )


def test_every_check_is_some_mutants_expected_failure() -> None:
    expected = {sc.expect.check for _, sc in mutant_scenarios() if sc.expect.verdict == "fail"}
    missing = sorted(set(CHECKS) - expected)
    assert not missing, f"no saved mutant scenario expects these checks to fail: {missing}"


def test_every_mutant_has_a_scenario() -> None:
    by_impl = {impl: name for name, impl in MUTANTS.items()}
    covered = {by_impl[sc.impl] for _, sc in mutant_scenarios() if sc.impl in by_impl}
    unknown = sorted(COVERED_MUTANTS - set(MUTANTS))
    assert not unknown, f"not in harness.mutants.MUTANTS: {unknown}"
    missing = sorted(COVERED_MUTANTS - covered)
    assert not missing, f"no saved scenario under scenarios/ runs these mutants: {missing}"
    for path, sc in mutant_scenarios():
        assert sc.expect.verdict == "fail", f"{path}: a mutant scenario should expect a failure"


def test_replay_is_deterministic(bench: Workbench) -> None:
    path = SCENARIOS / "mutants" / "no_fencing.json"
    scenario = load(path)
    first = run_scenario(bench, scenario)
    second = run_scenario(bench, scenario)
    assert first.result.choices == second.result.choices
    assert first.result.history.comparable() == second.result.history.comparable()
    # The stale worker's second processing also commits after the job finished, and is
    # recorded on the claim of the worker that took its entry over.
    assert (
        first.violated
        == second.violated
        == [
            "thread-exactly-once",
            "job-finishes-last",
            "attempts-by-holder",
        ]
    )


def _valid() -> dict[str, Any]:
    return Scenario(name="corrupt").to_dict()


def _set(keys: tuple[str, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        target = data
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    return edit


CORRUPT: dict[str, tuple[Callable[[dict[str, Any]], None] | str, tuple[str, ...]]] = {
    # name: (an edit of a valid scenario, or raw file text; words the message must contain)
    "bad-json": ('{"version": 1, "name": ', ("not valid JSON", "line 1")),
    "version-99": (_set(("version",), 99), ("'version'", "99")),
    "threads-ten": (_set(("dataset", "threads"), "ten"), ("dataset", "'threads'", "'ten'")),
    "unknown-fault": (
        _set(("faults", "rules"), [{"type": "Explode", "function": None}]),
        ("faults.rules[0]", "'Explode'"),
    ),
    "unknown-check": (
        _set(("expect",), {"verdict": "fail", "check": "no-gremlins"}),
        ("expect.check", "'no-gremlins'"),
    ),
    "not-utf8": (
        '{"version": 1, "name": "caf\udce9"}',
        ("not UTF-8", "0xe9", "offset 27"),
    ),
    "deeply-nested": ('{"a": ' + "[" * 100_000 + "]" * 100_000 + "}", ("nested too deeply",)),
    "rules-as-object": (
        _set(("faults", "rules"), {"type": "Drop"}),
        ("faults.rules must be a list", "dict"),
    ),
    "rule-not-an-object": (_set(("faults", "rules"), ["Drop"]), ("faults.rules[0]", "object")),
    "faults-unknown-field": (_set(("faults", "rulez"), []), ("faults", "'rulez'")),
    "max-attempts-negative": (
        _set(("settings",), {"max_attempts": -1}),
        ("settings.max_attempts", "1..100", "-1"),
    ),
    "lease-zero": (_set(("settings",), {"page_lease_seconds": 0}), ("page_lease_seconds",)),
    "backoff-nan": (
        _set(("settings",), {"backoff_base_seconds": float("nan")}),
        ("backoff_base_seconds", "finite"),
    ),
    "unknown-setting": (_set(("settings",), {"sweep_speed": 1}), ("'sweep_speed'",)),
    "stall-1e300": (
        _set(("faults", "rules"), [{"type": "Stall", "at_step": 1, "seconds": 1e300}]),
        ("faults.rules[0] (Stall).seconds", "0..86400", "1e+300"),
    ),
    "stall-nan": (
        _set(("faults", "rules"), [{"type": "Stall", "at_step": 1, "seconds": float("nan")}]),
        ("faults.rules[0] (Stall).seconds", "finite"),
    ),
    "stall-step-string": (
        _set(("faults", "rules"), [{"type": "Stall", "at_step": "1"}]),
        ("(Stall).at_step", "int"),
    ),
    "delay-infinite": (
        _set(("faults", "rules"), [{"type": "Delay", "seconds": float("inf")}]),
        ("(Delay).seconds", "finite"),
    ),
    "duplicate-copies-huge": (
        _set(("faults", "rules"), [{"type": "Duplicate", "copies": 10**9}]),
        ("(Duplicate).copies", "1..100"),
    ),
    "duplicate-delay-negative": (
        _set(("faults", "rules"), [{"type": "Duplicate", "extra_delays": [-1]}]),
        ("(Duplicate).extra_delays[0]",),
    ),
    "crash-step-negative": (
        _set(("faults", "rules"), [{"type": "Crash", "at_step": -3}]),
        ("(Crash).at_step", "-3"),
    ),
    "match-index-float": (
        _set(("faults", "rules"), [{"type": "Drop", "index": 1.5}]),
        ("(Drop).index", "int"),
    ),
    "caller-timeout-nan": (
        _set(("faults", "rules"), [{"type": "CallerTimeout", "seconds": float("nan")}]),
        ("(CallerTimeout).seconds", "finite"),
    ),
    "api-kind": (
        _set(("faults", "rules"), [{"type": "ApiFaults", "calls": [[0, "teapot", 0]]}]),
        ("calls[0]", "'teapot'"),
    ),
    "api-retry-after-nan": (
        _set(("faults", "rules"), [{"type": "ApiFaults", "calls": [[0, "timeout", float("nan")]]}]),
        ("calls[0] retry_after", "finite"),
    ),
    "restart-at-inf": (
        _set(("faults", "rules"), [{"type": "RestartServer", "at_time": float("inf")}]),
        ("(RestartServer).at_time", "finite"),
    ),
    "threads-10-to-the-12": (
        _set(("dataset", "threads"), 10**12),
        ("dataset.threads", "0..10000", "1e+12"),
    ),
    "page-size-0": (_set(("dataset", "page_size"), 0), ("dataset.page_size", "1..1000")),
    "seed-huge": (_set(("dataset", "seed"), 2**70), ("dataset.seed",)),
    "pct-depth-0": (_set(("schedule", "pct_depth"), 0), ("schedule.pct_depth", "0")),
    "name-is-a-path": (_set(("name",), "../../etc/x"), ("field 'name'", "'/'")),
    "huge-integer": ('{"version": ' + "9" * 5000 + "}", ("unreadable JSON value",)),
}


@pytest.mark.parametrize("case", list(CORRUPT))
def test_corrupt_scenario_is_refused_with_one_line(tmp_path: Path, case: str) -> None:
    edit, words = CORRUPT[case]
    path = tmp_path / f"{case}.json"
    if isinstance(edit, str):
        # surrogateescape turns a lone \udcXX back into the raw byte XX: a file that is not UTF-8.
        path.write_bytes(edit.encode("utf-8", "surrogateescape"))
    else:
        data = _valid()
        edit(data)
        path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        load(path)
    message = str(info.value)
    assert "\n" not in message, message
    assert message.startswith(f"{path}:"), message
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"


def test_thread_exactly_once_counts_the_threads_it_names(bench: Workbench) -> None:
    verdict = run_scenario(bench, load(SCENARIOS / "mutants" / "no_fencing.json"))
    (violation,) = [v for v in verdict.violations if v.check == "thread-exactly-once"]
    thread_of = {str(e["id"]): str(e["external_id"]) for e in verdict.state.entries}
    named = set()
    for row in violation.rows:
        kind, name = row.split()[:2]
        named.add(name if kind == "thread" else thread_of[name])
    # no_fencing commits one thread twice: its `threads` write and its queue entry name one thread.
    assert len(violation.rows) == 2 and len(named) == 1, violation.rows
    assert violation.summary == "1 thread was processed more than once"


def test_every_fault_rule_type_has_its_ranges_checked() -> None:
    from harness.engine.faults import RULE_TYPES
    from harness.scenario_check import RULE_FIELDS

    assert set(RULE_FIELDS) == set(RULE_TYPES)

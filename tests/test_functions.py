"""The TypeScript Edge Functions under the harness: the same scenarios, faults and checks as the
Python reference, through the gateway that makes each of their requests a granted step."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.engine.faults import Crash
from harness.functions.gateway import DELIVERY_HEADER, Gateway
from harness.functions.project import spec_for
from harness.impl import DEFAULT_IMPL
from harness.postgres import Server
from harness.replay import Workbench, run_scenario
from harness.scenario import Scenario, discover, load

ROOT = Path(__file__).parent.parent
PROJECT = ROOT / "supabase"
TS = spec_for(PROJECT)
REFERENCE_SCENARIOS = discover(ROOT / "scenarios" / "reference")
INCIDENT = ROOT / "examples" / "incident" / "supabase"


@pytest.fixture(scope="module")
def bench(pg_server: Server) -> Iterator[Workbench]:
    b = Workbench(pg_server)
    yield b
    b.close()


def _history(verdict: Any) -> str:
    return json.dumps(verdict.result.history.comparable(), sort_keys=True)


@pytest.mark.parametrize("path", REFERENCE_SCENARIOS, ids=[p.stem for p in REFERENCE_SCENARIOS])
def test_the_port_gets_the_references_verdict_twice_identically(
    bench: Workbench, path: Path
) -> None:
    scenario = load(path)
    python = run_scenario(bench, scenario, DEFAULT_IMPL)
    first = run_scenario(bench, scenario, TS)
    second = run_scenario(bench, scenario, TS)
    assert first.label == python.label, (path.name, first.label, python.label)
    assert _history(first) == _history(second)
    # The port really ran: its deliveries made requests, recorded as steps.
    kinds = {e.kind for e in first.result.history.events}
    assert "statement" in kinds and "api" in kinds


def test_the_ports_steps_are_the_references_steps(bench: Workbench) -> None:
    """Same requests in the same order, so a saved `at_step` means the same for both."""
    scenario = load(ROOT / "scenarios" / "reference" / "mixed.json")

    def shape(impl: str) -> list[tuple[str, str, str]]:
        verdict = run_scenario(bench, scenario, impl)
        return [
            (e.actor or "", e.kind, _call_name(e.detail))
            for e in verdict.result.history.events
            if e.kind in ("statement", "api", "invoke")
        ]

    assert shape(TS) == shape(DEFAULT_IMPL)


def _call_name(detail: Any) -> str:
    text = str(detail.get("sql") or detail.get("call") or "")
    for name in (
        "start_sync",
        "claim_page",
        "complete_page",
        "fail_page",
        "claim_thread",
        "complete_thread",
        "fail_thread",
        "sweep",
        "fetch_page",
        "fetch_thread",
    ):
        if name in text:
            return name
    return "invoke" if not text else "other"


def test_a_crash_kills_the_function_mid_flight(bench: Workbench) -> None:
    """A crash before the processor's complete: the claim stays, the completion never happens
    (the function's next request is refused), and the sweeper's rescue finishes the work."""
    base = load(ROOT / "scenarios" / "reference" / "crash-thread-step-1.json")
    verdict = run_scenario(bench, base, TS)
    assert not verdict.violations, verdict.label
    crashed = [
        e
        for e in verdict.result.history.events
        if e.kind == "fault" and e.detail.get("fault") == "crash"
    ]
    assert crashed, "the scenario's crash never fired on the port"
    actor = crashed[0].actor
    after = [
        e
        for e in verdict.result.history.events
        if e.actor == actor and e.seq > crashed[0].seq and e.kind in ("statement", "api")
    ]
    assert after == [], f"the crashed instance kept working: {after}"
    assert any(isinstance(r, Crash) for r in base.faults.rules)


def test_a_request_from_no_live_delivery_is_refused_without_effect() -> None:
    gateway = Gateway()
    try:
        delivery = gateway.open()
        gateway.close(delivery)
        for headers in ({DELIVERY_HEADER: delivery.id}, {DELIVERY_HEADER: "nobody"}, {}):
            request = urllib.request.Request(
                gateway.url + "/rest/v1/rpc/claim_page",
                data=b'{"p_page_id": 1}',
                headers={"content-type": "application/json", **headers},
            )
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(request, timeout=10)
            assert err.value.code in (400, 503)
            assert "error" in json.loads(err.value.read())
            assert delivery.events.empty()
    finally:
        gateway.shutdown()


def test_a_folder_that_is_not_a_project_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "--functions", str(tmp_path), "--threads", "3"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "not a Supabase project folder" in err


def test_a_function_that_does_not_start_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "supabase"
    (project / "migrations").mkdir(parents=True)
    for path in (PROJECT / "migrations").glob("*.sql"):
        (project / "migrations" / path.name).write_text(path.read_text())
    for name in ("sync-threads-page-worker", "sync-threads-processor"):
        (project / "functions" / name).mkdir(parents=True)
        (project / "functions" / name / "index.ts").write_text("export const x = ;\n")
    assert main(["run", "--functions", str(project), "--threads", "3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "did not start" in err[0] and "sync-threads-" in err[0]


def test_functions_and_impl_together_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["run", "--functions", str(PROJECT), "--impl", "harness.mutants.no_fencing:pipeline"]
    assert main(args) == 2
    assert "--functions and --impl" in capsys.readouterr().err


def test_run_with_the_port_syncs_and_verifies(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--functions", str(PROJECT), "--threads", "40", "--page-size", "7"]) == 0
    assert "FAIL" not in capsys.readouterr().out


def test_free_mode_runs_the_port_concurrently(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["run", "--functions", str(PROJECT), "--threads", "60", "--page-size", "6"]
    assert main([*args, "--workers", "4"]) == 0
    assert "FAIL" not in capsys.readouterr().out


def test_scenarios_saved_for_the_port_replay(tmp_path: Path) -> None:
    scenario: Scenario = replace(load(REFERENCE_SCENARIOS[0]), impl=TS)
    path = tmp_path / "port.json"
    path.write_text(scenario.to_json())
    assert main(["replay", str(path), "--quiet"]) == 0


def test_exploring_the_incident_finds_its_bugs_from_scratch(tmp_path: Path) -> None:
    args = ["explore", "--functions", str(INCIDENT), "--budget", "60", "--seed", "1"]
    assert main([*args, "--workers", "1", "--save", str(tmp_path)]) == 1
    saved = list(tmp_path.glob("*.json"))
    assert saved, "a violation was reported but no scenario was saved"
    # The saved finding replays, on the incident's functions, with the verdict it recorded.
    assert main(["replay", str(saved[0]), "--quiet"]) == 0


def test_the_first_run_fetches_npm_packages_once_and_says_so(tmp_path: Path) -> None:
    env = {**os.environ, "THREADSYNC_DENO_DIR": str(tmp_path / "deno")}
    cmd = [sys.executable, "-m", "harness.cli", "run", "--functions", str(PROJECT)]
    cmd += ["--threads", "5", "--page-size", "2"]
    first = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-500:]
    assert "first run: Deno fetches the functions' npm packages once" in first.stderr
    assert (tmp_path / "deno" / "npm").is_dir()
    second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-500:]
    assert "first run" not in second.stderr

"""The command line: exit codes 0/1/2 and one clear line for every bad set-up."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main
from harness.engine.faults import Drop, FaultPlan
from harness.scenario import Dataset, Expect, Scenario


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    assert err.startswith("threadsync: ")
    return err


def test_run_small_sync_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--threads", "30", "--page-size", "7"]) == 0
    out = capsys.readouterr().out
    assert "OK: 30 threads synced exactly once from 5 pages" in out


def test_run_with_a_fault_profile_checks_the_run(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--threads", "20", "--page-size", "5", "--faults", "chaos"]) == 0
    assert "verdict: pass" in capsys.readouterr().out


def test_missing_postgres_binaries_is_one_line_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["run", "--threads", "1", "--pg-bin", str(tmp_path / "nope")]) == 2
    err = one_line_error(capsys)
    assert str(tmp_path / "nope") in err


def test_unreachable_dsn_is_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    dsn = "postgresql://u:hunter2@127.0.0.1:9/x"
    assert main(["run", "--threads", "1", "--dsn", dsn]) == 2
    err = one_line_error(capsys)
    assert "cannot connect" in err and "hunter2" not in err


def test_bad_impl_is_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--impl", "no.such.module:pipeline"]) == 2
    assert "cannot import module 'no.such.module'" in one_line_error(capsys)
    assert main(["run", "--impl", "threadsync.reference"]) == 2
    assert "package.module:attribute" in one_line_error(capsys)


def test_corrupt_scenario_is_one_line_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": 1, "name": "x", "dataset": {"seed": 0, "threads": "ten"')
    assert main(["replay", str(bad)]) == 2
    assert "bad.json: not valid JSON" in one_line_error(capsys)
    bad.write_text(json.dumps({"version": 7, "name": "x"}))
    assert main(["replay", str(bad)]) == 2
    assert "field 'version' is 7" in one_line_error(capsys)


def test_unexpected_verdict_exits_1_with_a_report(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # webhook_filter never re-sends a dropped webhook: this scenario wrongly expects a pass.
    scenario = Scenario(
        name="dropped-first-page",
        impl="harness.mutants.webhook_filter:pipeline",
        dataset=Dataset(seed=1, threads=6, page_size=3),
        faults=FaultPlan((Drop(function="sync-threads-page-worker", occurrence=0),)),
        expect=Expect("pass"),
    )
    path = tmp_path / "s.json"
    path.write_text(scenario.to_json())
    assert main(["replay", str(path), "--history", str(tmp_path / "h")]) == 1
    out = capsys.readouterr().out
    assert "no-stuck-work" in out and "UNEXPECTED" in out
    assert (tmp_path / "h" / "dropped-first-page.history.json").is_file()
    # The same file against the reference: the sweeper re-sends the webhook, so it passes.
    assert main(["replay", str(path), "--impl", "threadsync.reference:pipeline"]) == 0


def test_console_script_usage_error_exits_2() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", "--page-size", "0"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "--page-size must be 1..1000, got 0" in proc.stderr

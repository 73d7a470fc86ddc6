"""The command line: exit codes 0/1/2 and one clear line for every bad set-up."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from harness.cli import main
from harness.engine.faults import Drop, FaultPlan
from harness.postgres import Server
from harness.scenario import Dataset, Expect, Scenario, load


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


ROOT = Path(__file__).resolve().parents[1]
REFERENCE = "threadsync.reference:pipeline"
NO_FENCING = ROOT / "scenarios" / "mutants" / "no_fencing.json"


@pytest.fixture
def no_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if the command gets as far as starting a server: checks must come first."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a server was started before the bad input was refused")

    monkeypatch.setattr("harness.cli.workbench", refuse)
    monkeypatch.setattr("harness.cli.start_server", refuse)


@pytest.mark.parametrize("budget", ["0", "-5", "nan", "inf", "-inf"])
def test_explore_budget_must_be_finite_and_positive(
    capsys: pytest.CaptureFixture[str], no_server: None, budget: str
) -> None:
    assert main(["explore", f"--budget={budget}"]) == 2
    assert "--budget must be a finite number of seconds > 0" in one_line_error(capsys)


def test_replay_of_another_impl_judges_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # The README's "check your fix" flow: the reference is a correct fix of no_fencing.
    assert (
        main(["replay", str(NO_FENCING), "--impl", REFERENCE, "--junit", str(tmp_path / "j.xml")])
        == 0
    )
    out = capsys.readouterr().out
    assert f"ok  {NO_FENCING}: pass (judged {REFERENCE}: every check must hold)" in out
    assert "1 judged" in out and "BAD" not in out
    assert 'failures="0"' in (tmp_path / "j.xml").read_text()
    # The other way round: the mutant, judged on a scenario written for the reference, fails.
    scenario = load(NO_FENCING)
    for_reference = replace(scenario, impl=REFERENCE).with_expect(Expect("pass"))
    path = tmp_path / "no_fencing_for_reference.json"
    path.write_text(for_reference.to_json())
    mutant = "harness.mutants.no_fencing:pipeline"
    assert main(["replay", str(path), "--impl", mutant, "--quiet"]) == 1
    out = capsys.readouterr().out
    # no_fencing's double completion also commits work after the job finished, on the claim of
    # the worker that took the entry over.
    violated = "thread-exactly-once, job-finishes-last, attempts-by-holder"
    assert f"BAD {path}: fail: {violated} (judged {mutant}" in out
    # Naming the scenario's own impl compares with `expect`, as a plain replay does.
    assert main(["replay", str(NO_FENCING), "--impl", scenario.impl]) == 0
    assert "(expected fail thread-exactly-once)" in capsys.readouterr().out


def _scenario_file(tmp_path: Path, name: str, edit: dict[str, object]) -> Path:
    data = Scenario(name=name).to_dict()
    for dotted, value in edit.items():
        target = data
        *parents, last = dotted.split(".")
        for key in parents:
            target = target[key]
        target[last] = value
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        ({"faults.rules": {"type": "Drop"}}, "faults.rules must be a list"),
        ({"settings.max_attempts": -1}, "settings.max_attempts must be in 1..100, got -1"),
        (
            {"faults.rules": [{"type": "Stall", "seconds": 1e300}]},
            "(Stall).seconds must be in 0..86400, got 1e+300",
        ),
        ({"faults.rules": [{"type": "Stall", "seconds": float("nan")}]}, "finite number"),
        ({"dataset.threads": 10**12}, "dataset.threads must be in 0..10000, got 1e+12"),
    ],
)
def test_bad_scenario_values_are_one_line_exit_2(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    no_server: None,
    edit: dict[str, object],
    words: str,
) -> None:
    good = _scenario_file(tmp_path, "good", {})
    bad = _scenario_file(tmp_path, "bad", edit)
    assert main(["replay", str(good), str(bad)]) == 2
    err = one_line_error(capsys)
    assert str(bad) in err and words in err


def test_scenario_that_is_not_utf8_is_one_line_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, no_server: None
) -> None:
    bad = tmp_path / "latin1.json"
    bad.write_bytes(
        json.dumps(Scenario(name="café").to_dict(), ensure_ascii=False).encode("latin-1")
    )
    assert main(["replay", str(bad)]) == 2
    assert "not UTF-8 text (byte 0xe9" in one_line_error(capsys)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--threads", "99999999999999999999"], "--threads must be 0..100,000 without --faults"),
        (["--threads", "100001"], "got 100001"),
        (["--threads", "-1"], "got -1"),
        (["--threads", "10001", "--faults", "chaos"], "--threads must be 0..10,000 with --faults"),
    ],
)
def test_run_threads_has_a_ceiling(
    capsys: pytest.CaptureFixture[str], no_server: None, args: list[str], words: str
) -> None:
    assert main(["run", *args]) == 2
    assert words in one_line_error(capsys)


@pytest.mark.parametrize(
    "body",
    ["raise RuntimeError('no config\\nat all')", "1 / 0", "import sys; sys.exit(3)", "x = ("],
)
def test_impl_that_raises_on_import_is_one_line_exit_2(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    no_server: None,
    body: str,
) -> None:
    module = f"broken_impl_{abs(hash(body))}"
    (tmp_path / f"{module}.py").write_text(body + "\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for command in (["run"], ["explore", "--budget", "1"], ["replay", str(NO_FENCING)]):
        assert main([*command, "--impl", f"{module}:pipeline"]) == 2
        err = one_line_error(capsys)
        assert f"importing module {module!r} raised" in err or "cannot import" in err, err


def _unwritable(tmp_path: Path) -> list[Path]:
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    return [a_file / "below", Path("/proc/threadsync-cannot-write-here")]


@pytest.mark.parametrize("option", ["--history", "--junit", "--save"])
def test_unwritable_output_is_refused_before_any_work(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, no_server: None, option: str
) -> None:
    for target in _unwritable(tmp_path):
        path = target / "out.xml" if option == "--junit" else target
        commands = {
            "--history": [["replay", str(NO_FENCING)], ["run", "--threads", "5"]],
            "--junit": [["replay", str(NO_FENCING)], ["explore", "--budget", "600"]],
            "--save": [["explore", "--budget", "600"]],
        }[option]
        for command in commands:
            assert main([*command, option, str(path)]) == 2, command
            err = one_line_error(capsys)
            assert f"{option} {path}" in err, err
    # A folder where a file is wanted, and a file where a folder is wanted.
    if option == "--junit":
        assert main(["explore", "--junit", str(tmp_path)]) == 2
        assert "is a folder; name a file" in one_line_error(capsys)
    elif option == "--save":
        assert main(["explore", "--save", str(tmp_path / "a-file")]) == 2
        assert "exists and is not a folder" in one_line_error(capsys)
    else:
        assert main(["run", "--history", str(tmp_path / "a-file")]) == 2
        assert "exists and is not a folder" in one_line_error(capsys)


def test_replay_on_a_dsn_skips_what_the_server_cannot_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, pg_server: Server
) -> None:
    folder = tmp_path / "scenarios"
    folder.mkdir()
    for name in ("server-restart", "drop-page-webhook"):
        source = ROOT / "scenarios" / "reference" / f"{name}.json"
        (folder / source.name).write_text(source.read_text())
    dsn = pg_server.dsn(pg_server.admin_dbname)
    junit_path = tmp_path / "j.xml"
    assert main(["replay", str(folder), "--dsn", dsn, "--junit", str(junit_path)]) == 0
    out = capsys.readouterr().out
    restart = folder / "server-restart.json"
    assert (
        f"SKIP {restart}: RestartServer faults need the embedded server (--pg embedded), not dsn"
        in out
    )
    assert f"ok  {folder / 'drop-page-webhook.json'}: pass" in out
    assert "1 of 1 scenarios run were ok" in out and "1 skipped" in out
    xml = junit_path.read_text()
    assert 'skipped="1"' in xml and "<skipped message=" in xml


def test_run_history_is_written_without_faults(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    history = tmp_path / "h"
    assert main(["run", "--threads", "7", "--page-size", "3", "--history", str(history)]) == 0
    path = history / "run-none-0.history.json"
    assert f"wrote {path}" in capsys.readouterr().out
    data = json.loads(path.read_text())
    deliveries = [e for e in data["events"] if e["kind"] == "delivery"]
    # 3 pages + 7 threads, each webhook delivered once, in order.
    assert len(deliveries) == data["deliveries"] == 10
    assert [e["request_id"] for e in deliveries] == sorted(e["request_id"] for e in deliveries)
    assert all(e["reply"]["status"] == 200 for e in deliveries)
    assert data["outcome"] == {"ok": True, "problems": []}
    assert data["run"]["threads"] == 7


def test_version() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert re.fullmatch(r"threadsync \d+\.\d+\.\d+\S*\n", proc.stdout), proc.stdout

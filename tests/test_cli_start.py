"""The entry point that starts a replay's server while the command imports (cli_start)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness import cli_start, replay
from harness.postgres import ahead, lifecycle

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "scenarios" / "reference" / "crash-page-step-0.json"
REFERENCE = "threadsync.reference:pipeline"


@pytest.fixture
def no_dsn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("THREADSYNC_DSN", raising=False)


def test_plan_reads_the_pipelines_of_the_scenarios(no_dsn: None) -> None:
    assert cli_start.replay_plan(["replay", str(SCENARIO)]) == (None, [REFERENCE], REFERENCE)
    folder = str(SCENARIO.parent)
    assert cli_start.replay_plan(["replay", folder, "--quiet"]) == (None, [REFERENCE], REFERENCE)
    assert cli_start.replay_plan(["replay", str(SCENARIO), "--impl=a.b:c", "--pg-bin", "/x"]) == (
        "/x",
        ["a.b:c"],
        "a.b:c",
    )


def test_plan_names_the_first_scenarios_pipeline(no_dsn: None, tmp_path: Path) -> None:
    for name, impl in (("a.json", "z.z:p"), ("b.json", "a.a:p"), ("c.json", "z.z:p")):
        (tmp_path / name).write_text(f'{{"impl": "{impl}"}}')
    assert cli_start.replay_plan(["replay", str(tmp_path)]) == (None, ["a.a:p", "z.z:p"], "z.z:p")


@pytest.mark.parametrize(
    "argv",
    [
        ["run"],
        ["replay"],
        ["replay", str(SCENARIO), "--dsn", "postgresql://nowhere"],
        ["replay", str(SCENARIO), "--pg", "docker"],
        ["replay", str(SCENARIO), "--functions", "supabase"],
        ["replay", str(SCENARIO), "--help"],
        ["replay", str(SCENARIO), "--imp", REFERENCE],  # argparse's abbreviation: not read here
        ["replay", str(SCENARIO), "--junit"],
        ["replay", "no/such/file.json"],
    ],
)
def test_plan_starts_nothing_when_unsure(no_dsn: None, argv: list[str]) -> None:
    assert cli_start.replay_plan(argv) is None


def test_plan_follows_threadsync_dsn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THREADSYNC_DSN", "postgresql://nowhere")
    assert cli_start.replay_plan(["replay", str(SCENARIO)]) is None
    plan = cli_start.replay_plan(["replay", str(SCENARIO), "--pg-bin", "/x"])
    assert plan == ("/x", [REFERENCE], REFERENCE)


def test_plan_of_a_file_that_is_not_a_scenario(no_dsn: None, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert cli_start.replay_plan(["replay", str(bad)]) is None
    bad.write_text('{"impl": 3}')
    assert cli_start.replay_plan(["replay", str(bad)]) is None


def _refuse(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("the replay started a second server")


def test_replay_runs_on_the_server_started_ahead(
    no_dsn: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(replay, "start_server", _refuse)
    before = set(lifecycle._live)
    assert cli_start.main(["replay", str(SCENARIO)]) == 0
    assert "1 of 1 scenarios run were ok" in capsys.readouterr().out
    assert ahead._pending is None
    assert set(lifecycle._live) == before  # stopped with the command


def test_a_server_the_command_does_not_want_is_stopped(
    no_dsn: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A wrong guess (another pipeline's template than the command's): the early server goes,
    # the command starts its own and runs as usual.
    wrong = "harness.mutants.no_fencing:pipeline"
    monkeypatch.setattr(cli_start, "replay_plan", lambda argv: (None, [wrong], wrong))
    seen: list[ahead.Ahead | None] = []
    real_take = ahead.take

    def take(*args: Any) -> ahead.Ahead | None:
        seen.append(ahead._pending)
        taken = real_take(*args)
        assert taken is None
        return taken

    monkeypatch.setattr(ahead, "take", take)
    before = set(lifecycle._live)
    assert cli_start.main(["replay", str(SCENARIO)]) == 0
    assert "1 of 1 scenarios run were ok" in capsys.readouterr().out
    early = seen[0]
    assert early is not None and early.server is not None and not early.failed
    assert set(lifecycle._live) == before  # both servers stopped


def test_bad_scenario_after_an_early_start_is_one_line_exit_2(
    no_dsn: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The file names a pipeline (so the server starts early) but is no valid scenario.
    bad = tmp_path / "bad.json"
    bad.write_text(f'{{"impl": "{REFERENCE}", "dataset": 7}}')
    before = set(lifecycle._live)
    assert cli_start.main(["replay", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("threadsync: ") and err.count("\n") == 1
    assert ahead._pending is None
    assert set(lifecycle._live) == before  # the early server was stopped


def _python(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=300, cwd=ROOT
    )


def test_the_command_exit_finishes_threads_atexit_and_output_first() -> None:
    # The console command ends with os._exit: what an orderly exit would finish must be done by
    # then. A non-daemon thread's last words, an atexit callback and unflushed output all show.
    out = _python(
        "-c",
        "import atexit, sys, threading, time\n"
        "from harness import cli_start\n"
        "def late():\n"
        "    time.sleep(0.2)\n"
        "    sys.stdout.write('thread done\\n')\n"
        "threading.Thread(target=late).start()\n"
        "atexit.register(lambda: sys.stdout.write('atexit ran\\n'))\n"
        "sys.stdout.write('unflushed')\n"
        "cli_start._exit_now(3)\n",
    )
    assert out.returncode == 3
    assert out.stdout == "unflushedthread done\natexit ran\n"


def test_the_console_command_replays_and_exits_with_its_code() -> None:
    ok = _python("-m", "harness.cli_start", "replay", str(SCENARIO))
    assert ok.returncode == 0, ok.stderr
    assert "1 of 1 scenarios run were ok" in ok.stdout
    missing = _python("-m", "harness.cli_start", "replay", str(ROOT / "no-such.json"))
    assert missing.returncode == 2
    assert missing.stderr.startswith("threadsync: ") and missing.stderr.count("\n") == 1


EARLY_START = f"""
import sys, time
from harness.impl import load_pipeline
from harness.postgres import ahead
from harness.sql import harness_migrations

pipeline = load_pipeline({REFERENCE!r})
prepare = [(pipeline.name, harness_migrations(pipeline))]
seen = []
wait = ahead.Ahead._wait_imported

def spy(self):
    seen.append("psycopg" in sys.modules)
    wait(self)

ahead.Ahead._wait_imported = spy
ahead.start(None, prepare)
deadline = time.monotonic() + 60
while not seen and time.monotonic() < deadline:
    time.sleep(0.01)
time.sleep(0.2)
early = ahead._pending
print(seen, "psycopg" in sys.modules, early is not None and early.server is None)
ahead.connectable()
taken = ahead.take("embedded", None, prepare)
print(taken is not None and taken.server is not None and len(taken.templates) == 1)
assert taken is not None
with taken.running():
    pass
"""


def test_the_server_started_ahead_is_launched_before_psycopg_and_connects_after() -> None:
    # The copy and the launch need no psycopg, so they overlap its import; connecting waits
    # until the command's own thread has imported it (`connectable`).
    out = _python("-c", EARLY_START)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "[False] False True\nTrue\n"

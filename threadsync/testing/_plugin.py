"""The pytest plugin: server and database fixtures, options, and saved scenarios as test items.

Loaded through the `pytest11` entry point. Importing it is cheap: the harness (psycopg,
Hypothesis, Faker) is imported only when a fixture or a scenario item needs it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from threadsync.testing import _api

if TYPE_CHECKING:
    from harness.postgres import Server
    from harness.replay import Workbench
    from harness.scenario import Scenario

_BENCH = pytest.StashKey["_Shared"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("threadsync", "threadsync chaos harness")
    group.addoption("--threadsync-impl", help="pipeline to test, package.module:attribute")
    group.addoption("--threadsync-budget", type=float, help="exploration budget, seconds (60)")
    group.addoption("--threadsync-profile", help="exploration profile: ci, dev or deep (ci)")
    group.addoption("--threadsync-dsn", help="an existing PostgreSQL server instead of embedded")
    group.addoption("--threadsync-pg-bin", help="directory with initdb and postgres")
    group.addoption("--threadsync-history", help="write failing scenarios' HTML reports here")
    parser.addini(
        "threadsync_scenarios",
        "folder names whose *.json files are collected as saved scenarios",
        type="args",
        default=["scenarios"],
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "threadsync: a saved threadsync scenario")
    config.addinivalue_line(
        "markers", "threadsync_restart: a scenario that restarts the server (embedded only)"
    )
    for key, option in (
        ("impl", "threadsync_impl"),
        ("budget", "threadsync_budget"),
        ("profile", "threadsync_profile"),
    ):
        value = config.getoption(option)
        if value is not None:
            _api.defaults[key] = value
    config.stash[_BENCH] = _Shared(config)
    config.add_cleanup(config.stash[_BENCH].close)


class _Shared:
    """One server and workbench per test process (so per xdist worker), started on first use."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self._server_cm: Any = None
        self.server: Server | None = None
        self.bench: Workbench | None = None

    def workbench(self) -> Workbench:
        if self.bench is None:
            from harness.postgres import start_server
            from harness.replay import Workbench

            dsn = self.config.getoption("threadsync_dsn") or os.environ.get("THREADSYNC_DSN")
            pg_bin = self.config.getoption("threadsync_pg_bin")
            kind = "dsn" if dsn and not pg_bin else "embedded"
            self._server_cm = start_server(kind, pg_bin=pg_bin, dsn=dsn)
            self.server = self._server_cm.__enter__()
            self.bench = Workbench(self.server)
        return self.bench

    def close(self) -> None:
        if self.bench is not None:
            self.bench.close()
            self.bench = None
        if self._server_cm is not None:
            cm, self._server_cm = self._server_cm, None
            cm.__exit__(None, None, None)


@pytest.fixture(scope="session")
def threadsync_workbench(pytestconfig: pytest.Config) -> Workbench:
    """The test process's server and migrated templates (one per pipeline), shared by all tests."""
    return pytestconfig.stash[_BENCH].workbench()


@pytest.fixture(scope="session")
def threadsync_server(threadsync_workbench: Workbench) -> Server:
    """The PostgreSQL server: embedded, or --threadsync-dsn / THREADSYNC_DSN."""
    return threadsync_workbench.server


@pytest.fixture
def threadsync_db(threadsync_workbench: Workbench) -> Iterator[str]:
    """A fresh database with --threadsync-impl's pipeline migrated; its DSN, dropped afterwards."""
    impl = _api.defaults["impl"] or _api.DEFAULT_IMPL
    templates = threadsync_workbench.template(impl)
    name = templates.fresh("test")
    try:
        yield threadsync_workbench.server.dsn(name)
    finally:
        templates.drop(name)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    folders = set(parent.config.getini("threadsync_scenarios"))
    if file_path.suffix != ".json" or not folders.intersection(file_path.parts[:-1]):
        return None
    try:
        data = json.loads(file_path.read_bytes())
    except (OSError, ValueError):
        data = None
    # Other JSON objects under a scenarios folder are not ours; a file that is not JSON at all is
    # taken for a broken scenario, so that it fails with the reason instead of vanishing.
    if data is not None and not (isinstance(data, dict) and {"version", "expect"} <= data.keys()):
        return None
    return ScenarioFile.from_parent(parent, path=file_path)


class ScenarioFile(pytest.File):
    """A saved scenario file: one test item."""

    def collect(self) -> Iterator[ScenarioItem]:
        item = ScenarioItem.from_parent(self, name=self.path.stem)
        item.add_marker(pytest.mark.threadsync)
        if '"RestartServer"' in self.path.read_text(encoding="utf-8", errors="replace"):
            item.add_marker(pytest.mark.threadsync_restart)
        yield item


class ScenarioFailed(Exception):
    """A scenario did not give the verdict it should; the message is the full report."""


class ScenarioItem(pytest.Item):
    """Replays one scenario: against its own pipeline it must give the verdict it expects;
    with --threadsync-impl it judges that pipeline, which must pass every check."""

    def runtest(self) -> None:
        from harness.report import text_report, write_history
        from harness.scenario import load

        scenario = load(self.path)  # ScenarioError: one line naming the file and the field
        impl = self.config.getoption("threadsync_impl")
        bench = self.config.stash[_BENCH].workbench()
        if _needs_restart(scenario) and bench.server.kind != "embedded":
            pytest.skip(f"restarts the server, which a {bench.server.kind} server can't do")
        verdict = _api.run(scenario, workbench=bench, impl=impl)
        judged = impl is not None and impl != scenario.impl
        ok = not verdict.violations if judged else verdict.as_expected
        if ok:
            return
        report = text_report(verdict)
        directory = self.config.getoption("threadsync_history")
        if directory:
            paths = write_history(verdict, Path(directory))
            timeline = next((p for p in paths if p.suffix == ".html"), paths[-1])
            self.user_properties.append(("threadsync_report", str(timeline)))
            report += f"\n\nHTML report: {timeline}"
        what = f"judged {verdict.scenario.impl}" if judged else "did not give its expected verdict"
        raise ScenarioFailed(f"scenario {scenario.name} {what}\n{report}")

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> str:
        if isinstance(excinfo.value, ScenarioFailed | _scenario_error()):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo, style=style))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"threadsync scenario {self.name}"


def _needs_restart(scenario: Scenario) -> bool:
    return any(type(rule).__name__ == "RestartServer" for rule in scenario.faults.rules)


def _scenario_error() -> type[Exception]:
    from harness.scenario import ScenarioError

    return ScenarioError

"""Learns which functions each saved scenario's reference run enters, so a mutant skips the rest.

Replays are deterministic and a mutant differs from the reference only inside one function, so
a scenario whose reference run never enters that function runs identically against the mutant:
replaying it cannot kill the mutant. PostgreSQL's function statistics (track_functions = 'all')
see every call a backend makes, nested calls, trigger functions and PERFORMs included, and
create a function's entry when it is entered, so a call that raised is seen too. Two things
they cannot see, and that are therefore never skipped: SQL-language functions whose body is
one SELECT (the planner may inline them, and an inlined call is not counted), and runs whose
statistics may be lost or incomplete (a server restart, a run that failed or could not finish).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from pglast import parse_sql, parser

from harness.mutate.source import Function
from harness.replay import Workbench, run_scenario
from harness.scenario import Scenario
from threadsync.queries import load_named

QUERIES = load_named(Path(__file__).with_suffix(".sql"))
_RELOAD_WAIT_S = 5.0


@dataclass
class Reach:
    """Per scenario, the functions (schema.name) its reference run entered; None: never skip."""

    entered: dict[Path, frozenset[str] | None] = field(default_factory=dict)
    trackable: frozenset[str] = frozenset()  # functions whose calls statistics always see
    note: str | None = None  # why nothing is skipped at all
    seconds: float = 0.0

    def skips(self, path: Path, function: str) -> bool:
        """Whether replaying `path` cannot kill a mutant of `function`."""
        if function not in self.trackable:
            return False
        seen = self.entered.get(path)
        return seen is not None and function not in seen


def trackable(fns: list[Function]) -> frozenset[str]:
    """The functions (schema.name) whose every call statistics count: PL/pgSQL, and SQL
    functions the planner cannot inline (it inlines only a body that is one SELECT)."""
    seen: set[str] = set()
    unsafe: set[str] = set()  # statistics are read by name: one unsafe overload taints it
    for fn in fns:
        (seen if _counted(fn) else unsafe).add(fn.qualified)
    return frozenset(seen - unsafe)


def _counted(fn: Function) -> bool:
    if fn.language == "plpgsql":
        return True
    if fn.language != "sql":
        return False
    try:
        stmts = parse_sql(fn.body.decode())
    except parser.ParseError:
        return False
    return len(stmts) != 1 or type(stmts[0].stmt).__name__ != "SelectStmt"


def _q(name: str) -> bytes:
    return QUERIES[name].encode()


def _one(conn: psycopg.Connection[Any], name: str) -> Any:
    row = conn.execute(_q(name)).fetchone()
    assert row is not None
    return row[0]


def track_all(bench: Workbench) -> str | None:
    """Turn on function statistics on a server this process started; None, or why it cannot."""
    dsn = bench.server.dsn(bench.server.admin_dbname)
    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
        if _one(conn, "setting") == "all":
            return None
        if bench.server.kind != "embedded":
            # A shared server's configuration is not ours to change.
            return f"track_functions is not 'all' on the {bench.server.kind} server"
        try:
            conn.execute(_q("enable"))
            conn.execute(_q("reload"))
        except psycopg.Error as exc:
            return f"cannot set track_functions: {str(exc).strip().splitlines()[0]}"
    deadline = time.monotonic() + _RELOAD_WAIT_S
    while time.monotonic() < deadline:
        # The reload is asynchronous: wait until a new backend starts with the new setting.
        with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
            if _one(conn, "setting") == "all":
                return None
        time.sleep(0.05)
    return "the server did not take track_functions = 'all' in time"


def untrack(bench: Workbench) -> None:
    """Turn function statistics back off (on a server shared with more than mutate)."""
    dsn = bench.server.dsn(bench.server.admin_dbname)
    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
            conn.execute(_q("disable"))
            conn.execute(_q("reload"))
    except psycopg.Error:
        pass  # leaving the statistics on costs only a little speed


def _started(bench: Workbench) -> Any:
    dsn = bench.server.dsn(bench.server.admin_dbname)
    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
        return _one(conn, "started")


def _entered(bench: Workbench, impl: str, scenario: Scenario) -> frozenset[str] | None:
    """The functions one reference run entered, on a database of its own (new statistics)."""
    try:
        started = _started(bench)
        verdict = run_scenario(bench, scenario, impl=impl)
        db = bench.databases[impl]
        with psycopg.connect(db.dsn, autocommit=True, connect_timeout=5) as conn:
            if _one(conn, "started") != started or _one(conn, "setting") != "all":
                return None  # a restart may have discarded statistics, or none were kept
            names = frozenset(str(row[0]) for row in conn.execute(_q("entered")))
    except Exception:  # the run could not finish: its statistics say nothing
        return None
    finally:
        db_left = bench.databases.pop(impl, None)
        if db_left is not None:
            db_left.close()
    # Every passing run enters some function (a webhook's trigger at least): an empty set
    # means statistics were not kept for this database, whatever the setting said.
    return None if verdict.violations or not names else names


def learn(
    bench: Workbench,
    impl: str,
    scenarios: list[tuple[Path, Scenario]],
    trackable: frozenset[str],
) -> Reach:
    """Run every scenario once against the reference `impl` and record what each entered.
    Statistics stay on afterwards (see `untrack`): exploration counts on them too."""
    t0 = time.monotonic()
    reach = Reach(trackable=trackable)
    problem = track_all(bench)
    if problem is not None:
        reach.note = problem
        return reach
    for path, scenario in scenarios:
        reach.entered[path] = _entered(bench, impl, scenario)
    reach.seconds = time.monotonic() - t0
    return reach


def server_started(bench: Workbench) -> Any:
    """When the server last started (a restart discards or resets statistics)."""
    try:
        return _started(bench)
    except psycopg.Error:
        return None


def entered_since_clone(bench: Workbench, impl: str, function: str, started: Any) -> bool | None:
    """Whether the runs on `impl`'s database (new for them) entered `function`. An entry seen
    is proof; its absence proves nothing when the database was cloned anew during the runs or
    the server restarted (a crash discards statistics): None then, and with no database."""
    db = bench.databases.get(impl)
    if db is None or not db.dsn:
        return None
    try:
        with psycopg.connect(db.dsn, autocommit=True, connect_timeout=5) as conn:
            if function in {str(row[0]) for row in conn.execute(_q("entered"))}:
                return True
            whole = db.clones == 1 and started is not None and _one(conn, "started") == started
    except psycopg.Error:
        return None
    return False if whole else None

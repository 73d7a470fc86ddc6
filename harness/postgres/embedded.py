"""The embedded server: a private postgres on a scratch folder, reached only by a Unix socket."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.postgres import clusters, lifecycle
from harness.postgres.binaries import (
    RunAs,
    find_pg_bin,
    prepare_pg_bin,
    server_account,
    version_of,
)
from harness.postgres.errors import EnvironmentProblem
from harness.postgres.launcher import launch
from harness.postgres.migrations import Migrations, migrations_key
from harness.postgres.ownership import write_owner
from harness.postgres.settings import SERVER_SETTINGS

if TYPE_CHECKING:
    from harness.postgres.server import Server

# Templates to start with: (pipeline name, its migrations), applied once into a cached cluster.
Prepare = Sequence[tuple[str, Migrations]]

SCRATCH_PREFIX = "threadsync-pg-"
# The socket lives in a folder only the server account can enter, so the port is just part of
# the socket's file name; no TCP listener exists for other local users to reach.
SOCKET_PORT = 5432
_START_TIMEOUT_S = 15.0
_STOP_TIMEOUT_S = 5.0
_REMOVE_RETRY_S = 3.0


def scratch_base() -> str | None:
    """Prefer RAM-backed /dev/shm for the data folder (clones are several times faster there)."""
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK) else None


def _tail(path: Path, lines: int) -> str:
    """Return the last lines of a log file joined on one line."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])


def _remove_folder(folder: str | Path) -> None:
    """Remove the server's folder, trying again for a moment: under load, a process of the
    server that was still exiting (or starting, when an interrupt came mid-start) can write into
    it while it goes, and one pass then leaves it behind."""
    deadline = time.monotonic() + _REMOVE_RETRY_S
    while True:
        shutil.rmtree(folder, ignore_errors=True)
        if not os.path.exists(folder) or time.monotonic() > deadline:
            return
        time.sleep(0.05)


def _says_ready(data: Path) -> bool:
    """Whether the postmaster's pid file says it accepts connections (its 8th line, the status,
    is "ready" once it does; a missing or unreadable file says nothing)."""
    try:
        lines = (data / "postmaster.pid").read_text().splitlines()
    except (OSError, UnicodeDecodeError):
        return False
    return len(lines) >= 8 and lines[7].strip() == "ready"


def _nothing() -> None:
    """Connect at once (the caller's own thread imports psycopg as it connects)."""


def _wait_gone(proc: subprocess.Popen[bytes], timeout: float) -> bool:
    """Poll (never block on Popen's lock, we may run inside a signal handler) until exit."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return True
        time.sleep(0.001)
    return proc.poll() is not None


class EmbeddedPostgres:
    """A private postgres process on a temporary data folder, run as nobody when we are root."""

    def __init__(
        self,
        bindir: Path,
        run_as: RunAs | None,
        prepare: Prepare = (),
        before_connect: Callable[[], None] | None = None,
    ) -> None:
        self.bindir = bindir
        self.run_as = run_as
        self.prepare = prepare
        # Called before anything here connects (and so imports psycopg): everything before it
        # (the copy, initdb, launching postgres) runs where psycopg is not imported yet.
        self.before_connect = before_connect or _nothing
        # The templates the started cluster holds: migrations key -> database name.
        self.templates: dict[str, str] = {}
        self.tmp = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir=scratch_base()))
        write_owner(self.tmp)  # first thing: without it the reaper treats the folder as unknown
        self.data = self.tmp / "data"
        self.sockdir = self.tmp / "sock"
        self.log = self.tmp / "postgres.log"
        self.port = SOCKET_PORT
        self.proc: subprocess.Popen[bytes] | None = None
        self.cache_key: str | None = None
        self._stopped = False

    def _kwargs(self) -> dict[str, Any]:
        return self.run_as.popen_kwargs() if self.run_as else {}

    def initdb(self) -> None:
        """Create the cluster (owned by the server account): a copy of a cached one if possible."""
        self.sockdir.mkdir(mode=0o700)
        if self.run_as is not None:
            for path in (self.tmp, self.sockdir):
                os.chown(path, self.run_as.uid, self.run_as.gid)
        if clusters.enabled():
            key = clusters.cache_key(self.bindir, version_of(self.bindir), self.run_as)
            try:
                source = clusters.pristine(key, self.run_as, self._run_initdb)
                clusters.keep_recent(key)
                self._copy_cached(key, source)
            except (OSError, EnvironmentProblem):
                # An unusable cache (full disk, no /var/tmp, a broken entry) costs only the time
                # of initdb; a genuine initdb failure shows again, and is raised, below.
                shutil.rmtree(self.data, ignore_errors=True)
            else:
                return
        self._run_initdb(self.data)

    def _copy_cached(self, key: str, source: Path) -> None:
        """Copy the cached cluster with the wanted templates migrated in, made once from the
        pristine one; without templates (or if they cannot be made) the pristine one itself.
        A migration that fails is reported later, by the workbench migrating it as usual."""
        wanted = {
            migrations_key(steps): clusters.template_name(name, migrations_key(steps))
            for name, steps in self.prepare
        }
        if wanted:
            mkey = clusters.migrated_key(key, sorted((n, k) for k, n in wanted.items()))
            try:
                migrated = clusters.pristine(
                    mkey, self.run_as, lambda data: self._build_migrated(source, data)
                )
                clusters.copy_cluster(migrated, self.data, {**self._kwargs(), "cwd": self.tmp})
            except (OSError, EnvironmentProblem):
                shutil.rmtree(self.data, ignore_errors=True)
            else:
                clusters.keep_recent(mkey)
                self.cache_key = mkey
                self.templates = wanted
                return
        clusters.copy_cluster(source, self.data, {**self._kwargs(), "cwd": self.tmp})
        self.cache_key = key

    def _build_migrated(self, pristine: Path, data: Path) -> None:
        """Make a cluster holding the templates: a scratch server on a copy of the pristine
        cluster migrates them, shuts down cleanly (a checkpoint, so the copy needs no
        recovery), and its data folder is copied to `data`."""
        self.before_connect()
        import psycopg

        from harness.postgres.templates import migrate

        helper = EmbeddedPostgres(self.bindir, self.run_as)
        lifecycle.register(id(helper), helper.stop)
        try:
            helper.sockdir.mkdir(mode=0o700)
            if self.run_as is not None:
                for path in (helper.tmp, helper.sockdir):
                    os.chown(path, self.run_as.uid, self.run_as.gid)
            clusters.copy_cluster(pristine, helper.data, {**self._kwargs(), "cwd": helper.tmp})
            helper.start()
            server = helper.server()
            try:
                for name, steps in self.prepare:
                    dbname = clusters.template_name(name, migrations_key(steps))
                    server.create_database(dbname)
                    migrate(server, dbname, steps)
            except psycopg.Error as exc:
                raise EnvironmentProblem(f"preparing a cached template failed: {exc}") from exc
            helper._shutdown(signal.SIGINT)
            if helper.proc is None or helper.proc.returncode != 0:
                raise EnvironmentProblem("the server preparing a cached template did not stop")
            clusters.copy_cluster(helper.data, data, {**self._kwargs(), "cwd": data.parent})
        finally:
            helper.stop()

    def server(self) -> Server:
        """The running server as the harness sees it."""
        from harness.postgres.server import Server

        return Server(
            kind="embedded",
            host=str(self.sockdir),
            port=self.port,
            user="postgres",
            password=None,
            admin_dbname="postgres",
            templates=dict(self.templates),
            _stop=self.stop,
            _restart=self.restart,
        )

    def _run_initdb(self, data: Path) -> None:
        cmd = [str(self.bindir / "initdb"), "-D", str(data), *clusters.INITDB_ARGS]
        proc = launch(
            cmd,
            signal.SIGKILL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=data.parent,
            **self._kwargs(),
        )
        try:
            out, _ = proc.communicate(timeout=120)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        if proc.returncode != 0:
            text = out.decode(errors="replace")
            last = " | ".join(line.strip() for line in text.strip().splitlines()[-3:])
            raise EnvironmentProblem(
                f"initdb failed (exit {proc.returncode}): {last}; check that {self.bindir} is a "
                f"complete PostgreSQL installation and {data.parent} has free space, "
                "or pass --pg-bin DIR"
            )

    def initdb_and_start(self) -> None:
        """initdb and start; a copied cluster that will not start is discarded and made anew."""
        self.initdb()
        try:
            self.start()
        except EnvironmentProblem:
            if self.cache_key is None:
                raise
            clusters.discard(self.cache_key)
            self.cache_key = None
            self.templates = {}
            shutil.rmtree(self.data, ignore_errors=True)
            self._run_initdb(self.data)
            self.start()

    def start(self) -> None:
        """Launch postgres on its private socket and wait until it accepts connections."""
        cmd = [str(self.bindir / "postgres"), "-D", str(self.data), "-p", str(self.port)]
        cmd += [
            "-k",
            str(self.sockdir),
            "-c",
            "listen_addresses=",
            "-c",
            "unix_socket_permissions=0700",
        ]
        for setting in SERVER_SETTINGS:
            cmd += ["-c", setting]
        with open(self.log, "ab") as log:
            # Own session: a terminal Ctrl-C reaches us first and we shut the server down in
            # order. SIGQUIT when we die: an immediate shutdown that takes the backends along.
            self.proc = launch(
                cmd,
                signal.SIGQUIT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.tmp,
                start_new_session=True,
                **self._kwargs(),
            )
        self.before_connect()
        import psycopg
        from psycopg.conninfo import make_conninfo

        deadline = time.monotonic() + _START_TIMEOUT_S
        conninfo = make_conninfo(
            host=str(self.sockdir),
            port=self.port,
            user="postgres",
            dbname="postgres",
            connect_timeout=1,
        )
        next_try = 0.0
        while True:
            if self.proc.poll() is not None:
                raise EnvironmentProblem(
                    f"postgres did not start (exit {self.proc.returncode}): {_tail(self.log, 3)}"
                )
            # Try to connect once the postmaster says it is ready, and every 10 ms anyway (its
            # pid file may be unreadable, or lag): a restart the plan asks for waited 5 ms on
            # average for the next 10 ms attempt, a few percent of an exploration.
            now = time.monotonic()
            if now >= next_try or _says_ready(self.data):
                try:
                    psycopg.connect(conninfo).close()
                    return
                except psycopg.OperationalError:
                    pass
                next_try = time.monotonic() + 0.01
            if now > deadline:
                self._kill()
                raise EnvironmentProblem(
                    f"postgres did not start within {_START_TIMEOUT_S:.0f}s: {_tail(self.log, 3)}"
                )
            time.sleep(0.001)

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
        """Shut down (immediate: crash-like, recovery on start) and start again."""
        if self._stopped:
            raise EnvironmentProblem("restart of a stopped server; start a new one instead")
        self._shutdown(signal.SIGQUIT if immediate else signal.SIGINT)
        self.start()

    def stop(self) -> None:
        """Immediate shutdown, then remove the temporary folder; idempotent. Immediate: the
        folder goes next, so the shutdown checkpoint a fast shutdown writes would be wasted."""
        if self._stopped:
            return
        self._shutdown(signal.SIGQUIT)
        _remove_folder(self.tmp)
        self._stopped = True
        lifecycle.unregister(id(self))


@contextmanager
def embedded(
    pg_bin: str | None, prepare: Prepare = (), before_connect: Callable[[], None] | None = None
) -> Iterator[Server]:
    """Start a private server (stopped, and its folder removed, on exit), holding the
    `prepare` templates already migrated when the cluster cache can provide them;
    `before_connect` is called before anything connects to it (see EmbeddedPostgres)."""
    run_as = server_account()
    bindir = prepare_pg_bin(find_pg_bin(pg_bin), run_as)
    pg = EmbeddedPostgres(bindir, run_as, prepare, before_connect)
    lifecycle.install_signal_handlers()
    lifecycle.register(id(pg), pg.stop)
    try:
        pg.initdb_and_start()
        yield pg.server()
    finally:
        pg.stop()

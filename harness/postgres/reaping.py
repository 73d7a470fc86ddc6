"""Finds what dead runs left behind (servers, scratch folders, databases) and removes only that."""

from __future__ import annotations

import logging
import shutil
import signal
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.postgres import ownership
from harness.postgres.names import DB_PREFIX, OWNER_APP_PREFIX, token_of

if TYPE_CHECKING:
    import psycopg

    from harness.postgres.server import Server

SCRATCH_PREFIXES = ("threadsync-pg-", "threadsync-dsn-")
# A folder without an owner record (made by an older threadsync, or whose owner died within
# microseconds of creating it) is removed only when no process uses it and nothing in it changed
# for this long: an older run restarting its server leaves it unused for a few milliseconds only.
UNRECORDED_GRACE_S = 300.0
_STOP_WAIT_S = 5.0

log = logging.getLogger("threadsync.reaping")


def scratch_bases() -> list[Path]:
    """The folders scratch folders are made in: /dev/shm and the temporary folder."""
    bases: list[Path] = []
    for base in ("/dev/shm", tempfile.gettempdir()):
        path = Path(base)
        if path.is_dir() and path not in bases:
            bases.append(path)
    return bases


def _newest_change(folder: Path) -> float:
    newest = 0.0
    for path in (folder, folder / "data", folder / "postgres.log", folder / "data" / "pg_wal"):
        try:
            newest = max(newest, path.stat().st_mtime)
        except OSError:
            continue
    return newest


def _orphaned(folder: Path) -> str | None:
    """Why a scratch folder belongs to a dead run, or None while it may belong to a live one."""
    owner = ownership.read_owner(folder)
    if owner is not None:
        return None if ownership.is_alive(owner) else f"owner pid {owner.pid} is gone"
    postmaster = ownership.postmaster_of(folder / "data")
    if postmaster is not None:
        # Without a record the owner is the postmaster's parent; init adopts an orphan.
        parent = ownership.parent_of(postmaster)
        return "its server was orphaned" if parent == 1 else None
    if ownership.processes_using(folder):
        return None
    idle = time.time() - _newest_change(folder)
    return f"unused for {idle:.0f} s" if idle > UNRECORDED_GRACE_S else None


def _wait_gone(pids: list[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    left = pids
    while left and time.monotonic() < deadline:
        time.sleep(0.02)
        left = [p for p in left if ownership.start_time(p) is not None]
    return left


def _stop_server_in(folder: Path) -> None:
    """Immediate-shutdown the verified postmaster of a folder, then kill any backend left."""
    postmaster = ownership.postmaster_of(folder / "data")
    if postmaster is not None:
        # SIGQUIT: the postmaster takes its backends down with it.
        ownership.signal_quietly(postmaster, signal.SIGQUIT)
        for pid in _wait_gone([postmaster], _STOP_WAIT_S):
            ownership.signal_quietly(pid, signal.SIGKILL)
    # Backends of a postmaster killed outright exit by themselves, but soon is not now.
    stragglers = ownership.postgres_processes_in(folder)
    for pid in stragglers:
        ownership.signal_quietly(pid, signal.SIGKILL)
    _wait_gone(stragglers, _STOP_WAIT_S)


def reap_scratch(bases: list[Path] | None = None) -> list[str]:
    """Stop the servers of dead runs and remove their scratch folders; say what was removed."""
    removed: list[str] = []
    for base in scratch_bases() if bases is None else bases:
        try:
            entries = sorted(base.iterdir())
        except OSError:
            continue
        for folder in entries:
            if not folder.name.startswith(SCRATCH_PREFIXES) or folder.is_symlink():
                continue
            if not folder.is_dir():
                continue
            why = _orphaned(folder)
            if why is None:
                continue
            _stop_server_in(folder)
            shutil.rmtree(folder, ignore_errors=True)
            if not folder.exists():
                removed.append(f"scratch folder {folder} ({why})")
                log.info("removed %s (%s)", folder, why)
    return removed


def orphan_databases(conn: psycopg.Connection[Any]) -> list[str]:
    """Harness databases whose owner token has no live session on the server."""
    from harness.postgres.server import QUERIES  # a server's side (and psycopg): when used

    # Databases first, then owners: a database listed here was created after its owner's session
    # opened, so an owner alive at the second query is seen by it.
    names = [r[0] for r in conn.execute(QUERIES["harness_databases"], {"prefix": DB_PREFIX})]
    owners = conn.execute(QUERIES["owner_sessions"], {"prefix": OWNER_APP_PREFIX}).fetchall()
    live = {str(r[0])[len(OWNER_APP_PREFIX) :] for r in owners}
    return [n for n in names if (token := token_of(n)) is not None and token not in live]


def reap_databases(server: Server) -> list[str]:
    """Drop the harness databases of dead owners on a server; say what was dropped."""
    import psycopg

    dropped: list[str] = []
    try:
        with psycopg.connect(server.dsn(server.admin_dbname), autocommit=True) as conn:
            candidates = orphan_databases(conn)
    except psycopg.Error as exc:  # reaping is housekeeping: it never stops the command
        log.info("could not list orphan databases: %s", exc)
        return dropped
    for name in candidates:
        try:
            server.drop_database(name)
        except psycopg.Error as exc:
            log.info("could not drop %s: %s", name, exc)
            continue
        dropped.append(f"database {name} (its owner has no session)")
        log.info("dropped database %s", name)
    return dropped


def reap_quietly() -> None:
    """Reap scratch folders without letting a reaping failure stop the command."""
    try:
        reap_scratch()
    except OSError as exc:
        log.info("reaping failed: %s", exc)


__all__ = ["orphan_databases", "reap_databases", "reap_scratch", "scratch_bases"]

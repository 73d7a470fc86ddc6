"""Owner records for scratch folders, and the questions about live processes asked of /proc."""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

OWNER_FILE = "owner.json"
POSTGRES_COMM = "postgres"


@dataclass(frozen=True)
class Owner:
    """A process, named so that a recycled pid is not mistaken for it: pid, start time, boot."""

    pid: int
    start: int  # clock ticks after boot: field 22 of /proc/<pid>/stat
    boot: str


def boot_id() -> str:
    """This boot's id (a record from an earlier boot names a process that is gone)."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (field 3 onwards), or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    # The command name is in parentheses and may itself hold spaces or parentheses.
    return text[text.rindex(")") + 2 :].split()


def start_time(pid: int) -> int | None:
    """When a live (non-zombie) process started, in clock ticks after boot; None if gone."""
    fields = _stat_fields(pid)
    if fields is None or fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def parent_of(pid: int) -> int | None:
    """A live process's parent pid, or None if it is gone."""
    fields = _stat_fields(pid)
    return None if fields is None or fields[0] in ("Z", "X") else int(fields[1])


def this_process() -> Owner:
    """The owner record of the calling process."""
    start = start_time(os.getpid())
    assert start is not None
    return Owner(os.getpid(), start, boot_id())


def write_owner(folder: Path) -> None:
    """Record (atomically) that the calling process owns a scratch folder."""
    tmp = folder / f".{OWNER_FILE}.tmp"
    tmp.write_text(json.dumps(asdict(this_process())))
    os.replace(tmp, folder / OWNER_FILE)


def read_owner(folder: Path) -> Owner | None:
    """The owner recorded in a folder, or None when there is no (valid) record."""
    try:
        data = json.loads((folder / OWNER_FILE).read_text())
        return Owner(int(data["pid"]), int(data["start"]), str(data["boot"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def is_alive(owner: Owner) -> bool:
    """Tell whether exactly that process (not a later one with the same pid) still runs."""
    return owner.boot == boot_id() and start_time(owner.pid) == owner.start


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def _cwd(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return None


def _inside(path: str, folder: Path) -> bool:
    return path == str(folder) or path.startswith(f"{folder}/")


def postmaster_of(data: Path) -> int | None:
    """The pid of the live postgres process serving a data folder, checked, or None.

    postmaster.pid alone is not trusted: its pid may since belong to any other process, so the
    process must be a postgres whose working folder or command line is that data folder.
    """
    try:
        pid = int((data / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None
    if pid <= 1 or start_time(pid) is None or _comm(pid) != POSTGRES_COMM:
        return None
    cwd = _cwd(pid)
    if cwd is not None and _inside(cwd, data):
        return pid
    return pid if str(data) in _cmdline(pid) else None


def _pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def processes_using(folder: Path) -> list[int]:
    """Pids of live processes working in a folder or naming it on their command line."""
    found = []
    for pid in _pids():
        if pid == os.getpid():
            continue
        cwd = _cwd(pid)
        if (cwd is not None and _inside(cwd, folder)) or any(
            _inside(arg, folder) for arg in _cmdline(pid)
        ):
            found.append(pid)
    return found


def postgres_processes_in(folder: Path) -> list[int]:
    """Pids of postgres processes (postmaster or backends) whose working folder is inside folder."""
    return [
        pid for pid in _pids() if _comm(pid) == POSTGRES_COMM and _inside(_cwd(pid) or "", folder)
    ]


def signal_quietly(pid: int, sig: int) -> None:
    """Send a signal to a process that may already be gone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)

"""Checks of command-line values made before any server starts, each failing with one clear line."""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

from harness.scenario import Scenario
from harness.scenario_check import MAX_RUN_THREADS, MAX_SCENARIO_THREADS


class UsageError(Exception):
    """A command-line value is unusable; the message names the option and what to do."""


def budget(seconds: float) -> None:
    """An exploration budget must be a finite, positive number of seconds."""
    if not math.isfinite(seconds) or seconds <= 0:
        raise UsageError(f"--budget must be a finite number of seconds > 0, got {seconds!r}")


def threads(count: int, *, chaos: bool) -> None:
    """The dataset is built in memory: its size has a documented ceiling."""
    ceiling = MAX_SCENARIO_THREADS if chaos else MAX_RUN_THREADS
    if not 0 <= count <= ceiling:
        shown = (
            str(count)
            if len(str(count)) <= 24
            else f"{str(count)[:20]}... ({len(str(count))} digits)"
        )
        mode = "with --faults" if chaos else "without --faults"
        raise UsageError(f"--threads must be 0..{ceiling:,} {mode}, got {shown}")


def writable_dir(path: Path, option: str) -> None:
    """Refuse an output folder that cannot be created or written, without creating it."""
    if path.exists() and not path.is_dir():
        raise UsageError(f"{option} {path}: exists and is not a folder; name a folder")
    _probe(path, option)


def writable_file(path: Path, option: str) -> None:
    """Refuse an output file that cannot be created or replaced, without creating it."""
    if path.is_dir():
        raise UsageError(f"{option} {path}: is a folder; name a file")
    _probe(path.parent, option, shown=path)
    if path.exists():
        try:
            with path.open("a"):
                pass
        except OSError as exc:
            raise UsageError(f"{option} {path}: cannot write it ({exc.strerror})") from None


def _probe(folder: Path, option: str, shown: Path | None = None) -> None:
    shown = shown or folder
    existing = folder
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"{option} {shown}: {existing} is a file, not a folder")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".threadsync-probe-", dir=existing))
    except OSError as exc:
        raise UsageError(
            f"{option} {shown}: cannot write under {existing} ({exc.strerror})"
        ) from None


def unsupported(scenario: Scenario, server_kind: str) -> str | None:
    """Why `scenario` cannot run on this kind of server, or None when it can."""
    if scenario.faults.restarts() and server_kind != "embedded":
        return f"RestartServer faults need the embedded server (--pg embedded), not {server_kind}"
    return None

"""Cleanup on every exit path: context exit, atexit, and SIGINT/SIGTERM turned into exceptions."""

from __future__ import annotations

import atexit
import contextlib
import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any


class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM, so it unwinds and cleans up exactly as on Ctrl-C."""


_live: dict[int, Callable[[], None]] = {}
_installed = False
_previous: dict[int, Any] = {}


def register(key: int, stop: Callable[[], None]) -> None:
    """Remember a running server's stop function until it is stopped."""
    _live[key] = stop


def unregister(key: int) -> None:
    """Forget a server that has been stopped."""
    _live.pop(key, None)


def stop_all() -> None:
    """Stop every server this process still has running (the atexit backstop)."""
    for stop in list(_live.values()):
        with contextlib.suppress(Exception):
            stop()


def _silent(args: threading.ExceptHookArgs) -> None:
    """Thread-exception hook while interrupted: helper threads losing their server are expected."""


def _on_signal(signum: int, frame: FrameType | None) -> None:
    """Raise in the main thread so every `with` block unwinds (servers stop after their users)."""
    previous = _previous.get(signum)
    if callable(previous) and previous is not signal.default_int_handler:
        previous(signum, frame)
        return
    threading.excepthook = _silent
    # A query cut off mid-flight makes psycopg log "error ignored in rollback" while unwinding.
    logging.getLogger("psycopg").setLevel(logging.CRITICAL)
    if signum == signal.SIGTERM:
        raise Terminated("terminated")
    raise KeyboardInterrupt


def install_signal_handlers() -> None:
    """Register the atexit backstop and the SIGINT/SIGTERM handlers once (main thread only)."""
    global _installed
    if _installed or threading.current_thread() is not threading.main_thread():
        return
    _installed = True
    atexit.register(stop_all)
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(signum)
        if previous == signal.SIG_IGN or previous is None:
            continue  # whoever ignores the signal (or set it from C) keeps control of it
        _previous[signum] = previous
        signal.signal(signum, _on_signal)

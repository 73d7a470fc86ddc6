"""Cleanup on every exit path: context exit, atexit, and SIGINT/SIGTERM turned into exceptions."""

from __future__ import annotations

import _thread
import atexit
import contextlib
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any


class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM, so it unwinds and cleans up exactly as on Ctrl-C."""


_live: dict[int, Callable[[], None]] = {}
_REDELIVER_AFTER_S = 0.01
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


def _deliver_again(unraisable: sys.UnraisableHookArgs) -> None:
    """An interrupt raised where it cannot propagate (in a gc callback, as Hypothesis installs
    one, or a __del__) would be printed as "Exception ignored" and dropped, and the command
    would go on as if never interrupted. Send the signal again instead: it is raised at the
    next point where it can unwind."""
    exc = unraisable.exc_value
    if isinstance(exc, KeyboardInterrupt):
        signum = signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT
        # From another thread, a moment later: sent from this one, the handler would run at once,
        # still inside this hook, where the exception is dropped too. Should it land in another
        # callback, it comes back here and goes again.
        threading.Thread(target=_interrupt_soon, args=(signum,), daemon=True).start()
        return
    _unraisable_before(unraisable)


def _interrupt_soon(signum: signal.Signals) -> None:
    time.sleep(_REDELIVER_AFTER_S)
    _thread.interrupt_main(signum)


_unraisable_before = sys.unraisablehook


def install_signal_handlers() -> None:
    """Register the atexit backstop and the SIGINT/SIGTERM handlers once (main thread only)."""
    global _installed, _unraisable_before
    if _installed or threading.current_thread() is not threading.main_thread():
        return
    _installed = True
    atexit.register(stop_all)
    _unraisable_before = sys.unraisablehook
    sys.unraisablehook = _deliver_again
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(signum)
        if previous == signal.SIG_IGN or previous is None:
            continue  # whoever ignores the signal (or set it from C) keeps control of it
        _previous[signum] = previous
        signal.signal(signum, _on_signal)


@contextlib.contextmanager
def worker_signals() -> Iterator[None]:
    """How a worker process of a parallel command (a pool's) takes signals while it works.

    A terminal's Ctrl-C reaches the whole process group, but only the parent answers it: it stops
    its workers with SIGTERM. So here SIGINT is ignored, and SIGTERM raises Terminated so the work
    unwinds as in the parent (its servers stop, its folders go). Outside the block the worker has
    nothing to clean up, and SIGTERM just ends it (no traceback from an idle pool worker).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # blocked while it was started
    install_signal_handlers()  # the atexit backstop (SIGINT stays ignored)
    received: list[int] = []

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        _on_signal(signum, frame)

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if received:
            # Even if the work swallowed Terminated on its way out: a pool worker that went back
            # for another task would never end, and the parent waits for it (a deadlock).
            raise Terminated("terminated")


@contextlib.contextmanager
def sigint_held() -> Iterator[None]:
    """Ctrl-C held back (not lost) while the body starts worker processes: they inherit the
    blocked signal, so one that arrives while they start up ends none of them half-way (see
    worker_signals); this process gets it when the body ends."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)

"""Starts server processes that die with us: a parent-death signal, set from one lasting thread.

Linux sends the parent-death signal when the *thread* that forked the child exits, so every
server process is forked by one daemon thread that lives as long as the process. The signal is
set in preexec_fn, which Python runs after switching to the server account (a credential change
would clear it), just before exec.
"""

from __future__ import annotations

import ctypes
import os
import queue
import signal
import subprocess
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

_PR_SET_PDEATHSIG = 1

_Request = tuple[Callable[[], "subprocess.Popen[bytes]"], "Future[subprocess.Popen[bytes]]"]
_lock = threading.Lock()
_queue: queue.SimpleQueue[_Request] | None = None
_queue_pid = 0


def _prctl() -> Callable[..., int] | None:
    """libc's prctl, looked up before forking (a lookup in the child could take a lock)."""
    try:
        fn: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return fn


_PRCTL = _prctl()


def _serve(requests: queue.SimpleQueue[_Request]) -> None:
    while True:
        start, box = requests.get()
        try:
            box.set_result(start())
        except BaseException as exc:  # handed to the caller, who raises it
            box.set_exception(exc)


def _requests() -> queue.SimpleQueue[_Request]:
    """The launcher thread's queue, starting the thread (again, in a forked child) when needed."""
    global _queue, _queue_pid
    with _lock:
        if _queue is None or _queue_pid != os.getpid():
            _queue = queue.SimpleQueue()
            _queue_pid = os.getpid()
            threading.Thread(
                target=_serve, args=(_queue,), name="threadsync-launcher", daemon=True
            ).start()
        return _queue


def _dies_with_parent(sig: int) -> Callable[[], None]:
    parent = os.getpid()
    prctl = _PRCTL

    def preexec() -> None:
        if prctl is not None:
            prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
        if os.getppid() != parent:  # the owner died before the signal was armed
            os.kill(os.getpid(), signal.SIGKILL)

    return preexec


def launch(cmd: Sequence[str], deathsig: int, **popen: Any) -> subprocess.Popen[bytes]:
    """Start cmd so that it receives `deathsig` when this process dies, however it dies."""

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(list(cmd), preexec_fn=_dies_with_parent(deathsig), **popen)

    box: Future[subprocess.Popen[bytes]] = Future()
    _requests().put((start, box))
    return box.result()


def armed() -> bool:
    """Tell whether parent-death signals are available here (Linux with a usable libc)."""
    return _PRCTL is not None

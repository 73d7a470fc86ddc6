"""Threads kept between actors: an actor's handler runs on an idle one instead of a new thread.

Starting a thread costs a clone and a hand-off or two for every actor (dozens per run); a thread
that finished an actor waits here for the next. There is no bound: the deterministic engine keeps
every actor of a run alive at once, each blocked on its own grant. A forked child starts afresh
(the parent's idle threads do not exist there).
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable

_lock = threading.Lock()
_jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
_idle = 0  # threads that will take exactly one job each from _jobs


def run_on_thread(job: Callable[[], None]) -> None:
    """Run `job` on an idle kept thread, or on a new one that is kept afterwards."""
    global _idle
    with _lock:
        if _idle:
            _idle -= 1
            _jobs.put(job)
            return
    threading.Thread(target=_serve, args=(job,), name="actor", daemon=True).start()


def _serve(job: Callable[[], None]) -> None:
    global _idle
    while True:
        job()
        del job  # nothing of a finished actor stays reachable from an idle thread
        with _lock:
            _idle += 1
        job = _jobs.get()


def _forget() -> None:
    global _jobs, _idle, _lock
    _lock = threading.Lock()
    _jobs = queue.SimpleQueue()
    _idle = 0


os.register_at_fork(after_in_child=_forget)

__all__ = ["run_on_thread"]

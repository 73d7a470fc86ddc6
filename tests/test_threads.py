"""Actor threads are kept and reused, and never make a job wait for another to finish."""

from __future__ import annotations

import threading
import time

from harness.engine import threads
from harness.engine.threads import run_on_thread


def _wait_idle(at_least: int) -> None:
    for _ in range(500):
        if threads._idle >= at_least:
            return
        time.sleep(0.01)
    raise AssertionError("a thread that finished its job never became idle")


def test_jobs_run_one_after_another_reuse_one_thread() -> None:
    before = threading.active_count()
    idents: set[int] = set()
    for _ in range(30):
        idle = threads._idle
        done = threading.Event()
        run_on_thread(lambda d=done: (idents.add(threading.get_ident()), d.set()))
        assert done.wait(5), "a job never ran"
        _wait_idle(max(idle, 1))
    # At most one thread more than before (none when an idle one was there already).
    assert threading.active_count() <= before + 1
    assert threading.get_ident() not in idents, "a job ran on the caller's thread"


def test_jobs_that_wait_on_each_other_each_get_a_thread() -> None:
    # Like actors, each waiting on its grant: none may wait for a free thread.
    n = 20
    barrier = threading.Barrier(n, timeout=10)
    passed: list[int] = []
    lock = threading.Lock()

    def job() -> None:
        barrier.wait()
        with lock:
            passed.append(1)

    for _ in range(n):
        run_on_thread(job)
    for _ in range(1000):
        with lock:
            if len(passed) == n:
                break
        threading.Event().wait(0.01)
    assert len(passed) == n, f"only {len(passed)} of {n} jobs got past the barrier"

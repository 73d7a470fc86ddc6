"""The checks sweep-skips-held-work and attempts-count-claims (their teeth are in
tests/test_checks_contract.py): the engine names the lock a blocked statement waits for, and each
check judges hand-made histories and row logs as the contract says."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from harness.checks_attempts import miscounted_attempts
from harness.checks_locks import sweeper_waits
from harness.engine.blocking import Monitor
from harness.history import Event, History
from harness.postgres import Server
from harness.replay import Workbench, run_scenario
from harness.scenario import load
from harness.state import FinalState

ROOT = Path(__file__).resolve().parents[1]
PAGE, ENTRY = "sync_page_queue", "thread_processing_queue"


@pytest.fixture(scope="module")
def bench(pg_server: Server) -> Iterator[Workbench]:
    b = Workbench(pg_server)
    yield b
    b.close()


def test_the_violations_name_the_waiting_sweep_the_holder_and_the_miscount(
    bench: Workbench,
) -> None:
    def run(mutant: str) -> tuple[str, History]:
        scenario = load(ROOT / "scenarios" / "mutants" / f"{mutant}.json")
        verdict = run_scenario(bench, scenario)
        (violation,) = verdict.violations
        return violation.render(), verdict.result.history

    waits, history = run("sweep_waits_for_worker")
    assert (
        "s3's sweep at t=180s waited for the lock of a sync_page_queue row held by w1 (on #1)"
        in (waits)
    )
    (blocked,) = [e for e in history.events if e.kind == "blocked"]
    assert blocked.detail["lock"] == {
        "locktype": "transactionid",
        "mode": "ShareLock",
        "relation": "public.sync_page_queue",
        "holders": ["w1"],
    }
    counted, _ = run("double_counted_attempts")
    assert "page row 1 records 2 attempts (it was 1) after a write (processing -> pending)" in (
        counted
    )
    assert "but it was claimed 1 time" in counted


# --- the engine names the lock ------------------------------------------------------------------


def _wait_blocked(monitor: Monitor, pid: int) -> None:
    for _ in range(2000):
        if monitor.blockers(pid):
            return
        threading.Event().wait(0.005)
    raise AssertionError(f"backend {pid} never blocked")


def test_a_blocked_backend_names_the_row_lock_it_waits_for_and_its_holder(ref_dsn: str) -> None:
    monitor = Monitor(ref_dsn)
    holder = psycopg.connect(ref_dsn)
    waiters = [psycopg.connect(ref_dsn, autocommit=True) for _ in range(2)]
    threads: list[threading.Thread] = []
    try:
        with psycopg.connect(ref_dsn, autocommit=True) as setup:
            setup.execute("CREATE TABLE public.held (id integer PRIMARY KEY)")
            setup.execute("INSERT INTO public.held VALUES (1)")
        holder.execute("SELECT * FROM public.held FOR UPDATE")
        holder_pid = holder.info.backend_pid
        threads += [
            threading.Thread(target=w.execute, args=("SELECT * FROM public.held FOR UPDATE",))
            for w in waiters
        ]
        threads[0].start()
        _wait_blocked(monitor, waiters[0].info.backend_pid)
        threads[1].start()
        _wait_blocked(monitor, waiters[1].info.backend_pid)
        # The first waiter waits for the holder's transaction, naming the row by its tuple lock;
        # the second queues on that tuple lock itself, held by the first waiter.
        first = monitor.waited_lock(waiters[0].info.backend_pid)
        assert first == {
            "locktype": "transactionid",
            "mode": "ShareLock",
            "relation": "public.held",
            "holders": [holder_pid],
        }
        second = monitor.waited_lock(waiters[1].info.backend_pid)
        assert second is not None
        assert second["locktype"] == "tuple"
        assert second["relation"] == "public.held"
        assert second["holders"] == [waiters[0].info.backend_pid]
        assert monitor.waited_lock(holder_pid) is None
    finally:
        holder.rollback()
        for t in threads:
            t.join(10)
        for c in (holder, *waiters):
            c.close()
        monitor.close()


# --- sweep-skips-held-work on hand-made histories ---------------------------------------------


def _invoke(seq: int, actor: str, role: str, record: int) -> Event:
    return Event(seq, float(seq), actor, role, "invoke", {"record_id": record})


def _blocked(seq: int, actor: str, role: str, relation: str | None, holders: list[str]) -> Event:
    lock: dict[str, Any] = {
        "locktype": "transactionid",
        "mode": "ShareLock",
        "relation": relation,
        "holders": holders,
    }
    detail = {"sql": "SELECT * FROM public.sweep()", "blocked_by": holders, "lock": lock}
    return Event(seq, float(seq), actor, role, "blocked", detail)


def test_only_a_sweep_waiting_for_a_workers_queue_row_is_judged() -> None:
    workers = (
        _invoke(1, "w1", "page_worker", 1),
        _invoke(2, "p1", "processor", 3),
        _invoke(3, "s1", "sweeper", 0),
    )

    def waits(*events: Event) -> list[tuple[str, str, list[str]]]:
        found = sweeper_waits(History((*workers, *events)))
        return [(e.actor, table, holders) for e, table, holders in found]

    assert waits(_blocked(4, "s1", "sweeper", "public.sync_page_queue", ["w1"])) == [
        ("s1", PAGE, ["w1"])
    ]
    assert waits(_blocked(4, "s1", "sweeper", "public.thread_processing_queue", ["p1"])) == [
        ("s1", ENTRY, ["p1"])
    ]
    # A lease dead letter may rightly wait for a finisher holding the job row.
    assert waits(_blocked(4, "s1", "sweeper", "public.sync_jobs", ["w1"])) == []
    # A worker waiting for another worker is the claim's business (it re-checks the row).
    assert waits(_blocked(4, "p1", "processor", "public.thread_processing_queue", ["w1"])) == []
    # Held by no worker (the engine, an unknown session), or a history from before locks were
    # named: nothing to judge by.
    assert waits(_blocked(4, "s1", "sweeper", "public.sync_page_queue", ["engine"])) == []
    unnamed = Event(4, 4.0, "s1", "sweeper", "blocked", {"blocked_by": ["w1"]})
    assert waits(unnamed) == []


# --- attempts-count-claims on hand-made row logs ---------------------------------------------

TOKEN, OTHER = "c65d84d9-3728-e0b0-8ff9-3ccf3922241a", "0b7e3b0c-1111-4c4c-9d9d-3ccf3922241a"


def _v(op: str = "UPDATE", **over: Any) -> dict[str, Any]:
    return {"id": 1, "op": op, "status": "pending", "attempts": 0, "claim_token": None, **over}


def _held(attempts: int, token: str = TOKEN) -> dict[str, Any]:
    return _v(status="processing", attempts=attempts, claim_token=token)


def _state(*versions: dict[str, Any]) -> FinalState:
    effects = tuple(
        {"id": i, "kind": "entry_row", "key": str(v["id"]), "txid": i, "commit_seq": i, "detail": v}
        for i, v in enumerate(versions, start=1)
    )
    return FinalState(effects=effects)


def test_attempts_count_the_claims_and_nothing_else() -> None:
    inserted = _v("INSERT")
    retried = _v(attempts=1, last_error="attempt 1 of 5 failed: boom")
    done = _v(status="done", attempts=2, claim_token=TOKEN)
    # Claim, fail, claim, heartbeat (same token), done: two claims, two attempts.
    good = (inserted, _held(1), retried, _held(2), _held(2), done)
    assert miscounted_attempts(_state(*good)) == []
    # A lease taken over without passing through pending (a new token) is a claim too.
    assert miscounted_attempts(_state(inserted, _held(1), _held(2, OTHER))) == []
    counted_twice = _v(attempts=2, last_error="attempt 1 of 5 failed: boom")
    ((item, text),) = miscounted_attempts(_state(inserted, _held(1), counted_twice))
    assert item == (ENTRY, 1)
    assert text == (
        "entry 1 records 2 attempts (it was 1) after a write (processing -> pending), but it was "
        "claimed 1 time (attempt 1 of 5 failed: boom)"
    )
    uncounted = _held(0)
    ((_, text),) = miscounted_attempts(_state(inserted, uncounted))
    assert text == "entry 1 records 0 attempts (it was 0) after a claim, but it was claimed 1 time"
    ((_, text),) = miscounted_attempts(_state(_v("INSERT", attempts=1)))
    assert text == "entry 1 records 1 attempts after its insert, but it was claimed 0 times"
    # A lineage a restart began again counts from its own insert; rows without the column are
    # not judged.
    assert miscounted_attempts(_state(inserted, _held(1), retried, inserted, _held(1))) == []
    bare = [{k: v for k, v in version.items() if k != "attempts"} for version in good]
    assert miscounted_attempts(_state(*bare)) == []

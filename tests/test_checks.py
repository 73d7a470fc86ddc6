"""Each check passes on a sound run and fails, in words, on a crafted broken one."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import psycopg
import pytest

from harness.attribution import injected_failures
from harness.checks import CHECKS, CheckInput, run_checks
from harness.fakeapi import generate_dataset
from harness.history import Event, History
from harness.postgres import Server, TemplateDatabases
from harness.quickrun import quick_run
from harness.resync import Resync, versions
from harness.sql import harness_migrations
from harness.state import FinalState, capture
from threadsync.processor import content_hash
from threadsync.reference import pipeline as reference

DATASET = generate_dataset(5, 4)  # two pages of two threads
PAGE_SIZE = 2


def sound_state() -> FinalState:
    """What a correct run of DATASET leaves behind: every effect once, in one transaction each."""
    t = DATASET.threads
    pages = (
        {
            "id": 1,
            "job_id": 1,
            "page_number": 1,
            "status": "done",
            "attempts": 1,
            "max_attempts": 5,
            "last_error": None,
            "locked_until": None,
        },
        {
            "id": 2,
            "job_id": 1,
            "page_number": 2,
            "status": "done",
            "attempts": 1,
            "max_attempts": 5,
            "last_error": None,
            "locked_until": None,
        },
    )
    entries = tuple(
        {
            "id": i + 1,
            "job_id": 1,
            "external_id": t[i]["id"],
            "page_id": i // 2 + 1,
            "status": "done",
            "attempts": 1,
            "max_attempts": 5,
            "last_error": None,
        }
        for i in range(4)
    )
    threads = tuple({"external_id": x["id"], "content_hash": content_hash(x)} for x in t)

    def staged(i: int, txid: int) -> dict[str, Any]:
        page = i // 2 + 1
        detail = {"page_id": page, "external_id": t[i]["id"], "stage_id": i + 1, "job_id": 1}
        return {"kind": "thread_staged", "key": f"1:{t[i]['id']}", "txid": txid, "detail": detail}

    def queued(i: int, txid: int) -> dict[str, Any]:
        detail = {"stage_id": i + 1, "job_id": 1}
        return {"kind": "entry_queued", "key": str(i + 1), "txid": txid, "detail": detail}

    effects: list[dict[str, Any]] = [
        {"kind": "page_queued", "key": "1:1", "txid": 100, "detail": {"page_id": 1}},
        staged(0, 101),
        staged(1, 101),
        queued(0, 101),
        queued(1, 101),
        {"kind": "page_queued", "key": "1:2", "txid": 101, "detail": {"page_id": 2}},
        {"kind": "page_done", "key": "1:1", "txid": 101, "detail": {"page_id": 1}},
        staged(2, 102),
        staged(3, 102),
        queued(2, 102),
        queued(3, 102),
        {"kind": "page_done", "key": "1:2", "txid": 102, "detail": {"page_id": 2}},
    ]
    for i, x in enumerate(t):
        effects.append(
            {"kind": "thread_written", "key": x["id"], "txid": 110 + i, "detail": {"job_id": 1}}
        )
        effects.append(
            {"kind": "entry_done", "key": str(i + 1), "txid": 110 + i, "detail": {"job_id": 1}}
        )
    effects.append(
        {
            "kind": "job_finished",
            "key": "1",
            "txid": 113,
            "detail": {"status": "completed", "open_pages": 0, "open_entries": 0},
        }
    )
    for e in effects:
        e["commit_seq"] = e["txid"]  # these transactions committed in txid order
    jobs = ({"id": 1, "status": "completed", "page_size": PAGE_SIZE},)
    for n, e in enumerate(effects):
        e["id"] = n + 1
    return FinalState(
        pages=pages, entries=entries, threads=threads, jobs=jobs, effects=tuple(effects)
    )


HISTORY = History(
    events=(
        Event(
            0,
            0.0,
            "engine",
            "engine",
            "delivery",
            {"function": "sync-threads-page-worker", "record_id": 2, "outcome": "queued"},
        ),
        Event(
            1,
            0.0,
            "w1",
            "page_worker",
            "invoke",
            {"function": "sync-threads-page-worker", "record_id": 2, "copy": 0},
        ),
        Event(2, 5.0, "w1", "page_worker", "fault", {"fault": "crash", "at_step": 3}),
        Event(3, 5.0, "w1", "page_worker", "crash", {"outcome": "crashed", "at_step": 3}),
    )
)


def inp(state: FinalState, **kw: Any) -> CheckInput:
    kw.setdefault("history", HISTORY)
    return CheckInput(state=state, dataset=DATASET, page_size=PAGE_SIZE, **kw)


def with_effect(state: FinalState, **effect: Any) -> FinalState:
    effect.setdefault("id", len(state.effects) + 1)
    return replace(state, effects=(*state.effects, effect))


def set_row(rows: tuple[Any, ...], index: int, **changes: Any) -> tuple[Any, ...]:
    out = list(rows)
    out[index] = {**out[index], **changes}
    return tuple(out)


def test_every_check_passes_a_sound_run() -> None:
    assert run_checks(inp(sound_state())) == []


def broken_states() -> Iterator[tuple[str, FinalState, dict[str, Any]]]:
    s = sound_state()
    t = DATASET.threads
    yield (
        "page-exactly-once",
        with_effect(s, kind="page_done", key="1:2", txid=120, detail={"page_id": 2}),
        {},
    )
    yield (
        "page-exactly-once",
        with_effect(
            s, kind="thread_staged", key=f"1:{t[2]['id']}", txid=121, detail={"page_id": 2}
        ),
        {},
    )
    moved = tuple(
        {**e, "txid": 99} if e["kind"] == "thread_staged" and e["detail"]["page_id"] == 1 else e
        for e in s.effects
    )
    yield ("page-exactly-once", replace(s, effects=moved), {})
    yield (
        "thread-exactly-once",
        with_effect(s, kind="thread_written", key=t[0]["id"], txid=130, detail={}),
        {},
    )
    yield ("no-lost-work", replace(s, threads=s.threads[1:]), {})
    yield (
        "no-lost-work",
        replace(s, threads=({**s.threads[0], "content_hash": "old"}, *s.threads[1:])),
        {},
    )
    yield (
        "no-stuck-work",
        replace(s, pages=set_row(s.pages, 1, status="processing", locked_until="2026-01-01")),
        {},
    )
    yield ("no-stuck-work", replace(s, jobs=({**s.jobs[0], "status": "running"},)), {})
    yield (
        "job-completes-once",
        with_effect(
            s,
            kind="job_finished",
            key="1",
            txid=140,
            detail={"status": "completed", "open_pages": 0, "open_entries": 0},
        ),
        {},
    )
    early = tuple(
        {**e, "detail": {**e["detail"], "open_entries": 2}} if e["kind"] == "job_finished" else e
        for e in s.effects
    )
    yield ("job-completes-once", replace(s, effects=early), {})
    yield (
        "no-dead-letter-without-cause",
        replace(s, entries=set_row(s.entries, 0, status="failed", attempts=5, last_error="boom")),
        {},
    )
    # The job finished before its last entry was done (in commit order).
    finished_early = tuple(
        {**e, "commit_seq": 112} if e["kind"] == "job_finished" else e for e in s.effects
    )
    yield ("job-finishes-last", replace(s, effects=finished_early), {})
    # The last page's entries were queued after the job finished.
    queued_late = tuple(
        {**e, "commit_seq": 120 + int(e["key"])}
        if e["kind"] == "entry_queued" and e["txid"] == 102
        else e
        for e in s.effects
    )
    yield ("job-finishes-last", replace(s, effects=queued_late), {})
    yield ("job-status", replace(s, jobs=({**s.jobs[0], "status": "failed"},)), {})
    yield (
        "job-status",
        replace(s, entries=set_row(s.entries, 3, status="failed", attempts=5, last_error="x")),
        {},
    )
    yield ("pages-match-source", replace(s, pages=s.pages[:1]), {})
    extra = {**s.pages[1], "id": 3, "page_number": 3}
    yield ("pages-match-source", replace(s, pages=(*s.pages, extra)), {})
    swapped = tuple(
        {**e, "detail": {**e["detail"], "page_id": 3 - e["detail"]["page_id"]}}
        if e["kind"] == "thread_staged" and e["key"].endswith(t[0]["id"])
        else e
        for e in s.effects
    )
    yield ("pages-match-source", replace(s, effects=swapped), {})
    # A second sync wrote a newer version of a thread; the first job's older one then replaced it.
    sources = versions(5, 4, (Resync(at=1.0, updated=4),))
    over = s
    for seq, (source, job) in enumerate(((sources[1], 2), (sources[0], 1)), start=150):
        detail = {"content_hash": content_hash(source.threads[0]), "job_id": job}
        over = with_effect(over, kind="thread_written", key=t[0]["id"], txid=seq,
                           commit_seq=seq, detail=detail)  # fmt: skip
    yield ("newest-version", over, {"sources": sources, "sync_seqs": (0, 149)})
    anon_reads = {"role": "anon", "action": "SELECT", "object": "public.threads", "detail": "3"}
    yield ("no-public-access", replace(s, extra={"access": (anon_reads,)}), {})
    # The contract checks (tests/test_checks_contract.py has more).
    raised = {"outcome": "fail", "error": "ValueError: not enough values to unpack"}
    w2 = (
        Event(10, 0.0, "w2", "page_worker", "invoke", {"function": "sync-threads-page-worker"}),
        Event(11, 0.0, "w2", "page_worker", "reply", raised),
    )
    yield ("no-unexpected-errors", s, {"history": History((*HISTORY.events, *w2))})
    yield ("finished-rows-consistent", replace(s, pages=set_row(s.pages, 0, last_error="x")), {})
    claim = {"outcome": "ok", "rows": [{"claimed": True, "claim_token": "t"}]}
    stale = (
        Event(10, 0.0, "w2", "page_worker", "invoke", {"record_id": 2}),
        Event(11, 0.0, "w2", "page_worker", "statement", claim),
        Event(12, 0.0, "w3", "page_worker", "invoke", {"record_id": 2}),
        Event(13, 0.0, "w3", "page_worker", "statement", claim),
        Event(14, 0.0, "w2", "page_worker", "statement", {"outcome": "ok",
              "rows": [{"recorded": True}]}),
    )  # fmt: skip
    yield ("attempts-by-holder", s, {"history": History(stale)})
    # The timing checks (tests/test_checks_retry.py has more), on a row log of page 2.
    held = {
        "id": 2,
        "op": "UPDATE",
        "status": "processing",
        "attempts": 1,
        "claim_token": "t",
        "started_at": "2026-01-01 00:00:00+00",
        "next_retry_at": "2026-01-01 00:00:00+00",
    }
    back = {**held, "status": "pending", "claim_token": None, "last_error": "lease expired"}
    early = {**back, "next_retry_at": "2026-01-01 00:00:30+00"}
    log = s
    for version in (held, early, {**held, "attempts": 2}):
        log = with_effect(log, kind="page_row", key="2", txid=200, detail=version)
    yield ("retry-waits-for-its-time", log, {})
    log = s
    for version in (held, back):
        log = with_effect(log, kind="page_row", key="2", txid=200, detail=version)
    yield ("failure-backs-off", log, {})
    failed = {
        "outcome": "ok",
        "params": {"page_id": 2, "token": "t"},
        "sql": "SELECT * FROM public.fail_page(%(page_id)s, %(token)s, %(error)s)",
        "rows": [{"recorded": True, "status": "failed"}],
    }
    fail = (Event(10, 0.0, "w2", "page_worker", "invoke", {"record_id": 2}),
            Event(11, 0.0, "w2", "page_worker", "statement", failed))  # fmt: skip
    released = with_effect(s, kind="page_row", key="2", txid=200, detail=held)
    released = with_effect(released, kind="page_row", key="2", txid=201, detail=early)
    yield ("failure-releases-claim", released, {"history": History(fail)})
    # The webhook checks (tests/test_checks_webhooks.py has more).
    row = {
        "kind": "page_row",
        "key": "9",
        "txid": 500,
        "commit_seq": 500,
        "detail": {"op": "INSERT", "status": "pending"},
    }
    sent = {
        "kind": "request_queued",
        "key": "1",
        "txid": 501,
        "commit_seq": 501,
        "detail": {"body": {"table": "sync_page_queue", "record": {"id": 9}}},
    }
    yield ("webhook-on-create", with_effect(with_effect(s, **row), **sent), {})
    done = {**row, "txid": 501, "commit_seq": 501, "detail": {"op": "UPDATE", "status": "done"}}
    announced = with_effect(with_effect(s, **row), **{**sent, "txid": 500, "commit_seq": 500})
    resent = with_effect(with_effect(announced, **done), **{**sent, "key": "2"})
    yield ("resends-only-due-work", resent, {})
    again = {**sent, "key": "3", "txid": 502, "commit_seq": 502,
             "detail": {**sent["detail"], "now": "2026-01-01T00:01:00+00:00"}}  # fmt: skip
    first = {**sent, "txid": 500, "commit_seq": 500,
             "detail": {**sent["detail"], "now": "2026-01-01T00:00:00+00:00"}}  # fmt: skip
    storm = with_effect(with_effect(with_effect(s, **row), **first), **again)
    yield ("resends-wait-for-grace", replace(storm, extra={"emit_grace": 90.0}), {})
    # Attempts, errors and lock waits (tests/test_checks_locks_attempts.py has more).
    log = s
    for version in (held, {**back, "attempts": 2}):
        log = with_effect(log, kind="page_row", key="2", txid=200, detail=version)
    yield ("attempts-count-claims", log, {})
    retry = "2026-01-01 00:00:12+00"
    fail_call = {
        "outcome": "ok",
        "params": {"page_id": 2, "token": "t", "error": "boom"},
        "sql": "SELECT * FROM public.fail_page(%(page_id)s, %(token)s, %(error)s)",
        "rows": [{"recorded": True, "status": "pending", "next_retry_at": retry}],
    }
    log = s
    for version in (held, {**back, "next_retry_at": retry, "last_error": None}):
        log = with_effect(log, kind="page_row", key="2", txid=200, detail=version)
    forgot = (Event(10, 0.0, "w2", "page_worker", "invoke", {"record_id": 2}),
              Event(11, 0.0, "w2", "page_worker", "statement", fail_call))  # fmt: skip
    yield ("failure-records-its-error", log, {"history": History(forgot)})
    lock = {"locktype": "transactionid", "mode": "ShareLock",
            "relation": "public.sync_page_queue", "holders": ["w2"]}  # fmt: skip
    blocked = {"blocked_by": ["w2"], "lock": lock}
    waited = (Event(10, 0.0, "w2", "page_worker", "invoke", {"record_id": 2}),
              Event(11, 60.0, "s1", "sweeper", "blocked", blocked))  # fmt: skip
    yield ("sweep-skips-held-work", s, {"history": History(waited)})


@pytest.mark.parametrize("check,state,kw", list(broken_states()))
def test_each_check_fails_a_crafted_broken_run(
    check: str, state: FinalState, kw: dict[str, Any]
) -> None:
    violations = CHECKS[check](inp(state, **kw))
    assert violations is not None and violations.check == check
    assert violations.summary and violations.rows
    assert check in violations.render()


def test_every_check_has_a_crafted_failure() -> None:
    assert {c for c, _, _ in broken_states()} == set(CHECKS)


def test_a_dead_letter_caused_by_injected_faults_is_excused() -> None:
    s = sound_state()
    failed = replace(
        s,
        pages=set_row(s.pages, 1, status="failed", attempts=3, max_attempts=3),
        entries=s.entries[:2],
        threads=s.threads[:2],
        effects=tuple(
            e
            for e in s.effects
            if not (e["kind"] == "page_done" and e["key"] == "1:2")
            and e["detail"].get("page_id") != 2
            and e["key"] not in {t["id"] for t in DATASET.threads[2:]}
        ),
    )
    caused = inp(failed, injected={("sync_page_queue", 2): 3})
    assert CHECKS["no-dead-letter-without-cause"](caused) is None
    assert CHECKS["no-lost-work"](caused) is None
    uncaused = inp(failed, injected={("sync_page_queue", 2): 2})
    v = CHECKS["no-dead-letter-without-cause"](uncaused)
    assert v is not None and "2 broken by injected faults" in v.rows[0]
    assert CHECKS["no-lost-work"](uncaused) is not None


def test_violations_name_the_steps_that_led_there() -> None:
    s = sound_state()
    stuck = replace(s, pages=set_row(s.pages, 1, status="processing", locked_until="x"))
    v = CHECKS["no-stuck-work"](inp(stuck))
    assert v is not None
    assert any("crash" in step and "#2" in step for step in v.steps)
    assert any("delivery" in step and "queued" in step for step in v.steps)


@pytest.fixture(scope="module")
def checked_template(pg_server: Server) -> Iterator[TemplateDatabases]:
    with TemplateDatabases(pg_server, harness_migrations(reference), name_hint="chk") as tpl:
        yield tpl


def test_reference_run_passes_every_check_on_the_real_effect_log(
    pg_server: Server, checked_template: TemplateDatabases
) -> None:
    db = checked_template.fresh("chk")
    dataset = generate_dataset(11, 37)
    result = quick_run(reference, pg_server.dsn(db), threads=37, page_size=6, seed=11)
    assert result.outcome is not None and result.outcome.ok
    with psycopg.connect(pg_server.dsn(db), autocommit=True) as conn:
        state = capture(conn)
        # A second, redundant write of one thread is a second processing, though nothing changed,
        # and it comes after the job finished.
        assert run_checks(CheckInput(History(events=[]), state, dataset, 6)) == []
        assert all(e["commit_seq"] is not None for e in state.effects)
        conn.execute(
            "UPDATE threads SET subject = subject WHERE external_id = %s",
            (dataset.threads[0]["id"],),
        )
        again = run_checks(CheckInput(History(events=[]), capture(conn), dataset, 6))
    assert [v.check for v in again] == ["thread-exactly-once", "job-finishes-last"]
    checked_template.drop(db)


def test_no_lost_work_says_what_became_of_a_lost_thread() -> None:
    s = sound_state()
    last = DATASET.threads[3]["id"]
    lost = replace(s, entries=s.entries[:3], threads=s.threads[:3])

    def reason(state: FinalState) -> str:
        v = CHECKS["no-lost-work"](inp(state))
        assert v is not None and len(v.rows) == 1
        return v.rows[0]

    assert "queued as entry 4, but that queue row is gone" in reason(lost)
    unqueued = tuple(
        e for e in lost.effects if not (e["kind"] == "entry_queued" and e["key"] == "4")
    )
    assert (
        f"thread {last} never reached `threads`: it was staged by page row 2 but never queued"
        in (reason(replace(lost, effects=unqueued)))
    )
    unstaged = tuple(e for e in unqueued if not e["key"].endswith(f":{last}"))
    assert "it was never staged (page 2)" in reason(replace(lost, effects=unstaged))
    assert "its entry 4 is pending" in reason(
        replace(s, entries=set_row(s.entries, 3, status="pending"), threads=s.threads[:3])
    )


def test_a_clock_skip_counts_as_breaking_the_attempts_it_ran_under() -> None:
    def invoke(seq: int, actor: str, role: str, record: int) -> Event:
        return Event(seq, 0.0, actor, role, "invoke", {"record_id": record, "copy": 0})

    h = History(
        events=(
            invoke(0, "w1", "page_worker", 1),
            invoke(1, "p1", "processor", 7),
            invoke(2, "p2", "processor", 8),
            Event(
                3, 0.0, "engine", "engine", "fault", {"fault": "clock_skip", "live": ["w1", "p1"]}
            ),
        )
    )
    assert injected_failures(h) == {("sync_page_queue", 1): 1, ("thread_processing_queue", 7): 1}

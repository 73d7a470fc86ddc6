"""The reference pipeline's SQL functions and handlers, on a real PostgreSQL."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from sqlhelp import Conn, at, new_page, one, rows, webhook

from harness.fakeapi import ApiFault, FakeThreadsAPI, faults_for_page, generate_dataset
from harness.quickrun import quick_run
from threadsync import page_worker, processor
from threadsync.db import PsycopgDatabase
from threadsync.pipeline import Context
from threadsync.reference import pipeline as reference


def race(dsn: str, n: int, action: Callable[[Conn, int, int], Any], reps: int) -> list[list[Any]]:
    """Run `action(conn, rep, i)` on n connections at once, `reps` times; results per repetition."""
    conns = [psycopg.connect(dsn, autocommit=True) for _ in range(n)]
    barrier = threading.Barrier(n)
    results: list[list[Any]] = [[None] * n for _ in range(reps)]
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            for rep in range(reps):
                barrier.wait()
                results[rep][i] = action(conns[i], rep, i)
        except BaseException as exc:  # surfaced to the test below
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for c in conns:
        c.close()
    if errors:
        raise errors[0]
    return results


def test_racing_claims_of_one_page_have_exactly_one_winner(conn: Conn, ref_dsn: str) -> None:
    reps = 200
    at(conn, 0)
    page_ids = [new_page(conn) for _ in range(reps)]

    def claim(c: Conn, rep: int, i: int) -> bool:
        at(c, 1)
        return bool(one(c, "SELECT claimed FROM claim_page(%s)", (page_ids[rep],))["claimed"])

    results = race(ref_dsn, 4, claim, reps)
    winners = [sum(r) for r in results]
    assert winners == [1] * reps
    states = rows(
        conn, "SELECT status, attempts FROM sync_page_queue WHERE id = ANY(%s)", (page_ids,)
    )
    assert {(s["status"], s["attempts"]) for s in states} == {("processing", 1)}


def test_a_stale_claim_token_cannot_complete_or_fail(conn: Conn) -> None:
    at(conn, 0)
    page = new_page(conn)
    first = one(conn, "SELECT * FROM claim_page(%s)", (page,))
    at(conn, 10_000)  # far past the lease
    conn.execute("SELECT * FROM sweep()")
    second = one(conn, "SELECT * FROM claim_page(%s)", (page,))
    assert second["claimed"] and second["claim_token"] != first["claim_token"]

    threads = json.dumps([{"id": "x1", "updated_at": "2026-01-01T00:00:00Z"}])
    stale = one(
        conn,
        "SELECT * FROM complete_page(%s, %s, %s::jsonb, 'c2')",
        (page, first["claim_token"], threads),
    )
    assert not stale["completed"] and "lease lost" in stale["reason"]
    assert one(conn, "SELECT count(*) AS n FROM thread_stage")["n"] == 0
    assert one(conn, "SELECT count(*) AS n FROM sync_page_queue")["n"] == 1
    failed = one(
        conn, "SELECT * FROM fail_page(%s, %s, 'late', NULL)", (page, first["claim_token"])
    )
    assert not failed["recorded"]
    assert (
        one(conn, "SELECT status FROM sync_page_queue WHERE id = %s", (page,))["status"]
        == "processing"
    )

    # The live token still works, and its effects commit together.
    done = one(
        conn,
        "SELECT * FROM complete_page(%s, %s, %s::jsonb, 'c2')",
        (page, second["claim_token"], threads),
    )
    assert done["completed"] and done["staged"] == 1 and done["next_page_id"] is not None


def test_backoff_grows_is_respected_and_dead_letters_after_max_attempts(conn: Conn) -> None:
    conn.execute("UPDATE threadsync.settings SET max_attempts = 4")
    at(conn, 0)
    page = new_page(conn)
    now, delays = 0.0, []
    for attempt in range(1, 4):
        at(conn, now)
        claim = one(conn, "SELECT * FROM claim_page(%s)", (page,))
        assert claim["claimed"] and claim["attempts"] == attempt
        failed = one(
            conn, "SELECT * FROM fail_page(%s, %s, 'HTTP 500', NULL)", (page, claim["claim_token"])
        )
        assert failed["recorded"] and failed["status"] == "pending"
        delay = one(
            conn,
            "SELECT extract(epoch FROM next_retry_at - threadsync.now())::float AS d"
            " FROM sync_page_queue WHERE id = %s",
            (page,),
        )["d"]
        delays.append(delay)
        # Not due yet: a webhook arriving early is a harmless no-op.
        at(conn, now + delay - 0.5)
        early = one(conn, "SELECT * FROM claim_page(%s)", (page,))
        assert not early["claimed"] and early["reason"].startswith("not due until")
        now += delay
    assert delays[0] < delays[1] < delays[2]

    at(conn, now)
    claim = one(conn, "SELECT * FROM claim_page(%s)", (page,))
    assert claim["attempts"] == 4
    dead = one(
        conn, "SELECT * FROM fail_page(%s, %s, 'HTTP 500', NULL)", (page, claim["claim_token"])
    )
    assert dead["status"] == "failed"
    row = one(conn, "SELECT status, last_error FROM sync_page_queue WHERE id = %s", (page,))
    assert row["status"] == "failed" and "attempt 4 of 4 failed: HTTP 500" in row["last_error"]
    job = one(conn, "SELECT status, pages_open, pages_failed FROM sync_jobs")
    assert job == {"status": "failed", "pages_open": 0, "pages_failed": 1}


def test_retry_after_from_the_api_is_honoured(conn: Conn) -> None:
    at(conn, 0)
    page = new_page(conn)
    claim = one(conn, "SELECT * FROM claim_page(%s)", (page,))
    one(conn, "SELECT * FROM fail_page(%s, %s, '429', 900)", (page, claim["claim_token"]))
    delay = one(
        conn,
        "SELECT extract(epoch FROM next_retry_at - threadsync.now())::float AS d"
        " FROM sync_page_queue WHERE id = %s",
        (page,),
    )["d"]
    assert delay == pytest.approx(900)


def test_sweeper_returns_only_expired_leases(conn: Conn) -> None:
    at(conn, 0)
    expired, live = new_page(conn), new_page(conn)
    one(conn, "SELECT * FROM claim_page(%s)", (expired,))
    at(conn, 100)
    live_claim = one(conn, "SELECT * FROM claim_page(%s)", (live,))
    at(conn, 150)  # lease is 120 s: the first expired at 120, the second lives until 220
    swept = one(conn, "SELECT * FROM sweep()")
    assert swept["pages_requeued"] == 1
    states = {r["id"]: r for r in rows(conn, "SELECT id, status, claim_token FROM sync_page_queue")}
    assert states[expired]["status"] == "pending"
    assert states[live]["status"] == "processing"
    assert states[live]["claim_token"] == live_claim["claim_token"]


def test_sweeper_reemits_webhooks_for_unclaimed_pending_work(conn: Conn) -> None:
    at(conn, 0)
    page = new_page(conn)
    before = one(conn, "SELECT count(*) AS n FROM net.http_request_queue")["n"]
    at(conn, 10)  # within the grace period: the original webhook may still be on its way
    assert one(conn, "SELECT * FROM sweep()")["pages_emitted"] == 0
    at(conn, 31)
    assert one(conn, "SELECT * FROM sweep()")["pages_emitted"] == 1
    assert one(conn, "SELECT * FROM sweep()")["pages_emitted"] == 0  # not again within grace
    request = one(conn, "SELECT url, body FROM net.http_request_queue ORDER BY id DESC LIMIT 1")
    assert one(conn, "SELECT count(*) AS n FROM net.http_request_queue")["n"] == before + 1
    assert request["url"].endswith("/sync-threads-page-worker")
    assert request["body"]["type"] == "INSERT" and request["body"]["table"] == "sync_page_queue"
    assert request["body"]["record"]["id"] == page


def test_racing_finishers_complete_the_job_exactly_once(conn: Conn, ref_dsn: str) -> None:
    reps = 50
    conn.execute(
        """
        CREATE TABLE job_finishes (job_id bigint, status job_state);
        CREATE FUNCTION log_finish() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN INSERT INTO public.job_finishes VALUES (NEW.id, NEW.status); RETURN NEW; END $$;
        CREATE TRIGGER log_finish AFTER UPDATE OF status ON sync_jobs
            FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
            EXECUTE FUNCTION log_finish();
        """
    )
    at(conn, 0)
    entries: list[list[tuple[int, str]]] = []
    threads = json.dumps([{"id": "a"}, {"id": "b"}])
    for _ in range(reps):
        page = new_page(conn)
        claim = one(conn, "SELECT * FROM claim_page(%s)", (page,))
        one(
            conn,
            "SELECT * FROM complete_page(%s, %s, %s::jsonb, NULL)",
            (page, claim["claim_token"], threads),
        )
        ids = [
            r["id"]
            for r in rows(
                conn,
                "SELECT q.id FROM thread_processing_queue q JOIN sync_page_queue p"
                " ON p.job_id = q.job_id WHERE p.id = %s ORDER BY q.id",
                (page,),
            )
        ]
        entries.append(
            [
                (i, one(conn, "SELECT claim_token FROM claim_thread(%s)", (i,))["claim_token"])
                for i in ids
            ]
        )

    result = {
        "external_id": "e",
        "subject": "s",
        "participants": [],
        "message_count": 0,
        "content_hash": "h",
    }

    def finish(c: Conn, rep: int, i: int) -> bool:
        at(c, 1)
        entry, token = entries[rep][i]
        done = one(
            c,
            "SELECT completed FROM complete_thread(%s, %s, %s::jsonb)",
            (entry, token, json.dumps({**result, "external_id": f"e{entry}"})),
        )
        return bool(done["completed"])

    assert race(ref_dsn, 2, finish, reps) == [[True, True]] * reps
    finishes = rows(conn, "SELECT job_id, count(*) AS n FROM job_finishes GROUP BY job_id")
    assert len(finishes) == reps and all(f["n"] == 1 for f in finishes)
    assert {r["status"] for r in rows(conn, "SELECT status FROM sync_jobs")} == {"completed"}


def test_a_processor_that_dies_after_claiming_loses_nothing(ref_dsn: str, conn: Conn) -> None:
    dataset = generate_dataset(3, 2)
    at(conn, 0)
    page = new_page(conn, page_size=5)
    api = FakeThreadsAPI(dataset)
    ctx = Context(db=PsycopgDatabase(conn), api=api)
    assert page_worker.handle(ctx, webhook("sync_page_queue", page)).status == 200
    entry = one(conn, "SELECT min(id) AS id FROM thread_processing_queue")["id"]

    # The doomed invocation claims, then its instance is shut down mid-work.
    doomed = psycopg.connect(ref_dsn, autocommit=True)
    at(doomed, 1)
    assert one(doomed, "SELECT claimed FROM claim_thread(%s)", (entry,))["claimed"]
    doomed.close()

    # Its webhook will not come again; after the lease, the sweeper re-emits and a worker finishes.
    at(conn, 1000)
    swept = one(conn, "SELECT * FROM sweep()")
    assert swept["threads_requeued"] == 1
    bodies = [
        r["body"]
        for r in rows(
            conn, "SELECT body FROM net.http_request_queue WHERE url LIKE '%%processor' ORDER BY id"
        )
    ]
    for body in bodies:
        processor.handle(ctx, json.dumps(body))
    synced = {r["external_id"] for r in rows(conn, "SELECT external_id FROM threads")}
    assert synced == {t["id"] for t in dataset.threads}
    assert one(conn, "SELECT status FROM sync_jobs")["status"] == "completed"


def snapshot(conn: Conn) -> list[Any]:
    tables = [
        "sync_jobs",
        "sync_page_queue",
        "thread_stage",
        "thread_processing_queue",
        "threads",
        "net.http_request_queue",
    ]
    return [rows(conn, f"SELECT * FROM {t} ORDER BY 1") for t in tables]


MALFORMED = [
    (b"{not json", "not JSON"),
    ("[1, 2]", "must be a JSON object"),
    (json.dumps({"type": "UPDATE", "table": "T", "record": {"id": 1}}), "type 'UPDATE'"),
    (json.dumps({"type": "INSERT", "table": "other", "record": {"id": 1}}), "table 'other'"),
    (json.dumps({"type": "INSERT", "table": "T"}), "no 'record'"),
    (json.dumps({"type": "INSERT", "table": "T", "record": None}), "'record' must be an object"),
    (json.dumps({"type": "INSERT", "table": "T", "record": {}}), "no 'id'"),
    (json.dumps({"type": "INSERT", "table": "T", "record": {"id": "7"}}), "positive integer"),
    (json.dumps({"type": "INSERT", "table": "T", "record": {"id": True}}), "positive integer"),
    (b"\xff\xfe", "not JSON"),
]


@pytest.mark.parametrize(
    "handler,table",
    [(page_worker.handle, "sync_page_queue"), (processor.handle, "thread_processing_queue")],
)
@pytest.mark.parametrize("body,message", MALFORMED)
def test_malformed_webhooks_get_400_and_change_nothing(
    conn: Conn, handler: Any, table: str, body: str | bytes, message: str
) -> None:
    at(conn, 0)
    new_page(conn)
    before = snapshot(conn)
    if isinstance(body, str):
        body = body.replace('"T"', json.dumps(table))
    reply = handler(
        Context(db=PsycopgDatabase(conn), api=FakeThreadsAPI(generate_dataset(0, 1))), body
    )
    assert reply.status == 400
    assert message in reply.body["error"]
    assert snapshot(conn) == before


@pytest.mark.parametrize(
    "handler,table",
    [(page_worker.handle, "sync_page_queue"), (processor.handle, "thread_processing_queue")],
)
def test_unknown_id_is_a_harmless_noop(conn: Conn, handler: Any, table: str) -> None:
    at(conn, 0)
    new_page(conn)
    before = snapshot(conn)
    reply = handler(
        Context(db=PsycopgDatabase(conn), api=FakeThreadsAPI(generate_dataset(0, 1))),
        webhook(table, 999_999),
    )
    assert reply.status == 200 and reply.body["outcome"] == "noop"
    assert reply.body["reason"] == "unknown id"
    assert snapshot(conn) == before


def test_duplicate_page_webhook_is_a_noop(conn: Conn) -> None:
    at(conn, 0)
    page = new_page(conn)
    ctx = Context(db=PsycopgDatabase(conn), api=FakeThreadsAPI(generate_dataset(1, 12)))
    assert page_worker.handle(ctx, webhook("sync_page_queue", page)).body["outcome"] == "done"
    again = page_worker.handle(ctx, webhook("sync_page_queue", page))
    assert again.status == 200 and again.body == {
        "outcome": "noop",
        "page_id": page,
        "reason": "already done",
    }
    assert one(conn, "SELECT count(*) AS n FROM thread_stage")["n"] == 5


def test_heartbeat_extends_only_a_live_lease(conn: Conn) -> None:
    at(conn, 0)
    page = new_page(conn)
    claim = one(conn, "SELECT * FROM claim_page(%s)", (page,))
    at(conn, 100)
    assert one(conn, "SELECT extend_page_lease(%s, %s, 300) AS ok", (page, claim["claim_token"]))[
        "ok"
    ]
    at(conn, 200)  # past the original lease, within the extended one
    assert one(conn, "SELECT * FROM sweep()")["pages_requeued"] == 0
    at(conn, 401)
    assert one(conn, "SELECT * FROM sweep()")["pages_requeued"] == 1
    assert not one(
        conn, "SELECT extend_page_lease(%s, %s, 300) AS ok", (page, claim["claim_token"])
    )["ok"]


def test_end_to_end_with_api_failures_retries_until_done(ref_dsn: str) -> None:
    faults = faults_for_page(2, ApiFault("rate_limit", retry_after=45), times=2)
    result = quick_run(reference, ref_dsn, threads=23, page_size=5, seed=7, api_faults=faults)
    assert result.outcome is not None and result.outcome.ok, result.outcome
    assert result.sweeps >= 2  # each retry's webhook came from the sweeper


def test_end_to_end_dead_letters_a_page_that_always_fails(ref_dsn: str) -> None:
    faults = faults_for_page(2, ApiFault("server_error"), times=100)
    result = quick_run(reference, ref_dsn, threads=23, page_size=5, seed=7, api_faults=faults)
    assert result.outcome is not None
    assert any("page 2 failed" in p for p in result.outcome.problems)
    assert result.outcome.job["status"] == "failed"

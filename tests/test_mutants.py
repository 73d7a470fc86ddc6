"""The mutants: each loads and migrates, and each shows its bug in a short, explicit sequence of
steps on a real PostgreSQL (no engine), where the reference, given the same steps, does not."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import psycopg
import pytest
from sqlhelp import Conn, at, new_page, one, rows, webhook

from harness.fakeapi import ApiFault, FakeThreadsAPI, faults_at, generate_dataset
from harness.impl import load_pipeline
from harness.mutants import MUTANTS
from harness.mutants import fallback_polling_processor as fallback_mod
from harness.mutants import job_completion_race as race_mod
from harness.mutants import nonatomic_claim as nonatomic_mod
from harness.mutants import polling_worker as polling_mod
from harness.mutants._base import PAGE_FUNCTION, PROCESSOR_FUNCTION, mq
from harness.postgres import Server, TemplateDatabases
from harness.sql import EFFECTS_SQL
from harness.supabase import migrations
from threadsync.db import PsycopgDatabase
from threadsync.pipeline import Context, Database, Params, Pipeline, Row
from threadsync.processor import summarise
from threadsync.reference import pipeline as reference

OpenDb = Callable[[str], tuple[str, Conn]]


def last_request(conn: Conn) -> int:
    return int(one(conn, "SELECT coalesce(max(id), 0) AS n FROM net.http_request_queue")["n"])


def deliver(pipeline: Pipeline, ctx: Context, conn: Conn, after: int) -> int:
    """Deliver every queued webhook after request `after`, in order, until none is left."""
    while True:
        queued = rows(
            conn,
            "SELECT id, url, body FROM net.http_request_queue WHERE id > %s ORDER BY id",
            (after,),
        )
        if not queued:
            return after
        for req in queued:
            after = req["id"]
            handler = pipeline.handler_for_url(req["url"])
            assert handler is not None, req["url"]
            handler(ctx, json.dumps(req["body"]))


def commits(conn: Conn, kind: str, key: str | None = None) -> int:
    """How many committed transactions logged effect `kind` (for `key`), per harness.effects."""
    return int(
        one(
            conn,
            "SELECT count(DISTINCT txid) AS n FROM harness.effects"
            " WHERE kind = %s AND (%s::text IS NULL OR key = %s)",
            (kind, key, key),
        )["n"]
    )


def status_of(conn: Conn, table: str, ident: int) -> str:
    # Only this module's two table names reach here.
    return str(one(conn, f"SELECT status::text AS s FROM {table} WHERE id = %s", (ident,))["s"])


class Crashed(Exception):
    """The handler's instance "died" before a statement."""


class CrashBefore:
    """A Database that dies before statement number `n` (0-based), as a killed Edge Function."""

    def __init__(self, db: Database, n: int) -> None:
        self._db, self._left = db, n

    def query(self, sql: str, params: Params | None = None) -> list[Row]:
        if self._left == 0:
            raise Crashed
        self._left -= 1
        return self._db.query(sql, params)

    def transaction(self) -> AbstractContextManager[None]:
        return self._db.transaction()


def pipeline_named(name: str) -> Pipeline:
    return reference if name == "reference" else load_pipeline(MUTANTS[name])


@pytest.fixture(scope="module")
def templates(pg_server: Server) -> Iterator[dict[str, TemplateDatabases]]:
    """One migrated template per mutant; a migration that fails fails every test here."""
    built: dict[str, TemplateDatabases] = {}
    try:
        for name, spec in MUTANTS.items():
            built[name] = TemplateDatabases(
                pg_server, migrations(load_pipeline(spec)), name_hint="mut"
            )
        yield built
    finally:
        for tpl in built.values():
            tpl.close()


@pytest.fixture
def open_db(
    pg_server: Server,
    templates: dict[str, TemplateDatabases],
    reference_template: TemplateDatabases,
) -> Iterator[OpenDb]:
    """open_db(name) -> (dsn, conn): a fresh database of that mutant (or "reference"), with the
    harness's effect log installed, dropped after the test."""
    made: list[tuple[TemplateDatabases, str]] = []
    conns: list[Conn] = []

    def open_(name: str) -> tuple[str, Conn]:
        tpl = reference_template if name == "reference" else templates[name]
        db = tpl.fresh("t")
        made.append((tpl, db))
        dsn = pg_server.dsn(db)
        conn = psycopg.connect(dsn, autocommit=True)
        conns.append(conn)
        conn.execute(EFFECTS_SQL.read_bytes())
        return dsn, conn

    yield open_
    for conn in conns:
        conn.close()
    for tpl, db in made:
        tpl.drop(db)


def context(conn: Conn, threads: int = 3, seed: int = 1) -> Context:
    return Context(db=PsycopgDatabase(conn), api=FakeThreadsAPI(generate_dataset(seed, threads)))


def staged_entries(pipeline: Pipeline, conn: Conn, threads: int = 2) -> tuple[Context, list[int]]:
    """A job whose only page is done, with `threads` entries pending; the entry ids."""
    at(conn, 0)
    page = new_page(conn)
    ctx = context(conn, threads)
    assert pipeline.page_worker(ctx, webhook("sync_page_queue", page)).body["outcome"] == "done"
    ids = [int(r["id"]) for r in rows(conn, "SELECT id FROM thread_processing_queue ORDER BY id")]
    assert len(ids) == threads
    return ctx, ids


# ---------------------------------------------------------------------------------------------
# Every mutant loads and migrates.


@pytest.mark.parametrize("name", list(MUTANTS))
def test_mutant_loads_and_migrates(name: str, templates: dict[str, TemplateDatabases]) -> None:
    pipeline = load_pipeline(MUTANTS[name])
    assert pipeline.name == name
    assert pipeline.functions[PAGE_FUNCTION] is pipeline.page_worker
    assert pipeline.functions[PROCESSOR_FUNCTION] is pipeline.processor
    assert pipeline.migrations[: len(reference.migrations)] == reference.migrations
    assert name in templates  # its template was migrated without error


# ---------------------------------------------------------------------------------------------
# One direct demonstration per mutant.


def test_polling_worker_processes_a_page_its_webhook_did_not_name(open_db: OpenDb) -> None:
    for name, processed, left in (("polling_worker", 0, 1), ("reference", 1, 0)):
        _, conn = open_db(name)
        at(conn, 0)
        pages = [new_page(conn), new_page(conn)]
        reply = pipeline_named(name).page_worker(
            context(conn), webhook("sync_page_queue", pages[1])
        )
        assert reply.body["outcome"] == "done" and reply.body["page_id"] == pages[processed], name
        assert status_of(conn, "sync_page_queue", pages[processed]) == "done"
        assert status_of(conn, "sync_page_queue", pages[left]) == "pending"


def test_polling_worker_racing_deliveries_both_process_one_page(open_db: OpenDb) -> None:
    dsn, conn = open_db("polling_worker")
    at(conn, 0)
    page = new_page(conn)
    with psycopg.connect(dsn, autocommit=True) as other:
        at(other, 0)
        a, b = context(conn), context(other)
        # Two deliveries poll before either claims: both find the one pending page.
        assert polling_mod.poll(a) == polling_mod.poll(b) == page
        first = nonatomic_mod.fetch_and_complete(a, nonatomic_mod.mark_processing(a, page))
        second = nonatomic_mod.fetch_and_complete(b, nonatomic_mod.mark_processing(b, page))
    assert first.body["outcome"] == second.body["outcome"] == "done"
    assert commits(conn, "page_done") == 2


def test_nonatomic_claim_lets_two_deliveries_complete_one_page(open_db: OpenDb) -> None:
    dsn, conn = open_db("nonatomic_claim")
    at(conn, 0)
    page = new_page(conn)
    with psycopg.connect(dsn, autocommit=True) as other:
        at(other, 0)
        a, b = context(conn), context(other)
        # Step 1 of both deliveries: each reads "pending" and decides to claim.
        assert nonatomic_mod.unclaimable_reason(nonatomic_mod.select_page(a, page)) is None
        assert nonatomic_mod.unclaimable_reason(nonatomic_mod.select_page(b, page)) is None
        # A claims and completes the page; then B's step 2 re-opens it, and B completes it again.
        first = nonatomic_mod.fetch_and_complete(a, nonatomic_mod.mark_processing(a, page))
        assert status_of(conn, "sync_page_queue", page) == "done"
        second = nonatomic_mod.fetch_and_complete(b, nonatomic_mod.mark_processing(b, page))
    assert first.body["outcome"] == second.body["outcome"] == "done"
    assert commits(conn, "page_done") == 2
    # The same two deliveries, handled whole one after the other, are still processed once.
    _, conn2 = open_db("nonatomic_claim")
    at(conn2, 0)
    page2 = new_page(conn2)
    handle = load_pipeline(MUTANTS["nonatomic_claim"]).page_worker
    assert handle(context(conn2), webhook("sync_page_queue", page2)).body["outcome"] == "done"
    again = handle(context(conn2), webhook("sync_page_queue", page2))
    assert again.body == {"outcome": "noop", "page_id": page2, "reason": "already done"}


def test_fallback_processor_processes_some_entry_for_a_malformed_payload(open_db: OpenDb) -> None:
    body = json.dumps({"type": "INSERT", "table": "thread_processing_queue", "record": {}})
    for name, status, written in (("fallback_polling_processor", 200, 1), ("reference", 400, 0)):
        _, conn = open_db(name)
        pipeline = pipeline_named(name)
        ctx, entries = staged_entries(pipeline, conn)
        reply = pipeline.processor(ctx, body)
        assert reply.status == status, name
        assert one(conn, "SELECT count(*) AS n FROM threads")["n"] == written
        if written:
            assert reply.body["entry_id"] == entries[0]
            assert status_of(conn, "thread_processing_queue", entries[0]) == "done"


def test_fallback_processor_takes_over_an_entry_another_worker_holds(open_db: OpenDb) -> None:
    dsn, conn = open_db("fallback_polling_processor")
    ctx_a, entries = staged_entries(pipeline_named("fallback_polling_processor"), conn, 1)
    (entry,) = entries
    external = one(conn, "SELECT external_id FROM thread_stage")["external_id"]
    with psycopg.connect(dsn, autocommit=True) as other:
        at(other, 0)
        ctx_b = context(other)
        # A claims the entry through its own webhook.
        claim = one(conn, "SELECT * FROM claim_thread(%s)", (entry,))
        # B gets a duplicate (or malformed) delivery and polls: the entry A holds is "unprocessed".
        assert fallback_mod.poll(ctx_b) == entry
        # A finishes; B then claims by id, re-opening the entry, and processes it again.
        done = fallback_mod.process(ctx_a, entry, claim["claim_token"], claim["payload"])
        stolen = fallback_mod.mark_processing(ctx_b, entry)
        again = fallback_mod.process(ctx_b, entry, stolen["claim_token"], stolen["payload"])
    assert done.body["outcome"] == again.body["outcome"] == "done"
    assert commits(conn, "thread_written", external) == 2
    assert commits(conn, "entry_done", str(entry)) == 2


@pytest.mark.parametrize("name,emitted", [("webhook_filter", 0), ("reference", 1)])
def test_webhook_filter_strands_a_page_whose_webhook_was_dropped(
    open_db: OpenDb, name: str, emitted: int
) -> None:
    _, conn = open_db(name)
    pipeline = pipeline_named(name)
    at(conn, 0)
    page = new_page(conn)
    dropped = last_request(conn)  # the page's webhook: never delivered
    ctx = context(conn)
    for t in (100, 1_000, 10_000):
        at(conn, t)
        assert pipeline.sweeper(ctx).status == 200
    resent = rows(conn, "SELECT body FROM net.http_request_queue WHERE id > %s", (dropped,))
    assert bool(resent) == bool(emitted)
    deliver(pipeline, ctx, conn, dropped)
    assert status_of(conn, "sync_page_queue", page) == ("pending" if not emitted else "done")


@pytest.mark.parametrize("name,after", [("no_recovery", "processing"), ("reference", "pending")])
def test_no_recovery_leaves_a_crashed_claim_processing(
    open_db: OpenDb, name: str, after: str
) -> None:
    dsn, conn = open_db(name)
    pipeline = pipeline_named(name)
    at(conn, 0)
    page = new_page(conn)
    before = last_request(conn)
    # The worker claims, then its instance dies: its connection goes, its webhook never comes again.
    doomed = psycopg.connect(dsn, autocommit=True)
    at(doomed, 0)
    assert one(doomed, "SELECT claimed FROM claim_page(%s)", (page,))["claimed"]
    doomed.close()

    at(conn, 10_000)  # far past the 120 s lease
    assert pipeline.sweeper(context(conn)).status == 200
    one(conn, "SELECT * FROM sweep()")  # what pg_cron would run, too
    assert status_of(conn, "sync_page_queue", page) == after
    resent = one(conn, "SELECT count(*) AS n FROM net.http_request_queue WHERE id > %s", (before,))
    assert (resent["n"] > 0) == (name == "reference")


@pytest.mark.parametrize("name", ["processed_at_first", "reference"])
def test_processed_at_first_loses_the_thread_of_a_crashed_processor(
    open_db: OpenDb, name: str
) -> None:
    dsn, conn = open_db(name)
    pipeline = pipeline_named(name)
    ctx, (doomed_entry, other_entry) = staged_entries(pipeline, conn, 2)
    delivered = last_request(conn)
    lost = one(
        conn,
        "SELECT s.external_id FROM thread_processing_queue q JOIN thread_stage s"
        " ON s.id = q.thread_stage_id WHERE q.id = %s",
        (doomed_entry,),
    )["external_id"]

    # The processor for the first entry dies after its first statement, the claim.
    with psycopg.connect(dsn, autocommit=True) as doomed:
        at(doomed, 1)
        with pytest.raises(Crashed):
            pipeline.processor(
                Context(db=CrashBefore(PsycopgDatabase(doomed), 1), api=ctx.api),
                webhook("thread_processing_queue", doomed_entry),
            )
    assert pipeline.processor(ctx, webhook("thread_processing_queue", other_entry)).ok

    # Recovery gets every chance: the clock passes the lease, the sweeper runs, webhooks arrive.
    at(conn, 1_000)
    pipeline.sweeper(ctx)
    deliver(pipeline, ctx, conn, delivered)
    synced = {r["external_id"] for r in rows(conn, "SELECT external_id FROM threads")}
    job = one(conn, "SELECT status::text AS s FROM sync_jobs")["s"]
    assert status_of(conn, "thread_processing_queue", doomed_entry) == "done"
    assert job == "completed"
    if name == "processed_at_first":
        assert lost not in synced and len(synced) == 1  # lost, yet the entry and job look done
    else:
        assert lost in synced and len(synced) == 2


@pytest.mark.parametrize("name,writes", [("no_fencing", 2), ("reference", 1)])
def test_no_fencing_lets_a_stale_worker_commit_after_its_lease_expired(
    open_db: OpenDb, name: str, writes: int
) -> None:
    dsn, conn = open_db(name)
    pipeline = pipeline_named(name)
    _, (entry,) = staged_entries(pipeline, conn, 1)
    with psycopg.connect(dsn, autocommit=True) as stale:
        at(stale, 0)
        first = one(stale, "SELECT * FROM claim_thread(%s)", (entry,))
        result = json.dumps(summarise(first["payload"]))
        # The first worker stalls past its 60 s lease; the sweeper re-queues, a second one claims.
        at(conn, 1_000)
        assert one(conn, "SELECT * FROM sweep()")["threads_requeued"] == 1
        second = one(conn, "SELECT * FROM claim_thread(%s)", (entry,))
        assert second["claimed"] and second["claim_token"] != first["claim_token"]
        assert one(
            conn,
            "SELECT * FROM complete_thread(%s, %s, %s::jsonb)",
            (entry, second["claim_token"], result),
        )["completed"]
        # The stalled worker wakes up and completes with its old token.
        at(stale, 1_001)
        late = one(
            stale,
            "SELECT * FROM complete_thread(%s, %s, %s::jsonb)",
            (entry, first["claim_token"], result),
        )
    assert late["completed"] == (writes == 2)
    external = first["external_id"]
    assert commits(conn, "thread_written", external) == writes
    assert commits(conn, "entry_done", str(entry)) == writes


@pytest.mark.parametrize("name,completions", [("no_fencing", 2), ("reference", 1)])
def test_no_fencing_lets_a_stale_page_worker_complete_its_page_again(
    open_db: OpenDb, name: str, completions: int
) -> None:
    _, conn = open_db(name)
    at(conn, 0)
    page = new_page(conn)
    first = one(conn, "SELECT * FROM claim_page(%s)", (page,))
    at(conn, 1_000)  # past the 120 s lease
    assert one(conn, "SELECT * FROM sweep()")["pages_requeued"] == 1
    second = one(conn, "SELECT * FROM claim_page(%s)", (page,))
    threads = json.dumps([{"id": "x1", "updated_at": "2026-01-01T00:00:00Z"}])
    for claim in (second, first):  # the new owner, then the stale one
        one(
            conn,
            "SELECT * FROM complete_page(%s, %s, %s::jsonb, NULL)",
            (page, claim["claim_token"], threads),
        )
    assert commits(conn, "page_done") == completions


def test_job_completion_race_finishes_the_job_twice(open_db: OpenDb) -> None:
    dsn, conn = open_db("job_completion_race")
    ctx_a, (e1, e2) = staged_entries(pipeline_named("job_completion_race"), conn, 2)
    job = int(one(conn, "SELECT id FROM sync_jobs")["id"])
    claims = {e: one(conn, "SELECT * FROM claim_thread(%s)", (e,)) for e in (e1, e2)}
    with psycopg.connect(dsn, autocommit=True) as other:
        at(other, 0)
        ctx_b = context(other)
        # Two processors each complete the job's last-but-one and last entry...
        for ctx, entry in ((ctx_a, e1), (ctx_b, e2)):
            (done,) = ctx.db.query(
                "SELECT * FROM complete_thread(%(e)s, %(t)s, %(r)s::jsonb)",
                {
                    "e": entry,
                    "t": claims[entry]["claim_token"],
                    "r": json.dumps(summarise(claims[entry]["payload"])),
                },
            )
            assert done["completed"]
        # ...the SQL no longer finishes the job: the handlers do, by counting then marking.
        assert one(conn, "SELECT status::text AS s FROM sync_jobs")["s"] == "running"
        # Both count before either marks: each reads zero left, and each finishes the job.
        assert race_mod.open_work(ctx_a, job) == race_mod.open_work(ctx_b, job) == 0
        race_mod.mark_finished(ctx_a, job)
        race_mod.mark_finished(ctx_b, job)
    assert commits(conn, "job_finished", str(job)) == 2


def test_reference_finishes_the_job_once_for_the_same_completions(open_db: OpenDb) -> None:
    _, conn = open_db("reference")
    _, (e1, e2) = staged_entries(reference, conn, 2)
    for entry in (e1, e2):
        claim = one(conn, "SELECT * FROM claim_thread(%s)", (entry,))
        one(
            conn,
            "SELECT * FROM complete_thread(%s, %s, %s::jsonb)",
            (entry, claim["claim_token"], json.dumps(summarise(claim["payload"]))),
        )
    assert commits(conn, "job_finished") == 1


@pytest.mark.parametrize(
    "name,crash_before,staged",
    # Crash before complete_page: the mutant's third statement, the reference's second.
    [("stage_outside_transaction", 2, 2), ("reference", 1, 1)],
)
def test_stage_outside_transaction_stages_a_page_twice_after_a_crash(
    open_db: OpenDb, name: str, crash_before: int, staged: int
) -> None:
    dsn, conn = open_db(name)
    pipeline = pipeline_named(name)
    at(conn, 0)
    page = new_page(conn)
    delivered = last_request(conn)
    with psycopg.connect(dsn, autocommit=True) as doomed:
        at(doomed, 0)
        doomed_ctx = Context(
            db=CrashBefore(PsycopgDatabase(doomed), crash_before),
            api=FakeThreadsAPI(generate_dataset(1, 3)),
        )
        with pytest.raises(Crashed):
            pipeline.page_worker(doomed_ctx, webhook("sync_page_queue", page))
    assert status_of(conn, "sync_page_queue", page) == "processing"

    at(conn, 1_000)  # past the lease: the sweeper re-queues the page and re-sends its webhook
    ctx = context(conn)
    assert pipeline.sweeper(ctx).body["pages_requeued"] == 1
    deliver(pipeline, ctx, conn, delivered)
    externals = [r["external_id"] for r in rows(conn, "SELECT external_id FROM thread_stage")]
    assert len(externals) == 3 * staged and len(set(externals)) == 3
    assert all(commits(conn, "thread_written", x) == staged for x in set(externals))
    assert one(conn, "SELECT status::text AS s FROM sync_jobs")["s"] == "completed"


@pytest.mark.parametrize(
    "name,job_after_page", [("queue_after_complete", "completed"), ("reference", "running")]
)
def test_queue_after_complete_finishes_the_job_before_its_threads_are_queued(
    open_db: OpenDb, name: str, job_after_page: str
) -> None:
    _, conn = open_db(name)
    pipeline = pipeline_named(name)
    at(conn, 0)
    page = new_page(conn)  # one page of up to 5 threads; the source has 3
    ctx = context(conn, 3)
    delivered = last_request(conn)
    reply = pipeline.page_worker(ctx, webhook("sync_page_queue", page))
    assert reply.body["outcome"] == "done"
    job = one(conn, "SELECT status::text AS s FROM sync_jobs")["s"]
    assert job == job_after_page
    deliver(pipeline, ctx, conn, delivered)
    assert len(rows(conn, "SELECT 1 FROM threads")) == 3
    assert one(conn, "SELECT status::text AS s FROM sync_jobs")["s"] == "completed"
    # In commit order: how many entries were queued or done after the job finished.
    late = one(
        conn,
        "SELECT count(*) AS n FROM harness.effects e JOIN harness.commit_order c USING (txid)"
        " WHERE e.kind IN ('entry_queued', 'entry_done') AND c.seq > ("
        "   SELECT min(c2.seq) FROM harness.effects f JOIN harness.commit_order c2 USING (txid)"
        "    WHERE f.kind = 'job_finished')",
    )["n"]
    assert late == (6 if name == "queue_after_complete" else 0)


@pytest.mark.parametrize(
    "name,status", [("completed_despite_dead_letters", "completed"), ("reference", "failed")]
)
def test_completed_despite_dead_letters_hides_a_dead_lettered_page(
    open_db: OpenDb, name: str, status: str
) -> None:
    _, conn = open_db(name)
    conn.execute("UPDATE threadsync.settings SET max_attempts = 1")
    at(conn, 0)
    page = new_page(conn)
    api = FakeThreadsAPI(generate_dataset(1, 3), faults_at({0: ApiFault("server_error")}))
    reply = pipeline_named(name).page_worker(
        Context(db=PsycopgDatabase(conn), api=api), webhook("sync_page_queue", page)
    )
    assert reply.body["outcome"] == "dead-letter"
    assert status_of(conn, "sync_page_queue", page) == "failed"
    assert one(conn, "SELECT status::text AS s FROM sync_jobs")["s"] == status


@pytest.mark.parametrize("name,pages", [("fixed_batch_fetch", [5]), ("reference", [2, 2, 1])])
def test_fixed_batch_fetch_ignores_the_jobs_page_size(
    open_db: OpenDb, name: str, pages: list[int]
) -> None:
    _, conn = open_db(name)
    pipeline = pipeline_named(name)
    at(conn, 0)
    page = new_page(conn, page_size=2)
    ctx = context(conn, 5)
    delivered = last_request(conn)
    assert pipeline.page_worker(ctx, webhook("sync_page_queue", page)).ok
    deliver(pipeline, ctx, conn, delivered)
    staged = rows(
        conn,
        "SELECT p.page_number, count(s.id) AS n FROM sync_page_queue p"
        " LEFT JOIN thread_stage s ON s.page_id = p.id GROUP BY 1 ORDER BY 1",
    )
    assert [int(r["n"]) for r in staged] == pages
    assert len(rows(conn, "SELECT 1 FROM threads")) == 5  # every thread synced all the same


@pytest.mark.parametrize("name,writes", [("rescue_by_id", 2), ("reference", 1)])
def test_rescue_by_id_sets_a_just_completed_entry_back_to_pending(
    open_db: OpenDb, name: str, writes: int
) -> None:
    dsn, conn = open_db(name)
    pipeline = pipeline_named(name)
    # Two entries, so the job's open-work counter stays positive through a second completion.
    ctx, (entry, _other) = staged_entries(pipeline, conn, 2)
    claim = one(conn, "SELECT * FROM claim_thread(%s)", (entry,))
    at(conn, 1_000)  # the processor's lease has expired while it works
    with psycopg.connect(dsn, autocommit=True) as worker:
        at(worker, 1_000)
        if name == "rescue_by_id":
            # The sweep reads the expired lease; the worker, whose token still holds, completes.
            expired = rows(conn, mq("expired_leases"))
            assert [r["id"] for r in expired] == [entry]
        done = one(
            worker,
            "SELECT * FROM complete_thread(%s, %s, %s::jsonb)",
            (entry, claim["claim_token"], json.dumps(summarise(claim["payload"]))),
        )
        assert done["completed"]
        if name == "rescue_by_id":
            # ...and the sweep's write by id puts the finished entry back to pending.
            rows(conn, mq("requeue_entry_by_id"), {"id": entry})
            assert status_of(conn, "thread_processing_queue", entry) == "pending"
    # The webhook the sweep re-sends for it (or a late duplicate, for the reference).
    pipeline.processor(ctx, webhook("thread_processing_queue", entry))
    assert status_of(conn, "thread_processing_queue", entry) == "done"
    assert commits(conn, "thread_written", claim["external_id"]) == writes

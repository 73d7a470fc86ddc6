"""A committing step knows, from its own transaction's statistics, whether it added requests to
pg_net's queue: only then does the deliverer read the queue (see harness/sql/queue.sql)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import psycopg
import pytest

from harness.engine.actor import QUEUE, Actor
from harness.engine.clock import VirtualClock
from threadsync.queries import q

QUEUED = b"SELECT count(*) FROM net.http_request_queue"


@pytest.fixture
def oid(ref_dsn: str) -> Iterator[int]:
    with psycopg.connect(ref_dsn, autocommit=True) as conn:
        row = conn.execute(QUEUE["queue_oid"]).fetchone()
    assert row is not None and row[0] is not None, "the reference has no pg_net queue to count"
    yield int(row[0])


def _actor(dsn: str, role: str, oid: int | None) -> Actor:
    return Actor(
        id="a1",
        role=role,
        fn=lambda ctx: None,
        cond=threading.Condition(),
        clock=VirtualClock(),
        dsn=dsn,
        queue_oid=oid,
    )


def _queued(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(QUEUED).fetchone()
    assert row is not None
    return int(row[0])


def test_a_request_knows_whether_it_queued(ref_dsn: str, oid: int) -> None:
    actor = _actor(ref_dsn, "orchestrator", oid)
    try:
        before = _queued(ref_dsn)
        actor.request(q("start_sync"), {"page_size": 5})  # its first page is a webhook
        assert _queued(ref_dsn) > before, "start_sync queued nothing: the test is void"
        assert not actor._queued_nothing
        # The same backend's earlier inserts are still counted (not reported yet): only what
        # this request's own transaction inserted decides.
        queued = _queued(ref_dsn)
        actor.request(q("claim_page"), {"page_id": 999_999})
        assert _queued(ref_dsn) == queued
        assert actor._queued_nothing
    finally:
        if actor.conn is not None:
            actor.conn.close()


def test_a_transaction_knows_whether_it_queued(ref_dsn: str, oid: int) -> None:
    actor = _actor(ref_dsn, "ad-hoc", oid)
    try:
        for statement, queues in (
            (b"SELECT net.http_post('http://x/y', '{}'::jsonb)", True),
            (b"SELECT count(*) FROM public.sync_jobs", False),
        ):
            actor.begin_request()
            actor.execute(statement.decode(), None)
            actor.execute_control("COMMIT")
            assert actor._queued_nothing is not queues, statement
        # A rolled-back transaction commits nothing; its counted mark is gone with it.
        actor.begin_request()
        actor.execute_control("ROLLBACK")
        assert actor._txn_mark is None
    finally:
        if actor.conn is not None:
            actor.conn.close()


def test_without_the_queues_table_every_commit_may_have_queued(ref_dsn: str) -> None:
    actor = _actor(ref_dsn, "ad-hoc", None)
    try:
        actor.begin_request()
        actor.execute("SELECT 1", None)
        actor.execute_control("COMMIT")
        assert not actor._queued_nothing
    finally:
        if actor.conn is not None:
            actor.conn.close()


def test_a_server_that_counts_nothing_names_no_queue(ref_dsn: str) -> None:
    with psycopg.connect(ref_dsn, autocommit=True) as conn:
        conn.execute(b"SET track_counts = off")
        row = conn.execute(QUEUE["queue_oid"]).fetchone()
    assert row is None


def test_a_trigger_deferred_to_commit_means_no_queue_count(ref_dsn: str) -> None:
    # It runs at COMMIT, after the last count: it could queue what no count saw.
    with psycopg.connect(ref_dsn, autocommit=True) as conn:
        conn.execute(
            b"CREATE FUNCTION public.at_commit() RETURNS trigger LANGUAGE plpgsql "
            b"AS 'BEGIN RETURN NULL; END'"
        )
        row = conn.execute(QUEUE["queue_oid"]).fetchone()
        assert row is not None, "without a deferrable trigger the queue is counted"
        conn.execute(
            b"CREATE CONSTRAINT TRIGGER at_commit AFTER INSERT ON public.sync_jobs "
            b"DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION public.at_commit()"
        )
        row = conn.execute(QUEUE["queue_oid"]).fetchone()
    assert row is None

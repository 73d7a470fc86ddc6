"""Fuzzing the page worker and the processor with every shape of body, on a real database.

Every body is a 400 or a clean 200 no-op, and no body changes any pipeline table or the pg_net
request queue. The database holds one finished sync, so an id that names a real row is a row
that is already done: a correct handler answers "already done" and changes nothing.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql

from harness.fakeapi import FakeThreadsAPI, generate_dataset
from harness.postgres import Server, TemplateDatabases
from harness.quickrun import quick_run
from threadsync import page_worker, processor
from threadsync.db import PsycopgDatabase
from threadsync.pipeline import Context, Reply
from threadsync.reference import pipeline as reference
from threadsync.webhook import MAX_ROW_ID

Handler = Callable[[Context, "str | bytes"], Reply]
HANDLERS: dict[str, tuple[Handler, str]] = {
    "page_worker": (page_worker.handle, "sync_page_queue"),
    "processor": (processor.handle, "thread_processing_queue"),
}
SCHEMAS = ("public", "threadsync", "net")
MB = 1 << 20
BIGINT_EDGES = [
    -(2**63) - 1,
    -(2**63),
    -1,
    0,
    1,
    2,
    2**31 - 1,
    2**31,
    2**32,
    2**53 + 1,
    MAX_ROW_ID - 1,
    MAX_ROW_ID,
    MAX_ROW_ID + 1,
    2**64,
    10**30,
    10**400,
]


@pytest.fixture(scope="module")
def fuzz_db(pg_server: Server, reference_template: TemplateDatabases) -> Iterator[str]:
    """A database holding one finished sync (so real ids exist), dropped after the module."""
    name = reference_template.fresh("fuzz")
    dsn = pg_server.dsn(name)
    result = quick_run(reference, dsn, threads=9, page_size=4)
    assert result.outcome is not None and result.outcome.ok, result.outcome
    yield dsn
    reference_template.drop(name)


@pytest.fixture(scope="module")
def conn(fuzz_db: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(fuzz_db, autocommit=True) as c:
        yield c


@pytest.fixture(scope="module")
def snapshot_query(conn: psycopg.Connection[Any]) -> sql.Composed:
    """One query giving, per table of the pipeline's schemas, its row count and a digest."""
    tables = conn.execute(
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_schema = ANY(%s) AND table_type = 'BASE TABLE' ORDER BY 1, 2",
        (list(SCHEMAS),),
    ).fetchall()
    assert ("net", "http_request_queue") in tables and ("public", "threads") in tables
    parts = [
        sql.SQL(
            "SELECT {}, count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) "
            "FROM {}.{} AS t"
        ).format(sql.Literal(f"{schema}.{table}"), sql.Identifier(schema), sql.Identifier(table))
        for schema, table in tables
    ]
    return sql.SQL(" UNION ALL ").join(parts)


def snapshot(conn: psycopg.Connection[Any], query: sql.Composed) -> list[tuple[Any, ...]]:
    return conn.execute(query).fetchall()


@functools.cache
def _api() -> FakeThreadsAPI:
    # Built once: Faker is slow to start. No fuzzed body may reach the API anyway.
    return FakeThreadsAPI(generate_dataset(0, 3))


def context(conn: psycopg.Connection[Any]) -> Context:
    return Context(db=PsycopgDatabase(conn), api=_api())


def is_webhook(body: str | bytes, table: str) -> bool:
    """The test's own reading of the contract: an INSERT on `table` naming a bigint row id."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return False
    if not isinstance(data, dict) or data.get("type") != "INSERT" or data.get("table") != table:
        return False
    record = data.get("record")
    if not isinstance(record, dict):
        return False
    ident = record.get("id")
    return type(ident) is int and 1 <= ident <= MAX_ROW_ID


def check(
    conn: psycopg.Connection[Any], query: sql.Composed, handler_name: str, body: str | bytes
) -> None:
    handler, table = HANDLERS[handler_name]
    before = snapshot(conn, query)
    reply = handler(context(conn), body)
    valid = is_webhook(body, table)
    if valid:
        assert reply.status == 200 and reply.body["outcome"] == "noop", reply
    else:
        assert reply.status == 400 and reply.body["outcome"] == "rejected", reply
        assert isinstance(reply.body["error"], str) and len(reply.body["error"]) < 500
    json.dumps(dict(reply.body))  # the reply must serialise, whatever the body was
    assert snapshot(conn, query) == before, (
        f"{handler_name} changed the database for {body[:200]!r}"
    )


def nested(depth: int, opener: str = "[", closer: str = "]") -> str:
    return opener * depth + "1" + closer * depth


def as_webhook(table: str, ident: object) -> str:
    return json.dumps({"type": "INSERT", "table": table, "record": {"id": ident}})


@pytest.mark.parametrize("handler_name", list(HANDLERS))
@pytest.mark.parametrize("ident", [MAX_ROW_ID + 1, 2**64, 10**30, -(2**63) - 1])
def test_ids_beyond_bigint_are_400(
    conn: psycopg.Connection[Any], snapshot_query: sql.Composed, handler_name: str, ident: int
) -> None:
    check(conn, snapshot_query, handler_name, as_webhook(HANDLERS[handler_name][1], ident))


@pytest.mark.parametrize("handler_name", list(HANDLERS))
@pytest.mark.parametrize(
    "body",
    [
        nested(5000),
        '{"type": "INSERT", "record": {"id": ' + nested(5000) + "}}",
        '{"a":' * 5000 + "1" + "}" * 5000,
        "[" * MB,
    ],
    ids=["array-5000", "record-5000", "object-5000", "1MB-of-brackets"],
)
def test_deeply_nested_json_is_400(
    conn: psycopg.Connection[Any], snapshot_query: sql.Composed, handler_name: str, body: str
) -> None:
    check(conn, snapshot_query, handler_name, body)


def test_largest_bigint_id_is_a_clean_noop(conn: psycopg.Connection[Any]) -> None:
    for handler, table in HANDLERS.values():
        reply = handler(context(conn), as_webhook(table, MAX_ROW_ID))
        assert reply.status == 200 and reply.body["reason"] == "unknown id", reply


# Every JSON shape: scalars of each type (NaN and huge numbers included), arrays and objects.
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from(BIGINT_EDGES)
    | st.floats()
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def webhook_like(draw: st.DrawFn, table: str) -> str:
    """Bodies close to a real webhook, each part either right or replaced by any JSON value."""
    other = "sync_page_queue" if table != "sync_page_queue" else "thread_processing_queue"
    body: dict[str, Any] = {
        "type": draw(st.sampled_from(["INSERT", "UPDATE", "DELETE", "insert"]) | json_values),
        "table": draw(st.sampled_from([table, other, table.upper()]) | json_values),
        "schema": "public",
        "record": draw(
            st.fixed_dictionaries(
                {"id": st.sampled_from(BIGINT_EDGES) | st.integers(1, 40) | json_values}
            )
            | json_values
        ),
        "old_record": None,
    }
    for key in draw(st.sets(st.sampled_from(sorted(body)), max_size=2)):
        del body[key]
    return json.dumps(body, allow_nan=True)


def big_bodies(table: str) -> list[str | bytes]:
    """About 1 MB each: padded real webhooks, a megabyte of digits as the id, raw junk bytes."""
    padded = json.dumps(
        {"type": "INSERT", "table": table, "record": {"id": 1, "pad": "x" * MB}, "old_record": None}
    )
    return [
        padded,
        padded.replace('"id": 1', '"id": 1.0'),
        '{"type": "INSERT", "table": "' + table + '", "record": {"id": ' + "7" * MB + "}}",
        bytes(range(256)) * (MB // 256),
        '"' + "\u00e9" * (MB // 2) + '"',
    ]


def bodies(table: str) -> st.SearchStrategy[str | bytes]:
    big = big_bodies(table)
    raw: st.SearchStrategy[str | bytes] = (
        webhook_like(table)
        | json_values.map(lambda v: json.dumps(v, allow_nan=True))
        | st.binary(max_size=64)
        | st.text(max_size=64)
        | st.text(max_size=40).map(lambda t: t.encode("utf-16"))
        | st.integers(1, 20_000).map(nested)
        # By index, so that a failure report does not print every megabyte-sized candidate.
        | st.sampled_from(range(len(big))).map(big.__getitem__)
    )
    return raw


@pytest.mark.parametrize("handler_name", list(HANDLERS))
def test_fuzzed_bodies_are_400_or_clean_200_and_change_nothing(
    conn: psycopg.Connection[Any], snapshot_query: sql.Composed, handler_name: str
) -> None:
    table = HANDLERS[handler_name][1]

    @settings(
        max_examples=300,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(body=bodies(table))
    def run(body: str | bytes) -> None:
        check(conn, snapshot_query, handler_name, body)

    run()

"""The PostgREST emulation (harness/supabase/rest): requests as supabase-js sends them, run on a
migrated reference database as the engine runs them, answered as PostgREST answers."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row
from sqlhelp import Conn, at, one, rows

from harness.supabase import OWNER
from harness.supabase.rest import (
    ANON_KEY,
    JWT_SECRET,
    PREAMBLE,
    SERVICE_ROLE_KEY,
    Answer,
    Catalog,
    Statement,
    answer,
    answer_error,
    load_catalog,
    prepare,
    sign_jwt,
    verify_jwt,
)

NOW = 1_800_000_000.0  # 2027-01-15, before the demo keys expire (2032)
AUTHENTICATED = sign_jwt(
    {"role": "authenticated", "sub": "user-1", "exp": 2_000_000_000}, JWT_SECRET
)
EMPTY = Catalog("empty", {}, {})


def run(conn: Conn, reply: Statement | Answer) -> Answer:
    """The engine's part: one transaction as the JWT's role; commit only a successful answer."""
    if isinstance(reply, Answer):
        return reply
    conn.execute(b"BEGIN")
    try:
        with conn.cursor(row_factory=dict_row) as cur:
            cur.execute(PREAMBLE.encode(), reply.preamble_params)
            cur.execute(reply.sql.encode(), reply.params)
            result = answer(reply, cur.fetchall())
    except psycopg.Error as exc:
        conn.execute(b"ROLLBACK")
        return answer_error(reply, exc)
    conn.execute(b"COMMIT" if result.ok else b"ROLLBACK")
    return result


def call(
    conn: Conn,
    method: str,
    path: str,
    query: str = "",
    body: Any = None,
    *,
    key: str | None = SERVICE_ROLE_KEY,
    token: str | None = SERVICE_ROLE_KEY,
    headers: Mapping[str, str] | None = None,
) -> Answer:
    return run(
        conn, request(conn, method, path, query, body, key=key, token=token, headers=headers)
    )


def request(
    conn: Conn | None,
    method: str,
    path: str,
    query: str = "",
    body: Any = None,
    *,
    key: str | None = SERVICE_ROLE_KEY,
    token: str | None = SERVICE_ROLE_KEY,
    headers: Mapping[str, str] | None = None,
) -> Statement | Answer:
    """What supabase-js sends: apikey and Authorization headers, a JSON body."""
    sent: dict[str, str] = {}
    if key is not None:
        sent["apikey"] = key
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    if body is not None:
        sent["Content-Type"] = "application/json"
    sent.update(headers or {})
    raw = body if isinstance(body, bytes) else b"" if body is None else json.dumps(body).encode()
    catalog = EMPTY if conn is None else load_catalog(conn)
    return prepare(method, path, query, sent, raw, catalog, JWT_SECRET, now=NOW)


def error(reply: Statement | Answer) -> dict[str, Any]:
    assert isinstance(reply, Answer), f"expected a refusal, got a statement: {reply}"
    body = json.loads(reply.body)
    assert isinstance(body, dict)
    return body


def data(reply: Answer) -> Any:
    assert reply.ok, reply.body
    return json.loads(reply.body)


# --- keys and tokens ---------------------------------------------------------------------------


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert isinstance(decoded, dict)
    return decoded


def test_the_demo_keys_are_supabase_clis_and_verify_with_the_local_secret() -> None:
    assert verify_jwt(ANON_KEY, JWT_SECRET, NOW) == {
        "iss": "supabase-demo",
        "role": "anon",
        "exp": 1983812996,
    }
    assert verify_jwt(SERVICE_ROLE_KEY, JWT_SECRET, NOW)["role"] == "service_role"
    # Re-signing the same claims reproduces the published key byte for byte.
    assert sign_jwt(_claims(SERVICE_ROLE_KEY), JWT_SECRET) == SERVICE_ROLE_KEY
    assert sign_jwt(_claims(ANON_KEY), JWT_SECRET) == ANON_KEY


def test_the_gateway_wants_a_project_api_key() -> None:
    missing = request(None, "POST", "/rest/v1/rpc/claim_page", body={}, key=None)
    assert isinstance(missing, Answer) and missing.status == 401
    assert error(missing) == {
        "message": "No API key found in request",
        "hint": "No `apikey` request header or url param was found.",
    }
    foreign = sign_jwt({"role": "service_role"}, "another-secret-of-at-least-32-characters")
    bad = request(None, "POST", "/rest/v1/rpc/claim_page", body={}, key=foreign)
    assert isinstance(bad, Answer) and bad.status == 401
    assert error(bad)["message"] == "Invalid API key"


def test_bad_tokens_get_postgrests_jwt_errors() -> None:
    foreign = sign_jwt({"role": "service_role"}, "another-secret-of-at-least-32-characters")
    wrong = request(None, "GET", "/rest/v1/threads", token=foreign)
    assert isinstance(wrong, Answer) and wrong.status == 401
    assert error(wrong) == {
        "code": "PGRST301",
        "message": "No suitable key or wrong key type",
        "details": "None of the keys was able to decode the JWT",
        "hint": None,
    }
    assert wrong.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')

    expired = sign_jwt({"role": "service_role", "exp": NOW - 31}, JWT_SECRET)
    assert error(request(None, "GET", "/rest/v1/threads", token=expired))["code"] == "PGRST303"
    assert (
        error(request(None, "GET", "/rest/v1/threads", token=expired))["message"] == "JWT expired"
    )
    # Within PostgREST's 30 s of clock skew the token still counts.
    barely = sign_jwt({"role": "service_role", "exp": NOW - 29}, JWT_SECRET)
    assert error(request(None, "GET", "/rest/v1/threads", token=barely))["code"] == "PGRST205"

    two_parts = error(request(None, "GET", "/rest/v1/threads", token="abc.def"))
    assert (two_parts["code"], two_parts["message"]) == (
        "PGRST301",
        "Expected 3 parts in JWT; got 2",
    )
    tampered = SERVICE_ROLE_KEY[:-2] + ("AA" if not SERVICE_ROLE_KEY.endswith("AA") else "BB")
    assert error(request(None, "GET", "/rest/v1/threads", token=tampered))["code"] == "PGRST301"


def test_only_supabases_api_roles_can_be_claimed() -> None:
    owner = sign_jwt({"role": OWNER}, JWT_SECRET)
    refused = request(None, "GET", "/rest/v1/threads", token=owner)
    assert isinstance(refused, Answer) and refused.status == 403
    assert error(refused) == {
        "code": "42501",
        "message": f'permission denied to set role "{OWNER}"',
        "details": None,
        "hint": None,
    }


# --- RPC ---------------------------------------------------------------------------------------


def test_rpc_returns_what_a_direct_select_returns(conn: Conn) -> None:
    at(conn, 0)  # the functions read the virtual clock, so both calls see the same time
    job = call(conn, "POST", "/rest/v1/rpc/start_sync", body={"p_page_size": 3})
    assert job.status == 200 and job.headers["Content-Range"] == "0-0/*"
    started = data(job)
    assert isinstance(started, dict)  # a function returning one composite answers an object
    stored = one(
        conn, "SELECT to_json(j)::text AS j FROM sync_jobs j WHERE id = %s", (started["id"],)
    )
    assert job.body == stored["j"].encode()

    page = one(conn, "SELECT id FROM sync_page_queue WHERE job_id = %s", (started["id"],))["id"]
    conn.execute("BEGIN")
    direct = one(
        conn, "SELECT coalesce(json_agg(t), '[]')::text AS j FROM public.claim_page(%s) t", (page,)
    )["j"]
    conn.execute("ROLLBACK")
    claimed = call(conn, "POST", "/rest/v1/rpc/claim_page", body={"p_page_id": page})
    assert claimed.status == 200
    assert claimed.body == direct.encode()
    assert data(claimed)[0]["claimed"] is True
    assert one(conn, "SELECT status::text FROM sync_page_queue WHERE id = %s", (page,)) == {
        "status": "processing"
    }


def test_rpc_without_execute_right_is_401_for_anon_and_403_for_a_user(conn: Conn) -> None:
    anon = call(
        conn, "POST", "/rest/v1/rpc/claim_page", body={"p_page_id": 1}, key=ANON_KEY, token=ANON_KEY
    )
    assert anon.status == 401
    assert anon.headers["WWW-Authenticate"] == "Bearer"
    assert error(anon) == {
        "code": "42501",
        "message": "permission denied for function claim_page",
        "details": None,
        "hint": None,
    }
    no_token = call(
        conn, "POST", "/rest/v1/rpc/start_sync", body={"p_page_size": 1}, key=ANON_KEY, token=None
    )
    assert no_token.status == 401 and error(no_token)["code"] == "42501"
    user = call(
        conn,
        "POST",
        "/rest/v1/rpc/start_sync",
        body={"p_page_size": 1},
        key=ANON_KEY,
        token=AUTHENTICATED,
    )
    assert user.status == 403 and error(user)["code"] == "42501"
    assert one(conn, "SELECT count(*) AS n FROM sync_jobs") == {"n": 0}


def test_unknown_functions_and_arguments_are_404_pgrst202_before_any_sql(conn: Conn) -> None:
    unknown = request(conn, "POST", "/rest/v1/rpc/claim_pages", body={"p_page_id": 1})
    assert isinstance(unknown, Answer) and unknown.status == 404
    assert error(unknown) == {
        "code": "PGRST202",
        "message": "Could not find the function public.claim_pages(p_page_id) in the schema cache",
        "details": "Searched for the function public.claim_pages with parameter p_page_id or with a"
        " single unnamed json/jsonb parameter, but no matches were found in the schema cache.",
        "hint": "Perhaps you meant to call the function public.claim_page",
    }
    extra = error(request(conn, "POST", "/rest/v1/rpc/claim_page", body={"p_page_id": 1, "p_x": 2}))
    assert extra["code"] == "PGRST202"
    assert extra["message"] == (
        "Could not find the function public.claim_page(p_page_id, p_x) in the schema cache"
    )
    missing = error(request(conn, "POST", "/rest/v1/rpc/claim_page", body={}))
    assert missing["message"] == (
        "Could not find the function public.claim_page without parameters in the schema cache"
    )
    # A parameter with a DEFAULT may be left out: it is then left out of the call too.
    optional = request(
        conn,
        "POST",
        "/rest/v1/rpc/fail_page",
        body={"p_page_id": 1, "p_token": None, "p_error": "x"},
    )
    assert isinstance(optional, Statement)
    assert "p_retry_after_seconds" not in optional.sql
    assert isinstance(request(conn, "PATCH", "/rest/v1/rpc/claim_page", body={}), Answer)
    assert error(request(conn, "PATCH", "/rest/v1/rpc/claim_page", body={}))["code"] == "PGRST101"


@pytest.fixture
def functions(conn: Conn) -> Conn:
    conn.execute(f"SET ROLE {OWNER}")
    conn.execute(
        """
        CREATE FUNCTION public.add(a integer, b integer DEFAULT 1) RETURNS integer
            LANGUAGE sql STABLE AS $$ SELECT a + b $$;
        CREATE FUNCTION public.upto(n integer) RETURNS SETOF integer
            LANGUAGE sql STABLE AS $$ SELECT generate_series(1, n) $$;
        CREATE FUNCTION public.nothing() RETURNS void LANGUAGE sql AS $$ SELECT $$;
        CREATE FUNCTION public.boom(why text) RETURNS integer LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'boom: %', why USING DETAIL = 'it blew up', HINT = 'try again';
        END $$;
        CREATE FUNCTION public.teapot() RETURNS integer LANGUAGE plpgsql AS $$
        BEGIN RAISE SQLSTATE 'PGRST' USING
            MESSAGE = '{"code":"T418","message":"short and stout"}',
            DETAIL = '{"status":418,"headers":{"X-Pot":"tea"}}';
        END $$;
        CREATE FUNCTION public.echo(jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT $1 $$;
        CREATE FUNCTION public.whoami() RETURNS jsonb LANGUAGE sql STABLE AS $$
            SELECT jsonb_build_object(
                'user', current_user,
                'claims', current_setting('request.jwt.claims', true)::jsonb,
                'read_only', current_setting('transaction_read_only'))
        $$;
        """
    )
    conn.execute("RESET ROLE")
    return conn


def test_the_request_runs_as_the_tokens_role_with_its_claims(functions: Conn) -> None:
    user = call(functions, "POST", "/rest/v1/rpc/whoami", body={}, token=AUTHENTICATED)
    assert data(user) == {
        "user": "authenticated",
        "claims": {"role": "authenticated", "sub": "user-1", "exp": 2_000_000_000},
        "read_only": "on",  # a STABLE function runs in a read-only transaction
    }
    # No Authorization header: PostgREST's anonymous role, and claims naming only it.
    anon = request(functions, "POST", "/rest/v1/rpc/whoami", body={}, key=ANON_KEY, token=None)
    assert isinstance(anon, Statement)
    assert anon.preamble_params == {"role": "anon", "claims": '{"role":"anon"}', "read_only": "on"}
    assert data(run(functions, anon))["user"] == "anon"


def test_rpc_results_take_postgrests_shapes(functions: Conn) -> None:
    conn = functions
    assert call(conn, "POST", "/rest/v1/rpc/add", body={"a": 2}).body == b"3"
    assert call(conn, "POST", "/rest/v1/rpc/add", body={"a": 2, "b": 5}).body == b"7"
    assert call(conn, "GET", "/rest/v1/rpc/add", "a=40&b=2").body == b"42"
    assert data(call(conn, "POST", "/rest/v1/rpc/upto", body={"n": 3})) == [1, 2, 3]
    # select= and filters apply to a function's rows; Accept picks one row as an object.
    picked = call(
        conn,
        "POST",
        "/rest/v1/rpc/claim_page",
        "select=claimed,reason",
        {"p_page_id": 999},
        headers={"Accept": "application/vnd.pgrst.object+json"},
    )
    assert data(picked) == {"claimed": False, "reason": "unknown id"}
    assert (
        data(call(conn, "POST", "/rest/v1/rpc/claim_page", "claimed=is.true", {"p_page_id": 9}))
        == []
    )
    void = call(conn, "POST", "/rest/v1/rpc/nothing", body={})
    assert (void.status, void.body) == (204, b"")
    # A single unnamed jsonb parameter takes the whole body.
    assert data(call(conn, "POST", "/rest/v1/rpc/echo", body={"any": ["thing"]})) == {
        "any": ["thing"]
    }
    # GET runs read-only, as PostgREST does: a writing function fails with 25006 (405).
    read_only = call(conn, "GET", "/rest/v1/rpc/start_sync", "p_page_size=1")
    assert read_only.status == 405 and error(read_only)["code"] == "25006"
    assert one(conn, "SELECT count(*) AS n FROM sync_jobs") == {"n": 0}


def test_a_raised_exception_is_400_and_a_pgrst_raise_chooses_the_reply(functions: Conn) -> None:
    boom = call(functions, "POST", "/rest/v1/rpc/boom", body={"why": "fuse"})
    assert boom.status == 400
    assert error(boom) == {
        "code": "P0001",
        "message": "boom: fuse",
        "details": "it blew up",
        "hint": "try again",
    }
    assert boom.headers["Proxy-Status"] == "PostgREST; error=P0001"
    teapot = call(functions, "POST", "/rest/v1/rpc/teapot", body={})
    assert teapot.status == 418 and teapot.headers["X-Pot"] == "tea"
    assert error(teapot) == {
        "code": "T418",
        "message": "short and stout",
        "details": None,
        "hint": None,
    }


# --- tables ------------------------------------------------------------------------------------


@pytest.fixture
def scratch(conn: Conn) -> Conn:
    """A table made as the owner, so Supabase's default grants apply; RLS on, no policy."""
    conn.execute(f"SET ROLE {OWNER}")
    conn.execute(
        """
        CREATE TABLE public.scratch (
            id bigint PRIMARY KEY,
            name text UNIQUE,
            n integer DEFAULT 0,
            tags text[],
            meta jsonb,
            at timestamptz
        );
        ALTER TABLE public.scratch ENABLE ROW LEVEL SECURITY;
        """
    )
    conn.execute("RESET ROLE")
    return conn


def _names(conn: Conn) -> list[str]:
    return [r["name"] for r in rows(conn, "SELECT name FROM scratch ORDER BY id")]


def test_table_round_trip_as_service_role(scratch: Conn) -> None:
    conn = scratch
    rep = {"Prefer": "return=representation"}
    first = {
        "id": 1,
        "name": "one",
        "tags": ["a", "b"],
        "meta": {"k": 1},
        "at": "2026-01-01T00:00:00Z",
    }
    inserted = call(conn, "POST", "/rest/v1/scratch", "select=*", first, headers=rep)
    assert inserted.status == 201
    assert data(inserted) == [
        {
            "id": 1,
            "name": "one",
            "n": 0,
            "tags": ["a", "b"],
            "meta": {"k": 1},
            "at": "2026-01-01T00:00:00+00:00",
        }
    ]
    # An array, as supabase-js sends it: ?columns= lists every key; a missing one is NULL.
    bulk = call(
        conn,
        "POST",
        "/rest/v1/scratch",
        'columns="id","name","n"',
        [{"id": 2, "name": "two", "n": 5}, {"id": 3, "n": 7}],
    )
    assert (bulk.status, bulk.body, bulk.headers["Content-Range"]) == (201, b"", "*/*")
    assert _names(conn) == ["one", "two", None]

    got = call(conn, "GET", "/rest/v1/scratch", "select=id,label:name&n=gte.5&order=id.desc")
    assert data(got) == [{"id": 3, "label": None}, {"id": 2, "label": "two"}]
    assert got.headers["Content-Range"] == "0-1/*"
    assert data(call(conn, "GET", "/rest/v1/scratch", "select=id&name=is.null")) == [{"id": 3}]
    assert data(call(conn, "GET", "/rest/v1/scratch", "select=id&id=in.(1,3)&order=id")) == [
        {"id": 1},
        {"id": 3},
    ]
    assert data(call(conn, "GET", "/rest/v1/scratch", "select=id&name=like.t*")) == [{"id": 2}]
    assert data(call(conn, "GET", "/rest/v1/scratch", "select=id&id=neq.2&id=lt.3")) == [{"id": 1}]
    # two, one, NULL: skip one, take two.
    assert data(
        call(
            conn, "GET", "/rest/v1/scratch", "select=id&order=name.desc.nullslast&limit=2&offset=1"
        )
    ) == [{"id": 1}, {"id": 3}]
    counted = call(
        conn, "GET", "/rest/v1/scratch", "select=id&limit=2", headers={"Prefer": "count=exact"}
    )
    assert (counted.status, counted.headers["Content-Range"]) == (206, "0-1/3")

    updated = call(
        conn, "PATCH", "/rest/v1/scratch", "id=eq.3&select=id,name", {"name": "three"}, headers=rep
    )
    assert (updated.status, data(updated)) == (200, [{"id": 3, "name": "three"}])
    quiet = call(conn, "PATCH", "/rest/v1/scratch", "id=eq.2", {"n": 6})
    assert (quiet.status, quiet.body) == (204, b"")
    assert one(conn, "SELECT n FROM scratch WHERE id = 2") == {"n": 6}

    upsert = {"Prefer": "resolution=merge-duplicates,return=representation"}
    merged = call(
        conn,
        "POST",
        "/rest/v1/scratch",
        "on_conflict=id&select=id,name",
        {"id": 2, "name": "deux"},
        headers=upsert,
    )
    assert (merged.status, data(merged)) == (200, [{"id": 2, "name": "deux"}])
    assert (
        merged.headers["Preference-Applied"] == "resolution=merge-duplicates, return=representation"
    )
    fresh = call(
        conn, "POST", "/rest/v1/scratch", "select=id", {"id": 4, "name": "four"}, headers=upsert
    )
    assert fresh.status == 201
    ignored = call(
        conn,
        "POST",
        "/rest/v1/scratch",
        "",
        {"id": 4, "name": "vier"},
        headers={"Prefer": "resolution=ignore-duplicates"},
    )
    assert ignored.status == 201
    assert _names(conn) == ["one", "deux", "three", "four"]

    deleted = call(conn, "DELETE", "/rest/v1/scratch", "id=eq.4")
    assert (deleted.status, deleted.body) == (204, b"")
    everything = call(conn, "DELETE", "/rest/v1/scratch")
    assert everything.status == 400
    assert error(everything)["message"] == "DELETE requires a WHERE clause"
    assert _names(conn) == ["one", "deux", "three"]


def test_single_wants_exactly_one_row_and_rolls_back_otherwise(scratch: Conn) -> None:
    conn = scratch
    call(
        conn,
        "POST",
        "/rest/v1/scratch",
        'columns="id","name"',
        [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
    )
    single = {"Accept": "application/vnd.pgrst.object+json"}
    one_row = call(conn, "GET", "/rest/v1/scratch", "select=name&id=eq.1", headers=single)
    assert data(one_row) == {"name": "a"}
    assert one_row.headers["Content-Type"] == "application/vnd.pgrst.object+json; charset=utf-8"
    for query, count in (("id=eq.9", 0), ("id=gt.0", 2)):
        refused = call(conn, "GET", "/rest/v1/scratch", f"select=name&{query}", headers=single)
        assert refused.status == 406
        assert error(refused) == {
            "code": "PGRST116",
            "message": "Cannot coerce the result to a single JSON object",
            "details": f"The result contains {count} rows",
            "hint": None,
        }
    # A write that would touch two rows under .single() is rolled back.
    both = call(conn, "PATCH", "/rest/v1/scratch", "id=gt.0", {"n": 9}, headers=single)
    assert both.status == 406
    assert rows(conn, "SELECT n FROM scratch ORDER BY id") == [{"n": 0}, {"n": 0}]


def test_rls_without_a_policy_hides_every_row_from_users(scratch: Conn) -> None:
    conn = scratch
    call(conn, "POST", "/rest/v1/scratch", "", {"id": 1, "name": "secret"})
    assert data(call(conn, "GET", "/rest/v1/scratch", key=ANON_KEY, token=AUTHENTICATED)) == []
    write = call(
        conn,
        "POST",
        "/rest/v1/scratch",
        "",
        {"id": 2, "name": "mine"},
        key=ANON_KEY,
        token=AUTHENTICATED,
    )
    assert write.status == 403
    assert (
        error(write)["message"] == 'new row violates row-level security policy for table "scratch"'
    )
    gone = call(conn, "DELETE", "/rest/v1/scratch", "id=eq.1", key=ANON_KEY, token=AUTHENTICATED)
    assert gone.status == 204
    assert _names(conn) == ["secret"]
    # service_role has BYPASSRLS, as on Supabase.
    assert data(call(conn, "GET", "/rest/v1/scratch", "select=name")) == [{"name": "secret"}]


def test_a_unique_violation_is_409(scratch: Conn) -> None:
    call(scratch, "POST", "/rest/v1/scratch", "", {"id": 1, "name": "a"})
    dup = call(scratch, "POST", "/rest/v1/scratch", "", {"id": 2, "name": "a"})
    assert dup.status == 409
    assert error(dup) == {
        "code": "23505",
        "message": 'duplicate key value violates unique constraint "scratch_name_key"',
        "details": "Key (name)=(a) already exists.",
        "hint": None,
    }


def test_unknown_tables_and_columns_are_refused_before_any_sql(scratch: Conn) -> None:
    conn = scratch
    table = request(conn, "GET", "/rest/v1/scratches")
    assert isinstance(table, Answer) and table.status == 404
    assert error(table) == {
        "code": "PGRST205",
        "message": "Could not find the table 'public.scratches' in the schema cache",
        "details": None,
        "hint": "Perhaps you meant the table 'public.scratch'",
    }
    for query in ("select=id,nope", "nope=eq.1", "order=nope.desc"):
        refused = request(conn, "GET", "/rest/v1/scratch", query)
        assert isinstance(refused, Answer) and refused.status == 400, query
        assert error(refused) == {
            "code": "42703",
            "message": "column scratch.nope does not exist",
            "details": None,
            "hint": None,
        }
    body = request(conn, "POST", "/rest/v1/scratch", "", {"id": 1, "nope": 2})
    assert isinstance(body, Answer) and body.status == 400
    assert error(body)["code"] == "PGRST204"
    assert (
        error(body)["message"]
        == "Could not find the 'nope' column of 'scratch' in the schema cache"
    )
    bad_filter = error(request(conn, "GET", "/rest/v1/scratch", "id=equals.1"))
    assert bad_filter["code"] == "PGRST100"
    assert error(request(conn, "POST", "/rest/v1/scratch", "", b"{not json"))["code"] == "PGRST102"
    assert (
        error(request(conn, "GET", "/rest/v1/scratch", headers={"Accept": "text/csv"}))["code"]
        == "PGRST107"
    )
    strict = request(
        conn, "GET", "/rest/v1/scratch", headers={"Prefer": "handling=strict, fast=yes"}
    )
    assert error(strict)["code"] == "PGRST122"
    other_schema = request(
        conn, "GET", "/rest/v1/scratch", headers={"Accept-Profile": "threadsync"}
    )
    assert error(other_schema)["code"] == "PGRST106"


def _database_state(conn: Conn) -> dict[str, Any]:
    """The catalog of `public` (any DDL changes its fingerprint) and every table's row count."""
    tables = sorted(load_catalog(conn).tables)
    counts = {t: one(conn, f'SELECT count(*) AS n FROM public."{t}"')["n"] for t in tables}
    return {"catalog": load_catalog(conn).fingerprint, "counts": counts}


KEPT = b'[{"id":1,"name":"keep","n":0,"tags":null,"meta":null,"at":null}]'
INJECTIONS = [
    # (method, path, query, body, status, body of a 200): SQL in a name, or in a value
    ("GET", "/rest/v1/scratch;DROP TABLE public.threads", "", None, 404, None),
    ("GET", '/rest/v1/scratch"; DROP TABLE public.threads; --', "", None, 404, None),
    ("POST", "/rest/v1/rpc/claim_page(1);DROP TABLE public.threads;--", "", {}, 404, None),
    (
        "POST",
        "/rest/v1/rpc/claim_page",
        "",
        {"p_page_id": 1, 'x" := 1); DROP TABLE x; --': 1},
        404,
        None,
    ),
    (
        "GET",
        "/rest/v1/scratch",
        'select=id,"name\\"; DROP TABLE public.threads; --"',
        None,
        400,
        None,
    ),
    ("GET", "/rest/v1/scratch", 'select="x\\" FROM public.threads; --":id', None, 400, None),
    ("GET", "/rest/v1/scratch", "select=x%3Bdrop:id", None, 400, None),
    ("GET", "/rest/v1/scratch", '"id; DROP TABLE public.threads"=eq.1', None, 400, None),
    ("GET", "/rest/v1/scratch", "id=eq.1; DROP TABLE public.threads", None, 400, None),
    ("GET", "/rest/v1/scratch", "name=eq.x' OR '1'='1", None, 200, b"[]"),
    (
        "GET",
        "/rest/v1/scratch",
        'name=in.(a,"b\'); DROP TABLE public.threads; --")',
        None,
        200,
        b"[]",
    ),
    ("GET", "/rest/v1/scratch", "name=like.%25'; DROP TABLE public.threads; --", None, 200, b"[]"),
    ("GET", "/rest/v1/scratch", "order=id;DROP TABLE public.threads", None, 400, None),
    ("GET", "/rest/v1/scratch", "order=id.desc;DROP", None, 400, None),
    # A limit or offset that is no integer is ignored, as PostgREST ignores it.
    (
        "GET",
        "/rest/v1/scratch",
        "limit=1;DROP TABLE public.threads&offset=0 OR 1=1",
        None,
        200,
        KEPT,
    ),
    ("POST", "/rest/v1/scratch", 'columns="id","x\\"); DROP TABLE x; --"', [{"id": 9}], 400, None),
    (
        "POST",
        "/rest/v1/scratch",
        "on_conflict=id);DROP TABLE public.threads;--",
        {"id": 9},
        400,
        None,
    ),
    (
        "POST",
        "/rest/v1/scratch",
        "",
        {'name" text); DROP TABLE public.threads; --': "x"},
        400,
        None,
    ),
    (
        "PATCH",
        "/rest/v1/scratch",
        "id=eq.1",
        {"n = 0; DROP TABLE public.threads; --": 1},
        400,
        None,
    ),
    ("DELETE", "/rest/v1/scratch", "id=gt.0 OR 1=1", None, 400, None),
]


@pytest.mark.parametrize("method,path,query,body,status,answered", INJECTIONS)
def test_sql_in_names_is_refused_and_in_values_is_bound(
    scratch: Conn,
    method: str,
    path: str,
    query: str,
    body: Any,
    status: int,
    answered: bytes | None,
) -> None:
    conn = scratch
    conn.execute("INSERT INTO public.scratch (id, name) VALUES (1, 'keep')")
    before = _database_state(conn)
    reply = call(conn, method, path, query, body)
    assert _database_state(conn) == before
    assert reply.status == status, reply.body
    if answered is not None:
        assert reply.body == answered


def test_a_value_carrying_sql_is_stored_as_written(scratch: Conn) -> None:
    evil = "'); DROP TABLE public.threads; -- %s %(x)s"
    reply = call(scratch, "POST", "/rest/v1/scratch", "", {"id": 7, "name": evil, "tags": [evil]})
    assert reply.status == 201
    assert one(scratch, "SELECT name, tags FROM scratch") == {"name": evil, "tags": [evil]}
    found = call(
        scratch, "GET", "/rest/v1/scratch", "select=id&name=eq." + evil.replace("%", "%25")
    )
    assert data(found) == [{"id": 7}]


# --- catalog -----------------------------------------------------------------------------------


def test_the_catalog_is_read_once_per_fingerprint(conn: Conn) -> None:
    first = load_catalog(conn)
    assert load_catalog(conn) is first
    claim = first.functions["claim_page"][0]
    assert [(p.name, p.type, p.required) for p in claim.params] == [("p_page_id", "bigint", True)]
    assert claim.returns_set and claim.returns_composite and "claim_token" in claim.columns
    assert first.tables["sync_jobs"].pk == ("id",)
    assert first.tables["sync_page_queue"].column("status").type == "public.work_state"  # type: ignore[union-attr]
    conn.execute(f"SET ROLE {OWNER}")
    conn.execute("CREATE TABLE public.later (id int)")
    conn.execute("RESET ROLE")
    second = load_catalog(conn)
    assert second is not first and "later" in second.tables


@pytest.mark.parametrize(
    "sqlstate,status",
    [
        ("40001", 500),  # serialization failure: PostgREST does not retry, it answers 500
        ("40P01", 500),
        ("57014", 500),  # statement timeout
        ("57P01", 503),
        ("23503", 409),
        ("23502", 400),
        ("42883", 404),
        ("42P01", 404),
        ("22P02", 400),
        ("53300", 503),
        ("XX000", 500),
    ],
)
def test_sqlstates_map_to_postgrests_statuses(sqlstate: str, status: int) -> None:
    exc = psycopg.errors.lookup(sqlstate)("it failed")
    reply = answer_error(None, exc)
    assert reply.status == status
    assert error(reply)["code"] == sqlstate
    assert not reply.ok


@pytest.mark.parametrize("call", ["consuming input", "flush request", "sending query"])
def test_a_lost_connection_is_answered_alike_whichever_libpq_call_noticed_it(call: str) -> None:
    """PGRST000's details carry libpq's words, not psycopg's name for the call that noticed the
    closed socket: that name changes with timing, and the port's reply would differ on replay."""
    said = "server closed the connection unexpectedly"
    reply = answer_error(None, psycopg.OperationalError(f"{call} failed: {said}"))
    assert reply.status == 503
    assert error(reply) == {
        "code": "PGRST000",
        "message": "Database connection error.",
        "details": said,
        "hint": None,
    }

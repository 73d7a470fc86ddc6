"""Supabase, faithfully: the migrations folder, roles and rights, the PostgREST call path, pg_net's
delivery, the no-public-access check, and PostgreSQL 15."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import errors
from sqlhelp import Conn, at, one, rows

from harness.access import no_public_access, probe
from harness.checks import CheckInput
from harness.engine import ActorSpec, FaultPlan, RunConfig, run, run_actors
from harness.engine.deliverer import BATCH_SIZE, TAKE_SQL, Deliverer
from harness.engine.faults import BatchResend, BatchTimeout, CleanRestart, Early
from harness.fakeapi import generate_dataset
from harness.history import History
from harness.impl import load_pipeline
from harness.postgres import Server, TemplateDatabases, start_server
from harness.profiles import fault_plan
from harness.sql import harness_migrations
from harness.state import FinalState
from harness.supabase import OWNER, migrations
from threadsync.pipeline import Database, Pipeline
from threadsync.reference import MIGRATIONS, migrations_dir
from threadsync.reference import pipeline as reference

ROOT = Path(__file__).resolve().parents[1]
PG15_BIN = Path(os.environ.get("THREADSYNC_PG15_BIN", "/usr/lib/postgresql/15/bin"))
KEY = "harness-service-role-key"
FUNCTIONS_URL = "http://edge-functions.local/functions/v1"
PAGE, PROCESSOR = "sync-threads-page-worker", "sync-threads-processor"


# --- the project folder ------------------------------------------------------------------------


def test_the_reference_applies_exactly_the_supabase_migrations() -> None:
    folder = ROOT / "supabase" / "migrations"
    assert migrations_dir() == folder
    assert [p.name for p in MIGRATIONS] == sorted(p.name for p in folder.glob("*.sql"))
    assert all(re.fullmatch(r"\d{14}_[a-z_]+\.sql", p.name) for p in MIGRATIONS)
    # No second copy of the schema beside the handlers' named statements.
    assert sorted(p.name for p in (ROOT / "threadsync" / "sql").glob("*.sql")) == ["queries.sql"]
    assert (ROOT / "supabase" / "config.toml").is_file()


def test_the_built_wheel_carries_the_migrations_and_finds_them(tmp_path: Path) -> None:
    pytest.importorskip("hatchling", reason="hatchling is needed to build the wheel offline")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(ROOT),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "dist"),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = (tmp_path / "dist").glob("threadsync-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        shipped = sorted(
            n for n in zf.namelist() if n.startswith("threadsync/supabase_migrations/")
        )
        zf.extractall(tmp_path / "site")
    assert [Path(n).name for n in shipped] == [p.name for p in MIGRATIONS]
    found = subprocess.run(
        [sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
         "from threadsync.reference import MIGRATIONS; print(MIGRATIONS[0].parent)",
         str(tmp_path / "site")],
        check=True, capture_output=True, text=True, cwd=tmp_path, timeout=60,
    )  # fmt: skip
    assert Path(found.stdout.strip()) == tmp_path / "site" / "threadsync" / "supabase_migrations"


# --- rights: what the migrations leave on the database ------------------------------------------


def _functions(conn: Conn) -> list[dict[str, Any]]:
    return rows(
        conn,
        "SELECT n.nspname AS schema, p.proname AS name, p.prosecdef AS definer, p.proconfig,"
        " p.proacl::text[] AS acl FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
        " WHERE n.nspname IN ('public', 'threadsync') ORDER BY 1, 2",
    )


def test_every_function_has_a_fixed_search_path_and_definer_rights_only_with_a_reason(
    conn: Conn,
) -> None:
    found = _functions(conn)
    assert len(found) == 17
    assert all(f["proconfig"] == ['search_path=""'] for f in found), found
    definers = {f["name"] for f in found if f["definer"]}
    assert definers == {"claim_token", "call_function"}
    # Each SECURITY DEFINER in the migrations has a comment saying why, right above it.
    for path in MIGRATIONS:
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"CREATE OR REPLACE FUNCTION [^\n]*", text):
            body = text[match.start() : text.find("$$", match.start())]
            if "SECURITY DEFINER" in body:
                above = text[: match.start()].rsplit("\n\n", 1)[-1]
                assert "SECURITY DEFINER because" in above, (path.name, match.group())


def test_no_role_but_service_role_and_the_owner_may_execute_anything(conn: Conn) -> None:
    for f in _functions(conn):
        grantees = {entry.split("=", 1)[0] for entry in f["acl"]}
        assert grantees == {"service_role", OWNER}, f


def test_rls_is_on_for_every_public_table_with_no_policy(conn: Conn) -> None:
    tables = rows(
        conn,
        "SELECT relname, relrowsecurity FROM pg_class WHERE relnamespace = 'public'::regnamespace"
        " AND relkind = 'r' ORDER BY 1",
    )
    assert len(tables) == 5 and all(t["relrowsecurity"] for t in tables), tables
    assert rows(conn, "SELECT * FROM pg_policies WHERE schemaname = 'public'") == []


def _as(conn: Conn, role: str, sql: str, params: Any = None) -> list[dict[str, Any]]:
    """One statement in its own transaction as `role`, as PostgREST sends it."""
    with conn.transaction():
        conn.execute(f"SET LOCAL ROLE {role}")  # role names are this file's constants
        return rows(conn, sql, params)


RPCS = {
    "start_sync": ("SELECT * FROM public.start_sync(%s)", (3,)),
    "claim_page": ("SELECT * FROM public.claim_page(%s)", (1,)),
    "extend_page_lease": ("SELECT public.extend_page_lease(%s, %s, %s)", (1, None, 60)),
    "complete_page": ("SELECT * FROM public.complete_page(%s, %s, %s, %s)", (1, None, "[]", None)),
    "fail_page": ("SELECT * FROM public.fail_page(%s, %s, %s, %s)", (1, None, "x", None)),
    "claim_thread": ("SELECT * FROM public.claim_thread(%s)", (1,)),
    "extend_thread_lease": ("SELECT public.extend_thread_lease(%s, %s, %s)", (1, None, 60)),
    "complete_thread": ("SELECT * FROM public.complete_thread(%s, %s, %s)", (1, None, "{}")),
    "fail_thread": ("SELECT * FROM public.fail_thread(%s, %s, %s, %s)", (1, None, "x", None)),
    "sweep": ("SELECT * FROM public.sweep()", None),
}


def check_rpcs(conn: Conn) -> None:
    """Every RPC works as service_role (a whole page and thread go through) and is refused to
    anon and authenticated; the tables refuse them too."""
    for role in ("anon", "authenticated"):
        for name, (sql, params) in RPCS.items():
            with pytest.raises(errors.InsufficientPrivilege, match=f"function {name}"):
                _as(conn, role, sql, params)
        for table in ("threads", "sync_page_queue"):
            with pytest.raises(errors.InsufficientPrivilege):
                _as(conn, role, f"SELECT * FROM public.{table}")
    at(conn, 0)
    s = "service_role"
    job = _as(conn, s, *RPCS["start_sync"])[0]
    claim = _as(conn, s, "SELECT * FROM public.claim_page(%s)", (1,))[0]
    assert claim["claimed"] and claim["job_id"] == job["id"]
    token = claim["claim_token"]
    assert _as(conn, s, "SELECT public.extend_page_lease(%s, %s, 90) AS ok", (1, token))[0]["ok"]
    threads = json.dumps([{"id": "t1", "subject": "s", "updated_at": "2026-01-01T00:00:00Z"}])
    done = _as(conn, s, *RPCS["complete_page"][:1], (1, token, threads, None))[0]
    assert done["completed"] and done["queued"] == 1
    entry = _as(conn, s, "SELECT * FROM public.claim_thread(%s)", (1,))[0]
    assert entry["claimed"]
    failed = _as(
        conn, s, "SELECT * FROM public.fail_thread(1, %s, 'x', NULL)", (entry["claim_token"],)
    )
    assert failed[0]["recorded"]
    at(conn, 100_000)
    assert _as(conn, s, *RPCS["sweep"])[0]["threads_emitted"] == 1
    entry = _as(conn, s, "SELECT * FROM public.claim_thread(%s)", (1,))[0]
    assert _as(
        conn, s, "SELECT public.extend_thread_lease(1, %s, 30) AS ok", (entry["claim_token"],)
    )
    result = {"external_id": "t1", "subject": "s", "participants": [], "message_count": 1,
              "content_hash": "h"}  # fmt: skip
    assert _as(conn, s, *RPCS["complete_thread"][:1], (1, entry["claim_token"], json.dumps(result)))
    assert one(conn, "SELECT status::text FROM public.sync_jobs")["status"] == "completed"
    # fail_page, on a page of a second job.
    _as(conn, s, *RPCS["start_sync"])
    page = _as(conn, s, "SELECT * FROM public.claim_page(2)")[0]
    assert _as(conn, s, *RPCS["fail_page"][:1], (2, page["claim_token"], "x", None))[0]["recorded"]


def test_every_rpc_works_as_service_role_and_is_refused_to_anon(conn: Conn) -> None:
    check_rpcs(conn)


def test_claim_tokens_are_keyed_with_a_secret_no_caller_can_read(conn: Conn) -> None:
    sql = "SELECT threadsync.claim_token('page', 1, 1) AS t"
    fixed = _as(conn, "service_role", sql)[0]["t"]
    assert fixed != one(conn, "SELECT md5('page:1:1')::uuid AS t")["t"]
    with pytest.raises(errors.InsufficientPrivilege):
        _as(conn, "service_role", "SELECT * FROM threadsync.claim_secret")
    conn.execute("UPDATE threadsync.claim_secret SET secret = 'another key'")
    assert _as(conn, "service_role", sql)[0]["t"] != fixed


def test_a_fresh_deployment_gets_a_random_claim_key(pg_server: Server) -> None:
    steps = [s for s in migrations(reference) if s[0] != "harness replay key"]
    keys = set()
    with (
        TemplateDatabases(pg_server, steps, name_hint="key") as a,
        TemplateDatabases(pg_server, steps, name_hint="key") as b,
    ):
        for tpl in (a, b):
            with psycopg.connect(pg_server.dsn(tpl.template_name), autocommit=True) as c:
                keys.add(one(c, "SELECT secret FROM threadsync.claim_secret")["secret"])
    assert len(keys) == 2 and all(len(k) == 72 for k in keys)


# --- one place for the functions URL and key: Vault --------------------------------------------


def _queued(conn: Conn) -> list[dict[str, Any]]:
    return rows(conn, "SELECT url, headers, timeout_milliseconds FROM net.http_request_queue")


def test_triggers_and_the_sweeper_send_the_vault_url_and_key(conn: Conn) -> None:
    at(conn, 0)
    _as(conn, "service_role", *RPCS["start_sync"])
    at(conn, 3600)
    assert _as(conn, OWNER, *RPCS["sweep"])[0]["pages_emitted"] == 1  # the cron job's role
    sent = _queued(conn)
    assert len(sent) == 2
    for request in sent:
        assert request["url"] == f"{FUNCTIONS_URL}/{PAGE}"
        assert request["headers"] == {"Content-Type": "application/json",
                                      "Authorization": f"Bearer {KEY}"}  # fmt: skip
    conn.execute("UPDATE vault.secrets SET secret = 'https://abc.supabase.co/functions/v1/'"
                 " WHERE name = 'threadsync_functions_url'")  # fmt: skip
    _as(conn, "service_role", *RPCS["start_sync"])
    assert _queued(conn)[-1]["url"] == f"https://abc.supabase.co/functions/v1/{PAGE}"


def test_a_missing_vault_secret_fails_the_insert_loudly(conn: Conn) -> None:
    conn.execute("DELETE FROM vault.secrets WHERE name = 'threadsync_service_role_key'")
    with pytest.raises(errors.RaiseException, match="threadsync_service_role_key is not set"):
        _as(conn, "service_role", *RPCS["start_sync"])
    assert one(conn, "SELECT count(*) AS n FROM public.sync_jobs")["n"] == 0


def test_net_http_post_refuses_a_content_type_other_than_json(conn: Conn) -> None:
    with pytest.raises(errors.RaiseException, match="Content-Type header must be"):
        conn.execute(
            "SELECT net.http_post('http://x/y', '{}'::jsonb, '{}'::jsonb,"
            ' \'{"content-type": "text/plain"}\'::jsonb)'
        )
    conn.execute("SELECT net.http_post('http://x/y', '{}'::jsonb, '{}'::jsonb, '{}'::jsonb)")
    assert _queued(conn)[0]["headers"] == {"Content-Type": "application/json"}


def test_the_sweeper_is_scheduled_with_pg_cron_as_the_owner(conn: Conn) -> None:
    job = one(conn, "SELECT jobname, schedule, command, username FROM cron.job")
    assert job == {"jobname": "threadsync-sweep", "schedule": "* * * * *",
                   "command": "SELECT * FROM public.sweep()", "username": OWNER}  # fmt: skip


def test_roles_are_supabases_and_a_second_template_changes_nothing(pg_server: Server) -> None:
    with (
        TemplateDatabases(pg_server, migrations(reference), name_hint="again") as tpl,
        psycopg.connect(pg_server.dsn(tpl.template_name), autocommit=True) as c,
    ):
        found = {
            r["rolname"]: r
            for r in rows(c, "SELECT rolname, rolsuper, rolbypassrls, rolcanlogin FROM pg_roles")
        }
        owner = one(c, "SELECT nspowner::regrole::text AS o FROM pg_namespace"
                           " WHERE nspname = 'threadsync'")  # fmt: skip
    assert found["service_role"]["rolbypassrls"] and not found["service_role"]["rolcanlogin"]
    assert not found["anon"]["rolbypassrls"] and not found["authenticated"]["rolbypassrls"]
    assert found["authenticator"]["rolcanlogin"]
    assert not found[OWNER]["rolsuper"] and owner["o"] == OWNER


# --- the call path --------------------------------------------------------------------------------

WHO = (
    "SELECT current_user AS who, current_setting('request.jwt.claims', true) AS claims,"
    " current_setting('statement_timeout') AS st, current_setting('lock_timeout') AS lt,"
    " threadsync.now()::text AS now"
)


def test_handler_statements_go_the_postgrest_way(ref_dsn: str) -> None:
    def who(db: Database) -> object:
        return db.query(WHO)[0]

    def fails(db: Database) -> object:
        with pytest.raises(errors.InsufficientPrivilege):
            db.query("SELECT * FROM threadsync.claim_secret")
        return db.query("SELECT current_user AS who")[0]  # the failed one was rolled back

    result = run_actors(
        ref_dsn,
        [ActorSpec("w1", who, role="page_worker"), ActorSpec("s1", who, role="sweeper"),
         ActorSpec("p1", fails, role="processor"), ActorSpec("x1", who)],
    )  # fmt: skip
    replies = {
        e.actor: e.detail.get("body", {}).get("value") for e in result.history.by_kind("reply")
    }
    assert replies["w1"]["who"] == "service_role"
    assert json.loads(replies["w1"]["claims"]) == {"role": "service_role"}
    assert (replies["w1"]["st"], replies["w1"]["lt"]) == ("8s", "8s")
    assert replies["w1"]["now"].startswith("2026-01-01 00:00:00")  # the virtual clock
    assert replies["s1"]["who"] == OWNER  # pg_cron's job runs as the role that scheduled it
    assert replies["p1"]["who"] == "service_role"
    assert replies["x1"]["who"] == "postgres"  # an ad-hoc actor keeps the session's rights
    # Still one scheduler step per request.
    statements = [e for e in result.history.by_kind("statement") if e.actor == "w1"]
    assert len(statements) == 1 and statements[0].detail["sql"] == WHO


# --- delivery as pg_net and the Edge runtime do it ---------------------------------------------


@pytest.fixture(scope="module")
def own_server() -> Iterator[Server]:
    # A server of our own: one test restarts it.
    with start_server("embedded") as s:
        yield s


@pytest.fixture(scope="module")
def harness_tpl(own_server: Server) -> Iterator[TemplateDatabases]:
    with TemplateDatabases(own_server, harness_migrations(reference), name_hint="sb") as t:
        yield t


def _engine_run(
    server: Server, tpl: TemplateDatabases, plan: FaultPlan, pipeline: Pipeline = reference
) -> tuple[Any, list[dict[str, Any]], tuple[int, str]]:
    name = tpl.fresh("sb")
    try:
        config = RunConfig(pipeline, dsn=server.dsn(name), server=server, faults=plan)
        config.threads, config.page_size = 8, 4
        result = run(config)
        with psycopg.connect(server.dsn(name), autocommit=True) as c:
            responses = rows(c, "SELECT * FROM net._http_response ORDER BY id")
            state = c.execute(
                "SELECT (SELECT count(*) FROM threads), (SELECT status::text FROM sync_jobs)"
            ).fetchone()
        assert state is not None
        return result, responses, (int(state[0]), str(state[1]))
    finally:
        tpl.drop(name)


def test_every_delivery_is_answered_in_http_response(
    own_server: Server, harness_tpl: TemplateDatabases
) -> None:
    result, responses, state = _engine_run(own_server, harness_tpl, FaultPlan())
    assert state == (8, "completed") and result.quiesced
    delivered = [e for e in result.history.by_kind("delivery") if e.detail["outcome"] == "queued"]
    assert len(responses) == len(delivered)
    assert {r["status_code"] for r in responses} == {200}
    assert all(json.loads(r["content"])["outcome"] in ("done", "noop") for r in responses)


def test_a_webhook_without_the_service_key_gets_401_and_the_sweeper_recovers(
    own_server: Server, tmp_path: Path
) -> None:
    # The page webhook as the dashboard writes it when "Add auth header" is left unchecked.
    noauth = tmp_path / "noauth.sql"
    noauth.write_text(
        'DROP TRIGGER "sync-threads-page-worker" ON public.sync_page_queue;\n'
        'CREATE TRIGGER "sync-threads-page-worker" AFTER INSERT ON public.sync_page_queue\n'
        "FOR EACH ROW EXECUTE FUNCTION supabase_functions.http_request(\n"
        f"'{FUNCTIONS_URL}/{PAGE}', 'POST', '{{\"Content-Type\":\"application/json\"}}',"
        " '{}', '1000');\n",
        encoding="utf-8",
    )
    pipeline = dataclasses.replace(reference, migrations=(*reference.migrations, noauth))
    with TemplateDatabases(own_server, harness_migrations(pipeline), name_hint="sb") as tpl:
        result, responses, state = _engine_run(own_server, tpl, FaultPlan(), pipeline)
    deliveries = result.history.by_kind("delivery")
    refused = [e for e in deliveries if e.detail["outcome"] == "unauthorized"]
    assert refused and all(e.detail["function"] == PAGE for e in refused)
    assert {r["status_code"] for r in responses if r["id"] == 1} == {401}
    # No page worker ran for a refused request; the sweeper's re-emit (with the key) did the work.
    first_page = [
        e for e in deliveries if (e.detail["function"], e.detail["record_id"]) == (PAGE, 1)
    ]
    assert [e.detail["outcome"] for e in first_page] == ["unauthorized", "queued"]
    assert state == (8, "completed")


def test_refusals_before_any_function_runs() -> None:
    d = Deliverer(None, reference, FaultPlan(), None)  # type: ignore[arg-type]
    d.project = (FUNCTIONS_URL, KEY)
    ok = {"Content-Type": "application/json", "authorization": f"Bearer {KEY}"}

    def refusal(url: str, headers: dict[str, str]) -> str | None:
        found = d._refusal({"url": url, "headers": headers})
        return None if found is None else found[0]

    assert refusal(f"{FUNCTIONS_URL}/{PAGE}", ok) is None
    assert refusal(f"{FUNCTIONS_URL}/{PAGE}", {}) == "unauthorized"
    assert (
        refusal(f"{FUNCTIONS_URL}/{PAGE}", {"Authorization": "Bearer anon-key"}) == "unauthorized"
    )
    assert refusal(f"http://elsewhere.local/functions/v1/{PAGE}", ok) == "connection_error"
    assert refusal(f"{FUNCTIONS_URL}/no-such-function", ok) == "not_found"


def test_the_worker_takes_batches_of_200_lowest_id_first(conn: Conn) -> None:
    conn.execute(
        "SELECT net.http_post('http://x/y', jsonb_build_object('n', i))"
        " FROM generate_series(1, 450) i"
    )
    taken = [r["id"] for r in rows(conn, TAKE_SQL.decode(), {"batch_size": BATCH_SIZE})]
    assert taken == list(range(1, 201))
    assert one(conn, "SELECT min(id) AS m FROM net.http_request_queue")["m"] == 201


def test_a_batch_resent_after_a_worker_error_reaches_its_function_twice(
    own_server: Server, harness_tpl: TemplateDatabases
) -> None:
    result, _, state = _engine_run(own_server, harness_tpl, FaultPlan((BatchResend(batch=1),)))
    resent = [e for e in result.history.by_kind("fault") if e.detail["fault"] == "batch_resend"]
    # The second batch: completing page 1 queued its 4 threads and page 2 in one transaction.
    assert sorted(e.detail["function"] for e in resent) == [PAGE] + [PROCESSOR] * 4
    copies = [e for e in result.history.by_kind("invoke") if e.role == "processor"]
    assert len(copies) >= 8 + 4
    assert state == (8, "completed")


def test_a_batch_timing_out_together_is_recorded_while_its_functions_run_on(
    own_server: Server, harness_tpl: TemplateDatabases
) -> None:
    result, responses, state = _engine_run(
        own_server, harness_tpl, FaultPlan((BatchTimeout(batch=1),))
    )
    timed_out = [
        e for e in result.history.by_kind("reply") if e.detail.get("error") == "caller timed out"
    ]
    assert len(timed_out) == 5  # page 1's 4 threads and page 2, queued together
    assert sum(1 for r in responses if r["timed_out"]) == 5
    assert all("Timeout of 5000 ms" in r["error_msg"] for r in responses if r["timed_out"])
    assert state == (8, "completed")


def test_a_clean_restart_keeps_the_queue_and_a_crash_loses_it(
    own_server: Server, harness_tpl: TemplateDatabases
) -> None:
    name = harness_tpl.fresh("restart")
    try:
        dsn = own_server.dsn(name)
        with psycopg.connect(dsn, autocommit=True) as c:
            c.execute("SELECT net.http_post('http://x/y', '{}'::jsonb)")
        kept = []
        for immediate in (False, True):
            own_server.restart(immediate=immediate)
            with psycopg.connect(dsn, autocommit=True) as c:
                kept.append(one(c, "SELECT count(*) AS n FROM net.http_request_queue")["n"])
        assert kept == [1, 0]
    finally:
        harness_tpl.drop(name)
    result, _, state = _engine_run(
        own_server, harness_tpl, FaultPlan((CleanRestart(after_delivery=2),))
    )
    restarts = [e for e in result.history.by_kind("fault") if e.detail["fault"] == "restart_server"]
    assert [e.detail["immediate"] for e in restarts] == [False]
    assert state == (8, "completed")


def test_the_supabase_profile_draws_no_early_delivery_and_some_batch_faults() -> None:
    rules = [
        r for seed in range(20) for r in fault_plan("supabase", seed=seed, threads=40, page_size=10)
    ]
    assert not any(isinstance(r, Early) for r in rules)
    assert any(isinstance(r, BatchResend) for r in rules)
    assert any(isinstance(r, BatchTimeout) for r in rules)


# --- no-public-access -------------------------------------------------------------------------


def _check(access: tuple[Any, ...]) -> Any:
    return no_public_access(
        CheckInput(History(()), FinalState(extra={"access": access}), generate_dataset(1, 1), 1)
    )


def test_no_public_access_passes_the_reference_and_fails_public_rls_off(
    conn: Conn, pg_server: Server
) -> None:
    _as(conn, "service_role", *RPCS["start_sync"])
    assert probe(conn) == ()
    assert _check(probe(conn)) is None
    bad = load_pipeline("harness.mutants.public_rls_off:pipeline")
    with (
        TemplateDatabases(pg_server, migrations(bad), name_hint="rls") as tpl,
        psycopg.connect(pg_server.dsn(tpl.template_name), autocommit=True) as c,
    ):
        _as(c, "service_role", *RPCS["start_sync"])
        found = probe(c)
        left = one(c, "SELECT count(*) AS n FROM public.sync_jobs")["n"]
    seen = {(a["role"], a["action"], a["object"]) for a in found}
    for role in ("anon", "authenticated"):
        assert (role, "SELECT", "public.sync_jobs") in seen
        assert (role, "INSERT", "public.threads") in seen
        assert (role, "DELETE", "public.sync_page_queue") in seen
        assert (role, "EXECUTE", "public.sweep()") in seen
        assert (role, "EXECUTE", "threadsync.claim_token(text,bigint,integer)") not in seen
    assert left == 1  # the probe's DELETEs were rolled back
    violation = _check(found)
    assert violation.check == "no-public-access"
    assert any(row.startswith("anon can ") for row in violation.rows)


# --- PostgreSQL 15 ------------------------------------------------------------------------------


@pytest.mark.pg15
def test_the_migrations_on_postgresql_15_as_a_non_superuser_owner() -> None:
    if not (PG15_BIN / "postgres").exists():
        pytest.skip(f"no PostgreSQL 15 server binaries at {PG15_BIN} (set THREADSYNC_PG15_BIN)")
    with (
        start_server("embedded", pg_bin=str(PG15_BIN)) as server,
        TemplateDatabases(server, migrations(reference), name_hint="pg15") as tpl,
    ):
        name = tpl.fresh("pg15")
        with psycopg.connect(server.dsn(name), autocommit=True) as c:
            version = one(c, "SELECT current_setting('server_version_num')::int AS v")["v"]
            assert 150000 <= version < 160000
            owner = one(c, "SELECT rolsuper FROM pg_roles WHERE rolname = %s", (OWNER,))
            assert owner["rolsuper"] is False
            check_rpcs(c)
            assert probe(c) == ()
        tpl.drop(name)

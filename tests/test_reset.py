"""A database reset in place is indistinguishable from a fresh clone of the template."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from harness.engine import reuse
from harness.engine.deliverer import Deliverer
from harness.engine.reuse import ReusableDatabase, take_snapshot
from harness.postgres import Server, TemplateDatabases
from harness.replay import Workbench, run_scenario
from harness.scenario import Scenario, discover, load
from harness.state import FinalState

SCENARIOS = Path(__file__).parent.parent / "scenarios"
SAVED = discover(SCENARIOS)


@pytest.fixture(scope="module")
def bench(pg_server: Server) -> Iterator[Workbench]:
    b = Workbench(pg_server)
    yield b
    b.close()


def _history(verdict: Any) -> bytes:
    return json.dumps(verdict.result.history.comparable(), sort_keys=True).encode()


def _first_difference(a: Any, b: Any) -> str:
    """Where two runs' comparable histories part, for the failure message (a rare difference
    under load, seen twice in CI, showed only as truncated bytes)."""
    events_a, events_b = a.result.history.comparable(), b.result.history.comparable()
    for i, (x, y) in enumerate(zip(events_a, events_b, strict=False)):
        if x != y:
            return f"event {i}: {x} != {y}"
    return f"{len(events_a)} events != {len(events_b)}"


def _state(state: FinalState) -> dict[str, Any]:
    # Transaction ids are the cluster's, not the database's: no two runs share them. And when
    # one commit releases several waiters, they race to the server, so the order their effects
    # are logged and committed in (ids, commit_seq) may differ while the history, which records
    # them in the order they blocked, does not: the effects are compared as a multiset.
    out: dict[str, Any] = {
        table: [{k: v for k, v in row.items() if k != "txid"} for row in rows]
        for table, rows in state.to_dict().items()
    }
    out["effects"] = sorted(
        json.dumps(
            {k: v for k, v in row.items() if k not in ("id", "txid", "commit_seq")},
            sort_keys=True,
        )
        for row in state.to_dict()["effects"]
    )
    return out


def test_every_saved_scenario_is_covered() -> None:
    assert len(SAVED) >= 30, f"expected the saved scenarios under {SCENARIOS}, found {len(SAVED)}"


@pytest.mark.parametrize("path", SAVED, ids=[f"{p.parent.name}/{p.stem}" for p in SAVED])
def test_reset_database_replays_like_a_fresh_clone(bench: Workbench, path: Path) -> None:
    scenario: Scenario = load(path)
    db = bench.database(scenario.impl)
    if not db.used:
        run_scenario(bench, scenario)  # so the run below is on a used database, reset
    db.wait()  # the reset a run starts behind itself (ReusableDatabase.release) is done
    resets, clones = db.resets, db.clones
    assert resets >= 1, f"the database was never reset: {db.refusals}"
    reused = run_scenario(bench, scenario)
    db.wait()
    assert (db.resets, db.clones) == (resets + 1, clones), f"not reset: {db.refusals}"
    cloned = run_scenario(bench, scenario, fresh_clone=True)
    assert _history(reused) == _history(cloned), _first_difference(reused, cloned)
    assert _state(reused.state) == _state(cloned.state)
    assert reused.violated == cloned.violated


@pytest.mark.parametrize("path", SAVED, ids=[f"{p.parent.name}/{p.stem}" for p in SAVED])
def test_reading_the_queue_only_after_a_commit_changes_no_history(
    bench: Workbench, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deliverer skips its read of pg_net's queue when no step committed since the last one;
    every saved scenario gives the history it gives with a read before every choice."""
    scenario: Scenario = load(path)
    monkeypatch.setattr(Deliverer, "read_only_after_commits", False)
    always = run_scenario(bench, scenario)
    monkeypatch.setattr(Deliverer, "read_only_after_commits", True)
    after_commits = run_scenario(bench, scenario)
    assert _history(after_commits) == _history(always), _first_difference(after_commits, always)
    assert after_commits.violated == always.violated
    was, now = always.result.stats, after_commits.result.stats
    assert was.queue_reads_skipped == 0
    # The same polls; only the reads nothing could have added to are left out.
    assert now.queue_reads + now.queue_reads_skipped == was.queue_reads
    assert now.queue_reads <= was.queue_reads


def _messy_run(dsn: str) -> None:
    """What a run leaves behind: rows everywhere, sequences advanced, queued requests, settings."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(b"SELECT set_config('threadsync.now', '2031-05-05 00:00:00+00', false)")
        conn.execute(b"UPDATE threadsync.settings SET max_attempts = 9")
        conn.execute(b"INSERT INTO public.sync_jobs (page_size, status) VALUES (7, 'running')")
        conn.execute(b"SELECT net.http_post('http://x/functions/v1/anything', '{}'::jsonb)")
        conn.execute(b"SELECT nextval('net.http_request_queue_id_seq') FROM generate_series(1, 5)")


def _contents(dsn: str) -> Any:
    with psycopg.connect(dsn, autocommit=True) as conn:
        snap = take_snapshot(conn)
    assert snap is not None
    return snap


# behind: the reset starts as the run ends (release, as run_scenario does) and checkout waits.
@pytest.mark.parametrize("behind", [False, True], ids=["at-checkout", "behind-the-run"])
def test_reset_restores_rows_sequences_queue_and_settings(
    pg_server: Server, reference_template: TemplateDatabases, behind: bool
) -> None:
    db = ReusableDatabase(pg_server, reference_template, hint="reset")
    fresh = reference_template.fresh("reset")
    try:
        dsn = db.checkout()
        expected = _contents(pg_server.dsn(fresh))
        assert _contents(dsn) == expected
        _messy_run(dsn)
        assert _contents(dsn) != expected, "the messy run changed nothing; the test is void"
        if behind:
            db.release()
            assert db._pending is not None, "release started no reset"
        assert db.checkout() == dsn
        assert db.resets == 1 and db.clones == 1, db.refusals
        assert _contents(dsn) == expected
        with psycopg.connect(dsn, autocommit=True) as conn:
            ids = conn.execute(
                b"SELECT net.http_post('http://x/y', '{}'::jsonb), "
                b"(SELECT id FROM public.sync_jobs ORDER BY id LIMIT 1)"
            ).fetchone()
        with psycopg.connect(pg_server.dsn(fresh), autocommit=True) as conn:
            fresh_ids = conn.execute(
                b"SELECT net.http_post('http://x/y', '{}'::jsonb), "
                b"(SELECT id FROM public.sync_jobs ORDER BY id LIMIT 1)"
            ).fetchone()
        assert ids == fresh_ids
    finally:
        db.close()
        reference_template.drop(fresh)


@pytest.mark.parametrize("behind", [False, True], ids=["at-checkout", "behind-the-run"])
def test_a_pipeline_that_changes_its_schema_gets_a_new_clone(
    pg_server: Server, reference_template: TemplateDatabases, behind: bool
) -> None:
    db = ReusableDatabase(pg_server, reference_template, hint="reset")
    try:
        dsn = db.checkout()
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(b"ALTER TABLE public.sync_jobs ADD COLUMN added_at_run_time int")
        if behind:
            db.release()
        new_dsn = db.checkout()
        assert db.clones == 2 and db.resets == 0
        assert db.refusals == ["the schema changed during the run"]
        assert new_dsn != dsn
        with psycopg.connect(new_dsn, autocommit=True) as conn:
            row = conn.execute(
                b"SELECT count(*) FROM information_schema.columns "
                b"WHERE column_name = 'added_at_run_time'"
            ).fetchone()
        assert row == (0,)
    finally:
        db.close()


# Each changes the catalogs a different way: a row deleted only, a row updated, a row added to a
# small catalog; the schema change is noticed after earlier resets as well as after the clone.
SCHEMA_CHANGES = {
    "drop-trigger": b"DROP TRIGGER {trigger} ON {table}",
    "grant": b"GRANT SELECT ON public.sync_jobs TO PUBLIC",
    "replace-function": b"CREATE OR REPLACE FUNCTION public.added_at_run_time() RETURNS int "
    b"LANGUAGE sql AS 'SELECT 1'",
    "create-type": b"CREATE TYPE public.added_at_run_time AS ENUM ('a')",
}


@pytest.mark.parametrize("change", sorted(SCHEMA_CHANGES))
def test_a_schema_change_after_resets_is_noticed(
    pg_server: Server,
    reference_template: TemplateDatabases,
    change: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The reset fingerprints the schema only when the catalogs' cheap version changed: a run
    that changed no schema costs no fingerprint, and every kind of change is still refused."""
    fingerprints = []
    real = reuse._fingerprint

    def counted(conn: psycopg.Connection[Any]) -> str:
        fingerprints.append(1)
        return real(conn)

    monkeypatch.setattr(reuse, "_fingerprint", counted)
    db = ReusableDatabase(pg_server, reference_template, hint="reset")
    try:
        dsn = db.checkout()
        for _ in range(2):
            _messy_run(dsn)
            assert db.checkout() == dsn
        assert db.resets == 2 and db.clones == 1, db.refusals
        assert db.catalog is not None
        assert len(fingerprints) == 1, "only the snapshot's own fingerprint was expected"
        with psycopg.connect(dsn, autocommit=True) as conn:
            trigger = conn.execute(
                b"SELECT format('%I', t.tgname), t.tgrelid::regclass::text FROM pg_trigger t "
                b"JOIN pg_class c ON c.oid = t.tgrelid "
                b"WHERE NOT t.tgisinternal AND c.relnamespace = 'public'::regnamespace "
                b"ORDER BY 1, 2 LIMIT 1"
            ).fetchone()
            assert trigger is not None, "the reference has no trigger of its own to drop"
            statement = SCHEMA_CHANGES[change].decode().format(trigger=trigger[0], table=trigger[1])
            conn.execute(statement.encode())
        new_dsn = db.checkout()
        assert db.refusals == ["the schema changed during the run"]
        assert db.clones == 2 and new_dsn != dsn
    finally:
        db.close()


def test_a_backend_still_out_means_a_new_clone(
    pg_server: Server, reference_template: TemplateDatabases
) -> None:
    db = ReusableDatabase(pg_server, reference_template, hint="reset")
    db.checkout()
    assert db.pool is not None
    stuck = db.pool.acquire()  # an actor that never gave its backend back
    try:
        stuck.execute(b"BEGIN")
        stuck.execute(b"LOCK TABLE public.sync_jobs")
        db.checkout()
        assert db.clones == 2 and db.resets == 0
        assert "not given back" in db.refusals[0]
    finally:
        db.close()
        stuck.pgconn.finish()  # its backend went with the dropped database

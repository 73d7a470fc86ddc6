"""Inputs the model draws beyond a tidy source: threads without `updated_at`, threads listed twice,
a Vault holding other secrets; each is drawn, saved and replayed, and its check has teeth."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from hypothesis import given, settings

from harness.explore.strategies import scenarios
from harness.fakeapi import REPEAT_GAP, FakeThreadsAPI, Quirks, generate_dataset, relist, undate
from harness.postgres import Server
from harness.replay import Workbench, run_scenario
from harness.resync import Resync, versions
from harness.scenario import Scenario, ScenarioError, discover, from_dict, load

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench(pg_server: Server) -> Iterator[Workbench]:
    b = Workbench(pg_server)
    yield b
    b.close()


# --- the source ----------------------------------------------------------------------------------


def test_undated_threads_lose_only_their_updated_at() -> None:
    plain = generate_dataset(2, 8)
    stripped = undate(plain, 3)
    missing = [t for t in stripped.threads if "updated_at" not in t]
    assert len(missing) == 3
    for before, after in zip(plain.threads, stripped.threads, strict=True):
        assert {k: v for k, v in before.items() if k != "updated_at"} == {
            k: v for k, v in after.items() if k != "updated_at"
        }
    assert undate(plain, 0) is plain


def test_a_repeated_thread_comes_back_unchanged_within_the_gap() -> None:
    plain = generate_dataset(1, 10)
    listed = relist(plain, 2, "1:0")
    ids = [t["id"] for t in listed.threads]
    assert len(ids) == 12 and len(set(ids)) == 10
    for tid in {i for i in ids if ids.count(i) == 2}:
        first, again = (n for n, i in enumerate(ids) if i == tid)
        assert 1 <= again - first <= REPEAT_GAP + 2  # later inserts may push it on
        assert listed.threads[first] == listed.threads[again]
    assert relist(plain, 0, "x") is plain


def test_the_api_serves_a_repeated_thread_on_two_pages_and_reads_it_once() -> None:
    (source,) = versions(1, 10, (), Quirks(repeats=2))
    api = FakeThreadsAPI(source, versions=(source,))
    served: list[str] = []
    cursor = None
    while True:
        page = api.fetch_page(cursor, 4)
        served += [t["id"] for t in page.threads]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert served == [t["id"] for t in source.threads]
    assert len(served) == 12 and len(set(served)) == 10
    assert api.fetch_thread("thr_00006")["id"] == "thr_00006"


def test_further_syncs_date_undated_threads_and_undate_dated_ones() -> None:
    syncs = (Resync(at=90.0, seed=0, updated=3), Resync(at=180.0, seed=0, updated=2))
    v0, v1, v2 = versions(0, 3, syncs, Quirks(undated=1))
    dated = [[t.get("updated_at") is not None for t in v.threads] for v in (v0, v1, v2)]
    assert dated[0].count(False) == 1
    # Every thread was updated by the first further sync: each undated one got a date.
    assert all(dated[1][i] for i, d in enumerate(dated[0]) if not d)
    assert any(d0 and not d1 for d0, d1 in zip(dated[0], dated[1], strict=True))
    # Without quirks every version of every thread is dated, as before quirks existed.
    for v in versions(0, 3, syncs):
        assert all(t.get("updated_at") for t in v.threads)


# --- scenario files ---------------------------------------------------------------------------


def test_every_saved_dataset_round_trips_and_has_no_quirk_it_does_not_name() -> None:
    for path in discover(ROOT / "scenarios"):
        raw = json.loads(path.read_text(encoding="utf-8"))
        scenario = load(path)
        assert scenario.to_dict()["dataset"] == raw["dataset"], path
        for quirk in ("undated", "repeats"):
            assert (quirk in raw["dataset"]) == bool(getattr(scenario.dataset, quirk)), path


@pytest.mark.parametrize("quirk", ["undated", "repeats"])
def test_a_quirk_beyond_the_threads_is_refused_in_one_line(quirk: str) -> None:
    data = json.loads((ROOT / "scenarios/reference/source-repeats-threads.json").read_text())
    data["dataset"][quirk] = 11
    with pytest.raises(ScenarioError) as e:
        from_dict(data, "x.json")
    assert str(e.value) == f"x.json: dataset.{quirk} must be in 0..10, got 11"
    data["dataset"][quirk] = "2"
    with pytest.raises(ScenarioError, match=f"field '{quirk}' must be int"):
        from_dict(data, "x.json")


def test_exploration_draws_quirks_and_few_attempts_often() -> None:
    drawn: list[Scenario] = []

    @settings(max_examples=300, deadline=None, database=None, derandomize=True)
    @given(scenarios())
    def collect(scenario: Scenario) -> None:
        drawn.append(scenario)

    collect()
    assert sum(s.dataset.undated > 0 for s in drawn) >= 10
    assert sum(s.dataset.repeats > 0 for s in drawn) >= 10
    # An undated thread matters most when a later sync rewrites it (a stale undated write).
    assert sum(s.dataset.undated > 0 and bool(s.syncs) for s in drawn) >= 3
    few = sum(s.settings.get("max_attempts") in (1, 2, 3) for s in drawn)
    assert few >= len(drawn) // 4, (few, len(drawn))


# --- the Vault ----------------------------------------------------------------------------------


def test_the_vault_holds_other_secrets_and_ours_not_first(conn: psycopg.Connection[object]) -> None:
    names = [r[0] for r in conn.execute("SELECT name FROM vault.secrets ORDER BY ctid").fetchall()]
    assert set(names) > {"threadsync_functions_url", "threadsync_service_role_key"}
    # A read that forgot its `WHERE name = ...` would find another feature's secret.
    assert not str(names[0]).startswith("threadsync_")
    first = conn.execute("SELECT decrypted_secret FROM vault.decrypted_secrets").fetchone()
    assert first is not None and "edge-functions.local" not in str(first[0])


# --- replays -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "source-repeats-threads",
        "source-undated-resync",
        "source-undated-stale-write",
        "dead-letter-thread-second-job",
    ],
)
def test_the_reference_passes_the_new_inputs(bench: Workbench, name: str) -> None:
    verdict = run_scenario(bench, load(ROOT / "scenarios" / "reference" / f"{name}.json"))
    assert not verdict.violations, [v.render() for v in verdict.violations]

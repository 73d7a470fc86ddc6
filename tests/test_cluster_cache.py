"""A server started from a cluster cached with its templates migrated is indistinguishable."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.impl import load_pipeline
from harness.postgres import EnvironmentProblem, Server, TemplateDatabases, clusters, start_server
from harness.postgres.binaries import find_pg_bin, prepare_pg_bin, server_account, version_of
from harness.postgres.clusters import CACHE_ENV, migrated_key
from harness.postgres.templates import migrations_key
from harness.replay import Workbench, run_scenario, workbench
from harness.scenario import Scenario, discover, load
from harness.sql import harness_migrations
from threadsync.reference import pipeline as reference

SCENARIOS = Path(__file__).parent.parent / "scenarios"
SAVED = discover(SCENARIOS)
REFERENCE = "threadsync.reference:pipeline"
# A second prepared pipeline, so that the cached cluster holds more than one template.
MUTANT = "harness.mutants.nonatomic_claim:pipeline"

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("THREADSYNC_DSN")) or os.environ.get(CACHE_ENV) == "0",
    reason="the cluster cache is the embedded server's, and is turned off or not in use here",
)


@pytest.fixture(scope="module")
def prepared() -> Iterator[Workbench]:
    with workbench(prepare=[REFERENCE, MUTANT]) as bench:
        yield bench


@pytest.fixture(scope="module")
def migrated(pg_server: Server) -> Iterator[Workbench]:
    b = Workbench(pg_server)
    yield b
    b.close()


def _history(verdict: Any) -> bytes:
    return json.dumps(verdict.result.history.comparable(), sort_keys=True).encode()


def _state(verdict: Any) -> dict[str, Any]:
    # Transaction ids are the cluster's; commit order of waiters a commit releases together may
    # differ (see tests/test_reset.py): effects compare as a multiset without ids.
    out: dict[str, Any] = {
        table: [{k: v for k, v in row.items() if k != "txid"} for row in rows]
        for table, rows in verdict.state.to_dict().items()
    }
    out["effects"] = sorted(
        json.dumps(
            {k: v for k, v in row.items() if k not in ("id", "txid", "commit_seq")},
            sort_keys=True,
        )
        for row in verdict.state.to_dict()["effects"]
    )
    return out


def test_the_prepared_templates_come_with_the_server(prepared: Workbench) -> None:
    for impl in (REFERENCE, MUTANT):
        key = migrations_key(harness_migrations(load_pipeline(impl)))
        assert key in prepared.server.templates, f"{impl}: no cached template"
        assert prepared.template(impl).template_name == prepared.server.templates[key]
    assert len(set(prepared.server.templates.values())) == 2


@pytest.mark.parametrize("path", SAVED, ids=[f"{p.parent.name}/{p.stem}" for p in SAVED])
def test_a_cached_cluster_replays_like_a_migrated_one(
    prepared: Workbench, migrated: Workbench, path: Path
) -> None:
    scenario: Scenario = load(path)
    cached = run_scenario(prepared, scenario, fresh_clone=True)
    fresh = run_scenario(migrated, scenario, fresh_clone=True)
    assert _history(cached) == _history(fresh)
    assert _state(cached) == _state(fresh)
    assert cached.violated == fresh.violated


def test_other_migrations_get_another_entry() -> None:
    steps = harness_migrations(reference)
    changed = [*steps[:-1], (steps[-1][0], steps[-1][1] + "\n-- one more line\n")]
    assert migrations_key(steps) != migrations_key(changed)
    assert migrations_key(steps) == migrations_key(list(steps))
    one = migrated_key("base", [("t", migrations_key(steps))])
    assert one != migrated_key("base", [("t", migrations_key(changed))])
    assert one != migrated_key("other base", [("t", migrations_key(steps))])


def test_a_failing_migration_is_not_cached_and_is_reported_as_usual() -> None:
    bad = [("bad step", "CREATE TABLE broken (id int REFERENCES nowhere (id));")]
    with start_server(prepare=[("broken", bad)]) as server:
        assert server.templates == {}
        with pytest.raises(EnvironmentProblem, match="migration bad step failed"):
            TemplateDatabases(server, bad)


def test_only_the_most_recently_used_migrated_entries_are_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(clusters, "CLUSTER_CACHE", tmp_path)
    for n in range(5):
        (tmp_path / f"m{n}").mkdir()
        os.utime(tmp_path / f"m{n}", (1000 + n, 1000 + n))
    (tmp_path / "pristine0").mkdir()
    clusters.keep_recent("m0", keep=3)  # m0 was just used: it is the newest now
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m0", "m3", "m4", "pristine0"]


def test_pristine_entries_are_kept_apart_from_migrated_ones_and_pruned_the_same_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One pristine entry per installation path: every new virtualenv made one, and they piled
    # up without end. Each kind keeps its own most recently used; half-made entries stay.
    monkeypatch.setattr(clusters, "CLUSTER_CACHE", tmp_path)
    for n in range(4):
        for name in (f"{n:016x}", f"m{n}"):
            (tmp_path / name).mkdir()
            os.utime(tmp_path / name, (1000 + n, 1000 + n))
    (tmp_path / ".0000000000000009.staging").mkdir()
    clusters.keep_recent(f"{0:016x}", keep=2)  # just used: the newest pristine entry now
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".0000000000000009.staging",
        f"{0:016x}",
        f"{3:016x}",
        "m0",
        "m1",
        "m2",
        "m3",
    ]


def test_a_start_marks_its_pristine_entry_as_used() -> None:
    run_as = server_account()
    bindir = prepare_pg_bin(find_pg_bin(None), run_as)
    entry = clusters.CLUSTER_CACHE / clusters.cache_key(bindir, version_of(bindir), run_as)
    with start_server():
        pass  # the entry exists now, if it did not before
    os.utime(entry, (1000, 1000))  # long unused
    with start_server():
        pass
    assert entry.stat().st_mtime > 1000
    pristine = [e for e in clusters.CLUSTER_CACHE.iterdir() if e.name[0] not in ".m"]
    assert len(pristine) <= clusters.PRISTINE_KEPT

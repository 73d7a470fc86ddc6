"""threadsync mutate: operators, generation, ids, killing by replay, the report's JSON, the CLI."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest

from harness.cli import main
from harness.mutate.body import locate
from harness.mutate.command import split_equivalent
from harness.mutate.equivalent import DEFAULT_FILE, GAPS_FILE, Equivalence, EquivalenceError, load
from harness.mutate.generate import Mutant, generate
from harness.mutate.kill import Outcome, Plan, kill
from harness.mutate.operators import edits, tokens
from harness.mutate.report import score, table, to_json
from harness.mutate.source import functions
from harness.postgres import Server
from harness.replay import Workbench
from harness.scenario import load as load_scenario
from threadsync.pipeline import Pipeline
from threadsync.reference import pipeline as reference

ENUMS = {"state": ("pending", "processing", "done")}
SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


def mutated(sql: str) -> set[tuple[str, str]]:
    text = sql.encode()
    return {
        (e.operator, (text[: e.start] + e.text + text[e.end :]).decode())
        for e in edits(text, ENUMS)
    }


@pytest.fixture(scope="module")
def ref_mutants() -> list[Mutant]:
    return generate(reference).mutants


def test_operators_on_a_claim_select() -> None:
    sql = "SELECT id FROM q WHERE status = 'pending' AND due <= now() FOR UPDATE SKIP LOCKED"
    assert mutated(sql) == {
        ("drop-for-update", "SELECT id FROM q WHERE status = 'pending' AND due <= now()"),
        (
            "drop-skip-locked",
            "SELECT id FROM q WHERE status = 'pending' AND due <= now() FOR UPDATE",
        ),
        ("drop-conjunct", "SELECT id FROM q WHERE due <= now() FOR UPDATE SKIP LOCKED"),
        ("drop-conjunct", "SELECT id FROM q WHERE status = 'pending' FOR UPDATE SKIP LOCKED"),
        (
            "flip-comparison",
            "SELECT id FROM q WHERE status <> 'pending' AND due <= now() FOR UPDATE SKIP LOCKED",
        ),
        (
            "flip-comparison",
            "SELECT id FROM q WHERE status = 'pending' AND due < now() FOR UPDATE SKIP LOCKED",
        ),
        (
            "enum-literal",
            "SELECT id FROM q WHERE status = 'processing' AND due <= now() FOR UPDATE SKIP LOCKED",
        ),
    }


def test_operators_on_a_fenced_update() -> None:
    sql = (
        "UPDATE q SET status = 'done', token = NULL WHERE id = $1 AND token IS NOT DISTINCT FROM $2"
    )
    got = mutated(sql)
    assert ("drop-set-column", sql.replace("status = 'done', ", "")) in got
    assert ("drop-set-column", sql.replace(", token = NULL", "")) in got
    assert ("enum-literal", sql.replace("'done'", "'pending'")) in got
    assert ("drop-conjunct", sql.replace("id = $1 AND ", "")) in got
    assert ("drop-conjunct", sql.replace(" AND token IS NOT DISTINCT FROM $2", "")) in got
    assert ("flip-comparison", sql.replace("IS NOT DISTINCT", "IS DISTINCT")) in got
    assert ("flip-comparison", sql.replace("id = $1", "id <> $1")) in got
    assert len(got) == 7


def test_on_conflict_actions() -> None:
    nothing = "INSERT INTO t (k, v) VALUES (1, 2) ON CONFLICT (k) DO NOTHING RETURNING id"
    assert mutated(nothing) == {
        ("on-conflict-remove", "INSERT INTO t (k, v) VALUES (1, 2) RETURNING id"),
        (
            "on-conflict-update",
            "INSERT INTO t (k, v) VALUES (1, 2) ON CONFLICT (k) DO UPDATE SET k = EXCLUDED.k "
            "RETURNING id",
        ),
    }
    update = "INSERT INTO t (k, v) VALUES (1, 2) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v"
    assert ("on-conflict-nothing", update.replace("UPDATE SET v = EXCLUDED.v", "NOTHING")) in (
        mutated(update)
    )


def test_a_cast_to_text_is_not_an_enum_literal() -> None:
    assert mutated("SELECT 'pending'::text") == set()


def test_a_removal_never_lets_a_comment_swallow_code() -> None:
    sql = "SELECT 1 FROM t WHERE a = 1 -- note\n AND b = 2 AND c = 3"
    drops = [text for op, text in mutated(sql) if op == "drop-conjunct"]
    assert len(drops) == 3

    def code(text: str) -> int:
        return sum(1 for t in tokens(text.encode()) if t.name != "SQL_COMMENT")

    for text in drops:  # exactly one conjunct's four tokens (`x = n` and an AND) are gone
        assert code(text) == code(sql) - 4, text


PLPGSQL = """CREATE TYPE public.state AS ENUM ('pending', 'processing', 'done');

CREATE FUNCTION public.claim(p_id bigint) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    SELECT * INTO r FROM public.q WHERE id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    UPDATE public.q SET status = 'processing' WHERE id = p_id AND status = 'pending';
    PERFORM public.notify(p_id);
    RETURN true;
END
$$;
"""


@pytest.fixture
def toy(tmp_path: Path) -> Pipeline:
    path = tmp_path / "001_toy.sql"
    path.write_text(PLPGSQL, encoding="utf-8")
    return dataclasses.replace(reference, name="toy", migrations=(path,))


def test_plpgsql_statements_guards_and_embedded_sql(toy: Pipeline) -> None:
    by_id = {m.id: m for m in generate(toy).mutants}
    guard = by_id["claim:drop-guard:1"]
    assert "-    IF NOT FOUND THEN\n+    IF false THEN" in guard.diff
    assert guard.summary == "drop `IF NOT FOUND`"
    perform = [m for m in by_id.values() if "PERFORM" in m.summary]
    assert len(perform) == 1 and "+    NULL;" in perform[0].diff
    lock = by_id["claim:drop-for-update:1"]
    assert "+    SELECT * INTO r FROM public.q WHERE id = p_id;" in lock.diff
    conjunct = by_id["claim:drop-conjunct:2"]
    assert "+    UPDATE public.q SET status = 'processing' WHERE id = p_id;" in conjunct.diff
    assert by_id["claim:enum-literal:1"].summary == "`status = 'processing'` -> `status = 'done'`"
    assert "WHERE id = p_id AND status = 'pending'" in by_id["claim:enum-literal:1"].override_sql
    # The override replaces the function even though the original said CREATE FUNCTION.
    assert "CREATE OR REPLACE FUNCTION public.claim" in guard.override_sql
    # Each diff is of one function and changes one or two lines.
    for m in by_id.values():
        changed = [
            line
            for line in m.diff.splitlines()[2:]
            if line[:1] in "+-" and not line.startswith(("+++", "---"))
        ]
        assert 1 <= len(changed) <= 4, m.id


def test_every_embedded_statement_of_the_reference_is_located() -> None:
    for fn in functions(reference.migrations):
        body = locate(fn)
        assert body.problems == []
        assert body.snippets, fn.qualified


def test_a_return_is_located_whatever_its_expression_holds(tmp_path: Path) -> None:
    """Quoted literals (with `;` in them), several lines, a row variable, a bare RETURN."""
    path = tmp_path / "001_returns.sql"
    path.write_text(
        "CREATE FUNCTION public.url(base text, f text) RETURNS text\n"
        "LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$\n"
        "BEGIN\n"
        "    RETURN pg_catalog.rtrim(base, '/') || '/;' ||\n"
        "        f;\n"
        "END\n"
        "$$;\n"
        "CREATE FUNCTION public.row_of(r public.t) RETURNS public.t\n"
        "LANGUAGE plpgsql AS $$\n"
        "BEGIN\n"
        "    RETURN r;\n"
        "END\n"
        "$$;\n"
        "CREATE FUNCTION public.nothing() RETURNS void LANGUAGE plpgsql AS $$\n"
        "BEGIN\n"
        "    RETURN;\n"
        "END\n"
        "$$;\n",
        encoding="utf-8",
    )
    found = {}
    for fn in functions((path,)):
        body = locate(fn)
        assert body.problems == [], fn.qualified
        found[fn.name] = [fn.body[s.start : s.end] for s in body.statements if s.kind == "return"]
    assert found == {
        "url": [b"RETURN pg_catalog.rtrim(base, '/') || '/;' ||\n        f;"],
        "row_of": [b"RETURN r;"],
        "nothing": [b"RETURN;"],
    }


def test_ids_are_stable_and_survive_an_edit_elsewhere(
    tmp_path: Path, ref_mutants: list[Mutant]
) -> None:
    first = ref_mutants
    again = generate(reference).mutants
    assert [(m.id, m.diff) for m in first] == [(m.id, m.diff) for m in again]
    assert len({m.id for m in first}) == len(first)
    # Change one function (claim_page's claim loses a conjunct): other functions keep their ids.
    copies = []
    for path in reference.migrations:
        text = path.read_text(encoding="utf-8")
        text = text.replace(
            "WHERE p.id = p_page_id AND p.status = 'pending' AND", "WHERE p.id = p_page_id AND"
        )
        copies.append(tmp_path / path.name)
        copies[-1].write_text(text, encoding="utf-8")
    edited = generate(dataclasses.replace(reference, migrations=tuple(copies))).mutants
    untouched = {(m.id, m.summary) for m in first if not m.id.startswith("claim_page:")}
    assert untouched <= {(m.id, m.summary) for m in edited}
    assert len([m for m in edited if m.id.startswith("claim_page:")]) < len(
        [m for m in first if m.id.startswith("claim_page:")]
    )


def test_every_reference_mutant_migrates(
    conn: psycopg.Connection[object], ref_mutants: list[Mutant]
) -> None:
    """Generation only emits SQL that PostgreSQL's parser accepts, so every mutant of the
    reference applies on top of it: none is stillborn (each is tried and rolled back)."""
    mutants = ref_mutants
    failed = []
    for m in mutants:
        try:
            with conn.transaction(force_rollback=True):
                conn.execute(m.override_sql.encode())
        except psycopg.Error as exc:
            failed.append(f"{m.id}: {exc}")
    assert len(mutants) > 300
    assert failed == []


def _workbench(pg_server: Server) -> Workbench:
    return Workbench(pg_server)


def _plan(tmp_path: Path, scenarios: tuple[Path, ...], budget: float = 0.0) -> Plan:
    return Plan(
        impl="threadsync.reference:pipeline",
        scenarios=scenarios,
        budget_s=budget,
        cache=tmp_path / "cache",
        save=tmp_path / "found",
    )


def test_a_mutant_that_does_not_migrate_is_stillborn_and_not_scored(
    pg_server: Server, tmp_path: Path
) -> None:
    bad = Mutant(
        id="broken:drop-where:1",
        function="threadsync.broken",
        operator="drop-where",
        summary="drop `WHERE`",
        migration="x.sql",
        diff="",
        override_sql="CREATE OR REPLACE FUNCTION threadsync.broken() RETURNS int LANGUAGE sql "
        "AS $$ SELECT no_such_column FROM public.sync_jobs $$;",
    )
    bench = _workbench(pg_server)
    try:
        outcome = kill(bench, reference, bad, [], _plan(tmp_path, ()))
    finally:
        bench.close()
    assert outcome.status == "stillborn"
    assert outcome.reason is not None and "no_such_column" in outcome.reason
    assert score([outcome]) == (0, 0, None)


def test_dropping_the_pending_conjunct_of_claim_page_is_killed_by_replay(
    pg_server: Server, tmp_path: Path, ref_mutants: list[Mutant]
) -> None:
    [mutant] = [
        m
        for m in ref_mutants
        if m.function == "public.claim_page" and m.summary == "drop `AND p.status = 'pending'`"
    ]
    scenario = SCENARIOS / "reference" / "duplicate-page-webhook.json"
    bench = _workbench(pg_server)
    try:
        outcome = kill(
            bench,
            reference,
            mutant,
            [(scenario, load_scenario(scenario))],
            _plan(tmp_path, (scenario,)),
        )
    finally:
        bench.close()
    assert outcome.status == "killed", outcome
    assert outcome.kill is not None
    assert outcome.kill.phase == "replay" and outcome.kill.by == str(scenario)
    assert outcome.kill.check in outcome.kill.checks
    # The JSON report: an object whose `mutants` list carries id, function, diff and status.
    data = json.loads(json.dumps(to_json([mutant], [outcome], {"impl": "ref"})))
    [entry] = data["mutants"]
    assert {"id", "function", "diff", "status", "kill"} <= entry.keys()
    assert entry["id"] == mutant.id and entry["function"] == "public.claim_page"
    assert entry["status"] == "killed" and entry["kill"]["by"] == str(scenario)
    assert "-     WHERE p.id = p_page_id AND p.status = 'pending'" in entry["diff"]
    assert data["score"] == 1.0 and data["stillborn"] == []
    assert f"`{mutant.id}`" in table([mutant], [outcome])


def test_max_runs_ends_a_survivors_exploration_after_that_many_runs(
    pg_server: Server, tmp_path: Path, ref_mutants: list[Mutant]
) -> None:
    """A run budget, not seconds: a mutant no run can tell apart explores exactly 3 runs even
    with a long time budget."""
    [mutant] = [
        m
        for m in ref_mutants
        if m.function == "public.extend_page_lease" and m.operator == "enum-literal"
    ][:1]
    bench = _workbench(pg_server)
    try:
        plan = replace(_plan(tmp_path, (), budget=600.0), max_runs=3)
        outcome = kill(bench, reference, mutant, [], plan)
    finally:
        bench.close()
    assert outcome.status == "survived", outcome
    assert outcome.runs == 3


def test_cli_rejects_a_run_budget_below_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mutate", "--max-runs", "0", "--only", "claim_page"]) == 2
    err = capsys.readouterr().err
    assert "--max-runs >= 1" in err and "Traceback" not in err


def test_equivalence_file_entries_need_a_reason(tmp_path: Path) -> None:
    good = tmp_path / "eq.toml"
    good.write_text('[p."f:drop-where:1"]\nsummary = "drop x"\nreason = "because"\n')
    assert load(good, "p")["f:drop-where:1"].reason == "because"
    assert load(good, "other") == {}
    bad = tmp_path / "bad.toml"
    bad.write_text('[p."f:drop-where:1"]\nsummary = "drop x"\n')
    with pytest.raises(EquivalenceError, match="needs both"):
        load(bad, "p")


def test_the_packaged_equivalences_match_current_mutants(ref_mutants: list[Mutant]) -> None:
    """A written reason must name a mutant that exists with the same change (else it is stale)."""
    current = {m.id: m.summary for m in ref_mutants}
    for mutant_id, eq in load(DEFAULT_FILE, reference.name).items():
        assert current.get(mutant_id) == eq.summary, mutant_id
    gaps = load(GAPS_FILE, reference.name, "gap")
    for mutant_id, note in gaps.items():
        assert current.get(mutant_id) == note.summary, mutant_id
    assert not set(gaps) & set(load(DEFAULT_FILE, reference.name))  # a gap is not equivalent


def test_equivalent_mutants_are_not_run_unless_their_reason_is_stale(
    ref_mutants: list[Mutant],
) -> None:
    a, b, c = ref_mutants[:3]
    written = {
        a.id: Equivalence(a.summary, "no run can tell"),
        b.id: Equivalence("some older change", "written for other SQL"),
    }
    outcomes, todo, stale = split_equivalent([a, b, c], written)
    assert list(outcomes) == [a.id]
    assert outcomes[a.id].status == "equivalent" and outcomes[a.id].reason == "no run can tell"
    assert todo == [b, c]
    assert len(stale) == 1 and b.id in stale[0]
    row = table([a], [outcomes[a.id]])
    assert "| equivalent | no run can tell |" in row
    survivor = Outcome(c.id, "survived", gap="a second sync would catch it", runs=3)
    assert "| survived | gap: a second sync would catch it |" in table([c], [survivor])
    assert "no note in gaps.toml" in table([c], [Outcome(c.id, "survived", runs=3)])


def test_cli_lists_mutants_and_rejects_an_unknown_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mutate", "--list", "--only", "claim_page"]) == 0
    out = capsys.readouterr().out
    assert "claim_page:drop-conjunct:2: drop `AND p.status = 'pending'`" in out
    assert "sweep:" not in out
    assert main(["mutate", "--only", "no_such_function"]) == 2
    err = capsys.readouterr().err
    assert "names no mutant" in err and "Traceback" not in err

"""Mutants stored as patches: each applies to today's reference and changes exactly the function
it names, and a patch the reference no longer fits fails with a LookupError that says so."""

from __future__ import annotations

import importlib

import psycopg
import pytest

from harness.mutants import MUTANTS
from harness.mutants._base import EDITS, edits, from_patch, mutant
from harness.mutants._patch import override_sql, patch
from threadsync.reference import pipeline as reference

for _name in MUTANTS:
    importlib.import_module(f"harness.mutants.{_name}")
PATCHED = sorted(name for name, (how, _) in EDITS.items() if how.startswith("a patch of"))

# Every function of the pipeline's schemas, as PostgreSQL prints it back.
DEFINITIONS = """
SELECT n.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
       pg_get_functiondef(p.oid)
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname IN ('public', 'threadsync') AND p.prokind = 'f'
"""


def _definitions(conn: psycopg.Connection[tuple[str, str]]) -> dict[str, str]:
    return dict(conn.execute(DEFINITIONS).fetchall())


def test_some_mutants_are_patches() -> None:
    # The conversions this module guards; a mutant that stops being a patch must be seen.
    assert {
        "completed_despite_dead_letters",
        "double_counted_attempts",
        "eager_dead_letter",
        "unguarded_claim",
    } <= set(PATCHED)


@pytest.mark.parametrize("name", PATCHED)
def test_the_patch_applies_to_todays_reference_and_changes_only_its_functions(
    name: str, ref_dsn: str
) -> None:
    pipeline = importlib.import_module(f"harness.mutants.{name}").pipeline
    # The patch comes first, before any SQL of the mutant's own (new functions, triggers).
    override = pipeline.migrations[len(reference.migrations)]
    how, diff = EDITS[name]
    with psycopg.connect(ref_dsn, autocommit=True) as conn:
        before = _definitions(conn)
        conn.execute(override.read_text(encoding="utf-8"))
        after = _definitions(conn)
    assert before.keys() == after.keys()  # replaced in place: no new overload
    changed = [sig for sig in before if before[sig] != after[sig]]
    assert how == "a patch of " + " and ".join(f"`{sig.split('(')[0]}`" for sig in changed)
    old = "".join(before[sig] for sig in changed)
    new = "".join(after[sig] for sig in changed)
    removed = [line[1:] for line in diff.splitlines() if line.startswith("-") and line[1:2] != "-"]
    added = [line[1:] for line in diff.splitlines() if line.startswith("+") and line[1:2] != "+"]
    assert removed or added
    # The diff is the edit of those functions: what it removes was there, what it adds is now.
    assert all(line.strip() in old for line in removed)
    assert all(line.strip() in new for line in added)


def test_an_edit_whose_old_text_is_missing_says_the_reference_changed() -> None:
    with pytest.raises(LookupError) as missing:
        from_patch("stale_one", "fail_page", ("IF q.attempts > q.max_attempts THEN", "IF x THEN"))
    message = str(missing.value)
    assert "mutant 'stale_one'" in message
    assert "'IF q.attempts > q.max_attempts THEN' does not occur in public.fail_page" in message
    assert "the reference changed, so write the patch again" in message


def test_an_edit_whose_old_text_occurs_twice_is_refused() -> None:
    with pytest.raises(LookupError, match=r"mutant 'vague'.* occurs 2 times in public\.fail_page"):
        patch(reference, "vague", "fail_page", (("RETURN;", "RETURN NULL;"),))


def test_a_missing_function_and_an_empty_patch_are_refused() -> None:
    with pytest.raises(LookupError, match=r"mutant 'gone': the reference has no function named"):
        patch(reference, "gone", "public.no_such_function", (("a", "b"),))
    with pytest.raises(ValueError, match=r"needs at least one edit"):
        patch(reference, "empty", "fail_page", ())


def test_edits_apply_in_turn_and_a_qualified_name_finds_the_same_function() -> None:
    first = ("IF q.attempts >= q.max_attempts THEN", "IF q.attempts >= 2 THEN")
    then = ("IF q.attempts >= 2 THEN", "IF q.attempts >= 3 THEN")
    both = patch(reference, "twice", "public.fail_page", (first, then))
    assert both.function == "public.fail_page"
    assert "IF q.attempts >= 3 THEN" in both.patched
    assert "IF q.attempts >= 2 THEN" not in both.patched
    assert both.original.count("\n") == both.patched.count("\n")
    assert "CREATE OR REPLACE FUNCTION public.fail_page(" in override_sql("twice", (both,))


def test_two_patches_of_one_function_are_refused() -> None:
    first = edits("fail_page", ("IF q.attempts >= q.max_attempts THEN", "IF q.attempts >= 2 THEN"))
    again = edits("public.fail_page", ("'retry scheduled'::text", "'retrying'::text"))
    with pytest.raises(ValueError, match=r"mutant 'split': give each function's edits in one"):
        mutant("split", patches=(first, again))

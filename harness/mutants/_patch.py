"""Edits functions of a pipeline's SQL by exact text replacement, as an override and a diff."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path

from threadsync.pipeline import Pipeline


@dataclass(frozen=True)
class Patch:
    """One function's CREATE statement before and after a mutant's edits."""

    mutant: str
    function: str  # schema.name
    migration: Path  # the file the function's last definition comes from
    original: str  # that CREATE statement, without its terminating semicolon
    patched: str


def diff(patches: tuple[Patch, ...]) -> str:
    """A unified diff of the migration files; the patches touch them inside their functions only."""
    out: list[str] = []
    for migration in dict.fromkeys(p.migration for p in patches):
        text = migration.read_text(encoding="utf-8")
        edited = text
        for p in patches:
            if p.migration == migration:
                at = edited.find(p.original)
                edited = edited[:at] + p.patched + edited[at + len(p.original) :]
        out += difflib.unified_diff(
            text.splitlines(),
            edited.splitlines(),
            fromfile=f"a/{migration.name}",
            tofile=f"b/{migration.name}",
            n=2,
            lineterm="",
        )
    return "\n".join(out)


def override_sql(mutant: str, patches: tuple[Patch, ...]) -> str:
    """The patched functions as one migration that replaces the originals."""
    names = ", ".join(p.function for p in patches)
    out = [f"-- harness.mutants.{mutant}: a patch of {names}\n"]
    for p in patches:
        out.append(
            re.sub(
                r"^CREATE\s+FUNCTION", "CREATE OR REPLACE FUNCTION", p.patched, count=1, flags=re.I
            )
            + ";\n"
        )
    return "\n".join(out)


def patch(base: Pipeline, mutant: str, function: str, edits: tuple[tuple[str, str], ...]) -> Patch:
    """`base`'s current definition of `function` ("fail_page" or "public.fail_page") with each
    `(old, new)` applied in turn; `old` must occur exactly once in the text it is applied to.
    Raises LookupError, naming the mutant, when the function or an `old` is missing or ambiguous."""
    # pglast (through harness.mutate.source) is imported only by the mutants that need it.
    from harness.mutate.source import functions

    if not edits:
        raise ValueError(f"mutant {mutant!r}: a patch of {function} needs at least one edit")
    found = [f for f in functions(base.migrations) if function in (f.name, f.qualified)]
    if len(found) != 1:
        how = "no function" if not found else f"{len(found)} functions (overloads)"
        raise LookupError(
            f"mutant {mutant!r}: the reference has {how} named {function!r}; "
            "the reference changed, so write the patch again"
        )
    (fn,) = found
    original = fn.statement.decode()
    text = original
    for n, (old, new) in enumerate(edits, 1):
        count = text.count(old)
        if count != 1:
            where = "does not occur" if count == 0 else f"occurs {count} times"
            raise LookupError(
                f"mutant {mutant!r}: edit {n}'s old text {_short(old)!r} {where} in "
                f"{fn.qualified} (it must occur exactly once); the reference changed, "
                "so write the patch again"
            )
        text = text.replace(old, new)
    return Patch(mutant, fn.qualified, fn.migration, original, text)


def _short(old: str) -> str:
    flat = " ".join(old.split())
    return flat if len(flat) <= 60 else flat[:57] + "..."

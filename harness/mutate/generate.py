"""Generates the mutants of a pipeline: one edit of one function each, with a stable id and a diff.

A mutant's id is `<function>:<operator>:<n>`, n counting that operator's sites in that function
in text order, so it stays the same from run to run as long as the function's SQL does. The
mutant pipeline is the original plus one override migration: that function's CREATE OR REPLACE.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from pglast import parse_plpgsql, parser

from harness.mutate.body import Body, locate, parsable
from harness.mutate.operators import Edit, edits, parse
from harness.mutate.source import Function, enum_labels, functions
from threadsync.pipeline import Pipeline

# Operators the generator cannot apply here, and why (reported with every run).
NOT_APPLIED = {
    "split-transaction": "every statement runs inside a function, in its caller's transaction; "
    "a function cannot COMMIT, so splitting one statement's effect across two transactions "
    "would mean changing a handler, not the SQL",
}


@dataclass(frozen=True)
class Mutant:
    """One edit of one function, as an override migration and a diff of the original file."""

    id: str
    function: str  # schema.name
    operator: str
    summary: str
    migration: str  # the file the function comes from
    diff: str
    override_sql: str


@dataclass
class Generated:
    """Everything generation produced: the mutants, and what it skipped and why."""

    mutants: list[Mutant] = field(default_factory=list)
    duplicates: int = 0  # edits whose function text equals another mutant's
    unchanged: int = 0  # edits that leave the parsed function as it was
    problems: list[str] = field(default_factory=list)


def _labels(fns: list[Function]) -> dict[str, str]:
    counts = Counter(fn.name for fn in fns)
    seen: Counter[str] = Counter()
    out: dict[str, str] = {}
    for fn in fns:
        label = fn.name if counts[fn.name] == 1 else fn.qualified
        seen[label] += 1
        out[fn.signature] = label if seen[label] == 1 else f"{label}#{seen[label]}"
    return out


def _body_edits(fn: Function, body: Body, enums: dict[str, tuple[str, ...]]) -> list[Edit]:
    out: list[Edit] = []
    for snip in body.snippets:
        for e in edits(snip.text, enums):
            if e.start < snip.prefix:
                continue
            shift = snip.start - snip.prefix
            out.append(dataclasses.replace(e, start=e.start + shift, end=e.end + shift))
    for span in body.statements:
        old = fn.body[span.start : span.end]
        out.append(Edit("drop-statement", span.start, span.end, b"NULL;", _dropped(old)))
    for span in body.guards:
        old = fn.body[span.start : span.end]
        out.append(Edit("drop-guard", span.start, span.end, b"false", _dropped(old, "IF ")))
    return out


def _dropped(old: bytes, prefix: str = "") -> str:
    s = " ".join(old.decode().split())
    return f"drop `{prefix}{s if len(s) <= 70 else s[:67] + '...'}`"


def _or_replace(statement: bytes) -> bytes:
    return re.sub(
        rb"^CREATE\s+FUNCTION", b"CREATE OR REPLACE FUNCTION", statement, count=1, flags=re.I
    )


def generate(pipeline: Pipeline) -> Generated:
    """Every mutant of `pipeline`'s SQL functions (raises SourceError on unparsable migrations)."""
    out = Generated()
    enums = enum_labels(pipeline.migrations)
    fns = functions(pipeline.migrations)
    labels = _labels(fns)
    for fn in fns:
        body = locate(fn)
        out.problems += body.problems
        original_body_tree = _normal_body(fn, fn.body)
        seen: set[bytes] = set()
        numbers: Counter[str] = Counter()
        for edit in sorted(_body_edits(fn, body, enums), key=lambda e: (e.operator, e.start)):
            numbers[edit.operator] += 1
            mutant_id = f"{labels[fn.signature]}:{edit.operator}:{numbers[edit.operator]}"
            new_body = fn.body[: edit.start] + edit.text + fn.body[edit.end :]
            if new_body in seen:
                out.duplicates += 1
                continue
            seen.add(new_body)
            tree = _normal_body(fn, new_body)
            if tree is None:
                out.problems.append(f"{mutant_id}: the edited body does not parse; skipped")
                continue
            if tree == original_body_tree:
                out.unchanged += 1
                continue
            out.mutants.append(_mutant(fn, mutant_id, edit, new_body))
    return out


def _normal_body(fn: Function, body: bytes) -> str | None:
    statement = fn.statement[: fn.body_start] + body + fn.statement[fn.body_start + len(fn.body) :]
    if fn.language == "plpgsql":
        try:
            return json.dumps(parse_plpgsql(parsable(statement)), sort_keys=True)
        except parser.ParseError:
            return None
    tree = parse(body)
    return None if tree is None else json.dumps(tree, sort_keys=True)


def _mutant(fn: Function, mutant_id: str, edit: Edit, new_body: bytes) -> Mutant:
    end = fn.body_start + len(fn.body)
    statement = fn.statement[: fn.body_start] + new_body + fn.statement[end:]
    original = fn.migration.read_bytes()
    at = original.find(fn.statement)
    mutated_file = original[:at] + statement + original[at + len(fn.statement) :]
    diff = "\n".join(
        difflib.unified_diff(
            original.decode().splitlines(),
            mutated_file.decode().splitlines(),
            fromfile=f"a/{fn.migration.name}",
            tofile=f"b/{fn.migration.name}",
            n=1,
            lineterm="",
        )
    )
    header = f"-- threadsync mutate: {mutant_id}\n-- {edit.summary}\n"
    return Mutant(
        id=mutant_id,
        function=fn.qualified,
        operator=edit.operator,
        summary=edit.summary,
        migration=str(fn.migration),
        diff=diff,
        override_sql=header + _or_replace(statement).decode() + ";\n",
    )


def write_override(mutant: Mutant, cache: Path) -> Path:
    """The mutant's override migration, written under `cache` (named after its id)."""
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / (re.sub(r"[^A-Za-z0-9_.-]+", "_", mutant.id) + ".sql")
    path.write_text(mutant.override_sql, encoding="utf-8")
    return path


def mutant_pipeline(base: Pipeline, mutant: Mutant, cache: Path) -> Pipeline:
    """`base` plus the mutant's override migration, applied after all of base's migrations."""
    path = write_override(mutant, cache)
    return dataclasses.replace(
        base, name=f"{base.name}-mutant", migrations=(*base.migrations, path)
    )

"""Finds a pipeline's SQL functions in its migrations: name, language, statement text and body."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pglast import parser


class SourceError(Exception):
    """A migration the generator cannot read or parse; the message says which and why."""


@dataclass(frozen=True)
class Function:
    """One `CREATE FUNCTION` as written in a migration (the last definition of its signature).

    Offsets are in bytes of the UTF-8 migration text, as PostgreSQL's parser reports them.
    """

    schema: str
    name: str
    signature: str  # schema.name(argument types), which tells overloads apart
    language: str
    migration: Path
    statement: bytes  # the whole CREATE statement, without its terminating semicolon
    body_start: int  # where the body (inside its dollar quotes) starts in `statement`
    body: bytes

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


def _names(nodes: list[dict[str, Any]]) -> list[str]:
    return [n["String"]["sval"] for n in nodes if "String" in n]


def _option(stmt: dict[str, Any], name: str) -> Any:
    for opt in stmt.get("options", []):
        elem = opt.get("DefElem", {})
        if elem.get("defname") == name:
            return elem.get("arg")
    return None


def _function(path: Path, text: bytes, raw: dict[str, Any]) -> Function | None:
    stmt = raw["stmt"].get("CreateFunctionStmt")
    if stmt is None or stmt.get("is_procedure"):
        return None
    start = raw.get("stmt_location", 0)
    statement = _without_leading_comments(text[start : start + raw.get("stmt_len", len(text))])
    names = _names(stmt["funcname"])
    schema, name = (names[0], names[1]) if len(names) > 1 else ("public", names[0])
    types = [
        ".".join(_names(p["FunctionParameter"]["argType"]["names"]))
        for p in stmt.get("parameters", [])
        if p["FunctionParameter"].get("mode") not in ("FUNC_PARAM_OUT", "FUNC_PARAM_TABLE")
    ]
    language_arg = _option(stmt, "language")
    language = language_arg["String"]["sval"] if language_arg else "sql"
    as_arg = _option(stmt, "as")
    if not as_arg:  # a SQL-standard body (BEGIN ATOMIC / RETURN): not mutated
        return None
    body_text = as_arg["List"]["items"][0]["String"]["sval"]
    body = body_text.encode()
    body_start = statement.find(body)
    if body_start < 0:  # a quoted body with escapes: its text is not found verbatim
        return None
    return Function(
        schema=schema,
        name=name,
        signature=f"{schema}.{name}({', '.join(types)})",
        language=language.lower(),
        migration=path,
        statement=statement,
        body_start=body_start,
        body=body,
    )


def _without_leading_comments(statement: bytes) -> bytes:
    decoded = statement.decode()
    tokens = parser.scan(decoded)
    first = tokens[0].start if tokens else 0
    return decoded[first:].rstrip().encode()


def enum_labels(migrations: tuple[Path, ...]) -> dict[str, tuple[str, ...]]:
    """Every `CREATE TYPE ... AS ENUM` in the migrations: type name -> labels in order."""
    found: dict[str, tuple[str, ...]] = {}
    for path in migrations:
        for raw in _parse(path)[1]:
            stmt = raw["stmt"].get("CreateEnumStmt")
            if stmt:
                found[_names(stmt["typeName"])[-1]] = tuple(_names(stmt.get("vals", [])))
    return found


def _parse(path: Path) -> tuple[bytes, list[dict[str, Any]]]:
    text = path.read_text(encoding="utf-8")
    try:
        tree = json.loads(parser.parse_sql_json(text))
    except parser.ParseError as exc:
        raise SourceError(f"{path}: PostgreSQL's parser rejects it ({exc}); fix that SQL") from None
    return text.encode(), list(tree.get("stmts", []))


def functions(migrations: tuple[Path, ...]) -> list[Function]:
    """The functions the migrations leave defined, each in its last definition, in file order."""
    latest: dict[str, Function] = {}
    for path in migrations:
        text, stmts = _parse(path)
        for raw in stmts:
            fn = _function(path, text, raw)
            if fn is not None:
                latest.pop(fn.signature, None)  # re-insert: a redefinition moves to its new place
                latest[fn.signature] = fn
    return list(latest.values())

"""Locates the mutable parts of a function body: its SQL, and (PL/pgSQL) its statements and guards.

PL/pgSQL's parser (pglast.parse_plpgsql) reports each embedded SQL statement's text and line, but
not its offset; the text is the source's own, except that `SELECT ... INTO x` has its INTO clause
blanked with spaces and PERFORM reads as SELECT (both keep every other byte in place), so each is
found by matching it from the start of its line with a space matching any byte.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pglast import parse_plpgsql, parser

from harness.mutate.source import Function

EXPRESSION_PREFIX = b"SELECT "


@dataclass(frozen=True)
class Snippet:
    """SQL to mutate: `text` parses alone; its byte i >= `prefix` is body byte start+i-prefix."""

    start: int
    text: bytes
    prefix: int = 0


@dataclass(frozen=True)
class Span:
    """A PL/pgSQL statement ([start, end) including its semicolon) or an IF condition."""

    start: int
    end: int
    kind: str


@dataclass
class Body:
    """What the operators may touch in one function body, in body byte offsets."""

    snippets: list[Snippet] = field(default_factory=list)
    statements: list[Span] = field(default_factory=list)
    guards: list[Span] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # parts that could not be located


def locate(fn: Function) -> Body:
    """The snippets, statements and guards of `fn`'s body (SQL or PL/pgSQL)."""
    if fn.language == "sql":
        return _sql(fn.body)
    if fn.language == "plpgsql":
        return _plpgsql(fn)
    return Body(problems=[f"{fn.qualified}: language {fn.language} is not mutated"])


def _sql(body: bytes) -> Body:
    import json

    out = Body()
    try:
        stmts = json.loads(parser.parse_sql_json(body.decode())).get("stmts", [])
    except parser.ParseError as exc:
        out.problems.append(f"body does not parse: {exc}")
        return out
    for raw in stmts:
        start = raw.get("stmt_location", 0)
        length = raw.get("stmt_len", 0) or len(body) - start
        out.snippets.append(Snippet(start, body[start : start + length]))
    return out


def _pattern(query: bytes) -> re.Pattern[bytes]:
    return re.compile(b"".join(b"." if c == 0x20 else re.escape(bytes([c])) for c in query), re.S)


class _Locator:
    def __init__(self, body: bytes) -> None:
        self.body = body
        self.line_starts = [0] + [m.end() for m in re.finditer(b"\n", body)]

    def find(self, lineno: int, pattern: re.Pattern[bytes]) -> re.Match[bytes] | None:
        if not 1 <= lineno <= len(self.line_starts):
            return None
        return pattern.search(self.body, self.line_starts[lineno - 1])

    def statement_end(self, pos: int) -> int:
        # What follows a located query up to its semicolon is an INTO clause PL/pgSQL removed.
        m = re.compile(rb"[^;']*;").match(self.body, pos)
        return m.end() if m else pos


def _plpgsql(fn: Function) -> Body:
    out = Body()
    try:
        tree = parse_plpgsql(parsable(fn.statement))
    except parser.ParseError as exc:
        out.problems.append(f"{fn.qualified}: PL/pgSQL body does not parse: {exc}")
        return out
    loc = _Locator(fn.body)
    for kind, stmt in _statements(tree):
        lineno = stmt.get("lineno")
        if not isinstance(lineno, int):
            continue  # the implicit final RETURN
        try:
            _one(out, loc, kind, stmt, lineno)
        except LookupError as exc:
            out.problems.append(f"{fn.qualified} line {lineno}: {exc}")
    return out


def parsable(statement: bytes) -> str:
    """`statement` as pglast's PL/pgSQL parser accepts it: it resolves declared types only in
    pg_catalog and public, so other schemas' names in DECLARE become public's (line numbers and
    everything after BEGIN stay as they were)."""
    text = statement.decode()
    m = re.search(r"\bDECLARE\b(.*?)\bBEGIN\b", text, re.S | re.I)
    if not m:
        return text
    declare = re.sub(r"\b(?!public\b|pg_catalog\b)\w+\.(\w+)\b", r"public.\1", m.group(1))
    return text[: m.start(1)] + declare + text[m.end(1) :]


def _query(expr: Any) -> bytes:
    return str(expr["PLpgSQL_expr"]["query"]).encode()


def _one(out: Body, loc: _Locator, kind: str, stmt: dict[str, Any], lineno: int) -> None:
    if kind in ("PLpgSQL_stmt_execsql", "PLpgSQL_stmt_perform", "PLpgSQL_stmt_return_query"):
        expr = stmt.get("sqlstmt") or stmt.get("expr") or stmt.get("query")
        if expr is None:
            return  # RETURN QUERY EXECUTE: dynamic SQL is not mutated
        query = _query(expr)
        perform = kind.endswith("perform")
        if perform:  # PL/pgSQL hands PERFORM's expression over as "SELECT <expression>"
            pattern = re.compile(rb"PERFORM\s+" + _pattern(query[7:]).pattern, re.S | re.I)
        else:
            pattern = _pattern(query)
        m = loc.find(lineno, pattern)
        if m is None:
            raise LookupError(f"cannot find {query[:40]!r}")
        start = m.start()
        if perform:
            rest = m.end() - (len(query) - 7)
            out.snippets.append(Snippet(rest, query, 7))
        else:
            out.snippets.append(Snippet(start, query))
        if kind.endswith("return_query"):
            head = re.compile(rb"RETURN\s+QUERY\s*$", re.I).search(loc.body[: m.start()])
            start = head.start() if head else start
        out.statements.append(Span(start, loc.statement_end(m.end()), "statement"))
    elif kind == "PLpgSQL_stmt_assign":
        m = loc.find(lineno, _pattern(_query(stmt["expr"])))
        if m is None:
            raise LookupError("cannot find the assignment")
        out.statements.append(Span(m.start(), loc.statement_end(m.end()), "statement"))
    elif kind == "PLpgSQL_stmt_return":
        # RETURN <expression>; is matched through its expression, which may hold quoted literals
        # and semicolons (e.g. `rtrim(url, '/') || '/'`). Without one (RETURN; or RETURN <row
        # variable>;, which PL/pgSQL keeps as a variable number) a name at most comes before `;`.
        expr = stmt.get("expr")
        value = (
            rb"\s+" + _pattern(_query(expr)).pattern
            if expr
            else rb"(?!\s+(?:QUERY|NEXT)\b)(?:\s+[\w.\"]+)?"
        )
        m = loc.find(lineno, re.compile(rb"\bRETURN" + value + rb"\s*;", re.S | re.I))
        if m is None:
            raise LookupError("cannot find RETURN")
        out.statements.append(Span(m.start(), m.end(), "return"))
    elif kind == "PLpgSQL_stmt_if":
        _condition(out, loc, stmt["cond"], lineno)
        for elsif in stmt.get("elsif_list", []):
            part = elsif.get("PLpgSQL_if_elsif", {})
            if "cond" in part and isinstance(part.get("lineno"), int):
                _condition(out, loc, part["cond"], part["lineno"])


def _condition(out: Body, loc: _Locator, cond: Any, lineno: int) -> None:
    query = _query(cond)
    m = loc.find(lineno, _pattern(query))
    if m is None:
        raise LookupError(f"cannot find the condition {query[:40]!r}")
    out.snippets.append(Snippet(m.start(), EXPRESSION_PREFIX + query, len(EXPRESSION_PREFIX)))
    out.guards.append(Span(m.start(), m.end(), "guard"))


def _statements(tree: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every PL/pgSQL statement node, nested ones included, in document order."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            if key.startswith("PLpgSQL_stmt_") and isinstance(value, dict):
                yield key, value
            yield from _statements(value)
    elif isinstance(tree, list):
        for value in tree:
            yield from _statements(value)

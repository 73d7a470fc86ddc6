"""SQL fragments for the PostgREST emulation: quoted identifiers, bound parameters, the WHERE,
ORDER BY and LIMIT parts, the statement frame, and the checks that let a name into any of them:
a column must be in the catalog (an alias is held to identifier letters by the grammar)."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any

from harness.supabase.rest._catalog import Table
from harness.supabase.rest._errors import no_column, undefined_column
from harness.supabase.rest._grammar import IS_VALUES, QUANT_OPS, SIMPLE_OPS, Filter, SelectItem
from harness.supabase.rest._request import Request
from threadsync.queries import load_named

SQL = load_named(Path(__file__).with_name("statements.sql"))
SCHEMA = '"public"'
SOURCE = '"pgrst_source"'
NO_ROWS = "NULL::bigint"


def ident(name: str) -> str:
    """A double-quoted identifier; `%` doubled because the statement carries %(name)s params."""
    if "\x00" in name:
        raise ValueError("an identifier cannot hold a NUL character")
    return '"' + name.replace('"', '""').replace("%", "%%") + '"'


class Params:
    """Collects bound values and hands out their placeholders."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def bind(self, value: Any) -> str:
        key = f"p{len(self.values)}"
        self.values[key] = value
        return f"%({key})s"


# --- checks ------------------------------------------------------------------------------------


def check_reads(request: Request, relation: str, known: Collection[str]) -> None:
    """select, filters and order name columns PostgREST passes on to PostgreSQL unchecked; the
    emulation checks them first and answers as PostgreSQL would (42703)."""
    check_returned(request, relation, known)
    check_filters(request.filters, relation, known)


def check_returned(request: Request, relation: str, known: Collection[str]) -> None:
    names = [item.column for item in request.select if item.column != "*"]
    names += [term.column for term in request.order]
    for name in names:
        if name not in known:
            raise undefined_column(relation, name)


def check_filters(filters: Iterable[Filter], relation: str, known: Collection[str]) -> None:
    for f in filters:
        if f.column not in known:
            raise undefined_column(relation, f.column)


def column_names(table: Table) -> set[str]:
    return {c.name for c in table.columns}


def check_written(table: Table, keys: Iterable[str]) -> None:
    for key in keys:
        if table.column(key) is None:
            raise no_column(table.name, key)


# --- fragments ---------------------------------------------------------------------------------


def select_list(rel: str, items: Iterable[SelectItem]) -> str:
    parts = []
    for item in items:
        if item.column == "*":
            parts.append(f"{rel}.*")
        else:
            alias = f" AS {ident(item.alias)}" if item.alias else ""
            parts.append(f"{rel}.{ident(item.column)}{alias}")
    return ", ".join(parts)


def where_clause(rel: str, filters: Iterable[Filter], params: Params) -> str:
    conditions = [_condition(rel, f, params) for f in filters]
    return f" WHERE {' AND '.join(conditions)}" if conditions else ""


def _condition(rel: str, f: Filter, params: Params) -> str:
    column = f"{rel}.{ident(f.column)}"
    negate = "NOT " if f.negate else ""
    if f.op == "is":
        assert isinstance(f.value, str)
        return f"{negate}{column} IS {IS_VALUES[f.value]}"
    if f.op == "in":
        assert isinstance(f.value, tuple)
        if f.value == ("",):
            return f"{negate}{column} = ANY('{{}}')"
        return f"{negate}{column} = ANY({params.bind(_array_literal(f.value))})"
    assert isinstance(f.value, str)
    if f.op == "isdistinct":
        return f"{negate}{column} IS DISTINCT FROM {params.bind(f.value)}"
    if f.op in SIMPLE_OPS:
        return f"{negate}{column} {SIMPLE_OPS[f.op]} {params.bind(f.value)}"
    value = f.value.replace("*", "%") if f.op in ("like", "ilike") else f.value
    operand = params.bind(value)
    if f.quantifier is not None:
        operand = f"{f.quantifier.upper()}({operand})"
    return f"{negate}{column} {QUANT_OPS[f.op]} {operand}"


def _array_literal(values: Iterable[str]) -> str:
    """A PostgreSQL array literal of the values, each double-quoted (PostgREST's
    pgBuildArrayLiteral); bound as one parameter of unknown type, so it takes the column's."""
    quoted = (
        '"' + v.replace("\x00", "").replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values
    )
    return "{" + ",".join(quoted) + "}"


def order_clause(rel: str, request: Request) -> str:
    terms = []
    for term in request.order:
        direction = {"asc": " ASC", "desc": " DESC", None: ""}[term.direction]
        nulls = {"nullsfirst": " NULLS FIRST", "nullslast": " NULLS LAST", None: ""}[term.nulls]
        terms.append(f"{rel}.{ident(term.column)}{direction}{nulls}")
    return f" ORDER BY {', '.join(terms)}" if terms else ""


def limit_clause(request: Request, params: Params) -> str:
    if request.limit is None and request.offset == 0:
        return ""
    limit = "ALL" if request.limit is None else params.bind(request.limit)
    return f" LIMIT {limit} OFFSET {params.bind(request.offset)}"


def typed_columns(table: Table, keys: Iterable[str]) -> str:
    columns = [table.column(k) for k in keys]
    return ", ".join(f"{ident(c.name)} {type_name(c.type)}" for c in columns if c is not None)


def type_name(name: str) -> str:
    """A type name from the catalog (the database's own spelling), with `%` doubled."""
    return name.replace("%", "%%")


def frame(
    source: str,
    *,
    rows: str,
    body: str,
    request: Request,
    count_query: str | None = None,
    page_total: str | None = None,
    inserted: str | None = None,
    writes: bool = False,
) -> str:
    """The whole statement: `source` as the pgrst_source CTE, `rows` selected from it, and the
    row the engine gets back (totals, JSON body, inserted count)."""
    counted = request.prefer.count is not None
    ranged = request.limit is not None or request.offset != 0
    page = page_total or SQL["page_total"]
    count_source, total = "", NO_ROWS
    if counted and not writes:
        if ranged and count_query is not None:
            count_source = SQL["count_source"].format(query=count_query)
            total = SQL["counted_total"]
        else:
            total = page
    return SQL["frame"].format(
        source=source,
        count_source=count_source,
        total=total,
        page_total=page,
        body=body,
        inserted=inserted or "NULL::integer",
        rows=rows,
    )

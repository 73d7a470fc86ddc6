"""A request and the catalog made into one SQL statement, built the way PostgREST builds it
(src/PostgREST/Query/QueryBuilder.hs, SqlFragment.hs). Every name written into the SQL is first
found in the catalog (or, for an alias, held to identifier letters) and then quoted; every value
is a bound parameter."""

from __future__ import annotations

from harness.supabase.rest._catalog import Catalog, Function, Table
from harness.supabase.rest._errors import (
    ambiguous_function,
    no_function,
    no_table,
    not_implemented,
    pgrst,
    undefined_conflict_column,
)
from harness.supabase.rest._model import Action, Auth, Shape, Statement
from harness.supabase.rest._request import Request
from harness.supabase.rest._sql import (
    SCHEMA,
    SOURCE,
    SQL,
    Params,
    check_filters,
    check_reads,
    check_returned,
    check_written,
    column_names,
    frame,
    ident,
    limit_clause,
    order_clause,
    select_list,
    type_name,
    typed_columns,
    where_clause,
)

_JSON_PARAM_TYPES = ("json", "jsonb")


def translate(request: Request, catalog: Catalog, auth: Auth) -> Statement:
    """The statement for `request`, or Refusal when a name it uses is not in the catalog."""
    params = Params()
    if request.rpc:
        sql, shape = _call(request, catalog, params)
    else:
        table = catalog.tables.get(request.name)
        if table is None:
            raise no_table(request.name, catalog.tables)
        if request.method in ("GET", "HEAD"):
            sql, shape = _read(request, table, params)
        elif request.method == "POST":
            sql, shape = _insert(request, table, params)
        else:
            sql, shape = _update_or_delete(request, table, params)
    return Statement(sql=sql, params=params.values, auth=auth, shape=shape)


# --- reads -------------------------------------------------------------------------------------


def _read(request: Request, table: Table, params: Params) -> tuple[str, Shape]:
    rel = f"{SCHEMA}.{ident(table.name)}"
    check_reads(request, table.name, column_names(table))
    where = where_clause(rel, request.filters, params)
    source = (
        f"SELECT {select_list(rel, request.select)} FROM {rel}{where}"
        f"{order_clause(rel, request)}{limit_clause(request, params)}"
    )
    body = SQL["body_object"] if request.single else SQL["body_array"]
    sql = frame(
        source,
        rows=f"SELECT * FROM {SOURCE}",
        body=body,
        request=request,
        count_query=f"SELECT 1 FROM {rel}{where}",
    )
    return sql, _shape(request, "read", read_only=True)


def _call(request: Request, catalog: Catalog, params: Params) -> tuple[str, Shape]:
    post = request.method == "POST"
    if post:
        assert request.body is not None
        keys = set(request.body.keys)
    else:
        keys = {name for name, _ in request.args}
    fn = _find_function(request.name, keys, catalog, post)
    scalar = not fn.returns_composite
    known = set(fn.columns) if fn.returns_composite else set()
    check_reads(request, "pgrst_source", known)

    function = f"{SCHEMA}.{ident(fn.name)}"

    def call_it(args: str) -> str:
        if scalar:
            return f"(SELECT {function}({args}) pgrst_scalar) pgrst_call"
        return f"{function}({args}) pgrst_call"

    specified = [p for p in fn.params if p.name in keys]
    if post and len(fn.params) == 1 and not fn.params[0].name:
        assert request.body is not None
        # A single unnamed json/jsonb parameter takes the whole body.
        source_from = call_it(f"{params.bind(request.body.raw)}::{type_name(fn.params[0].type)}")
    elif not specified:
        source_from = call_it("")
    elif post:
        assert request.body is not None
        record = "json_to_record" if request.body.is_object else "json_to_recordset"
        names = ", ".join(ident(p.name) for p in specified)
        typed = ", ".join(f"{ident(p.name)} {type_name(p.type)}" for p in specified)
        args = ", ".join(
            f"{'VARIADIC ' if p.variadic else ''}{ident(p.name)} := pgrst_body.{ident(p.name)}"
            for p in specified
        )
        source_from = (
            f"(SELECT {params.bind(request.body.raw)}::json AS json_data) pgrst_payload, "
            f"LATERAL (SELECT {names} FROM {record}(pgrst_payload.json_data) AS _({typed}) "
            f"LIMIT 1) pgrst_body, LATERAL {call_it(args)}"
        )
    else:
        given = dict(request.args)  # a repeated argument: the last one counts
        args = ", ".join(
            f"{ident(p.name)} := {params.bind(given[p.name])}::{type_name(p.type)}"
            for p in specified
        )
        source_from = call_it(args)
    columns = "pgrst_call.pgrst_scalar" if scalar else "pgrst_call.*"
    where = where_clause(SOURCE, request.filters, params)
    rows = (
        f"SELECT {select_list(SOURCE, request.select)} FROM {SOURCE}{where}"
        f"{order_clause(SOURCE, request)}{limit_clause(request, params)}"
    )
    many = fn.returns_set and not request.single
    if scalar:
        body = SQL["body_scalar_array"] if many else SQL["body_scalar"]
    else:
        body = SQL["body_array"] if many else SQL["body_object"]
    sql = frame(
        f"SELECT {columns} FROM {source_from}",
        rows=rows,
        body=body,
        request=request,
        count_query=f"SELECT 1 FROM {SOURCE}{where}",
        page_total=None if fn.returns_set else "1",
    )
    read_only = not post or fn.volatility in ("s", "i")
    return sql, _shape(request, "call", read_only=read_only, void=fn.returns_void)


def _find_function(name: str, keys: set[str], catalog: Catalog, post: bool) -> Function:
    """PostgREST's findProc: the overload whose parameters the given argument names fit, else a
    single unnamed json/jsonb parameter that takes the whole body."""
    overloads = catalog.functions.get(name, ())
    matches = [f for f in overloads if _fits(f, keys)]
    whole_body = [
        f
        for f in overloads
        if post
        and f not in matches
        and len(f.params) == 1
        and not f.params[0].name
        and f.params[0].type in _JSON_PARAM_TYPES
    ]
    candidates = matches or whole_body
    if len(candidates) == 1:
        return candidates[0]
    if candidates:
        raise ambiguous_function(name, [f.signature for f in candidates])
    raise no_function(
        name, keys, catalog.functions, [[p.name for p in f.params] for f in overloads]
    )


def _fits(fn: Function, keys: set[str]) -> bool:
    if not fn.params:
        return not keys
    required = {p.name for p in fn.params if p.required}
    optional = {p.name for p in fn.params if not p.required}
    return keys - optional == required


# --- writes ------------------------------------------------------------------------------------


def _insert(request: Request, table: Table, params: Params) -> tuple[str, Shape]:
    assert request.body is not None
    body = request.body
    rel = f"{SCHEMA}.{ident(table.name)}"
    if request.prefer.missing == "default":
        raise not_implemented("Prefer: missing=default")
    check_written(table, body.keys)
    check_returned(request, table.name, column_names(table))
    resolution = request.prefer.resolution
    if request.on_conflict is not None:
        for name in request.on_conflict:
            if table.column(name) is None:
                raise undefined_conflict_column(name)
    conflict = request.on_conflict if request.on_conflict is not None else table.pk
    merge = resolution == "merge-duplicates"

    payload = f"(SELECT {params.bind(body.raw)}::json AS json_data) pgrst_payload"
    if body.keys:
        names = ", ".join(ident(k) for k in body.keys)
        record = "json_to_record" if body.is_object else "json_to_recordset"
        typed = typed_columns(table, body.keys)
        from_body = (
            f"SELECT {', '.join(f'pgrst_body.{ident(k)}' for k in body.keys)} FROM {payload}, "
            f"LATERAL (SELECT {names} FROM {record}(pgrst_payload.json_data) AS _({typed}) ) "
            "pgrst_body"
        )
        sql = f"INSERT INTO {rel}({names}) {from_body}"
    else:
        # No keys: each element becomes a row of defaults.
        rows = (
            "(values(1)) _" if body.is_object else "json_array_elements(pgrst_payload.json_data) _"
        )
        sql = f"INSERT INTO {rel} SELECT FROM {payload}, LATERAL (SELECT FROM {rows} ) pgrst_body"
    if merge:
        sql += f" WHERE {SQL['count_inserted']}"
    if resolution is not None and conflict:
        sql += f" ON CONFLICT({', '.join(ident(c) for c in conflict)}) "
        if resolution == "ignore-duplicates" or not body.keys:
            sql += "DO NOTHING"
        else:
            sets = ", ".join(f"{ident(k)} = EXCLUDED.{ident(k)}" for k in body.keys)
            sql += f"DO UPDATE SET {sets} WHERE {SQL['count_updated']}"
    sql += " " + _returning(rel, request)
    statement = _write_frame(sql, request, inserted=SQL["inserted"] if merge else None)
    applied_resolution = resolution if (table.pk or request.on_conflict is not None) else None
    shape = _shape(request, "insert", merge=merge, resolution=applied_resolution)
    return statement, shape


def _update_or_delete(request: Request, table: Table, params: Params) -> tuple[str, Shape]:
    rel = f"{SCHEMA}.{ident(table.name)}"
    check_filters(request.filters, table.name, column_names(table))
    check_returned(request, table.name, column_names(table))
    action: Action
    if request.method == "PATCH":
        action = "update"
        assert request.body is not None
        body = request.body
        if request.prefer.missing == "default":
            raise not_implemented("Prefer: missing=default")
        check_written(table, body.keys)
        if not body.keys:
            # Nothing to set: PostgREST selects no row rather than write an empty SET.
            returned = _returning(rel, request).removeprefix("RETURNING ")
            sql = f"SELECT {returned} FROM {rel} WHERE false"  # no row: nothing is checked
            return _write_frame(sql, request), _shape(request, action)
        _safe_update(request, "UPDATE")
        where = where_clause(rel, request.filters, params)
        record = "json_to_record" if body.is_object else "json_to_recordset"
        sets = ", ".join(f"{ident(k)} = pgrst_body.{ident(k)}" for k in body.keys)
        sql = (
            f"UPDATE {rel} SET {sets} "
            f"FROM (SELECT {params.bind(body.raw)}::json AS json_data) pgrst_payload, "
            f"LATERAL (SELECT {', '.join(ident(k) for k in body.keys)} FROM "
            f"{record}(pgrst_payload.json_data) AS _({typed_columns(table, body.keys)}) ) "
            f"pgrst_body{where} {_returning(rel, request)}"
        )
    else:
        action = "delete"
        _safe_update(request, "DELETE")
        where = where_clause(rel, request.filters, params)
        sql = f"DELETE FROM {rel}{where} {_returning(rel, request)}"
    return _write_frame(sql, request), _shape(request, action)


def _safe_update(request: Request, verb: str) -> None:
    """Supabase loads pg-safeupdate for PostgREST's sessions: an UPDATE or DELETE without a
    WHERE clause fails (21000, 400 through PostgREST)."""
    if not request.filters:
        raise pgrst(400, "21000", f"{verb} requires a WHERE clause")


def _returning(rel: str, request: Request) -> str:
    if not _representation(request):
        return "RETURNING 1"  # only the count is needed; no SELECT right or policy is
    names: list[str] = []
    for item in request.select:
        if item.column == "*":
            return f"RETURNING {rel}.*"
        if item.column not in names:
            names.append(item.column)
    return "RETURNING " + ", ".join(f"{rel}.{ident(n)}" for n in names)


def _write_frame(source: str, request: Request, inserted: str | None = None) -> str:
    if _representation(request):
        listed = select_list(SOURCE, request.select)
        rows = f"SELECT {listed} FROM {SOURCE}{order_clause(SOURCE, request)}"
        body = SQL["body_object"] if request.single else SQL["body_array"]
    else:
        rows, body = f"SELECT * FROM {SOURCE}", SQL["body_none"]
    return frame(source, rows=rows, body=body, request=request, inserted=inserted, writes=True)


def _representation(request: Request) -> bool:
    return request.prefer.representation == "representation"


def _shape(
    request: Request,
    action: Action,
    *,
    read_only: bool = False,
    void: bool = False,
    merge: bool = False,
    resolution: str | None = None,
) -> Shape:
    prefer = request.prefer
    writes = action in ("insert", "update", "delete")
    applied = [
        f"resolution={resolution}" if resolution else None,
        f"return={prefer.representation}" if writes and prefer.representation else None,
        f"count={prefer.count}" if prefer.count else None,
        f"handling={prefer.handling}" if prefer.handling else None,
    ]
    listed = [a for a in applied if a]
    # Writes report a count for exact and estimated only (PostgREST's shouldCount); reads count
    # exactly for any of them (no planner estimates here).
    counts = ("exact", "estimated") if writes else ("exact", "planned", "estimated")
    return Shape(
        action=action,
        single=request.single,
        head=request.head,
        representation=writes and _representation(request),
        void=void,
        merge=merge,
        count=prefer.count in counts,
        offset=request.offset,
        prefer_applied=", ".join(listed) if listed else None,
        read_only=read_only,
    )

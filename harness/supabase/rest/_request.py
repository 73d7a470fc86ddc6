"""An HTTP request to /rest/v1 read into what it asks for (PostgREST's ApiRequest): the resource,
the query-string parts, the Prefer and Accept headers and the JSON body. Nothing here knows the
database; names are checked against the catalog when the statement is built."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote

from harness.supabase.rest._errors import (
    SCHEMA,
    Refusal,
    invalid_body,
    invalid_path,
    invalid_preferences,
    media_type,
    negative_limit,
    not_embedded,
    not_implemented,
    parse_error,
    rpc_method,
    unacceptable_schema,
    unsupported_method,
)
from harness.supabase.rest._grammar import (
    Filter,
    OrderTerm,
    SelectItem,
    looks_like_filter,
    parse_columns,
    parse_filter,
    parse_filter_key,
    parse_integer,
    parse_order,
    parse_select,
)

PREFIX = "/rest/v1"
SINGLE_TYPE = "application/vnd.pgrst.object+json"
# The preferences PostgREST knows; any other is ignored unless handling=strict.
_PREFERENCES = {
    "return": ("representation", "minimal", "headers-only"),
    "resolution": ("merge-duplicates", "ignore-duplicates"),
    "count": ("exact", "planned", "estimated"),
    "missing": ("default", "null"),
    "handling": ("strict", "lenient"),
    "tx": ("commit", "rollback"),
}
_RESERVED = ("select", "columns", "on_conflict")
_RESERVED_ENDINGS = ("order", "limit", "offset", "and", "or")


@dataclass(frozen=True)
class Prefer:
    representation: str | None = None  # "representation", "minimal", "headers-only"
    resolution: str | None = None  # "merge-duplicates", "ignore-duplicates"
    count: str | None = None  # "exact", "planned", "estimated"
    missing: str | None = None  # "default", "null"
    handling: str | None = None  # "strict", "lenient"
    invalid: tuple[str, ...] = ()


@dataclass(frozen=True)
class Body:
    raw: str  # the JSON text handed to the database
    keys: tuple[str, ...]  # the columns or arguments it sets, sorted as PostgREST sorts them
    is_object: bool  # one object (json_to_record), or an array of them (json_to_recordset)


@dataclass(frozen=True)
class Request:
    method: str  # GET, HEAD, POST, PATCH, DELETE
    rpc: bool  # /rpc/<name> rather than /<table>
    name: str
    select: tuple[SelectItem, ...]
    filters: tuple[Filter, ...]
    order: tuple[OrderTerm, ...]
    limit: int | None
    offset: int
    on_conflict: tuple[str, ...] | None
    args: tuple[tuple[str, str], ...]  # GET /rpc arguments, as text
    body: Body | None
    prefer: Prefer
    single: bool  # Accept: application/vnd.pgrst.object+json

    @property
    def head(self) -> bool:
        return self.method == "HEAD"


def parse_request(
    method: str, path: str, query: str, headers: Mapping[str, str], body: bytes
) -> Request:
    """Read a request, or raise Refusal with PostgREST's answer to a malformed one."""
    method = method.upper()
    rpc, name = _resource(path)
    _check_method(method, rpc)
    _check_profile(method, headers)
    prefer = _prefer(headers.get("prefer", ""))
    if prefer.handling == "strict" and prefer.invalid:
        raise invalid_preferences(prefer.invalid)
    params = parse_qsl(query, keep_blank_values=True)
    if any("\x00" in key + value for key, value in params):
        raise parse_error("query string", query, 1, "unexpected NUL character")
    select: tuple[SelectItem, ...] = (SelectItem("*"),)
    filters: list[Filter] = []
    order: tuple[OrderTerm, ...] = ()
    limit, offset = None, 0
    columns: tuple[str, ...] | None = None
    on_conflict: tuple[str, ...] | None = None
    args: list[tuple[str, str]] = []
    for key, value in params:
        ending = key.rsplit(".", 1)[-1]
        if "." in key and ending in _RESERVED_ENDINGS:
            raise not_embedded(key.split(".", 1)[0])
        if key == "select":
            select = parse_select(value)
        elif key == "columns":
            columns = parse_columns(value, "columns")
        elif key == "on_conflict":
            on_conflict = parse_columns(value, "on_conflict")
        elif value == "":
            continue  # PostgREST drops empty parameters
        elif key == "order":
            order = parse_order(value)
        elif key == "limit":
            limit = parse_integer(value)
        elif key == "offset":
            offset = parse_integer(value) or 0
        elif key in ("and", "or", "not.and", "not.or"):
            raise not_implemented("Logic trees (and=, or=)")
        elif rpc and method in ("GET", "HEAD") and not looks_like_filter(value):
            args.append((key, value))
        else:
            filters.append(parse_filter(parse_filter_key(key), value))
    if limit is not None and limit < 0:
        raise negative_limit()
    return Request(
        method=method,
        rpc=rpc,
        name=name,
        select=select,
        filters=tuple(filters),
        order=order,
        limit=limit,
        offset=offset,
        on_conflict=on_conflict,
        args=tuple(args),
        body=_body(body, headers, columns, rpc) if method in ("POST", "PATCH") else None,
        prefer=prefer,
        single=_accepts_single(headers.get("accept")),
    )


def _resource(path: str) -> tuple[bool, str]:
    if not (path == PREFIX or path.startswith(PREFIX + "/")):
        raise invalid_path()
    segments = [unquote(s) for s in path[len(PREFIX) :].split("/")[1:]]
    if segments in ([], [""]):
        raise not_implemented("The OpenAPI description at /rest/v1/")
    if len(segments) == 1:
        return False, segments[0]
    if len(segments) == 2 and segments[0] == "rpc":
        return True, segments[1]
    raise invalid_path()


def _check_method(method: str, rpc: bool) -> None:
    if method == "OPTIONS":
        raise not_implemented("OPTIONS")
    if rpc and method not in ("GET", "HEAD", "POST"):
        raise rpc_method(method)
    if method == "PUT" and not rpc:
        raise not_implemented("PUT (single-row upsert)")
    if method not in ("GET", "HEAD", "POST", "PATCH", "DELETE"):
        raise unsupported_method(method)


def _check_profile(method: str, headers: Mapping[str, str]) -> None:
    """supabase-js names the schema in Accept-Profile (reads) or Content-Profile (writes)."""
    header = "accept-profile" if method in ("GET", "HEAD") else "content-profile"
    schema = headers.get(header)
    if schema is not None and schema != SCHEMA:
        raise unacceptable_schema(schema)


def _prefer(header: str) -> Prefer:
    found: dict[str, str] = {}
    invalid = []
    for token in (t.strip() for t in header.split(",")):
        if not token:
            continue
        key, _, value = token.partition("=")
        if value in _PREFERENCES.get(key, ()):
            found.setdefault(key, value)  # the first one given wins
        elif key not in ("timezone", "max-affected"):
            invalid.append(token)
    return Prefer(
        representation=found.get("return"),
        resolution=found.get("resolution"),
        count=found.get("count"),
        missing=found.get("missing"),
        handling=found.get("handling"),
        invalid=tuple(invalid),
    )


def _accepts_single(accept: str | None) -> bool:
    """Whether the response is one object; raises 406 for an Accept the emulation cannot give."""
    if accept is None or not accept.strip():
        return False
    ranked = []
    for n, part in enumerate(accept.split(",")):
        mime, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        ranked.append((-quality, n, mime.lower()))
    for _, _, mime in sorted(ranked):
        if mime in ("application/json", "*/*", "application/*"):
            return False
        if mime == SINGLE_TYPE:
            return True
    raise media_type(mime for _, _, mime in sorted(ranked))


def _body(
    raw: bytes, headers: Mapping[str, str], columns: tuple[str, ...] | None, rpc: bool
) -> Body:
    content_type = headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if content_type in ("text/csv", "application/x-www-form-urlencoded", "text/plain"):
        raise not_implemented(f"A {content_type} request body")
    if content_type != "application/json":
        raise invalid_body(f"Content-Type not acceptable: {content_type}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise invalid_body("Empty or invalid json") from None
    if not text.strip() and rpc:
        text = "{}"
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except ValueError:
        raise invalid_body("Empty or invalid json") from None
    is_object = text.lstrip(" \t\n\r").startswith("{")
    if columns is not None:
        # ?columns= names what to read from each element; other keys are ignored.
        return Body(text, tuple(sorted(set(columns))), is_object)
    if isinstance(value, dict):
        return Body(text, tuple(sorted(value)), True)
    if isinstance(value, list):
        if not value:
            return Body("[]", (), False)
        first = value[0]
        keys = set(first) if isinstance(first, dict) else None
        if keys is None or not all(isinstance(v, dict) and set(v) == keys for v in value):
            raise invalid_body("All object keys must match")
        return Body(text, tuple(sorted(keys)), False)
    # A JSON scalar is taken as an empty array, as PostgREST takes it.
    return Body("[]", (), False)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def header_map(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers by lower-case name (HTTP names are case-insensitive)."""
    return {k.lower(): v for k, v in headers.items()}


def bearer(headers: Mapping[str, str]) -> str | None:
    """The token of `Authorization: Bearer <token>`; None without one (PostgREST ignores other
    schemes)."""
    value = headers.get("authorization")
    if value is None:
        return None
    found = re.fullmatch(r"\s*bearer(?:\s+(.*?))?\s*", value, re.IGNORECASE | re.DOTALL)
    return None if found is None else (found.group(1) or "")


__all__ = ["Body", "Prefer", "Refusal", "Request", "bearer", "header_map", "parse_request"]

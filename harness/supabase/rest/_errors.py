"""The replies refused before the database, with PostgREST's (or Supabase's gateway's) codes,
messages and statuses (PostgREST src/PostgREST/Error.hs)."""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping
from typing import Any

JSON_TYPE = "application/json; charset=utf-8"
SCHEMA = "public"


class Refusal(Exception):
    """A request answered without running it: the HTTP status, headers and JSON body to send."""

    def __init__(
        self, status: int, payload: Mapping[str, Any], headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {payload.get('code', '')} {payload.get('message', '')}")
        self.status = status
        self.payload = dict(payload)
        self.headers = dict(headers or {})

    def body(self) -> bytes:
        return dump(self.payload)


def dump(payload: Mapping[str, Any]) -> bytes:
    """JSON as PostgREST's aeson writes an object: keys sorted, no spaces, UTF-8 as is."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def pgrst(
    status: int,
    code: str,
    message: str,
    details: str | None = None,
    hint: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Refusal:
    """A PostgREST error: {"code","details","hint","message"} and its Proxy-Status header."""
    payload = {"code": code, "message": message, "details": details, "hint": hint}
    return Refusal(status, payload, {"Proxy-Status": f"PostgREST; error={code}", **(headers or {})})


# --- Supabase's API gateway, in front of PostgREST ---------------------------------------------


def no_api_key() -> Refusal:
    return Refusal(
        401,
        {
            "message": "No API key found in request",
            "hint": "No `apikey` request header or url param was found.",
        },
    )


def invalid_api_key() -> Refusal:
    return Refusal(
        401,
        {
            "message": "Invalid API key",
            "hint": "Double check your Supabase `anon` or `service_role` API key.",
        },
    )


# --- PGRST1xx: the request itself --------------------------------------------------------------


def parse_error(what: str, text: str, column: int, details: str) -> Refusal:
    """PGRST100. PostgREST's text comes from Parsec; the position and wording here approximate
    it (same code, status and first words)."""
    message = f'"failed to parse {what} ({text})" (line 1, column {column})'
    return pgrst(400, "PGRST100", message, details)


def rpc_method(method: str) -> Refusal:
    return pgrst(405, "PGRST101", f"Cannot use the {method} method on RPC")


def invalid_body(message: str) -> Refusal:
    return pgrst(400, "PGRST102", message)


def negative_limit() -> Refusal:
    return pgrst(
        416,
        "PGRST103",
        "Requested range not satisfiable",
        "Limit should be greater than or equal to zero.",
    )


def out_of_range(offset: int, total: int) -> Refusal:
    return pgrst(
        416,
        "PGRST103",
        "Requested range not satisfiable",
        f"An offset of {offset} was requested, but there are only {total} rows.",
    )


def unacceptable_schema(schema: str) -> Refusal:
    return pgrst(
        406,
        "PGRST106",
        f"Invalid schema: {schema}",
        hint=f"Only the following schemas are exposed: {SCHEMA}",
    )


def media_type(accepted: Iterable[str]) -> Refusal:
    listed = ", ".join(accepted)
    return pgrst(406, "PGRST107", f"None of these media types are available: {listed}")


def not_embedded(resource: str) -> Refusal:
    return pgrst(
        400,
        "PGRST108",
        f"'{resource}' is not an embedded resource in this request",
        hint=f"Verify that '{resource}' is included in the 'select' query parameter.",
    )


def singular(rows: int) -> Refusal:
    return pgrst(
        406,
        "PGRST116",
        "Cannot coerce the result to a single JSON object",
        f"The result contains {rows} rows",
    )


def unsupported_method(method: str) -> Refusal:
    return pgrst(405, "PGRST117", f"Unsupported HTTP method: {method}")


def invalid_preferences(prefs: Iterable[str]) -> Refusal:
    return pgrst(
        400,
        "PGRST122",
        "Invalid preferences given with handling=strict",
        "Invalid preferences: " + ", ".join(prefs),
    )


def aggregates() -> Refusal:
    return pgrst(400, "PGRST123", "Use of aggregate functions is not allowed")


def invalid_path() -> Refusal:
    return pgrst(404, "PGRST125", "Invalid path specified in request URL")


def not_implemented(what: str) -> Refusal:
    """PGRST127, for what PostgREST does but this emulation does not: say what, so a test that
    needs it fails loudly rather than passing on a silently different answer."""
    return pgrst(
        400,
        "PGRST127",
        "Feature not implemented",
        f"{what} is not supported by threadsync's PostgREST emulation",
    )


# --- PGRST2xx: the schema cache ----------------------------------------------------------------


def no_function(
    name: str, keys: Iterable[str], known: Iterable[str], overloads: Iterable[Iterable[str]]
) -> Refusal:
    """PGRST202, as for a POST with a JSON body (which also tries a single unnamed json param)."""
    args = sorted(keys)
    qualified = f"{SCHEMA}.{name}"
    listed = ", ".join(args)
    if args:
        message = f"Could not find the function {qualified}({listed}) in the schema cache"
        searched = (" with parameters " if len(args) > 1 else " with parameter ") + listed
    else:
        message = f"Could not find the function {qualified} without parameters in the schema cache"
        searched = " without parameters"
    details = (
        f"Searched for the function {qualified}{searched} or with a single unnamed json/jsonb "
        "parameter, but no matches were found in the schema cache."
    )
    # With overloads of that name, the nearest parameter list; else the nearest function name.
    signatures = ["(" + ", ".join(sorted(params)) + ")" for params in overloads]
    if signatures:
        close = _closest("(" + listed + ")", signatures, 0.33)
        target = None if close is None else qualified + close
    else:
        close = _closest(name, known, 0.75)
        target = None if close is None else f"{SCHEMA}.{close}"
    hint = None if target is None else f"Perhaps you meant to call the function {target}"
    return pgrst(404, "PGRST202", message, details, hint)


def ambiguous_function(name: str, signatures: Iterable[str]) -> Refusal:
    listed = ", ".join(f"{SCHEMA}.{name}({sig})" for sig in signatures)
    return pgrst(
        300,
        "PGRST203",
        f"Could not choose the best candidate function between: {listed}",
        hint="Try renaming the parameters or the function itself in the database so function "
        "overloading can be resolved",
    )


def no_column(table: str, column: str) -> Refusal:
    """PGRST204: a key of a written body (or of ?columns=) that the table does not have."""
    return pgrst(
        400, "PGRST204", f"Could not find the '{column}' column of '{table}' in the schema cache"
    )


def no_table(name: str, known: Iterable[str]) -> Refusal:
    close = _closest(name, known, 0.75)
    hint = None if close is None else f"Perhaps you meant the table '{SCHEMA}.{close}'"
    message = f"Could not find the table '{SCHEMA}.{name}' in the schema cache"
    return pgrst(404, "PGRST205", message, hint=hint)


def undefined_column(relation: str, column: str) -> Refusal:
    """What PostgreSQL answers (42703, 400 through PostgREST) for a column PostgREST passes on
    unchecked (select, filters, order); refused here before any SQL runs."""
    return pgrst(400, "42703", f"column {relation}.{column} does not exist")


def undefined_conflict_column(column: str) -> Refusal:
    return pgrst(400, "42703", f'column "{column}" does not exist')


def role_not_allowed(role: str) -> Refusal:
    """PostgREST's authenticator is a member of anon, authenticated and service_role only, so
    switching to any other role fails the way PostgreSQL refuses it (42501, 403: a JWT was sent)."""
    return pgrst(403, "42501", f'permission denied to set role "{role}"')


# --- PGRST3xx: the JWT -------------------------------------------------------------------------


def jwt_decode(message: str, details: str | None = None) -> Refusal:
    return pgrst(401, "PGRST301", message, details, headers=_invalid_token(message))


def jwt_claims(message: str) -> Refusal:
    return pgrst(401, "PGRST303", message, headers=_invalid_token(message))


def _invalid_token(message: str) -> dict[str, str]:
    # Haskell's `show` of the message: a double-quoted string literal.
    shown = json.dumps(message, ensure_ascii=False)
    return {"WWW-Authenticate": f'Bearer error="invalid_token", error_description={shown}'}


def _closest(word: str, candidates: Iterable[str], cutoff: float) -> str | None:
    """The nearest candidate. PostgREST uses a fuzzy set (Data.FuzzySet); difflib's ratio is a
    stand-in, so hints name the same candidate in the usual cases, not in every case."""
    found = difflib.get_close_matches(word, list(candidates), n=1, cutoff=cutoff)
    return found[0] if found else None

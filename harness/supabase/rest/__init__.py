"""Supabase's Data API (PostgREST behind Supabase's gateway) as a translator: an HTTP request to
/rest/v1 becomes one SQL statement to run as the JWT's role, and its row or error becomes
PostgREST's reply. It covers what supabase-js sends for `.rpc()` and `.from()` (filters eq, neq,
gt, gte, lt, lte, like, ilike, is, in and the other single-value operators, order, limit,
offset, single, insert, upsert, update, delete); anything else (embedding, and/or trees, casts,
JSON paths, full-text search, PUT, CSV, missing=default) is refused by name (400 PGRST127).

How an engine runs a request (`ok` is false for every error: PostgREST rolls those back):

    reply = prepare(method, path, query, headers, body, load_catalog(conn), JWT_SECRET)
    if isinstance(reply, Statement):
        BEGIN
        execute(PREAMBLE, reply.preamble_params)     # role, claims, timeouts, read-only
        try:
            rows = execute(reply.sql, reply.params)   # one row, as dicts
            reply = answer(reply, rows)
        except psycopg.Error as exc:
            reply = answer_error(reply, exc)
        COMMIT if reply.ok else ROLLBACK
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping

from harness.supabase.rest._catalog import Catalog, load_catalog
from harness.supabase.rest._errors import (
    Refusal,
    invalid_api_key,
    no_api_key,
    role_not_allowed,
)
from harness.supabase.rest._jwt import ANON_KEY, JWT_SECRET, SERVICE_ROLE_KEY, role_of, sign, verify
from harness.supabase.rest._model import Answer, Auth, Shape, Statement
from harness.supabase.rest._request import bearer, header_map, parse_request
from harness.supabase.rest._respond import answer, answer_error, refused
from harness.supabase.rest._sql import SQL
from harness.supabase.rest._translate import translate

# Run with Statement.preamble_params right after BEGIN, before Statement.sql.
PREAMBLE: str = SQL["preamble"]
# The roles PostgREST's authenticator may become on Supabase.
API_ROLES = ("anon", "authenticated", "service_role")


def prepare(
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes,
    catalog: Catalog,
    jwt_secret: str,
    *,
    now: float | None = None,
) -> Statement | Answer:
    """The statement a request to /rest/v1 runs, or the reply when it is refused before the
    database: by the gateway (no or bad apikey), the JWT check, the request's syntax, or the
    schema cache (unknown function, table or column). `now` (Unix seconds) checks exp/nbf/iat."""
    try:
        hdrs = header_map(headers)
        auth = _authenticate(hdrs, jwt_secret, time.time() if now is None else now)
        request = parse_request(method, path, query, hdrs, body)
        return translate(request, catalog, auth)
    except Refusal as refusal:
        return refused(refusal)


def _authenticate(headers: Mapping[str, str], secret: str, now: float) -> Auth:
    """The gateway wants an `apikey` of the project (a key signed with its secret for anon or
    service_role); PostgREST then takes the role from `Authorization: Bearer`, else anon."""
    api_key = headers.get("apikey")
    if not api_key:
        raise no_api_key()
    try:
        key_claims = verify(api_key, secret, now)
    except Refusal:
        raise invalid_api_key() from None
    if role_of(key_claims) not in ("anon", "service_role"):
        raise invalid_api_key()
    token = bearer(headers)
    claims = {} if token is None else verify(token, secret, now)
    role = role_of(claims)
    if role not in API_ROLES:
        raise role_not_allowed(role)
    # PostgREST puts the role it switched to into the claims it exposes.
    exposed = {**claims, "role": role}
    return Auth(
        role, json.dumps(exposed, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    )


sign_jwt = sign
verify_jwt = verify

__all__ = [
    "ANON_KEY",
    "API_ROLES",
    "JWT_SECRET",
    "PREAMBLE",
    "SERVICE_ROLE_KEY",
    "Answer",
    "Auth",
    "Catalog",
    "Shape",
    "Statement",
    "answer",
    "answer_error",
    "load_catalog",
    "prepare",
    "sign_jwt",
    "verify_jwt",
]

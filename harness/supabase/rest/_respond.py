"""The statement's row, or the database's error, made into PostgREST's HTTP reply
(src/PostgREST/Response.hs, RangeQuery.hs and Error.hs's SQLSTATE-to-status mapping)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import psycopg

from harness.lost_connection import recorded_error
from harness.supabase.rest._errors import (
    JSON_TYPE,
    Refusal,
    out_of_range,
    pgrst,
    singular,
)
from harness.supabase.rest._model import Answer, Statement
from harness.supabase.rest._request import SINGLE_TYPE


def refused(refusal: Refusal) -> Answer:
    headers = {"Content-Type": JSON_TYPE, **refusal.headers}
    return Answer(refusal.status, headers, refusal.body())


def answer(stmt: Statement, rows: list[dict[str, Any]]) -> Answer:
    """The reply to a statement that ran; `rows` is what it returned (one row)."""
    if len(rows) != 1:
        raise ValueError(f"a translated statement returns one row, got {len(rows)}: {rows!r}")
    row = rows[0]
    shape = stmt.shape
    page_total = int(row["page_total"])
    total = None if row["total_result_set"] is None else int(row["total_result_set"])
    body = str(row["body"] or "").encode()
    if shape.single and page_total != 1:
        return refused(singular(page_total))
    content_type = f"{SINGLE_TYPE if shape.single else 'application/json'}; charset=utf-8"
    headers: dict[str, str] = {}
    if shape.prefer_applied:
        headers["Preference-Applied"] = shape.prefer_applied

    if shape.action in ("read", "call"):
        lower = shape.offset
        upper = lower + page_total - 1
        if total is not None and lower > total:
            return refused(out_of_range(lower, total))
        headers["Content-Range"] = _content_range(lower, upper, total)
        if shape.void:
            return Answer(204, headers, b"")
        status = 206 if total is not None and upper - lower + 1 < total else 200
        headers["Content-Type"] = content_type
        return Answer(status, headers, b"" if shape.head else body)

    counted = page_total if shape.count else None
    if shape.action == "update":
        headers["Content-Range"] = _content_range(0, page_total - 1, counted)
    else:
        headers["Content-Range"] = _content_range(1, 0, counted)
    if shape.action == "insert":
        inserted = row.get("inserted")
        status = 200 if shape.merge and (inserted is None or int(inserted) <= 0) else 201
        if not shape.representation:
            return Answer(status, headers, b"")
    else:
        if not shape.representation:
            return Answer(204, headers, b"")
        status = 200
    headers["Content-Type"] = content_type
    return Answer(status, headers, body)


def answer_error(stmt: Statement | None, exc: psycopg.Error) -> Answer:
    """PostgREST's reply to an error the database raised while running `stmt` (None: before a
    statement was made, e.g. in the preamble): the error's fields as JSON, and the HTTP status
    PostgREST maps its SQLSTATE to."""
    code = exc.sqlstate
    if code is None:
        if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
            # No SQLSTATE: the connection failed, not the statement.
            # Without psycopg's name for the libpq call (PostgREST has no such words), which
            # differs from run to run.
            details = recorded_error(exc) or None
            return refused(pgrst(503, "PGRST000", "Database connection error.", details))
        # Refused by the client library before the server saw it.
        return refused(pgrst(500, "PGRSTX00", str(exc)))
    diag = exc.diag
    message = diag.message_primary or str(exc)
    details, hint = diag.message_detail, diag.message_hint
    extra: dict[str, str] = {}
    if code == "PGRST":
        return refused(_raised_pgrst(message, details))
    anonymous = stmt is not None and stmt.auth.role == "anon"
    status = _status(code, message, authed=not anonymous)
    if status == 401:
        extra["WWW-Authenticate"] = "Bearer"
    return refused(pgrst(status, code, message, details, hint, extra))


def _status(code: str, message: str, *, authed: bool) -> int:
    """PostgREST's mapSQLtoHTTP."""
    exact = {
        "23503": 409,
        "23505": 409,
        "25006": 405,
        "53400": 500,
        "57P01": 503,
        "P0001": 400,
        "42P01": 404,
        "42P17": 500,
    }
    if code in exact:
        return exact[code]
    if code == "21000":
        return 400 if message.endswith("requires a WHERE clause") else 500
    if code == "22023":
        return 401 if message.startswith("role") and message.endswith("does not exist") else 400
    if code == "42883":
        return 406 if message.startswith("function xmlagg(") else 404
    if code == "42501":
        return 403 if authed else 401
    if code.startswith("PT"):
        try:
            return int(code[2:])
        except ValueError:
            return 500
    by_class = {
        "08": 503,
        "09": 500,
        "0L": 403,
        "0P": 403,
        "25": 500,
        "28": 403,
        "2D": 500,
        "38": 500,
        "39": 500,
        "3B": 500,
        "40": 500,
        "53": 503,
        "54": 500,
        "55": 500,
        "57": 500,
        "58": 500,
        "F0": 500,
        "HV": 500,
        "P0": 500,
        "XX": 500,
    }
    return by_class.get(code[:2], 400)


def _raised_pgrst(message: str, details: str | None) -> Refusal:
    """`RAISE SQLSTATE 'PGRST' USING MESSAGE = '{"code":..}', DETAIL = '{"status":..}'`: the
    function chooses the whole reply."""
    try:
        body = json.loads(message)
        if not isinstance(body, dict) or "code" not in body or "message" not in body:
            raise ValueError
    except ValueError:
        return pgrst(
            500,
            "PGRST121",
            "Could not parse JSON in the \"RAISE SQLSTATE 'PGRST'\" error",
            f"Invalid JSON value for MESSAGE: '{message}'",
            "MESSAGE must be a JSON object with obligatory keys: 'code', 'message' and optional "
            "keys: 'details', 'hint'.",
        )
    hint = (
        "DETAIL must be a JSON object with obligatory keys: 'status', 'headers' and optional "
        "key: 'status_text'."
    )
    if details is None:
        return pgrst(
            500,
            "PGRST121",
            "Could not parse JSON in the \"RAISE SQLSTATE 'PGRST'\" error",
            "DETAIL is missing in the RAISE statement",
            hint,
        )
    try:
        response = json.loads(details)
        if not isinstance(response, dict) or "status" not in response:
            raise ValueError
        headers = response.get("headers")
        if not isinstance(headers, Mapping):
            raise ValueError
    except ValueError:
        return pgrst(
            500,
            "PGRST121",
            "Could not parse JSON in the \"RAISE SQLSTATE 'PGRST'\" error",
            f"Invalid JSON value for DETAIL: '{details}'",
            hint,
        )
    payload = {
        "code": body["code"],
        "message": body["message"],
        "details": body.get("details"),
        "hint": body.get("hint"),
    }
    chosen = {str(k): str(v) for k, v in headers.items()}
    proxy = {"Proxy-Status": f"PostgREST; error={body['code']}"}
    return Refusal(int(response["status"]), payload, {**proxy, **chosen})


def _content_range(lower: int, upper: int, total: int | None) -> str:
    """RangeQuery.contentRangeH: `0-9/42`, `*/0`, `0-9/*`."""
    shown_total = "*" if total is None else str(total)
    if total != 0 and lower <= upper:
        return f"{lower}-{upper}/{shown_total}"
    return f"*/{shown_total}"

"""A webhook handler that is a TypeScript Edge Function: it posts the delivery to the function's
Deno host and serves, as granted steps of its own actor, every request the function makes.

The function runs unchanged. Each request it sends to `SUPABASE_URL` (PostgREST) becomes one
database step, run the way PostgREST runs it (one transaction, as the JWT's role); each request to
`THREADS_API_URL` becomes one API step on the run's fake threads API. So a TypeScript port that
makes the same calls as its Python twin has the same steps, and a saved scenario means the same.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Mapping
from typing import Any

import psycopg

from harness.functions.gateway import (
    NOW_HEADER,
    Answer,
    Finished,
    Gateway,
    Incoming,
    json_answer,
)
from harness.functions.host import Host
from harness.supabase import rest
from harness.supabase.postgrest import RestRequest
from threadsync.pipeline import Context, Reply, WebhookHandler
from threadsync.provider import ProviderError, Thread, ThreadPage

API_PREFIX = "/threads-api"
REST_PREFIX = "/rest/v1/"
PREAMBLE = rest.PREAMBLE.encode()


class Catalog:
    """The project's PostgREST schema cache, read once from the first database a request meets
    (every database of a run is built from the same migrations)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._catalog: rest.Catalog | None = None

    def get(self, dsn: str) -> rest.Catalog:
        with self._lock:
            if self._catalog is None:
                with psycopg.connect(dsn, autocommit=True) as conn:
                    self._catalog = rest.load_catalog(conn)
            return self._catalog


def function_handler(host: Host, gateway: Gateway, catalog: Catalog) -> WebhookHandler:
    """The handler the deliverer calls for this function's webhooks."""

    def handle(ctx: Context, body: str | bytes) -> Reply:
        host.ensure_running()
        delivery = gateway.open()
        try:
            host.deliver(body, delivery, now_ms(ctx))
            while True:
                event = delivery.events.get()
                if isinstance(event, Finished):
                    return _reply(event)
                event.answer(_stamped(serve(ctx, event, catalog), ctx))
        finally:
            # Also when the actor crashed at a step: the function's open request and any later
            # one are refused, so the instance does nothing more (as a killed one).
            gateway.close(delivery)

    handle.__name__ = host.name
    return handle


def now_ms(ctx: Context) -> int | None:
    """The run's virtual time in epoch ms, when the database has a virtual clock."""
    clock = getattr(ctx.db, "clock", None)
    return None if clock is None else round(clock.at().timestamp() * 1000)


def _stamped(answer: Answer, ctx: Context) -> Answer:
    now = now_ms(ctx)
    if now is None:
        return answer
    return Answer(answer.status, {**answer.headers, NOW_HEADER: str(now)}, answer.body)


def serve(ctx: Context, request: Incoming, catalog: Catalog) -> Answer:
    """Answer one request the function made, running it as a step of the delivery's actor."""
    if request.path == API_PREFIX or request.path.startswith(API_PREFIX + "/"):
        return _threads_api(ctx, request)
    if request.path.startswith(REST_PREFIX):
        return _postgrest(ctx, request, catalog)
    return json_answer(
        404,
        {
            "error": f"{request.method} {request.path}: the harness serves only "
            f"SUPABASE_URL/rest/v1/... and THREADS_API_URL/threads..."
        },
    )


def _postgrest(ctx: Context, request: Incoming, catalog: Catalog) -> Answer:
    dsn = getattr(ctx.db, "dsn", None)
    if not isinstance(dsn, str) or not hasattr(ctx.db, "rest_request"):
        return json_answer(500, {"error": "this database cannot serve PostgREST requests"})
    prepared = rest.prepare(
        request.method,
        request.path,
        request.query,
        request.headers,
        request.body,
        catalog.get(dsn),
        rest.JWT_SECRET,
    )
    if not isinstance(prepared, rest.Statement):
        return prepared
    statement = prepared
    run = RestRequest(
        preamble=PREAMBLE,
        preamble_params=statement.preamble_params,
        sql=statement.sql,
        params=statement.params,
        keep=lambda rows: rest.answer(statement, rows).ok,
        text=f"-- {request.method} {request.path}{'?' + request.query if request.query else ''}\n"
        + statement.sql,
        shown_params=_json_or(request.body, statement.params),
        show_rows=_answer_rows,
    )
    try:
        rows = ctx.db.rest_request(run)
    except psycopg.Error as exc:
        return rest.answer_error(statement, exc)
    return rest.answer(statement, rows)


def _json_or(body: bytes, fallback: Any) -> Any:
    """The request's JSON arguments (what the history shows), or the bound parameters."""
    try:
        return json.loads(body) if body else fallback
    except ValueError:
        return fallback


def _answer_rows(rows: list[Any]) -> list[Any]:
    """The rows in a PostgREST answer's JSON body, as a Python handler's statement returns them."""
    if len(rows) != 1 or not isinstance(rows[0], Mapping) or "body" not in rows[0]:
        return rows
    try:
        body = json.loads(rows[0]["body"]) if isinstance(rows[0]["body"], str) else None
    except ValueError:
        return rows
    if isinstance(body, list):
        return body
    return [body] if isinstance(body, Mapping) else [{"value": body}]


def _threads_api(ctx: Context, request: Incoming) -> Answer:
    if ctx.api is None:
        return json_answer(500, {"error": "this run has no threads API"})
    rest_of_path = request.path[len(API_PREFIX) :]
    query = urllib.parse.parse_qs(request.query)
    try:
        if rest_of_path == "/threads" and request.method == "GET":
            limit = _int(query.get("limit", [""])[0])
            if limit is None or limit < 1:
                return json_answer(400, {"error": "limit must be a positive integer"})
            cursor = query.get("cursor", [None])[0]
            page: ThreadPage = ctx.api.fetch_page(cursor, limit)
            return json_answer(
                200, {"threads": list(page.threads), "next_cursor": page.next_cursor}
            )
        if rest_of_path.startswith("/threads/") and request.method == "GET":
            thread_id = urllib.parse.unquote(rest_of_path[len("/threads/") :])
            thread: Thread = ctx.api.fetch_thread(thread_id)
            return json_answer(200, dict(thread))
    except ProviderError as exc:
        headers = {}
        if exc.retry_after is not None:
            headers["retry-after"] = f"{exc.retry_after:g}"
        # A fake API's timeout is answered as a gateway timeout: the function sees it fail.
        return json_answer(exc.status or 504, {"error": str(exc)}, headers)
    return json_answer(
        404, {"error": f"no such threads API route: {request.method} {request.path}"}
    )


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def _reply(finished: Finished) -> Reply:
    try:
        body: Any = json.loads(finished.body) if finished.body else {}
    except ValueError:
        body = {"text": finished.body.decode(errors="replace")[:500]}
    if not isinstance(body, Mapping):
        body = {"value": body}
    return Reply(finished.status, body)


__all__ = ["Catalog", "function_handler", "serve"]

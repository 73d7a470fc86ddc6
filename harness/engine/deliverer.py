"""Plays pg_net's worker and the Edge runtime: takes committed requests off the queue in batches
and turns them into deliveries, or into the errors Supabase would record.

As pg_net does (supabase/pg_net src/worker.c): up to 200 requests per batch, lowest id first, each
request's own headers and timeout; every outcome lands in `net._http_response`; nothing is retried.
As the Edge runtime does: a request without the project's service_role key gets 401 and its function
never runs (`verify_jwt`); a host other than the project's functions host is a connection error; an
unknown function is a 404. Faults decide per request: dropped, delayed, duplicated, delivered early
(before its transaction commits; pg_net cannot do that, it wakes at commit), or delivered to an
instance that crashes, stalls, loses its connection or whose caller times out; and per batch: the
whole batch re-sent after a worker error, or timing out together.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness.engine.actor import Actor
from harness.engine.faults import (
    ActorRule,
    BatchResend,
    BatchTimeout,
    CallerTimeout,
    Delay,
    Drop,
    Duplicate,
    Early,
    FaultPlan,
    actor_rules,
    batch_rules,
)
from harness.engine.scheduler import Scheduler
from threadsync.pipeline import Context, Pipeline, Reply, WebhookHandler
from threadsync.provider import ThreadsProvider
from threadsync.queries import load_named

_SQL = {
    name: sql.encode()
    for name, sql in load_named(Path(__file__).parents[1] / "supabase" / "pgnet.sql").items()
}
# pg_net's worker deletes what it sends; so do we, which also means a request committed late by a
# transaction that took a lower id is still found (no "id > last seen" cursor to miss it).
TAKE_SQL = _SQL["take_batch"]
BATCH_SIZE = 200  # pg_net's default pg_net.batch_size

_PREFIX = {"page_worker": "w", "processor": "p"}


class Deliverer:
    """Turns queued requests into delivery actors, per the fault plan."""

    def __init__(
        self,
        scheduler: Scheduler,
        pipeline: Pipeline,
        plan: FaultPlan,
        api: ThreadsProvider | None,
        on_started: Callable[[int], None] | None = None,
    ) -> None:
        self.s = scheduler
        self.pipeline = pipeline
        self.plan = plan
        self.api = api
        self.on_started = on_started
        self.index_of: dict[int, tuple[int, str, int]] = {}
        self.count = 0
        self.occurrences: Counter[str] = Counter()
        self.started = 0
        self.ids: Counter[str] = Counter()
        self.pending_timers = 0
        self.batches = 0
        self.project: tuple[str, str] | None = None
        # Deliveries whose reply pg_net has not recorded yet: actor id -> (request id, timeout ms).
        self.awaiting: dict[str, tuple[int, int]] = {}
        self.responses: list[dict[str, Any]] = []
        self.seen_finished = 0
        # The scheduler's count of steps that may have committed when the queue was last read
        # (None: read it at the next poll). Only such a step adds to the queue, and only this
        # deliverer takes from it, so an unchanged count means there is nothing new to take.
        self._read_at: int | None = None

    # Tests turn this off to compare histories with a read before every choice.
    read_only_after_commits = True

    def reset_ids(self) -> None:
        """After a server restart the unlogged queue's ids start again, and a crash restart
        lost what it held: read it again, whatever committed."""
        self.index_of.clear()
        self._read_at = None

    def poll(self) -> None:
        assert self.s.monitor is not None
        conn = self.s.monitor.conn
        self._collect_replies()
        if self.responses:
            conn.execute(_SQL["record_responses"], {"responses": json.dumps(self.responses)})
            self.responses = []
        # Read before the queue: a step committing while we take is counted after this, so
        # its requests are read at the next poll.
        commits = self.s.commits
        if commits == self._read_at and self.read_only_after_commits:
            self.s.stats.queue_reads_skipped += 1
            return
        rows = conn.execute(TAKE_SQL, {"batch_size": BATCH_SIZE}).fetchall()
        self.s.stats.queue_reads += 1
        # A full batch may have left requests behind: read again next time.
        self._read_at = commits if len(rows) < BATCH_SIZE else None
        if not rows:
            return
        batch = self.batches
        self.batches += 1
        rules = batch_rules(self.plan.rules, batch)
        for qid, _method, url, headers, body, timeout_ms in sorted(rows, key=lambda r: int(r[0])):
            row = {
                "id": int(qid),
                "url": url,
                "headers": headers or {},
                "body": body,
                "timeout_ms": int(timeout_ms),
            }
            self._arrive(row, batch, rules)

    def _functions_host(self) -> tuple[str, str]:
        """The project's functions URL and service_role key (Vault), read once per run."""
        if self.project is None:
            assert self.s.monitor is not None
            found = self.s.monitor.conn.execute(_SQL["project"]).fetchone()
            url, key = (found or (None, None))[:2]
            self.project = (str(url or "").rstrip("/"), str(key or ""))
        return self.project

    def _refusal(self, row: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        """What the network or the Edge runtime answers before any function runs, if anything."""
        base, key = self._functions_host()
        url = str(row["url"])
        if urlsplit(url).netloc != urlsplit(base).netloc:
            error = f"Couldn't resolve host name: {urlsplit(url).netloc}"
            return "connection_error", {"error_msg": error}
        auth = {str(k).lower(): v for k, v in dict(row["headers"]).items()}.get("authorization")
        if auth != f"Bearer {key}":
            why = "no Authorization header" if auth is None else "wrong Authorization header"
            return "unauthorized", {"status_code": 401, "content": f"Invalid JWT ({why})"}
        if not url.startswith(base + "/") or self.pipeline.handler_for_url(url) is None:
            return "not_found", {"status_code": 404, "content": "Function not found"}
        return None

    def _index(self, row: dict[str, Any]) -> tuple[int, str, int]:
        qid = row["id"]
        if qid not in self.index_of:
            function = str(row["url"]).rstrip("/").rsplit("/", 1)[-1]
            self.index_of[qid] = (self.count, function, self.occurrences[function])
            self.count += 1
            self.occurrences[function] += 1
        return self.index_of[qid]

    def early(self, actor: Actor, rows: list[dict[str, Any]]) -> None:
        """Requests still inside `actor`'s open transaction: an Early rule delivers them now."""
        for row in rows:
            if row["id"] in self.index_of:
                continue
            index, function, occurrence = self._index(row)
            rules = self.plan.for_request(index, function, occurrence)
            if not any(isinstance(r, Early) for r in rules):
                continue
            handler = self.pipeline.handler_for_url(str(row["url"]))
            if handler is None:
                continue
            self.s.record(
                actor, "fault", {"fault": "early", "request": index, "function": function}
            )
            self._spawn(handler, row, index, function, "early", ())

    def _arrive(self, row: dict[str, Any], batch: int, batch_faults: list[Any]) -> None:
        index, function, occurrence = self._index(row)
        record_id = _record_id(row["body"])
        detail: dict[str, Any] = {
            "request": index,
            "function": function,
            "occurrence": occurrence,
            "record_id": record_id,
        }
        refused = self._refusal(row)
        handler = self.pipeline.handler_for_url(str(row["url"]))
        if refused is not None or handler is None:
            outcome, response = refused or ("not_found", {"status_code": 404})
            self.s.record(None, "delivery", {**detail, "outcome": outcome})
            self.responses.append({"id": row["id"], **response})
            return
        rules = self.plan.for_request(index, function, occurrence)
        if any(isinstance(r, Drop) for r in rules):
            self.s.record(None, "delivery", {**detail, "outcome": "dropped"})
            return
        delay = sum(r.seconds for r in rules if isinstance(r, Delay))
        self.s.record(None, "delivery", {**detail, "outcome": "queued", "delay": delay})
        timeouts = tuple(
            CallerTimeout(after_steps=r.after_steps)
            for r in batch_faults
            if isinstance(r, BatchTimeout)
        )
        if timeouts:
            self.s.record(None, "fault", {"fault": "batch_timeout", "batch": batch, **detail})
        self._schedule(handler, row, index, function, 0, delay, actor_rules(rules) + timeouts)
        copy = 0
        for rule in rules:
            if isinstance(rule, Duplicate):
                for c in range(rule.copies):
                    copy += 1
                    self._schedule(
                        handler, row, index, function, copy, delay + rule.delay_of(c), ()
                    )
        for resend in (r for r in batch_faults if isinstance(r, BatchResend)):
            self.s.record(None, "fault", {"fault": "batch_resend", "batch": batch, **detail})
            self._schedule(handler, row, index, function, "resent", delay + resend.delay, ())

    def _schedule(
        self,
        handler: WebhookHandler,
        row: dict[str, Any],
        index: int,
        function: str,
        copy: int | str,
        delay: float,
        rules: tuple[ActorRule, ...],
    ) -> None:
        if delay <= 0:
            self._spawn(handler, row, index, function, copy, rules)
            return

        def later() -> None:
            self._spawn(handler, row, index, function, copy, rules)

        self.s.add_timer(self.s.clock.now + delay, "deliver", later)

    def _spawn(
        self,
        handler: WebhookHandler,
        row: dict[str, Any],
        index: int,
        function: str,
        copy: int | str,
        rules: tuple[ActorRule, ...],
    ) -> None:
        role = _role(self.pipeline, handler)
        prefix = _PREFIX.get(role, "d")
        self.ids[prefix] += 1
        body = json.dumps(row["body"])

        def deliver(ctx: Context) -> Reply:
            return handler(ctx, body)

        actor_id = f"{prefix}{self.ids[prefix]}"
        if copy != "early":
            self.awaiting[actor_id] = (int(row["id"]), int(row.get("timeout_ms", 0)))
        self.s.spawn(
            actor_id,
            role,
            deliver,
            api=self.api,
            faults=rules,
            info={
                "request": index,
                "copy": copy,
                "function": function,
                "record_id": _record_id(row["body"]),
            },
            detect_early=self.plan.has_early,
        )
        self.started += 1
        if self.on_started is not None:
            self.on_started(self.started)

    def _collect_replies(self) -> None:
        """pg_net's record of each finished delivery: a reply, a timeout or a lost connection."""
        finished = self.s.finished
        for actor in finished[self.seen_finished :]:
            request = self.awaiting.pop(actor.id, None)
            if request is not None:
                self.responses.append(_response(actor, *request))
        self.seen_finished = len(finished)


def _response(actor: Actor, request_id: int, timeout_ms: int) -> dict[str, Any]:
    """The `net._http_response` row pg_net would write for this delivery."""
    if actor.caller_gone:
        return {
            "id": request_id,
            "timed_out": True,
            "error_msg": f"Timeout of {timeout_ms} ms reached",
        }
    kind, value = actor.outcome or ("exception", None)
    if kind == "crashed":
        return {"id": request_id, "error_msg": "Server returned nothing (no headers, no data)"}
    if kind == "reply" and isinstance(value, Reply):
        return {
            "id": request_id,
            "status_code": value.status,
            "content_type": "application/json",
            "content": json.dumps(dict(value.body), default=str),
        }
    return {"id": request_id, "status_code": 500, "content": "Internal Server Error"}


def _role(pipeline: Pipeline, handler: WebhookHandler) -> str:
    if handler is pipeline.page_worker:
        return "page_worker"
    if handler is pipeline.processor:
        return "processor"
    return "deliverer"


def _record_id(body: Any) -> Any:
    if isinstance(body, dict) and isinstance(body.get("record"), dict):
        return body["record"].get("id")
    return None


__all__ = ["BATCH_SIZE", "TAKE_SQL", "Deliverer"]

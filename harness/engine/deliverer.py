"""Plays pg_net's worker: takes committed requests off the queue and turns them into deliveries.

Faults decide per request: dropped, delayed, duplicated, delivered early (before its transaction
commits), or delivered to an instance that crashes, stalls, loses its connection or whose caller
times out.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from typing import Any

from harness.engine.actor import Actor
from harness.engine.faults import (
    ActorRule,
    Delay,
    Drop,
    Duplicate,
    Early,
    FaultPlan,
    actor_rules,
)
from harness.engine.scheduler import Scheduler
from threadsync.pipeline import Context, Pipeline, Reply, WebhookHandler
from threadsync.provider import ThreadsProvider

# pg_net's worker deletes what it sends; so do we, which also means a request committed late by a
# transaction that took a lower id is still found (no "id > last seen" cursor to miss it).
TAKE_SQL = "DELETE FROM net.http_request_queue RETURNING id, url, body"

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

    def reset_ids(self) -> None:
        """After a server restart the unlogged queue's ids start again."""
        self.index_of.clear()

    def poll(self) -> None:
        assert self.s.monitor is not None
        rows = self.s.monitor.conn.execute(TAKE_SQL).fetchall()
        for qid, url, body in sorted(rows, key=lambda r: int(r[0])):
            self._arrive({"id": int(qid), "url": url, "body": body})

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

    def _arrive(self, row: dict[str, Any]) -> None:
        index, function, occurrence = self._index(row)
        handler = self.pipeline.handler_for_url(str(row["url"]))
        record_id = _record_id(row["body"])
        detail: dict[str, Any] = {
            "request": index,
            "function": function,
            "occurrence": occurrence,
            "record_id": record_id,
        }
        if handler is None:
            self.s.record(None, "delivery", {**detail, "outcome": "undeliverable"})
            return
        rules = self.plan.for_request(index, function, occurrence)
        if any(isinstance(r, Drop) for r in rules):
            self.s.record(None, "delivery", {**detail, "outcome": "dropped"})
            return
        delay = sum(r.seconds for r in rules if isinstance(r, Delay))
        self.s.record(None, "delivery", {**detail, "outcome": "queued", "delay": delay})
        self._schedule(handler, row, index, function, 0, delay, actor_rules(rules))
        copy = 0
        for rule in rules:
            if isinstance(rule, Duplicate):
                for c in range(rule.copies):
                    copy += 1
                    self._schedule(
                        handler, row, index, function, copy, delay + rule.delay_of(c), ()
                    )

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

        self.s.spawn(
            f"{prefix}{self.ids[prefix]}",
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


__all__ = ["TAKE_SQL", "Deliverer"]

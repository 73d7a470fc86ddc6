"""The contract between a pipeline and whatever runs it: handlers, their context, their replies."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from threadsync.provider import ThreadsProvider

Params = Mapping[str, Any] | Sequence[Any]
Row = dict[str, Any]


class Database(Protocol):
    """What a handler may do with PostgreSQL: run a statement, or group statements in a transaction.

    Outside `transaction()` every statement commits on its own (autocommit), as an Edge Function's
    RPC call does. The harness substitutes an instrumented implementation that turns each statement
    and each transaction boundary into a step its scheduler grants, so handlers must do all their
    database work through this object.
    """

    def query(self, sql: str, params: Params | None = None) -> list[Row]: ...

    def transaction(self) -> AbstractContextManager[None]: ...


@dataclass(frozen=True)
class Reply:
    """An HTTP-style answer from a handler: a status code and a JSON-serialisable body."""

    status: int
    body: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def to_json(self) -> str:
        return json.dumps({"status": self.status, "body": dict(self.body)}, sort_keys=True)


@dataclass
class Context:
    """Everything a handler needs; nothing global, so the harness can hand each actor its own."""

    db: Database
    api: ThreadsProvider | None = None


WebhookHandler = Callable[[Context, "str | bytes"], Reply]
SweepHandler = Callable[[Context], Reply]
StartHandler = Callable[[Context, int], Reply]


@dataclass(frozen=True)
class Pipeline:
    """A complete pipeline implementation: its migrations and its four entry points.

    `functions` maps the last path segment of a webhook URL (the Edge Function's name) to the
    handler that serves it; the deliverer routes every queued request through it.
    """

    name: str
    migrations: tuple[Path, ...]
    start_sync: StartHandler
    page_worker: WebhookHandler
    processor: WebhookHandler
    sweeper: SweepHandler
    functions: Mapping[str, WebhookHandler] = field(default_factory=dict)

    def handler_for_url(self, url: str) -> WebhookHandler | None:
        name = url.rstrip("/").rsplit("/", 1)[-1]
        return self.functions.get(name)

    def migration_sql(self) -> Iterator[tuple[Path, str]]:
        for path in self.migrations:
            yield path, path.read_text(encoding="utf-8")

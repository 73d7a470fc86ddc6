"""threadsync: a webhook-driven Postgres pipeline that syncs threads from a paginated API."""

from typing import TYPE_CHECKING, Any

from threadsync.pipeline import Context, Database, Pipeline, Reply
from threadsync.provider import HttpThreadsProvider, ProviderError, ThreadPage, ThreadsProvider

if TYPE_CHECKING:
    from threadsync.db import PsycopgDatabase


def __getattr__(name: str) -> Any:
    # psycopg when it is used: loading a pipeline (its handlers, its migrations) does not need
    # it, and `threadsync replay` starts its server while psycopg imports.
    if name == "PsycopgDatabase":
        from threadsync.db import PsycopgDatabase

        return PsycopgDatabase
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Context",
    "Database",
    "HttpThreadsProvider",
    "Pipeline",
    "ProviderError",
    "PsycopgDatabase",
    "Reply",
    "ThreadPage",
    "ThreadsProvider",
]

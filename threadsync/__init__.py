"""threadsync: a webhook-driven Postgres pipeline that syncs threads from a paginated API."""

from threadsync.db import PsycopgDatabase
from threadsync.pipeline import Context, Database, Pipeline, Reply
from threadsync.provider import HttpThreadsProvider, ProviderError, ThreadPage, ThreadsProvider

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

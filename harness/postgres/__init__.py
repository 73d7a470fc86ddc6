"""PostgreSQL servers for the harness: embedded (default), Docker, or an existing server by DSN.

One module per job: embedded, docker and dsn backends, binaries (finding and preparing them),
templates (migrated template + clones), names (owner tokens in database names), ownership and
reaping (what dead runs left behind), launcher and lifecycle (dying with us, signals).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any

from harness.postgres import lifecycle
from harness.postgres.binaries import CACHE_ROOT, PG_BIN_ENV, find_pg_bin, prepare_pg_bin
from harness.postgres.embedded import Prepare, embedded
from harness.postgres.errors import EnvironmentProblem
from harness.postgres.lifecycle import Terminated, install_signal_handlers
from harness.postgres.names import DB_PREFIX, unique_db_name
from harness.postgres.reaping import reap_databases, reap_quietly, reap_scratch
from harness.postgres.settings import SERVER_SETTINGS

if TYPE_CHECKING:
    from harness.postgres.docker import DOCKER_IMAGE, docker_available
    from harness.postgres.dsn import DSN_ENV
    from harness.postgres.server import Server
    from harness.postgres.templates import TemplateDatabases

# What talks to a server (and so imports psycopg) is imported when first used: `threadsync
# replay` starts its embedded server before it imports psycopg (harness/postgres/ahead.py).
_LAZY = {
    "DOCKER_IMAGE": "docker",
    "docker_available": "docker",
    "DSN_ENV": "dsn",
    "Server": "server",
    "TemplateDatabases": "templates",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)


KINDS = ("embedded", "docker", "dsn")


@contextmanager
def start_server(
    kind: str = "embedded",
    *,
    pg_bin: str | None = None,
    dsn: str | None = None,
    prepare: Prepare = (),
    before_connect: Callable[[], None] | None = None,
) -> Iterator[Server]:
    """Start (or attach to) a PostgreSQL server for the harness and stop it on exit.

    Every start first removes what dead runs left behind: their servers and scratch folders
    here, and on a DSN server their databases. The server is held (Server.claim) while in use.
    An embedded server starts from a cached cluster that holds the `prepare` templates
    (pipeline name, migrations) already migrated (`Server.templates`); other kinds ignore it.
    `before_connect`, if given, is called once an embedded server's processes are launched and
    before anything connects to it (harness/postgres/ahead.py waits there for psycopg).
    """
    backend: AbstractContextManager[Server]
    if kind == "embedded":
        backend = embedded(pg_bin, prepare, before_connect)
    elif kind == "docker":
        from harness.postgres.docker import docker

        backend = docker()
    elif kind == "dsn":
        from harness.postgres.dsn import existing

        backend = existing(dsn)
    else:
        raise EnvironmentProblem(f"unknown server kind {kind!r}; use embedded, docker or dsn")
    lifecycle.install_signal_handlers()
    reap_quietly()
    with backend as server:
        server.claim()
        try:
            if kind == "dsn":
                reap_databases(server)
            yield server
        finally:
            server.release()


__all__ = [
    "CACHE_ROOT",
    "DB_PREFIX",
    "DOCKER_IMAGE",
    "DSN_ENV",
    "KINDS",
    "PG_BIN_ENV",
    "SERVER_SETTINGS",
    "EnvironmentProblem",
    "Server",
    "TemplateDatabases",
    "Terminated",
    "docker_available",
    "find_pg_bin",
    "install_signal_handlers",
    "prepare_pg_bin",
    "reap_databases",
    "reap_scratch",
    "start_server",
    "unique_db_name",
]

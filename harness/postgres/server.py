"""The running server the harness talks to: connection strings, CREATE/DROP DATABASE, ownership."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from harness.postgres.errors import EnvironmentProblem, first_line
from harness.postgres.names import check_harness_name, owner_application_name
from threadsync.queries import load_named

_SQL = load_named(Path(__file__).with_name("servers.sql"))
# psycopg types queries as LiteralString; bytes read from our own file are accepted as they are.
QUERIES: dict[str, bytes] = {
    name: text.encode()
    for name, text in load_named(Path(__file__).with_name("servers.sql")).items()
}


@dataclass
class Server:
    """A running PostgreSQL server the harness can create and drop its databases on.

    `host` is a host name or, for the embedded server, its private Unix-socket folder. The
    password never appears in the repr (nor, for DSN servers, in `dsn()`: that names a passfile).
    """

    kind: str
    host: str
    port: int
    user: str
    password: str | None = field(repr=False)
    admin_dbname: str
    _params: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    # Databases the server was started with, already migrated: migrations_key -> name.
    templates: dict[str, str] = field(default_factory=dict, repr=False, compare=False)
    _stop: Callable[[], None] | None = field(default=None, repr=False, compare=False)
    _restart: Callable[[bool], None] | None = field(default=None, repr=False, compare=False)
    _owner: psycopg.Connection[Any] | None = field(default=None, repr=False, compare=False)

    def dsn(self, dbname: str) -> str:
        """Return a libpq conninfo string for a database on this server."""
        params: dict[str, Any] = {
            **self._params,
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "dbname": dbname,
        }
        if self.password is not None and "passfile" not in self._params:
            params["password"] = self.password
        return make_conninfo(**{k: v for k, v in params.items() if v not in (None, "")})

    def _admin(self) -> psycopg.Connection[Any]:
        """Open an autocommit connection for CREATE/DROP DATABASE."""
        return psycopg.connect(self.dsn(self.admin_dbname), autocommit=True, connect_timeout=5)

    def claim(self) -> None:
        """Hold a session named after this process's owner token, marking its databases live."""
        self.release()
        try:
            self._owner = psycopg.connect(
                self.dsn(self.admin_dbname),
                autocommit=True,
                connect_timeout=5,
                application_name=owner_application_name(),
            )
        except psycopg.Error as exc:
            raise EnvironmentProblem(
                f"cannot open the owner session on the {self.kind} server: "
                f"{first_line(str(exc))}; check that it accepts one more connection"
            ) from None

    def release(self) -> None:
        """Close the owner session (after this process's databases are gone)."""
        owner, self._owner = self._owner, None
        if owner is not None:
            with contextlib.suppress(Exception):
                owner.close()

    def create_database(self, name: str, template: str | None = None) -> None:
        """Create a harness database, optionally as a copy of a template database."""
        check_harness_name(name)
        query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            query = sql.SQL("{} TEMPLATE {}").format(query, sql.Identifier(template))
        with self._admin() as conn:
            conn.execute(query)

    def drop_database(self, name: str) -> None:
        """Drop a harness database, disconnecting its sessions; a missing database is fine."""
        check_harness_name(name)
        with self._admin() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def restart(self, immediate: bool = True) -> None:
        """Stop the embedded server (immediate = crash-like) and start it again."""
        if self._restart is None:
            raise EnvironmentProblem(
                f"restart is only supported for the embedded server, not {self.kind!r}; "
                "use the embedded server (the default) for crash/restart scenarios"
            )
        held = self._owner is not None
        self.release()
        self._restart(immediate)
        if held:
            self.claim()

    def stop(self) -> None:
        """Stop the server if the harness started it; safe to call more than once."""
        self.release()
        stop, self._stop = self._stop, None
        if stop is not None:
            stop()

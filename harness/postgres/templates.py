"""Migrations applied once into a template database, and a fresh clone of it per scenario."""

from __future__ import annotations

import contextlib
from types import TracebackType

import psycopg

from harness.postgres.errors import EnvironmentProblem, first_line
from harness.postgres.migrations import Migrations, migrations_key
from harness.postgres.names import unique_db_name
from harness.postgres.server import Server


def migrate(server: Server, dbname: str, migrations: Migrations) -> None:
    """Apply each migration in its own transaction, then close so the database can be cloned."""
    with psycopg.connect(server.dsn(dbname), connect_timeout=5) as conn:
        for label, sql_text in migrations:
            try:
                conn.execute(sql_text.encode())
                conn.commit()
            except psycopg.Error as exc:
                conn.rollback()
                raise EnvironmentProblem(_failure(label, exc)) from exc


class TemplateDatabases:
    """Migrations applied once into a template database; a fresh clone per scenario.

    The server may hold the template already (an embedded server copied from a cluster cached
    with these migrations applied, see `Server.templates`): it is used as it is.
    """

    def __init__(self, server: Server, migrations: Migrations, name_hint: str = "tpl") -> None:
        self._server = server
        self._clones: list[str] = []
        # Clones made ahead of need (keep_spare), handed out first by `fresh`.
        self._spares: list[str] = []
        ready = server.templates.get(migrations_key(migrations))
        # A template the server came with is the server's: it outlives this object.
        self._owned = ready is None
        if ready is not None:
            self.template_name = ready
            return
        self.template_name = unique_db_name(name_hint)
        server.create_database(self.template_name)
        try:
            migrate(server, self.template_name, migrations)
        except BaseException:
            with contextlib.suppress(Exception):
                server.drop_database(self.template_name)
            raise

    def keep_spare(self, hint: str = "run") -> None:
        """Clone the template now, for the next `fresh` to hand out: a command that starts its
        server while it imports makes its first clone then too (nothing changes a template
        between the two)."""
        name = unique_db_name(hint)
        self._server.create_database(name, template=self.template_name)
        self._clones.append(name)
        self._spares.append(name)

    def fresh(self, hint: str = "run") -> str:
        """A new database cloned from the template (one made ahead if any); its name."""
        if self._spares:
            return self._spares.pop(0)
        name = unique_db_name(hint)
        self._server.create_database(name, template=self.template_name)
        self._clones.append(name)
        return name

    def drop(self, name: str) -> None:
        """Drop one clone."""
        self._server.drop_database(name)
        if name in self._clones:
            self._clones.remove(name)
        if name in self._spares:
            self._spares.remove(name)

    def close(self) -> None:
        """Drop every remaining clone and the template (unless the server came with it); the
        first failure is raised at the end."""
        failures: list[Exception] = []
        for name in [*self._clones, *([self.template_name] if self._owned else [])]:
            try:
                self._server.drop_database(name)
            except Exception as exc:  # try the rest: each one left behind is an orphan
                failures.append(exc)
        self._clones.clear()
        self._spares.clear()
        if failures:
            raise failures[0]

    def __enter__(self) -> TemplateDatabases:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
            return
        # Unwinding already (Ctrl-C, a failure): a cleanup error must not replace the real one;
        # whatever could not be dropped is an orphan that the next command removes.
        with contextlib.suppress(Exception):
            self.close()


def _failure(label: str, exc: psycopg.Error) -> str:
    """What to say when a migration fails. A privilege the server's role lacks, reported with what
    to do (harness/supabase/roles.sql checks Supabase's roles so on a server whose role may not
    create them), is the server's to fix; anything else is the SQL file's."""
    hint = exc.diag.message_hint
    if exc.sqlstate == "42501" and hint:
        return (
            f"migration {label} failed: {first_line(exc.diag.message_primary or str(exc))}; {hint}"
        )
    return f"migration {label} failed: {first_line(str(exc))}; fix that SQL file"

"""An embedded server, its templates and the first run's clone, started on a thread ahead of need.

A command spends about as long importing its modules as its server takes to start and clone a
template, and the server's part runs in other processes: started on a thread while the command
imports, the two overlap. The thread copies the cached cluster and launches postgres before
psycopg is imported at all; it connects (to check the server is up, and to clone) only once the
command's own thread has imported psycopg and the modules that talk to a server (`connectable`),
because a thread importing modules while another imports others can fail with Python's
import-lock deadlock. The command takes the server over (`take`) only if it asks for exactly
the one started (the same binaries and templates); otherwise, or if the start failed, the early
server is stopped and the command starts its own as usual, so a wrong guess costs time only.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from harness.postgres import start_server
from harness.postgres.embedded import Prepare

if TYPE_CHECKING:
    from harness.postgres.server import Server
    from harness.postgres.templates import TemplateDatabases


@dataclass
class Ahead:
    """A server being started on a thread, and what it holds once started."""

    pg_bin: str | None
    prepare: Prepare
    first: int  # which of `prepare` the first run uses: its clone is made ahead
    thread: threading.Thread | None = None
    stack: ExitStack = field(default_factory=ExitStack)
    server: Server | None = None
    templates: list[TemplateDatabases] = field(default_factory=list)
    failed: bool = False
    # Set once the command's thread has imported what connecting takes (`connectable`).
    imported: threading.Event = field(default_factory=threading.Event)

    def _start(self) -> None:
        try:
            server = self.stack.enter_context(
                start_server(
                    "embedded",
                    pg_bin=self.pg_bin,
                    prepare=self.prepare,
                    before_connect=self._wait_imported,
                )
            )
            from harness.postgres.templates import TemplateDatabases  # imported: see connectable

            for n, (name, steps) in enumerate(self.prepare):
                templates = TemplateDatabases(server, steps, name_hint=name)
                if n == self.first:
                    # Only the first run's: the server then does what it would do without
                    # the early start, in the same order (the same transaction ids).
                    templates.keep_spare(name)
                self.templates.append(templates)
            self.server = server
        except BaseException:  # the command's own start reports it, if it happens again
            self.failed = True
            with contextlib.suppress(BaseException):
                self.stack.close()

    def _wait_imported(self) -> None:
        self.imported.wait()

    def _join(self) -> None:
        if self.thread is not None:
            _import_connecting()
            self.imported.set()  # a thread still waiting to connect would never end
            self.thread.join()
            self.thread = None

    @contextmanager
    def running(self) -> Iterator[Server]:
        """The started server, stopped (its folder removed) when the block ends."""
        assert self.server is not None
        try:
            yield self.server
        finally:
            self.stack.close()


_pending: Ahead | None = None


def start(pg_bin: str | None, prepare: Prepare, first: int = 0) -> None:
    """Start an embedded server holding the `prepare` templates, and a clone of the `first`
    one's, on a thread. The caller has imported what the start needs (this module does), so
    the thread imports nothing while the caller goes on importing; it launches the server and
    then waits for `connectable()` before it connects."""
    global _pending
    discard()
    ahead = Ahead(pg_bin, [(name, list(steps)) for name, steps in prepare], first)
    ahead.thread = threading.Thread(target=ahead._start, name="server-ahead", daemon=True)
    _pending = ahead
    ahead.thread.start()


def connectable() -> None:
    """Import psycopg and the modules that talk to a server here, in the caller's thread, then
    let the server started ahead (if any) connect."""
    _import_connecting()
    if _pending is not None:
        _pending.imported.set()


def _import_connecting() -> None:
    import psycopg  # noqa: F401

    from harness.postgres import server, templates  # noqa: F401


def take(kind: str, pg_bin: str | None, prepare: Prepare) -> Ahead | None:
    """The server started ahead, if it started and is the one asked for; None otherwise (and
    the early one, if any, is stopped)."""
    global _pending
    ahead, _pending = _pending, None
    if ahead is None:
        return None
    ahead._join()
    wanted = [(name, list(steps)) for name, steps in prepare]
    if ahead.failed or kind != "embedded" or pg_bin != ahead.pg_bin or wanted != ahead.prepare:
        ahead.stack.close()
        return None
    return ahead


def discard() -> None:
    """Stop a server started ahead that no command took (a command that failed before it ran
    anything)."""
    global _pending
    ahead, _pending = _pending, None
    if ahead is not None:
        ahead._join()
        ahead.stack.close()


__all__ = ["Ahead", "connectable", "discard", "start", "take"]

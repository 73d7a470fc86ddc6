"""The `threadsync` command's entry point: a replay's server starts while the command imports.

`threadsync replay` spends about a quarter of a second importing and about as long starting its
embedded server and cloning a template, nearly all of it in the server's processes. This module
reads which pipelines the scenarios name, loads them (no psycopg needed), and starts the server
on a thread (harness/postgres/ahead.py): the thread copies the cached cluster and launches
postgres while this thread imports psycopg, then connects and clones while it imports the
command line. The replay's workbench takes that server over when it is the one it wants;
anything this module cannot read for sure (other options, other commands, a file it cannot
parse) starts nothing early. The console command (`run`) then exits without the interpreter's
teardown.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

# Options of `replay` that take a value, and the ones that take none; any other starts nothing.
_VALUED = {"--impl", "--history", "--junit", "--pg", "--pg-bin", "--dsn", "--functions"}
_FLAGS = {"--quiet"}


def replay_plan(argv: Sequence[str]) -> tuple[str | None, list[str], str] | None:
    """For a `replay` on the embedded server: its --pg-bin, the pipelines (impl specs) its
    scenarios run, in the order the command sorts them, and the first scenario's; None when
    that is not sure."""
    if not argv or argv[0] != "replay":
        return None
    options: dict[str, str] = {}
    paths: list[Path] = []
    words = iter(argv[1:])
    for word in words:
        if word.startswith("-"):
            name, eq, value = word.partition("=")
            if name in _VALUED:
                given = value if eq else next(words, None)
                if given is None:
                    return None
                options[name] = given
            elif name not in _FLAGS or eq:
                return None
        else:
            paths.append(Path(word))
    if not paths or "--dsn" in options or "--functions" in options:
        return None
    if options.get("--pg", "embedded") != "embedded":
        return None
    # As the command decides: THREADSYNC_DSN means that server unless --pg or --pg-bin says not.
    if os.environ.get("THREADSYNC_DSN") and "--pg" not in options and "--pg-bin" not in options:
        return None
    if "--impl" in options:
        return options.get("--pg-bin"), [options["--impl"]], options["--impl"]
    impls = _impls(paths)
    return None if impls is None else (options.get("--pg-bin"), sorted(set(impls)), impls[0])


def _impls(paths: list[Path]) -> list[str] | None:
    """Each scenario's pipeline, in the order the command runs them."""
    from harness.impl import DEFAULT_IMPL

    found: list[str] = []
    for path in paths:
        files = sorted(p for p in path.rglob("*.json") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            try:
                data = json.loads(file.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return None
            impl = data.get("impl", DEFAULT_IMPL) if isinstance(data, dict) else None
            if not isinstance(impl, str):
                return None
            found.append(impl)
    return found or None


def _start_ahead(argv: Sequence[str]) -> None:
    """Start the replay's server on a thread, if the command line says for sure which."""
    plan = replay_plan(argv)
    if plan is None:
        return
    pg_bin, impls, first = plan
    from harness.impl import ImplError, load_pipeline
    from harness.postgres import ahead, install_signal_handlers
    from harness.sql import harness_migrations

    try:
        prepare = [(p.name, harness_migrations(p)) for p in map(load_pipeline, impls)]
    except (ImplError, OSError):
        return  # the command says what is wrong
    install_signal_handlers()  # main thread only: the server's thread cannot
    ahead.start(pg_bin, prepare, impls.index(first))
    ahead.connectable()  # psycopg imports here while the server's thread copies and launches


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `threadsync` command (harness.cli.main), its server started early if it can be."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        _start_ahead(args)
        from harness import cli

        return cli.main(args)
    finally:
        started = sys.modules.get("harness.postgres.ahead")
        if started is not None:  # a server no command took (one that failed early): stop it
            started.discard()


def run() -> NoReturn:
    """The console command: main(), then an exit that leaves the interpreter's teardown out."""
    _exit_now(main())


def _exit_now(code: int) -> NoReturn:
    """Exit with `code` once everything an orderly exit would finish is finished, without the
    interpreter freeing its modules and objects one by one: after a replay that teardown took
    60-100 ms here, a tenth of the whole command, and nothing outside the process sees it.
    What it would do that matters is done first: other threads' work, the atexit callbacks
    (the servers' backstop, logging's flush, a coverage run's data) and the standard streams."""
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:  # a reader that went away (`threadsync replay ... | head`)
        code = code or 120  # what Python's own exit returns when its final flush fails
    os._exit(code)


if __name__ == "__main__":
    run()

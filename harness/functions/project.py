"""A Supabase project folder (`migrations/` and `functions/`) as a pipeline the harness runs:
its SQL applied as migrations, its TypeScript Edge Functions served by Deno hosts."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from harness.functions.bridge import Catalog, function_handler
from harness.functions.gateway import Gateway
from harness.functions.host import FunctionsError, Host
from harness.supabase import rest
from threadsync import orchestrator, sweeper
from threadsync.pipeline import Pipeline

PREFIX = "functions:"
REQUIRED = ("sync-threads-page-worker", "sync-threads-processor")

_lock = threading.Lock()
_loaded: dict[Path, Pipeline] = {}
_hosts: list[Host] = []
_gateway: Gateway | None = None
_owner_pid = 0


def spec_for(folder: Path) -> str:
    """The `--impl` form of a project folder, so every command that passes an impl passes this."""
    return PREFIX + str(folder.resolve())


def load_project(folder: Path) -> Pipeline:
    """The pipeline a Supabase project folder describes, its functions started (once per process).

    The orchestrator and the sweeper stay the harness's: `start_sync(p_page_size)` called as
    service_role and `sweep()` as pg_cron's job owner, so a project must define both RPCs.
    """
    global _gateway, _owner_pid
    root = _project_root(folder)
    with _lock:
        if _owner_pid != os.getpid():  # a forked child: the parent's hosts and gateway are not ours
            _loaded.clear()
            _hosts.clear()
            _gateway = None
            _owner_pid = os.getpid()
        if root in _loaded:
            return _loaded[root]
        migrations = tuple(sorted((root / "migrations").glob("[0-9]*_*.sql")))
        if not migrations:
            raise FunctionsError(
                f"{root}: no migrations (expected migrations/<timestamp>_<name>.sql, as "
                "`supabase migration new` writes them)"
            )
        names = sorted(
            d.name
            for d in (root / "functions").iterdir()
            if d.is_dir() and not d.name.startswith(("_", ".")) and (d / "index.ts").is_file()
        )
        missing = [n for n in REQUIRED if n not in names]
        if missing:
            raise FunctionsError(
                f"{root}/functions has no {missing[0]}/index.ts: the harness delivers its "
                f"webhooks to {' and '.join(REQUIRED)}"
            )
        if _gateway is None:
            _gateway = Gateway()
        env = {
            "SUPABASE_URL": _gateway.url,
            "SUPABASE_SERVICE_ROLE_KEY": rest.SERVICE_ROLE_KEY,
            "SUPABASE_ANON_KEY": rest.ANON_KEY,
            "THREADS_API_URL": _gateway.url + "/threads-api",
        }
        hosts = {n: Host(n, root / "functions" / n, env, rest.SERVICE_ROLE_KEY) for n in names}
        _start_all(list(hosts.values()))
        _hosts.extend(hosts.values())
        catalog = Catalog()
        handlers = {n: function_handler(h, _gateway, catalog) for n, h in hosts.items()}
        pipeline = Pipeline(
            name=f"functions:{root.name}",
            migrations=migrations,
            start_sync=orchestrator.start_sync,
            page_worker=handlers["sync-threads-page-worker"],
            processor=handlers["sync-threads-processor"],
            sweeper=sweeper.sweep,
            functions=handlers,
        )
        _loaded[root] = pipeline
        return pipeline


def _project_root(folder: Path) -> Path:
    """`folder` itself, or its `supabase/` (a repository root is accepted as well)."""
    folder = folder.expanduser().resolve()
    for candidate in (folder, folder / "supabase"):
        if (candidate / "functions").is_dir() and (candidate / "migrations").is_dir():
            return candidate
    raise FunctionsError(
        f"--functions {folder}: not a Supabase project folder (expected functions/ and "
        "migrations/ in it or in its supabase/); point it at the folder `supabase init` made"
    )


def _start_all(hosts: list[Host]) -> None:
    """Start every function's host at once (each takes Deno's start-up time)."""
    errors: list[BaseException] = []

    def start(host: Host) -> None:
        try:
            host.start()
        except BaseException as exc:  # reported below, after every start has ended
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(h,), daemon=True) for h in hosts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        for h in hosts:
            h.stop()
        raise errors[0]


def stop_all() -> None:
    """Stop every host this process started (tests; a process's exit kills them anyway)."""
    with _lock:
        for h in _hosts:
            h.stop()
        _hosts.clear()
        _loaded.clear()


__all__ = ["PREFIX", "load_project", "spec_for", "stop_all"]

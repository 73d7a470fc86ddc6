"""`threadsync clean`: remove what dead runs left behind, here and on a DSN server, and say what."""

from __future__ import annotations

import os
from collections.abc import Callable

from harness.postgres import DSN_ENV, reap_databases, reap_scratch
from harness.postgres.dsn import existing


def clean(dsn: str | None, say: Callable[[str], None]) -> int:
    """Reap dead runs' servers and scratch folders, and with a DSN their databases; exit 0."""
    removed = reap_scratch()
    if dsn or os.environ.get(DSN_ENV):
        with existing(dsn) as server:
            removed += reap_databases(server)
    for item in removed:
        say(f"removed {item}")
    if not removed:
        say("nothing to clean: no leftovers of dead runs")
    return 0

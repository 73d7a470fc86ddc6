"""The settings every server the harness starts runs with (embedded or Docker)."""

from __future__ import annotations

# Throwaway servers: fsync off for speed, autovacuum off so that only the actors hold locks.
# synchronous_commit stays on: with it off an immediate restart lost just-committed rows
# (measured), and with fsync off it costs nothing measurable (2,000 UPDATEs: ~185 ms either way).
SERVER_SETTINGS: tuple[str, ...] = (
    "fsync=off",
    "full_page_writes=off",
    "autovacuum=off",
    "deadlock_timeout=50ms",
    "max_connections=200",
    "shared_buffers=128MB",
)

__all__ = ["SERVER_SETTINGS"]

"""Harness database names, which carry the owning process's token so orphans can be told apart."""

from __future__ import annotations

import itertools
import os
import re
import secrets

DB_PREFIX = "threadsync_"
# A live owner keeps one session open with this application_name (see Server.claim).
OWNER_APP_PREFIX = "threadsync owner "
_TOKEN_LEN = 12
_TOKEN_RE = re.compile(rf"^{DB_PREFIX}([0-9a-f]{{{_TOKEN_LEN}}})_")

_name_counter = itertools.count()
_token: tuple[int, str] | None = None


def owner_token() -> str:
    """This process's owner token (a forked child gets a token of its own)."""
    global _token
    if _token is None or _token[0] != os.getpid():
        _token = (os.getpid(), secrets.token_hex(_TOKEN_LEN // 2))
    return _token[1]


def owner_application_name(token: str | None = None) -> str:
    """The application_name of the session that marks a token's databases as owned."""
    return OWNER_APP_PREFIX + (token or owner_token())


def token_of(name: str) -> str | None:
    """The owner token a harness database name carries, or None for names without one."""
    match = _TOKEN_RE.match(name)
    return match.group(1) if match else None


def check_harness_name(name: str) -> None:
    """Refuse to touch a database the harness did not name, so a shared DSN server stays safe."""
    if not name.startswith(DB_PREFIX):
        raise ValueError(f"database name {name!r} must start with {DB_PREFIX!r}")


def unique_db_name(hint: str) -> str:
    """Return a fresh name: DB_PREFIX, this process's owner token, the sanitized hint, a counter."""
    suffix = f"{next(_name_counter):x}"
    head = f"{DB_PREFIX}{owner_token()}_"
    clean = re.sub(r"[^a-z0-9_]+", "_", hint.lower()).strip("_") or "db"
    room = 63 - len(head) - 1 - len(suffix)
    return f"{head}{clean[:room].rstrip('_') or 'db'}_{suffix}"

"""The DSN backend: an existing server, checked up front; its password kept out of every string."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from harness.postgres.embedded import scratch_base
from harness.postgres.errors import EnvironmentProblem, first_line
from harness.postgres.ownership import write_owner
from harness.postgres.server import QUERIES, Server

DSN_ENV = "THREADSYNC_DSN"
SCRATCH_PREFIX = "threadsync-dsn-"


def describe_dsn(params: dict[str, Any]) -> str:
    """Describe a DSN as host:port/dbname, never including the password."""
    host = params.get("host") or params.get("hostaddr") or "local socket"
    return f"{host}:{params.get('port') or 5432}/{params.get('dbname') or '(default db)'}"


def _pgpass_field(text: str) -> str:
    return text.replace("\\", "\\\\").replace(":", "\\:")


def _write_passfile(user: str, password: str) -> Path:
    """Put the password in a private passfile (in an owned scratch folder the reaper knows)."""
    folder = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir=scratch_base()))
    write_owner(folder)
    path = folder / "pgpass"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(f"*:*:*:{_pgpass_field(user)}:{_pgpass_field(password)}\n")
    return path


def parse_dsn(dsn: str | None) -> tuple[str, dict[str, Any]]:
    """The DSN to use (argument, else THREADSYNC_DSN) and its parameters; one-line errors."""
    raw = dsn or os.environ.get(DSN_ENV)
    if not raw:
        raise EnvironmentProblem(f"no DSN given: pass --dsn or set {DSN_ENV}")
    try:
        return raw, conninfo_to_dict(raw)
    except psycopg.Error:
        # libpq's parse error can quote pieces of the string, which may be the password.
        raise EnvironmentProblem(
            f"{DSN_ENV}/--dsn is not a valid libpq connection string or URI; fix its syntax"
        ) from None


@contextmanager
def existing(dsn: str | None) -> Iterator[Server]:
    """Attach to an existing server whose role may create databases; nothing of it is stopped."""
    raw, params = parse_dsn(dsn)
    given = params.get("password")
    password = None if given is None else str(given)
    try:
        with psycopg.connect(raw, connect_timeout=5) as conn:
            info = conn.info
            host, port, user, dbname = info.host, info.port, info.user, info.dbname
            row = conn.execute(QUERIES["may_create_databases"]).fetchone()
    except psycopg.Error as exc:
        detail = first_line(str(exc))
        if password:
            detail = detail.replace(password, "***")
        raise EnvironmentProblem(
            f"cannot connect to {DSN_ENV}/--dsn ({describe_dsn(params)}): {detail}; "
            "check the DSN and that the server is running"
        ) from None
    if not (row and row[0]):
        raise EnvironmentProblem(
            f"role {user!r} on {DSN_ENV}/--dsn ({describe_dsn(params)}) may not create databases "
            f"and the harness makes one per run; ALTER ROLE {user} CREATEDB, or use another role"
        )
    base = {k: v for k, v in params.items() if k not in ("host", "port", "user", "password")}
    base.pop("dbname", None)
    passfile = _write_passfile(user, password) if password else None
    if passfile is not None:
        base["passfile"] = str(passfile)
    try:
        yield Server(
            kind="dsn",
            host=host,
            port=int(port),
            user=user,
            password=password,
            admin_dbname=dbname,
            _params=base,
        )
    finally:
        if passfile is not None:
            shutil.rmtree(passfile.parent, ignore_errors=True)

"""The harness's own SQL, as named blocks loaded from the `.sql` files beside this one."""

from __future__ import annotations

from pathlib import Path

from threadsync.queries import load_named

# psycopg types queries as LiteralString; bytes read from our own files are accepted as they are.
INSPECT: dict[str, bytes] = {
    name: sql.encode() for name, sql in load_named(Path(__file__).parent / "inspect.sql").items()
}

__all__ = ["INSPECT"]

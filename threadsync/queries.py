"""Loads the named SQL blocks of a `.sql` file (`-- name: x`), so handlers never build SQL."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

SQL_DIR = Path(__file__).parent / "sql"
_NAME = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)


def load_named(path: Path) -> dict[str, str]:
    """Every named block of `path`, its trailing semicolon and comment-only lines removed."""
    text = path.read_text(encoding="utf-8")
    parts = _NAME.split(text)
    blocks: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        lines = [ln for ln in body.strip().splitlines() if not ln.lstrip().startswith("--")]
        sql = "\n".join(lines).strip().rstrip(";").strip()
        if name in blocks:
            raise ValueError(f"{path}: query {name!r} is defined twice")
        blocks[name] = sql
    return blocks


@cache
def reference() -> dict[str, str]:
    """The reference pipeline's queries."""
    return load_named(SQL_DIR / "queries.sql")


def q(name: str) -> str:
    """One reference query by name."""
    return reference()[name]

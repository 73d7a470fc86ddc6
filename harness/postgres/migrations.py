"""What a template database is made of (labelled migrations), and the key that names it."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

Migrations = Sequence[tuple[str, str]]


def migrations_key(migrations: Migrations) -> str:
    """A digest of every migration's label and text: equal keys mean equal templates."""
    digest = hashlib.sha256()
    for label, sql_text in migrations:
        digest.update(f"{len(label)}:{label}{len(sql_text)}:{sql_text}".encode())
    return digest.hexdigest()[:24]


__all__ = ["Migrations", "migrations_key"]

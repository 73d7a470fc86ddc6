"""PostgREST's schema cache for the exposed schema `public`: its functions and its tables and
views, read with one query (catalog.sql) and kept per database fingerprint."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from threadsync.queries import load_named

_QUERIES = load_named(Path(__file__).with_name("catalog.sql"))
# A single unnamed parameter of these types takes the whole body (PostgREST's "callable" rule).
_WHOLE_BODY_TYPES = frozenset({"json", "jsonb", "text", "xml", "bytea"})
_CACHE_SIZE = 16


@dataclass(frozen=True)
class Param:
    name: str  # "" when the parameter has no name
    type: str  # as written in SQL: "bigint", "public.work_state"
    required: bool  # no DEFAULT
    variadic: bool


@dataclass(frozen=True)
class Function:
    name: str
    params: tuple[Param, ...]
    returns_set: bool
    returns_composite: bool  # rows with columns (TABLE, OUT, a table or composite type)
    returns_void: bool
    columns: tuple[str, ...]  # the columns of its rows, when composite
    volatility: str  # "v", "s" or "i"

    @property
    def signature(self) -> str:
        return ", ".join(f"{p.name} => {p.type}" for p in self.params)


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # the type a JSON value is read as when written to it
    nullable: bool
    has_default: bool


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    pk: tuple[str, ...]  # sorted by name, as PostgREST sorts them
    is_view: bool
    insertable: bool
    updatable: bool
    deletable: bool

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)


@dataclass(frozen=True)
class Catalog:
    fingerprint: str
    functions: Mapping[str, tuple[Function, ...]]  # by name: a name can be overloaded
    tables: Mapping[str, Table]


_cache: OrderedDict[str, Catalog] = OrderedDict()
_lock = threading.Lock()


def load_catalog(conn: psycopg.Connection[Any]) -> Catalog:
    """The catalog of `public` in the database `conn` is connected to; read once per fingerprint
    (a cheap query), so clones of one template share it and any DDL in `public` refreshes it.
    Give it an autocommit connection (else it leaves a transaction open)."""
    with conn.cursor(row_factory=tuple_row) as cur:
        row = cur.execute(_QUERIES["fingerprint"].encode()).fetchone()
        assert row is not None
        fingerprint = str(row[0])
        with _lock:
            if fingerprint in _cache:
                _cache.move_to_end(fingerprint)
                return _cache[fingerprint]
        row = cur.execute(_QUERIES["catalog"].encode()).fetchone()
        assert row is not None
    catalog = _parse(fingerprint, json.loads(row[0]))
    with _lock:
        _cache[fingerprint] = catalog
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return catalog


def _parse(fingerprint: str, doc: dict[str, Any]) -> Catalog:
    functions: dict[str, list[Function]] = {}
    for f in doc["functions"]:
        params = tuple(
            Param(p["name"], p["type"], p["required"], p["variadic"]) for p in f["params"]
        )
        if not _callable(params):
            continue
        fn = Function(
            name=f["name"],
            params=params,
            returns_set=f["returns_set"],
            returns_composite=f["returns_composite"],
            returns_void=f["returns_void"] and not f["returns_set"],
            columns=tuple(f["columns"]),
            volatility=f["volatility"],
        )
        functions.setdefault(fn.name, []).append(fn)
    tables = {
        t["name"]: Table(
            name=t["name"],
            columns=tuple(
                Column(c["name"], c["type"], c["nullable"], c["has_default"]) for c in t["columns"]
            ),
            pk=tuple(t["pk"]),
            is_view=t["is_view"],
            insertable=t["insertable"],
            updatable=t["updatable"],
            deletable=t["deletable"],
        )
        for t in doc["tables"]
    }
    return Catalog(fingerprint, {k: tuple(v) for k, v in functions.items()}, tables)


def _callable(params: tuple[Param, ...]) -> bool:
    """PostgREST exposes a function whose parameters all have names, or whose one unnamed
    parameter can take the whole request body."""
    unnamed = [p for p in params if not p.name]
    if not unnamed:
        return True
    return len(unnamed) == 1 and params[0].type in _WHOLE_BODY_TYPES

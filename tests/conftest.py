"""Shared fixtures: one PostgreSQL per test process, a migrated template, fresh clones.

The server is embedded unless THREADSYNC_DSN names an existing one: then every xdist worker uses
that one server, each with databases of its own (prefixed `threadsync_`, dropped after use).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import psycopg
import pytest

from harness.postgres import Server, TemplateDatabases, start_server
from harness.supabase import migrations
from threadsync.reference import pipeline as reference


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Server]:
    kind = "dsn" if os.environ.get("THREADSYNC_DSN") else "embedded"
    with start_server(kind) as server:
        yield server


@pytest.fixture(scope="session")
def reference_template(pg_server: Server) -> Iterator[TemplateDatabases]:
    with TemplateDatabases(pg_server, migrations(reference), name_hint="ref") as tpl:
        yield tpl


@pytest.fixture
def ref_dsn(pg_server: Server, reference_template: TemplateDatabases) -> Iterator[str]:
    """A fresh database with the reference pipeline migrated, dropped after the test."""
    name = reference_template.fresh("t")
    yield pg_server.dsn(name)
    reference_template.drop(name)


@pytest.fixture
def conn(ref_dsn: str) -> Iterator[psycopg.Connection[object]]:
    with psycopg.connect(ref_dsn, autocommit=True) as c:
        yield c

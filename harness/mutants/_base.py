"""Builds a mutant: the reference pipeline with one SQL override and/or some handlers replaced."""

from __future__ import annotations

import dataclasses
from functools import cache
from pathlib import Path

from threadsync.pipeline import Pipeline, StartHandler, SweepHandler, WebhookHandler
from threadsync.queries import load_named
from threadsync.reference import pipeline as reference

SQL_DIR = Path(__file__).parent / "sql"
PAGE_FUNCTION = "sync-threads-page-worker"
PROCESSOR_FUNCTION = "sync-threads-processor"


@cache
def _queries() -> dict[str, str]:
    return load_named(SQL_DIR / "queries.sql")


def mq(name: str) -> str:
    """One of the statements mutant handlers send that the reference has no need for."""
    return _queries()[name]


def mutant(
    name: str,
    *,
    sql: tuple[str, ...] = (),
    page_worker: WebhookHandler | None = None,
    processor: WebhookHandler | None = None,
    sweeper: SweepHandler | None = None,
    start_sync: StartHandler | None = None,
) -> Pipeline:
    """The reference, named `name`, plus `harness/mutants/sql/<stem>.sql` for each stem in `sql`
    (applied after the reference's migrations, so they replace its functions and triggers), and
    with the given handlers in place of the reference's.

    `functions` is rebuilt from the page worker and processor actually used, so a webhook reaches
    the mutant's handler and never the reference's one it replaced.
    """
    overrides = tuple(SQL_DIR / f"{stem}.sql" for stem in sql)
    for path in overrides:
        if not path.is_file():
            raise FileNotFoundError(f"mutant {name!r}: no SQL override {path}")
    page = page_worker or reference.page_worker
    proc = processor or reference.processor
    return dataclasses.replace(
        reference,
        name=name,
        migrations=reference.migrations + overrides,
        start_sync=start_sync or reference.start_sync,
        page_worker=page,
        processor=proc,
        sweeper=sweeper or reference.sweeper,
        functions={PAGE_FUNCTION: page, PROCESSOR_FUNCTION: proc},
    )

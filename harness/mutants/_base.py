"""Builds a mutant: the reference with SQL overrides, a patched function or new handlers."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import tempfile
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from harness.mutants._patch import Patch, diff, override_sql, patch
from threadsync.pipeline import Pipeline, StartHandler, SweepHandler, WebhookHandler
from threadsync.queries import load_named
from threadsync.reference import pipeline as reference

if TYPE_CHECKING:
    from harness.mutate.generate import Mutant

SQL_DIR = Path(__file__).parent / "sql"
PAGE_FUNCTION = "sync-threads-page-worker"
PROCESSOR_FUNCTION = "sync-threads-processor"

# Mutant name -> (what its SQL edit is, its unified diff), for each mutant built by from_mutation
# or from_patch; filled as their modules are imported, and shown in docs/mutants.md.
EDITS: dict[str, tuple[str, str]] = {}


@cache
def _queries() -> dict[str, str]:
    return load_named(SQL_DIR / "queries.sql")


def mq(name: str) -> str:
    """One of the statements mutant handlers send that the reference has no need for."""
    return _queries()[name]


@dataclasses.dataclass(frozen=True)
class Edits:
    """Exact text edits of one reference function: each `(old, new)` in turn, `old` found once."""

    function: str  # "fail_page" or "public.fail_page"
    edits: tuple[tuple[str, str], ...]


def edits(function: str, *pairs: tuple[str, str]) -> Edits:
    """The edits `pairs` of the reference's current definition of `function`."""
    return Edits(function, pairs)


def mutant(
    name: str,
    *,
    patches: tuple[Edits, ...] = (),
    sql: tuple[str, ...] = (),
    page_worker: WebhookHandler | None = None,
    processor: WebhookHandler | None = None,
    sweeper: SweepHandler | None = None,
    start_sync: StartHandler | None = None,
) -> Pipeline:
    """The reference, named `name`, with each of `patches` applied to its current SQL (see
    from_patch), then `harness/mutants/sql/<stem>.sql` for each stem in `sql` (SQL that is no
    edit of one reference function: new functions, triggers, grants), all after the reference's
    migrations, and with the given handlers in place of the reference's.

    `functions` is rebuilt from the page worker and processor actually used, so a webhook reaches
    the mutant's handler and never the reference's one it replaced.
    """
    overrides = tuple(SQL_DIR / f"{stem}.sql" for stem in sql)
    for path in overrides:
        if not path.is_file():
            raise FileNotFoundError(f"mutant {name!r}: no SQL override {path}")
    if patches:
        found = tuple(patch(reference, name, e.function, e.edits) for e in patches)
        functions = [p.function for p in found]
        if len(set(functions)) < len(functions):
            # The second CREATE OR REPLACE would silently undo the first one's edits.
            raise ValueError(f"mutant {name!r}: give each function's edits in one edits() call")
        EDITS[name] = (_patch_of(found), diff(found))
        overrides = (_override_file(name, override_sql(name, found)), *overrides)
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


def _patch_of(found: tuple[Patch, ...]) -> str:
    return "a patch of " + " and ".join(f"`{p.function}`" for p in found)


def _override_file(name: str, sql: str) -> Path:
    """`sql` written as mutant `name`'s override migration, where every process finds it."""
    # Named by its content: processes (test workers, other checkouts of the project with another
    # reference) that write the same mutant at once never change a file another one will read.
    digest = hashlib.sha256(sql.encode()).hexdigest()[:16]
    folder = Path(tempfile.gettempdir()) / "threadsync-mutants"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.{digest}.sql"
    if not path.is_file():
        tmp = folder / f".{name}.{digest}.{os.getpid()}.sql"
        tmp.write_text(sql, encoding="utf-8")
        tmp.replace(path)
    return path


@cache
def _generated() -> tuple[Mutant, ...]:
    """The reference's generated mutants, once per process: every from_mutation asks for them."""
    from harness.mutate.generate import generate  # pglast: only for the mutants that need it

    return tuple(generate(reference).mutants)


def from_mutation(name: str, mutant_id: str) -> Pipeline:
    """The reference, named `name`, with one of `threadsync mutate`'s mutants applied: the bug is
    that generated edit of the reference's SQL (see `threadsync mutate --list`), so no function
    is copied here and the mutant follows the reference's text. Raises LookupError when the
    reference no longer has that mutant (its function changed)."""
    found = [m for m in _generated() if m.id == mutant_id]
    if not found:
        raise LookupError(
            f"mutant {name!r}: the reference has no mutant {mutant_id!r} any more; "
            "see `threadsync mutate --list` and name the edit again"
        )
    mutation = found[0]
    EDITS[name] = (f"`threadsync mutate`'s `{mutant_id}`", mutation.diff)
    path = _override_file(name, mutation.override_sql)
    return dataclasses.replace(reference, name=name, migrations=(*reference.migrations, path))


def from_patch(name: str, function: str, *pairs: tuple[str, str]) -> Pipeline:
    """The reference, named `name`, with its CURRENT definition of `function` ("fail_page" or
    "public.fail_page") edited: each `(old, new)` replaces `old`, which must occur exactly once in
    that function's CREATE statement, by `new`. Applied after the reference's migrations as that
    function's CREATE OR REPLACE, so the bug is the edit alone and no SQL is copied. Raises
    LookupError when the reference changed under the patch."""
    return mutant(name, patches=(edits(function, *pairs),))

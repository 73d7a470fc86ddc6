"""The reference pipeline, assembled: what `--impl threadsync.reference:pipeline` loads."""

from __future__ import annotations

from pathlib import Path

from threadsync import orchestrator, page_worker, processor, sweeper
from threadsync.pipeline import Pipeline

_PACKAGE = Path(__file__).parent
# In a source checkout the migrations are the Supabase project's own folder; a wheel carries that
# same folder inside the package (pyproject.toml: force-include), so there is one copy of the SQL.
_CANDIDATES = (_PACKAGE.parent / "supabase" / "migrations", _PACKAGE / "supabase_migrations")


def migrations_dir() -> Path:
    """The folder holding `supabase/migrations/<timestamp>_*.sql`, from a checkout or a wheel."""
    for folder in _CANDIDATES:
        if any(folder.glob("*.sql")):
            return folder
    raise FileNotFoundError(
        "threadsync's Supabase migrations are missing: looked in "
        + " and ".join(str(c) for c in _CANDIDATES)
        + "; reinstall threadsync"
    )


MIGRATIONS = tuple(sorted(migrations_dir().glob("[0-9]*_*.sql")))

pipeline = Pipeline(
    name="reference",
    migrations=MIGRATIONS,
    start_sync=orchestrator.start_sync,
    page_worker=page_worker.handle,
    processor=processor.handle,
    sweeper=sweeper.sweep,
    functions={
        "sync-threads-page-worker": page_worker.handle,
        "sync-threads-processor": processor.handle,
    },
)

"""The reference pipeline, assembled: what `--impl threadsync.reference:pipeline` loads."""

from __future__ import annotations

from threadsync import orchestrator, page_worker, processor, sweeper
from threadsync.pipeline import Pipeline
from threadsync.queries import SQL_DIR

MIGRATIONS = tuple(sorted(SQL_DIR.glob("0*.sql")))

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

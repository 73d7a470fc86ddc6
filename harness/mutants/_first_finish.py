"""Edits that let complete_page or complete_thread finish a row twice without breaking the job.

A mutant whose bug lets a second worker complete a row again needs them: the job's counters must
move only on the row's first completion (finished_at still NULL), or the second completion drives
pages_open or threads_open negative and aborts on its CHECK, hiding the double processing the
mutant exists to show behind an error.
"""

from __future__ import annotations

_WHY = (
    "    -- Counted on the row's first completion only (finished_at still NULL): a second\n"
    "    -- would drive the open counter negative and abort on its CHECK, hiding the bug.\n"
)

PAGE = (
    ("    next_id bigint;\nBEGIN", "    next_id bigint;\n    first_finish integer;\nBEGIN"),
    (
        "    UPDATE public.sync_jobs j\n"
        "       SET pages_open = j.pages_open - 1 + (next_id IS NOT NULL)::integer,\n"
        "           pages_done = j.pages_done + 1,\n",
        _WHY + "    first_finish := (q.finished_at IS NULL)::integer;\n"
        "    UPDATE public.sync_jobs j\n"
        "       SET pages_open = j.pages_open - first_finish + (next_id IS NOT NULL)::integer,\n"
        "           pages_done = j.pages_done + first_finish,\n",
    ),
)

THREAD = (
    (
        "    t timestamptz := threadsync.now();\nBEGIN",
        "    t timestamptz := threadsync.now();\n    first_finish integer;\nBEGIN",
    ),
    (
        "    UPDATE public.sync_jobs j\n"
        "       SET threads_open = j.threads_open - 1, threads_done = j.threads_done + 1\n",
        _WHY + "    first_finish := (e.finished_at IS NULL)::integer;\n"
        "    UPDATE public.sync_jobs j\n"
        "       SET threads_open = j.threads_open - first_finish,\n"
        "           threads_done = j.threads_done + first_finish\n",
    ),
)

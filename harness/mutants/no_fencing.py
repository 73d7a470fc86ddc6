"""Leases and a sweeper as in the reference but completions found by id alone (no token, no
status check), so a stalled worker whose lease expired and whose item was claimed again commits
its effects too: violates thread-exactly-once and page-exactly-once."""

from __future__ import annotations

from harness.mutants import _first_finish, _reference_text
from harness.mutants._base import edits, mutant

# SQL only: the handlers pass their token as the reference's do; the functions ignore it.
pipeline = mutant(
    "no_fencing",
    patches=(
        edits(
            "complete_page",
            _first_finish.PAGE[0],
            (
                _reference_text.PAGE_FENCE,
                "    -- THE BUG: no fence. Neither the claim token nor the status is checked,\n"
                "    -- so a worker whose lease expired, and whose page the sweeper re-queued and\n"
                "    -- another worker claimed, still completes the page, before or after the new\n"
                "    -- owner does.\n",
            ),
            _first_finish.PAGE[1],
        ),
        edits(
            "complete_thread",
            _first_finish.THREAD[0],
            (
                _reference_text.ENTRY_FENCE,
                "    -- THE BUG: no fence. Neither the claim token nor the status is checked,\n"
                "    -- so a worker whose lease expired, and whose entry the sweeper re-queued\n"
                "    -- and another worker claimed, still writes the thread and completes the\n"
                "    -- entry, before or after the new owner does.\n",
            ),
            _first_finish.THREAD[1],
        ),
    ),
)

"""The incident report's Fix 2, a processor claim that marks the entry processed (and done) before
the work, with the thread written in a later statement, so a processor that dies in between loses
the thread while its entry looks done: violates no-lost-work."""

from __future__ import annotations

from harness.mutants import _reference_text
from harness.mutants._base import edits, mutant

# The claim is Fix 2's `.update({ processed_at: now }).eq('id', id).is('processed_at', null)`:
# atomic, so only one claimer wins, but it records the outcome before the work, with no lease to
# expire and no processing state for the sweeper to find. The job's counters move at the claim.
CLAIM_AS_DONE = edits(
    "claim_thread",
    (
        "       SET status = 'processing',\n"
        "           attempts = q.attempts + 1,\n"
        "           claim_token = threadsync.claim_token('thread', q.id, q.attempts + 1),\n"
        "           locked_until = t + make_interval("
        "secs => (SELECT thread_lease_seconds FROM threadsync.settings)),\n"
        "           started_at = t\n"
        "     WHERE q.id = p_entry_id AND q.status = 'pending' AND q.next_retry_at <= t\n",
        "       SET processed_at = t, status = 'done', finished_at = t, started_at = t,\n"
        "           attempts = q.attempts + 1\n"
        "     WHERE q.id = p_entry_id AND q.processed_at IS NULL\n",
    ),
    (
        "    IF FOUND THEN\n",
        "    IF FOUND THEN\n"
        "        UPDATE public.sync_jobs j\n"
        "           SET threads_open = j.threads_open - 1, threads_done = j.threads_done + 1\n"
        "         WHERE j.id = e.job_id;\n"
        "        PERFORM threadsync.finish_job_if_done(e.job_id);\n",
    ),
    ("e.claim_token, e.attempts, e.locked_until", "NULL::uuid, e.attempts, NULL::timestamptz"),
)

# The later write is the thread alone: the claim already completed the entry, so there is nothing
# to fence, lock or complete (the token argument stays for the handlers' call).
WRITE_ONLY = edits(
    "complete_thread",
    ("WHERE q.id = p_entry_id FOR UPDATE;", "WHERE q.id = p_entry_id;"),
    (
        _reference_text.ENTRY_FENCE + "\n",
        "",
    ),
    (
        "\n"
        "    UPDATE public.thread_processing_queue q\n"
        "       SET status = 'done', claim_token = NULL, locked_until = NULL, finished_at = t,\n"
        "           processed_at = t, last_error = NULL\n"
        "     WHERE q.id = e.id;\n"
        "    UPDATE public.sync_jobs j\n"
        "       SET threads_open = j.threads_open - 1, threads_done = j.threads_done + 1\n"
        "     WHERE j.id = e.job_id;\n"
        "    PERFORM threadsync.finish_job_if_done(e.job_id);\n",
        "",
    ),
)

# SQL only: the reference processor's claim -> summarise -> complete sequence is exactly Fix 2's
# once claim_thread marks the entry processed and complete_thread merely writes the thread.
pipeline = mutant("processed_at_first", patches=(CLAIM_AS_DONE, WRITE_ONLY))

"""Texts of the reference's functions that several patched mutants edit, each stated once.

A patch's `old` text must match today's reference exactly (from_patch raises a LookupError that
names the mutant otherwise), so when the reference changes one of these lines it changes here.
"""

from __future__ import annotations

# complete_page's claim-token fence: the test and its refusal, then the return that ends it.
PAGE_FENCE_REFUSAL = (
    "    IF q.status <> 'processing' OR q.claim_token IS DISTINCT FROM p_token THEN\n"
    "        RETURN QUERY SELECT false, ('lease lost: page is ' || q.status\n"
    "                                    || CASE WHEN q.status = 'processing'\n"
    "                                            "
    "THEN ' under another claim' ELSE '' END), 0, 0,\n"
    "                            NULL::bigint;\n"
)
PAGE_FENCE = PAGE_FENCE_REFUSAL + "        RETURN;\n    END IF;\n"

# complete_thread's claim-token fence, the same way.
ENTRY_FENCE_REFUSAL = (
    "    IF e.status <> 'processing' OR e.claim_token IS DISTINCT FROM p_token THEN\n"
    "        RETURN QUERY SELECT false, ('lease lost: entry is ' || e.status\n"
    "                                    || CASE WHEN e.status = 'processing'\n"
    "                                            "
    "THEN ' under another claim' ELSE '' END);\n"
)
ENTRY_FENCE = ENTRY_FENCE_REFUSAL + "        RETURN;\n    END IF;\n"

# complete_page's queueing of the threads it staged, in its own transaction, and its counts.
QUEUED_CTE = (
    "    ), queued AS (\n"
    "        -- Each INSERT fires the processor's Database Webhook.\n"
    "        INSERT INTO public.thread_processing_queue"
    " (job_id, thread_stage_id, max_attempts, emit_after)\n"
    "        SELECT q.job_id, staged.id, s.max_attempts,"
    " t + make_interval(secs => s.emit_grace_seconds)\n"
    "          FROM staged ORDER BY staged.id\n"
    "        RETURNING id\n"
    "    )\n"
    "    SELECT (SELECT count(*) FROM staged), (SELECT count(*) FROM queued)"
    " INTO n_staged, n_queued;\n"
)

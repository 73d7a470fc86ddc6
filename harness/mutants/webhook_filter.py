"""Seed issue 4, a pipeline that trusts each Database Webhook to fire and arrive (filtered
triggers, and a sweeper that never re-sends a webhook), so a dropped or too-early webhook, or a
retry after backoff, strands its item pending forever: violates no-stuck-work and no-lost-work."""

from __future__ import annotations

from harness.mutants._base import edits, mutant

# The sweep keeps its first part (expired leases go back to pending) and loses its second: it
# never re-sends the webhook of pending work. Its triggers (SQL of this mutant's own) carry the
# seed's filter.
NO_RESEND = edits(
    "sweep",
    (
        "    -- 2. Pending work whose webhook never led to a claim (dropped, lost in a restart,"
        " or a retry\n"
        "    -- that came due): send the webhook again, with the body a Database Webhook would"
        " have sent.\n"
        "    -- A late original and this copy may both arrive; the atomic claim lets only one of"
        " them work.\n"
        "    -- It goes out through threadsync.call_function, with the same Vault URL and key as"
        " the triggers.\n"
        "    WITH due AS (\n"
        "        SELECT p.id FROM public.sync_page_queue p\n"
        "         WHERE p.status = 'pending' AND p.emit_after <= t\n"
        "         ORDER BY p.emit_after, p.id LIMIT s.sweep_batch\n"
        "           FOR UPDATE SKIP LOCKED\n"
        "    ), marked AS (\n"
        "        UPDATE public.sync_page_queue p\n"
        "           SET emit_after = t + make_interval(secs => s.emit_grace_seconds), emits ="
        " p.emits + 1\n"
        "          FROM due WHERE p.id = due.id\n"
        "        RETURNING p.*\n"
        "    )\n"
        "    SELECT count(threadsync.call_function(\n"
        "               'sync-threads-page-worker',\n"
        "               jsonb_build_object('type', 'INSERT', 'table', 'sync_page_queue',"
        " 'schema', 'public',\n"
        "                                  'record', to_jsonb(marked), 'old_record', NULL)))\n"
        "      INTO p_emitted\n"
        "      FROM (SELECT * FROM marked ORDER BY id) marked;\n"
        "\n"
        "    WITH due AS (\n"
        "        SELECT q.id FROM public.thread_processing_queue q\n"
        "         WHERE q.status = 'pending' AND q.emit_after <= t\n"
        "         ORDER BY q.emit_after, q.id LIMIT s.sweep_batch\n"
        "           FOR UPDATE SKIP LOCKED\n"
        "    ), marked AS (\n"
        "        UPDATE public.thread_processing_queue q\n"
        "           SET emit_after = t + make_interval(secs => s.emit_grace_seconds), emits ="
        " q.emits + 1\n"
        "          FROM due WHERE q.id = due.id\n"
        "        RETURNING q.*\n"
        "    )\n"
        "    SELECT count(threadsync.call_function(\n"
        "               'sync-threads-processor',\n"
        "               jsonb_build_object('type', 'INSERT', 'table', 'thread_processing_queue',\n"
        "                                  'schema', 'public', 'record', to_jsonb(marked),"
        " 'old_record', NULL)))\n"
        "      INTO th_emitted\n"
        "      FROM (SELECT * FROM marked ORDER BY id) marked;\n",
        "    -- THE BUG: no second part. Nothing re-sends the webhook of pending work nobody"
        " claimed:\n"
        "    -- a dropped or too-early webhook, a lease returned to pending just above, or a"
        " retry whose\n"
        "    -- backoff has passed (no webhook fires on UPDATE) all leave the item pending"
        " forever.\n"
        "    p_emitted := 0;\n"
        "    th_emitted := 0;\n",
    ),
)

# SQL only: the handlers are the reference's; an early delivery is still a 200 no-op ("unknown
# id"), which is harmless in the reference only because its sweeper re-sends the webhook later.
pipeline = mutant("webhook_filter", patches=(NO_RESEND,), sql=("webhook_filter",))

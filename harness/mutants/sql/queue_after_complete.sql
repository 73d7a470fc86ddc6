-- Mutant queue_after_complete's own SQL: queue_page_entries, the second RPC that queues a page's
-- staged threads for processing after complete_page (patched in harness/mutants/
-- queue_after_complete.py to stage them only) has completed the page. When the last page
-- completes while no earlier entry is open, the job is finished before its last page's threads
-- are even queued.

CREATE OR REPLACE FUNCTION public.queue_page_entries(p_page_id bigint)
RETURNS TABLE (queued integer) LANGUAGE plpgsql AS $$
DECLARE
    s threadsync.settings;
    n integer;
    j bigint;
BEGIN
    SELECT * INTO STRICT s FROM threadsync.settings;
    WITH added AS (
        -- Each INSERT fires the processor's Database Webhook.
        INSERT INTO public.thread_processing_queue (job_id, thread_stage_id, max_attempts, emit_after)
        SELECT st.job_id, st.id, s.max_attempts,
               threadsync.now() + make_interval(secs => s.emit_grace_seconds)
          FROM public.thread_stage st
         WHERE st.page_id = p_page_id
           AND NOT EXISTS (SELECT 1 FROM public.thread_processing_queue e
                            WHERE e.thread_stage_id = st.id)
         ORDER BY st.id
        RETURNING job_id
    )
    SELECT count(*)::integer, min(job_id) INTO n, j FROM added;
    UPDATE public.sync_jobs SET threads_open = threads_open + n WHERE id = j;
    RETURN QUERY SELECT n;
END
$$;

-- Like every function of the reference, kept from anon and authenticated: the mutant differs
-- from the reference only in its bug (no-public-access would otherwise catch this first).
REVOKE EXECUTE ON FUNCTION public.queue_page_entries(bigint) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION public.queue_page_entries(bigint) TO service_role;

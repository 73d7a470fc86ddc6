-- Mutant queue_after_complete: complete_page stages the page's threads and completes the page
-- (finishing the job when no work is open), and a second RPC, queue_page_entries, queues the
-- staged threads for processing afterwards. When the last page completes while no earlier entry
-- is open, the job is finished before its last page's threads are even queued.

CREATE OR REPLACE FUNCTION public.complete_page(
    p_page_id bigint, p_token uuid, p_threads jsonb, p_next_cursor text)
RETURNS TABLE (completed boolean, reason text, staged integer, queued integer, next_page_id bigint)
LANGUAGE plpgsql AS $$
DECLARE
    s threadsync.settings;
    q public.sync_page_queue;
    t timestamptz := threadsync.now();
    n_staged integer;
    n_queued integer;
    next_id bigint;
BEGIN
    SELECT * INTO STRICT s FROM threadsync.settings;
    SELECT * INTO q FROM public.sync_page_queue p WHERE p.id = p_page_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT false, 'unknown page id'::text, 0, 0, NULL::bigint;
        RETURN;
    END IF;
    IF q.status <> 'processing' OR q.claim_token IS DISTINCT FROM p_token THEN
        RETURN QUERY SELECT false, ('lease lost: page is ' || q.status
                                    || CASE WHEN q.status = 'processing'
                                            THEN ' under another claim' ELSE '' END), 0, 0,
                            NULL::bigint;
        RETURN;
    END IF;

    -- THE BUG: the threads are staged here, but queued for processing by a second call
    -- (queue_page_entries) after this transaction commits, so the open-work counter that
    -- finishes the job does not count them yet.
    WITH staged AS (
        INSERT INTO public.thread_stage (job_id, page_id, external_id, payload, source_updated_at)
        SELECT q.job_id, q.id, th ->> 'id', th, (th ->> 'updated_at')::timestamptz
          FROM jsonb_array_elements(p_threads) WITH ORDINALITY AS x (th, ord)
         ORDER BY ord
        ON CONFLICT (job_id, external_id) DO NOTHING
        RETURNING id
    )
    SELECT (SELECT count(*) FROM staged), 0 INTO n_staged, n_queued;

    IF p_next_cursor IS NOT NULL THEN
        INSERT INTO public.sync_page_queue (job_id, page_number, cursor, page_size, max_attempts,
                                            emit_after)
        VALUES (q.job_id, q.page_number + 1, p_next_cursor, q.page_size, s.max_attempts,
                t + make_interval(secs => s.emit_grace_seconds))
        ON CONFLICT (job_id, page_number) DO NOTHING
        RETURNING id INTO next_id;
    END IF;

    UPDATE public.sync_page_queue p
       SET status = 'done', claim_token = NULL, locked_until = NULL, finished_at = t,
           thread_count = n_staged, next_cursor = p_next_cursor, last_error = NULL
     WHERE p.id = q.id;

    UPDATE public.sync_jobs j
       SET pages_open = j.pages_open - 1 + (next_id IS NOT NULL)::integer,
           pages_done = j.pages_done + 1,
           threads_open = j.threads_open + n_queued
     WHERE j.id = q.job_id;
    PERFORM threadsync.finish_job_if_done(q.job_id);

    RETURN QUERY SELECT true, 'completed'::text, n_staged, n_queued, next_id;
END
$$;

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

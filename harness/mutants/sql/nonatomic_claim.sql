-- Mutant nonatomic_claim (also used by polling_worker): the seed's page completion. The seed had
-- no claim token, so completion is fenced only by `status = 'processing'`. Together with the
-- seed's claim by id alone (harness/mutants/sql/queries.sql: seed_mark_page_processing), a worker
-- that read "pending" before another worker completed the page re-opens it and completes it again.

CREATE OR REPLACE FUNCTION public.complete_page(
    p_page_id bigint, p_token uuid, p_threads jsonb, p_next_cursor text)
RETURNS TABLE (completed boolean, reason text, staged integer, queued integer, next_page_id bigint)
LANGUAGE plpgsql SET search_path = '' AS $$
DECLARE
    s threadsync.settings;
    q public.sync_page_queue;
    t timestamptz := threadsync.now();
    n_staged integer;
    n_queued integer;
    next_id bigint;
    first_finish integer;
BEGIN
    SELECT * INTO STRICT s FROM threadsync.settings;
    SELECT * INTO q FROM public.sync_page_queue p WHERE p.id = p_page_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT false, 'unknown page id'::text, 0, 0, NULL::bigint;
        RETURN;
    END IF;
    -- THE BUG: p_token is ignored; any worker that set the page to processing may complete it.
    IF q.status <> 'processing' THEN
        RETURN QUERY SELECT false, ('page is ' || q.status)::text, 0, 0, NULL::bigint;
        RETURN;
    END IF;

    WITH staged AS (
        INSERT INTO public.thread_stage (job_id, page_id, external_id, payload, source_updated_at)
        SELECT q.job_id, q.id, th ->> 'id', th, (th ->> 'updated_at')::timestamptz
          FROM jsonb_array_elements(p_threads) WITH ORDINALITY AS x (th, ord)
         ORDER BY ord
        ON CONFLICT (job_id, external_id) DO NOTHING
        RETURNING id
    ), queued AS (
        INSERT INTO public.thread_processing_queue (job_id, thread_stage_id, max_attempts, emit_after)
        SELECT q.job_id, staged.id, s.max_attempts, t + make_interval(secs => s.emit_grace_seconds)
          FROM staged ORDER BY staged.id
        RETURNING id
    )
    SELECT (SELECT count(*) FROM staged), (SELECT count(*) FROM queued) INTO n_staged, n_queued;

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

    -- The job counters move only on a page's first completion (finished_at still NULL): a second
    -- completion would otherwise drive pages_open negative and abort on its CHECK, hiding the
    -- double processing this mutant exists to show behind an error.
    first_finish := (q.finished_at IS NULL)::integer;
    UPDATE public.sync_jobs j
       SET pages_open = j.pages_open - first_finish + (next_id IS NOT NULL)::integer,
           pages_done = j.pages_done + first_finish,
           threads_open = j.threads_open + n_queued
     WHERE j.id = q.job_id;
    PERFORM threadsync.finish_job_if_done(q.job_id);

    RETURN QUERY SELECT true, 'completed'::text, n_staged, n_queued, next_id;
END
$$;

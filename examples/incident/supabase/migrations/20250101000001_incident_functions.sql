-- The incident's pipeline: the RPCs its Edge Functions call. Claims are not here: the functions
-- make them with supabase-js table calls (examples/incident/README.md). These complete or fail a
-- claimed item, each in one transaction, as the reference's do; but the incident had no claim
-- token, so each is fenced by `status = 'processing'` alone, and any worker that set an item to
-- processing may complete it, again if it was re-opened.

-- Exponential backoff, capped, with jitter, as in the reference.
CREATE OR REPLACE FUNCTION threadsync.backoff_seconds(queue text, item_id bigint, attempt integer)
RETURNS double precision LANGUAGE sql STABLE SET search_path = '' AS $$
    SELECT least(s.backoff_cap_seconds, s.backoff_base_seconds * 2 ^ greatest(attempt - 1, 0))
           * (0.75 + 0.5 * (('x' || substr(md5(queue || ':' || item_id || ':' || attempt), 1, 8))
                            ::bit(32)::bigint / 4294967296.0))
    FROM threadsync.settings s
$$;

-- Finishes a job once its open counters reach zero; callers hold the job row's lock.
CREATE OR REPLACE FUNCTION threadsync.finish_job_if_done(p_job_id bigint)
RETURNS void LANGUAGE sql SET search_path = '' AS $$
    UPDATE public.sync_jobs
       SET status = CASE WHEN pages_failed + threads_failed > 0 THEN 'failed'::public.job_state
                         ELSE 'completed'::public.job_state END,
           finished_at = threadsync.now()
     WHERE id = p_job_id AND status = 'running' AND pages_open = 0 AND threads_open = 0
$$;

-- The orchestrator's RPC, as in the reference: a job and its first page, whose INSERT fires the
-- page worker's webhook.
CREATE OR REPLACE FUNCTION public.start_sync(p_page_size integer)
RETURNS public.sync_jobs LANGUAGE plpgsql SET search_path = '' AS $$
DECLARE
    s threadsync.settings;
    job public.sync_jobs;
BEGIN
    SELECT * INTO STRICT s FROM threadsync.settings;
    INSERT INTO public.sync_jobs (page_size, pages_open) VALUES (p_page_size, 1) RETURNING * INTO job;
    INSERT INTO public.sync_page_queue (job_id, page_number, cursor, page_size, max_attempts, emit_after)
    VALUES (job.id, 1, NULL, p_page_size, s.max_attempts,
            threadsync.now() + make_interval(secs => s.emit_grace_seconds));
    RETURN job;
END
$$;

-- Stages a fetched page, queues its threads and its next page, and marks it done.
CREATE OR REPLACE FUNCTION public.complete_page(p_page_id bigint, p_threads jsonb, p_next_cursor text)
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
    -- No token: a page that a second worker set back to processing (its claim is by id alone)
    -- passes this check again after the first worker completed it.
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
        -- Each INSERT fires the processor's webhook.
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
       SET status = 'done', finished_at = t, thread_count = n_staged, next_cursor = p_next_cursor,
           last_error = NULL
     WHERE p.id = q.id;

    -- The job's counters move on a page's first completion only (finished_at still NULL), so a
    -- second completion shows as a second `done`, not as a CHECK violation on pages_open.
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

-- Records a failed attempt (the claim counted it): back to pending after a backoff, or dead
-- letter on the last attempt. No webhook fires on UPDATE: a retried page waits for some worker
-- to poll for it.
CREATE OR REPLACE FUNCTION public.fail_page(
    p_page_id bigint, p_error text, p_retry_after_seconds double precision DEFAULT NULL)
RETURNS TABLE (recorded boolean, status public.work_state, next_retry_at timestamptz, reason text)
LANGUAGE plpgsql SET search_path = '' AS $$
DECLARE
    q public.sync_page_queue;
    t timestamptz := threadsync.now();
    retry_at timestamptz;
BEGIN
    SELECT * INTO q FROM public.sync_page_queue p WHERE p.id = p_page_id FOR UPDATE;
    IF NOT FOUND OR q.status <> 'processing' THEN
        RETURN QUERY SELECT false, q.status, q.next_retry_at, ('page is ' || q.status)::text;
        RETURN;
    END IF;
    IF q.attempts >= q.max_attempts THEN
        UPDATE public.sync_page_queue p
           SET status = 'failed', finished_at = t,
               last_error = format('attempt %s of %s failed: %s', q.attempts, q.max_attempts, p_error)
         WHERE p.id = q.id;
        UPDATE public.sync_jobs j SET pages_open = j.pages_open - 1, pages_failed = j.pages_failed + 1
         WHERE j.id = q.job_id;
        PERFORM threadsync.finish_job_if_done(q.job_id);
        RETURN QUERY SELECT true, 'failed'::public.work_state, NULL::timestamptz, 'dead-lettered'::text;
        RETURN;
    END IF;
    retry_at := t + make_interval(secs => greatest(
        threadsync.backoff_seconds('page', q.id, q.attempts), coalesce(p_retry_after_seconds, 0)));
    UPDATE public.sync_page_queue p
       SET status = 'pending', next_retry_at = retry_at, emit_after = retry_at,
           last_error = format('attempt %s of %s failed: %s', q.attempts, q.max_attempts, p_error)
     WHERE p.id = q.id;
    RETURN QUERY SELECT true, 'pending'::public.work_state, retry_at, 'retry scheduled'::text;
END
$$;

-- Writes the processed thread and marks its entry done, fenced by status alone.
CREATE OR REPLACE FUNCTION public.complete_thread(p_entry_id bigint, p_result jsonb)
RETURNS TABLE (completed boolean, reason text)
LANGUAGE plpgsql SET search_path = '' AS $$
DECLARE
    e public.thread_processing_queue;
    t timestamptz := threadsync.now();
    first_finish integer;
BEGIN
    SELECT * INTO e FROM public.thread_processing_queue q WHERE q.id = p_entry_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT false, 'unknown entry id'::text;
        RETURN;
    END IF;
    -- No token: an entry that the processor's fallback set back to processing (by id alone)
    -- passes this check again after its first processor completed it.
    IF e.status <> 'processing' THEN
        RETURN QUERY SELECT false, ('entry is ' || e.status)::text;
        RETURN;
    END IF;

    INSERT INTO public.threads AS th (external_id, subject, participants, message_count,
                                      last_message_at, source_updated_at, content_hash, job_id,
                                      processed_at)
    VALUES (p_result ->> 'external_id', p_result ->> 'subject', p_result -> 'participants',
            (p_result ->> 'message_count')::integer, (p_result ->> 'last_message_at')::timestamptz,
            (p_result ->> 'source_updated_at')::timestamptz, p_result ->> 'content_hash', e.job_id, t)
    ON CONFLICT (external_id) DO UPDATE
       SET subject = EXCLUDED.subject, participants = EXCLUDED.participants,
           message_count = EXCLUDED.message_count, last_message_at = EXCLUDED.last_message_at,
           source_updated_at = EXCLUDED.source_updated_at, content_hash = EXCLUDED.content_hash,
           job_id = EXCLUDED.job_id, processed_at = EXCLUDED.processed_at
     WHERE th.source_updated_at IS NULL OR EXCLUDED.source_updated_at IS NULL
        OR th.source_updated_at <= EXCLUDED.source_updated_at;

    UPDATE public.thread_processing_queue q
       SET status = 'done', finished_at = t, processed_at = t, last_error = NULL
     WHERE q.id = e.id;
    -- As for pages: the counters move on the first completion only.
    first_finish := (e.finished_at IS NULL)::integer;
    UPDATE public.sync_jobs j
       SET threads_open = j.threads_open - first_finish,
           threads_done = j.threads_done + first_finish
     WHERE j.id = e.job_id;
    PERFORM threadsync.finish_job_if_done(e.job_id);
    RETURN QUERY SELECT true, 'completed'::text;
END
$$;

-- Records a failed attempt of an entry. The processor's claim (processed_at) does not count
-- attempts, so this does; a retried entry gets processed_at back to NULL, so that a claim or the
-- fallback can find it again.
CREATE OR REPLACE FUNCTION public.fail_thread(
    p_entry_id bigint, p_error text, p_retry_after_seconds double precision DEFAULT NULL)
RETURNS TABLE (recorded boolean, status public.work_state, next_retry_at timestamptz, reason text)
LANGUAGE plpgsql SET search_path = '' AS $$
DECLARE
    e public.thread_processing_queue;
    t timestamptz := threadsync.now();
    attempt integer;
    retry_at timestamptz;
BEGIN
    SELECT * INTO e FROM public.thread_processing_queue q WHERE q.id = p_entry_id FOR UPDATE;
    IF NOT FOUND OR e.status <> 'processing' THEN
        RETURN QUERY SELECT false, e.status, e.next_retry_at, ('entry is ' || e.status)::text;
        RETURN;
    END IF;
    attempt := e.attempts + 1;
    IF attempt >= e.max_attempts THEN
        UPDATE public.thread_processing_queue q
           SET status = 'failed', attempts = attempt, finished_at = t,
               last_error = format('attempt %s of %s failed: %s', attempt, e.max_attempts, p_error)
         WHERE q.id = e.id;
        UPDATE public.sync_jobs j
           SET threads_open = j.threads_open - 1, threads_failed = j.threads_failed + 1
         WHERE j.id = e.job_id;
        PERFORM threadsync.finish_job_if_done(e.job_id);
        RETURN QUERY SELECT true, 'failed'::public.work_state, NULL::timestamptz, 'dead-lettered'::text;
        RETURN;
    END IF;
    retry_at := t + make_interval(secs => greatest(
        threadsync.backoff_seconds('thread', e.id, attempt), coalesce(p_retry_after_seconds, 0)));
    UPDATE public.thread_processing_queue q
       SET status = 'pending', attempts = attempt, processed_at = NULL, next_retry_at = retry_at,
           emit_after = retry_at,
           last_error = format('attempt %s of %s failed: %s', attempt, e.max_attempts, p_error)
     WHERE q.id = e.id;
    RETURN QUERY SELECT true, 'pending'::public.work_state, retry_at, 'retry scheduled'::text;
END
$$;

-- threadsync reference pipeline: the work functions. Each is one RPC an Edge Function calls, and
-- each runs in the caller's transaction, so "fenced by the token, together with its effects" holds.
-- Every function has a fixed, empty search_path and names every object with its schema (the
-- Supabase Security Advisor's "function search_path mutable"); all run with the caller's rights
-- (service_role through PostgREST, which bypasses RLS) except where a comment says why not.

-- A claim token unique per (queue, item, attempt), keyed with threadsync.claim_secret: without
-- the key nobody can compute a token and complete or fail work they did not claim. Derived rather
-- than random so a run whose key is fixed (the harness's) replays identically.
-- SECURITY DEFINER because it reads claim_secret, which no caller role may read; it returns only
-- the token for the arguments it is given, and EXECUTE is granted to service_role alone.
CREATE OR REPLACE FUNCTION threadsync.claim_token(queue text, item_id bigint, attempt integer)
RETURNS uuid LANGUAGE sql STABLE SECURITY DEFINER SET search_path = '' AS $$
    SELECT pg_catalog.encode(pg_catalog.substr(pg_catalog.sha256(pg_catalog.convert_to(
               k.secret || ':' || queue || ':' || item_id || ':' || attempt, 'UTF8')), 1, 16),
           'hex')::uuid
      FROM threadsync.claim_secret k
$$;

-- Exponential backoff, capped, with jitter in [0.75, 1.25) of the delay. The jitter is derived
-- from the item and attempt so that retries spread out yet a replay waits exactly as long.
CREATE OR REPLACE FUNCTION threadsync.backoff_seconds(queue text, item_id bigint, attempt integer)
RETURNS double precision LANGUAGE sql STABLE SET search_path = '' AS $$
    SELECT least(s.backoff_cap_seconds, s.backoff_base_seconds * 2 ^ greatest(attempt - 1, 0))
           * (0.75 + 0.5 * (('x' || substr(md5(queue || ':' || item_id || ':' || attempt), 1, 8))
                            ::bit(32)::bigint / 4294967296.0))
    FROM threadsync.settings s
$$;

-- Finishes a job once its open counters reach zero. Callers hold the job row's lock (they just
-- updated its counters), so two finishers cannot both see "last one" and both finish it.
CREATE OR REPLACE FUNCTION threadsync.finish_job_if_done(p_job_id bigint)
RETURNS void LANGUAGE sql SET search_path = '' AS $$
    UPDATE public.sync_jobs
       SET status = CASE WHEN pages_failed + threads_failed > 0 THEN 'failed'::public.job_state
                         ELSE 'completed'::public.job_state END,
           finished_at = threadsync.now()
     WHERE id = p_job_id AND status = 'running' AND pages_open = 0 AND threads_open = 0
$$;

CREATE OR REPLACE FUNCTION public.start_sync(p_page_size integer)
RETURNS public.sync_jobs LANGUAGE plpgsql SET search_path = '' AS $$
DECLARE
    s threadsync.settings;
    job public.sync_jobs;
BEGIN
    SELECT * INTO STRICT s FROM threadsync.settings;
    INSERT INTO public.sync_jobs (page_size, pages_open) VALUES (p_page_size, 1) RETURNING * INTO job;
    -- The INSERT fires the page worker's Database Webhook.
    INSERT INTO public.sync_page_queue (job_id, page_number, cursor, page_size, max_attempts, emit_after)
    VALUES (job.id, 1, NULL, p_page_size, s.max_attempts,
            threadsync.now() + make_interval(secs => s.emit_grace_seconds));
    RETURN job;
END
$$;

-- Why a claim did not happen, in words a webhook reply can carry.
CREATE OR REPLACE FUNCTION threadsync.unclaimable_reason(
    p_status public.work_state, p_next_retry_at timestamptz)
RETURNS text LANGUAGE sql STABLE SET search_path = '' AS $$
    SELECT CASE
        WHEN p_status IS NULL THEN 'unknown id'
        WHEN p_status = 'pending' THEN 'not due until ' || p_next_retry_at
        WHEN p_status = 'processing' THEN 'claimed by another worker'
        ELSE 'already ' || p_status
    END
$$;

CREATE OR REPLACE FUNCTION public.claim_page(p_page_id bigint)
RETURNS TABLE (claimed boolean, reason text, page_id bigint, job_id bigint, page_number integer,
               cursor text, page_size integer, claim_token uuid, attempts integer,
               locked_until timestamptz)
LANGUAGE plpgsql SET search_path = '' AS $$
DECLARE
    q public.sync_page_queue;
    t timestamptz := threadsync.now();
BEGIN
    -- One statement claims or does nothing: a concurrent claimer waits on the row lock, then
    -- re-checks status on the committed row and finds it no longer pending.
    UPDATE public.sync_page_queue p
       SET status = 'processing',
           attempts = p.attempts + 1,
           claim_token = threadsync.claim_token('page', p.id, p.attempts + 1),
           locked_until = t + make_interval(secs => (SELECT page_lease_seconds FROM threadsync.settings)),
           started_at = t
     WHERE p.id = p_page_id AND p.status = 'pending' AND p.next_retry_at <= t
    RETURNING p.* INTO q;
    IF FOUND THEN
        RETURN QUERY SELECT true, 'claimed'::text, q.id, q.job_id, q.page_number, q.cursor,
                            q.page_size, q.claim_token, q.attempts, q.locked_until;
        RETURN;
    END IF;
    SELECT * INTO q FROM public.sync_page_queue p WHERE p.id = p_page_id;
    RETURN QUERY SELECT false, threadsync.unclaimable_reason(q.status, q.next_retry_at), p_page_id,
                        q.job_id, q.page_number, NULL::text, NULL::integer, NULL::uuid, q.attempts,
                        NULL::timestamptz;
END
$$;

-- Heartbeat for long work: pushes a live lease forward; false when the lease is no longer ours.
CREATE OR REPLACE FUNCTION public.extend_page_lease(p_page_id bigint, p_token uuid, p_seconds integer)
RETURNS boolean LANGUAGE sql SET search_path = '' AS $$
    WITH extended AS (
        UPDATE public.sync_page_queue
           SET locked_until = threadsync.now() + make_interval(secs => p_seconds)
         WHERE id = p_page_id AND status = 'processing' AND claim_token = p_token
        RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM extended)
$$;

-- Stages a fetched page and completes it, all or nothing, fenced by the claim token: a worker whose
-- lease expired and whose page was claimed again commits nothing here.
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

    WITH staged AS (
        INSERT INTO public.thread_stage (job_id, page_id, external_id, payload, source_updated_at)
        SELECT q.job_id, q.id, th ->> 'id', th, (th ->> 'updated_at')::timestamptz
          FROM jsonb_array_elements(p_threads) WITH ORDINALITY AS x (th, ord)
         ORDER BY ord
        -- A thread already staged by this job (the API repeated it) is not staged again.
        ON CONFLICT (job_id, external_id) DO NOTHING
        RETURNING id
    ), queued AS (
        -- Each INSERT fires the processor's Database Webhook.
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

    UPDATE public.sync_jobs j
       SET pages_open = j.pages_open - 1 + (next_id IS NOT NULL)::integer,
           pages_done = j.pages_done + 1,
           threads_open = j.threads_open + n_queued
     WHERE j.id = q.job_id;
    PERFORM threadsync.finish_job_if_done(q.job_id);

    RETURN QUERY SELECT true, 'completed'::text, n_staged, n_queued, next_id;
END
$$;

-- Records a failed attempt, fenced by the token: back to pending after a backoff (at least what
-- the API asked for with Retry-After), or dead-lettered with the reason after max_attempts.
CREATE OR REPLACE FUNCTION public.fail_page(
    p_page_id bigint, p_token uuid, p_error text, p_retry_after_seconds double precision DEFAULT NULL)
RETURNS TABLE (recorded boolean, status public.work_state, next_retry_at timestamptz, reason text)
LANGUAGE plpgsql SET search_path = '' AS $$
DECLARE
    q public.sync_page_queue;
    t timestamptz := threadsync.now();
    retry_at timestamptz;
BEGIN
    SELECT * INTO q FROM public.sync_page_queue p WHERE p.id = p_page_id FOR UPDATE;
    IF NOT FOUND OR q.status <> 'processing' OR q.claim_token IS DISTINCT FROM p_token THEN
        RETURN QUERY SELECT false, q.status, q.next_retry_at, 'lease lost'::text;
        RETURN;
    END IF;
    IF q.attempts >= q.max_attempts THEN
        UPDATE public.sync_page_queue p
           SET status = 'failed', claim_token = NULL, locked_until = NULL, finished_at = t,
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
       SET status = 'pending', claim_token = NULL, locked_until = NULL, next_retry_at = retry_at,
           -- No webhook fires on UPDATE: the sweeper sends the retry's webhook once it is due.
           emit_after = retry_at,
           last_error = format('attempt %s of %s failed: %s', q.attempts, q.max_attempts, p_error)
     WHERE p.id = q.id;
    RETURN QUERY SELECT true, 'pending'::public.work_state, retry_at, 'retry scheduled'::text;
END
$$;

CREATE OR REPLACE FUNCTION public.claim_thread(p_entry_id bigint)
RETURNS TABLE (claimed boolean, reason text, entry_id bigint, job_id bigint, external_id text,
               payload jsonb, claim_token uuid, attempts integer, locked_until timestamptz)
LANGUAGE plpgsql SET search_path = '' AS $$
DECLARE
    e public.thread_processing_queue;
    t timestamptz := threadsync.now();
BEGIN
    -- Claim by status and lease, never by marking it processed first: a worker that dies here
    -- leaves a lease that expires, not a thread that looks done.
    UPDATE public.thread_processing_queue q
       SET status = 'processing',
           attempts = q.attempts + 1,
           claim_token = threadsync.claim_token('thread', q.id, q.attempts + 1),
           locked_until = t + make_interval(secs => (SELECT thread_lease_seconds FROM threadsync.settings)),
           started_at = t
     WHERE q.id = p_entry_id AND q.status = 'pending' AND q.next_retry_at <= t
    RETURNING q.* INTO e;
    IF FOUND THEN
        RETURN QUERY SELECT true, 'claimed'::text, e.id, e.job_id, st.external_id, st.payload,
                            e.claim_token, e.attempts, e.locked_until
                       FROM public.thread_stage st WHERE st.id = e.thread_stage_id;
        RETURN;
    END IF;
    SELECT * INTO e FROM public.thread_processing_queue q WHERE q.id = p_entry_id;
    RETURN QUERY SELECT false, threadsync.unclaimable_reason(e.status, e.next_retry_at), p_entry_id,
                        e.job_id, NULL::text, NULL::jsonb, NULL::uuid, e.attempts, NULL::timestamptz;
END
$$;

CREATE OR REPLACE FUNCTION public.extend_thread_lease(p_entry_id bigint, p_token uuid, p_seconds integer)
RETURNS boolean LANGUAGE sql SET search_path = '' AS $$
    WITH extended AS (
        UPDATE public.thread_processing_queue
           SET locked_until = threadsync.now() + make_interval(secs => p_seconds)
         WHERE id = p_entry_id AND status = 'processing' AND claim_token = p_token
        RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM extended)
$$;

-- Writes the processed thread and completes its entry in one transaction, fenced by the token.
-- An older version of a thread never overwrites a newer one already synced. Versions without
-- `updated_at` cannot be ordered by time, so they are ordered by job: a write of an older job
-- never replaces one of a newer job, so the newest job's write stands, fetched after that job
-- began (a stalled worker of an older sync would otherwise write its stale content last).
CREATE OR REPLACE FUNCTION public.complete_thread(p_entry_id bigint, p_token uuid, p_result jsonb)
RETURNS TABLE (completed boolean, reason text)
LANGUAGE plpgsql SET search_path = '' AS $$
DECLARE
    e public.thread_processing_queue;
    t timestamptz := threadsync.now();
BEGIN
    SELECT * INTO e FROM public.thread_processing_queue q WHERE q.id = p_entry_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT false, 'unknown entry id'::text;
        RETURN;
    END IF;
    IF e.status <> 'processing' OR e.claim_token IS DISTINCT FROM p_token THEN
        RETURN QUERY SELECT false, ('lease lost: entry is ' || e.status
                                    || CASE WHEN e.status = 'processing'
                                            THEN ' under another claim' ELSE '' END);
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
     WHERE th.source_updated_at <= EXCLUDED.source_updated_at
        OR ((th.source_updated_at IS NULL OR EXCLUDED.source_updated_at IS NULL)
            AND th.job_id <= EXCLUDED.job_id);

    UPDATE public.thread_processing_queue q
       SET status = 'done', claim_token = NULL, locked_until = NULL, finished_at = t,
           processed_at = t, last_error = NULL
     WHERE q.id = e.id;
    UPDATE public.sync_jobs j
       SET threads_open = j.threads_open - 1, threads_done = j.threads_done + 1
     WHERE j.id = e.job_id;
    PERFORM threadsync.finish_job_if_done(e.job_id);
    RETURN QUERY SELECT true, 'completed'::text;
END
$$;

CREATE OR REPLACE FUNCTION public.fail_thread(
    p_entry_id bigint, p_token uuid, p_error text, p_retry_after_seconds double precision DEFAULT NULL)
RETURNS TABLE (recorded boolean, status public.work_state, next_retry_at timestamptz, reason text)
LANGUAGE plpgsql SET search_path = '' AS $$
DECLARE
    e public.thread_processing_queue;
    t timestamptz := threadsync.now();
    retry_at timestamptz;
BEGIN
    SELECT * INTO e FROM public.thread_processing_queue q WHERE q.id = p_entry_id FOR UPDATE;
    IF NOT FOUND OR e.status <> 'processing' OR e.claim_token IS DISTINCT FROM p_token THEN
        RETURN QUERY SELECT false, e.status, e.next_retry_at, 'lease lost'::text;
        RETURN;
    END IF;
    IF e.attempts >= e.max_attempts THEN
        UPDATE public.thread_processing_queue q
           SET status = 'failed', claim_token = NULL, locked_until = NULL, finished_at = t,
               last_error = format('attempt %s of %s failed: %s', e.attempts, e.max_attempts, p_error)
         WHERE q.id = e.id;
        UPDATE public.sync_jobs j
           SET threads_open = j.threads_open - 1, threads_failed = j.threads_failed + 1
         WHERE j.id = e.job_id;
        PERFORM threadsync.finish_job_if_done(e.job_id);
        RETURN QUERY SELECT true, 'failed'::public.work_state, NULL::timestamptz, 'dead-lettered'::text;
        RETURN;
    END IF;
    retry_at := t + make_interval(secs => greatest(
        threadsync.backoff_seconds('thread', e.id, e.attempts), coalesce(p_retry_after_seconds, 0)));
    UPDATE public.thread_processing_queue q
       SET status = 'pending', claim_token = NULL, locked_until = NULL, next_retry_at = retry_at,
           emit_after = retry_at,
           last_error = format('attempt %s of %s failed: %s', e.attempts, e.max_attempts, p_error)
     WHERE q.id = e.id;
    RETURN QUERY SELECT true, 'pending'::public.work_state, retry_at, 'retry scheduled'::text;
END
$$;

-- threadsync reference pipeline: the sweeper (pg_cron runs `SELECT * FROM public.sweep()` each
-- minute in production, scheduled by the last migration). It rescues two kinds of stuck work and never creates a second owner of
-- live work: it only touches rows whose lease has expired or that nobody holds.

CREATE OR REPLACE FUNCTION public.sweep()
RETURNS TABLE (pages_requeued integer, pages_failed integer, pages_emitted integer,
               threads_requeued integer, threads_failed integer, threads_emitted integer)
LANGUAGE plpgsql SET search_path = '' AS $$
DECLARE
    s threadsync.settings;
    t timestamptz := threadsync.now();
    p_requeued integer; p_failed integer; p_emitted integer;
    th_requeued integer; th_failed integer; th_emitted integer;
BEGIN
    SELECT * INTO STRICT s FROM threadsync.settings;

    -- 1. Expired page leases: their worker died or stalled. Back to pending, due now, or dead letter
    -- on the last attempt. SKIP LOCKED: a row locked right now is being completed or failed by its
    -- owner, and waiting for it while holding other locks could deadlock with that owner.
    WITH expired AS (
        SELECT p.id FROM public.sync_page_queue p
         WHERE p.status = 'processing' AND p.locked_until < t
         ORDER BY p.locked_until LIMIT s.sweep_batch
           FOR UPDATE SKIP LOCKED
    ), swept AS (
        UPDATE public.sync_page_queue p
           SET status = CASE WHEN p.attempts >= p.max_attempts THEN 'failed'::public.work_state
                             ELSE 'pending'::public.work_state END,
               claim_token = NULL, locked_until = NULL, next_retry_at = t, emit_after = t,
               finished_at = CASE WHEN p.attempts >= p.max_attempts THEN t END,
               last_error = format('lease expired on attempt %s of %s', p.attempts, p.max_attempts)
          FROM expired WHERE p.id = expired.id
        RETURNING p.job_id, p.status
    ), per_job AS (
        UPDATE public.sync_jobs j
           SET pages_open = j.pages_open - d.n, pages_failed = j.pages_failed + d.n
          FROM (SELECT job_id, count(*)::integer AS n FROM swept WHERE status = 'failed'
                 GROUP BY job_id) d
         WHERE j.id = d.job_id
        RETURNING j.id
    )
    SELECT (SELECT count(*) FROM swept WHERE status = 'pending'),
           (SELECT count(*) FROM swept WHERE status = 'failed')
      INTO p_requeued, p_failed;

    WITH expired AS (
        SELECT q.id FROM public.thread_processing_queue q
         WHERE q.status = 'processing' AND q.locked_until < t
         ORDER BY q.locked_until LIMIT s.sweep_batch
           FOR UPDATE SKIP LOCKED
    ), swept AS (
        UPDATE public.thread_processing_queue q
           SET status = CASE WHEN q.attempts >= q.max_attempts THEN 'failed'::public.work_state
                             ELSE 'pending'::public.work_state END,
               claim_token = NULL, locked_until = NULL, next_retry_at = t, emit_after = t,
               finished_at = CASE WHEN q.attempts >= q.max_attempts THEN t END,
               last_error = format('lease expired on attempt %s of %s', q.attempts, q.max_attempts)
          FROM expired WHERE q.id = expired.id
        RETURNING q.job_id, q.status
    ), per_job AS (
        UPDATE public.sync_jobs j
           SET threads_open = j.threads_open - d.n, threads_failed = j.threads_failed + d.n
          FROM (SELECT job_id, count(*)::integer AS n FROM swept WHERE status = 'failed'
                 GROUP BY job_id) d
         WHERE j.id = d.job_id
        RETURNING j.id
    )
    SELECT (SELECT count(*) FROM swept WHERE status = 'pending'),
           (SELECT count(*) FROM swept WHERE status = 'failed')
      INTO th_requeued, th_failed;

    IF p_failed + th_failed > 0 THEN
        PERFORM threadsync.finish_job_if_done(j.id)
           FROM public.sync_jobs j WHERE j.status = 'running' AND j.pages_open = 0
                                     AND j.threads_open = 0;
    END IF;

    -- 2. Pending work whose webhook never led to a claim (dropped, lost in a restart, or a retry
    -- that came due): send the webhook again, with the body a Database Webhook would have sent.
    -- A late original and this copy may both arrive; the atomic claim lets only one of them work.
    -- It goes out through threadsync.call_function, with the same Vault URL and key as the triggers.
    WITH due AS (
        SELECT p.id FROM public.sync_page_queue p
         WHERE p.status = 'pending' AND p.emit_after <= t
         ORDER BY p.emit_after, p.id LIMIT s.sweep_batch
           FOR UPDATE SKIP LOCKED
    ), marked AS (
        UPDATE public.sync_page_queue p
           SET emit_after = t + make_interval(secs => s.emit_grace_seconds), emits = p.emits + 1
          FROM due WHERE p.id = due.id
        RETURNING p.*
    )
    SELECT count(threadsync.call_function(
               'sync-threads-page-worker',
               jsonb_build_object('type', 'INSERT', 'table', 'sync_page_queue', 'schema', 'public',
                                  'record', to_jsonb(marked), 'old_record', NULL)))
      INTO p_emitted
      FROM (SELECT * FROM marked ORDER BY id) marked;

    WITH due AS (
        SELECT q.id FROM public.thread_processing_queue q
         WHERE q.status = 'pending' AND q.emit_after <= t
         ORDER BY q.emit_after, q.id LIMIT s.sweep_batch
           FOR UPDATE SKIP LOCKED
    ), marked AS (
        UPDATE public.thread_processing_queue q
           SET emit_after = t + make_interval(secs => s.emit_grace_seconds), emits = q.emits + 1
          FROM due WHERE q.id = due.id
        RETURNING q.*
    )
    SELECT count(threadsync.call_function(
               'sync-threads-processor',
               jsonb_build_object('type', 'INSERT', 'table', 'thread_processing_queue',
                                  'schema', 'public', 'record', to_jsonb(marked), 'old_record', NULL)))
      INTO th_emitted
      FROM (SELECT * FROM marked ORDER BY id) marked;

    RETURN QUERY SELECT p_requeued, p_failed, p_emitted, th_requeued, th_failed, th_emitted;
END
$$;

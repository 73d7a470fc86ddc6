-- Mutant webhook_filter (incident issue 4): the pipeline trusts the Database Webhook to fire, and
-- to arrive, exactly once per row. The triggers carry the seed's filter `status = 'pending'` (true
-- on every INSERT here, so it changes nothing by itself), and the sweeper only returns expired
-- leases: it never re-sends a webhook, so work whose webhook was lost is never claimed.

DROP TRIGGER "sync-threads-page-worker" ON public.sync_page_queue;
DROP TRIGGER "sync-threads-processor" ON public.thread_processing_queue;

CREATE TRIGGER "sync-threads-page-worker"
    AFTER INSERT ON public.sync_page_queue
    FOR EACH ROW WHEN (NEW.status = 'pending')
    EXECUTE FUNCTION threadsync.database_webhook('sync-threads-page-worker');

CREATE TRIGGER "sync-threads-processor"
    AFTER INSERT ON public.thread_processing_queue
    FOR EACH ROW WHEN (NEW.status = 'pending')
    EXECUTE FUNCTION threadsync.database_webhook('sync-threads-processor');

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

    -- THE BUG: no second part. Nothing re-sends the webhook of pending work nobody claimed: a
    -- dropped or too-early webhook, a lease returned to pending just above, or a retry whose
    -- backoff has passed (no webhook fires on UPDATE) all leave the item pending forever.
    p_emitted := 0;
    th_emitted := 0;

    RETURN QUERY SELECT p_requeued, p_failed, p_emitted, th_requeued, th_failed, th_emitted;
END
$$;

-- Mutant double_counted_attempts: fail_page counts the failed attempt a second time when it
-- schedules the retry (the claim already counted it), so a page that fails now and then is
-- dead-lettered after fewer real attempts than max_attempts.

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
    -- The bug: the failed attempt is counted again (its claim already counted it).
    UPDATE public.sync_page_queue p
       SET status = 'pending', claim_token = NULL, locked_until = NULL, next_retry_at = retry_at,
           attempts = p.attempts + 1,
           -- No webhook fires on UPDATE: the sweeper sends the retry's webhook once it is due.
           emit_after = retry_at,
           last_error = format('attempt %s of %s failed: %s', q.attempts, q.max_attempts, p_error)
     WHERE p.id = q.id;
    RETURN QUERY SELECT true, 'pending'::public.work_state, retry_at, 'retry scheduled'::text;
END
$$;

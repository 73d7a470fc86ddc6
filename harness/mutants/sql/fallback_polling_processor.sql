-- Mutant fallback_polling_processor: the seed's thread completion. The seed had no claim token, so
-- completion is fenced only by `status = 'processing'`. With the fallback's claim by id alone
-- (harness/mutants/sql/queries.sql: seed_mark_entry_processing), a worker that polled an entry
-- before its owner completed it re-opens the entry and writes the thread a second time.

CREATE OR REPLACE FUNCTION public.complete_thread(p_entry_id bigint, p_token uuid, p_result jsonb)
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
    -- THE BUG: p_token is ignored; any worker that set the entry to processing may complete it.
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
       SET status = 'done', claim_token = NULL, locked_until = NULL, finished_at = t,
           processed_at = t, last_error = NULL
     WHERE q.id = e.id;
    -- The job counters move only on an entry's first completion (finished_at still NULL): a
    -- second completion would otherwise drive threads_open negative and abort on its CHECK,
    -- hiding the double processing this mutant exists to show behind an error.
    first_finish := (e.finished_at IS NULL)::integer;
    UPDATE public.sync_jobs j
       SET threads_open = j.threads_open - first_finish,
           threads_done = j.threads_done + first_finish
     WHERE j.id = e.job_id;
    PERFORM threadsync.finish_job_if_done(e.job_id);
    RETURN QUERY SELECT true, 'completed'::text;
END
$$;

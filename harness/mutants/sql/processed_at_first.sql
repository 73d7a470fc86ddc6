-- Mutant processed_at_first: the incident report's own "Fix 2". The claim marks the entry
-- processed (processed_at set, status done, job counters moved) before any work, and the thread is
-- written later in a statement of its own. A processor that dies in between loses the thread for
-- good: its entry looks done, so neither the sweeper nor a re-sent webhook ever brings it back.

CREATE OR REPLACE FUNCTION public.claim_thread(p_entry_id bigint)
RETURNS TABLE (claimed boolean, reason text, entry_id bigint, job_id bigint, external_id text,
               payload jsonb, claim_token uuid, attempts integer, locked_until timestamptz)
LANGUAGE plpgsql SET search_path = '' AS $$
DECLARE
    e public.thread_processing_queue;
    t timestamptz := threadsync.now();
BEGIN
    -- THE BUG: Fix 2's `.update({ processed_at: now }).eq('id', id).is('processed_at', null)`.
    -- It is atomic, so only one claimer wins, but it records the outcome before the work: there is
    -- no lease to expire and no processing state for the sweeper to find.
    UPDATE public.thread_processing_queue q
       SET processed_at = t, status = 'done', finished_at = t, started_at = t,
           attempts = q.attempts + 1
     WHERE q.id = p_entry_id AND q.processed_at IS NULL
    RETURNING q.* INTO e;
    IF FOUND THEN
        -- The entry is done as far as the job can tell, so the job's counters move now, and the
        -- job completes when its last entry is claimed, not when its last thread is written.
        UPDATE public.sync_jobs j
           SET threads_open = j.threads_open - 1, threads_done = j.threads_done + 1
         WHERE j.id = e.job_id;
        PERFORM threadsync.finish_job_if_done(e.job_id);
        RETURN QUERY SELECT true, 'claimed'::text, e.id, e.job_id, st.external_id, st.payload,
                            NULL::uuid, e.attempts, NULL::timestamptz
                       FROM public.thread_stage st WHERE st.id = e.thread_stage_id;
        RETURN;
    END IF;
    SELECT * INTO e FROM public.thread_processing_queue q WHERE q.id = p_entry_id;
    RETURN QUERY SELECT false, threadsync.unclaimable_reason(e.status, e.next_retry_at), p_entry_id,
                        e.job_id, NULL::text, NULL::jsonb, NULL::uuid, e.attempts, NULL::timestamptz;
END
$$;

-- The later write: the thread only. The entry was completed by the claim, so there is nothing to
-- fence and nothing to complete here (the token argument is kept for the handlers' call).
CREATE OR REPLACE FUNCTION public.complete_thread(p_entry_id bigint, p_token uuid, p_result jsonb)
RETURNS TABLE (completed boolean, reason text)
LANGUAGE plpgsql SET search_path = '' AS $$
DECLARE
    e public.thread_processing_queue;
    t timestamptz := threadsync.now();
BEGIN
    SELECT * INTO e FROM public.thread_processing_queue q WHERE q.id = p_entry_id;
    IF NOT FOUND THEN
        RETURN QUERY SELECT false, 'unknown entry id'::text;
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
    RETURN QUERY SELECT true, 'completed'::text;
END
$$;

-- Mutant stage_outside_transaction's own SQL: the page worker stages a page's threads (and queues
-- their entries) in one transaction, stage_page, and completes the page (done + next page) in a
-- later one, complete_page (patched in harness/mutants/stage_outside_transaction.py). A worker
-- that dies between the two leaves staged, queued threads behind a page that is still processing;
-- after its lease expires the page is fetched and staged again. Staging is a plain INSERT, as it
-- would be in code that never expected to stage a page twice, so every thread of that page is
-- queued, and processed, twice.

-- THE BUG, part one: nothing makes staging idempotent per (job, external id) any more.
ALTER TABLE public.thread_stage DROP CONSTRAINT thread_stage_job_id_external_id_key;

-- THE BUG, part two: staging commits on its own, before the page is completed.
CREATE OR REPLACE FUNCTION public.stage_page(p_page_id bigint, p_token uuid, p_threads jsonb)
RETURNS TABLE (staged boolean, reason text, n_staged integer, n_queued integer)
LANGUAGE plpgsql SET search_path = '' AS $$
DECLARE
    s threadsync.settings;
    q public.sync_page_queue;
    t timestamptz := threadsync.now();
    k_staged integer;
    k_queued integer;
BEGIN
    SELECT * INTO STRICT s FROM threadsync.settings;
    SELECT * INTO q FROM public.sync_page_queue p WHERE p.id = p_page_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT false, 'unknown page id'::text, 0, 0;
        RETURN;
    END IF;
    -- Fenced like the reference: the fence is right, it is the split that is wrong. The retry
    -- holds a new, valid token, so it stages again.
    IF q.status <> 'processing' OR q.claim_token IS DISTINCT FROM p_token THEN
        RETURN QUERY SELECT false, ('lease lost: page is ' || q.status)::text, 0, 0;
        RETURN;
    END IF;

    WITH ins AS (
        INSERT INTO public.thread_stage (job_id, page_id, external_id, payload, source_updated_at)
        SELECT q.job_id, q.id, th ->> 'id', th, (th ->> 'updated_at')::timestamptz
          FROM jsonb_array_elements(p_threads) WITH ORDINALITY AS x (th, ord)
         ORDER BY ord
        RETURNING id
    ), queued AS (
        -- Each INSERT fires the processor's Database Webhook.
        INSERT INTO public.thread_processing_queue (job_id, thread_stage_id, max_attempts, emit_after)
        SELECT q.job_id, ins.id, s.max_attempts, t + make_interval(secs => s.emit_grace_seconds)
          FROM ins ORDER BY ins.id
        RETURNING id
    )
    SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM queued) INTO k_staged, k_queued;

    -- The queued entries are open work of the job from the moment they commit.
    UPDATE public.sync_jobs j SET threads_open = j.threads_open + k_queued WHERE j.id = q.job_id;

    RETURN QUERY SELECT true, 'staged'::text, k_staged, k_queued;
END
$$;

-- Like every function of the reference, kept from anon and authenticated: the mutant differs
-- from the reference only in its bug (no-public-access would otherwise catch this first).
REVOKE EXECUTE ON FUNCTION public.stage_page(bigint, uuid, jsonb) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION public.stage_page(bigint, uuid, jsonb) TO service_role;

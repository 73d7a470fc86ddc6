-- Mutant unguarded_claim: the reference's claim_page without its status guard. The UPDATE finds
-- the page by id and due time alone, so a duplicate webhook re-claims a page that is processing or
-- already done, with a fresh claim token, and the page is fetched, staged and completed again.

CREATE OR REPLACE FUNCTION public.claim_page(p_page_id bigint)
RETURNS TABLE (claimed boolean, reason text, page_id bigint, job_id bigint, page_number integer,
               cursor text, page_size integer, claim_token uuid, attempts integer,
               locked_until timestamptz)
LANGUAGE plpgsql SET search_path = '' AS $$
DECLARE
    q public.sync_page_queue;
    t timestamptz := threadsync.now();
BEGIN
    -- THE BUG: no `p.status = 'pending'` here. A concurrent claimer still waits on the row lock,
    -- but then claims the committed row whatever its status: processing, done or failed.
    UPDATE public.sync_page_queue p
       SET status = 'processing',
           attempts = p.attempts + 1,
           claim_token = threadsync.claim_token('page', p.id, p.attempts + 1),
           locked_until = t + make_interval(secs => (SELECT page_lease_seconds FROM threadsync.settings)),
           started_at = t
     WHERE p.id = p_page_id AND p.next_retry_at <= t
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

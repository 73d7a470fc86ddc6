-- The incident's pipeline: no recovery (report issue 5). The incident had no rescue job; the
-- harness's sweeper (and the pg_cron schedule in the last migration) call public.sweep(), so it
-- exists with the reference's signature, and does nothing: a row left `processing` by a worker
-- that died stays so (its claim set no lease that could expire), and a pending row whose webhook
-- was lost, or whose retry came due (no webhook fires on UPDATE), is never announced again.

CREATE OR REPLACE FUNCTION public.sweep()
RETURNS TABLE (pages_requeued integer, pages_failed integer, pages_emitted integer,
               threads_requeued integer, threads_failed integer, threads_emitted integer)
LANGUAGE sql SET search_path = '' AS $$
    SELECT 0, 0, 0, 0, 0, 0
$$;

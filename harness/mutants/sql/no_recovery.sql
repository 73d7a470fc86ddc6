-- Mutant no_recovery (incident issue 5): there is no rescue job. sweep() keeps its signature, so a
-- pg_cron schedule or a caller still works, but it does nothing: an expired lease stays
-- processing and pending work whose webhook was lost stays pending, forever.

CREATE OR REPLACE FUNCTION public.sweep()
RETURNS TABLE (pages_requeued integer, pages_failed integer, pages_emitted integer,
               threads_requeued integer, threads_failed integer, threads_emitted integer)
LANGUAGE sql SET search_path = '' AS $$
    SELECT 0, 0, 0, 0, 0, 0
$$;

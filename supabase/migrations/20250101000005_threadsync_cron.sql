-- threadsync reference pipeline: the sweeper, once a minute, with pg_cron.
-- pg_cron runs one run of a job at a time, as the role that scheduled it (the owner), each run in
-- its own transaction. Created when absent; cron.schedule with an existing job name updates it, so
-- this migration can run again.

DO $$
BEGIN
    IF pg_catalog.to_regnamespace('cron') IS NULL THEN
        CREATE EXTENSION IF NOT EXISTS pg_cron;
    END IF;
END
$$;

SELECT cron.schedule('threadsync-sweep', '* * * * *', 'SELECT * FROM public.sweep()');

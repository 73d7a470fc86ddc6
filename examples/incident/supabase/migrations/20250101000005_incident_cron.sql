-- The incident's pipeline: public.sweep() once a minute, with pg_cron, as the reference schedules it
-- (the incident's sweep does nothing; the schedule is kept so the project deploys like the reference).
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

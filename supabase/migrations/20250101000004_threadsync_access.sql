-- threadsync reference pipeline: who may touch what.
--
-- Supabase exposes `public` through its Data API (PostgREST) to `anon` (the public anon key) and
-- `authenticated` (any signed-in user), and its default privileges grant them ALL on every new
-- table and function there. Nothing in this pipeline is for them: RLS is on with no policy, so
-- they see and change no row, and EXECUTE is revoked, so they call nothing. The Edge Functions
-- call the RPCs as `service_role` (BYPASSRLS), which gets exactly what the functions touch. The
-- sweeper runs as the owner (pg_cron runs a job as the role that scheduled it).

ALTER TABLE public.sync_jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.sync_page_queue ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.thread_stage ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.thread_processing_queue ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.threads ENABLE ROW LEVEL SECURITY;

-- PUBLIC holds EXECUTE on every new function by PostgreSQL's own default; anon and authenticated
-- hold it through Supabase's default privileges in `public`. Only this pipeline's functions are
-- named, so a project's other functions in `public` keep their rights.
REVOKE EXECUTE ON FUNCTION
    public.start_sync(integer),
    public.claim_page(bigint),
    public.extend_page_lease(bigint, uuid, integer),
    public.complete_page(bigint, uuid, jsonb, text),
    public.fail_page(bigint, uuid, text, double precision),
    public.claim_thread(bigint),
    public.extend_thread_lease(bigint, uuid, integer),
    public.complete_thread(bigint, uuid, jsonb),
    public.fail_thread(bigint, uuid, text, double precision),
    public.sweep()
    FROM PUBLIC, anon, authenticated;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA threadsync FROM PUBLIC, anon, authenticated;
-- Table rights are revoked too, so that a policy added by mistake later still grants nothing.
REVOKE ALL ON public.sync_jobs, public.sync_page_queue, public.thread_stage,
              public.thread_processing_queue, public.threads FROM anon, authenticated;
REVOKE ALL ON ALL TABLES IN SCHEMA threadsync FROM PUBLIC, anon, authenticated;

-- service_role: the RPCs, the tables they write (they run with the caller's rights), the settings
-- they read and the helpers they call. Not threadsync.claim_secret: claim_token reads it for them.
GRANT USAGE ON SCHEMA threadsync TO service_role;
GRANT EXECUTE ON FUNCTION
    public.start_sync(integer),
    public.claim_page(bigint),
    public.extend_page_lease(bigint, uuid, integer),
    public.complete_page(bigint, uuid, jsonb, text),
    public.fail_page(bigint, uuid, text, double precision),
    public.claim_thread(bigint),
    public.extend_thread_lease(bigint, uuid, integer),
    public.complete_thread(bigint, uuid, jsonb),
    public.fail_thread(bigint, uuid, text, double precision),
    public.sweep()
    TO service_role;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA threadsync TO service_role;
GRANT SELECT, INSERT, UPDATE, DELETE ON public.sync_jobs, public.sync_page_queue,
      public.thread_stage, public.thread_processing_queue, public.threads TO service_role;
GRANT USAGE, SELECT ON SEQUENCE public.sync_jobs_id_seq, public.sync_page_queue_id_seq,
      public.thread_stage_id_seq, public.thread_processing_queue_id_seq TO service_role;
GRANT SELECT ON threadsync.settings TO service_role;
REVOKE ALL ON threadsync.claim_secret FROM PUBLIC, anon, authenticated, service_role;

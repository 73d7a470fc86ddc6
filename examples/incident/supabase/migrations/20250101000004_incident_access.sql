-- The incident's pipeline: who may touch what, as in the reference (RLS on with no policy; anon
-- and authenticated call nothing), for the incident's own functions. Its Edge Functions run as
-- service_role (BYPASSRLS on Supabase) and use table endpoints as well as RPCs: service_role gets
-- exactly those (supabase-js `.from(...)`: SELECT and UPDATE on the two queues, SELECT on
-- thread_stage) besides what the RPCs write with its rights.

ALTER TABLE public.sync_jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.sync_page_queue ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.thread_stage ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.thread_processing_queue ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.threads ENABLE ROW LEVEL SECURITY;

REVOKE EXECUTE ON FUNCTION
    public.start_sync(integer),
    public.complete_page(bigint, jsonb, text),
    public.fail_page(bigint, text, double precision),
    public.complete_thread(bigint, jsonb),
    public.fail_thread(bigint, text, double precision),
    public.sweep()
    FROM PUBLIC, anon, authenticated;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA threadsync FROM PUBLIC, anon, authenticated;
REVOKE ALL ON public.sync_jobs, public.sync_page_queue, public.thread_stage,
              public.thread_processing_queue, public.threads FROM anon, authenticated;
REVOKE ALL ON ALL TABLES IN SCHEMA threadsync FROM PUBLIC, anon, authenticated;

GRANT USAGE ON SCHEMA threadsync TO service_role;
GRANT EXECUTE ON FUNCTION
    public.start_sync(integer),
    public.complete_page(bigint, jsonb, text),
    public.fail_page(bigint, text, double precision),
    public.complete_thread(bigint, jsonb),
    public.fail_thread(bigint, text, double precision),
    public.sweep()
    TO service_role;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA threadsync TO service_role;
-- The RPCs' writes (they run with the caller's rights) and the functions' table calls.
GRANT SELECT, INSERT, UPDATE, DELETE ON public.sync_jobs, public.sync_page_queue,
      public.thread_stage, public.thread_processing_queue, public.threads TO service_role;
GRANT USAGE, SELECT ON SEQUENCE public.sync_jobs_id_seq, public.sync_page_queue_id_seq,
      public.thread_stage_id_seq, public.thread_processing_queue_id_seq TO service_role;
GRANT SELECT ON threadsync.settings TO service_role;

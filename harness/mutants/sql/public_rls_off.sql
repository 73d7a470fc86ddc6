-- Mutant public_rls_off: the reference as first shipped to Supabase, without its RLS and revokes.
-- Supabase's default privileges then leave every table in `public` readable and writable, and
-- every function callable, with the public anon key (`anon`) or any signed-in user
-- (`authenticated`): participants' e-mails in `threads`, a webhook fired by an INSERT into
-- `sync_page_queue`, `sweep()` and `complete_*` for anyone. The pipeline itself works as before.

ALTER TABLE public.sync_jobs DISABLE ROW LEVEL SECURITY;
ALTER TABLE public.sync_page_queue DISABLE ROW LEVEL SECURITY;
ALTER TABLE public.thread_stage DISABLE ROW LEVEL SECURITY;
ALTER TABLE public.thread_processing_queue DISABLE ROW LEVEL SECURITY;
ALTER TABLE public.threads DISABLE ROW LEVEL SECURITY;

-- What Supabase's default privileges and PostgreSQL's own defaults had granted.
GRANT ALL ON public.sync_jobs, public.sync_page_queue, public.thread_stage,
             public.thread_processing_queue, public.threads TO anon, authenticated;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO PUBLIC, anon, authenticated;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA threadsync TO PUBLIC;

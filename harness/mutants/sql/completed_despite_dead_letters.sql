-- Mutant completed_despite_dead_letters: the job is finished at the right moment, under its row
-- lock, but always as 'completed', even when a page or entry was dead-lettered.

CREATE OR REPLACE FUNCTION threadsync.finish_job_if_done(p_job_id bigint)
RETURNS void LANGUAGE sql AS $$
    UPDATE public.sync_jobs
       SET status = 'completed'::public.job_state,
           finished_at = threadsync.now()
     WHERE id = p_job_id AND status = 'running' AND pages_open = 0 AND threads_open = 0
$$;

-- Mutant job_completion_race: the job is no longer finished under its row lock by the SQL
-- functions. The counters still move (so nothing else changes), but the step that finishes the job
-- does nothing here; the handlers finish it instead by counting open work and then marking the job,
-- in separate statements (harness/mutants/job_completion_race.py).

CREATE OR REPLACE FUNCTION threadsync.finish_job_if_done(p_job_id bigint)
RETURNS void LANGUAGE sql SET search_path = '' AS $$
    SELECT
$$;

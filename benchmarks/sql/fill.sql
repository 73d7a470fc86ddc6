-- Benchmark fixtures: bulk rows that the pipeline must be able to ignore.

-- name: fill_done
-- N finished pages and entries of one old job, inserted without firing webhooks (replica role).
WITH job AS (
    INSERT INTO public.sync_jobs (page_size, status) VALUES (50, 'completed') RETURNING id
), pages AS (
    INSERT INTO public.sync_page_queue (job_id, page_number, page_size, status, max_attempts,
                                        emit_after, attempts, finished_at)
    SELECT job.id, g, 50, 'done', 5, threadsync.now(), 1, threadsync.now()
      FROM job, generate_series(1, %(n)s) g
    RETURNING id, job_id
), staged AS (
    INSERT INTO public.thread_stage (job_id, page_id, external_id, payload)
    SELECT job_id, id, 'old-' || id, '{}'::jsonb FROM pages
    RETURNING id, job_id
)
INSERT INTO public.thread_processing_queue (job_id, thread_stage_id, status, max_attempts,
                                            emit_after, attempts, finished_at)
SELECT job_id, id, 'done', 5, threadsync.now(), 1, threadsync.now() FROM staged;

-- name: analyze
ANALYZE;

-- name: newest_page
SELECT max(id) AS id FROM public.sync_page_queue;

-- name: newest_entry
SELECT max(id) AS id FROM public.thread_processing_queue;

-- name: one_row_table
-- The row pgbench's one-row transaction updates (benchmarks/sql/pgbench_one_row.sql).
CREATE TABLE bench_one_row (id int PRIMARY KEY, n bigint NOT NULL);
INSERT INTO bench_one_row VALUES (1, 0);

-- name: job_entries
-- The queue entries one job's pages staged, in the order they were queued.
SELECT id FROM public.thread_processing_queue WHERE job_id = %(job_id)s ORDER BY id;

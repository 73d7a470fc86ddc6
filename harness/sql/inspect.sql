-- Read-only statements the harness uses to look at a pipeline's database.

-- name: queued_requests
SELECT id, url, body FROM net.http_request_queue WHERE id > %(after)s ORDER BY id LIMIT 500;

-- name: open_work
SELECT (SELECT count(*) FROM public.sync_page_queue WHERE status IN ('pending', 'processing'))
     + (SELECT count(*) FROM public.thread_processing_queue
         WHERE status IN ('pending', 'processing')) AS open;

-- name: seconds_to_last_due
-- How far the clock must move for every lease, backoff and re-emit grace of open work to pass.
SELECT greatest(1, extract(epoch FROM max(t) - threadsync.now()) + 1) AS seconds FROM (
    SELECT greatest(next_retry_at, emit_after, locked_until) AS t FROM public.sync_page_queue
     WHERE status IN ('pending', 'processing')
    UNION ALL
    SELECT greatest(next_retry_at, emit_after, locked_until) FROM public.thread_processing_queue
     WHERE status IN ('pending', 'processing')) due;

-- name: advance_session_clock
SELECT set_config('threadsync.now',
                  (now() + make_interval(secs => %(offset)s))::text, false) AS now;

-- name: synced_threads
SELECT external_id, content_hash, participants FROM public.threads ORDER BY external_id;

-- name: unfinished_pages
SELECT id, page_number, status, attempts, last_error FROM public.sync_page_queue
 WHERE job_id = %(job_id)s AND status <> 'done' ORDER BY page_number;

-- name: unfinished_entries
SELECT q.id, s.external_id, q.status, q.attempts, q.last_error
  FROM public.thread_processing_queue q JOIN public.thread_stage s ON s.id = q.thread_stage_id
 WHERE q.job_id = %(job_id)s AND q.status <> 'done' ORDER BY q.id;

-- name: page_count
SELECT count(*) AS pages FROM public.sync_page_queue WHERE job_id = %(job_id)s;

-- name: job
SELECT * FROM public.sync_jobs WHERE id = %(job_id)s;

-- name: state_pages
SELECT id, job_id, page_number, status::text AS status, attempts, max_attempts, last_error,
       locked_until::text AS locked_until, next_retry_at::text AS next_retry_at,
       finished_at::text AS finished_at, cursor
  FROM public.sync_page_queue ORDER BY job_id, page_number, id;

-- name: state_entries
SELECT q.id, q.job_id, s.external_id, s.page_id, q.status::text AS status, q.attempts,
       q.max_attempts, q.last_error, q.locked_until::text AS locked_until,
       q.next_retry_at::text AS next_retry_at, q.finished_at::text AS finished_at
  FROM public.thread_processing_queue q LEFT JOIN public.thread_stage s ON s.id = q.thread_stage_id
 ORDER BY q.id;

-- name: state_threads
-- Times as epoch seconds: a check compares them with the source's ISO strings.
SELECT external_id, content_hash, participants, subject, message_count,
       extract(epoch FROM last_message_at)::float8 AS last_message_at,
       extract(epoch FROM source_updated_at)::float8 AS source_updated_at
  FROM public.threads ORDER BY external_id;

-- name: state_jobs
SELECT id, status::text AS status, page_size, finished_at::text AS finished_at
  FROM public.sync_jobs ORDER BY id;

-- name: state_effects
-- commit_seq orders the effects' transactions by commit (NULL only for a log without the
-- commit-order trigger).
SELECT e.id, e.kind, e.key, e.txid, e.detail, c.seq AS commit_seq
  FROM harness.effects e LEFT JOIN harness.commit_order c ON c.txid = e.txid
 ORDER BY e.id;

-- name: has_settings
SELECT to_regclass('threadsync.settings') IS NOT NULL AS present;

-- name: emit_grace
-- How long a queue row's webhook may go unanswered before the sweeper sends it again.
SELECT (to_jsonb(s) ->> 'emit_grace_seconds')::float8 AS seconds FROM threadsync.settings s LIMIT 1;

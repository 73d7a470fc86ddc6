-- Statements that mutant handlers send and the reference's handlers never need, one named block
-- each (`-- name: x`). Each reproduces the buggy data access a mutant stands for; the comments
-- say which bug.

-- name: seed_select_page
-- The seed's step 1 (issue 2): read the page, so that Python can decide whether it is claimable.
SELECT p.id, p.status::text AS status, p.next_retry_at <= threadsync.now() AS due,
       p.next_retry_at::text AS next_retry_at
  FROM public.sync_page_queue p WHERE p.id = %(page_id)s;

-- name: poll_pending_page
-- The seed's page worker (issue 1): any pending, due page, whatever the webhook named.
SELECT p.id FROM public.sync_page_queue p
 WHERE p.status = 'pending' AND p.next_retry_at <= threadsync.now()
 ORDER BY p.created_at, p.id LIMIT 1;

-- name: seed_mark_page_processing
-- The seed's step 2 (issue 2): mark by id alone. Nothing re-checks the status read in step 1, so
-- a second worker overwrites a live claim, or even re-opens a page that was completed meanwhile.
-- The token and lease are set only because the shared schema requires them of a processing row.
UPDATE public.sync_page_queue p
   SET status = 'processing',
       attempts = p.attempts + 1,
       claim_token = threadsync.claim_token('page', p.id, p.attempts + 1),
       locked_until = threadsync.now()
                      + make_interval(secs => (SELECT page_lease_seconds FROM threadsync.settings)),
       started_at = threadsync.now()
 WHERE p.id = %(page_id)s
RETURNING p.id AS page_id, p.job_id, p.cursor, p.page_size, p.claim_token, p.attempts;

-- name: poll_unprocessed_entry
-- The seed's processor fallback (issue 3): the oldest entry not processed yet, in any state,
-- including one that another worker holds right now.
SELECT q.id FROM public.thread_processing_queue q
 WHERE q.processed_at IS NULL
 ORDER BY q.created_at, q.id LIMIT 1;

-- name: seed_mark_entry_processing
-- The fallback's claim (issue 3): by id alone, like the seed's page claim.
UPDATE public.thread_processing_queue q
   SET status = 'processing',
       attempts = q.attempts + 1,
       claim_token = threadsync.claim_token('thread', q.id, q.attempts + 1),
       locked_until = threadsync.now()
                      + make_interval(secs => (SELECT thread_lease_seconds FROM threadsync.settings)),
       started_at = threadsync.now()
 WHERE q.id = %(entry_id)s
RETURNING q.id AS entry_id, q.job_id, q.claim_token,
          (SELECT st.payload FROM public.thread_stage st WHERE st.id = q.thread_stage_id) AS payload;

-- name: stage_page
-- Staging as a transaction of its own, before the page is completed (stage_outside_transaction).
SELECT * FROM public.stage_page(%(page_id)s, %(token)s, %(threads)s::jsonb);

-- name: job_of_page
SELECT p.job_id FROM public.sync_page_queue p WHERE p.id = %(page_id)s;

-- name: job_of_entry
SELECT q.job_id FROM public.thread_processing_queue q WHERE q.id = %(entry_id)s;

-- name: running_jobs
SELECT j.id AS job_id FROM public.sync_jobs j WHERE j.status = 'running' ORDER BY j.id;

-- name: open_work_of_job
-- Count what is left (job_completion_race): under READ COMMITTED two finishers that each
-- committed their last item before counting both read zero.
SELECT (SELECT count(*) FROM public.sync_page_queue p
         WHERE p.job_id = %(job_id)s AND p.status IN ('pending', 'processing'))
     + (SELECT count(*) FROM public.thread_processing_queue q
         WHERE q.job_id = %(job_id)s AND q.status IN ('pending', 'processing')) AS open;

-- name: mark_job_finished
-- ...then mark it finished, with no `status = 'running'` guard: each finisher that read zero
-- finishes the job again.
UPDATE public.sync_jobs j
   SET status = CASE WHEN j.pages_failed + j.threads_failed > 0 THEN 'failed'::public.job_state
                     ELSE 'completed'::public.job_state END,
       finished_at = threadsync.now()
 WHERE j.id = %(job_id)s
RETURNING j.id AS job_id, j.status::text AS status;

-- name: queue_page_entries
-- queue_after_complete: queue a completed page's staged threads, in a transaction of its own.
SELECT queued FROM public.queue_page_entries(%(page_id)s);

-- name: expired_leases
-- rescue_by_id: the rescuer's read, with no lock: rows whose lease has expired, as of now.
SELECT 'page' AS queue, p.id FROM public.sync_page_queue p
 WHERE p.status = 'processing' AND p.locked_until < threadsync.now()
UNION ALL
SELECT 'thread', q.id FROM public.thread_processing_queue q
 WHERE q.status = 'processing' AND q.locked_until < threadsync.now()
 ORDER BY 1, 2;

-- name: requeue_page_by_id
-- rescue_by_id: the rescuer's write, by id alone: whatever happened to the row since the read.
UPDATE public.sync_page_queue
   SET status = 'pending', claim_token = NULL, locked_until = NULL,
       next_retry_at = threadsync.now(), emit_after = threadsync.now(),
       last_error = 'lease expired (rescued by id)'
 WHERE id = %(id)s;

-- name: requeue_entry_by_id
-- rescue_by_id: as requeue_page_by_id, for an entry.
UPDATE public.thread_processing_queue
   SET status = 'pending', claim_token = NULL, locked_until = NULL,
       next_retry_at = threadsync.now(), emit_after = threadsync.now(),
       last_error = 'lease expired (rescued by id)'
 WHERE id = %(id)s;

-- The incident's pipeline (examples/incident/README.md): tables, states and indexes.
-- The reference's tables and columns (the harness reads them), with two differences the incident
-- had: no claim tokens (claims are made in TypeScript and mark a row `processing` and nothing
-- else), so no claim_secret and no CHECK tying `processing` to a token and a lease.

CREATE SCHEMA IF NOT EXISTS threadsync;

-- The one source of time for every function below. In production nothing sets the setting and it
-- is plain now(); the harness sets it per session to move a virtual clock, which (unlike now())
-- can also move inside a transaction.
CREATE OR REPLACE FUNCTION threadsync.now() RETURNS timestamptz
LANGUAGE sql STABLE SET search_path = '' AS $$
    SELECT coalesce(nullif(current_setting('threadsync.now', true), '')::timestamptz, now())
$$;

-- Tunables in one row, so a deployment (or a test) changes them without touching functions.
CREATE TABLE threadsync.settings (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    page_lease_seconds integer NOT NULL DEFAULT 120 CHECK (page_lease_seconds > 0),
    thread_lease_seconds integer NOT NULL DEFAULT 60 CHECK (thread_lease_seconds > 0),
    max_attempts integer NOT NULL DEFAULT 5 CHECK (max_attempts > 0),
    backoff_base_seconds double precision NOT NULL DEFAULT 10 CHECK (backoff_base_seconds > 0),
    backoff_cap_seconds double precision NOT NULL DEFAULT 3600 CHECK (backoff_cap_seconds > 0),
    -- How long pending work may wait for its webhook before the sweeper sends another one.
    emit_grace_seconds integer NOT NULL DEFAULT 30 CHECK (emit_grace_seconds > 0),
    sweep_batch integer NOT NULL DEFAULT 500 CHECK (sweep_batch > 0)
);
INSERT INTO threadsync.settings DEFAULT VALUES;

-- Work item states, declared once for both queues. How an item leaves each state here:
--   pending    -> processing  a claim made by the Edge Function with supabase-js table calls
--   processing -> done        complete, fenced by `status = 'processing'` alone
--   processing -> pending     fail with backoff (nothing else: no lease ever expires)
--   processing -> failed      fail on the last attempt (dead letter, reason kept)
--   done, failed              terminal, until a claim by id alone sets `processing` again
CREATE TYPE public.work_state AS ENUM ('pending', 'processing', 'done', 'failed');

-- Job states: running -> completed (all work done) or failed (all work finished, some dead-lettered).
-- The transition happens once, under the job row's lock, when the open counters reach zero.
CREATE TYPE public.job_state AS ENUM ('running', 'completed', 'failed');

CREATE TABLE public.sync_jobs (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    status public.job_state NOT NULL DEFAULT 'running',
    page_size integer NOT NULL CHECK (page_size BETWEEN 1 AND 1000),
    -- Counters instead of COUNT(*): two finishers under READ COMMITTED would both count "1 left".
    pages_open integer NOT NULL DEFAULT 0 CHECK (pages_open >= 0),
    threads_open integer NOT NULL DEFAULT 0 CHECK (threads_open >= 0),
    pages_done integer NOT NULL DEFAULT 0,
    pages_failed integer NOT NULL DEFAULT 0,
    threads_done integer NOT NULL DEFAULT 0,
    threads_failed integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT threadsync.now(),
    finished_at timestamptz
);

CREATE TABLE public.sync_page_queue (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id bigint NOT NULL REFERENCES public.sync_jobs (id),
    page_number integer NOT NULL CHECK (page_number >= 1),
    cursor text,
    page_size integer NOT NULL,
    status public.work_state NOT NULL DEFAULT 'pending',
    attempts integer NOT NULL DEFAULT 0,
    max_attempts integer NOT NULL,
    next_retry_at timestamptz NOT NULL DEFAULT threadsync.now(),
    -- When the sweeper should (re-)send the webhook if the item is still pending then.
    emit_after timestamptz NOT NULL,
    emits integer NOT NULL DEFAULT 0,
    locked_until timestamptz,
    claim_token uuid,
    started_at timestamptz,
    finished_at timestamptz,
    last_error text,
    thread_count integer,
    next_cursor text,
    created_at timestamptz NOT NULL DEFAULT threadsync.now(),
    UNIQUE (job_id, page_number)
);

CREATE TABLE public.thread_stage (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id bigint NOT NULL REFERENCES public.sync_jobs (id),
    page_id bigint NOT NULL REFERENCES public.sync_page_queue (id),
    external_id text NOT NULL,
    payload jsonb NOT NULL,
    source_updated_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT threadsync.now(),
    -- Staging is idempotent per job: a page fetched twice stages each thread once.
    UNIQUE (job_id, external_id)
);

CREATE TABLE public.thread_processing_queue (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id bigint NOT NULL REFERENCES public.sync_jobs (id),
    thread_stage_id bigint NOT NULL UNIQUE REFERENCES public.thread_stage (id),
    status public.work_state NOT NULL DEFAULT 'pending',
    attempts integer NOT NULL DEFAULT 0,
    max_attempts integer NOT NULL,
    next_retry_at timestamptz NOT NULL DEFAULT threadsync.now(),
    emit_after timestamptz NOT NULL,
    emits integer NOT NULL DEFAULT 0,
    locked_until timestamptz,
    claim_token uuid,
    started_at timestamptz,
    finished_at timestamptz,
    processed_at timestamptz,
    last_error text,
    created_at timestamptz NOT NULL DEFAULT threadsync.now()
);

-- The synced result: one row per external thread.
CREATE TABLE public.threads (
    external_id text PRIMARY KEY,
    subject text NOT NULL,
    participants jsonb NOT NULL,
    message_count integer NOT NULL,
    last_message_at timestamptz,
    source_updated_at timestamptz,
    content_hash text NOT NULL,
    job_id bigint NOT NULL REFERENCES public.sync_jobs (id),
    processed_at timestamptz NOT NULL
);

-- The sweeper reads only these two slices, so its cost follows the stuck rows, not the queue size.
CREATE INDEX sync_page_queue_expired_idx ON public.sync_page_queue (locked_until)
    WHERE status = 'processing';
CREATE INDEX sync_page_queue_emit_idx ON public.sync_page_queue (emit_after)
    WHERE status = 'pending';
CREATE INDEX thread_processing_queue_expired_idx ON public.thread_processing_queue (locked_until)
    WHERE status = 'processing';
CREATE INDEX thread_processing_queue_emit_idx ON public.thread_processing_queue (emit_after)
    WHERE status = 'pending';

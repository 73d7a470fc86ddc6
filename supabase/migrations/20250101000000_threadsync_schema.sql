-- threadsync reference pipeline: tables, states and indexes.
-- Runs unchanged on Supabase (`supabase db push`, as the `postgres` role) and on the harness's
-- emulation of it, which applies this very file as a non-superuser owner.

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

-- The key that makes claim tokens unforgeable: a token is keyed with it (threadsync.claim_token),
-- and only the owner reads this table. 244 random bits from gen_random_uuid(), which draws on
-- pg_strong_random(). The harness overwrites it with a fixed key so that its runs replay
-- identically; a deployment keeps the random one.
CREATE TABLE threadsync.claim_secret (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    secret text NOT NULL DEFAULT (gen_random_uuid()::text || gen_random_uuid()::text)
);
INSERT INTO threadsync.claim_secret DEFAULT VALUES;

-- Work item states, declared once for both queues. How an item leaves each state:
--   pending    -> processing  claim (id named by a webhook, due: next_retry_at <= now)
--   processing -> done        complete, fenced by the claim token, with the item's effects
--   processing -> pending     fail with backoff, or the sweeper finding the lease expired
--   processing -> failed      fail or lease expiry on the last attempt (dead letter, reason kept)
--   done, failed              terminal
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
    UNIQUE (job_id, page_number),
    CHECK ((status = 'processing') = (claim_token IS NOT NULL AND locked_until IS NOT NULL))
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
    created_at timestamptz NOT NULL DEFAULT threadsync.now(),
    CHECK ((status = 'processing') = (claim_token IS NOT NULL AND locked_until IS NOT NULL))
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

-- Emulation of the Supabase pieces the pipeline's migrations rely on, per database, applied by the
-- superuser before the migrations (which then run as threadsync_owner, Supabase's `postgres`):
--   * the privileges Supabase's init script gives: USAGE on `public` for the API roles, and
--     default privileges that grant anon, authenticated and service_role ALL on every table,
--     function and sequence the owner creates in `public`;
--   * pg_net's `net.http_post`, which only queues a request; a background worker sends it after
--     COMMIT. Here the harness's deliverer plays that worker, reading committed rows, and writes
--     each outcome to `net._http_response`;
--   * `supabase_functions.http_request`, the trigger function behind Database Webhooks;
--   * Vault's `vault.decrypted_secrets` and `vault.create_secret`; pg_cron's `cron.schedule`.
-- Signatures, owners, SECURITY DEFINER and grants follow supabase/postgres
-- (20240822021428_enable_webhooks_by_default.sql) and supabase/pg_net (sql/pg_net.sql), so a
-- migration written for Supabase runs here unchanged and meets the same permission errors.

-- --- Supabase's grants in `public` -------------------------------------------------------------
GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role;
GRANT USAGE, CREATE ON SCHEMA public TO threadsync_owner;
ALTER DEFAULT PRIVILEGES FOR ROLE threadsync_owner IN SCHEMA public
    GRANT ALL ON TABLES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES FOR ROLE threadsync_owner IN SCHEMA public
    GRANT ALL ON FUNCTIONS TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES FOR ROLE threadsync_owner IN SCHEMA public
    GRANT ALL ON SEQUENCES TO anon, authenticated, service_role;
-- The owner creates its own schemas, as `postgres` can on Supabase.
DO $$
BEGIN
    EXECUTE format('GRANT CREATE, CONNECT, TEMPORARY ON DATABASE %I TO threadsync_owner',
                   current_database());
END
$$;

CREATE SCHEMA IF NOT EXISTS extensions;
GRANT USAGE ON SCHEMA extensions TO threadsync_owner, anon, authenticated, service_role;

-- --- pg_net ------------------------------------------------------------------------------------
CREATE SCHEMA IF NOT EXISTS net;
GRANT USAGE ON SCHEMA net TO threadsync_owner, anon, authenticated, service_role;

-- UNLOGGED like pg_net's queue: an immediate server stop loses what was queued, a clean one keeps
-- it, as in production. pg_net stores the body as bytea; jsonb here, read by the deliverer.
CREATE UNLOGGED TABLE IF NOT EXISTS net.http_request_queue (
    id bigserial PRIMARY KEY,
    method text NOT NULL,
    url text NOT NULL,
    headers jsonb NOT NULL,
    body jsonb,
    timeout_milliseconds integer NOT NULL,
    -- Which transaction queued it: the harness uses this to deliver a request "early", before the
    -- inserting transaction commits, as a synchronous HTTP trigger would (pg_net never does).
    txid bigint NOT NULL DEFAULT txid_current()
);

-- One row per finished request, as pg_net's worker writes them (kept 6 h there).
CREATE UNLOGGED TABLE IF NOT EXISTS net._http_response (
    id bigint,
    status_code integer,
    content_type text,
    headers jsonb,
    content text,
    timed_out boolean,
    error_msg text,
    created timestamptz NOT NULL DEFAULT now()
);

-- Owned by the superuser and SECURITY DEFINER, as on Supabase: callers need no rights on the queue.
CREATE OR REPLACE FUNCTION net.http_post(
    url text,
    body jsonb DEFAULT '{}'::jsonb,
    params jsonb DEFAULT '{}'::jsonb,
    headers jsonb DEFAULT '{"Content-Type": "application/json"}'::jsonb,
    timeout_milliseconds integer DEFAULT 5000
) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = net
AS $$
DECLARE
    request_id bigint;
    full_url text := url;
    query text;
    content_type text;
BEGIN
    SELECT value INTO content_type FROM jsonb_each_text(coalesce(headers, '{}'::jsonb))
     WHERE lower(key) = 'content-type' LIMIT 1;
    IF content_type IS NULL THEN
        headers := coalesce(headers, '{}'::jsonb) || '{"Content-Type": "application/json"}'::jsonb;
    ELSIF content_type <> 'application/json' THEN
        RAISE EXCEPTION 'Content-Type header must be "application/json"';
    END IF;
    IF body IS NULL THEN
        RAISE EXCEPTION 'body must not be null';
    END IF;
    IF params IS NOT NULL AND params <> '{}'::jsonb THEN
        SELECT string_agg(format('%s=%s', key, value), '&') INTO query
        FROM jsonb_each_text(params);
        full_url := url || CASE WHEN position('?' IN url) > 0 THEN '&' ELSE '?' END || query;
    END IF;
    INSERT INTO net.http_request_queue (method, url, headers, body, timeout_milliseconds)
    VALUES ('POST', full_url, headers, body, timeout_milliseconds)
    RETURNING id INTO request_id;
    RETURN request_id;
END
$$;

CREATE OR REPLACE FUNCTION net.http_get(
    url text,
    params jsonb DEFAULT '{}'::jsonb,
    headers jsonb DEFAULT '{}'::jsonb,
    timeout_milliseconds integer DEFAULT 5000
) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = net
AS $$
DECLARE
    request_id bigint;
BEGIN
    INSERT INTO net.http_request_queue (method, url, headers, body, timeout_milliseconds)
    VALUES ('GET', url, coalesce(headers, '{}'::jsonb), NULL, timeout_milliseconds)
    RETURNING id INTO request_id;
    RETURN request_id;
END
$$;

REVOKE ALL ON FUNCTION net.http_post(text, jsonb, jsonb, jsonb, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION net.http_get(text, jsonb, jsonb, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION net.http_post(text, jsonb, jsonb, jsonb, integer)
    TO threadsync_owner, anon, authenticated, service_role;
GRANT EXECUTE ON FUNCTION net.http_get(text, jsonb, jsonb, integer)
    TO threadsync_owner, anon, authenticated, service_role;

-- --- Database Webhooks -------------------------------------------------------------------------
CREATE SCHEMA IF NOT EXISTS supabase_functions;
GRANT USAGE ON SCHEMA supabase_functions TO threadsync_owner, anon, authenticated, service_role;

-- Supabase's Database Webhook trigger function: TG_ARGV is (url, method, headers, params, timeout);
-- the literal 'null' means "default".
CREATE OR REPLACE FUNCTION supabase_functions.http_request()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = supabase_functions
AS $$
DECLARE
    url text := TG_ARGV[0]::text;
    method text := TG_ARGV[1]::text;
    headers jsonb := CASE WHEN TG_ARGV[2] IS NULL OR TG_ARGV[2] = 'null'
                          THEN '{"Content-Type": "application/json"}'::jsonb
                          ELSE TG_ARGV[2]::jsonb END;
    params jsonb := CASE WHEN TG_ARGV[3] IS NULL OR TG_ARGV[3] = 'null'
                         THEN '{}'::jsonb ELSE TG_ARGV[3]::jsonb END;
    timeout_ms integer := CASE WHEN TG_ARGV[4] IS NULL OR TG_ARGV[4] = 'null'
                               THEN 1000 ELSE TG_ARGV[4]::integer END;
    payload jsonb;
BEGIN
    IF url IS NULL OR url = 'null' THEN
        RAISE EXCEPTION 'url argument is missing';
    END IF;
    IF method IS NULL OR method = 'null' THEN
        RAISE EXCEPTION 'method argument is missing';
    END IF;

    payload := jsonb_build_object(
        'old_record', CASE WHEN TG_OP IN ('UPDATE', 'DELETE') THEN to_jsonb(OLD) END,
        'record', CASE WHEN TG_OP IN ('INSERT', 'UPDATE') THEN to_jsonb(NEW) END,
        'type', TG_OP,
        'table', TG_TABLE_NAME,
        'schema', TG_TABLE_SCHEMA
    );

    IF method = 'GET' THEN
        PERFORM net.http_get(url, params, headers, timeout_ms);
    ELSIF method = 'POST' THEN
        PERFORM net.http_post(url, payload, params, headers, timeout_ms);
    ELSE
        RAISE EXCEPTION 'method argument % is invalid', method;
    END IF;

    RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION supabase_functions.http_request() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION supabase_functions.http_request()
    TO threadsync_owner, anon, authenticated, service_role;

-- --- Vault -------------------------------------------------------------------------------------
-- Secrets are stored in clear here (Vault encrypts them with a key outside the database); the
-- names, columns and rights are Vault's: the owner reads decrypted_secrets, the API roles do not.
CREATE SCHEMA IF NOT EXISTS vault;
CREATE TABLE IF NOT EXISTS vault.secrets (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name text UNIQUE,
    description text NOT NULL DEFAULT '',
    secret text NOT NULL,
    key_id uuid,
    nonce bytea,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE OR REPLACE VIEW vault.decrypted_secrets AS
    SELECT id, name, description, secret, secret AS decrypted_secret, key_id, nonce, created_at,
           updated_at
      FROM vault.secrets;

CREATE OR REPLACE FUNCTION vault.create_secret(
    new_secret text, new_name text DEFAULT NULL, new_description text DEFAULT '',
    new_key_id uuid DEFAULT NULL)
RETURNS uuid
LANGUAGE sql SECURITY DEFINER SET search_path = ''
AS $$
    INSERT INTO vault.secrets (secret, name, description, key_id)
    VALUES (new_secret, new_name, new_description, new_key_id)
    RETURNING id
$$;

CREATE OR REPLACE FUNCTION vault.update_secret(
    secret_id uuid, new_secret text DEFAULT NULL, new_name text DEFAULT NULL,
    new_description text DEFAULT NULL, new_key_id uuid DEFAULT NULL)
RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = ''
AS $$
    UPDATE vault.secrets
       SET secret = coalesce(new_secret, secret), name = coalesce(new_name, name),
           description = coalesce(new_description, description),
           key_id = coalesce(new_key_id, key_id), updated_at = now()
     WHERE id = secret_id
$$;

REVOKE ALL ON FUNCTION vault.create_secret(text, text, text, uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION vault.update_secret(uuid, text, text, text, uuid) FROM PUBLIC;
GRANT USAGE ON SCHEMA vault TO threadsync_owner;
GRANT SELECT, DELETE ON vault.secrets, vault.decrypted_secrets TO threadsync_owner;
GRANT EXECUTE ON FUNCTION vault.create_secret(text, text, text, uuid) TO threadsync_owner;
GRANT EXECUTE ON FUNCTION vault.update_secret(uuid, text, text, text, uuid) TO threadsync_owner;

-- --- pg_cron -----------------------------------------------------------------------------------
-- Jobs are recorded, not run: the harness runs the sweeper itself, every 60 virtual seconds.
CREATE SCHEMA IF NOT EXISTS cron;
CREATE TABLE IF NOT EXISTS cron.job (
    jobid bigserial PRIMARY KEY,
    schedule text NOT NULL,
    command text NOT NULL,
    nodename text NOT NULL DEFAULT 'localhost',
    nodeport integer NOT NULL DEFAULT 5432,
    database text NOT NULL DEFAULT current_database(),
    username text NOT NULL DEFAULT current_user,
    active boolean NOT NULL DEFAULT true,
    jobname text UNIQUE
);

-- pg_cron's cron.schedule(job_name, schedule, command): a job of the same name is updated. The job
-- runs as the role that scheduled it (here, the caller: this function has the caller's rights).
CREATE OR REPLACE FUNCTION cron.schedule(job_name text, schedule text, command text)
RETURNS bigint
LANGUAGE sql SET search_path = ''
AS $$
    INSERT INTO cron.job (jobname, schedule, command, username)
    VALUES (job_name, schedule, command, current_user)
    ON CONFLICT (jobname) DO UPDATE
       SET schedule = excluded.schedule, command = excluded.command, username = excluded.username
    RETURNING jobid
$$;

CREATE OR REPLACE FUNCTION cron.unschedule(job_name text)
RETURNS boolean
LANGUAGE sql SET search_path = ''
AS $$
    WITH gone AS (DELETE FROM cron.job WHERE jobname = job_name RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM gone)
$$;

GRANT USAGE ON SCHEMA cron TO threadsync_owner;
GRANT SELECT, INSERT, UPDATE, DELETE ON cron.job TO threadsync_owner;
GRANT USAGE ON SEQUENCE cron.job_jobid_seq TO threadsync_owner;

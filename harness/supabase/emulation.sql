-- Emulation of the two Supabase pieces the pipeline's migrations rely on:
--   * pg_net's `net.http_post`, which only queues a request; a background worker sends it after
--     COMMIT. Here the harness's deliverer plays that worker, reading committed rows.
--   * `supabase_functions.http_request`, the trigger function behind Database Webhooks.
-- Signatures and the webhook body match Supabase's own definitions, so a migration written for
-- Supabase runs here unchanged.

CREATE SCHEMA IF NOT EXISTS net;
CREATE SCHEMA IF NOT EXISTS supabase_functions;

-- UNLOGGED like pg_net's queue: an immediate server stop loses what was queued, as in production.
CREATE UNLOGGED TABLE IF NOT EXISTS net.http_request_queue (
    id bigserial PRIMARY KEY,
    method text NOT NULL,
    url text NOT NULL,
    headers jsonb NOT NULL,
    body jsonb,
    timeout_milliseconds integer NOT NULL,
    -- Which transaction queued it: the harness uses this to deliver a request "early", before the
    -- inserting transaction commits, as a synchronous HTTP trigger would.
    txid bigint NOT NULL DEFAULT txid_current()
);

CREATE OR REPLACE FUNCTION net.http_post(
    url text,
    body jsonb DEFAULT '{}'::jsonb,
    params jsonb DEFAULT '{}'::jsonb,
    headers jsonb DEFAULT '{"Content-Type": "application/json"}'::jsonb,
    timeout_milliseconds integer DEFAULT 5000
) RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
    request_id bigint;
    full_url text := url;
    query text;
BEGIN
    IF params IS NOT NULL AND params <> '{}'::jsonb THEN
        SELECT string_agg(format('%s=%s', key, value), '&') INTO query
        FROM jsonb_each_text(params);
        full_url := url || CASE WHEN position('?' IN url) > 0 THEN '&' ELSE '?' END || query;
    END IF;
    INSERT INTO net.http_request_queue (method, url, headers, body, timeout_milliseconds)
    VALUES ('POST', full_url, coalesce(headers, '{}'::jsonb), body, timeout_milliseconds)
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
LANGUAGE plpgsql
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

-- Supabase's Database Webhook trigger function: TG_ARGV is (url, method, headers, params, timeout).
CREATE OR REPLACE FUNCTION supabase_functions.http_request()
RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    url text := TG_ARGV[0]::text;
    method text := TG_ARGV[1]::text;
    headers jsonb := coalesce(TG_ARGV[2]::jsonb, '{"Content-Type": "application/json"}'::jsonb);
    params jsonb := coalesce(TG_ARGV[3]::jsonb, '{}'::jsonb);
    timeout_ms integer := coalesce(TG_ARGV[4]::integer, 1000);
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

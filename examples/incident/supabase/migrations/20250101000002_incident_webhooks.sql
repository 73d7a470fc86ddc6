-- The incident's pipeline: the webhooks that call its Edge Functions, through pg_net, with the
-- functions' URL and key from Supabase Vault, exactly as the reference sends them (so the harness's
-- pg_net emulation delivers them). Set the two secrets once per project:
--   threadsync_functions_url     https://<project-ref>.supabase.co/functions/v1
--   threadsync_service_role_key  the project's service_role key (Edge Functions verify it)
--
-- Where the incident differs (report issue 4): each trigger carries the dashboard webhook's filter
-- `status = 'pending'`, and the pipeline trusts a webhook to arrive once per row: nothing ever
-- sends one again (public.sweep does nothing), so work whose webhook is lost waits for a worker
-- that happens to poll for it.

-- pg_net: queues HTTP requests that its background worker sends after COMMIT. Created when absent;
-- a project (or the harness's emulation) that already has net.http_post keeps its own.
DO $$
BEGIN
    IF pg_catalog.to_regprocedure('net.http_post(text, jsonb, jsonb, jsonb, integer)') IS NULL THEN
        CREATE EXTENSION IF NOT EXISTS pg_net WITH SCHEMA extensions;
    END IF;
END
$$;

-- Queues one POST to the Edge Function `p_function` with `p_body`, authenticated as service_role.
-- SECURITY DEFINER because it reads Vault, which the roles that insert work (service_role, the
-- sweeper's cron job) must not read directly; it sends only to the configured functions URL.
CREATE OR REPLACE FUNCTION threadsync.call_function(
    p_function text, p_body jsonb, p_timeout_milliseconds integer DEFAULT 5000)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = '' AS $$
DECLARE
    base_url text;
    service_key text;
BEGIN
    SELECT s.decrypted_secret INTO base_url
      FROM vault.decrypted_secrets s WHERE s.name = 'threadsync_functions_url';
    SELECT s.decrypted_secret INTO service_key
      FROM vault.decrypted_secrets s WHERE s.name = 'threadsync_service_role_key';
    -- Fail loudly: a webhook sent without its URL or key would be lost (a 401) without a trace.
    IF base_url IS NULL OR service_key IS NULL THEN
        RAISE EXCEPTION 'Vault secret % is not set', CASE WHEN base_url IS NULL
            THEN 'threadsync_functions_url' ELSE 'threadsync_service_role_key' END
            USING HINT = 'select vault.create_secret(<value>, <name>); see README "Deploy to Supabase"';
    END IF;
    RETURN net.http_post(
        url := pg_catalog.rtrim(base_url, '/') || '/' || p_function,
        body := p_body,
        params := '{}'::jsonb,
        headers := pg_catalog.jsonb_build_object(
            'Content-Type', 'application/json', 'Authorization', 'Bearer ' || service_key),
        timeout_milliseconds := p_timeout_milliseconds);
END
$$;

-- The row trigger: TG_ARGV[0] names the Edge Function. It runs with the inserting role's rights;
-- only call_function needs more.
CREATE OR REPLACE FUNCTION threadsync.database_webhook()
RETURNS trigger
LANGUAGE plpgsql SET search_path = '' AS $$
BEGIN
    PERFORM threadsync.call_function(
        TG_ARGV[0],
        pg_catalog.jsonb_build_object(
            'type', TG_OP,
            'table', TG_TABLE_NAME,
            'schema', TG_TABLE_SCHEMA,
            'record', CASE WHEN TG_OP IN ('INSERT', 'UPDATE') THEN pg_catalog.to_jsonb(NEW) END,
            'old_record', CASE WHEN TG_OP IN ('UPDATE', 'DELETE') THEN pg_catalog.to_jsonb(OLD) END));
    RETURN NULL;
END
$$;

-- The report's webhook filter: true on every INSERT here, so it drops nothing by itself; what
-- goes wrong is that a row is only ever announced once.
CREATE TRIGGER "sync-threads-page-worker"
    AFTER INSERT ON public.sync_page_queue
    FOR EACH ROW WHEN (NEW.status = 'pending')
    EXECUTE FUNCTION threadsync.database_webhook('sync-threads-page-worker');

CREATE TRIGGER "sync-threads-processor"
    AFTER INSERT ON public.thread_processing_queue
    FOR EACH ROW WHEN (NEW.status = 'pending')
    EXECUTE FUNCTION threadsync.database_webhook('sync-threads-processor');

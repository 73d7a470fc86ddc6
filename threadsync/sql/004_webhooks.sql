-- threadsync reference pipeline: the Database Webhooks, exactly as Supabase's dashboard creates
-- them. Replace the host with your project's functions URL (and keep threadsync.settings in step).

CREATE TRIGGER "sync-threads-page-worker"
    AFTER INSERT ON public.sync_page_queue
    FOR EACH ROW EXECUTE FUNCTION supabase_functions.http_request(
        'http://edge-functions.local/functions/v1/sync-threads-page-worker',
        'POST', '{"Content-Type":"application/json"}', '{}', '1000');

CREATE TRIGGER "sync-threads-processor"
    AFTER INSERT ON public.thread_processing_queue
    FOR EACH ROW EXECUTE FUNCTION supabase_functions.http_request(
        'http://edge-functions.local/functions/v1/sync-threads-processor',
        'POST', '{"Content-Type":"application/json"}', '{}', '1000');

-- Mutant webhook_filter's own SQL (incident issue 4): the pipeline trusts the Database Webhook to
-- fire, and to arrive, exactly once per row. The triggers carry the seed's filter
-- `status = 'pending'` (true on every INSERT here, so it changes nothing by itself); the sweep,
-- patched in harness/mutants/webhook_filter.py, never re-sends a webhook, so work whose webhook
-- was lost is never claimed.

DROP TRIGGER "sync-threads-page-worker" ON public.sync_page_queue;
DROP TRIGGER "sync-threads-processor" ON public.thread_processing_queue;

CREATE TRIGGER "sync-threads-page-worker"
    AFTER INSERT ON public.sync_page_queue
    FOR EACH ROW WHEN (NEW.status = 'pending')
    EXECUTE FUNCTION threadsync.database_webhook('sync-threads-page-worker');

CREATE TRIGGER "sync-threads-processor"
    AFTER INSERT ON public.thread_processing_queue
    FOR EACH ROW WHEN (NEW.status = 'pending')
    EXECUTE FUNCTION threadsync.database_webhook('sync-threads-processor');

-- The harness's append-only effect log, installed after a pipeline's migrations. Triggers write a
-- row in the same transaction as each effect, so a rolled-back attempt leaves nothing and the number
-- of distinct transaction ids per key is the number of committed processings, even when the
-- pipeline's own upsert made the second one look like a no-op.

CREATE SCHEMA IF NOT EXISTS harness;

CREATE TABLE harness.effects (
    id bigserial PRIMARY KEY,
    kind text NOT NULL,
    key text NOT NULL,
    txid bigint NOT NULL DEFAULT txid_current(),
    detail jsonb NOT NULL DEFAULT '{}'::jsonb
);

-- SECURITY DEFINER (the superuser's): the pipeline's roles (service_role, the owner) write their
-- effects here without any right on the harness's schema, so the log changes no permission the
-- pipeline itself meets.
CREATE FUNCTION harness.log_effect() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, harness AS $$
BEGIN
    CASE TG_ARGV[0]
    WHEN 'thread_written' THEN
        INSERT INTO harness.effects (kind, key, detail)
        VALUES ('thread_written', NEW.external_id,
                jsonb_build_object('content_hash', NEW.content_hash, 'job_id', NEW.job_id));
    WHEN 'thread_staged' THEN
        INSERT INTO harness.effects (kind, key, detail)
        VALUES ('thread_staged', NEW.job_id || ':' || NEW.external_id,
                jsonb_build_object('page_id', NEW.page_id, 'external_id', NEW.external_id));
    WHEN 'page_queued' THEN
        INSERT INTO harness.effects (kind, key, detail)
        VALUES ('page_queued', NEW.job_id || ':' || NEW.page_number,
                jsonb_build_object('page_id', NEW.id));
    WHEN 'page_done' THEN
        INSERT INTO harness.effects (kind, key, detail)
        VALUES ('page_done', NEW.job_id || ':' || NEW.page_number,
                jsonb_build_object('page_id', NEW.id, 'from', OLD.status));
    WHEN 'entry_done' THEN
        INSERT INTO harness.effects (kind, key, detail)
        VALUES ('entry_done', NEW.id::text, jsonb_build_object('from', OLD.status));
    WHEN 'job_finished' THEN
        -- What the finishing transaction itself could see still open: work left behind a job
        -- marked finished shows here, whatever order transactions later commit in.
        INSERT INTO harness.effects (kind, key, detail)
        VALUES ('job_finished', NEW.id::text, jsonb_build_object(
            'status', NEW.status,
            'open_pages', (SELECT count(*) FROM public.sync_page_queue p
                            WHERE p.job_id = NEW.id AND p.status::text IN ('pending', 'processing')),
            'open_entries', (SELECT count(*) FROM public.thread_processing_queue q
                              WHERE q.job_id = NEW.id
                                AND q.status::text IN ('pending', 'processing'))));
    END CASE;
    RETURN NULL;
END
$$;

CREATE TRIGGER harness_thread_written AFTER INSERT OR UPDATE ON public.threads
    FOR EACH ROW EXECUTE FUNCTION harness.log_effect('thread_written');
CREATE TRIGGER harness_thread_staged AFTER INSERT ON public.thread_stage
    FOR EACH ROW EXECUTE FUNCTION harness.log_effect('thread_staged');
CREATE TRIGGER harness_page_queued AFTER INSERT ON public.sync_page_queue
    FOR EACH ROW EXECUTE FUNCTION harness.log_effect('page_queued');
-- UPDATE OF status fires whenever a statement sets the column, even to the value it had: a second
-- "mark done" is a second completion although nothing seems to change.
CREATE TRIGGER harness_page_done AFTER UPDATE OF status ON public.sync_page_queue
    FOR EACH ROW WHEN (NEW.status::text = 'done') EXECUTE FUNCTION harness.log_effect('page_done');
CREATE TRIGGER harness_entry_done AFTER UPDATE OF status ON public.thread_processing_queue
    FOR EACH ROW WHEN (NEW.status::text = 'done') EXECUTE FUNCTION harness.log_effect('entry_done');
CREATE TRIGGER harness_job_finished AFTER UPDATE OF status ON public.sync_jobs
    FOR EACH ROW WHEN (NEW.status::text <> 'running')
    EXECUTE FUNCTION harness.log_effect('job_finished');

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

-- Commit order: a deferred constraint trigger runs as its transaction commits, so the sequence
-- value it takes orders transactions by commit, which txids (assigned at first write) do not.
-- The harness's scheduler runs one COMMIT at a time, so no other commit falls in between.
CREATE SEQUENCE harness.commit_seq;

CREATE TABLE harness.commit_order (
    txid bigint PRIMARY KEY,
    seq bigint NOT NULL
);

-- SECURITY DEFINER like log_effect: it fires at COMMIT as whatever role the pipeline runs as.
CREATE FUNCTION harness.note_commit() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, harness AS $$
BEGIN
    INSERT INTO harness.commit_order (txid, seq) VALUES (txid_current(), nextval('harness.commit_seq'))
    ON CONFLICT (txid) DO NOTHING;
    RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER harness_commit_order AFTER INSERT ON harness.effects
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION harness.note_commit();

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
                jsonb_build_object('page_id', NEW.page_id, 'external_id', NEW.external_id,
                                   'stage_id', NEW.id, 'job_id', NEW.job_id));
    WHEN 'page_queued' THEN
        INSERT INTO harness.effects (kind, key, detail)
        VALUES ('page_queued', NEW.job_id || ':' || NEW.page_number,
                jsonb_build_object('page_id', NEW.id, 'job_id', NEW.job_id));
    WHEN 'page_done' THEN
        INSERT INTO harness.effects (kind, key, detail)
        VALUES ('page_done', NEW.job_id || ':' || NEW.page_number,
                jsonb_build_object('page_id', NEW.id, 'from', OLD.status, 'job_id', NEW.job_id));
    WHEN 'page_failed' THEN
        INSERT INTO harness.effects (kind, key, detail)
        VALUES ('page_failed', NEW.job_id || ':' || NEW.page_number,
                jsonb_build_object('page_id', NEW.id, 'from', OLD.status, 'job_id', NEW.job_id));
    WHEN 'entry_queued' THEN
        INSERT INTO harness.effects (kind, key, detail)
        VALUES ('entry_queued', NEW.id::text,
                jsonb_build_object('stage_id', NEW.thread_stage_id, 'job_id', NEW.job_id));
    WHEN 'entry_done' THEN
        INSERT INTO harness.effects (kind, key, detail)
        VALUES ('entry_done', NEW.id::text,
                jsonb_build_object('from', OLD.status, 'job_id', NEW.job_id));
    WHEN 'entry_failed' THEN
        INSERT INTO harness.effects (kind, key, detail)
        VALUES ('entry_failed', NEW.id::text,
                jsonb_build_object('from', OLD.status, 'job_id', NEW.job_id));
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
CREATE TRIGGER harness_page_failed AFTER UPDATE OF status ON public.sync_page_queue
    FOR EACH ROW WHEN (NEW.status::text = 'failed')
    EXECUTE FUNCTION harness.log_effect('page_failed');
CREATE TRIGGER harness_entry_queued AFTER INSERT ON public.thread_processing_queue
    FOR EACH ROW EXECUTE FUNCTION harness.log_effect('entry_queued');
CREATE TRIGGER harness_entry_failed AFTER UPDATE OF status ON public.thread_processing_queue
    FOR EACH ROW WHEN (NEW.status::text = 'failed')
    EXECUTE FUNCTION harness.log_effect('entry_failed');

-- The row log: every committed version of a queue row, whole, in the transaction that wrote it.
-- Checks that judge what a row looked like at a moment (was this item due when it was claimed, was
-- its claim released when its failure was recorded, what did the sweeper re-send) read it with
-- commit_seq, whatever columns the pipeline's own rows carry.
CREATE FUNCTION harness.log_row() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, harness AS $$
BEGIN
    INSERT INTO harness.effects (kind, key, detail)
    VALUES (TG_ARGV[0], NEW.id::text, to_jsonb(NEW) || jsonb_build_object('op', TG_OP));
    RETURN NULL;
END
$$;

CREATE TRIGGER harness_page_row AFTER INSERT OR UPDATE ON public.sync_page_queue
    FOR EACH ROW EXECUTE FUNCTION harness.log_row('page_row');
CREATE TRIGGER harness_entry_row AFTER INSERT OR UPDATE ON public.thread_processing_queue
    FOR EACH ROW EXECUTE FUNCTION harness.log_row('entry_row');

-- Every webhook request queued (pg_net's queue is emptied as requests are delivered and wiped by
-- a crash; this keeps who queued what, in which transaction). `now` is the harness's virtual clock
-- as the sender's session had it (empty when the harness did not set it): what "due" means for a
-- re-sent webhook.
CREATE FUNCTION harness.log_request() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, harness AS $$
BEGIN
    INSERT INTO harness.effects (kind, key, detail)
    VALUES ('request_queued', NEW.id::text,
            jsonb_build_object('url', NEW.url, 'body', NEW.body,
                               'now', current_setting('threadsync.now', true)));
    RETURN NULL;
END
$$;

DO $$
BEGIN
    IF to_regclass('net.http_request_queue') IS NOT NULL THEN
        CREATE TRIGGER harness_request_queued AFTER INSERT ON net.http_request_queue
            FOR EACH ROW EXECUTE FUNCTION harness.log_request();
    END IF;
END
$$;

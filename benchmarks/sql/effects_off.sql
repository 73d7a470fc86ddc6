-- For benchmarks/effects_cost.py only: the effect log's row-version and queued-request triggers
-- taken off a template, to price them. The checks need them; a checked run never drops them.
DROP TRIGGER harness_page_row ON public.sync_page_queue;
DROP TRIGGER harness_entry_row ON public.thread_processing_queue;
DROP TRIGGER IF EXISTS harness_request_queued ON net.http_request_queue;

-- The statements the handlers send, one named block each (`-- name: x`). Each is one RPC call,
-- so an Edge Function port calls supabase.rpc('<function>', {...}) with the same arguments.

-- name: start_sync
SELECT * FROM public.start_sync(%(page_size)s);

-- name: claim_page
SELECT * FROM public.claim_page(%(page_id)s);

-- name: complete_page
SELECT * FROM public.complete_page(%(page_id)s, %(token)s, %(threads)s::jsonb, %(next_cursor)s);

-- name: fail_page
SELECT * FROM public.fail_page(%(page_id)s, %(token)s, %(error)s, %(retry_after)s);

-- name: extend_page_lease
SELECT public.extend_page_lease(%(page_id)s, %(token)s, %(seconds)s) AS extended;

-- name: claim_thread
SELECT * FROM public.claim_thread(%(entry_id)s);

-- name: complete_thread
SELECT * FROM public.complete_thread(%(entry_id)s, %(token)s, %(result)s::jsonb);

-- name: fail_thread
SELECT * FROM public.fail_thread(%(entry_id)s, %(token)s, %(error)s, %(retry_after)s);

-- name: extend_thread_lease
SELECT public.extend_thread_lease(%(entry_id)s, %(token)s, %(seconds)s) AS extended;

-- name: sweep
SELECT * FROM public.sweep();

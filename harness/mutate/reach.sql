-- Which functions a run entered, read from PostgreSQL's function statistics (harness/mutate/reach.py).

-- name: setting
SELECT current_setting('track_functions');

-- name: enable
ALTER SYSTEM SET track_functions = 'all';

-- name: disable
ALTER SYSTEM RESET track_functions;

-- name: reload
SELECT pg_reload_conf();

-- name: started
SELECT pg_postmaster_start_time();

-- A function's statistics entry exists as soon as a backend enters it, before the call
-- finishes or the backend flushes its counts: a call that raised still leaves one.
-- name: entered
SELECT n.nspname || '.' || p.proname
FROM pg_proc AS p
JOIN pg_namespace AS n ON n.oid = p.pronamespace
WHERE pg_stat_get_function_calls(p.oid) IS NOT NULL;

-- Pause points: where the deterministic engine can stop a statement in the middle of a function
-- (a Pause fault, harness/engine/faults.py) while other actors run. On a real server the
-- statements inside a PL/pgSQL function interleave with other sessions' work; the engine grants
-- one RPC as one step, so without these points nothing ever runs between them.
--
-- A pause point is every call of threadsync.now() and the start of every INSERT, UPDATE or
-- DELETE on a table the pipeline's owner created (a BEFORE ... FOR EACH STATEMENT trigger, which
-- fires after the statement took its snapshot and before it locks or writes a row). The engine
-- arms one statement with `threadsync.pause` = '<point>:<key>' (a transaction-local setting, so
-- it never outlives that statement's transaction); the statement counts its points from 0 in
-- `threadsync.pause_points` and, at point <point>, waits on advisory lock (74657, <key>), which
-- the engine holds from before it grants the step until it resumes it. The server then reports
-- the statement blocked by the engine's own session, like any lock wait.
--
-- Not armed, a point costs one current_setting call. threadsync.now() keeps its signature, its
-- owner, its rights and its result.

-- name: install
-- Installed after the pipeline's migrations, as the superuser. Only the reference's own clock
-- body is replaced (so the result is the same by construction); a pipeline with another clock, or
-- none, gets no pause points, and its Pause rules are recorded as not fired.
CREATE SCHEMA IF NOT EXISTS harness;

-- SECURITY DEFINER (the superuser's), like the effect log's triggers: the pipeline's roles write
-- their tables without any right on the harness's schema. It counts the point through
-- threadsync.now(), so both kinds of point share one counter and one way to wait.
CREATE FUNCTION harness.pause_point() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog AS $$
BEGIN
    IF current_setting('threadsync.pause', true) <> '' THEN
        PERFORM set_config('threadsync.pause_where',
                           TG_OP || ' ' || TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME, true);
        PERFORM threadsync.now();
        PERFORM set_config('threadsync.pause_where', '', true);
    END IF;
    RETURN NULL;
END
$$;

DO $install$
DECLARE
    clock regprocedure := pg_catalog.to_regprocedure('threadsync.now()');
    t regclass;
BEGIN
    IF clock IS NULL OR pg_catalog.regexp_replace(
            (SELECT p.prosrc FROM pg_catalog.pg_proc p WHERE p.oid = clock), '\s+', ' ', 'g')
       <> ' SELECT coalesce(nullif(current_setting(''threadsync.now'', true), '''')::timestamptz, now()) '
    THEN
        RAISE NOTICE 'threadsync.now() is not the reference''s clock: no pause points installed';
        RETURN;
    END IF;
    -- Same signature and result; CREATE OR REPLACE keeps the owner and the rights. PL/pgSQL so it
    -- can count and wait. STABLE as before; the engine arms one statement at a time, so a point
    -- never waits inside another session's plan.
    CREATE OR REPLACE FUNCTION threadsync.now() RETURNS timestamptz
    LANGUAGE plpgsql STABLE SET search_path = '' AS $clock$
    DECLARE
        armed text := pg_catalog.current_setting('threadsync.pause', true);
        point integer;
    BEGIN
        IF armed <> '' THEN
            point := coalesce(nullif(pg_catalog.current_setting('threadsync.pause_points', true),
                                     ''), '0')::integer;
            PERFORM pg_catalog.set_config('threadsync.pause_points', (point + 1)::text, true);
            IF point = pg_catalog.split_part(armed, ':', 1)::integer THEN
                -- Where it stopped, for the history: another session can read a backend's
                -- application_name (pg_stat_activity), and nothing else it sets.
                PERFORM pg_catalog.set_config('application_name', pg_catalog.left(
                    'threadsync pause ' || point || ': ' || coalesce(nullif(
                        pg_catalog.current_setting('threadsync.pause_where', true), ''),
                        'threadsync.now()'), 63), true);
                -- Shared, then let go at once: no lock outlives the wait, and a key is used once.
                PERFORM pg_catalog.pg_advisory_lock_shared(
                    74657, pg_catalog.split_part(armed, ':', 2)::integer);
                PERFORM pg_catalog.pg_advisory_unlock_shared(
                    74657, pg_catalog.split_part(armed, ':', 2)::integer);
            END IF;
        END IF;
        RETURN coalesce(nullif(pg_catalog.current_setting('threadsync.now', true), '')::timestamptz,
                        pg_catalog.now());
    END
    $clock$;
    FOR t IN
        SELECT c.oid::regclass FROM pg_catalog.pg_class c
         WHERE c.relkind IN ('r', 'p')
           AND c.relowner = (SELECT p.proowner FROM pg_catalog.pg_proc p WHERE p.oid = clock)
         ORDER BY c.oid
    LOOP
        EXECUTE pg_catalog.format('CREATE TRIGGER harness_pause_point BEFORE INSERT OR UPDATE OR '
                                  'DELETE ON %s FOR EACH STATEMENT '
                                  'EXECUTE FUNCTION harness.pause_point()', t);
    END LOOP;
END
$install$;

-- name: hold
-- The engine's session takes the key before it grants the armed step.
SELECT pg_advisory_lock(74657, %(key)s);

-- name: let_go
SELECT pg_advisory_unlock(74657, %(key)s);

-- name: where
-- Where a paused statement stopped (set by threadsync.now() just before it waits).
SELECT application_name FROM pg_stat_activity WHERE pid = %(pid)s;

-- name: arm_local
-- Inside the step's transaction: gone at its end, whatever happens.
SELECT set_config('threadsync.pause', %(arm)s, true), set_config('threadsync.pause_points', '0', true);

-- name: disarm_local
-- After the armed statement, for the rest of an explicit transaction.
SELECT set_config('threadsync.pause', '', true);

-- name: arm_session
-- An autocommit statement is its own transaction: armed for the session, disarmed right after.
SELECT set_config('threadsync.pause', %(arm)s, false), set_config('threadsync.pause_points', '0', false);

-- name: disarm_session
SELECT set_config('threadsync.pause', '', false);

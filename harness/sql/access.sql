-- The no-public-access probe: as `anon` and as `authenticated` (the roles Supabase's Data API
-- serves the public anon key and signed-in users as), try every statement on every table in
-- `public` and call every function of the pipeline's schemas. It runs in a transaction the harness
-- rolls back, with triggers off (session_replication_role), so nothing it does remains. An attempt
-- that the role's privileges refuse for certain (has_*_privilege: the ACL check the executor makes)
-- is not sent; every other one is, so that row level security has its say.

-- name: create_probe
CREATE FUNCTION pg_temp.threadsync_access_probe()
RETURNS TABLE (role text, action text, object text, detail text)
LANGUAGE plpgsql AS $probe$
DECLARE
    r text;
    t record;
    f record;
    n bigint;
    rls boolean;
BEGIN
    FOREACH r IN ARRAY ARRAY['anon', 'authenticated'] LOOP
        FOR t IN
            SELECT c.oid::regclass::text AS name, c.relrowsecurity AS rls,
                   (SELECT quote_ident(a.attname) FROM pg_catalog.pg_attribute a
                     WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                       AND a.attidentity = '' AND a.attgenerated = ''
                     ORDER BY a.attnum LIMIT 1) AS col,
                   pg_catalog.has_any_column_privilege(r, c.oid, 'SELECT') AS can_select,
                   pg_catalog.has_any_column_privilege(r, c.oid, 'INSERT') AS can_insert,
                   pg_catalog.has_any_column_privilege(r, c.oid, 'UPDATE') AS can_update,
                   pg_catalog.has_table_privilege(r, c.oid, 'DELETE') AS can_delete
              FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace s ON s.oid = c.relnamespace
             WHERE s.nspname = 'public' AND c.relkind IN ('r', 'p')
               AND pg_catalog.has_schema_privilege(r, s.oid, 'USAGE')
             ORDER BY 1
        LOOP
            rls := t.rls;
            -- SELECT: refused by privileges, or RLS hides every row. An empty table with RLS off
            -- counts as readable: the next row would be.
            IF t.can_select THEN
                BEGIN
                    EXECUTE format('SET LOCAL ROLE %I', r);
                    EXECUTE format('SELECT count(*) FROM %s', t.name) INTO n;
                    RESET ROLE;
                    IF n > 0 OR NOT rls THEN
                        role := r; action := 'SELECT'; object := t.name;
                        detail := format('%s rows visible, row level security %s', n,
                                         CASE WHEN rls THEN 'on' ELSE 'off' END);
                        RETURN NEXT;
                    END IF;
                EXCEPTION WHEN insufficient_privilege THEN
                    NULL;
                END;
            END IF;
            -- INSERT of an all-NULL row: privileges and RLS's WITH CHECK come before constraints,
            -- so any error but insufficient_privilege means the INSERT itself was allowed.
            IF t.can_insert THEN
                BEGIN
                    EXECUTE format('SET LOCAL ROLE %I', r);
                    EXECUTE format('INSERT INTO %1$s OVERRIDING SYSTEM VALUE '
                                   'SELECT * FROM jsonb_populate_record(NULL::%1$s, ''{}'')',
                                   t.name);
                    RESET ROLE;
                    role := r; action := 'INSERT'; object := t.name; detail := 'row inserted';
                    RETURN NEXT;
                EXCEPTION
                    WHEN insufficient_privilege THEN NULL;
                    WHEN OTHERS THEN
                        role := r; action := 'INSERT'; object := t.name;
                        detail := 'allowed, then stopped by: ' || SQLERRM;
                        RETURN NEXT;
                END;
            END IF;
            -- UPDATE and DELETE: refused by privileges, or RLS leaves them no row.
            IF t.can_update AND t.col IS NOT NULL THEN
                BEGIN
                    EXECUTE format('SET LOCAL ROLE %I', r);
                    EXECUTE format('UPDATE %1$s SET %2$s = %2$s', t.name, t.col);
                    GET DIAGNOSTICS n = ROW_COUNT;
                    RESET ROLE;
                    IF n > 0 OR NOT rls THEN
                        role := r; action := 'UPDATE'; object := t.name;
                        detail := format('%s rows updated', n);
                        RETURN NEXT;
                    END IF;
                EXCEPTION
                    WHEN insufficient_privilege THEN NULL;
                    WHEN OTHERS THEN
                        role := r; action := 'UPDATE'; object := t.name;
                        detail := 'allowed, then stopped by: ' || SQLERRM;
                        RETURN NEXT;
                END;
            END IF;
            IF t.can_delete THEN
                BEGIN
                    EXECUTE format('SET LOCAL ROLE %I', r);
                    EXECUTE format('DELETE FROM %s', t.name);
                    GET DIAGNOSTICS n = ROW_COUNT;
                    RESET ROLE;
                    IF n > 0 OR NOT rls THEN
                        role := r; action := 'DELETE'; object := t.name;
                        detail := format('%s rows deleted', n);
                        RETURN NEXT;
                    END IF;
                EXCEPTION
                    WHEN insufficient_privilege THEN NULL;
                    WHEN OTHERS THEN
                        role := r; action := 'DELETE'; object := t.name;
                        detail := 'allowed, then stopped by: ' || SQLERRM;
                        RETURN NEXT;
                END;
            END IF;
        END LOOP;

        -- EXECUTE, with NULL arguments: refused means "permission denied" for the function or its
        -- own schema; anything else (a result, any other error) means the call got past the privilege
        -- check. Functions that belong to an extension or to Supabase's own schemas are not ours.
        FOR f IN
            SELECT format('%I.%I(%s)', s.nspname, p.proname,
                          (SELECT string_agg('NULL::' || pg_catalog.format_type(a.t, NULL), ', '
                                             ORDER BY a.i)
                             FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY AS a (t, i)))
                       AS call,
                   p.oid::regprocedure::text AS name, s.nspname AS schema, p.proname
              FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace s ON s.oid = p.pronamespace
             WHERE p.prokind = 'f'
               AND pg_catalog.has_function_privilege(r, p.oid, 'EXECUTE')
               AND pg_catalog.has_schema_privilege(r, s.oid, 'USAGE')
               AND s.nspname NOT IN ('pg_catalog', 'information_schema', 'net', 'supabase_functions',
                                     'vault', 'cron', 'extensions', 'harness')
               AND s.nspname NOT LIKE 'pg_temp%' AND s.nspname NOT LIKE 'pg_toast%'
               AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                                WHERE d.classid = 'pg_catalog.pg_proc'::regclass
                                  AND d.objid = p.oid AND d.deptype = 'e')
             ORDER BY 2
        LOOP
            BEGIN
                EXECUTE format('SET LOCAL ROLE %I', r);
                EXECUTE 'SELECT ' || f.call;
                RESET ROLE;
                role := r; action := 'EXECUTE'; object := f.name; detail := 'call returned';
                RETURN NEXT;
            EXCEPTION
                WHEN insufficient_privilege THEN
                    -- Refused only by the function's own ACL or its own schema's: a denial met
                    -- inside the function means that the call itself was allowed.
                    IF SQLERRM NOT IN (format('permission denied for function %s', f.proname),
                                       format('permission denied for schema %s', f.schema)) THEN
                        role := r; action := 'EXECUTE'; object := f.name;
                        detail := 'allowed, then stopped by: ' || SQLERRM;
                        RETURN NEXT;
                    END IF;
                WHEN OTHERS THEN
                    role := r; action := 'EXECUTE'; object := f.name;
                    detail := 'allowed, then stopped by: ' || SQLERRM;
                    RETURN NEXT;
            END;
        END LOOP;
    END LOOP;
END
$probe$;

-- name: quiet_triggers
-- Triggers off (no webhook, no effect log); an empty search_path names every object in full.
SET LOCAL session_replication_role = replica;
SET LOCAL search_path = '';

-- name: run_probe
SELECT role, action, object, detail FROM pg_temp.threadsync_access_probe() ORDER BY 1, 2, 3;

-- name: candidates
-- Whether any attempt could get past privileges at all: when none can, the probe is not needed.
WITH roles (r) AS (VALUES ('anon'), ('authenticated')),
     tables AS MATERIALIZED (
        SELECT c.oid, c.relnamespace FROM pg_catalog.pg_class c
         WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')),
     functions AS MATERIALIZED (
        SELECT p.oid, p.pronamespace FROM pg_catalog.pg_proc p
          JOIN pg_catalog.pg_namespace s ON s.oid = p.pronamespace
         WHERE p.prokind = 'f'
           AND s.nspname NOT IN ('pg_catalog', 'information_schema', 'net', 'supabase_functions',
                                 'vault', 'cron', 'extensions', 'harness')
           AND s.nspname NOT LIKE 'pg_temp%' AND s.nspname NOT LIKE 'pg_toast%')
SELECT EXISTS (
    SELECT 1 FROM roles, tables t
     WHERE pg_catalog.has_schema_privilege(r, t.relnamespace, 'USAGE')
       AND (pg_catalog.has_any_column_privilege(r, t.oid, 'SELECT')
            OR pg_catalog.has_any_column_privilege(r, t.oid, 'INSERT')
            OR pg_catalog.has_any_column_privilege(r, t.oid, 'UPDATE')
            OR pg_catalog.has_table_privilege(r, t.oid, 'DELETE'))
    UNION ALL
    SELECT 1 FROM roles, functions f
     WHERE pg_catalog.has_schema_privilege(r, f.pronamespace, 'USAGE')
       AND pg_catalog.has_function_privilege(r, f.oid, 'EXECUTE')) AS any;

-- Supabase's database roles, created the way its init script does
-- (supabase/postgres migrations/db/init-scripts/00000000000000-initial-schema.sql), plus the
-- non-superuser owner that plays Supabase's `postgres` role: the role `supabase db push` applies
-- migrations as. Roles belong to the whole server, so this runs on a server where they exist
-- already (a second template, a local Supabase stack, a parallel test worker) and changes nothing
-- there; a concurrent creator's duplicate is ignored.

DO $$
DECLARE
    spec record;
    missing text;
    needed text;
BEGIN
    -- Creating them takes a superuser (service_role's BYPASSRLS): elsewhere, as on a Supabase
    -- project, they must exist already, and the harness's role must be a member of those it
    -- switches to. Say which are missing and what to run, rather than fail half-way.
    IF NOT (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
        SELECT string_agg(r.name, ', ' ORDER BY r.n) INTO missing
          FROM unnest(ARRAY['anon', 'authenticated', 'service_role', 'authenticator',
                            'threadsync_owner']) WITH ORDINALITY AS r (name, n)
         WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r.name);
        IF missing IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
                MESSAGE = format('Supabase''s roles %s do not exist and role %I, not a superuser, '
                                 'may not create them (service_role has BYPASSRLS)',
                                 missing, current_user),
                HINT = format('create them as a superuser: psql -f harness/supabase/roles.sql, '
                              'then GRANT anon, authenticated, service_role, threadsync_owner '
                              'TO %I', current_user);
        END IF;
        SELECT string_agg(r.name, ', ' ORDER BY r.n) INTO needed
          FROM unnest(ARRAY['anon', 'authenticated', 'service_role', 'threadsync_owner'])
               WITH ORDINALITY AS r (name, n)
         WHERE NOT pg_catalog.pg_has_role(current_user, r.name, 'MEMBER');
        IF needed IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
                MESSAGE = format('role %I is not a member of %s, which the harness switches to',
                                 current_user, needed),
                HINT = format('as a superuser: GRANT %s TO %I', needed, current_user);
        END IF;
    END IF;
    FOR spec IN
        SELECT * FROM (VALUES
            ('anon', 'NOLOGIN NOINHERIT'),
            ('authenticated', 'NOLOGIN NOINHERIT'),
            ('service_role', 'NOLOGIN NOINHERIT BYPASSRLS'),
            ('authenticator', 'LOGIN NOINHERIT'),
            -- Supabase's `postgres`: owns the project's objects, not a superuser.
            ('threadsync_owner', 'LOGIN NOSUPERUSER NOBYPASSRLS')) AS r (name, options)
    LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = spec.name) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I %s', spec.name, spec.options);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;  -- another session created it meanwhile
            END;
        END IF;
    END LOOP;
END
$$;

-- Conditional, so a server that has them already is left untouched (and two sessions applying this
-- at once do not both update the same catalog row).
DO $$
DECLARE
    member text;
    setting record;
BEGIN
    FOREACH member IN ARRAY ARRAY['anon', 'authenticated', 'service_role'] LOOP
        IF NOT pg_catalog.pg_has_role('authenticator', member, 'MEMBER') THEN
            EXECUTE format('GRANT %I TO authenticator', member);
        END IF;
    END LOOP;
    -- Short timeouts for the API roles, as Supabase sets them. PostgREST connects as
    -- authenticator (8 s statement and lock timeouts); the harness sets those per request.
    FOR setting IN
        SELECT * FROM (VALUES ('anon', 'statement_timeout', '3s'),
                              ('authenticated', 'statement_timeout', '8s'),
                              ('authenticator', 'statement_timeout', '8s'),
                              ('authenticator', 'lock_timeout', '8s')) AS s (role, name, value)
    LOOP
        IF NOT EXISTS (
            SELECT 1 FROM pg_catalog.pg_db_role_setting d
              JOIN pg_catalog.pg_roles r ON r.oid = d.setrole
             WHERE d.setdatabase = 0 AND r.rolname = setting.role
               AND format('%s=%s', setting.name, setting.value) = ANY (d.setconfig)) THEN
            EXECUTE format('ALTER ROLE %I SET %I = %L', setting.role, setting.name, setting.value);
        END IF;
    END LOOP;
END
$$;

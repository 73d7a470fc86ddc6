-- Putting things back: a pooled session to a new session's state, a used database to its
-- template's. Blocks with {placeholders} take identifiers read from the catalog (psycopg.sql).

-- name: session_end
-- What closing the session would end, without closing it: role, GUCs (the virtual clock
-- threadsync.now too), prepared statements, cursors, LISTENs, advisory locks, temp objects,
-- sequence caches and cached plans.
DISCARD ALL;

-- name: tables
-- Every ordinary table (partitions included) of the non-system schemas, in a stable order.
SELECT format('%I.%I', n.nspname, c.relname) AS qualified, n.nspname AS schema, c.relname AS name
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'r'
   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'
 ORDER BY n.nspname, c.relname;

-- name: sequences
-- Every sequence of the non-system schemas, owned by a column (serial, identity) or not.
SELECT format('%I.%I', n.nspname, c.relname) AS qualified, n.nspname AS schema, c.relname AS name
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'S'
   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'
 ORDER BY n.nspname, c.relname;

-- name: unsupported
-- Contents a TRUNCATE and COPY cannot put back: materialized views, foreign tables, large objects.
SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind IN ('m', 'f')
           AND n.nspname NOT IN ('pg_catalog', 'information_schema'))
     + (SELECT count(*) FROM pg_largeobject_metadata) AS objects;

-- name: sequence_state
SELECT last_value, is_called FROM {sequence};

-- name: copy_out
COPY {table} TO STDOUT;

-- name: copy_in
COPY {table} FROM STDIN;

-- name: begin_reset
-- Triggers (webhooks, effect log, foreign-key checks) must not fire while the seed rows go back;
-- a lock held by a backend that outlived its run fails the reset instead of hanging it.
BEGIN;
SET LOCAL session_replication_role = replica;
SET LOCAL lock_timeout = '2s';

-- name: truncate
TRUNCATE {tables};

-- name: set_sequences
-- setval is exact for every sequence (owned or not, called or not), unlike RESTART IDENTITY,
-- which would restart a sequence the template's seed rows had already advanced.
SELECT count(setval(s::regclass, v, c)) AS restored
  FROM unnest(%(sequences)s::text[], %(values)s::bigint[], %(called)s::boolean[]) AS t(s, v, c);

-- name: fingerprint
-- The schema of the non-system schemas as one hash: a pipeline that changes its own schema at run
-- time changes it, and its database is cloned anew instead of reset.
WITH ns AS (
    SELECT oid, nspname FROM pg_namespace
     WHERE nspname NOT IN ('pg_catalog', 'information_schema')
       AND nspname !~ '^pg_(toast|temp_|toast_temp_)'
), items AS (
    SELECT format('n %s %s %s', n.nspname, n.nspowner, n.nspacl) AS item
      FROM ns JOIN pg_namespace n USING (oid)
    UNION ALL
    SELECT format('c %s.%s %s %s %s %s %s %s %s', ns.nspname, c.relname, c.relkind,
                  c.relpersistence, c.reloptions, c.relacl, c.relowner, c.relrowsecurity,
                  c.relforcerowsecurity)
      FROM pg_class c JOIN ns ON ns.oid = c.relnamespace
    UNION ALL
    SELECT format('a %s.%s.%s %s %s %s %s %s %s %s', ns.nspname, c.relname, a.attname,
                  format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attidentity,
                  a.attgenerated, a.attisdropped, a.attcollation,
                  pg_get_expr(d.adbin, d.adrelid))
      FROM pg_attribute a
      JOIN pg_class c ON c.oid = a.attrelid
      JOIN ns ON ns.oid = c.relnamespace
      LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     WHERE a.attnum > 0
    UNION ALL
    SELECT format('k %s %s %s %s %s', ns.nspname, k.conname, k.conrelid::regclass,
                  k.contypid::regtype, pg_get_constraintdef(k.oid))
      FROM pg_constraint k JOIN ns ON ns.oid = k.connamespace
    UNION ALL
    SELECT format('i %s', pg_get_indexdef(i.indexrelid))
      FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN ns ON ns.oid = c.relnamespace
    UNION ALL
    SELECT format('t %s %s', t.tgenabled, pg_get_triggerdef(t.oid))
      FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN ns ON ns.oid = c.relnamespace
     WHERE NOT t.tgisinternal
    UNION ALL
    SELECT format('f %s %s %s %s %s %s %s', p.oid::regprocedure, md5(p.prosrc), p.provolatile,
                  p.prosecdef, p.proconfig, p.proacl, p.prorettype::regtype)
      FROM pg_proc p JOIN ns ON ns.oid = p.pronamespace
    UNION ALL
    SELECT format('v %s.%s %s', ns.nspname, c.relname, pg_get_viewdef(c.oid))
      FROM pg_class c JOIN ns ON ns.oid = c.relnamespace
     WHERE c.relkind IN ('v', 'm')
    UNION ALL
    SELECT format('r %s %s %s %s %s', p.polrelid::regclass, p.polname, p.polcmd,
                  pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid))
      FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid JOIN ns ON ns.oid = c.relnamespace
    UNION ALL
    SELECT format('y %s.%s %s %s', ns.nspname, y.typname, y.typtype, y.typbasetype::regtype)
      FROM pg_type y JOIN ns ON ns.oid = y.typnamespace
    UNION ALL
    SELECT format('e %s %s %s', e.enumtypid::regtype, e.enumsortorder, e.enumlabel)
      FROM pg_enum e JOIN pg_type y ON y.oid = e.enumtypid JOIN ns ON ns.oid = y.typnamespace
    UNION ALL
    SELECT format('q %s %s %s %s %s %s %s', s.seqrelid::regclass, s.seqtypid::regtype,
                  s.seqstart, s.seqincrement, s.seqmax, s.seqmin, s.seqcycle)
      FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid JOIN ns ON ns.oid = c.relnamespace
    UNION ALL
    SELECT format('s %s %s', r.setrole, r.setconfig)
      FROM pg_db_role_setting r
     WHERE r.setdatabase IN (0, (SELECT oid FROM pg_database WHERE datname = current_database()))
    UNION ALL
    SELECT format('x %s %s', x.extname, x.extversion) FROM pg_extension x
    UNION ALL
    SELECT format('p %s', p.pubname) FROM pg_publication p
)
SELECT md5(string_agg(item, E'\n' ORDER BY item)) AS fingerprint FROM items;

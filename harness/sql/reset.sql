-- Putting things back: a pooled session to a new session's state, a used database to its
-- template's. Blocks with {placeholders} take identifiers read from the catalog (psycopg.sql).

-- name: session_end
-- What closing the session would end, without closing it: open cursors, role, GUCs (the virtual
-- clock threadsync.now too), prepared statements, LISTENs, advisory locks, temp objects and
-- sequence caches. This is DISCARD ALL without DISCARD PLANS: cached plans hold no state a
-- statement can see (any schema or statistics change invalidates them), and re-planning every
-- PL/pgSQL statement after each actor doubled the server's CPU per start_sync.
CLOSE ALL;
SET SESSION AUTHORIZATION DEFAULT;
RESET ALL;
DEALLOCATE ALL;
UNLISTEN *;
SELECT pg_advisory_unlock_all();
DISCARD TEMP;
DISCARD SEQUENCES;

-- name: tables
-- Every ordinary table (partitions included) of the non-system schemas, in a stable order, and
-- whether it has no page at all (then it holds no row: nothing to copy).
SELECT format('%I.%I', n.nspname, c.relname) AS qualified, n.nspname AS schema, c.relname AS name,
       pg_relation_size(c.oid) = 0 AS empty
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
-- One sequence's state; the snapshot joins one such block per sequence with UNION ALL.
SELECT {n} AS n, last_value, is_called FROM {sequence}

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
-- time changes it, and its database is cloned anew instead of reset. Raw catalog columns (node
-- trees, not their deparsed text) keep it to a few milliseconds.
WITH ns AS (
    SELECT oid, nspname, nspowner, nspacl FROM pg_namespace
     WHERE nspname NOT IN ('pg_catalog', 'information_schema')
       AND nspname !~ '^pg_(toast|temp_|toast_temp_)'
), rel AS (
    SELECT c.*, ns.nspname FROM pg_class c JOIN ns ON ns.oid = c.relnamespace
), items AS (
    SELECT format('n %s %s %s', nspname, nspowner, nspacl) AS item FROM ns
    UNION ALL
    SELECT format('c %s.%s %s %s %s %s %s %s %s %s', nspname, relname, relkind, relpersistence,
                  reloptions, relacl, relowner, relrowsecurity, relforcerowsecurity, reltype)
      FROM rel
    UNION ALL
    SELECT format('a %s %s %s %s %s %s %s %s %s %s', a.attrelid, a.attnum, a.attname, a.atttypid,
                  a.atttypmod, a.attnotnull, a.attidentity, a.attgenerated, a.attisdropped,
                  a.attcollation)
      FROM pg_attribute a JOIN rel ON rel.oid = a.attrelid
     WHERE a.attnum > 0
    UNION ALL
    SELECT format('d %s %s %s', d.adrelid, d.adnum, d.adbin)
      FROM pg_attrdef d JOIN rel ON rel.oid = d.adrelid
    UNION ALL
    SELECT format('k %s %s %s %s %s %s %s %s %s', k.oid, k.conname, k.contype, k.conrelid,
                  k.contypid, k.conkey, k.confrelid, k.confkey, k.conbin)
      FROM pg_constraint k JOIN ns ON ns.oid = k.connamespace
    UNION ALL
    SELECT format('i %s %s %s %s %s %s %s', i.indexrelid, i.indrelid, i.indkey, i.indclass,
                  i.indisunique, i.indexprs, i.indpred)
      FROM pg_index i JOIN rel ON rel.oid = i.indrelid
    UNION ALL
    SELECT format('t %s %s %s %s %s %s %s %s', t.oid, t.tgname, t.tgrelid, t.tgfoid, t.tgtype,
                  t.tgenabled, t.tgargs, t.tgqual)
      FROM pg_trigger t JOIN rel ON rel.oid = t.tgrelid
     WHERE NOT t.tgisinternal
    UNION ALL
    SELECT format('f %s %s %s %s %s %s %s %s %s', p.oid, p.proname, p.proargtypes, p.prorettype,
                  md5(p.prosrc), p.provolatile, p.prosecdef, p.proconfig, p.proacl)
      FROM pg_proc p JOIN ns ON ns.oid = p.pronamespace
    UNION ALL
    SELECT format('v %s %s %s', w.oid, w.ev_class, md5(w.ev_action::text))
      FROM pg_rewrite w JOIN rel ON rel.oid = w.ev_class
    UNION ALL
    SELECT format('r %s %s %s %s %s', p.oid, p.polrelid, p.polcmd, p.polqual, p.polwithcheck)
      FROM pg_policy p JOIN rel ON rel.oid = p.polrelid
    UNION ALL
    SELECT format('y %s %s %s %s', y.oid, y.typname, y.typtype, y.typbasetype)
      FROM pg_type y JOIN ns ON ns.oid = y.typnamespace
    UNION ALL
    SELECT format('e %s %s %s', e.enumtypid, e.enumsortorder, e.enumlabel)
      FROM pg_enum e JOIN pg_type y ON y.oid = e.enumtypid JOIN ns ON ns.oid = y.typnamespace
    UNION ALL
    SELECT format('q %s %s %s %s %s %s %s', s.seqrelid, s.seqtypid, s.seqstart, s.seqincrement,
                  s.seqmax, s.seqmin, s.seqcycle)
      FROM pg_sequence s JOIN rel ON rel.oid = s.seqrelid
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

-- name: catalog_version
-- A cheap stand-in for the fingerprint: every catalog the fingerprint reads, as its number of rows
-- and its newest row version (xmin), user objects only where the catalog is large (their oids
-- start at 16384). A DDL statement inserts, updates or deletes rows of these, and its transaction
-- is newer than every row here, so it changes this; the full fingerprint is computed only then.
-- NULL (always compute the fingerprint) while a transaction older than the newest row is running,
-- or the xid counter has wrapped: either could change a catalog without changing this.
WITH v (cat, n, newest) AS (
    SELECT 'namespace', count(*), max(xmin::text::bigint) FROM pg_namespace
    UNION ALL
    SELECT 'class', count(*), max(xmin::text::bigint) FROM pg_class WHERE oid >= 16384
    UNION ALL
    SELECT 'attribute', count(*), max(xmin::text::bigint) FROM pg_attribute
     WHERE attrelid >= 16384
    UNION ALL
    SELECT 'attrdef', count(*), max(xmin::text::bigint) FROM pg_attrdef
    UNION ALL
    SELECT 'constraint', count(*), max(xmin::text::bigint) FROM pg_constraint
    UNION ALL
    SELECT 'index', count(*), max(xmin::text::bigint) FROM pg_index
    UNION ALL
    SELECT 'trigger', count(*), max(xmin::text::bigint) FROM pg_trigger
    UNION ALL
    SELECT 'proc', count(*), max(xmin::text::bigint) FROM pg_proc WHERE oid >= 16384
    UNION ALL
    SELECT 'rewrite', count(*), max(xmin::text::bigint) FROM pg_rewrite
    UNION ALL
    SELECT 'policy', count(*), max(xmin::text::bigint) FROM pg_policy
    UNION ALL
    SELECT 'type', count(*), max(xmin::text::bigint) FROM pg_type WHERE oid >= 16384
    UNION ALL
    SELECT 'enum', count(*), max(xmin::text::bigint) FROM pg_enum
    UNION ALL
    SELECT 'sequence', count(*), max(xmin::text::bigint) FROM pg_sequence
    UNION ALL
    SELECT 'role_setting', count(*), max(xmin::text::bigint) FROM pg_db_role_setting
    UNION ALL
    SELECT 'extension', count(*), max(xmin::text::bigint) FROM pg_extension
    UNION ALL
    SELECT 'publication', count(*), max(xmin::text::bigint) FROM pg_publication
)
SELECT CASE WHEN max(newest) < pg_snapshot_xmin(pg_current_snapshot())::text::bigint % 4294967296
            THEN string_agg(format('%s %s %s', cat, n, newest), ',' ORDER BY cat) END AS version
  FROM v;

-- name: vacuum_catalog
-- Each TRUNCATE leaves dead pg_class rows (one per table, index and TOAST table given a new
-- file), and the embedded server runs without autovacuum: clear them now and then, or catalog
-- lookups (and the fingerprint) slow down as a long exploration goes on.
VACUUM pg_catalog.pg_class;

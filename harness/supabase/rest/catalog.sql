-- What the PostgREST emulation knows of the exposed schema `public`: its functions and its tables
-- and views, read from pg_catalog the way PostgREST's schema cache reads them
-- (src/PostgREST/SchemaCache.hs: funcsSqlQuery, tablesSqlQuery). Types are rendered schema-
-- qualified unless they live in pg_catalog, so the SQL built from them means the same thing
-- whatever the search_path of the session that loaded the catalog or runs the request.

-- name: fingerprint
-- Changes whenever a row describing `public` changes (DDL writes a new row version, so its xmin
-- changes); a clone of a template database has the same rows and so the same fingerprint.
SELECT md5(coalesce(string_agg(item, ',' ORDER BY item), '')) AS fingerprint
  FROM (SELECT 'p' || p.oid || ':' || p.xmin FROM pg_catalog.pg_proc p
         WHERE p.pronamespace = 'public'::regnamespace
        UNION ALL
        SELECT 'c' || c.oid || ':' || c.xmin FROM pg_catalog.pg_class c
         WHERE c.relnamespace = 'public'::regnamespace
        UNION ALL
        SELECT 'a' || a.attrelid || '.' || a.attnum || ':' || a.xmin
          FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
         WHERE c.relnamespace = 'public'::regnamespace AND a.attnum > 0
        UNION ALL
        SELECT 'k' || k.oid || ':' || k.xmin FROM pg_catalog.pg_constraint k
         WHERE k.connamespace = 'public'::regnamespace
        UNION ALL
        SELECT 't' || t.oid || ':' || t.xmin FROM pg_catalog.pg_type t
         WHERE t.typnamespace = 'public'::regnamespace) AS rows (item);

-- name: catalog
-- One JSON document: {"functions": [...], "tables": [...]}.
WITH type_names AS (
    -- How a type is written in a statement: pg_catalog's by their SQL names ("integer",
    -- "timestamp with time zone"), every other one qualified ("public"."work_state").
    SELECT t.oid,
           CASE WHEN t.typnamespace = 'pg_catalog'::regnamespace
                THEN pg_catalog.format_type(t.oid, NULL)
                ELSE pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(t.typname)
           END AS name
      FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
),
args AS (
    SELECT p.oid,
           a.idx,
           a.name,
           a.type,
           coalesce(a.mode, 'i') AS mode
      FROM pg_catalog.pg_proc p,
           unnest(coalesce(p.proallargtypes, p.proargtypes::oid[]), p.proargnames, p.proargmodes)
               WITH ORDINALITY AS a (type, name, mode, idx)
     WHERE p.pronamespace = 'public'::regnamespace AND p.prokind = 'f'
),
inputs AS (
    SELECT i.oid,
           jsonb_agg(jsonb_build_object(
               'name', coalesce(i.name, ''),
               -- as PostgREST does: types that ignore a length accept any value up to the maximum
               'type', CASE i.type
                           WHEN 'bit'::regtype THEN 'bit varying'
                           WHEN 'bit[]'::regtype THEN 'bit varying[]'
                           WHEN 'character'::regtype THEN 'character varying'
                           WHEN 'character[]'::regtype THEN 'character varying[]'
                           ELSE tn.name
                       END,
               'required', i.n <= p.pronargs - p.pronargdefaults,
               'variadic', i.mode = 'v') ORDER BY i.n) AS params
      FROM (SELECT args.*, row_number() OVER (PARTITION BY args.oid ORDER BY args.idx) AS n
              FROM args WHERE args.mode IN ('i', 'b', 'v')) AS i
      JOIN pg_catalog.pg_proc p ON p.oid = i.oid
      JOIN type_names tn ON tn.oid = i.type
     GROUP BY i.oid
),
outputs AS (
    -- The columns of a function's rows when it declares them (RETURNS TABLE, OUT, INOUT).
    SELECT oid, jsonb_agg(coalesce(name, 'column' || idx) ORDER BY idx) AS columns
      FROM args WHERE mode IN ('o', 'b', 't')
     GROUP BY oid
),
functions AS (
    SELECT jsonb_agg(jsonb_build_object(
               'name', p.proname,
               'params', coalesce(i.params, '[]'),
               'returns_set', p.proretset,
               'returns_composite', o.columns IS NOT NULL OR rt.typtype = 'c',
               'returns_void', p.prorettype = 'void'::regtype,
               'columns', coalesce(o.columns,
                                   (SELECT jsonb_agg(a.attname ORDER BY a.attnum)
                                      FROM pg_catalog.pg_attribute a
                                     WHERE a.attrelid = rt.typrelid AND a.attnum > 0
                                       AND NOT a.attisdropped),
                                   '[]'),
               'volatility', p.provolatile::text)
               ORDER BY p.proname, p.oid) AS doc
      FROM pg_catalog.pg_proc p
      JOIN pg_catalog.pg_type rt ON rt.oid = p.prorettype
      LEFT JOIN inputs i ON i.oid = p.oid
      LEFT JOIN outputs o ON o.oid = p.oid
     WHERE p.pronamespace = 'public'::regnamespace
       AND p.prokind = 'f'
       AND p.prorettype <> 'trigger'::regtype
),
columns AS (
    SELECT a.attrelid,
           jsonb_agg(jsonb_build_object(
               'name', a.attname,
               -- the type a JSON value is read as (json_to_record), as PostgREST's data_type
               'type', CASE
                           WHEN t.typtype = 'd' AND bt.typnamespace = 'pg_catalog'::regnamespace
                               THEN pg_catalog.format_type(t.typbasetype, NULL)
                           WHEN t.typnamespace = 'pg_catalog'::regnamespace
                               THEN pg_catalog.format_type(a.atttypid, NULL)
                           ELSE tn.name
                       END,
               'nullable', NOT (a.attnotnull OR (t.typtype = 'd' AND t.typnotnull)),
               'has_default', a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '')
               ORDER BY a.attnum) AS columns
      FROM pg_catalog.pg_attribute a
      JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
      JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
      LEFT JOIN pg_catalog.pg_type bt ON bt.oid = t.typbasetype
      JOIN type_names tn ON tn.oid = a.atttypid
     WHERE c.relnamespace = 'public'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
     GROUP BY a.attrelid
),
primary_keys AS (
    -- sorted by name, as PostgREST sorts them (the default on_conflict target)
    SELECT k.conrelid, jsonb_agg(a.attname ORDER BY a.attname) AS pk
      FROM pg_catalog.pg_constraint k
      JOIN pg_catalog.pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = ANY (k.conkey)
     WHERE k.contype = 'p' AND k.connamespace = 'public'::regnamespace
     GROUP BY k.conrelid
),
tables AS (
    SELECT jsonb_agg(jsonb_build_object(
               'name', c.relname,
               'is_view', c.relkind IN ('v', 'm'),
               'insertable', c.relkind IN ('r', 'p')
                   OR (c.relkind IN ('v', 'f')
                       AND (pg_catalog.pg_relation_is_updatable(c.oid, true) & 8) = 8),
               'updatable', c.relkind IN ('r', 'p')
                   OR (c.relkind IN ('v', 'f')
                       AND (pg_catalog.pg_relation_is_updatable(c.oid, true) & 4) = 4),
               'deletable', c.relkind IN ('r', 'p')
                   OR (c.relkind IN ('v', 'f')
                       AND (pg_catalog.pg_relation_is_updatable(c.oid, true) & 16) = 16),
               'pk', coalesce(k.pk, '[]'),
               'columns', coalesce(cols.columns, '[]'))
               ORDER BY c.relname) AS doc
      FROM pg_catalog.pg_class c
      LEFT JOIN columns cols ON cols.attrelid = c.oid
      LEFT JOIN primary_keys k ON k.conrelid = c.oid
     WHERE c.relnamespace = 'public'::regnamespace
       AND c.relkind IN ('r', 'v', 'm', 'f', 'p')
       AND NOT c.relispartition
)
SELECT jsonb_build_object('functions', coalesce((SELECT doc FROM functions), '[]'),
                          'tables', coalesce((SELECT doc FROM tables), '[]'))::text AS catalog;

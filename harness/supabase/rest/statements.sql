-- The fixed SQL of the PostgREST emulation: the per-request preamble, and the frame every
-- translated request is put in (PostgREST's mainRead / mainWrite / mainCall in
-- src/PostgREST/Query/Statements.hs). `{name}` marks where translate.py puts the parts it builds
-- from names checked against the catalog; every value is a bound %(name)s parameter.

-- name: preamble
-- Run right after BEGIN, before the request's statement: PostgREST switches to the JWT's role
-- (SET LOCAL ROLE), exposes the claims, applies the authenticator's timeouts and the schema
-- search path (Supabase's db-extra-search-path: public, extensions), and makes reads and calls
-- of STABLE or IMMUTABLE functions read-only transactions, as PostgREST does.
SELECT set_config('search_path', '"public", "extensions"', true),
       set_config('role', %(role)s, true),
       set_config('request.jwt.claims', %(claims)s, true),
       set_config('statement_timeout', '8s', true),
       set_config('lock_timeout', '8s', true),
       set_config('transaction_read_only', %(read_only)s, true);

-- name: frame
-- One row: how many rows the request produced, the total when counted, the JSON body, and (for
-- an upsert) how many rows were inserted rather than updated.
WITH pgrst_source AS ({source}){count_source}
SELECT {total} AS total_result_set,
       {page_total} AS page_total,
       {body}::text AS body,
       {inserted} AS inserted
  FROM ({rows}) _postgrest_t;

-- name: count_source
, pgrst_source_count AS ({query});

-- name: counted_total
(SELECT pg_catalog.count(*) FROM pgrst_source_count);

-- name: page_total
pg_catalog.count(_postgrest_t);

-- name: body_array
coalesce(json_agg(_postgrest_t), '[]');

-- name: body_object
coalesce(json_agg(_postgrest_t)->0, 'null');

-- name: body_scalar_array
coalesce(json_agg(_postgrest_t.pgrst_scalar), '[]');

-- name: body_scalar
coalesce(json_agg(_postgrest_t.pgrst_scalar)->0, 'null');

-- name: body_none
'';

-- name: count_inserted
-- An upsert counts the rows it inserts (+1 per row offered) and those it updates instead (-1
-- per conflict), as PostgREST does, to answer 201 if any row was new and 200 if none was.
set_config('pgrst.inserted', (coalesce(nullif(current_setting('pgrst.inserted', true), '')::int, 0) + 1)::text, true) <> '0';

-- name: count_updated
set_config('pgrst.inserted', (coalesce(nullif(current_setting('pgrst.inserted', true), '')::int, 0) - 1)::text, true) <> '-1';

-- name: inserted
nullif(current_setting('pgrst.inserted', true), '')::int;

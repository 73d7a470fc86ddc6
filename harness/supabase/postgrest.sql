-- How a request reaches the database on Supabase, one named block per caller. Each is one
-- statement, sent right after BEGIN in the transaction the request then runs in, and carries no
-- user data.

-- name: service_role
-- supabase-js -> PostgREST with the service_role key: PostgREST opens one transaction per request
-- and, as it does, switches to the JWT's role with set_config('role', ..., true) (SET LOCAL ROLE),
-- exposes the claims, and applies the authenticator's 8 s timeouts.
SELECT set_config('role', 'service_role', true),
       set_config('request.jwt.claims', '{"role": "service_role"}', true),
       set_config('statement_timeout', '8s', true),
       set_config('lock_timeout', '8s', true);

-- name: cron
-- pg_cron: each run of a job is one transaction as the role that scheduled it (the owner).
SELECT set_config('role', 'threadsync_owner', true);

-- name: leave_role
-- The harness's own look at the queue inside an actor's transaction, with the session's rights.
RESET ROLE;


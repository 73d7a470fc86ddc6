-- Queries the harness runs on a server about the server itself: owners, databases, rights.

-- name: harness_databases
-- The harness's databases (prefix given as a LIKE-free literal match).
SELECT datname FROM pg_database WHERE left(datname, length(%(prefix)s)) = %(prefix)s ORDER BY datname;

-- name: owner_sessions
-- Sessions that mark their owner token live (application_name is visible to every role).
SELECT DISTINCT application_name FROM pg_stat_activity
 WHERE left(application_name, length(%(prefix)s)) = %(prefix)s;

-- name: may_create_databases
SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user;

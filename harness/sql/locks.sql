-- What a blocked backend waits for, read by the engine when the server reports a statement
-- blocked (harness/engine/blocking.py), so a history says which lock a wait was for.

-- name: waited_lock
-- A row lock wait is a wait on the holder's transaction id: the row itself is named by the
-- tuple lock the waiter took first and keeps while it waits (heap_lock_tuple / heap_update), or,
-- for a later waiter, by the ungranted tuple lock itself. `holders` are the backends holding the
-- waited-for lock (the transaction's owner, for a row); the engine maps them to actors.
WITH waiting AS (
    SELECT l.locktype, l.mode, l.relation, l.transactionid
      FROM pg_locks l
     WHERE l.pid = %(pid)s AND NOT l.granted
     LIMIT 1
), target AS (
    SELECT w.locktype, w.mode, w.transactionid,
           coalesce(w.relation,
                    (SELECT t.relation FROM pg_locks t
                      WHERE t.pid = %(pid)s AND t.granted AND t.locktype = 'tuple'
                      LIMIT 1)) AS relation
      FROM waiting w
)
SELECT t.locktype, t.mode, n.nspname AS schema, c.relname AS relation,
       CASE WHEN t.locktype = 'transactionid' THEN
                ARRAY(SELECT h.pid FROM pg_locks h
                       WHERE h.locktype = 'transactionid' AND h.transactionid = t.transactionid
                         AND h.granted AND h.pid <> %(pid)s ORDER BY h.pid)
            ELSE pg_blocking_pids(%(pid)s) END AS holders
  FROM target t
  LEFT JOIN pg_class c ON c.oid = t.relation
  LEFT JOIN pg_namespace n ON n.oid = c.relnamespace;

-- How the engine learns, without a round trip of its own, whether a transaction added requests
-- to pg_net's queue: only such a commit gives the deliverer something to take.

-- name: queue_oid
-- The queue's table, or NULL (then every commit may have queued something) when the server counts
-- no rows (track_counts off), when the queue is not one plain table (a partitioned one counts its
-- rows in its partitions), or when a trigger can be deferred to COMMIT, where it runs after the
-- last count (the harness's own effect log, which queues nothing, aside).
SELECT c.oid AS queue
  FROM pg_class c
 WHERE c.oid = to_regclass('net.http_request_queue')
   AND c.relkind = 'r'
   AND current_setting('track_counts')::boolean
   AND NOT EXISTS (SELECT 1 FROM pg_trigger t
                     JOIN pg_class r ON r.oid = t.tgrelid
                    WHERE t.tgdeferrable
                      AND r.relnamespace NOT IN (SELECT oid FROM pg_namespace
                                                  WHERE nspname = 'harness'));

-- name: queue_inserts
-- Rows this backend inserted into the queue and has not reported to the statistics yet; the
-- transaction in progress counts (aborted inserts too). A backend reports only while idle outside
-- a transaction, so two readings inside one transaction differ by exactly what it inserted. Sent
-- in the request's own pipeline: no round trip of its own. It takes an oid: no privilege needed.
SELECT pg_stat_get_xact_tuples_inserted(%(queue)s::oid) AS inserted,
       current_setting('track_counts')::boolean AS counted;

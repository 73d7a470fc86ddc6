-- What the harness's deliverer, playing pg_net's background worker and the Edge runtime, sends.

-- name: take_batch
-- pg_net's worker: delete up to a batch of queued requests, lowest id first, and send them
-- together. Only committed rows are seen, so nothing is sent before its transaction commits.
DELETE FROM net.http_request_queue
 WHERE id IN (SELECT id FROM net.http_request_queue ORDER BY id LIMIT %(batch_size)s)
RETURNING id, method, url, headers, body, timeout_milliseconds;

-- name: record_responses
-- One row per finished request, as pg_net's worker writes them.
INSERT INTO net._http_response (id, status_code, content_type, headers, content, timed_out,
                                error_msg)
SELECT r.id, r.status_code, r.content_type, r.headers, r.content, r.timed_out, r.error_msg
  FROM jsonb_to_recordset(%(responses)s::jsonb) AS r (id bigint, status_code integer,
       content_type text, headers jsonb, content text, timed_out boolean, error_msg text);

-- name: project
-- The project's functions URL and service_role key, which the Edge runtime checks requests against.
SELECT
    (SELECT decrypted_secret FROM vault.decrypted_secrets
      WHERE name = 'threadsync_functions_url') AS functions_url,
    (SELECT decrypted_secret FROM vault.decrypted_secrets
      WHERE name = 'threadsync_service_role_key') AS service_role_key;

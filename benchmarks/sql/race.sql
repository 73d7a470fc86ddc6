-- The peer benchmark's race: a claim that reads, then writes (what frontrun is timed finding).

-- name: create_jobs
CREATE TABLE IF NOT EXISTS race_jobs (
    id integer PRIMARY KEY,
    status text NOT NULL,
    claimed_by integer
);

-- name: reset_jobs
-- One pending job, as at the start of every interleaving frontrun tries.
TRUNCATE race_jobs;
INSERT INTO race_jobs (id, status) VALUES (1, 'pending');

-- name: select_pending
SELECT id FROM race_jobs WHERE status = 'pending' ORDER BY id LIMIT 1;

-- name: claim
-- No `AND status = 'pending'`: the bug. Two workers that both read the job both claim it.
UPDATE race_jobs SET status = 'claimed', claimed_by = %(worker)s WHERE id = %(id)s;

-- pgbench's transaction for the comparison row: one UPDATE of one row by primary key.
UPDATE bench_one_row SET n = n + 1 WHERE id = 1;

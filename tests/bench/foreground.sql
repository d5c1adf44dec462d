-- The foreground workload on PostgreSQL (pgbench -f, -D rows=N): what the
-- application does meanwhile. One transaction = a single-row UPDATE that writes both
-- the old and the new column (the expand phase's dual write) and a SELECT of the same
-- row, by a random existing key (ids are g * 3 + g % 7 for g in 1..rows).
\set g random(1, :rows)
\set id :g * 3 + :g % 7
\set v random(0, 999)
UPDATE bench SET src = :v, dst = :v WHERE id = :id;
SELECT payload FROM bench WHERE id = :id;

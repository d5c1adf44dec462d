#!/usr/bin/env bash
# Every row in range ends with new = expr; rows above the high-water mark, and rows
# the application wrote itself (guard false), are untouched; rows_done is exact.
# Keys: sparse bigint with NULL sources, text (with a quoted table name), uuid.
source "$(dirname "$0")/../lib/itest.sh"
it_setup exact_result

# --- bigint key, sparse, NULLs in the source, application-written rows --------------
it_items_matched 30000 97
hw=$(it_sql "SELECT max(id) FROM items")
expected=$(it_sql "SELECT count(*) FROM items WHERE matched")
it_config "$IT_DIR/job.yaml" "batch:
  size: 500
  max_size: 1000
  sleep: 10ms"
it_start "$IT_DIR/run.log" run -c "$IT_DIR/job.yaml"
it_wait_sql 20 "SELECT batches_done > 0 FROM backfilld_checkpoint WHERE job = 'exact_result'" t
# the application inserts rows after the job started: above the high-water mark
it_sql "INSERT INTO items SELECT $hw + g, g, 'late', NULL, false FROM generate_series(1, 200) g"
wait "$IT_PID"
it_eq "$?" 0 "run exit status"
it_contains "$IT_DIR/run.log" "state running -> done" "run log"

it_eq "$(it_sql "SELECT count(*) FROM items WHERE id <= $hw AND matched AND new_status IS DISTINCT FROM old_status")" 0 \
	"rows in range not backfilled"
it_eq "$(it_sql "SELECT count(*) FROM items WHERE id % 97 = 0 AND new_status <> -1")" 0 \
	"application-written rows clobbered"
it_eq "$(it_sql "SELECT count(*) FROM items WHERE id > $hw AND new_status IS NOT NULL")" 0 \
	"rows above the high-water mark touched"
it_eq "$(it_sql "SELECT state || ' ' || rows_done || ' ' || (high_water->>0) FROM backfilld_checkpoint")" \
	"done $expected $hw" "checkpoint row"
it_eq "$(it_sql "SELECT count(*) FROM items WHERE id <= $hw AND old_status IS NULL AND new_status IS NULL")" \
	"$(it_sql "SELECT count(*) FROM items WHERE id <= $hw AND old_status IS NULL AND matched")" \
	"NULL sources stay NULL"

# verify agrees: nothing pending; the application's own values count as diverged
diverged=$(it_sql "SELECT count(*) FROM items WHERE id <= $hw AND id % 97 = 0 AND old_status IS DISTINCT FROM -1")
out=$(it_run verify -c "$IT_DIR/job.yaml" 2>/dev/null)
it_eq "$?" 3 "verify exit status with diverged rows"
it_eq "$out" "verify: 0 pending, $diverged diverged, 30000 rows checked" "verify output"
it_sql "UPDATE items SET new_status = old_status WHERE id % 97 = 0"
out=$(it_run verify -c "$IT_DIR/job.yaml" --json 2>/dev/null)
it_eq "$?" 0 "verify exit status when clean"
it_eq "$out" '{"job":"exact_result","pending":0,"diverged":0,"rows_checked":30000}' "verify --json"
# run on a done job exits 0 at once
out=$(it_run run -c "$IT_DIR/job.yaml" 2>/dev/null)
it_eq "$?" 0 "run of a done job"
it_eq "$out" "job exact_result is already done: $expected rows in $(it_sql "SELECT batches_done FROM backfilld_checkpoint") batches" "done message"

# --- text key, quoted identifiers -------------------------------------------------
it_sql "CREATE TABLE \"ta\"\"gs\" (\"co de\" text PRIMARY KEY, src text, \"dst;x\" text);
	INSERT INTO \"ta\"\"gs\" SELECT 'k' || g || CASE WHEN g % 3 = 0 THEN ' x''y' ELSE 'é' END,
		CASE WHEN g % 11 = 0 THEN NULL ELSE upper(md5(g::text)) END, NULL
	FROM generate_series(1, 5000) g"
cat >"$IT_DIR/text.yaml" <<YAML
job: exact_result_text
database:
  driver: postgres
  dsn: "host=$BACKFILLD_PG_HOST port=$BACKFILLD_PG_PORT dbname=$IT_DB user=$BACKFILLD_PG_USER"
  password_file: $IT_DIR/password
table: public.ta"gs
key: co de
set:
  "dst;x": lower(src)
batch:
  size: 300
  max_size: 300
throttle:
  max_replication_lag: 0s
YAML
out=$(it_run run -c "$IT_DIR/text.yaml" 2>"$IT_DIR/text.log")
it_eq "$?" 0 "text-key run exit status ($(tail -n 3 "$IT_DIR/text.log"))"
it_eq "$out" "verify: 0 pending, 0 diverged, 5000 rows checked" "text-key verify"
it_eq "$(it_sql "SELECT count(*) FROM \"ta\"\"gs\" WHERE \"dst;x\" IS DISTINCT FROM lower(src)")" 0 \
	"text-key rows not backfilled"
it_eq "$(it_sql "SELECT rows_done || ' ' || batches_done FROM backfilld_checkpoint WHERE job = 'exact_result_text'")" \
	"5000 17" "text-key checkpoint (5000 rows in batches of 300)"

# --- uuid key ----------------------------------------------------------------------
it_sql "CREATE TABLE docs (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), n int, m int);
	INSERT INTO docs (n) SELECT g FROM generate_series(1, 4000) g"
sed -e 's/^job: .*/job: exact_result_uuid/' -e 's/^table: .*/table: docs/' \
	-e 's/^key: .*/key: [id]/' -e 's/^  "dst;x": .*/  m: n * 2/' "$IT_DIR/text.yaml" >"$IT_DIR/uuid.yaml"
out=$(it_run run -c "$IT_DIR/uuid.yaml" 2>"$IT_DIR/uuid.log")
it_eq "$?" 0 "uuid-key run exit status ($(tail -n 3 "$IT_DIR/uuid.log"))"
it_eq "$out" "verify: 0 pending, 0 diverged, 4000 rows checked" "uuid-key verify"
it_eq "$(it_sql "SELECT count(*) FROM docs WHERE m IS DISTINCT FROM n * 2")" 0 "uuid rows not backfilled"
it_eq "$(it_sql "SELECT high_water->>0 FROM backfilld_checkpoint WHERE job = 'exact_result_uuid'")" \
	"$(it_sql "SELECT id FROM docs ORDER BY id DESC LIMIT 1")" "uuid high-water mark"
it_pass

#!/usr/bin/env bash
# Every row in range ends with new = expr; rows above the high-water mark, and rows
# the application wrote itself (guard false), are untouched; rows_done is exact.
# Keys: sparse bigint with NULL sources, text (with quoted identifiers), uuid.
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
it_wait_ckpt 20 "batches_done > 0" "$IT_T"
# the application inserts rows after the job started: above the high-water mark
if it_pg; then
	it_sql "INSERT INTO items SELECT $hw + g, g, 'late', NULL, false FROM generate_series(1, 200) g"
else
	it_sql "INSERT INTO items SELECT $hw + seq, seq, 'late', NULL, false FROM seq_1_to_200"
fi
wait "$IT_PID"
it_eq "$?" 0 "run exit status"
it_contains "$IT_DIR/run.log" "state running -> done" "run log"

it_eq "$(it_sql "SELECT count(*) FROM items WHERE id <= $hw AND matched AND $(it_distinct new_status old_status)")" 0 \
	"rows in range not backfilled"
it_eq "$(it_sql "SELECT count(*) FROM items WHERE id % 97 = 0 AND new_status <> -1")" 0 \
	"application-written rows clobbered"
it_eq "$(it_sql "SELECT count(*) FROM items WHERE id > $hw AND new_status IS NOT NULL")" 0 \
	"rows above the high-water mark touched"
it_eq "$(it_ckpt "CONCAT_WS(' ', state, rows_done)") $(it_ckpt hw0)" "done $expected $hw" "checkpoint row"
it_eq "$(it_sql "SELECT count(*) FROM items WHERE id <= $hw AND old_status IS NULL AND new_status IS NULL")" \
	"$(it_sql "SELECT count(*) FROM items WHERE id <= $hw AND old_status IS NULL AND matched")" \
	"NULL sources stay NULL"

# verify agrees: nothing pending; the application's own values count as diverged
diverged=$(it_sql "SELECT count(*) FROM items WHERE id <= $hw AND id % 97 = 0 AND $(it_distinct old_status -1)")
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
it_eq "$out" "job exact_result is already done: $expected rows in $(it_ckpt batches_done) batches" "done message"

# --- text key, quoted identifiers -------------------------------------------------
# a table named ta"gs with a key column "co de" and a target "dst;x": every name quoted
if it_pg; then
	tags='"ta""gs"' code='"co de"' dst='"dst;x"'
	it_sql "CREATE TABLE $tags ($code text PRIMARY KEY, src text, $dst text);
		INSERT INTO $tags SELECT 'k' || g || CASE WHEN g % 3 = 0 THEN ' x''y' ELSE 'é' END,
			CASE WHEN g % 11 = 0 THEN NULL ELSE upper(md5(g::text)) END, NULL
		FROM generate_series(1, 5000) g"
	table=public.ta'"'gs
else
	tags='`ta"gs`' code='`co de`' dst='`dst;x`'
	it_sql "CREATE TABLE $tags ($code VARCHAR(64) PRIMARY KEY, src TEXT, $dst TEXT) ENGINE=InnoDB
			DEFAULT CHARSET utf8mb4;
		INSERT INTO $tags SELECT CONCAT('k', seq, IF(seq % 3 = 0, ' x''y', 'é')),
			IF(seq % 11 = 0, NULL, upper(md5(seq))), NULL FROM seq_1_to_5000"
	table=$IT_DB.ta'"'gs
fi
sed -e 's/^job: .*/job: exact_result_text/' -e "s/^table: .*/table: '$table'/" -e 's/^key: .*/key: co de/' \
	-e 's/^  new_status: old_status$/  "dst;x": lower(src)/' -e 's/^  size: 500$/  size: 300/' \
	-e 's/^  max_size: 1000$/  max_size: 300/' -e '/^  sleep: 10ms$/d' "$IT_DIR/job.yaml" >"$IT_DIR/text.yaml"
out=$(it_run run -c "$IT_DIR/text.yaml" 2>"$IT_DIR/text.log")
it_eq "$?" 0 "text-key run exit status ($(tail -n 3 "$IT_DIR/text.log"))"
it_eq "$out" "verify: 0 pending, 0 diverged, 5000 rows checked" "text-key verify"
it_eq "$(it_sql "SELECT count(*) FROM $tags WHERE $(it_distinct "$dst" "lower(src)")")" 0 \
	"text-key rows not backfilled"
it_eq "$(it_ckpt "CONCAT_WS(' ', rows_done, batches_done)" exact_result_text)" \
	"5000 17" "text-key checkpoint (5000 rows in batches of 300)"

# --- uuid key ----------------------------------------------------------------------
if it_pg; then
	it_sql "CREATE TABLE docs (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), n int, m int);
		INSERT INTO docs (n) SELECT g FROM generate_series(1, 4000) g"
else
	it_sql "CREATE TABLE docs (id UUID PRIMARY KEY, n INT, m INT) ENGINE=InnoDB;
		INSERT INTO docs SELECT UUID(), seq, NULL FROM seq_1_to_4000"
fi
sed -e 's/^job: .*/job: exact_result_uuid/' -e 's/^table: .*/table: docs/' \
	-e 's/^key: .*/key: [id]/' -e 's/^  "dst;x": .*/  m: n * 2/' "$IT_DIR/text.yaml" >"$IT_DIR/uuid.yaml"
out=$(it_run run -c "$IT_DIR/uuid.yaml" 2>"$IT_DIR/uuid.log")
it_eq "$?" 0 "uuid-key run exit status ($(tail -n 3 "$IT_DIR/uuid.log"))"
it_eq "$out" "verify: 0 pending, 0 diverged, 4000 rows checked" "uuid-key verify"
it_eq "$(it_sql "SELECT count(*) FROM docs WHERE $(it_distinct m "n * 2")")" 0 "uuid rows not backfilled"
it_eq "$(it_ckpt hw0 exact_result_uuid)" "$(it_sql "SELECT id FROM docs ORDER BY id DESC LIMIT 1")" \
	"uuid high-water mark"
it_pass

#!/usr/bin/env bash
# Names that are legal only when quoted: a table, a key, a source and a target
# column, and a checkpoint table, whose names hold a double quote, a backquote, a
# single quote, a space and a semicolon, backfill, verify and roll back correctly on
# each engine: the driver quotes every identifier it puts into a statement.
source "$(dirname "$0")/../lib/itest.sh"
it_setup quoted_identifiers

# the names as the engine stores them; each has all five characters
tname='it'"'"'s "a`b"; t'
kname='k "1`; '"'"'id'"'"''
sname='s'"'"'rc; "x" `y`'
dname='d`st "new"; '"'"'z'"'"''
cname='ck "p`; '"'"'t'"'"''
# quoted for this engine's SQL: "…" with " doubled / `…` with ` doubled
q() {
	if it_pg; then
		printf '"%s"' "${1//\"/\"\"}"
	else
		printf '`%s`' "${1//\`/\`\`}"
	fi
}
# quoted for YAML: "…" with \ and " escaped
y() {
	local s=${1//\\/\\\\}
	printf '"%s"' "${s//\"/\\\"}"
}
T=$(q "$tname") K=$(q "$kname") S=$(q "$sname") D=$(q "$dname")
if it_pg; then
	it_sql "CREATE TABLE $T ($K bigint PRIMARY KEY, $S int, $D int);
		INSERT INTO $T SELECT g * 2, CASE WHEN g % 13 = 0 THEN NULL ELSE g % 500 END, NULL
		FROM generate_series(1, 6000) g;
		ANALYZE $T" || it_fail "cannot create the table"
else
	it_sql "CREATE TABLE $T ($K BIGINT PRIMARY KEY, $S INT, $D INT) ENGINE=InnoDB;
		INSERT INTO $T SELECT seq * 2, IF(seq % 13 = 0, NULL, seq % 500), NULL FROM seq_1_to_6000;
		ANALYZE TABLE $T" >/dev/null ||
		it_fail "cannot create the table"
fi
# the catalog holds exactly these names
if it_pg; then
	got=$(it_sql "SELECT string_agg(attname, '|' ORDER BY attnum) FROM pg_attribute
		WHERE attrelid = '$(printf '%s' "$T" | sed "s/'/''/g")'::regclass AND attnum > 0")
else
	got=$(it_sql "SELECT GROUP_CONCAT(COLUMN_NAME ORDER BY ORDINAL_POSITION SEPARATOR '|')
		FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()
		AND TABLE_NAME = '$(printf '%s' "$tname" | sed "s/'/''/g")'")
fi
it_eq "$got" "$kname|$sname|$dname" "the columns' names in the catalog"

it_config "$IT_DIR/job.yaml" "batch:
  size: 400
  max_size: 400
checkpoint:
  table: $(y "$cname")"
sed -i -e "s/^table: .*/table: $(y "$tname" | sed 's/[\\&/]/\\&/g')/" \
	-e "s/^key: .*/key: $(y "$kname" | sed 's/[\\&/]/\\&/g')/" \
	-e "s/^  new_status: old_status\$/  $(y "$dname" | sed 's/[\\&/]/\\&/g'): $(y "$S * 3" | sed 's/[\\&/]/\\&/g')/" \
	"$IT_DIR/job.yaml"

out=$(it_run check -c "$IT_DIR/job.yaml" 2>&1)
it_eq "$?" 0 "check ($out)"
out=$(it_run run -c "$IT_DIR/job.yaml" 2>"$IT_DIR/run.log")
it_eq "$?" 0 "run exit status ($(tail -n 3 "$IT_DIR/run.log"))"
it_eq "$out" "verify: 0 pending, 0 diverged, 6000 rows checked" "run's verify"
it_eq "$(it_sql "SELECT count(*) FROM $T WHERE $(it_distinct "$D" "$S * 3")")" 0 "rows not backfilled"
it_eq "$(it_sql "SELECT count(*) FROM $T WHERE $D IS NOT NULL")" \
	"$(it_sql "SELECT count(*) FROM $T WHERE $S IS NOT NULL")" "rows written"
# the checkpoint went into the table so named, and no other table was made
C=$(q "$cname")
it_eq "$(it_sql "SELECT CONCAT_WS(' ', state, rows_done, batches_done) FROM $C WHERE job = 'quoted_identifiers'")" \
	"done 6000 15" "checkpoint row (6000 rows in batches of 400)"
if it_pg; then
	tables=$(it_sql "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
else
	tables=$(it_sql "SELECT count(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()")
fi
it_eq "$tables" 2 "tables in the database (the job's and its checkpoint)"
out=$(it_run verify -c "$IT_DIR/job.yaml" 2>/dev/null)
it_eq "$?" 0 "verify exit status"
it_eq "$out" "verify: 0 pending, 0 diverged, 6000 rows checked" "verify"

# rollback: every target back to NULL, recorded as <job>:rollback in the same table
out=$(it_run rollback -c "$IT_DIR/job.yaml" 2>"$IT_DIR/rb.log")
it_eq "$?" 0 "rollback exit status ($(tail -n 3 "$IT_DIR/rb.log"))"
it_eq "$(it_sql "SELECT count(*) FROM $T WHERE $D IS NOT NULL")" 0 "rows still set after the rollback"
it_eq "$(it_sql "SELECT state FROM $C WHERE job = 'quoted_identifiers:rollback'")" "done" "rollback checkpoint row"
it_run verify -c "$IT_DIR/job.yaml" >"$IT_DIR/verify.out" 2>/dev/null
it_eq "$?" 3 "verify after the rollback"
it_contains "$IT_DIR/verify.out" "verify: $(it_sql "SELECT count(*) FROM $T WHERE $S IS NOT NULL") pending, 0 diverged" \
	"pending after the rollback"
it_pass

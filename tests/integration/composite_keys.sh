#!/usr/bin/env bash
# composite_keys: a composite key is backfilled exactly through kill -9 and resume.
# accounts(tenant_id, id): skewed tenants (1 to 100,000 rows), sparse tenant ids,
# ids reused across tenants; after every kill the checkpoint's two-part cursor
# matches the data, and rows inserted above the high-water mark stay untouched.
# events(text, timestamp, uuid): duplicate values in the first two parts, so
# batches split inside groups on the last part. `check --json` shows that the real
# batch statements are index range scans: MariaDB cannot range-scan a row-value
# comparison, so there the key range is expanded to OR form.
source "$(dirname "$0")/../lib/itest.sh"
it_setup composite_keys

# ck_part JOB FIELD I TYPE: SQL for part I of the checkpoint's FIELD, cast to TYPE
ck_part() {
	local job=$1 field=$2 i=$3 type=$4 v
	if it_pg; then
		echo "(SELECT (\"$field\"->>$i)::$type FROM backfilld_checkpoint WHERE job = '$job')"
		return
	fi
	v="JSON_UNQUOTE(JSON_EXTRACT(\`$field\`, '\$[$i]'))"
	# text parts compare under the column's collation, as the daemon's bound values do
	if [[ "$type" == CHAR ]]; then
		v="CONVERT($v USING utf8mb4) COLLATE utf8mb4_general_ci"
	else
		v="CAST($v AS $type)"
	fi
	echo "(SELECT $v FROM backfilld_checkpoint WHERE job = '$job')"
}

# ck_cursor_le JOB FIELD "COL TYPE"...: SQL true for rows whose key is at or below
# the checkpoint's FIELD (cursor or high_water), compared part by part in the
# expanded form, each part read from the JSON array and cast to TYPE. False while
# FIELD is NULL (no batch committed yet) or the row is missing.
ck_cursor_le() {
	local job=$1 field=$2 kp i p expr=""
	shift 2
	local -a cols=() types=()
	for kp in "$@"; do
		cols+=("${kp%% *}")
		types+=("${kp#* }")
	done
	i=$((${#cols[@]} - 1))
	expr="${cols[i]} <= $(ck_part "$job" "$field" "$i" "${types[i]}")"
	for ((i = i - 1; i >= 0; i--)); do
		p=$(ck_part "$job" "$field" "$i" "${types[i]}")
		expr="${cols[i]} < $p OR (${cols[i]} = $p AND ($expr))"
	done
	echo "COALESCE(($expr), false)"
}

# ck_consistent WHAT JOB TABLE TARGET EXPR KEYS...: after a kill (no daemon running),
# rows at or below the cursor are done, rows above it (up to the high-water mark)
# are untouched, and rows_done counts exactly the rows at or below the cursor (every
# row's target starts NULL, so every row in range matches the default guard).
ck_consistent() {
	local what=$1 job=$2 table=$3 target=$4 expr=$5
	shift 5
	local le hw out
	le=$(ck_cursor_le "$job" cursor "$@")
	hw=$(ck_cursor_le "$job" high_water "$@")
	out=$(it_sql "SELECT
		  (SELECT count(*) FROM $table WHERE $le AND $(it_distinct "$target" "($expr)")),
		  (SELECT count(*) FROM $table WHERE NOT $le AND $hw AND $target IS NOT NULL),
		  (SELECT count(*) FROM $table WHERE NOT $hw AND $target IS NOT NULL),
		  (SELECT count(*) FROM $table WHERE $le) -
		  COALESCE((SELECT rows_done FROM backfilld_checkpoint WHERE job = '$job'), 0)") ||
		it_fail "$what: consistency query failed"
	it_eq "$out" "0|0|0|0" \
		"$what: (undone at/below cursor | touched above cursor | touched above high water | rows - rows_done)"
}

# --- accounts(tenant_id, id): skewed tenants -----------------------------------------
# tenant sizes 1..100,000 in an order that is not by size; id = g*7 + g%3 in every
# tenant, so ids repeat across tenants and are sparse within one; 1 in 13 sources NULL
if it_pg; then
	it_sql "CREATE TABLE accounts (tenant_id bigint NOT NULL, id bigint NOT NULL, src int,
			dst bigint, PRIMARY KEY (tenant_id, id));
		INSERT INTO accounts SELECT t.tenant, g * 7 + g % 3,
			CASE WHEN g % 13 = 0 THEN NULL ELSE (g * 31 + t.tenant) % 100003 END, NULL
		FROM (VALUES (7, 1000), (42, 1), (1001, 100000), (5003, 10), (90001, 10000),
			(700000, 100)) t(tenant, n), LATERAL generate_series(1, t.n) g;
		ANALYZE accounts" || it_fail "cannot create accounts"
else
	it_sql "CREATE TABLE accounts (tenant_id BIGINT NOT NULL, id BIGINT NOT NULL, src INT,
			dst BIGINT, PRIMARY KEY (tenant_id, id)) ENGINE=InnoDB;
		INSERT INTO accounts SELECT t.tenant, s.seq * 7 + s.seq % 3,
			IF(s.seq % 13 = 0, NULL, (s.seq * 31 + t.tenant) % 100003), NULL
		FROM (SELECT 7 AS tenant, 1000 AS n UNION ALL SELECT 42, 1 UNION ALL SELECT 1001, 100000
			UNION ALL SELECT 5003, 10 UNION ALL SELECT 90001, 10000
			UNION ALL SELECT 700000, 100) t
		JOIN seq_1_to_100000 s ON s.seq <= t.n;
		ANALYZE TABLE accounts" >/dev/null || it_fail "cannot create accounts"
fi
it_eq "$(it_sql "SELECT CONCAT_WS(' ', count(*), count(DISTINCT id), count(src)) FROM accounts")" \
	"111111 100000 102567" "accounts: rows, distinct ids, non-NULL sources"
ACC_KEYS=("tenant_id bigint" "id bigint")
it_my && ACC_KEYS=("tenant_id SIGNED" "id SIGNED")
ACC_EXPR="src * 3 + 1"

it_config "$IT_DIR/job.yaml" "batch:
  size: 500
  min_size: 500
  max_size: 1000
  sleep: 20ms"
sed -i -e 's/^table: .*/table: accounts/' -e 's/^key: .*/key: [tenant_id, id]/' \
	-e "s/^  new_status: old_status\$/  dst: $ACC_EXPR/" "$IT_DIR/job.yaml"

# run 1 is killed once it has committed a batch and the application has inserted
# rows above the high-water mark: in the last tenant above its last id, and in new
# tenants with small ids that exist in every other tenant
late_rows() {
	if it_pg; then
		it_sql "INSERT INTO accounts SELECT 700000, 701 + g, g, NULL FROM generate_series(1, 30) g;
			INSERT INTO accounts SELECT 800000 + g % 3, g, g, NULL FROM generate_series(1, 60) g"
	else
		it_sql "INSERT INTO accounts SELECT 700000, 701 + seq, seq, NULL FROM seq_1_to_30;
			INSERT INTO accounts SELECT 800000 + seq % 3, seq, seq, NULL FROM seq_1_to_60"
	fi
}

kills=0
resumes=0
prev_cursor=""
for run in 1 2 3 4 5; do
	it_start "$IT_DIR/run$run.log" run -c "$IT_DIR/job.yaml"
	if ((run == 1)); then
		it_wait_ckpt 20 "batches_done > 0" "$IT_T"
		# the high-water mark is the largest (tenant_id, id), not the largest of each part
		it_eq "$(it_ckpt high_water | tr -d ' ')" "[700000,701]" "high-water mark"
		late_rows || it_fail "cannot insert the late rows"
	fi
	# a random instant: 100..400 ms into this run
	if it_kill_at 100 300; then
		kills=$((kills + 1))
	else
		it_fail "the job ended before kill $run (exit $IT_RC): make the batches smaller or slower"
	fi
	ck_consistent "accounts, after kill $run" composite_keys accounts dst "$ACC_EXPR" "${ACC_KEYS[@]}"
	if [[ -n "$prev_cursor" ]] && grep -q "resuming job" "$IT_DIR/run$run.log"; then
		it_contains "$IT_DIR/run$run.log" "at cursor $prev_cursor:" "run $run resume point"
		resumes=$((resumes + 1))
	fi
	prev_cursor=$(it_ckpt cursor)
	it_log "kill $run: cursor ${prev_cursor:-NULL}, rows_done $(it_ckpt rows_done)"
done
it_eq "$kills" 5 "kills that landed mid-run"
# the committed batches have crossed the boundaries of the first two tenants
cur0=$(it_ckpt cursor0)
it_le 1001 "${cur0:-0}" "tenant of the cursor after the kills"

out=$(it_run run -c "$IT_DIR/job.yaml" 2>"$IT_DIR/final.log")
it_eq "$?" 0 "accounts: final run exit status ($(tail -n 2 "$IT_DIR/final.log"))"
it_contains "$IT_DIR/final.log" "at cursor $prev_cursor:" "final resume point"
it_eq "$out" "verify: 0 pending, 0 diverged, 111111 rows checked" "accounts: the run's own verify"
ck_consistent "accounts, at the end" composite_keys accounts dst "$ACC_EXPR" "${ACC_KEYS[@]}"
it_eq "$(it_ckpt "CONCAT_WS(' ', state, rows_done)") $(it_ckpt cursor | tr -d ' ')" \
	"done 111111 [700000,701]" "accounts: checkpoint (state, rows_done = rows in range, cursor)"
it_eq "$(it_sql "SELECT count(*) FROM accounts WHERE (tenant_id < 700000 OR (tenant_id = 700000 AND id <= 701))
		AND $(it_distinct dst "($ACC_EXPR)")")" 0 "accounts: rows in range not equal to their expression"
it_eq "$(it_sql "SELECT count(*) FROM accounts WHERE src IS NULL AND dst IS NULL
		AND (tenant_id < 700000 OR (tenant_id = 700000 AND id <= 701))")" 8544 "accounts: NULL sources stay NULL"
it_eq "$(it_sql "SELECT CONCAT_WS(' ', count(*), count(dst)) FROM accounts
		WHERE tenant_id > 700000 OR (tenant_id = 700000 AND id > 701)")" "90 0" \
	"accounts: late rows above the high-water mark (count, touched)"
out=$(it_run verify -c "$IT_DIR/job.yaml" 2>/dev/null)
it_eq "$?" 0 "accounts: verify exit status"
it_eq "$out" "verify: 0 pending, 0 diverged, 111111 rows checked" "accounts: verify"
it_log "$kills kills, $resumes resume points checked"

# --- events(text, timestamp, uuid) ----------------------------------------------------
# 5 regions x 7 instants (microseconds, across a leap day's midnight): 35 groups of
# ~114 rows that share the first two parts; the uuid alone orders each group. Under
# MariaDB's case-insensitive collation "O'Brien" sorts between 'eu' and 'us', unlike
# its binary order: the daemon must compare in the database, under its collation.
if it_pg; then
	it_sql "CREATE TABLE events (region text NOT NULL, at timestamp(6) NOT NULL, uid uuid NOT NULL,
			payload text, digest text, PRIMARY KEY (region, at, uid));
		INSERT INTO events SELECT (ARRAY['eu-west', 'us-east', 'ap south', 'zürich', 'O''Brien'])[1 + g % 5],
			timestamp '2024-02-29 23:59:58.999999' + (g % 7) * interval '0.250001 second',
			gen_random_uuid(), CASE WHEN g % 9 = 0 THEN NULL ELSE md5(g::text) END, NULL
		FROM generate_series(1, 4000) g;
		ANALYZE events" || it_fail "cannot create events"
	MIX_KEYS=("region text" "at timestamp" "uid uuid")
else
	it_sql "CREATE TABLE events (region VARCHAR(32) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NOT NULL,
			at DATETIME(6) NOT NULL, uid UUID NOT NULL, payload TEXT, digest TEXT,
			PRIMARY KEY (region, at, uid)) ENGINE=InnoDB DEFAULT CHARSET utf8mb4;
		INSERT INTO events SELECT ELT(1 + seq % 5, 'eu-west', 'us-east', 'ap south', 'zürich', 'O''Brien'),
			TIMESTAMP'2024-02-29 23:59:58.999999' + INTERVAL (seq % 7) * 250001 MICROSECOND,
			UUID(), IF(seq % 9 = 0, NULL, md5(seq)), NULL FROM seq_1_to_4000;
		ANALYZE TABLE events" >/dev/null || it_fail "cannot create events"
	MIX_KEYS=("region CHAR" "at DATETIME(6)" "uid UUID")
fi
it_eq "$(it_sql "SELECT CONCAT_WS(' ', count(*), count(DISTINCT region), count(DISTINCT at),
		count(payload)) FROM events")" "4000 5 7 3556" "events: rows, regions, instants, non-NULL payloads"
it_eq "$(it_sql "SELECT count(*) FROM (SELECT region, at FROM events GROUP BY region, at
		HAVING count(*) > 100) g")" 35 "events: (region, at) groups larger than a batch"
MIX_EXPR="upper(payload)"
sed -e 's/^job: .*/job: composite_keys_mixed/' -e 's/^table: .*/table: events/' \
	-e 's/^key: .*/key: [region, at, uid]/' -e "s/^  dst: .*/  digest: $MIX_EXPR/" \
	-e 's/^  size: 500$/  size: 60/' -e 's/^  min_size: 500$/  min_size: 60/' \
	-e 's/^  max_size: 1000$/  max_size: 60/' "$IT_DIR/job.yaml" >"$IT_DIR/mixed.yaml"

mixed_kills=0
for run in 1 2; do
	it_start "$IT_DIR/mixed$run.log" run -c "$IT_DIR/mixed.yaml"
	if it_kill_at 150 300; then
		mixed_kills=$((mixed_kills + 1))
	else
		it_fail "events: the job ended before kill $run (exit $IT_RC)"
	fi
	ck_consistent "events, after kill $run" composite_keys_mixed events digest "$MIX_EXPR" "${MIX_KEYS[@]}"
	it_log "events kill $run: cursor $(it_ckpt cursor composite_keys_mixed)"
done
it_eq "$mixed_kills" 2 "events: kills that landed mid-run"
out=$(it_run run -c "$IT_DIR/mixed.yaml" 2>"$IT_DIR/mixed.log")
it_eq "$?" 0 "events: final run exit status ($(tail -n 2 "$IT_DIR/mixed.log"))"
it_eq "$out" "verify: 0 pending, 0 diverged, 4000 rows checked" "events: the run's own verify"
ck_consistent "events, at the end" composite_keys_mixed events digest "$MIX_EXPR" "${MIX_KEYS[@]}"
it_eq "$(it_sql "SELECT count(*) FROM events WHERE $(it_distinct digest "($MIX_EXPR)")")" 0 \
	"events: rows not equal to their expression"
it_eq "$(it_ckpt "CONCAT_WS(' ', state, rows_done)" composite_keys_mixed)" "done 4000" "events: checkpoint"
# the last cursor is the largest key, part for part as the database orders it
last=$(it_sql "SELECT CONCAT_WS(' ', region, at, uid) FROM events ORDER BY region DESC, at DESC, uid DESC LIMIT 1")
if it_pg; then
	got=$(it_sql "SELECT CONCAT_WS(' ', \"cursor\"->>0, (\"cursor\"->>1)::timestamp(6), (\"cursor\"->>2)::uuid)
		FROM backfilld_checkpoint WHERE job = 'composite_keys_mixed'")
else
	got=$(it_sql "SELECT CONCAT_WS(' ', JSON_VALUE(\`cursor\`, '\$[0]'),
		CAST(JSON_VALUE(\`cursor\`, '\$[1]') AS DATETIME(6)), JSON_VALUE(\`cursor\`, '\$[2]'))
		FROM backfilld_checkpoint WHERE job = 'composite_keys_mixed'")
fi
it_eq "$got" "$last" "events: final cursor"
out=$(it_run verify -c "$IT_DIR/mixed.yaml" 2>/dev/null)
it_eq "$?" 0 "events: verify exit status"
it_eq "$out" "verify: 0 pending, 0 diverged, 4000 rows checked" "events: verify"

# --- the plan: index range scans on the key --------------------------------------------
# a range of ~1000 keys inside the big tenant, as a batch's bounds
lo=$(it_sql "SELECT CONCAT_WS(', ', tenant_id, id) FROM accounts ORDER BY tenant_id, id LIMIT 1 OFFSET 30000")
hi=$(it_sql "SELECT CONCAT_WS(', ', tenant_id, id) FROM accounts ORDER BY tenant_id, id LIMIT 1 OFFSET 31000")
if it_my; then
	# why the daemon expands the range on MariaDB: a row-value comparison is not
	# range-optimized there and scans the whole index (type index) or table (ALL),
	# while the same range in OR form is a range scan
	rv=$(it_sql "EXPLAIN UPDATE accounts SET dst = ($ACC_EXPR)
		WHERE (tenant_id, id) > ($lo) AND (tenant_id, id) <= ($hi) AND dst IS NULL" | cut -d'|' -f4)
	[[ "$rv" == index || "$rv" == ALL ]] || it_fail "MariaDB EXPLAIN of the row-value range: type [$rv]"
	IT_CHECKS=$((IT_CHECKS + 1))
	rv=$(it_sql "EXPLAIN SELECT tenant_id, id FROM accounts
		WHERE (tenant_id, id) > ($lo) AND (tenant_id, id) <= ($hi)" | cut -d'|' -f4)
	[[ "$rv" == index || "$rv" == ALL ]] || it_fail "MariaDB EXPLAIN of the row-value range (select): type [$rv]"
	IT_CHECKS=$((IT_CHECKS + 1))
	read -r l0 l1 <<<"${lo/,/}"
	read -r h0 h1 <<<"${hi/,/}"
	it_eq "$(it_sql "EXPLAIN UPDATE accounts SET dst = ($ACC_EXPR)
		WHERE (tenant_id > $l0 OR (tenant_id = $l0 AND id > $l1))
		  AND (tenant_id < $h0 OR (tenant_id = $h0 AND id <= $h1)) AND dst IS NULL" | cut -d'|' -f4)" \
		range "MariaDB EXPLAIN of the same range in OR form"
fi

# the daemon's own statements, EXPLAINed by `check` on a fresh job over the same table
sed -e 's/^job: .*/job: composite_keys_plan/' "$IT_DIR/job.yaml" >"$IT_DIR/plan.yaml"
it_sql "UPDATE accounts SET dst = NULL" >/dev/null || it_fail "cannot reset accounts"
plan=$(it_run check --json -c "$IT_DIR/plan.yaml" 2>"$IT_DIR/check.log")
it_eq "$?" 0 "check exit status ($(tail -n 3 "$IT_DIR/check.log"))"
[[ -n "$plan" ]] || it_fail "check --json printed nothing"
if it_pg; then
	stmts=$(it_sql "SELECT CONCAT_WS(' ', s->>'name', s->>'index_range')
		FROM jsonb_array_elements(\$j\$$plan\$j\$::jsonb -> 'plan' -> 'statements') s
		ORDER BY s->>'name'") || it_fail "check --json: not the expected JSON: $plan"
	upd=$(it_sql "SELECT s->>'sql' FROM jsonb_array_elements(\$j\$$plan\$j\$::jsonb -> 'plan' -> 'statements') s
		WHERE s->>'name' = 'update_next'")
else
	jq_plan=$(it_jlit "$plan")
	stmts=$(it_sql "SELECT CONCAT_WS(' ', name, idx) FROM JSON_TABLE($jq_plan, '\$.plan.statements[*]'
		COLUMNS (name TEXT PATH '\$.name', idx TEXT PATH '\$.index_range')) t ORDER BY name") ||
		it_fail "check --json: not the expected JSON: $plan"
	upd=$(it_sql "SELECT q FROM JSON_TABLE($jq_plan, '\$.plan.statements[*]'
		COLUMNS (name TEXT PATH '\$.name', q TEXT PATH '\$.sql')) t WHERE name = 'update_next'")
fi
it_eq "$(echo "$stmts" | tr '\n' ',')" "bound true,bound_next true,update true,update_next true," \
	"check --json: plan.statements (name index_range) [$plan]"
[[ "$upd" == UPDATE* && "$upd" == *tenant_id* && "$upd" == *id* ]] ||
	it_fail "check --json: the update's sql is not the batch's UPDATE: [$upd]"
# the row-value form: a parenthesised list of the key columns compared with > or <=
rowvalue_re='\([^()]*tenant_id[^()]*,[^()]*id[^()]*\)[[:space:]]*(>|<=)[[:space:]]*\('
IT_CHECKS=$((IT_CHECKS + 1))
if it_pg; then
	[[ "$upd" =~ $rowvalue_re ]] || it_fail "PostgreSQL update should use the row-value form: [$upd]"
else
	[[ ! "$upd" =~ $rowvalue_re && "$upd" == *" OR "* ]] ||
		it_fail "MariaDB update should use the expanded OR form: [$upd]"
fi
it_pass

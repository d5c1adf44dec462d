#!/usr/bin/env bash
# verify counts exactly: rows planted pending and diverged at known keys, over
# several 20,000-row chunks and at both ends of the range, are reported as such
# (text and --json), --sample N lists the first N keys of each kind in key order,
# rows whose source and target are both NULL count as done, and the exit status is
# 3 (0 when clean; run ends with the same line). verify writes nothing: the
# checkpoint table and the data are identical before and after, and an expression
# with a side effect fails on the read-only session. It never holds one
# transaction over the range: sampled from outside, a slow verify's statements and
# transactions each last a fraction of its wall time. A verify stopped half-way exits 1.
source "$(dirname "$0")/../lib/itest.sh"
it_setup verify

# checkpoint_table: every row and column of the checkpoint table (PostgreSQL: with
# xmin, so that even a rewrite of equal values shows)
checkpoint_table() {
	if it_pg; then
		it_sql "SELECT xmin, c.* FROM backfilld_checkpoint c ORDER BY job"
	else
		it_sql "SELECT * FROM backfilld_checkpoint ORDER BY job"
	fi
}

# table_sum TABLE: a digest of every row of an items-shaped table (PostgreSQL:
# with xmin, so that an UPDATE to the same values shows too)
table_sum() {
	if it_pg; then
		it_sql "SELECT count(*), md5(string_agg(t.xmin::text || t::text, ',' ORDER BY id)) FROM $1 t"
	else
		it_sql "SET SESSION group_concat_max_len = 1 << 30;
			SELECT count(*), MD5(GROUP_CONCAT(CONCAT_WS(':', id, IFNULL(old_status, 'N'), payload,
				IFNULL(new_status, 'N')) ORDER BY id)) FROM $1"
	fi
}

# json_path JSON A B: member B of member A of a JSON object, compact (no spaces)
json_path() {
	local v
	if it_pg; then
		v=$(it_sql "SELECT (\$j\$$1\$j\$::jsonb) #> '{$2,$3}'")
	else
		v=$(it_sql "SELECT JSON_EXTRACT($(it_jlit "$1"), '\$.$2.$3')")
	fi
	printf '%s' "${v// /}"
}

# sample_lines KIND IDS...: the text sample lines for these keys
sample_lines() {
	local kind=$1 id
	shift
	for id in "$@"; do
		echo "verify: $kind key [$id]"
	done
}

# json_keys IDS...: the JSON array of single-part keys
json_keys() {
	local out="" id
	for id in "$@"; do
		out+="${out:+,}[$id]"
	done
	printf '[%s]' "$out"
}

# check_text OUT SUMMARY WHAT "PENDING IDS" "DIVERGED IDS": the text output holds
# exactly these sample lines, each kind in key order, then the summary line (how
# the two kinds interleave is not fixed)
check_text() {
	local out=$1 summary=$2 what=$3
	local -a pend div
	read -ra pend <<<"$4"
	read -ra div <<<"$5"
	it_eq "$(printf '%s\n' "$out" | tail -n 1)" "$summary" "$what: summary line"
	it_eq "$(printf '%s\n' "$out" | grep '^verify: pending key ')" "$(sample_lines pending "${pend[@]}")" \
		"$what: pending sample lines"
	it_eq "$(printf '%s\n' "$out" | grep '^verify: diverged key ')" "$(sample_lines diverged "${div[@]}")" \
		"$what: diverged sample lines"
	it_eq "$(printf '%s\n' "$out" | wc -l)" $((${#pend[@]} + ${#div[@]} + 1)) "$what: number of lines"
}

# check_json OUT WHAT P D CHECKED "PENDING IDS" "DIVERGED IDS": one object with
# these counts and samples
check_json() {
	local out=$1 what=$2
	local -a pend div
	read -ra pend <<<"$6"
	read -ra div <<<"$7"
	it_eq "$(printf '%s\n' "$out" | wc -l)" 1 "$what: one line"
	it_eq "$(it_json_field "$out" job) $(it_json_field "$out" pending) $(it_json_field "$out" diverged) $(it_json_field "$out" rows_checked)" \
		"verify $3 $4 $5" "$what: job, pending, diverged, rows_checked ($out)"
	it_eq "$(json_path "$out" samples pending)" "$(json_keys "${pend[@]}")" "$what: samples.pending ($out)"
	it_eq "$(json_path "$out" samples diverged)" "$(json_keys "${div[@]}")" "$what: samples.diverged ($out)"
}

# --- a complete run on a clean table: verify finds nothing ---------------------------
it_items 50000
it_config "$IT_DIR/job.yaml" "batch:
  size: 5000
  max_size: 20000"
out=$(it_run run -c "$IT_DIR/job.yaml" 2>"$IT_DIR/run.log")
it_eq "$?" 0 "run exit status ($(tail -n 2 "$IT_DIR/run.log"))"
hw=$(it_ckpt hw0)
it_eq "$hw" "$(it_sql "SELECT max(id) FROM items")" "high-water mark"
in_range=$(it_sql "SELECT count(*) FROM items WHERE id <= $hw")
it_eq "$in_range" 50000 "rows in range"
clean="verify: 0 pending, 0 diverged, $in_range rows checked"
it_eq "$(printf '%s\n' "$out" | tail -n 1)" "$clean" "the run's last line"
ckpt_before=$(checkpoint_table)
it_eq "$(printf '%s\n' "$ckpt_before" | wc -l)" 1 "checkpoint rows after the run"

out=$(it_run verify -c "$IT_DIR/job.yaml" 2>"$IT_DIR/verify.log")
it_eq "$?" 0 "verify exit status when clean ($(tail -n 2 "$IT_DIR/verify.log"))"
it_eq "$out" "$clean" "verify output when clean"
out=$(it_run verify -c "$IT_DIR/job.yaml" --json 2>/dev/null)
it_eq "$?" 0 "verify --json exit status when clean"
it_eq "$out" "{\"job\":\"verify\",\"pending\":0,\"diverged\":0,\"rows_checked\":$in_range}" "verify --json when clean"
out=$(it_run verify -c "$IT_DIR/job.yaml" --sample 2 2>/dev/null)
it_eq "$?" 0 "verify --sample exit status when clean"
it_eq "$out" "$clean" "verify --sample when clean: no sample lines"

# --- planted rows ---------------------------------------------------------------------
# by rank in key order: verify's chunks are ranks 1-20000, 20001-40000, 40001-50000.
# Pending (target reset to NULL, source not NULL) at the first key, inside and on
# both sides of the first chunk boundary, in the last chunk; diverged (target -5,
# which no expression value is, so the guard no longer holds) beside them, in every
# chunk, and at the high-water mark (a NULL-source row: -5 differs from NULL too).
rank_ids() {
	it_sql "SELECT id FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY id) AS rn FROM items) r
		WHERE rn IN ($1) ORDER BY id" | tr '\n' ' '
}
read -ra pending <<<"$(rank_ids 1,777,19999,20001,44444)"
read -ra diverged <<<"$(rank_ids 2,20002,31111,40001,50000)"
it_eq "${#pending[@]} ${#diverged[@]}" "5 5" "planted keys"
it_eq "${pending[0]}" "$(it_sql "SELECT min(id) FROM items")" "a pending row at the first key"
it_eq "${diverged[4]}" "$hw" "a diverged row at the high-water mark"
it_eq "$(it_sql "SELECT count(*) FROM items WHERE id IN ($(IFS=,; echo "${pending[*]}")) AND old_status IS NULL")" \
	0 "pending rows have a source"
it_sql "UPDATE items SET new_status = NULL WHERE id IN ($(IFS=,; echo "${pending[*]}"));
	UPDATE items SET new_status = -5 WHERE id IN ($(IFS=,; echo "${diverged[*]}"))" ||
	it_fail "cannot plant rows"
# the run left the 1,000 NULL-source rows (one now diverged) with a NULL target and
# the guard still true: done, not pending
it_eq "$(it_sql "SELECT count(*) FROM items WHERE id <= $hw AND old_status IS NULL AND new_status IS NULL")" \
	999 "rows with NULL source and target"
items_before=$(table_sum items)

summary="verify: 5 pending, 5 diverged, $in_range rows checked"
out=$(it_run verify -c "$IT_DIR/job.yaml" 2>"$IT_DIR/verify.log")
it_eq "$?" 3 "verify exit status with planted rows ($(tail -n 2 "$IT_DIR/verify.log"))"
it_eq "$out" "$summary" "verify output with planted rows"
out=$(it_run verify -c "$IT_DIR/job.yaml" --json 2>/dev/null)
it_eq "$?" 3 "verify --json exit status with planted rows"
it_eq "$out" "{\"job\":\"verify\",\"pending\":5,\"diverged\":5,\"rows_checked\":$in_range}" \
	"verify --json with planted rows: no samples member"

out=$(it_run verify -c "$IT_DIR/job.yaml" --sample 2 2>"$IT_DIR/verify.log")
it_eq "$?" 3 "verify --sample 2 exit status ($(tail -n 2 "$IT_DIR/verify.log"))"
check_text "$out" "$summary" "verify --sample 2" "${pending[*]:0:2}" "${diverged[*]:0:2}"
out=$(it_run verify -c "$IT_DIR/job.yaml" --json --sample 2 2>/dev/null)
it_eq "$?" 3 "verify --json --sample 2 exit status"
check_json "$out" "verify --json --sample 2" 5 5 "$in_range" "${pending[*]:0:2}" "${diverged[*]:0:2}"
# more than there are: all of them
out=$(it_run verify -c "$IT_DIR/job.yaml" --sample 100 2>/dev/null)
it_eq "$?" 3 "verify --sample 100 exit status"
check_text "$out" "$summary" "verify --sample 100" "${pending[*]}" "${diverged[*]}"
out=$(it_run verify -c "$IT_DIR/job.yaml" --sample 100 --json 2>/dev/null)
it_eq "$?" 3 "verify --sample 100 --json exit status"
check_json "$out" "verify --sample 100 --json" 5 5 "$in_range" "${pending[*]}" "${diverged[*]}"

# nine verifies later: not a byte of the checkpoint table or the data has changed
it_eq "$(checkpoint_table)" "$ckpt_before" "checkpoint table after verify"
it_eq "$(table_sum items)" "$items_before" "items after verify"

# --- a slow verify, watched from outside -------------------------------------------------
# 120,000 rows (6 chunks); the expression sleeps on every 40th row, ~1 s per chunk
if it_pg; then
	it_sql "CREATE TABLE slow (id bigint PRIMARY KEY, old_status int, payload text, new_status int);
		INSERT INTO slow SELECT g * 3 + g % 7, CASE WHEN g % 50 = 0 THEN NULL ELSE g % 1000 END,
			md5(g::text), NULL FROM generate_series(1, 120000) g;
		ANALYZE slow" || it_fail "cannot create slow"
	slow_expr="old_status + CASE WHEN id % 40 = 0 AND pg_sleep(0.001)::text = '' THEN 0 ELSE 0 END"
else
	it_sql "CREATE TABLE slow (id BIGINT PRIMARY KEY, old_status INT, payload TEXT, new_status INT)
			ENGINE=InnoDB;
		INSERT INTO slow SELECT seq * 3 + seq % 7, IF(seq % 50 = 0, NULL, seq % 1000), md5(seq), NULL
			FROM seq_1_to_120000;
		ANALYZE TABLE slow" >/dev/null || it_fail "cannot create slow"
	slow_expr="old_status + IF(id % 40 = 0, SLEEP(0.002), 0)"
fi
# a job that never ran: verify checks the whole table, where every row with a source
# is pending
sed -e 's/^job: .*/job: verify_slow/' -e 's/^table: .*/table: slow/' \
	-e "s/^  new_status: old_status\$/  new_status: \"$slow_expr\"/" "$IT_DIR/job.yaml" >"$IT_DIR/slow.yaml"
slow_before=$(table_sum slow)
slow_pending=$(it_sql "SELECT count(*) FROM slow WHERE old_status IS NOT NULL")

# Every ~0.1 s (MariaDB: 0.12 s, as INNODB_TRX is cached for 0.1 s after a read),
# the ages of the daemon's open transactions and running statements, as
# "TRANSACTION-OR-STATEMENT|AGE_MS". A chunk is one statement over a sixth of the
# rows, so its age stays near a sixth of the wall time (MariaDB's trx_started counts
# whole seconds: up to 1 s more); one transaction over the walk would be seen at
# nearly the whole wall time, as the sampling goes on to the end. Half the wall time
# lies well between the two, and a loaded machine slows both sides alike.
: >"$IT_DIR/samples"
t0=$(it_now_ms)
it_start "$IT_DIR/slow.log" verify -c "$IT_DIR/slow.yaml"
while it_alive "$IT_PID"; do
	if it_pg; then
		it_admin_sql "SELECT xact_start,
				(extract(epoch FROM clock_timestamp() - xact_start) * 1000)::bigint
			FROM pg_stat_activity WHERE datname = '$IT_DB' AND usename = '$BACKFILLD_PG_USER'
				AND xact_start IS NOT NULL" 2>/dev/null >>"$IT_DIR/samples"
		sleep 0.1
	else
		# statements by (connection, query id) and TIME_MS; transactions by
		# trx_started, whole seconds
		it_admin_sql "SELECT CONCAT('q', p.ID, '-', p.QUERY_ID), ROUND(p.TIME_MS)
				FROM information_schema.PROCESSLIST p
				WHERE p.USER = '$BACKFILLD_MY_USER' AND p.DB = '$IT_DB' AND p.COMMAND <> 'Sleep'
			UNION ALL
			SELECT 't', 1000 * TIMESTAMPDIFF(SECOND, t.trx_started, NOW())
				FROM information_schema.INNODB_TRX t
				JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id
				WHERE p.USER = '$BACKFILLD_MY_USER' AND p.DB = '$IT_DB'" 2>/dev/null \
			>>"$IT_DIR/samples"
		sleep 0.12
	fi
done
wait "$IT_PID"
rc=$?
wall=$(($(it_now_ms) - t0))
it_eq "$rc" 3 "slow verify exit status ($(tail -n 2 "$IT_DIR/slow.log"))"
it_eq "$(cat "$IT_DIR/slow.log.out")" "verify: $slow_pending pending, 0 diverged, 120000 rows checked" \
	"slow verify output"
max_age=$(awk -F '|' 'BEGIN { m = 0 } $2 > m { m = $2 } END { print m }' "$IT_DIR/samples")
# PostgreSQL: transactions by xact_start; MariaDB: statements by connection and query id
distinct=$(awk -F '|' '$1 != "t" { print $1 }' "$IT_DIR/samples" | sort -u | wc -l)
it_log "slow verify: ${wall} ms, $(wc -l <"$IT_DIR/samples") samples, longest ${max_age} ms, $distinct distinct"
it_le 3 "$distinct" "distinct transactions (statements) seen during the slow verify"
it_le $((max_age * 2 + 1)) "$wall" "longest transaction or statement (ms) times 2, against the wall time"
it_eq "$(table_sum slow)" "$slow_before" "slow after verify"

# --- a verify stopped half-way has no verdict: exit 1, never the 0 of a clean table -------
it_start "$IT_DIR/stopped.log" verify -c "$IT_DIR/slow.yaml"
sleep 1.5
it_alive "$IT_PID" || it_fail "the slow verify ended within 1.5 s"
kill -TERM "$IT_PID"
wait "$IT_PID"
it_eq "$?" 1 "exit status of a verify stopped by SIGTERM"
it_contains "$IT_DIR/stopped.log" "stop requested: verify ends without a verdict" "stopped verify's log"
IT_CHECKS=$((IT_CHECKS + 1))
grep -q 'pending' "$IT_DIR/stopped.log.out" && it_fail "a stopped verify printed a count: $(cat "$IT_DIR/stopped.log.out")"

# --- an expression with a side effect: the read-only session refuses it ------------------
if it_pg; then
	it_sql "CREATE TABLE verify_log (v int);
		CREATE FUNCTION verify_logged(v int) RETURNS int LANGUAGE plpgsql VOLATILE
			AS \$\$ BEGIN INSERT INTO verify_log VALUES (v); RETURN v; END \$\$" ||
		it_fail "cannot create verify_logged"
else
	# DETERMINISTIC: with the binary log on, MariaDB creates no function without it
	it_sql "CREATE TABLE verify_log (v INT) ENGINE=InnoDB" || it_fail "cannot create verify_log"
	it_admin_sql "DELIMITER //
		CREATE FUNCTION verify_logged(v INT) RETURNS INT DETERMINISTIC MODIFIES SQL DATA
		BEGIN INSERT INTO verify_log VALUES (v); RETURN v; END//
		DELIMITER ;" || it_fail "cannot create verify_logged"
fi
sed -e 's/^job: .*/job: verify_logged/' -e 's/^  new_status: old_status$/  new_status: verify_logged(old_status)/' \
	"$IT_DIR/job.yaml" >"$IT_DIR/logged.yaml"
out=$(it_run verify -c "$IT_DIR/logged.yaml" 2>"$IT_DIR/logged.log")
it_eq "$?" 1 "verify of an expression that writes (stdout [$out], log: $(tail -n 2 "$IT_DIR/logged.log"))"
it_eq "$(it_sql "SELECT count(*) FROM verify_log")" 0 "rows the expression wrote through verify"

# and after all of it, the checkpoint table is still as the run left it
it_eq "$(checkpoint_table)" "$ckpt_before" "checkpoint table at the end"
it_eq "$(table_sum items)" "$items_before" "items at the end"
it_pass

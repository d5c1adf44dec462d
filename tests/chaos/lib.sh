# shellcheck shell=bash
# Helpers for the chaos scenarios (tests/chaos/*.sh), sourced by tests/chaos/run.sh
# after tests/lib/servers.sh and tests/lib/itest.sh. A scenario runs in a subshell
# with the itest.sh variables set for it (IT_NAME = the job, IT_DB = its database,
# IT_DIR = its scratch dir, IT_DRIVER); it_fail ends the scenario, not the suite.
#
# The table (one fresh copy per scenario, in a database of its own):
#   items(id bigint PK, old_status int, payload text, new_status int, matched bool)
#   N rows, sparse ids (id = g*3 + g%7), ~2% NULL sources (old_status), and rows
#   with id % 101 = 0 written by "the application" before the job (new_status -1,
#   guard false). `matched`: the job must match the row (its guard holds when the
#   daemon reaches it). During a run, ch_app_write plays the application: rows
#   inserted above the high-water mark (must stay untouched, NULL) and rows just
#   ahead of the cursor written by new code (new_status -2, matched false; must not
#   be clobbered). The job: SET new_status = old_status WHERE new_status IS NULL.
#
# Counters of the summary line, kept in $IT_DIR/counts as they change:
#   CH_FAULTS CH_RESTARTS CH_RECONNECTS CH_ROWS CH_MISMATCHES
# IT_PID is the daemon's pid (itest.sh's it_start).
# shellcheck disable=SC2153

CH_FAULTS=0
CH_RESTARTS=0
CH_RECONNECTS=0
CH_ROWS=0
CH_MISMATCHES=0
CH_HW=0      # the largest id of the fresh table: the job's high-water mark
CH_APP=0     # rows the application inserted above the high-water mark
CH_LOG=""    # the daemon log the scenario watches (its tail goes with a failure)
CH_OWNER=""  # host:pid of the daemon ch_start started, as its checkpoint row names it

# ch_note: write the counters for the summary line
ch_note() {
	printf '%s %s %s %s %s\n' "$CH_FAULTS" "$CH_RESTARTS" "$CH_RECONNECTS" "$CH_ROWS" \
		"$CH_MISMATCHES" >"$IT_DIR/counts"
}

# it_fail, as itest.sh's, but it also keeps the reason for the summary line and
# prints the evidence a failure needs: the daemon's last log lines, the checkpoint
# row, the daemon's sessions.
it_fail() {
	printf '%s\n' "$*" >"$IT_DIR/failure"
	{
		printf 'FAIL [chaos %s/%s]: %s\n' "$IT_DRIVER" "$IT_NAME" "$*"
		if [[ -n "$CH_LOG" && -s "$CH_LOG" ]]; then
			printf -- '--- last lines of %s\n' "$CH_LOG"
			tail -n 25 "$CH_LOG"
		fi
		printf -- '--- checkpoint row\n'
		ch_sql_quiet "SELECT * FROM backfilld_checkpoint WHERE job = '$IT_NAME'"
		printf -- "--- the daemon's sessions\n"
		ch_sessions || true
		printf -- '---\n'
	} >&2
	exit 1
}

ch_log() {
	printf '[chaos %s/%s %s] %s\n' "$IT_DRIVER" "$IT_NAME" "$(date +%H:%M:%S)" "$*" >&2
}

# ch_sql_quiet SQL: it_sql with errors dropped (for evidence: nothing to fail on)
ch_sql_quiet() {
	it_sql "$1" 2>/dev/null || true
}

# ch_ms_sleep MS: sleep MS milliseconds
ch_ms_sleep() {
	sleep "$(($1 / 1000)).$(printf '%03d' $(($1 % 1000)))"
}

# ch_rand VAR MIN MAX: a random whole number in MIN..MAX into VAR (not printed: a
# command substitution's subshell would draw from a reseeded RANDOM, and --seed
# would not repeat the instants)
ch_rand() {
	printf -v "$1" '%d' $(($2 + (RANDOM * 32768 + RANDOM) % ($3 - $2 + 1)))
}

# --- the scenario's setup ------------------------------------------------------------------

# ch_begin ENGINE SCENARIO DIR: the itest.sh variables for one scenario; the job is
# chaos_SCENARIO in database it_chaos_SCENARIO, scratch files in DIR.
# shellcheck disable=SC2034 # IT_T: itest.sh's
ch_begin() {
	IT_DRIVER=$1
	IT_NAME=chaos_$2
	IT_DB=it_chaos_$2
	IT_DIR=$3
	IT_T=t
	if it_my; then IT_T=1; fi
	IT_PIDS=()
	mkdir -p "$IT_DIR"
	if it_pg; then
		printf '%s' "$BACKFILLD_PG_PASSWORD" >"$IT_DIR/password"
	else
		printf '%s' "$BACKFILLD_MY_PASSWORD" >"$IT_DIR/password"
	fi
	chmod 600 "$IT_DIR/password"
	ch_note
	trap ch_end EXIT
}

# ch_end: the scenario's EXIT trap: no daemon of it outlives it. (Under set -e, which
# the suite sets and an EXIT trap does not escape, a failing command here would
# change the scenario's exit status: every one of them is guarded.)
ch_end() {
	local pid
	for pid in "${IT_PIDS[@]}"; do
		kill -9 "$pid" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	return 0
}

# ch_template ENGINE ROWS: (PostgreSQL) the database it_chaos_template holding the
# table, built once; every scenario copies it (CREATE DATABASE ... TEMPLATE, a file
# copy). MariaDB builds each scenario's table afresh (ch_fresh_table).
ch_template() {
	[[ "$1" == postgres ]] || return 0
	IT_DRIVER=postgres IT_DB=it_chaos_template ch_fill_pg "$2"
}

# ch_fill_pg ROWS: the table in $IT_DB (PostgreSQL), created afresh
ch_fill_pg() {
	if ! it_admin_sql_db postgres "DROP DATABASE IF EXISTS \"$IT_DB\" WITH (FORCE)" >/dev/null ||
		! it_admin_sql_db postgres "CREATE DATABASE \"$IT_DB\" OWNER $BACKFILLD_PG_USER" >/dev/null; then
		it_fail "cannot create database $IT_DB"
	fi
	# rows first, then the key: faster than maintaining the index row by row
	it_sql "CREATE TABLE items (id bigint NOT NULL, old_status int, payload text,
			new_status int, matched bool NOT NULL);
		INSERT INTO items SELECT g * 3 + g % 7, CASE WHEN g % 50 = 0 THEN NULL ELSE g % 1000 END,
			md5(g::text), CASE WHEN (g * 3 + g % 7) % 101 = 0 THEN -1 END,
			(g * 3 + g % 7) % 101 <> 0
			FROM generate_series(1, $1) g;
		ALTER TABLE items ADD PRIMARY KEY (id);" || it_fail "cannot fill items in $IT_DB"
	it_sql "VACUUM ANALYZE items" || it_fail "cannot analyze items in $IT_DB"
}

# ch_fresh_table ROWS: the scenario's database with a fresh table, on the replica too
ch_fresh_table() {
	if it_pg; then
		if ! it_admin_sql_db postgres "DROP DATABASE IF EXISTS \"$IT_DB\" WITH (FORCE)" >/dev/null ||
			! it_admin_sql_db postgres "CREATE DATABASE \"$IT_DB\" TEMPLATE it_chaos_template
				OWNER $BACKFILLD_PG_USER" >/dev/null; then
			it_fail "cannot copy it_chaos_template to $IT_DB"
		fi
	else
		it_admin_sql_db mysql "DROP DATABASE IF EXISTS \`$IT_DB\`; CREATE DATABASE \`$IT_DB\`" \
			>/dev/null || it_fail "cannot create database $IT_DB"
		it_sql "CREATE TABLE items (id BIGINT NOT NULL PRIMARY KEY, old_status INT,
				payload VARCHAR(40), new_status INT, matched BOOL NOT NULL) ENGINE=InnoDB;
			INSERT INTO items SELECT seq * 3 + seq % 7, IF(seq % 50 = 0, NULL, seq % 1000),
				MD5(seq), IF((seq * 3 + seq % 7) % 101 = 0, -1, NULL),
				(seq * 3 + seq % 7) % 101 <> 0
				FROM seq_1_to_$1;
			ANALYZE TABLE items;" >/dev/null || it_fail "cannot fill items in $IT_DB"
	fi
	CH_HW=$(it_sql "SELECT max(id) FROM items") || it_fail "cannot read max(id)"
	ch_replica_caught_up 300 || it_fail "the replica does not catch up with the fresh table"
}

# ch_drop_db: the scenario's database goes (disk and the replica's work)
ch_drop_db() {
	if it_pg; then
		it_admin_sql_db postgres "DROP DATABASE IF EXISTS \"$IT_DB\" WITH (FORCE)" >/dev/null
	else
		it_admin_sql_db mysql "DROP DATABASE IF EXISTS \`$IT_DB\`" >/dev/null
	fi
}

# ch_batch_yaml [BATCHES]: small batches and a pause after each, so that faults land
# in the middle of the job: BATCHES batches (default $CH_BATCHES: 1,000, 4,000 with
# --long) whatever the table's size
ch_batch_yaml() {
	local size=$((CH_ROWS_N / ${1:-$CH_BATCHES}))
	((size >= 20)) || size=20
	printf 'batch:\n  size: %d\n  min_size: %d\n  max_size: %d\n  sleep: 15ms\n' \
		"$size" $((size / 4)) "$size"
}

# ch_start: start the job's daemon (log: $IT_DIR/run.log) and wait for its first
# batches; CH_OWNER is the owner it writes into the checkpoint row
ch_start() {
	CH_LOG=$IT_DIR/run.log
	it_start "$CH_LOG" run -c "$IT_DIR/job.yaml"
	CH_OWNER="$(uname -n):$IT_PID"
	ch_wait_batches 60 5
}

# ch_wait_reconnect SECONDS N BATCHES: wait for the daemon's Nth reconnect, count it,
# then for BATCHES more batches
ch_wait_reconnect() {
	local b
	ch_wait_log "$1" "reconnected: resuming at cursor" "$2"
	CH_RECONNECTS=$(ch_count_log "reconnected: resuming at cursor")
	ch_note
	b=$(ch_batches)
	ch_wait_batches "$1" $((b + $3))
}

# ch_finish_same_process N: the daemon started by ch_start finishes, having
# reconnected N times, still the checkpoint's owner; then the final check
ch_finish_same_process() {
	ch_wait_exit 600
	it_eq "$(ch_count_log "reconnected: resuming at cursor")" "$1" "reconnects logged"
	it_eq "$(it_ckpt owner)" "$CH_OWNER" "the checkpoint's owner (the same process throughout)"
	ch_final_check
}

# ch_config FILE THROTTLE EXTRA: the job's YAML; THROTTLE is off (no throttle at
# all) or replica (max_replication_lag against the replica, lock waits on the
# primary: the daemon has a heartbeat writer, a probe and a replica connection);
# EXTRA is more YAML (the batch: section).
ch_config() {
	local file=$1 throttle=$2 extra=$3
	it_config "$file" "$extra"
	[[ "$throttle" == replica ]] || return 0
	# it_config's throttle: section (everything off) makes way for this one
	sed -i -e '/^throttle:/,/^status:/{/^status:/!d}' "$file"
	cat >>"$file" <<YAML
throttle:
  max_replication_lag: 2s
  check_interval: 250ms
  max_lock_waits: 5
  replicas:
$(it_replica_yaml)
YAML
}

# --- the replica ------------------------------------------------------------------------------

# ch_replica_caught_up SECONDS: wait until the replica replicates and has applied
# everything the primary had written when asked
ch_replica_caught_up() {
	local deadline=$((SECONDS + $1)) pos
	if it_pg; then
		pos=$(it_admin_sql_db postgres "SELECT pg_current_wal_lsn()") || return 1
		until [[ "$(it_replica_sql "SELECT pg_last_wal_replay_lsn() >= '$pos'" 2>/dev/null)" == t ]]; do
			((SECONDS < deadline)) || return 1
			sleep 0.1
		done
	else
		pos=$(it_admin_sql_db mysql "SELECT @@gtid_binlog_pos") || return 1
		[[ "$(it_replica_sql "SELECT MASTER_GTID_WAIT('$pos', $1)" 2>/dev/null)" == 0 ]]
	fi
}

# --- the application ------------------------------------------------------------------------

# ch_app_write: the application writes while the job runs: one row above the
# high-water mark, and rows a little ahead of the cursor that new code writes
# (source set, target still NULL: the daemon has not reached them; if a batch holds
# them, the row lock decides who goes first and the loser's guard sees the winner's
# value). Only once the checkpoint holds the high-water mark: before, a restarted
# job would take the new rows into its range.
ch_app_write() {
	local hw cur lo
	it_table_exists backfilld_checkpoint || return 0
	hw=$(it_ckpt hw0) || it_fail "cannot read the checkpoint's high-water mark"
	[[ -n "$hw" ]] || return 0
	[[ "$hw" == "$CH_HW" ]] || it_fail "high-water mark $hw, the table's largest key was $CH_HW"
	cur=$(it_ckpt cursor0) || it_fail "cannot read the checkpoint's cursor"
	[[ -n "$cur" ]] || cur=0
	CH_APP=$((CH_APP + 1))
	ch_rand lo 0 3000
	lo=$((cur + lo))
	it_sql "INSERT INTO items (id, old_status, payload, new_status, matched)
		VALUES ($((CH_HW + CH_APP * 2)), $CH_APP, 'application', NULL, false)" ||
		it_fail "application insert failed"
	it_sql "UPDATE items SET new_status = -2, matched = false
		WHERE id > $lo AND id <= $lo + 60 AND old_status IS NOT NULL AND new_status IS NULL" ||
		it_fail "application update failed"
}

# --- checks ---------------------------------------------------------------------------------

# ch_scan: one pass over the table, in one statement with the read of the job's
# checkpoint row (one snapshot: a commit between two reads cannot tell a false
# story), printing
#   cursor|rows_done|undone|touched|count_diff|clobbered|above|rows
# cursor and rows_done: the checkpoint's (-1 and 0 while it has none); undone: rows
# at/below the cursor the job must match whose value differs from the expression;
# touched: rows above the cursor the job must match that are no longer NULL;
# count_diff: rows at/below the cursor the job must match minus rows_done;
# clobbered: rows of the application in range whose value changed; above: rows
# above the high-water mark that are no longer NULL; rows: all rows.
ch_scan() {
	local cur="-1" ndone=0 ck="FROM backfilld_checkpoint WHERE job = '$IT_NAME'"
	if it_table_exists backfilld_checkpoint; then
		if it_pg; then
			cur="COALESCE((SELECT (\"cursor\"->>0)::bigint $ck), -1)"
		else
			cur="COALESCE((SELECT CAST(JSON_UNQUOTE(JSON_EXTRACT(\`cursor\`, '\$[0]')) AS SIGNED) $ck), -1)"
		fi
		ndone="COALESCE((SELECT rows_done $ck), 0)"
	fi
	it_sql "SELECT MIN(ck.c), MIN(ck.d),
		  SUM(CASE WHEN id <= ck.c AND matched AND $(it_distinct new_status old_status)
		      THEN 1 ELSE 0 END),
		  SUM(CASE WHEN id > ck.c AND matched AND new_status IS NOT NULL THEN 1 ELSE 0 END),
		  SUM(CASE WHEN id <= ck.c AND matched THEN 1 ELSE 0 END) - MIN(ck.d),
		  SUM(CASE WHEN id <= $CH_HW AND NOT matched AND COALESCE(new_status, 0) NOT IN (-1, -2)
		      THEN 1 ELSE 0 END),
		  SUM(CASE WHEN id > $CH_HW AND new_status IS NOT NULL THEN 1 ELSE 0 END),
		  COUNT(*)
		FROM items CROSS JOIN (SELECT $cur AS c, $ndone AS d) ck"
}

# ch_check_consistent WHAT: while no daemon runs: the checkpoint matches the data
# exactly (what it_check_consistent checks, in one pass, plus the application's
# rows): every row at or below the cursor the job must match is done, nothing above
# it is touched, rows_done counts exactly the rows at or below it, and nothing of the
# application changed. A failure saves the offending rows in $IT_DIR.
ch_check_consistent() {
	local what=$1 out cur
	out=$(ch_scan) || it_fail "$what: consistency query failed"
	IT_CHECKS=$((IT_CHECKS + 1))
	cur=${out%%|*}
	if [[ "$out" != *\|*\|0\|0\|0\|0\|0\|* ]]; then
		ch_evidence "$what" "$cur"
		it_fail "$what: (cursor | rows_done | undone at/below the cursor | touched above it | matched - rows_done | application rows clobbered | touched above the high-water mark | rows) = $out"
	fi
}

# ch_evidence WHAT CURSOR: the rows that break the invariants, saved in
# $IT_DIR/evidence.txt (a few of each kind) and named on stderr
ch_evidence() {
	local f=$IT_DIR/evidence.txt cur=$2
	{
		echo "== $1 (cursor $cur, high-water $CH_HW)"
		echo "-- checkpoint row"
		ch_sql_quiet "SELECT * FROM backfilld_checkpoint WHERE job = '$IT_NAME'"
		echo "-- undone at/below the cursor"
		ch_sql_quiet "SELECT * FROM items WHERE id <= $cur AND matched
			AND $(it_distinct new_status old_status) ORDER BY id LIMIT 20"
		echo "-- touched above the cursor"
		ch_sql_quiet "SELECT * FROM items WHERE id > $cur AND matched AND new_status IS NOT NULL
			ORDER BY id LIMIT 20"
		echo "-- application rows clobbered"
		ch_sql_quiet "SELECT * FROM items WHERE id <= $CH_HW AND NOT matched
			AND COALESCE(new_status, 0) NOT IN (-1, -2) ORDER BY id LIMIT 20"
		echo "-- touched above the high-water mark"
		ch_sql_quiet "SELECT * FROM items WHERE id > $CH_HW AND new_status IS NOT NULL
			ORDER BY id LIMIT 20"
	} >>"$f"
	echo "evidence: $f" >&2
}

# ch_final_check: after the daemon's last run ended with exit 0: the job is done, its
# cursor at the high-water mark, the table exact, rows_done = the rows the job
# matched. Sets CH_ROWS and CH_MISMATCHES (rows with a wrong value).
ch_final_check() {
	local st hw expected scan cur ndone u t diff c a
	st=$(it_ckpt state) || it_fail "cannot read the final checkpoint"
	hw=$(it_ckpt hw0)
	expected=$(it_sql "SELECT count(*) FROM items WHERE id <= $CH_HW AND matched") ||
		it_fail "cannot count the matched rows"
	scan=$(ch_scan) || it_fail "final scan failed"
	IFS='|' read -r cur ndone u t diff c a CH_ROWS <<<"$scan"
	CH_MISMATCHES=$((u + t + c + a))
	ch_note
	((CH_MISMATCHES == 0)) || ch_evidence "final" "$cur"
	it_eq "$CH_MISMATCHES" 0 "rows wrong at the end (not backfilled | touched beyond the cursor | application rows clobbered | above the high-water mark) = $u|$t|$c|$a"
	it_eq "$hw" "$CH_HW" "checkpoint high_water"
	it_eq "$st $cur" "done $CH_HW" "checkpoint state and cursor"
	it_eq "$ndone" "$expected" "rows_done (rows the job matched: each counted once)"
	it_eq "$diff" 0 "rows the job matched minus rows_done"
}

# --- the daemon ----------------------------------------------------------------------------

# ch_wait_exit SECONDS: wait for the daemon (IT_PID) to end, which must be with exit
# status 0 within SECONDS; a daemon still running then is a hang: its status and
# sessions are kept as evidence and it is killed.
ch_wait_exit() {
	local deadline=$((SECONDS + $1)) rc
	while it_alive "$IT_PID"; do
		if ((SECONDS >= deadline)); then
			{
				echo "== the daemon still runs after $1 s"
				"$BACKFILLD_BIN" status --json -s "$IT_DIR/status.sock" 2>&1
				ch_sessions
			} >>"$IT_DIR/evidence.txt"
			kill -9 "$IT_PID" 2>/dev/null
			wait "$IT_PID" 2>/dev/null
			it_fail "the daemon still runs $1 s later (a hang? status in $IT_DIR/evidence.txt)"
		fi
		sleep 0.1
	done
	wait "$IT_PID"
	rc=$?
	it_eq "$rc" 0 "the daemon's exit status"
}

# ch_sessions: the daemon's database sessions and what they do (for evidence)
ch_sessions() {
	if it_pg; then
		it_admin_sql "SELECT pid, application_name, state, wait_event_type, wait_event,
			left(query, 120) FROM pg_stat_activity WHERE starts_with(application_name, 'backfilld $IT_NAME')" 2>&1
	else
		it_admin_sql "SELECT ID, COMMAND, TIME, STATE, LEFT(INFO, 120) FROM information_schema.PROCESSLIST
			WHERE USER = '$BACKFILLD_MY_USER' AND DB = '$IT_DB'" 2>&1
	fi
}

# ch_kill_sessions: end all the daemon's sessions on the primary from another
# session (its batch connection, and the throttle's heartbeat writer and probe);
# prints how many
ch_kill_sessions() {
	if it_pg; then
		it_admin_sql "SELECT count(*) FILTER (WHERE t) FROM (SELECT pg_terminate_backend(pid) AS t
			FROM pg_stat_activity WHERE starts_with(application_name, 'backfilld $IT_NAME')
			AND pid <> pg_backend_pid()) s"
	else
		it_kill_daemon_sessions
	fi
}

# ch_count_log TEXT: how many lines of the daemon's log ($CH_LOG) hold TEXT
ch_count_log() {
	grep -cF -- "$1" "$CH_LOG" 2>/dev/null || true
}

# ch_wait_log SECONDS TEXT COUNT: wait until TEXT is in COUNT lines of the daemon's
# log; the daemon must keep running meanwhile
ch_wait_log() {
	local deadline=$((SECONDS + $1)) n=0
	while :; do
		n=$(ch_count_log "$2")
		((n >= $3)) && return 0
		it_alive "$IT_PID" || it_fail "the daemon exited while waiting for $3 x [$2] in its log"
		((SECONDS < deadline)) || it_fail "timed out after $1 s waiting for $3 x [$2] in the log (saw $n)"
		sleep 0.05
	done
}

# ch_batches: the checkpoint's batches_done (empty while there is no row)
ch_batches() {
	it_ckpt batches_done 2>/dev/null
}

# ch_wait_batches SECONDS N: wait until the checkpoint counts at least N batches
# (the daemon makes progress); the daemon must keep running meanwhile
ch_wait_batches() {
	local deadline=$((SECONDS + $1)) b=""
	while :; do
		b=$(ch_batches) || b=""
		[[ "$b" =~ ^[0-9]+$ ]] && ((b >= $2)) && return 0
		it_alive "$IT_PID" || it_fail "the daemon exited while waiting for $2 batches (at ${b:-none})"
		((SECONDS < deadline)) || it_fail "timed out after $1 s waiting for $2 batches (at ${b:-none})"
		sleep 0.05
	done
}

# ch_wait_state STATE SECONDS: poll the daemon's status socket until its state is
# STATE (J: that answer); the daemon must keep running meanwhile
ch_wait_state() {
	local deadline=$((SECONDS + $2)) s=""
	while :; do
		J=$(it_status_json) || J=""
		s=$(it_jget "$J" state) || s="?"
		[[ "$s" == "$1" ]] && return 0
		it_alive "$IT_PID" || it_fail "the daemon exited while waiting for state $1"
		((SECONDS < deadline)) || it_fail "state $1 not reached in $2 s (last: $s)"
		sleep 0.05
	done
}

# ch_pause_check WHAT: right after a fault the daemon survived: pause it (the batch
# in flight commits first), check that its checkpoint matches the data exactly, and
# let it go on
ch_pause_check() {
	"$BACKFILLD_BIN" pause -s "$IT_DIR/status.sock" >/dev/null || it_fail "$1: pause refused"
	ch_wait_state paused 30
	ch_check_consistent "$1"
	"$BACKFILLD_BIN" resume -s "$IT_DIR/status.sock" >/dev/null || it_fail "$1: resume refused"
}

# ch_running_check WHAT: right before a fault: the daemon runs and the job is not
# done, or the fault would not land during the run
ch_running_check() {
	local st
	it_alive "$IT_PID" || it_fail "$1: the daemon is not running"
	st=$(it_ckpt state) || it_fail "$1: cannot read the checkpoint"
	[[ "$st" != "done" ]] || it_fail "$1: the job is done already (make the table larger)"
}

# ch_count_sessions: how many sessions the daemon has on the primary
ch_count_sessions() {
	if it_pg; then
		it_admin_sql "SELECT count(*) FROM pg_stat_activity
			WHERE starts_with(application_name, 'backfilld $IT_NAME')"
	else
		it_admin_sql "SELECT COUNT(*) FROM information_schema.PROCESSLIST
			WHERE USER = '$BACKFILLD_MY_USER' AND DB = '$IT_DB'"
	fi
}

# ch_wait_sessions_gone SECONDS: after a kill -9, wait until the server has ended the
# dead daemon's sessions. A session in the middle of a statement notices that its
# client is gone only when the statement ends; its transaction then rolls back (or
# commits, when the COMMIT had arrived): checks before that would race with it, and
# a restart would find the job's lock still held (in production, systemd's
# RestartSec gives the server that time).
ch_wait_sessions_gone() {
	local deadline=$((SECONDS + $1)) n=""
	while :; do
		n=$(ch_count_sessions) || n="?"
		[[ "$n" == 0 ]] && return 0
		((SECONDS < deadline)) || it_fail "the killed daemon's sessions are still there after $1 s ($n)"
		sleep 0.05
	done
}

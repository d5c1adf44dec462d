#!/usr/bin/env bash
# The superuser kills the daemon's session twice, at different moments of one run
# (pg_terminate_backend / KILL CONNECTION): each time the daemon logs the lost
# connection, reconnects from the checkpoint in the same process, and goes on; the
# run finishes exit 0 with an exact table and rows_done equal to the rows really
# matched (no batch lost or counted twice across the reconnects).
source "$(dirname "$0")/../lib/itest.sh"
it_setup reconnect_after_terminate

app="backfilld reconnect_after_terminate"

# wait_log SECONDS FILE PATTERN COUNT: poll until PATTERN occurs COUNT times in FILE.
wait_log() {
	local deadline=$((SECONDS + $1)) n=0
	while ((SECONDS < deadline)); do
		n=$(grep -cF -- "$3" "$2" 2>/dev/null)
		((n >= $4)) && return 0
		sleep 0.05
	done
	it_fail "timed out waiting for $4 x [$3] in $2 (saw $n): $(tail -n 5 "$2")"
}

# terminate the daemon's session; exactly one backend must go
terminate() {
	it_eq "$(it_kill_daemon_sessions)" 1 "backends terminated ($1)"
}

# the daemon's session: its backend pid (PostgreSQL) / connection id (MariaDB)
backend() {
	if it_pg; then
		it_admin_sql "SELECT pid FROM pg_stat_activity WHERE application_name = '$app'"
	else
		it_admin_sql "SELECT ID FROM information_schema.PROCESSLIST
			WHERE USER = '$BACKFILLD_MY_USER' AND DB = '$IT_DB' AND ID <> CONNECTION_ID()"
	fi
}

it_items_matched 60000 97
expected=$(it_sql "SELECT count(*) FROM items WHERE matched")
# 150 batches of 400, 20 ms apart: a few seconds
it_config "$IT_DIR/job.yaml" "batch:
  size: 400
  min_size: 400
  max_size: 400
  sleep: 20ms"

it_start "$IT_DIR/run.log" run -c "$IT_DIR/job.yaml"
pid=$IT_PID
owner="$(uname -n):$pid"

# first: early in the run
it_wait_ckpt 20 "batches_done >= 5" "$IT_T"
backend1=$(backend)
[[ "$backend1" =~ ^[0-9]+$ ]] || it_fail "the daemon's session before the first terminate: [$backend1]"
terminate "first"
wait_log 15 "$IT_DIR/run.log" "reconnecting from the checkpoint" 1
wait_log 15 "$IT_DIR/run.log" "reconnected: resuming at cursor" 1
it_alive "$pid" || it_fail "the daemon exited after the first terminate ($(tail -n 3 "$IT_DIR/run.log"))"
b=$(it_sql "SELECT batches_done FROM backfilld_checkpoint WHERE job = 'reconnect_after_terminate'")
it_wait_ckpt 15 "batches_done >= $b + 20" "$IT_T"
backend2=$(backend)
[[ -n "$backend2" && "$backend2" != "$backend1" ]] ||
	it_fail "after the reconnect the daemon's session is [$backend2], before it was [$backend1]"

# second: later, in the middle of the range
terminate "second"
wait_log 15 "$IT_DIR/run.log" "reconnected: resuming at cursor" 2
it_alive "$pid" || it_fail "the daemon exited after the second terminate ($(tail -n 3 "$IT_DIR/run.log"))"
it_eq "$(it_ckpt "CONCAT_WS(' ', state, owner)")" \
	"running $owner" "checkpoint row after the reconnects (same process)"

wait "$pid"
it_eq "$?" 0 "run exit status ($(tail -n 3 "$IT_DIR/run.log"))"
it_le 2 "$(grep -cF "reconnecting from the checkpoint" "$IT_DIR/run.log")" "connection losses logged"
it_eq "$(grep -cF "reconnected: resuming at cursor" "$IT_DIR/run.log")" 2 "reconnects logged"
it_contains "$IT_DIR/run.log" "state running -> done" "run log"
it_check_consistent "at the end"
it_eq "$(it_ckpt "CONCAT_WS(' ', state, rows_done, owner)")" \
	"done $expected $owner" "final checkpoint row"
it_eq "$(it_sql "SELECT count(*) FROM items WHERE matched AND $(it_distinct new_status old_status)")" 0 \
	"rows not backfilled"
it_eq "$(it_sql "SELECT count(*) FROM items WHERE NOT matched AND new_status <> -1")" 0 \
	"application-written rows clobbered"
it_pass

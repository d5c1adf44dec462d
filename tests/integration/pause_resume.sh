#!/usr/bin/env bash
# SIGUSR1 pauses a run after the batch in flight: within a second the checkpoint
# says `paused`, and while paused no batch commits, no transaction stays open, and
# the process lives on; SIGUSR2 resumes it (`running` again, batches again) and the
# run finishes exact. SIGTERM while paused exits 0 with `stopped`, and the restart
# resumes at the stored cursor.
#   run 1: pause while sleeping between batches, then SIGTERM while paused
#   run 2: pause while a batch is in flight, hold 2 s, resume, finish
source "$(dirname "$0")/../lib/itest.sh"
it_setup pause_resume

app="backfilld pause_resume"

ckpt() {
	it_ckpt "$1"
}

# daemon_sessions: the daemon's database sessions, each as its state, comma-separated
# ("idle" on PostgreSQL / "Sleep" on MariaDB when it waits for the client), and then
# how many of them have a transaction open (MariaDB: an InnoDB transaction; on
# PostgreSQL a session with an open transaction is never "idle")
daemon_sessions() {
	if it_pg; then
		it_admin_sql "SELECT string_agg(state, ',') || ' ' ||
			count(*) FILTER (WHERE xact_start IS NOT NULL)
			FROM pg_stat_activity WHERE application_name = '$app'"
	else
		it_admin_sql "SELECT CONCAT_WS(' ', GROUP_CONCAT(p.COMMAND),
				(SELECT count(*) FROM information_schema.INNODB_TRX t
				 WHERE t.trx_mysql_thread_id IN (SELECT ID FROM information_schema.PROCESSLIST
					WHERE USER = '$BACKFILLD_MY_USER' AND DB = '$IT_DB')))
			FROM information_schema.PROCESSLIST p
			WHERE p.USER = '$BACKFILLD_MY_USER' AND p.DB = '$IT_DB' AND p.ID <> CONNECTION_ID()"
	fi
}

# signal_state SIGNAL PID STATE MS: send SIGNAL, the checkpoint state must become
# STATE within MS milliseconds
signal_state() {
	local sig=$1 pid=$2 want=$3 limit=$4 t0 got=""
	t0=$(it_now_ms)
	kill -s "$sig" "$pid"
	while (($(it_now_ms) - t0 < 10000)); do
		got=$(ckpt state 2>/dev/null)
		[[ "$got" == "$want" ]] && break
		sleep 0.02
	done
	it_eq "$got" "$want" "checkpoint state after $sig"
	it_le "$(($(it_now_ms) - t0))" "$limit" "$sig: state $want within $limit ms"
}

# while paused: nothing commits for 2 s, no transaction is left open, the process lives
hold_paused() {
	local pid=$1 b n b2 n2
	b=$(ckpt batches_done)
	n=$(it_sql "SELECT count(*) FROM items WHERE new_status IS NOT NULL")
	sleep 2
	b2=$(ckpt batches_done)
	n2=$(it_sql "SELECT count(*) FROM items WHERE new_status IS NOT NULL")
	it_eq "$b2" "$b" "batches_done while paused"
	it_eq "$n2" "$n" "backfilled rows while paused"
	it_eq "$(ckpt state)" paused "checkpoint state after 2 s paused"
	IT_CHECKS=$((IT_CHECKS + 1))
	it_alive "$pid" || it_fail "the daemon died while paused ($(tail -n 3 "$IT_DIR/run$run.log"))"
	if it_pg; then idle="idle 0"; else idle="Sleep 0"; fi
	it_eq "$(daemon_sessions)" "$idle" "the paused daemon's session and its open transactions (none left open)"
	it_check_consistent "while paused"
}

it_items_matched 60000 89
expected=$(it_sql "SELECT count(*) FROM items WHERE matched")
hw=$(it_sql "SELECT max(id) FROM items")
# 200 batches of 300, each made to take ~15 ms by a guard that burns CPU on every
# row (always true, so `matched` is still the rows whose new_status was NULL)
for sleep in 0 300; do
	it_config "$IT_DIR/sleep$sleep.yaml" "where: new_status IS NULL AND md5(repeat(payload, 1000)) IS NOT NULL
batch:
  size: 300
  min_size: 300
  max_size: 300
  sleep: ${sleep}ms"
done

# --- run 1: pause between batches, SIGTERM while paused --------------------------------
run=1
it_start "$IT_DIR/run1.log" run -c "$IT_DIR/sleep300.yaml"
pid=$IT_PID
it_wait_ckpt 20 "batches_done >= 2" "$IT_T"
signal_state USR1 "$pid" paused 1000
it_contains "$IT_DIR/run1.log" "state running -> paused" "run 1 log"
hold_paused "$pid"
t0=$(it_now_ms)
kill -TERM "$pid"
while it_alive "$pid" && (($(it_now_ms) - t0 < 10000)); do
	sleep 0.02
done
it_le "$(($(it_now_ms) - t0))" 2000 "SIGTERM while paused: exit within 2 s (ms)"
it_alive "$pid" && it_fail "SIGTERM while paused: the daemon is still running after 10 s"
wait "$pid"
it_eq "$?" 0 "SIGTERM while paused: exit status ($(tail -n 3 "$IT_DIR/run1.log"))"
it_eq "$(ckpt state)" stopped "checkpoint state after SIGTERM while paused"
it_check_consistent "after SIGTERM while paused"
cursor=$(ckpt cursor)
batches=$(ckpt batches_done)
it_le 2 "$batches" "run 1 committed batches"
it_le "$batches" 100 "run 1 stopped mid-range (batches done)"
it_log "run 1: stopped while paused at cursor $cursor after $batches batches"

# --- run 2: resume at the cursor, pause with a batch in flight, resume, finish ----------
run=2
it_start "$IT_DIR/run2.log" run -c "$IT_DIR/sleep0.yaml"
pid=$IT_PID
it_wait_ckpt 20 "batches_done >= $batches + 10" "$IT_T"
it_contains "$IT_DIR/run2.log" "(was stopped, last owner $(uname -n):${IT_PIDS[0]}) at cursor $cursor:" \
	"run 2 resumes at the stored cursor"
signal_state USR1 "$pid" paused 1000
hold_paused "$pid"
b=$(ckpt batches_done)
it_le "$b" 190 "run 2 paused mid-range (batches done)"
signal_state USR2 "$pid" running 1000
it_wait_ckpt 10 "batches_done > $b" "$IT_T"
it_contains "$IT_DIR/run2.log" "state paused -> running" "run 2 log"
wait "$pid"
it_eq "$?" 0 "run 2 exit status ($(tail -n 3 "$IT_DIR/run2.log"))"
it_contains "$IT_DIR/run2.log" "state running -> done" "run 2 log"
it_check_consistent "at the end"
it_eq "$(ckpt "CONCAT_WS(' ', state, rows_done)") $(ckpt cursor0)" "done $expected $hw" "final checkpoint row"
it_eq "$(it_sql "SELECT count(*) FROM items WHERE matched AND $(it_distinct new_status old_status)")" 0 \
	"rows not backfilled"
it_eq "$(it_sql "SELECT count(*) FROM items WHERE NOT matched AND new_status <> -1")" 0 \
	"application-written rows clobbered"
it_pass

#!/usr/bin/env bash
# The status socket answers within 1 s at any time, also while the batch in flight
# is blocked on a row lock for 10 s: the database never stalls the event loop.
source "$(dirname "$0")/../lib/itest.sh"
it_setup status_during_lock

it_items 20000
it_config "$IT_DIR/job.yaml" "batch:
  size: 1000
  max_size: 1000
  lock_timeout: 30s"
sock=$IT_DIR/status.sock

# wait_daemon_lock_waits SECONDS N: until N of the daemon's sessions wait on a row
# lock; polls every 0.15 s, as MariaDB refreshes INNODB_TRX only after 0.1 s unread
wait_daemon_lock_waits() {
	local deadline=$((SECONDS + $1)) got
	while ((SECONDS < deadline)); do
		got=$(it_daemon_lock_waits 2>/dev/null) && [[ "$got" == "$2" ]] && return 0
		sleep 0.15
	done
	it_fail "timed out waiting for $2 of the daemon's sessions to wait on a lock (last: [${got:-}])"
}

# the holder: one row in the middle of the range, locked for 10 s
mid=$(it_sql "SELECT id FROM items ORDER BY id LIMIT 1 OFFSET 10000")
if it_pg; then
	it_sql "BEGIN; SELECT id FROM items WHERE id = $mid FOR UPDATE;
		SELECT pg_sleep(10); COMMIT;" >/dev/null &
	IT_PIDS+=("$!")
	it_wait_sql 10 "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(10)%' AND state = 'active' AND pid <> pg_backend_pid()" 1
else
	it_sql "BEGIN; SELECT id FROM items WHERE id = $mid FOR UPDATE;
		DO SLEEP(10); COMMIT;" >/dev/null &
	IT_PIDS+=("$!")
	it_wait_sql 10 "SELECT count(*) FROM information_schema.PROCESSLIST WHERE INFO = 'DO SLEEP(10)' AND DB = '$IT_DB'" 1
fi

it_start "$IT_DIR/run.log" run -c "$IT_DIR/job.yaml"
# wait until the daemon's batch waits on the lock
wait_daemon_lock_waits 10 1

worst=0
for i in $(seq 1 10); do
	t0=$(date +%s%N)
	out=$("$BACKFILLD_BIN" status --json -s "$sock")
	it_eq "$?" 0 "status $i while the batch is blocked"
	ms=$((($(date +%s%N) - t0) / 1000000))
	((ms > worst)) && worst=$ms
	it_eq "$(it_json_field "$out" state)" running "state while blocked"
	sleep 0.5
done
it_log "worst status answer while blocked: ${worst} ms"
it_le "$worst" 1000 "status answer time (ms) while a batch is blocked"
it_eq "$(it_daemon_lock_waits)" 1 "the batch was still blocked while status answered"

wait "$IT_PID"
it_eq "$?" 0 "run exit status once the lock is gone"
it_eq "$(it_sql "SELECT count(*) FROM items WHERE $(it_distinct new_status old_status)")" 0 "rows not backfilled"
it_pass

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

# the holder: one row in the middle of the range, locked for 10 s
it_sql "BEGIN; SELECT id FROM items WHERE id = (SELECT id FROM items ORDER BY id OFFSET 10000 LIMIT 1) FOR UPDATE;
	SELECT pg_sleep(10); COMMIT;" >/dev/null &
IT_PIDS+=("$!")
it_wait_sql 10 "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(10)%' AND state = 'active' AND pid <> pg_backend_pid()" 1

it_start "$IT_DIR/run.log" run -c "$IT_DIR/job.yaml"
# wait until the daemon's batch waits on the lock
it_wait_sql 10 "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'backfilld status_during_lock' AND wait_event_type = 'Lock'" 1

worst=0
for i in $(seq 1 10); do
	t0=$(date +%s%N)
	out=$("$BACKFILLD_BIN" status --json -s "$sock")
	it_eq "$?" 0 "status $i while the batch is blocked"
	ms=$((($(date +%s%N) - t0) / 1000000))
	((ms > worst)) && worst=$ms
	it_eq "$(it_sql "SELECT \$j\$$out\$j\$::jsonb ->> 'state'")" running "state while blocked"
	sleep 0.5
done
it_log "worst status answer while blocked: ${worst} ms"
it_le "$worst" 1000 "status answer time (ms) while a batch is blocked"
it_eq "$(it_sql "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'backfilld status_during_lock' AND wait_event_type = 'Lock'")" \
	1 "the batch was still blocked while status answered"

wait "$IT_PID"
it_eq "$?" 0 "run exit status once the lock is gone"
it_eq "$(it_sql "SELECT count(*) FROM items WHERE new_status IS DISTINCT FROM old_status")" 0 "rows not backfilled"
it_pass

#!/usr/bin/env bash
# Batches aim at batch.contended_target_time while other sessions wait on their
# locks: from the start until the lock samples have shown nobody waiting, then
# stepping up towards target_time (twice the contended target first: other
# sessions run), and again at the contended target as soon as a session waits behind
# a batch (seen by pg_blocking_pids / INNODB_LOCK_WAITS, not guessed); once nobody
# waits, at twice the contended target for the rest of the run. The sessions that
# waited lose nothing and the table ends exact.
source "$(dirname "$0")/../lib/itest.sh"
it_setup contended_batches

it_items_matched 200000 101
# one row in every 6,000 ids (about one a batch of 2,000 keys) takes 0.3 s, so that
# a batch is still in flight when a waiter comes
if it_pg; then
	expr="CASE WHEN id % 6000 < 3 THEN old_status + length(pg_sleep(0.3)::text) ELSE old_status END"
else
	expr="IF(id % 6000 < 3, old_status + SLEEP(0.3), old_status)"
fi
it_config_sampled "$IT_DIR/job.yaml" 2000 "$expr"

# wait_target MS WHY: polls status until target_ms is MS (20 s at most); J holds it
wait_target() {
	local deadline=$((SECONDS + 20))
	while :; do
		J=$(it_status_json) || it_fail "no status answer: $(tail -n 3 "$IT_DIR/run.log")"
		[[ "$(it_jget "$J" target_ms)" == "$1" ]] && return 0
		((SECONDS < deadline)) || it_fail "target never went to $1 $2: $J"
		sleep 0.1
	done
}

# another session runs a statement during the start, as on a server in use: with
# nobody else running, the presumption would end after 0.5 s (start_presumption)
it_sleeper 5
it_start "$IT_DIR/run.log" run -c "$IT_DIR/job.yaml"

# target_ms: 50 from the start ...
it_wait_file 10 "$IT_DIR/run.log" "state starting -> running"
J=$(it_status_json) || it_fail "no status answer"
it_eq "$(it_jget "$J" target_ms)" 50 "target at the start (contended until shown otherwise)"
# ... 100 once the samples have shown nobody waiting for 2 s, and 200 2 s later
wait_target 200 "once nobody waited"
it_contains "$IT_DIR/run.log" "batches aim at 50 ms (batch.contended_target_time) until no session is seen" \
	"log at the start"
it_contains "$IT_DIR/run.log" "no session waits on the batches' locks and the lag is low, but other sessions run: they aim at 100 ms" \
	"log when nobody waited"
it_contains "$IT_DIR/run.log" "nobody seen waiting on the batches' locks for 2 s: they aim at 200 ms" \
	"log of the ramp's next step"
it_eq "$(it_jget "$J" state)" running "still running when the target went back (make the table larger)"

# now an application session writes rows the batch in flight has locked: the
# first keys after the cursor (the value stays as it was, so nothing changes)
waiter() {
	local c
	while [[ ! -e "$IT_DIR/stop" ]]; do
		c=$(it_jget "$(it_status_json)" cursor) || break
		c=${c#[}
		c=${c%]}
		[[ "$c" =~ ^[0-9]+$ ]] || c=0
		it_sql "UPDATE items SET new_status = new_status
			WHERE id = (SELECT id FROM (SELECT min(id) AS id FROM items WHERE id > $c) s)" \
			>/dev/null 2>>"$IT_DIR/waiter.err" || true
		sleep 0.05
	done
}
waiter &
IT_PIDS+=("$!")
wait_target 50 "while a session waited"
it_contains "$IT_DIR/run.log" "batches aim at 50 ms (batch.contended_target_time) while sessions wait on their locks" \
	"log when a session waited"
touch "$IT_DIR/stop"
# 10 s after the last wait: twice the contended target, not target_time
wait_target 100 "once the waits had ended"
it_contains "$IT_DIR/run.log" "they aim at 100 ms (2 x batch.contended_target_time for the rest of the run" \
	"log when the waits had ended"
it_eq "$(it_jget "$J" state)" running "still running when the waits had ended (make the table larger)"

wait "$IT_PID"
it_eq "$?" 0 "run exit status"
wait "$IT_SLEEPER"
it_check_consistent "at the end"
it_eq "$(it_ckpt state)" done "final state"
it_eq "$(it_sql "SELECT count(*) FROM items WHERE matched AND $(it_distinct new_status old_status)")" 0 \
	"rows not backfilled"
it_eq "$(it_sql "SELECT count(*) FROM items WHERE NOT matched AND new_status <> -1")" 0 \
	"application-written rows clobbered"
it_pass

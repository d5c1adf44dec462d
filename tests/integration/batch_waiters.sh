#!/usr/bin/env bash
# Just before its COMMIT, while it still holds every lock it took, a batch counts
# the sessions waiting on them (pg_blocking_pids / INNODB_LOCK_WAITS): a session
# blocked by a batch waits until that COMMIT, so the count misses none, however
# short the batch, where the lock samples every 0.1 s miss most waits on short
# batches. Here two application sessions wait on one batch: that batch counts
# exactly 2, every other batch 0, and the batches then aim at the contended target.
# (On MariaDB a batch that ends less than 0.1 s after the last read of InnoDB's
# lock views, which InnoDB refreshes only after 0.1 s unread, takes no sample.)
source "$(dirname "$0")/../lib/itest.sh"
it_setup batch_waiters

it_items_matched 30000 101
# three rows of the keys' third batch of 2,000 (ids ascending, so the batch locks
# a and b before it sleeps 1 s on x)
ids=$(it_sql "SELECT id FROM items WHERE matched ORDER BY id LIMIT 3 OFFSET 5000" | tr '\n' ' ')
read -r b a x <<<"$ids"
[[ "$b" =~ ^[0-9]+$ && "$a" =~ ^[0-9]+$ && "$x" =~ ^[0-9]+$ ]] || it_fail "no rows picked: [$ids]"
if it_pg; then
	expr="CASE WHEN id = $x THEN old_status + length(pg_sleep(1)::text) ELSE old_status END"
else
	expr="IF(id = $x, old_status + SLEEP(1), old_status)"
fi
it_config_sampled "$IT_DIR/job.yaml" 2000 "$expr"
sed -i "s/^  progress_interval: 0s/  progress_interval: 0s\n  level: debug/" "$IT_DIR/job.yaml"
it_contains "$IT_DIR/job.yaml" "level: debug" "job logging each batch"

# waiter ID: an application session writing row ID (its value unchanged) every
# 20 ms until told to stop; blocked while a batch holds the row
waiter() {
	while [[ ! -e "$IT_DIR/stop" ]]; do
		it_sql "UPDATE items SET new_status = new_status WHERE id = $1" >/dev/null \
			2>>"$IT_DIR/waiter.err" || echo "update of $1 failed" >>"$IT_DIR/waiter.err"
		sleep 0.02
	done
}
waiter "$a" &
IT_PIDS+=("$!")
waiter "$b" &
IT_PIDS+=("$!")

it_start "$IT_DIR/run.log" run -c "$IT_DIR/job.yaml"
wait "$IT_PID"
it_eq "$?" 0 "run exit status"
touch "$IT_DIR/stop"
wait "${IT_PIDS[@]:0:2}" 2>/dev/null

lines=$(grep -c -E ", (waiters not counted|[0-9]+ waiting on it), next size" "$IT_DIR/run.log")
it_eq "$lines" 15 "batch lines in the debug log"
uncounted=$(grep -c -F ", waiters not counted," "$IT_DIR/run.log")
if it_pg; then
	it_eq "$uncounted" 0 "batches not counted (PostgreSQL's views are live)"
else
	# InnoDB's lock views: a batch that ends less than 0.1 s after the last read
	# leaves them unread; the long batch the sessions waited on is counted
	it_log "batches not counted (InnoDB's lock views read less than 0.1 s before): $uncounted"
fi
it_eq "$(grep -c -F ", 2 waiting on it," "$IT_DIR/run.log")" 1 "batches that counted the two sessions"
it_eq "$(grep -c -F ", 0 waiting on it," "$IT_DIR/run.log")" $((lines - 1 - uncounted)) "batches that counted none"
# the batch that counted them took the 1 s sleep
ms=$(grep -F ", 2 waiting on it," "$IT_DIR/run.log" | sed -E 's/.* rows, ([0-9]+)\.[0-9] ms,.*/\1/')
it_le 1000 "$ms" "duration of the batch the sessions waited on"
it_contains "$IT_DIR/run.log" "batches aim at 50 ms (batch.contended_target_time) while sessions wait on their locks" \
	"contended target once they waited"
[[ -s "$IT_DIR/waiter.err" ]] && it_fail "an application session failed: $(head -n 3 "$IT_DIR/waiter.err")"

it_check_consistent "at the end"
it_eq "$(it_ckpt state)" done "final state"
it_pass

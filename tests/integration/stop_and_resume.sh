#!/usr/bin/env bash
# SIGTERM, then SIGINT, in the middle of a run: each time the daemon lets the batch
# in flight commit, records `stopped`, and exits 0 within a couple of seconds, with
# the checkpoint matching the data exactly; each restart resumes at the stored
# cursor, and the last one finishes with an exact table and state `done`.
# SIGTERM lands while a batch is in flight (no sleep between batches), SIGINT while
# the daemon sleeps between batches.
source "$(dirname "$0")/../lib/itest.sh"
it_setup stop_and_resume

job="stop_and_resume"


# stop_run SIGNAL PID: send SIGNAL mid-run; the daemon must exit 0 within 2 s
stop_run() {
	local sig=$1 pid=$2 t0 rc
	t0=$(it_now_ms)
	kill -s "$sig" "$pid"
	while it_alive "$pid" && (($(it_now_ms) - t0 < 10000)); do
		sleep 0.02
	done
	it_le "$(($(it_now_ms) - t0))" 2000 "$sig: exit within 2 s (ms)"
	it_alive "$pid" && it_fail "$sig: the daemon is still running after 10 s"
	wait "$pid"
	rc=$?
	it_eq "$rc" 0 "$sig: exit status ($(tail -n 3 "$IT_DIR/run$run.log"))"
}

ckpt() {
	it_ckpt "$1" "$job"
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

prev_cursor=""
prev_owner=""
batches=0
run=0
for cycle in TERM:0:10 INT:300:3; do
	IFS=: read -r sig sleep more <<<"$cycle"
	run=$((run + 1))
	it_start "$IT_DIR/run$run.log" run -c "$IT_DIR/sleep$sleep.yaml"
	pid=$IT_PID
	# let this run commit some batches of its own
	it_wait_ckpt 20 "batches_done >= $batches + $more AND owner = '$(uname -n):$pid'" "$IT_T"
	if [[ -n "$prev_cursor" ]]; then
		it_contains "$IT_DIR/run$run.log" "(was stopped, last owner $prev_owner) at cursor $prev_cursor:" \
			"run $run resumes at the stored cursor"
	fi
	stop_run "SIG$sig" "$pid"
	it_contains "$IT_DIR/run$run.log" "SIG$sig received" "run $run log"
	it_contains "$IT_DIR/run$run.log" "stopped at" "run $run log"
	it_eq "$(ckpt state)" stopped "checkpoint state after SIG$sig"
	it_check_consistent "after SIG$sig"
	cursor=$(ckpt cursor)
	cur=$(ckpt cursor0)
	it_le "$(ckpt batches_done)" 190 "SIG$sig stopped the run mid-range (batches done)"
	it_le "$((batches + more))" "$(ckpt batches_done)" "run $run committed batches"
	[[ -n "$cur" ]] || it_fail "SIG$sig: no cursor stored"
	it_le "$((cur + 1))" "$hw" "SIG$sig: cursor below the high-water mark"
	prev_cursor=$cursor
	prev_owner="$(uname -n):$pid"
	batches=$(ckpt batches_done)
	it_log "SIG$sig: stopped at cursor $cursor after $batches batches"
done

# and to the end
run=$((run + 1))
it_start "$IT_DIR/run$run.log" run -c "$IT_DIR/sleep0.yaml"
wait "$IT_PID"
it_eq "$?" 0 "final run exit status ($(tail -n 3 "$IT_DIR/run$run.log"))"
it_contains "$IT_DIR/run$run.log" "(was stopped, last owner $prev_owner) at cursor $prev_cursor:" \
	"final run resumes at the stored cursor"
it_contains "$IT_DIR/run$run.log" "state running -> done" "final run log"
it_check_consistent "at the end"
it_eq "$(ckpt "CONCAT_WS(' ', state, rows_done)") $(ckpt cursor0)" "done $expected $hw" "final checkpoint row"
it_eq "$(it_sql "SELECT count(*) FROM items WHERE matched AND $(it_distinct new_status old_status)")" 0 \
	"rows not backfilled"
it_eq "$(it_sql "SELECT count(*) FROM items WHERE NOT matched AND new_status <> -1")" 0 \
	"application-written rows clobbered"
it_pass

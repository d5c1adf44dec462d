#!/usr/bin/env bash
# While one `run` of a job is going, a second `run` of the same job exits 1 within a
# few seconds with a message naming the owner as HOST:PID (the first daemon's pid), as
# does a `rollback` of the job; each writes nothing to the checkpoint row, and the
# first run is unaffected: it keeps its lock and row, and finishes exit 0 with an
# exact table and an exact rows_done.
source "$(dirname "$0")/../lib/itest.sh"
it_setup single_instance

it_items_matched 12000 89
expected=$(it_sql "SELECT count(*) FROM items WHERE matched")
# 60 batches of 200 with 100 ms between them: the first run lasts about 6 s
it_config "$IT_DIR/job.yaml" "batch:
  size: 200
  min_size: 200
  max_size: 200
  sleep: 100ms"

it_start "$IT_DIR/first.log" run -c "$IT_DIR/job.yaml"
first=$IT_PID
owner="$(uname -n):$first"
it_wait_ckpt 20 "batches_done > 0" "$IT_T"
it_eq "$(it_ckpt "CONCAT_WS(' ', state, owner)")" \
	"running $owner" "checkpoint row of the first run"

# the second instance: refused, quickly, naming the first as the owner
t0=$(it_now_ms)
timeout 20 "$BACKFILLD_BIN" run -c "$IT_DIR/job.yaml" >"$IT_DIR/second.out" 2>"$IT_DIR/second.log"
rc=$?
elapsed=$(($(it_now_ms) - t0))
it_eq "$rc" 1 "second run exit status ($(tail -n 3 "$IT_DIR/second.log"))"
it_le "$elapsed" 5000 "second run refused within 5 s (ms)"
it_contains "$IT_DIR/second.log" "is already running (owner $owner, state running)" \
	"second run names the owner"

# its rollback shares the job's lock: refused too, naming the forward run's owner
timeout 20 "$BACKFILLD_BIN" rollback -c "$IT_DIR/job.yaml" >"$IT_DIR/rollback.out" 2>"$IT_DIR/rollback.log"
it_eq "$?" 1 "rollback during the run: exit status ($(tail -n 3 "$IT_DIR/rollback.log"))"
it_contains "$IT_DIR/rollback.log" \
	"job single_instance is running (owner $owner, state running); its rollback single_instance:rollback waits until it ends" \
	"rollback during the run names the run's owner"

# the first run did not notice: still running, still the owner, still making progress
it_alive "$first" || it_fail "the first run died when the second one started ($(tail -n 3 "$IT_DIR/first.log"))"
IT_CHECKS=$((IT_CHECKS + 1))
read -r state row_owner batches < <(it_sql "SELECT state, owner, batches_done FROM backfilld_checkpoint
	WHERE job = 'single_instance'" | tr '|' ' ')
it_eq "$state $row_owner" "running $owner" "checkpoint row after the refused second run"
it_eq "$(it_ckpt "last_error IS NULL")" "$IT_T" \
	"no error recorded by the refused second run"
it_wait_ckpt 10 "batches_done > $batches" "$IT_T"

# the first run is still alone on its job: it ends exactly as if nothing had happened
wait "$first"
it_eq "$?" 0 "first run exit status ($(tail -n 3 "$IT_DIR/first.log"))"
it_contains "$IT_DIR/first.log" "state running -> done" "first run log"
if grep -qE "connection lost|state running -> failed" "$IT_DIR/first.log"; then
	it_fail "the first run was disturbed: $(grep -E "connection lost|failed" "$IT_DIR/first.log" | head -n 3)"
fi
it_check_consistent "after the first run"
it_eq "$(it_ckpt "CONCAT_WS(' ', state, rows_done, owner)")" \
	"done $expected $owner" "final checkpoint row"
it_eq "$(it_sql "SELECT count(*) FROM items WHERE matched AND $(it_distinct new_status old_status)")" 0 \
	"rows not backfilled"
it_eq "$(it_sql "SELECT count(*) FROM items WHERE NOT matched AND new_status <> -1")" 0 \
	"application-written rows clobbered"
it_pass

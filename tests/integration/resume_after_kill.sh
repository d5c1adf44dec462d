#!/usr/bin/env bash
# kill -9 at 20 random instants of one run, restarting each time: after every kill
# the checkpoint matches the data exactly (never ahead, never behind), every restart
# resumes right after the last committed batch, and the final table is exact with
# rows_done equal to the rows really matched (no batch counted twice).
source "$(dirname "$0")/../lib/itest.sh"
it_setup resume_after_kill

it_items_matched 150000 101
expected=$(it_sql "SELECT count(*) FROM items WHERE matched")
# 20 ms between batches: 20 runs of 20..400 ms cover about half of the table, so
# the last kill lands well before the end on a fast machine too
it_config "$IT_DIR/job.yaml" "batch:
  size: 300
  max_size: 400
  sleep: 20ms"

kills=0
resumes=0
run=0
prev_cursor=""
while ((kills < 20)); do
	run=$((run + 1))
	((run <= 60)) || it_fail "only $kills kills landed in 60 runs"
	it_start "$IT_DIR/run$run.log" run -c "$IT_DIR/job.yaml"
	# a random instant: 20..400 ms into this run
	if it_kill_at 20 380; then
		kills=$((kills + 1))
	else
		it_fail "the job ended before kill $((kills + 1)) (exit $IT_RC): make the table larger"
	fi
	it_check_consistent "after kill $kills"
	if [[ -n "$prev_cursor" ]] && grep -q "resuming job" "$IT_DIR/run$run.log"; then
		# this run resumed exactly where the previous one had committed (unless
		# the kill landed before it had even read its checkpoint)
		it_contains "$IT_DIR/run$run.log" "at cursor $prev_cursor:" "run $run resume point"
		resumes=$((resumes + 1))
	fi
	prev_cursor=""
	if it_table_exists backfilld_checkpoint; then
		prev_cursor=$(it_ckpt cursor) || it_fail "after kill $kills: cannot read the checkpoint"
	fi
done
it_log "$kills kills landed, $resumes resume points checked; cursor now $prev_cursor"
it_le 10 "$resumes" "resume points checked"

# and once more to the end
out=$(it_run run -c "$IT_DIR/job.yaml" 2>"$IT_DIR/final.log")
it_eq "$?" 0 "final run exit status ($(tail -n 2 "$IT_DIR/final.log"))"
[[ -z "$prev_cursor" ]] || it_contains "$IT_DIR/final.log" "at cursor $prev_cursor:" "final resume point"
it_check_consistent "at the end"
it_eq "$(it_ckpt "CONCAT_WS(' ', state, rows_done)")" "done $expected" \
	"final checkpoint (rows_done counts every matched row once)"
it_eq "$(it_sql "SELECT count(*) FROM items WHERE matched AND $(it_distinct new_status old_status)")" 0 \
	"rows not backfilled"
it_eq "$(it_sql "SELECT count(*) FROM items WHERE NOT matched AND new_status <> -1")" 0 \
	"application-written rows clobbered"
it_pass

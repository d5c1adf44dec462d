# shellcheck shell=bash disable=SC2034 # the CH_* counters: lib.sh writes them out
# Chaos scenario kill9 (sourced by tests/chaos/run.sh): kill -9 the daemon at
# $CH_KILLS random instants of its runs, starting it again after each. Every kill
# must land while the job runs (the process alive, the job not done); after every
# kill the checkpoint matches the data exactly (ch_check_consistent), and every run
# that resumes starts right after the last committed batch. The last run finishes
# with exit 0 and an exact table.

scenario_kill9() {
	local run=0 prev_cursor="" st delay rc
	ch_fresh_table "$CH_ROWS_N"
	# 40 batches per kill: the kills (about 12 batches apart here) take a third to a
	# half of the job, and the last run has a good part left
	ch_config "$IT_DIR/job.yaml" off "$(ch_batch_yaml $((CH_KILLS * 40)))"
	while ((CH_FAULTS < CH_KILLS)); do
		run=$((run + 1))
		CH_LOG=$IT_DIR/run$run.log
		it_start "$CH_LOG" run -c "$IT_DIR/job.yaml"
		((run == 1)) || CH_RESTARTS=$((CH_RESTARTS + 1))
		# a random instant of this run: from its start (connecting, creating the
		# checkpoint) to deep into its batches
		ch_rand delay 10 600
		ch_ms_sleep "$delay"
		if ! it_alive "$IT_PID"; then
			wait "$IT_PID"
			rc=$?
			((rc == 0)) || it_fail "run $run exited with status $rc before kill $((CH_FAULTS + 1))"
			it_fail "the job ended before kill $((CH_FAULTS + 1)): the table is too small for $CH_KILLS kills"
		fi
		kill -9 "$IT_PID"
		wait "$IT_PID" 2>/dev/null
		CH_FAULTS=$((CH_FAULTS + 1))
		ch_note
		ch_wait_sessions_gone 30
		st=""
		if it_table_exists backfilld_checkpoint; then
			st=$(it_ckpt state) || it_fail "after kill $CH_FAULTS: cannot read the checkpoint"
		fi
		[[ "$st" != "done" ]] || it_fail "kill $CH_FAULTS (at $delay ms) landed after the job was done"
		ch_check_consistent "after kill $CH_FAULTS (at $delay ms into run $run)"
		if [[ -n "$prev_cursor" ]] && grep -q "resuming job" "$CH_LOG"; then
			# this run resumed exactly where the previous one had committed
			it_contains "$CH_LOG" "at cursor $prev_cursor:" "run $run's resume point"
		fi
		prev_cursor=""
		if it_table_exists backfilld_checkpoint; then
			prev_cursor=$(it_ckpt cursor) || it_fail "after kill $CH_FAULTS: cannot read the checkpoint"
		fi
		ch_app_write
	done
	ch_log "$CH_FAULTS kills landed; cursor now $prev_cursor of $CH_HW"

	# the last run, to the end
	run=$((run + 1))
	CH_LOG=$IT_DIR/run$run.log
	it_start "$CH_LOG" run -c "$IT_DIR/job.yaml"
	CH_RESTARTS=$((CH_RESTARTS + 1))
	ch_note
	ch_wait_exit 600
	[[ -z "$prev_cursor" ]] || it_contains "$CH_LOG" "at cursor $prev_cursor:" "the last run's resume point"
	ch_final_check
}

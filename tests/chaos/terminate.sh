# shellcheck shell=bash disable=SC2034 # the CH_* counters: lib.sh writes them out
# Chaos scenario terminate (sourced by tests/chaos/run.sh): $CH_TERMINATES times, at
# random instants of one run, the superuser ends all the daemon's sessions on the
# primary from another session (pg_terminate_backend / KILL CONNECTION): the batch
# connection, wherever it is (in a batch, in its commit, between batches), and the
# throttle's heartbeat writer and probe. Five of the times (every fourth; every tenth
# with --long) the daemon first runs big batches (live tuning through the status
# socket) and the termination lands in the middle of one's UPDATE: the server then
# takes a while to roll it back and end the session, holding the job's lock
# meanwhile. Each time the same process reconnects
# from the checkpoint and goes on; it finishes with exit 0 and an exact table.

# terminate_in_update SECONDS: wait until the daemon's batch connection runs an
# UPDATE of the table (not of its checkpoint)
terminate_in_update() {
	local deadline=$((SECONDS + $1)) n
	while :; do
		if it_pg; then
			n=$(it_admin_sql "SELECT count(*) FROM pg_stat_activity
				WHERE application_name = 'backfilld $IT_NAME' AND state = 'active'
				AND query LIKE 'UPDATE %items% SET %'") || n=0
		else
			n=$(it_admin_sql "SELECT COUNT(*) FROM information_schema.PROCESSLIST
				WHERE USER = '$BACKFILLD_MY_USER' AND DB = '$IT_DB'
				AND INFO LIKE 'UPDATE %items% SET %'") || n=0
		fi
		[[ "$n" == 1 ]] && return 0
		it_alive "$IT_PID" || it_fail "the daemon exited while waiting for its UPDATE"
		((SECONDS < deadline)) || it_fail "no UPDATE of the daemon seen in $1 s"
		sleep 0.01
	done
}

# terminate_sizes MIN SIZE MAX: set the batch limits through the status socket
terminate_sizes() {
	"$BACKFILLD_BIN" set "batch.min_size=$1" "batch.size=$2" "batch.max_size=$3" \
		-s "$IT_DIR/status.sock" >/dev/null || it_fail "cannot set the batch sizes to $1/$2/$3"
}

scenario_terminate() {
	local i n b delay where small big every=$((CH_TERMINATES / 5))
	ch_fresh_table "$CH_ROWS_N"
	# 100 batches per termination: each takes about 20 (the random instant, the
	# reconnect, 3 batches), the big batches take their share, and the job goes on
	ch_config "$IT_DIR/job.yaml" replica "$(ch_batch_yaml $((CH_TERMINATES * 100)))"
	small=$((CH_ROWS_N / (CH_TERMINATES * 100)))
	((small >= 20)) || small=20
	# a big batch: 50,000 rows (the default batch.max_size), a 20th of smaller tables
	big=$((CH_ROWS_N / 20))
	((big <= 50000)) || big=50000
	ch_start
	for ((i = 1; i <= CH_TERMINATES; i++)); do
		if ((i % every == 0)); then
			# once the batch in flight has committed, every batch is big
			terminate_sizes "$big" "$big" "$big"
			b=$(ch_batches)
			ch_wait_batches 60 $((b + 1))
			ch_running_check "before termination $i"
			terminate_in_update 60
			where="in the UPDATE of a batch of $big rows"
		else
			ch_rand delay 50 600
			ch_ms_sleep "$delay"
			ch_running_check "before termination $i"
			where="at $delay ms"
		fi
		n=$(ch_kill_sessions) || it_fail "termination $i: cannot end the daemon's sessions"
		[[ "$n" =~ ^[0-9]+$ ]] && ((n >= 1)) || it_fail "termination $i: no session of the daemon to end ($n)"
		CH_FAULTS=$i
		ch_note
		((i % every != 0)) || terminate_sizes "$((small / 4))" "$small" "$small"
		ch_wait_reconnect 60 "$i" 3
		ch_pause_check "after termination $i ($where, $n sessions)"
		ch_app_write
	done
	ch_finish_same_process "$CH_TERMINATES"
}

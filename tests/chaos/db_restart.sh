# shellcheck shell=bash disable=SC2034 # the CH_* counters: lib.sh writes them out
# Chaos scenario db_restart (sourced by tests/chaos/run.sh): restart the primary
# $CH_DB_RESTARTS times under one running daemon, at random instants: PostgreSQL
# with fast and immediate shutdowns in turn (an immediate one is a crash: commits
# not yet written are lost, with their checkpoint update), MariaDB with SHUTDOWN and
# kill -9 of mariadbd in turn. The same process must notice each, reconnect from the
# checkpoint, go on and finish with exit 0, the checkpoint's owner still itself, and
# the table exact. The throttle (heartbeat on the primary, lag on the replica) loses
# its primary connections too and must recover as well.

# db_restart_primary MODE: restart the primary (fast/immediate, clean/kill)
db_restart_primary() {
	if it_pg; then
		servers_pg_restart primary "$1"
	else
		servers_my_stop primary "$1" && servers_my_start primary
	fi
}

scenario_db_restart() {
	local i mode t0 delay
	local -a modes=(fast immediate)
	it_my && modes=(clean kill)
	ch_fresh_table "$CH_ROWS_N"
	ch_config "$IT_DIR/job.yaml" replica "$(ch_batch_yaml)"
	ch_start
	for ((i = 1; i <= CH_DB_RESTARTS; i++)); do
		# a random instant while batches run
		ch_rand delay 100 1500
		ch_ms_sleep "$delay"
		mode=${modes[$(((i - 1) % 2))]}
		ch_running_check "before restart $i"
		t0=$SECONDS
		db_restart_primary "$mode" || it_fail "restart $i ($mode) of the primary failed"
		CH_FAULTS=$i
		ch_note
		# the same process reconnects by itself
		ch_wait_reconnect 120 "$i" 5
		ch_log "restart $i ($mode): back to batches after $((SECONDS - t0)) s"
		ch_pause_check "after restart $i ($mode)"
		ch_app_write
	done
	ch_finish_same_process "$CH_DB_RESTARTS"
}

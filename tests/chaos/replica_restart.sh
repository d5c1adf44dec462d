# shellcheck shell=bash disable=SC2034 # the CH_* counters: lib.sh writes them out
# Chaos scenario replica_restart (sourced by tests/chaos/run.sh): the job watches the
# replica (throttle.max_replication_lag); $CH_REPLICA_RESTARTS times, at random
# instants of one run, the replica stops (PostgreSQL: fast and immediate shutdowns in
# turn; MariaDB: SHUTDOWN and kill -9 in turn) and starts again a little later. The
# daemon must notice: turn throttled naming the replica and commit no batch while it
# is down (fail closed); once it runs again, go on by itself, and finish with exit 0
# and an exact table.

# replica_stop MODE / replica_start: the replica of the current engine
replica_stop() {
	if it_pg; then
		servers_pg_ctl replica stop -m "$1" -w -t 60 >>"$IT_DIR/pg_ctl.log" 2>&1
	else
		servers_my_stop replica "$1"
	fi
}
replica_start() {
	if it_pg; then
		servers_pg_ctl replica start -w -t 120 >>"$IT_DIR/pg_ctl.log" 2>&1
	else
		servers_my_start replica
	fi
}

scenario_replica_restart() {
	local i mode port b1 b2 b delay t0 down_ms
	local -a modes=(fast immediate)
	it_my && modes=(clean kill)
	if it_pg; then
		port=$BACKFILLD_PG_REPLICA_PORT
	else
		port=$BACKFILLD_MY_REPLICA_PORT
	fi
	ch_fresh_table "$CH_ROWS_N"
	ch_config "$IT_DIR/job.yaml" replica "$(ch_batch_yaml)"
	ch_start
	for ((i = 1; i <= CH_REPLICA_RESTARTS; i++)); do
		ch_rand delay 100 1500
		ch_ms_sleep "$delay"
		mode=${modes[$(((i - 1) % 2))]}
		ch_running_check "before replica stop $i"
		t0=$(it_now_ms)
		replica_stop "$mode" || it_fail "stop $i ($mode) of the replica failed"
		CH_FAULTS=$i
		ch_note
		ch_wait_state throttled 20
		[[ "$J" == *"replica 127.0.0.1:$port"* ]] ||
			it_fail "throttled, but not for the replica on port $port: $J"
		IT_CHECKS=$((IT_CHECKS + 1))
		# fail closed: no batch commits while the replica is down
		b1=$(ch_batches)
		sleep 2
		b2=$(ch_batches)
		it_eq "$b2" "$b1" "batches committed in 2 s with the replica down"
		it_eq "$(it_jget "$(it_status_json)" state)" throttled "state with the replica down for 2 s"
		# a random time more, then back
		ch_rand delay 0 1500
		ch_ms_sleep "$delay"
		replica_start || it_fail "start $i of the replica failed"
		down_ms=$(($(it_now_ms) - t0))
		ch_wait_state running 60
		CH_RECONNECTS=$(grep -c "throttle: .*$port reconnected" "$CH_LOG" || true)
		ch_note
		b=$(ch_batches)
		ch_wait_batches 60 $((b + 5))
		ch_pause_check "after replica stop $i ($mode)"
		ch_log "replica stop $i ($mode): down $down_ms ms, batches go on"
		ch_app_write
	done
	ch_wait_exit 600
	ch_final_check
}

#!/usr/bin/env bash
# resource_lock: replica
# A replica that cannot be reached throttles ("fail closed"): stopped in the middle
# of a run, the job turns `throttled` with "replica HOST:PORT unreachable: …" in
# status json, the checkpoint row and the log, and no batch commits; started again,
# the daemon reconnects to it by itself and the job ends exact. A daemon started
# while the replica is down commits nothing until it has read the replica.
# rows_per_sec leaves the throttled time out; the metrics count it as
# replication_lag. This scenario stops the shared replica: it always starts it again
# (EXIT trap) and waits until it replicates before it exits.
source "$(dirname "$0")/../lib/itest.sh"
source "$(dirname "$0")/../lib/servers.sh"
it_setup throttle_replica_down

CHECK_MS=250

# --- stopping and starting the replica ------------------------------------------------------
if it_pg; then
	replica_port=$BACKFILLD_PG_REPLICA_PORT
	[[ -n "${BACKFILLD_PG_REPLICA_DATA:-}" ]] || it_fail "no PostgreSQL replica (BACKFILLD_PG_REPLICA_DATA unset)"
	replica_running() { servers_pg_ctl replica status >/dev/null 2>&1; }
	replica_stop() { servers_pg_ctl replica stop -m fast -w -t 30 >/dev/null; }
	replica_start() { servers_pg_ctl replica start -w -t 60 >/dev/null; }
	# streaming again, and replayed what the primary had written when asked
	replica_caught_up() {
		local lsn ok
		lsn=$(it_admin_sql_db postgres "SELECT pg_current_wal_lsn()") || return 1
		ok=$(it_admin_sql_db postgres "SELECT count(*) FROM pg_stat_replication
			WHERE state = 'streaming' AND replay_lsn >= '$lsn'") || return 1
		[[ "$ok" =~ ^[1-9] ]]
	}
else
	replica_port=$BACKFILLD_MY_REPLICA_PORT
	[[ -n "${BACKFILLD_MY_REPLICA_SOCKET:-}" ]] || it_fail "no MariaDB replica (BACKFILLD_MY_REPLICA_SOCKET unset)"
	my_tmp=$BACKFILLD_TEST_TMP
	my_replica() {
		"$BACKFILLD_MY_BIN/mariadb" --no-defaults --connect-timeout=5 -N -B \
			-S "$BACKFILLD_MY_REPLICA_SOCKET" -u "$BACKFILLD_MY_ADMIN" "$@"
	}
	# the replica's mariadbd: its pid file, checked against its command line
	replica_pid() {
		local p
		{ read -r p <"$my_tmp/my-replica.pid"; } 2>/dev/null || return 1
		[[ "$p" =~ ^[0-9]+$ ]] && it_alive "$p" || return 1
		tr '\0' '\n' <"/proc/$p/cmdline" 2>/dev/null |
			grep -qxF -- "--defaults-file=$my_tmp/my-replica.cnf" || return 1
		echo "$p"
	}
	replica_running() { replica_pid >/dev/null; }
	# The command line servers.sh started it with, read before the first stop, less
	# --init-file: servers.sh deletes that file once the server runs (a missing init
	# file aborts mariadbd's start), and what it did (CHANGE MASTER TO, START SLAVE)
	# is kept in the data directory: the replica starts replicating by itself.
	pid=$(replica_pid) || it_fail "the MariaDB replica is not running"
	mapfile -d '' -t replica_argv <"/proc/$pid/cmdline"
	replica_cmd=()
	for a in "${replica_argv[@]}"; do
		[[ "$a" == --init-file=* ]] || replica_cmd+=("$a")
	done
	((${#replica_cmd[@]} >= 2)) || it_fail "cannot read the replica's command line"
	replica_stop() {
		local p
		p=$(replica_pid) || return 0
		timeout 30 "$BACKFILLD_MY_BIN/mariadb" --no-defaults --connect-timeout=5 \
			-S "$BACKFILLD_MY_REPLICA_SOCKET" -u "$BACKFILLD_MY_ADMIN" -e SHUTDOWN </dev/null ||
			kill -TERM "$p"
		# not our child: reaped by init, so watch /proc/PID/stat, not kill -0
		_srv_wait_gone 30 "$p"
	}
	# as servers.sh does: as the server user, in a session of its own, detached (no
	# child of this shell, so `wait` never waits for it)
	replica_start() {
		local -a pre
		local deadline=$((SECONDS + 60))
		mapfile -d '' -t pre < <(_srv_prefix)
		(
			cd "$my_tmp" || exit 1
			exec "${pre[@]}" setsid "${replica_cmd[@]}" </dev/null >>"$my_tmp/my-replica.log" 2>&1 &
			echo $! >"$my_tmp/my-replica.launch-pid"
		)
		until my_replica -e 'SELECT 1' >/dev/null 2>&1; do
			((SECONDS < deadline)) || return 1
			sleep 0.05
		done
	}
	# both replication threads run and everything the primary wrote so far is applied
	replica_caught_up() {
		local pos status
		pos=$(it_admin_sql_db mysql "SELECT @@gtid_binlog_pos") || return 1
		status=$(my_replica -e 'SHOW SLAVE STATUS\G' --column-names 2>/dev/null) || return 1
		grep -q '^ *Slave_IO_Running: Yes$' <<<"$status" &&
			grep -q '^ *Slave_SQL_Running: Yes$' <<<"$status" &&
			[[ "$(my_replica -e "SELECT MASTER_GTID_WAIT('$pos', 0)" 2>/dev/null)" == 0 ]]
	}
fi
# replica_up SECONDS: start the replica if it is down, wait until it has caught up
replica_up() {
	local deadline=$((SECONDS + $1))
	replica_running || replica_start || return 1
	until replica_caught_up; do
		((SECONDS < deadline)) || return 1
		sleep 0.1
	done
}
on_exit() {
	replica_up 60 ||
		echo "WARNING [$IT_NAME/$IT_DRIVER]: the replica is not replicating again (see $BACKFILLD_TEST_TMP)" >&2
	it_cleanup
}
trap on_exit EXIT
replica_up 30 || it_fail "the replica does not replicate before the test"

it_pg && replica_host=$BACKFILLD_PG_HOST
it_my && replica_host=$BACKFILLD_MY_HOST
unreachable_re="^replica ${replica_host//./\\.}:$replica_port unreachable: .+"

# --- the job ------------------------------------------------------------------------------
it_items_matched 30000 97
replica=$(it_replica_yaml "$replica_port")
it_config "$IT_DIR/job.yaml" "batch:
  size: 500
  min_size: 100
  max_size: 500
  sleep: 100ms"
sed -i -e '/^throttle:/,/^status:/{/^status:/!d}' "$IT_DIR/job.yaml"
cat >>"$IT_DIR/job.yaml" <<YAML
throttle:
  max_replication_lag: 1s
  check_interval: ${CHECK_MS}ms
  max_lock_waits: 0
  replicas:
$replica
YAML

# --- phase 1: the replica goes away in the middle of a run --------------------------------
t_start=$(it_now_ms)
it_start "$IT_DIR/run.log" run -c "$IT_DIR/job.yaml"
deadline=$((SECONDS + 20))
while :; do
	it_wait_state running 10
	(($(it_jget "$J" batches_done) >= 10)) && it_jpositive "$J" rows_per_sec && break
	((SECONDS < deadline)) || it_fail "fewer than 10 batches in 20 s"
	sleep 0.05
done
t_stop=$(it_now_ms)
replica_stop || it_fail "cannot stop the replica"
t_stopped=$(it_now_ms)
it_log "replica stopped in $((t_stopped - t_stop)) ms"
it_wait_state throttled 10
rate_before=$(it_jget "$J_RUNNING" rows_per_sec)
it_log "throttled $((T_SEEN - t_stopped)) ms after the replica was gone"
# the next heartbeat read (one check interval) finds the connection gone; the state
# changes at the next batch boundary; MariaDB's SHUTDOWN closes connections before
# the process is gone, so the throttle may have engaged before t_stopped
it_le $((T_SEEN - t_stopped)) $((2 * CHECK_MS + 100 + 500)) "ms from the replica's stop to state throttled"
t_throttled=$T_SEEN
reasons=$(it_jreasons "$J")
[[ "$reasons" =~ $unreachable_re ]] || it_fail "throttle_reasons with the replica down: [$reasons]"
IT_CHECKS=$((IT_CHECKS + 1))
it_wait_ckpt_throttled 5
ck=$(it_ckpt throttle_reasons)
[[ "$ck" =~ $unreachable_re ]] || it_fail "checkpoint throttle_reasons with the replica down: [$ck]"
IT_CHECKS=$((IT_CHECKS + 1))
it_contains "$IT_DIR/run.log" "throttled: replica " "log line when throttled"
grep -qE "throttled: (.*; )?replica ${replica_host//./\\.}:$replica_port unreachable: " "$IT_DIR/run.log" ||
	it_fail "no 'unreachable' in the throttled log line: $(grep 'throttled:' "$IT_DIR/run.log")"
IT_CHECKS=$((IT_CHECKS + 1))

b1=$(it_ckpt batches_done)
s1=$(it_jget "$J" batches_done)
sleep 2
it_eq "$(it_ckpt batches_done)" "$b1" "batches committed (checkpoint) in 2 s with the replica down"
J=$(it_status_json)
it_eq "$(it_jget "$J" batches_done)" "$s1" "batches committed (status) in 2 s with the replica down"
it_eq "$(it_jget "$J" state)" throttled "state with the replica down for 2 s"
[[ "$(it_jreasons "$J")" =~ $unreachable_re ]] || it_fail "throttle_reasons after 2 s: $J"
IT_CHECKS=$((IT_CHECKS + 1))
m=$(it_throttled_s replication_lag)
it_fcmp "${m:-0} >= 2" || it_fail "backfilld_throttled_seconds_total{reason=\"replication_lag\"} = [$m] after 2 s throttled"
IT_CHECKS=$((IT_CHECKS + 1))
# twice the active time throttled at least: a rate counting it would fall to a third
active_ms=$((t_throttled - t_start))
while (($(it_now_ms) - t_throttled < 2 * active_ms)); do sleep 0.1; done

t_restart=$(it_now_ms)
replica_start || it_fail "cannot start the replica again"
it_log "replica accepts connections $(($(it_now_ms) - t_restart)) ms after the start"
# the throttle reconnects with a backoff (doubling from 0.2 s up to 10 s)
it_wait_state running 25
it_log "released $((T_SEEN - t_restart)) ms after the replica was started"
it_contains "$IT_DIR/run.log" "reconnected" "log line of the throttle's reconnect"
it_contains "$IT_DIR/run.log" "throttle released after" "log line when released"
deadline=$((SECONDS + 10))
until (($(it_jget "$J" batches_done) > s1)); do
	((SECONDS < deadline)) || it_fail "no batch after the release"
	sleep 0.05
	J=$(it_status_json)
done
rate_after=$(it_jget "$J" rows_per_sec)
it_log "rows_per_sec before $rate_before, after $rate_after (throttled $(it_jget "$J" throttled_seconds) s)"
it_fcmp "$rate_after * 2 >= $rate_before && $rate_after <= 2 * $rate_before" ||
	it_fail "rows_per_sec $rate_before before the throttle, $rate_after after: the throttled time counts"
IT_CHECKS=$((IT_CHECKS + 1))
wait "$IT_PID"
it_eq "$?" 0 "run exit status"
it_contains "$IT_DIR/run.log" "state running -> done" "run log"
it_eq "$(it_ckpt state)" "done" "checkpoint state"
it_check_consistent "after the run"
it_eq "$(it_sql "SELECT count(*) FROM items WHERE id % 97 = 0 AND new_status <> -1")" 0 \
	"application-written rows clobbered"
replica_up 30 || it_fail "the replica does not catch up after phase 1"

# --- phase 2: a daemon started while the replica is down ------------------------------------
# a second job on the same rows, into another column
it_sql "ALTER TABLE items ADD COLUMN new2 int" || it_fail "cannot add new2"
replica_up 30 || it_fail "the replica does not catch up before phase 2"
sed -e "s/^job: .*/job: ${IT_NAME}_2/" -e 's/^  new_status: old_status$/  new2: old_status/' \
	"$IT_DIR/job.yaml" >"$IT_DIR/job2.yaml"
replica_stop || it_fail "cannot stop the replica (phase 2)"
it_start "$IT_DIR/run.log" run -c "$IT_DIR/job2.yaml"
it_wait_state throttled 10
# "connecting" until the first attempt has failed, then "unreachable" with the reason
deadline=$((SECONDS + 10))
while :; do
	reasons=$(it_jreasons "$J")
	[[ "$reasons" =~ $unreachable_re ]] && break
	[[ "$reasons" == "replica $replica_host:$replica_port: connecting" ]] ||
		it_fail "throttle_reasons when started with the replica down: [$reasons]"
	((SECONDS < deadline)) || it_fail "still only connecting to the stopped replica after 10 s"
	sleep 0.1
	J=$(it_status_json) || it_fail "no status answer"
	it_eq "$(it_jget "$J" state)" throttled "state while connecting to the stopped replica"
done
IT_CHECKS=$((IT_CHECKS + 1))
sleep 2
J=$(it_status_json)
it_eq "$(it_jget "$J" state)" throttled "state 2 s after a start with the replica down"
early=$(it_jget "$J" batches_done)
early_ck=$(it_ckpt batches_done "${IT_NAME}_2")
replica_start || it_fail "cannot start the replica again (phase 2)"
it_wait_state running 25
wait "$IT_PID"
it_eq "$?" 0 "run exit status (phase 2)"
hw=$(it_ckpt hw0 "${IT_NAME}_2")
it_eq "$(it_sql "SELECT count(*) FROM items WHERE id <= $hw AND $(it_distinct new2 old_status)")" 0 \
	"rows not backfilled (phase 2)"
it_eq "$(it_ckpt "CONCAT_WS(' ', state, rows_done)" "${IT_NAME}_2")" \
	"done $(it_sql "SELECT count(*) FROM items WHERE id <= $hw")" "checkpoint (phase 2)"
replica_up 30 || it_fail "the replica does not catch up after phase 2"
# fail closed from the start: no batch before the replica could be read once
it_eq "$early $early_ck" "0 0" "batches committed (status, checkpoint) before the replica was ever read"
it_pass

#!/usr/bin/env bash
# run_serial: it measures replica lag, which concurrent writers raise
# resource_lock: replica
# Replication lag throttles: with the replica's apply stopped (PostgreSQL
# pg_wal_replay_pause(), MariaDB STOP SLAVE SQL_THREAD) the job turns `throttled`
# within max_replication_lag + two check intervals, with the reason in status json,
# in the checkpoint row and in the log; no batch commits while the replica stands
# still; once it applies again the job runs by itself and ends exact. rows_per_sec
# leaves the throttled time out, the metrics count it as replication_lag, and the
# lag the test measures itself stays bounded while the replica applies.
source "$(dirname "$0")/../lib/itest.sh"
it_setup throttle_replica_lag

sock=$IT_DIR/status.sock
MAX_LAG_MS=1000 CHECK_MS=250 SLEEP_MS=100 PROBE_MS=100

# --- helpers -----------------------------------------------------------------------
replica_stop_apply() {
	if it_pg; then it_replica_sql "SELECT pg_wal_replay_pause()" >/dev/null
	else it_replica_sql "STOP SLAVE SQL_THREAD"; fi
}
replica_start_apply() {
	if it_pg; then it_replica_sql "SELECT pg_wal_replay_resume()" >/dev/null
	else it_replica_sql "START SLAVE SQL_THREAD"; fi
}
# the replica streams and has applied everything the primary had written when asked
replica_caught_up() {
	local pos
	if it_pg; then
		pos=$(it_admin_sql_db postgres "SELECT pg_current_wal_lsn()") || return 1
		[[ "$(it_admin_sql_db postgres "SELECT count(*) FROM pg_stat_replication
			WHERE state = 'streaming' AND replay_lsn >= '$pos'")" =~ ^[1-9] ]]
	else
		pos=$(it_admin_sql_db mysql "SELECT @@gtid_binlog_pos") || return 1
		[[ "$(it_replica_sql "SELECT MASTER_GTID_WAIT('$pos', 0)")" == 0 ]]
	fi
}
wait_caught_up() {
	local deadline=$((SECONDS + $1))
	until replica_caught_up 2>/dev/null; do
		((SECONDS < deadline)) || return 1
		sleep 0.1
	done
}
# the replica applies again whatever happens to this script
stop_probes() {
	[[ -n "$IT_DIR" ]] && touch "$IT_DIR/probes.stop" 2>/dev/null
	return 0
}
on_exit() {
	stop_probes
	replica_start_apply 2>/dev/null || replica_start_apply ||
		echo "WARNING [$IT_NAME/$IT_DRIVER]: could not restart the replica's apply" >&2
	wait_caught_up 30 ||
		echo "WARNING [$IT_NAME/$IT_DRIVER]: the replica has not caught up 30 s after the test" >&2
	it_cleanup
}
trap on_exit EXIT
# a replica that applies and has caught up to begin with
replica_start_apply >/dev/null 2>&1
wait_caught_up 30 || it_fail "the replica has not caught up with the primary before the test"

# --- the table, the job ------------------------------------------------------------
it_items_matched 40000 97
if it_pg; then
	replica_host=$BACKFILLD_PG_HOST replica_port=$BACKFILLD_PG_REPLICA_PORT
else
	replica_host=$BACKFILLD_MY_HOST replica_port=$BACKFILLD_MY_REPLICA_PORT
fi
replica=$(it_replica_yaml)
it_config "$IT_DIR/job.yaml" "batch:
  size: 500
  min_size: 100
  max_size: 500
  sleep: ${SLEEP_MS}ms"
# it_config's throttle section (everything off) gives way to this one
sed -i -e '/^throttle:/,/^status:/{/^status:/!d}' -e 's/^  progress_interval: 0s$/&\n  level: debug/' \
	"$IT_DIR/job.yaml"
cat >>"$IT_DIR/job.yaml" <<YAML
throttle:
  max_replication_lag: ${MAX_LAG_MS}ms
  check_interval: ${CHECK_MS}ms
  max_lock_waits: 0
  replicas:
$replica
YAML

# --- the test's own lag probe ----------------------------------------------------------
# A heartbeat of the test's own, independent of the daemon's: a client on the primary
# writes the primary's clock into lagprobe every PROBE_MS; a client on the replica
# reads it every PROBE_MS and prints "replica clock (ms) | replica clock - value (ms)".
# Both servers run on this host, one clock: the difference is the time since the
# newest heartbeat the replica has applied was written, i.e. the replica's apply lag
# plus at most one probe period (the heartbeat is up to PROBE_MS old when written
# over) plus, on PostgreSQL with synchronous_commit = off, the WAL writer's delay.
if it_pg; then
	it_sql "CREATE TABLE lagprobe (id int PRIMARY KEY, ts_us bigint);
		INSERT INTO lagprobe VALUES (1, (extract(epoch FROM clock_timestamp()) * 1e6)::bigint)"
	write_sql="UPDATE lagprobe SET ts_us = (extract(epoch FROM clock_timestamp()) * 1e6)::bigint;"
	read_sql="SELECT (extract(epoch FROM clock_timestamp()) * 1e3)::bigint,
		((extract(epoch FROM clock_timestamp()) * 1e6)::bigint - ts_us) / 1000 FROM lagprobe;"
	primary_client=("$BACKFILLD_PG_BIN/psql" -X -q -At -h "$BACKFILLD_PG_HOST" -p "$BACKFILLD_PG_PORT"
		-U "$BACKFILLD_PG_ADMIN" -d "$IT_DB")
	replica_client=("$BACKFILLD_PG_BIN/psql" -X -q -At -h "$BACKFILLD_PG_HOST" -p "$replica_port"
		-U "$BACKFILLD_PG_ADMIN" -d "$IT_DB")
else
	it_sql "CREATE TABLE lagprobe (id INT PRIMARY KEY, ts DATETIME(6)) ENGINE=InnoDB;
		INSERT INTO lagprobe VALUES (1, SYSDATE(6))"
	write_sql="UPDATE lagprobe SET ts = SYSDATE(6);"
	read_sql="SELECT ROUND(UNIX_TIMESTAMP(SYSDATE(6)) * 1000), TIMESTAMPDIFF(MICROSECOND, ts, SYSDATE(6)) DIV 1000 FROM lagprobe;"
	primary_client=("$BACKFILLD_MY_BIN/mariadb" --no-defaults -N -B --unbuffered
		-S "$BACKFILLD_MY_SOCKET" -u "$BACKFILLD_MY_ADMIN" "$IT_DB")
	replica_client=("$BACKFILLD_MY_BIN/mariadb" --no-defaults -N -B --unbuffered
		-S "$BACKFILLD_MY_REPLICA_SOCKET" -u "$BACKFILLD_MY_ADMIN" "$IT_DB")
fi
# the table must have reached the replica before the reader starts
deadline=$((SECONDS + 30))
until [[ "$("${replica_client[@]}" <<<"SELECT count(*) FROM lagprobe;" 2>/dev/null)" == 1 ]]; do
	((SECONDS < deadline)) || it_fail "lagprobe did not reach the replica in 30 s"
	sleep 0.1
done
probe_loop() {
	while [[ ! -e "$IT_DIR/probes.stop" ]]; do
		printf '%s\n' "$1"
		sleep "0.$PROBE_MS"
	done
}
probe_loop "$write_sql" | "${primary_client[@]}" >/dev/null 2>"$IT_DIR/probe-writer.err" &
writer_pid=$!
IT_PIDS+=("$writer_pid")
probe_loop "$read_sql" | "${replica_client[@]}" | tr '\t' '|' >"$IT_DIR/lag.txt" 2>"$IT_DIR/probe-reader.err" &
reader_pid=$!
IT_PIDS+=("$reader_pid")

# --- run until the rate means something --------------------------------------------------
t_start=$(it_now_ms)
it_start "$IT_DIR/run.log" run -c "$IT_DIR/job.yaml"
it_wait_state running 20
deadline=$((SECONDS + 20))
while :; do
	it_wait_state running 5
	b=$(it_jget "$J" batches_done)
	((b >= 12)) && it_jpositive "$J" rows_per_sec && break
	((SECONDS < deadline)) || it_fail "fewer than 12 batches in 20 s"
	sleep 0.05
done
lag_ms=$(it_jget "$J" replication_lag_ms)
[[ "$lag_ms" != null ]] || it_fail "replication_lag_ms not measured while running with a replica: $J"
it_eq "$(it_jget "$J" lag_source)" "heartbeat on $replica_host:$replica_port" "lag_source"

# --- the replica stops applying: throttled ----------------------------------------------
t_pause=$(it_now_ms)
replica_stop_apply || it_fail "cannot stop the replica's apply"
t_paused=$(it_now_ms)
it_wait_state throttled 10
t_throttled=$T_SEEN
J_BEFORE=$J_RUNNING
rate_before=$(it_jget "$J_BEFORE" rows_per_sec)
it_log "throttled $((t_throttled - t_paused)) ms after the replica stopped applying"
# the lag passes max_replication_lag at the latest MAX_LAG_MS after the stop (the
# newest heartbeat applied is no younger than that); a check interval later the
# throttle samples it (the heartbeat read itself is fast, but give it another check
# interval); the state changes at the next batch boundary (batch.sleep)
it_le $((t_throttled - t_paused)) $((MAX_LAG_MS + 2 * CHECK_MS + SLEEP_MS)) \
	"ms from the replica's stop to state throttled (max_replication_lag + 2 check intervals + batch.sleep)"
reasons=$(it_jreasons "$J")
lag_re="^replication_lag [0-9]+\.[0-9]{2}s > 1\.00s on ${replica_host//./\\.}:$replica_port\$"
[[ "$reasons" =~ $lag_re ]] ||
	it_fail "throttle_reasons while the replica stands still: [$reasons]"
IT_CHECKS=$((IT_CHECKS + 1))
it_contains "$IT_DIR/run.log" "throttled: replication_lag " "log line when throttled"
it_contains "$IT_DIR/run.log" "state running -> throttled" "log of the transition"

# the checkpoint row says so too (written right after the state change)
it_wait_ckpt_throttled 5
ck_reasons=$(it_ckpt throttle_reasons)
[[ "$ck_reasons" =~ $lag_re ]] ||
	it_fail "checkpoint throttle_reasons: [$ck_reasons]"
IT_CHECKS=$((IT_CHECKS + 1))

# no batch commits while the replica stands still
b1=$(it_ckpt batches_done)
s1=$(it_jget "$(it_status_json)" batches_done)
sleep 2
it_eq "$(it_ckpt batches_done)" "$b1" "batches committed (checkpoint) in 2 s while throttled"
J=$(it_status_json)
it_eq "$(it_jget "$J" batches_done)" "$s1" "batches committed (status) in 2 s while throttled"
it_eq "$(it_jget "$J" state)" throttled "state after 2 s"
lag_now=$(it_jget "$J" replication_lag_ms)
it_fcmp "$lag_now > $MAX_LAG_MS" || it_fail "replication_lag_ms while throttled: $lag_now"
IT_CHECKS=$((IT_CHECKS + 1))
# metrics: the time counts as replication_lag, nothing else
"$BACKFILLD_BIN" metrics -s "$sock" >"$IT_DIR/metrics.txt" || it_fail "metrics failed"
m_lag=$(it_throttled_s replication_lag "$IT_DIR/metrics.txt")
m_locks=$(it_throttled_s lock_waits "$IT_DIR/metrics.txt")
it_fcmp "${m_lag:-0} >= 2" || it_fail "backfilld_throttled_seconds_total{reason=\"replication_lag\"} = [$m_lag] after 2 s throttled"
it_fcmp "${m_locks:--1} == 0" || it_fail "backfilld_throttled_seconds_total{reason=\"lock_waits\"} = [$m_locks]"
IT_CHECKS=$((IT_CHECKS + 2))

# stay throttled for twice the active time so far: rows_per_sec that counted the
# throttled time would fall to a third of its value
active_ms=$((t_throttled - t_start))
while (($(it_now_ms) - t_throttled < 2 * active_ms)); do sleep 0.1; done

# --- the replica applies again: running by itself, and done ---------------------------
replica_start_apply || it_fail "cannot restart the replica's apply"
t_resumed=$(it_now_ms)
it_wait_state running 15
t_release=$T_SEEN
it_log "released $((t_release - t_resumed)) ms after the replica applies again"
it_contains "$IT_DIR/run.log" "throttle released after" "log line when released"
it_wait_ckpt 5 "CONCAT_WS(' ', state, COALESCE(throttle_reasons, '-'))" "running -"
# the first answer after a batch committed since: rate over active time only
deadline=$((SECONDS + 10))
until (($(it_jget "$J" batches_done) > s1)); do
	((SECONDS < deadline)) || it_fail "no batch after the release"
	sleep 0.05
	J=$(it_status_json)
done
rate_after=$(it_jget "$J" rows_per_sec)
it_log "rows_per_sec before the throttle $rate_before, after the release $rate_after (throttled $(it_jget "$J" throttled_seconds) s)"
it_fcmp "$rate_after * 2 >= $rate_before && $rate_after <= 2 * $rate_before" ||
	it_fail "rows_per_sec $rate_before before the throttle, $rate_after after: the throttled time counts"
IT_CHECKS=$((IT_CHECKS + 1))
[[ $(it_jreasons "$J") == "" ]] || it_fail "throttle reasons after the release: $J"
IT_CHECKS=$((IT_CHECKS + 1))

wait "$IT_PID"
it_eq "$?" 0 "run exit status"
t_end=$(it_now_ms)
it_contains "$IT_DIR/run.log" "state running -> done" "run log"
it_eq "$(it_ckpt state)" "done" "checkpoint state"
it_check_consistent "after the run"
hw=$(it_ckpt hw0)
it_eq "$(it_sql "SELECT count(*) FROM items WHERE id <= $hw AND matched AND $(it_distinct new_status old_status)")" 0 \
	"rows in range not backfilled"
it_eq "$(it_sql "SELECT count(*) FROM items WHERE id % 97 = 0 AND new_status <> -1")" 0 \
	"application-written rows clobbered"

# --- the lag while the replica applied ------------------------------------------------------
stop_probes
wait "$writer_pid" "$reader_pid"
# Bound: the daemon starts no batch while its heartbeat lag exceeds max_replication_lag;
# that lag is at most one heartbeat period (max_replication_lag / 5 = 200 ms) plus
# one check interval stale, so the last batch it starts may begin with the replica
# that much behind max_replication_lag, and it adds one batch's worth of apply work:
# the longest batch the daemon logged plus batch.sleep. The probe reads up to one
# probe period more (above), and PostgreSQL's WAL writer (synchronous_commit = off)
# holds a commit back up to wal_writer_delay (200 ms) before the replica can see it.
# So: max observed lag <= max_replication_lag + (200 + check_interval + longest
# batch + batch.sleep + probe period + 200) ms.
longest=$(sed -n 's/.*batch [0-9]*: [0-9]* keys, [0-9]* rows, \([0-9.]*\) ms.*/\1/p' "$IT_DIR/run.log" |
	sort -n | tail -n 1)
[[ -n "$longest" ]] || it_fail "no batch lines in the debug log"
bound=$(awk -v l="$longest" "BEGIN { printf \"%d\", $MAX_LAG_MS + 200 + $CHECK_MS + l + $SLEEP_MS + $PROBE_MS + 200 }")
n=$(wc -l <"$IT_DIR/lag.txt")
((n > 20)) || it_fail "the lag probe read $n samples only: $(cat "$IT_DIR/probe-reader.err")"
# the part where the replica applied: from the start to the stop, and from the
# release (the replica caught up to max_replication_lag: why the daemon let go) to the end
worst=$(awk -F'|' -v a="$t_start" -v b="$t_pause" -v c="$t_release" -v d="$t_end" '
	($1 >= a && $1 <= b) || ($1 >= c && $1 <= d) { n++; if ($2 > w) w = $2 }
	END { printf "%d %d", w, n }' "$IT_DIR/lag.txt")
it_log "worst replica lag the probe saw while the replica applied: ${worst% *} ms in ${worst#* } samples (bound $bound ms; longest batch $longest ms)"
((${worst#* } > 10)) || it_fail "too few lag samples in the unpaused part: ${worst#* }"
it_le "${worst% *}" "$bound" "worst replica lag (ms) while the replica applied"
# and the probe did see the stop (it measures what it claims to)
paused_worst=$(awk -F'|' -v b="$t_paused" -v c="$t_resumed" '$1 > b && $1 < c && $2 > w { w = $2 } END { printf "%d", w }' "$IT_DIR/lag.txt")
it_le $((t_resumed - t_paused - 1000)) "$paused_worst" "the probe's lag at the end of the stop (ms)"
it_pass

#!/usr/bin/env bash
# drivers: postgres
# resource_lock: replica
# Without replicas configured, a PostgreSQL primary's lag comes from
# pg_stat_replication: with the replica's replay paused the job throttles on
# "replication_lag … on pg_stat_replication", commits nothing, and goes on by
# itself once replay resumes. (MySQL's fallback, Seconds_Behind_Master, applies
# only when the job's own server is a replica, which a backfill cannot write to.)
source "$(dirname "$0")/../lib/itest.sh"
it_setup throttle_lag_fallback
sock=$IT_DIR/status.sock

on_exit() {
	it_replica_sql "SELECT pg_wal_replay_resume()" >/dev/null 2>&1
	it_cleanup
}
trap on_exit EXIT

it_items 60000
it_config "$IT_DIR/job.yaml" "batch:
  size: 300
  max_size: 300
  sleep: 100ms"
# the lag signal without replicas: replace it_config's throttle section
sed -i 's/^  max_replication_lag: 0s$/  max_replication_lag: 1s\n  check_interval: 250ms/' "$IT_DIR/job.yaml"
grep -q '^  max_replication_lag: 1s$' "$IT_DIR/job.yaml" || it_fail "job file not as intended"
it_start "$IT_DIR/run.log" run -c "$IT_DIR/job.yaml"
it_wait_sql 20 "SELECT batches_done > 2 FROM backfilld_checkpoint" "$IT_T"

it_replica_sql "SELECT pg_wal_replay_pause()" >/dev/null || it_fail "cannot pause replay"
it_wait_ckpt_throttled 15
it_contains "$IT_DIR/run.log" "throttled: replication_lag" "lag throttle logged"
it_contains "$IT_DIR/run.log" "on pg_stat_replication (" "measured by pg_stat_replication"
reasons=$(it_ckpt throttle_reasons)
[[ "$reasons" == "replication_lag "*" > 1.00s on pg_stat_replication ("*" bytes behind)" ]] ||
	it_fail "checkpoint throttle_reasons: [$reasons]"
IT_CHECKS=$((IT_CHECKS + 1))
"$BACKFILLD_BIN" status --json -s "$sock" >"$IT_DIR/status.json" || it_fail "status"
it_contains "$IT_DIR/status.json" '"state":"throttled"' "status state"
it_contains "$IT_DIR/status.json" '"lag_source":"pg_stat_replication' "status lag source"
b1=$(it_ckpt batches_done)
sleep 2
it_eq "$(it_ckpt batches_done)" "$b1" "batches committed while the replica's replay is paused"

it_replica_sql "SELECT pg_wal_replay_resume()" >/dev/null || it_fail "cannot resume replay"
it_wait_file 15 "$IT_DIR/run.log" "throttle released"
wait "$IT_PID"
it_eq "$?" 0 "run exit status"
it_eq "$(it_sql "SELECT count(*) FROM items WHERE $(it_distinct new_status old_status)")" 0 "rows not backfilled"
it_eq "$(it_ckpt "CONCAT_WS(' ', state, rows_done)")" "done 60000" "checkpoint row"
it_pass

#!/usr/bin/env bash
# A foreground session holds row locks in the middle of the range for 10 s: the
# daemon's batches time out after lock_timeout, are retried smaller, and the job
# finishes after the lock is released; meanwhile other foreground writers never
# wait behind the daemon longer than lock_timeout plus one batch.
source "$(dirname "$0")/../lib/itest.sh"
it_setup lock_timeout_retry

it_items 100000
it_sql "ALTER TABLE items ADD COLUMN matched bool; UPDATE items SET matched = true;
	CREATE TABLE probe_result (max_wait_ms float8, n int);
	CREATE TABLE holder_log (released_at timestamptz);
	CREATE PROCEDURE probe(seconds float8) LANGUAGE plpgsql AS \$\$
	DECLARE
		t_end timestamptz := clock_timestamp() + make_interval(secs => seconds);
		t0 timestamptz; worst float8 := 0; n int := 0; k bigint;
	BEGIN
		WHILE clock_timestamp() < t_end LOOP
			-- any row of the range but the ones the holder keeps locked
			k := (random() * 300000)::bigint;
			IF k BETWEEN 149000 AND 151000 THEN CONTINUE; END IF;
			t0 := clock_timestamp();
			UPDATE items SET payload = payload WHERE id = (SELECT id FROM items WHERE id >= k ORDER BY id LIMIT 1);
			worst := greatest(worst, extract(epoch FROM clock_timestamp() - t0) * 1000);
			n := n + 1;
			COMMIT;
			PERFORM pg_sleep(0.005);
		END LOOP;
		INSERT INTO probe_result VALUES (worst, n);
		COMMIT;
	END \$\$"
it_config "$IT_DIR/job.yaml" "batch:
  size: 2000
  max_size: 4000
  target_time: 100ms
  lock_timeout: 300ms
  max_retries: 40"

# the holder: rows 149,000..151,000 locked for 10 s
it_sql "BEGIN; SELECT count(*) FROM (SELECT id FROM items WHERE id BETWEEN 149000 AND 151000 FOR UPDATE) s;
	SELECT pg_sleep(10); INSERT INTO holder_log VALUES (clock_timestamp()); COMMIT;" >/dev/null &
holder=$!
IT_PIDS+=("$holder")
it_wait_sql 10 "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE a.query LIKE '%pg_sleep(10)%' AND l.locktype = 'transactionid'" 1
it_sql "CALL probe(12)" >/dev/null &
probe=$!
IT_PIDS+=("$probe")

it_start "$IT_DIR/run.log" run -c "$IT_DIR/job.yaml"
wait "$IT_PID"
it_eq "$?" 0 "run exit status ($(tail -n 3 "$IT_DIR/run.log"))"
wait "$holder"
wait "$probe"

# the daemon met the lock, timed out, shrank, and finished only after the release
it_contains "$IT_DIR/run.log" "failed (lock timeout" "lock timeouts logged"
it_contains "$IT_DIR/run.log" "with batch size 100" "batch size cut to the minimum"
timeouts=$(grep -c "failed (lock timeout" "$IT_DIR/run.log")
it_le 3 "$timeouts" "several lock timeouts while the lock was held"
it_eq "$(it_sql "SELECT finished_at > released_at FROM backfilld_checkpoint, holder_log")" t \
	"job finished after the lock was released"

# exact, counted once
it_eq "$(it_sql "SELECT count(*) FROM items WHERE new_status IS DISTINCT FROM old_status")" 0 "rows not backfilled"
it_eq "$(it_sql "SELECT state || ' ' || rows_done FROM backfilld_checkpoint")" "done 100000" "checkpoint row"

# the other writers never waited behind the daemon beyond lock_timeout + one batch
read -r worst n < <(it_sql "SELECT round(max_wait_ms), n FROM probe_result" | tr '|' ' ')
it_log "probe: $n single-row updates, worst wait ${worst} ms"
it_le 100 "$n" "probe made progress"
it_le "$worst" 1000 "worst foreground wait (lock_timeout 300 ms + one batch, 1 s at most)"
it_pass

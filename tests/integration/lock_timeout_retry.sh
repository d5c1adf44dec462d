#!/usr/bin/env bash
# A foreground session holds row locks in the middle of the range for 10 s (15 s on
# MySQL, whose lock_timeout is 1 s at least, for as many retries): the
# daemon's batches time out after lock_timeout, are retried smaller, and the job
# finishes after the lock is released; meanwhile other foreground writers never
# wait behind the daemon longer than lock_timeout plus one batch.
source "$(dirname "$0")/../lib/itest.sh"
it_setup lock_timeout_retry

it_items 100000
it_sql "ALTER TABLE items ADD COLUMN matched bool; UPDATE items SET matched = true" ||
	it_fail "cannot mark items"
# the probe: single-row updates anywhere in the range but on the rows the holder
# keeps locked, each committed on its own, for SECONDS; it records its worst wait
if it_pg; then
	it_sql "CREATE TABLE probe_result (max_wait_ms float8, n int);
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
	END \$\$" || it_fail "cannot create the probe"
	lock_timeout=300ms
	# lock_timeout + one batch
	max_wait_ms=1000
	hold=10
else
	# MariaDB: no UPDATE of a table with a subquery on the same table, so the key is
	# looked up first (inside the timed part, as in the PostgreSQL probe)
	it_sql "CREATE TABLE probe_result (max_wait_ms DOUBLE, n INT);
	CREATE TABLE holder_log (released_at DATETIME(6));
	DELIMITER //
	CREATE PROCEDURE probe(seconds DOUBLE)
	BEGIN
		DECLARE t_end DATETIME(6) DEFAULT SYSDATE(6) + INTERVAL ROUND(seconds * 1000000) MICROSECOND;
		DECLARE t0 DATETIME(6);
		DECLARE worst DOUBLE DEFAULT 0;
		DECLARE n INT DEFAULT 0;
		DECLARE k, kk BIGINT;
		SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED;
		WHILE SYSDATE(6) < t_end DO
			-- any row of the range but the ones the holder keeps locked
			SET k = ROUND(RAND() * 300000);
			IF k NOT BETWEEN 149000 AND 151000 THEN
				SET t0 = SYSDATE(6);
				START TRANSACTION;
				SET kk = (SELECT id FROM items WHERE id >= k ORDER BY id LIMIT 1);
				UPDATE items SET payload = payload WHERE id = kk;
				SET worst = GREATEST(worst, TIMESTAMPDIFF(MICROSECOND, t0, SYSDATE(6)) / 1000);
				SET n = n + 1;
				COMMIT;
				DO SLEEP(0.005);
			END IF;
		END WHILE;
		INSERT INTO probe_result VALUES (worst, n);
		COMMIT;
	END //
	DELIMITER ;" || it_fail "cannot create the probe"
	# innodb_lock_wait_timeout has whole seconds
	lock_timeout=1s
	# lock_timeout (1 s) + one batch
	max_wait_ms=2000
	# the batch must still meet the lock after six timeouts of 1 s and their backoff
	hold=15
fi
it_config "$IT_DIR/job.yaml" "batch:
  size: 2000
  max_size: 4000
  target_time: 100ms
  lock_timeout: $lock_timeout
  max_retries: 40"

# the holder: rows 149,000..151,000 locked for $hold s
if it_pg; then
	it_sql "BEGIN; SELECT count(*) FROM (SELECT id FROM items WHERE id BETWEEN 149000 AND 151000 FOR UPDATE) s;
		SELECT pg_sleep($hold); INSERT INTO holder_log VALUES (clock_timestamp()); COMMIT;" >/dev/null &
	holder=$!
	IT_PIDS+=("$holder")
	it_wait_sql 10 "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE a.query LIKE '%pg_sleep($hold)%' AND l.locktype = 'transactionid'" 1
else
	# READ COMMITTED: exactly these rows (REPEATABLE READ would also lock the gaps
	# and the first row past the range, which the probe may pick)
	it_sql "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED; BEGIN;
		SELECT count(*) FROM items WHERE id BETWEEN 149000 AND 151000 FOR UPDATE;
		DO SLEEP($hold); INSERT INTO holder_log VALUES (SYSDATE(6)); COMMIT;" >/dev/null &
	holder=$!
	IT_PIDS+=("$holder")
	# sleeping: its SELECT … FOR UPDATE is done
	it_wait_sql 10 "SELECT count(*) FROM information_schema.PROCESSLIST WHERE INFO = 'DO SLEEP($hold)' AND DB = '$IT_DB'" 1
fi
it_sql "CALL probe($((hold + 2)))" >/dev/null &
probe=$!
IT_PIDS+=("$probe")

it_start "$IT_DIR/run.log" run -c "$IT_DIR/job.yaml"
wait "$IT_PID"
it_eq "$?" 0 "run exit status ($(tail -n 3 "$IT_DIR/run.log"))"
wait "$holder"
it_eq "$?" 0 "holder exit status"
wait "$probe"
it_eq "$?" 0 "probe exit status"

# the daemon met the lock, timed out, shrank, and finished only after the release
it_contains "$IT_DIR/run.log" "failed (lock timeout" "lock timeouts logged"
it_contains "$IT_DIR/run.log" "with batch size 100" "batch size cut to the minimum"
timeouts=$(grep -c "failed (lock timeout" "$IT_DIR/run.log")
it_le 3 "$timeouts" "several lock timeouts while the lock was held"
it_eq "$(it_sql "SELECT finished_at > released_at FROM backfilld_checkpoint, holder_log")" "$IT_T" \
	"job finished after the lock was released"

# exact, counted once
it_eq "$(it_sql "SELECT count(*) FROM items WHERE $(it_distinct new_status old_status)")" 0 "rows not backfilled"
it_eq "$(it_ckpt "CONCAT_WS(' ', state, rows_done)")" "done 100000" "checkpoint row"

# the other writers never waited behind the daemon beyond lock_timeout + one batch
read -r worst n < <(it_sql "SELECT round(max_wait_ms), n FROM probe_result" | tr '|' ' ')
it_log "probe: $n single-row updates, worst wait ${worst} ms; $timeouts lock timeouts"
it_le 100 "$n" "probe made progress"
it_le "$worst" "$max_wait_ms" "worst foreground wait (lock_timeout $lock_timeout + one batch, $max_wait_ms ms at most)"
it_pass

#!/usr/bin/env bash
# The config hash guards the checkpoint: a changed set/where is refused (exit 2,
# nothing written) until --reset starts over; a done job exits 0 at once. Batches
# that hit statement_timeout are retried smaller and, past batch.max_retries, the
# job fails: state failed and last_error in the row, exit 1, and a later run
# resumes. A deadlock is retried. An error that retrying cannot cure (a division
# by zero in the expression) fails the job at once, rolled back, naming the batch's
# keys; once the row is fixed the job resumes and finishes.
source "$(dirname "$0")/../lib/itest.sh"
it_setup reset_and_failures

it_items_matched 20000 53
mid=$(it_sql "SELECT id FROM items ORDER BY id LIMIT 1 OFFSET 10000")
# a guard that makes the row $mid slow (0.6 s) and every other row fast
if it_pg; then
	slow_guard="(id <> $mid OR pg_sleep(0.6)::text = '')"
else
	slow_guard="(id <> $mid OR SLEEP(0.6) = 0)"
fi

# --- a statement that always times out on one row: retried, then failed ---------------
it_config "$IT_DIR/slow.yaml" "where: new_status IS NULL AND $slow_guard
batch:
  size: 1000
  statement_timeout: 300ms
  max_retries: 3"
it_run run -c "$IT_DIR/slow.yaml" >/dev/null 2>"$IT_DIR/slow.log"
it_eq "$?" 1 "exit status after max_retries statement timeouts"
# the batches shrink until they stop just short of the slow row, which then fails
# every attempt: retries 1, 2, 3 of 3 on one cursor, then the job gives up
last=$(grep "failed (statement timeout" "$IT_DIR/slow.log" | tail -n 1 | sed 's/.*after cursor \(\[[0-9]*\]\).*/\1/')
it_eq "$(grep -cF "after cursor $last failed (statement timeout" "$IT_DIR/slow.log")" 3 \
	"statement timeouts retried on the last cursor"
it_contains "$IT_DIR/slow.log" "retry 3 of 3" "third retry"
it_contains "$IT_DIR/slow.log" "batch failed 4 times in a row (batch.max_retries 3)" "failure message"
it_eq "$(it_ckpt state)" failed "checkpoint state"
it_contains <(it_ckpt last_error) "statement timeout" "last_error"
it_check_consistent "after the failure"
it_eq "$(it_sql "SELECT count(*) FROM items WHERE id >= $mid AND new_status IS NOT NULL AND matched")" 0 \
	"nothing at or past the slow row committed"

# the same job with a longer statement_timeout (a tunable: same hash) resumes and ends
sed 's/statement_timeout: 300ms/statement_timeout: 5s/' "$IT_DIR/slow.yaml" >"$IT_DIR/slow2.yaml"
it_run run -c "$IT_DIR/slow2.yaml" >/dev/null 2>"$IT_DIR/slow2.log"
it_eq "$?" 0 "resumed run exit status ($(tail -n 2 "$IT_DIR/slow2.log"))"
it_contains "$IT_DIR/slow2.log" "(was failed," "resumed from the failed state"
it_eq "$(it_ckpt "CONCAT_WS(' ', state, last_error IS NULL)")" "done $IT_T" "checkpoint after the resumed run"
it_check_consistent "after the resumed run"

# --- a changed set: refused without --reset, nothing written ----------------------------
it_config "$IT_DIR/changed.yaml" "where: new_status IS NULL AND $slow_guard"
sed -i 's/^  new_status: old_status$/  new_status: old_status + 1/' "$IT_DIR/changed.yaml"
before=$(it_ckpt "CONCAT_WS('|', updated_at, rows_done, config_hash)")
it_run run -c "$IT_DIR/changed.yaml" >/dev/null 2>"$IT_DIR/changed.log"
it_eq "$?" 2 "exit status with a changed set"
it_contains "$IT_DIR/changed.log" "has a checkpoint written for another table, key, set or where" "message"
it_contains "$IT_DIR/changed.log" "run with --reset to start over" "hint"
it_eq "$(it_ckpt "CONCAT_WS('|', updated_at, rows_done, config_hash)")" "$before" "checkpoint row untouched"

# a done job exits 0 at once, also with a tunable changed
out=$(it_run run -c "$IT_DIR/slow2.yaml" 2>/dev/null)
it_eq "$?" 0 "run of a done job"
it_eq "${out%%:*}" "job reset_and_failures is already done" "done job message"

# --reset: starts over with a new high-water mark and the new expression
it_sql "INSERT INTO items VALUES (9999999, 5, 'late', NULL, true)"
it_run run -c "$IT_DIR/changed.yaml" --reset >/dev/null 2>"$IT_DIR/reset.log"
it_eq "$?" 0 "run --reset exit status ($(tail -n 2 "$IT_DIR/reset.log"))"
it_contains "$IT_DIR/reset.log" "--reset: discarding the checkpoint" "reset logged"
it_eq "$(it_ckpt state) $(it_ckpt hw0)" "done 9999999" "new high-water mark after --reset"
it_eq "$(it_sql "SELECT new_status FROM items WHERE id = 9999999")" 6 "the new set applied to the late row"
# rows done before the reset keep their value: the guard (new_status IS NULL) is false
it_eq "$(it_sql "SELECT count(*) FROM items WHERE id < 9999999 AND matched AND $(it_distinct new_status old_status)")" 0 \
	"earlier rows left as they were"

# --- a deadlock: the daemon is chosen as the victim and retries ------------------------------
it_sql "UPDATE items SET new_status = NULL WHERE matched"
it_config "$IT_DIR/dl.yaml" "batch:
  size: 20000
  min_size: 100
  max_size: 20000
  lock_timeout: 10s"
sed -i 's/^job: .*/job: reset_and_failures_dl/' "$IT_DIR/dl.yaml"
high=$(it_sql "SELECT id FROM items WHERE matched ORDER BY id LIMIT 1 OFFSET 15000")
low=$(it_sql "SELECT id FROM items WHERE matched ORDER BY id LIMIT 1 OFFSET 100")
matched=$(it_sql "SELECT count(*) FROM items WHERE matched")
# the foreground holds the high row and, once the daemon's batch waits on it, asks
# for a low row that batch has locked already: a cycle
if it_pg; then
	# the batch's UPDATE walks the key index, so it has locked the low row by the time
	# it waits on the high one (sequential and bitmap scans take rows in heap order)
	it_admin_sql "ALTER DATABASE $IT_DB SET enable_seqscan = off; ALTER DATABASE $IT_DB SET enable_bitmapscan = off"
	# the daemon finds the cycle first (its deadlock_timeout started first), so the
	# daemon is the victim
	it_sql "DO \$\$
		DECLARE t_end timestamptz := clock_timestamp() + interval '20 s';
		BEGIN
			UPDATE items SET payload = 'fg' WHERE id = $high;
			LOOP
				PERFORM pg_stat_clear_snapshot();
				EXIT WHEN clock_timestamp() > t_end OR EXISTS (SELECT 1 FROM pg_stat_activity
					WHERE application_name = 'backfilld reset_and_failures_dl' AND wait_event_type = 'Lock');
				PERFORM pg_sleep(0.02);
			END LOOP;
			UPDATE items SET payload = 'fg' WHERE id = $low;
		END \$\$" >"$IT_DIR/fg.out" 2>&1 &
else
	# InnoDB finds the cycle at once, when the foreground asks for the low row, and
	# rolls back the lighter transaction (fewer undo records and locks): the batch has
	# updated some 15,000 rows by then, so the foreground first updates 40,000 rows of
	# a table of its own to be the heavier one, and the daemon is the victim (without
	# those the foreground is the one rolled back, and the check below fails). A range
	# UPDATE on the PRIMARY KEY walks it in key order: the batch holds the low row when
	# it waits on the high one. The poll sleeps 0.15 s: InnoDB refreshes what
	# INNODB_TRX shows only after 0.1 s without a read of it, from any session, so
	# another test polling it may keep it stale; PROCESSLIST is live, and the batch's
	# UPDATE still running after 2 s (it takes ~0.1 s) is waiting as well.
	it_sql "CREATE TABLE fg_weight (id INT PRIMARY KEY, v INT) ENGINE=InnoDB;
		INSERT INTO fg_weight SELECT seq, 0 FROM seq_1_to_40000;
		DELIMITER //
		CREATE PROCEDURE fg()
		BEGIN
			DECLARE t_end DATETIME(6) DEFAULT SYSDATE(6) + INTERVAL 20 SECOND;
			START TRANSACTION;
			UPDATE items SET payload = 'fg' WHERE id = $high;
			UPDATE fg_weight SET v = v + 1;
			-- the daemon's session (user $BACKFILLD_MY_USER on $IT_DB), waiting on a row lock
			WHILE SYSDATE(6) < t_end AND NOT EXISTS (SELECT 1 FROM information_schema.INNODB_TRX t
					JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id
					WHERE t.trx_state = 'LOCK WAIT' AND p.USER = '$BACKFILLD_MY_USER'
						AND p.DB = '$IT_DB' AND p.ID <> CONNECTION_ID())
				AND NOT EXISTS (SELECT 1 FROM information_schema.PROCESSLIST p
					WHERE p.USER = '$BACKFILLD_MY_USER' AND p.DB = '$IT_DB' AND p.ID <> CONNECTION_ID()
						AND p.INFO LIKE 'UPDATE %items% SET %new_status%' AND p.TIME_MS >= 2000) DO
				DO SLEEP(0.15);
			END WHILE;
			UPDATE items SET payload = 'fg' WHERE id = $low;
			COMMIT;
		END //
		DELIMITER ;" || it_fail "cannot create the foreground procedure"
	it_sql "CALL fg()" >"$IT_DIR/fg.out" 2>&1 &
fi
fg=$!
IT_PIDS+=("$fg")
# the daemon starts once the foreground holds the high row: it is in its waiting loop
if it_pg; then
	it_wait_sql 20 "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
		AND wait_event = 'PgSleep' AND query LIKE 'DO %'" 1
else
	it_wait_sql 20 "SELECT count(*) FROM information_schema.PROCESSLIST
		WHERE DB = '$IT_DB' AND STATE = 'User sleep'" 1
fi
it_run run -c "$IT_DIR/dl.yaml" >/dev/null 2>"$IT_DIR/dl.log"
it_eq "$?" 0 "run exit status after a deadlock ($(tail -n 2 "$IT_DIR/dl.log"))"
wait "$fg"
it_eq "$?" 0 "the foreground transaction committed ($(cat "$IT_DIR/fg.out"))"
it_eq "$(it_sql "SELECT count(*) FROM items WHERE payload = 'fg'")" 2 "the foreground's writes"
it_contains "$IT_DIR/dl.log" "failed (deadlock" "deadlock retried"
it_eq "$(it_sql "SELECT count(*) FROM items WHERE matched AND $(it_distinct new_status old_status)")" 0 \
	"rows not backfilled after the deadlock"
it_eq "$(it_ckpt "CONCAT_WS(' ', state, rows_done)" reset_and_failures_dl)" "done $matched" \
	"checkpoint after the deadlock (the rolled-back attempt not counted)"

# --- an error retrying cannot cure: failed at once, the batch rolled back --------------
# MariaDB's default sql_mode (STRICT_TRANS_TABLES, ERROR_FOR_DIVISION_BY_ZERO) makes a
# division by zero in an UPDATE an error as well, with its own text and code
if it_pg; then
	div_error="division by zero (SQLSTATE 22012)"
else
	div_error="Division by 0 (error 1365) (SQLSTATE 22012)"
fi
# the divisor comes from the data: the row $mid divides by zero until it is fixed
it_sql "UPDATE items SET new_status = NULL WHERE matched; UPDATE items SET payload = 'zero' WHERE id = $mid"
it_config "$IT_DIR/div.yaml"
sed -i -e 's/^job: .*/job: reset_and_failures_div/' \
	-e "s/^  new_status: old_status$/  new_status: old_status \/ (CASE WHEN payload = 'zero' THEN 0 ELSE 1 END)/" "$IT_DIR/div.yaml"
it_run run -c "$IT_DIR/div.yaml" >/dev/null 2>"$IT_DIR/div.log"
it_eq "$?" 1 "exit status on division by zero"
it_contains "$IT_DIR/div.log" "batch failed: $div_error" "message"
cur=$(it_ckpt cursor0 reset_and_failures_div)
it_eq "$(it_sql "SELECT $cur < $mid")" "$IT_T" "cursor stops before the failing row"
# the message names the failed batch's keys: (cursor, upper], the failing row in it
upper=$(sed -n "s/.*batch failed: .* (keys after \[$cur\] up to \[\([0-9]*\)\]; rolled back)\$/\1/p" "$IT_DIR/div.log")
[[ -n "$upper" ]] || it_fail "no key range after cursor $cur in: $(grep 'batch failed' "$IT_DIR/div.log")"
it_eq "$(it_sql "SELECT $mid <= $upper")" "$IT_T" "the failing row $mid within the batch's range (.., $upper]"
it_eq "$(it_ckpt "CONCAT_WS(' ', state, last_error)" reset_and_failures_div)" \
	"failed batch failed: $div_error (keys after [$cur] up to [$upper]; rolled back)" "checkpoint row"
it_eq "$(it_sql "SELECT count(*) FROM items WHERE id > $cur AND new_status IS NOT NULL AND matched")" 0 \
	"the failed batch was rolled back"
# the data fixed, the same job resumes from its checkpoint and finishes
it_sql "UPDATE items SET payload = 'fixed' WHERE id = $mid"
it_run run -c "$IT_DIR/div.yaml" >/dev/null 2>"$IT_DIR/div2.log"
it_eq "$?" 0 "run after fixing the row ($(tail -n 2 "$IT_DIR/div2.log"))"
it_contains "$IT_DIR/div2.log" "(was failed," "resumed from the failed state"
it_eq "$(it_ckpt "CONCAT_WS(' ', state, last_error IS NULL)" reset_and_failures_div)" "done $IT_T" \
	"checkpoint after fixing the row"
it_eq "$(it_ckpt rows_done reset_and_failures_div)" "$matched" "rows_done after fixing the row (the failed batch not counted)"
it_eq "$(it_sql "SELECT count(*) FROM items WHERE matched AND $(it_distinct new_status old_status)")" 0 \
	"rows not backfilled after fixing the row"
it_pass

#!/usr/bin/env bash
# SIGHUP re-reads the YAML: tunables (log.format too) apply at once, a change to what the job's rows
# are (set, where, table, key) or a broken file is refused and the running config
# kept. `backfilld status` with neither -c nor -s lists every job whose socket is in
# the default directory ($RUNTIME_DIRECTORY under systemd); -c finds the socket too.
source "$(dirname "$0")/../lib/itest.sh"
it_setup reload_and_list

it_items 20000
it_sql "ALTER TABLE items ADD COLUMN matched bool; UPDATE items SET matched = true"
export RUNTIME_DIRECTORY=$IT_DIR/run
mkdir -p "$RUNTIME_DIRECTORY"
it_config "$IT_DIR/job.yaml" "batch:
  size: 200
  max_size: 200
  sleep: 150ms"
sed -i '/^status:$/,/^  socket:/d' "$IT_DIR/job.yaml" # the default socket: $RUNTIME_DIRECTORY/<job>.sock
cp "$IT_DIR/job.yaml" "$IT_DIR/orig.yaml"
it_start "$IT_DIR/run.log" run -c "$IT_DIR/job.yaml"
it_wait_sql 20 "SELECT batches_done > 1 FROM backfilld_checkpoint" "$IT_T"
[[ -S "$RUNTIME_DIRECTORY/reload_and_list.sock" ]] || it_fail "no socket in \$RUNTIME_DIRECTORY"

# status with neither -c nor -s: every job in the default directory
"$BACKFILLD_BIN" status >"$IT_DIR/all.txt"
it_eq "$?" 0 "status of all jobs"
it_contains "$IT_DIR/all.txt" "reload_and_list  running" "the job is listed"
# systemd's list of several runtime directories: the first one holds the socket
RUNTIME_DIRECTORY="$RUNTIME_DIRECTORY:$IT_DIR/other" "$BACKFILLD_BIN" status >"$IT_DIR/all2.txt"
it_eq "$?" 0 "status of all jobs, RUNTIME_DIRECTORY a list"
it_contains "$IT_DIR/all2.txt" "reload_and_list  running" "the job is listed from the list's first directory"
# -c finds the same socket
"$BACKFILLD_BIN" status --json -c "$IT_DIR/job.yaml" >"$IT_DIR/one.json"
it_eq "$?" 0 "status -c"
it_contains "$IT_DIR/one.json" '"job":"reload_and_list"' "status -c answer"

# a tunable: applied live
sed -i 's/^  sleep: 150ms/  sleep: 40ms/' "$IT_DIR/job.yaml"
kill -HUP "$IT_PID"
it_wait_file 5 "$IT_DIR/run.log" "reloaded $IT_DIR/job.yaml"
it_contains "$IT_DIR/run.log" "sleep 40 ms" "the new sleep applies"
# log.format too: the lines after the reload are JSON
sed -i 's/^  progress_interval: 0s$/&\n  format: json/' "$IT_DIR/job.yaml"
grep -q '^  format: json$' "$IT_DIR/job.yaml" || it_fail "job file not as intended"
kill -HUP "$IT_PID"
it_wait_file 5 "$IT_DIR/run.log" "\"msg\":\"reloaded $IT_DIR/job.yaml"
# and back to text: one more text line of the reload than before
n_text=$(grep -c "info  reload_and_list: reloaded $IT_DIR/job.yaml" "$IT_DIR/run.log")
sed -i 's/^  format: json$/  format: text/' "$IT_DIR/job.yaml"
kill -HUP "$IT_PID"
for _ in $(seq 100); do
	(($(grep -c "info  reload_and_list: reloaded $IT_DIR/job.yaml" "$IT_DIR/run.log") > n_text)) && break
	sleep 0.05
done
it_eq "$(grep -c "info  reload_and_list: reloaded $IT_DIR/job.yaml" "$IT_DIR/run.log")" $((n_text + 1)) \
	"text log lines again after a reload back to format: text"

# the rows' definition: refused, running config kept
sed -i 's/^  new_status: old_status/  new_status: old_status + 1/' "$IT_DIR/job.yaml"
kill -HUP "$IT_PID"
sleep 0.3
it_contains "$IT_DIR/run.log" "reload refused, keeping the running configuration: job, driver, table, key, set or where changed" \
	"changed set refused"
# a broken file: refused with its position
cp "$IT_DIR/orig.yaml" "$IT_DIR/job.yaml"
sed -i 's/^  sleep: 150ms/  sleep: soon/' "$IT_DIR/job.yaml"
sleep_line=$(grep -n '^  sleep: soon$' "$IT_DIR/job.yaml" | cut -d: -f1)
kill -HUP "$IT_PID"
sleep 0.3
it_contains "$IT_DIR/run.log" "reload refused, keeping the running configuration: $IT_DIR/job.yaml:$sleep_line:10: batch.sleep: invalid duration \"soon\"" \
	"broken file refused"
it_alive "$IT_PID" || it_fail "the daemon died on a bad reload"

cp "$IT_DIR/orig.yaml" "$IT_DIR/job.yaml"
wait "$IT_PID"
it_eq "$?" 0 "run exit status"
it_eq "$(it_sql "SELECT count(*) FROM items WHERE $(it_distinct new_status old_status)")" 0 \
	"rows still follow the original set (old_status, not old_status + 1)"
it_check_consistent "at the end"

out=$("$BACKFILLD_BIN" status 2>&1)
it_eq "$?" 1 "status of all jobs when none runs"
echo "$out" >"$IT_DIR/none.txt"
it_contains "$IT_DIR/none.txt" "no running jobs found in $RUNTIME_DIRECTORY" "nothing runs"
it_pass

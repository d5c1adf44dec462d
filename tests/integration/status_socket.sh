#!/usr/bin/env bash
# The status socket: `status json` carries every field SPEC.md names with values
# that match the checkpoint row; pause through the socket answers once the batch in
# flight has committed and no batch commits while paused; `set batch.size=` sizes
# the next batch; another user may read but not steer; garbage, a 1 MiB line and a
# silent client leave the daemon answering; metrics parse as Prometheus text and the
# textfile is rewritten; systemd hears READY=1, STATUS= and STOPPING=1.
source "$(dirname "$0")/../lib/itest.sh"
it_setup status_socket
peer=${BACKFILLD_SOCK_PEER:?sock_peer not built}

it_items 120000
it_sql "ALTER TABLE items ADD COLUMN matched bool; UPDATE items SET matched = true"
sock=$IT_DIR/status.sock
it_config "$IT_DIR/job.yaml" "batch:
  size: 400
  max_size: 600
  sleep: 20ms
metrics:
  textfile: $IT_DIR/backfilld.prom"
# a socket others may connect to: SO_PEERCRED, not the file mode, keeps them out
sed -i "s|^  socket: $sock\$|&\n  mode: \"0666\"|" "$IT_DIR/job.yaml"
grep -q '^  mode: "0666"$' "$IT_DIR/job.yaml" || it_fail "job file not as intended"

"$peer" listen-dgram "$IT_DIR/notify" 60 >"$IT_DIR/notify.log" &
IT_PIDS+=("$!")
sleep 0.2
NOTIFY_SOCKET=$IT_DIR/notify it_start "$IT_DIR/run.log" run -c "$IT_DIR/job.yaml"
it_wait_sql 20 "SELECT batches_done > 2 FROM backfilld_checkpoint WHERE job = 'status_socket'" t
[[ -S "$sock" ]] || it_fail "no socket at $sock"
it_eq "$(stat -c %a "$sock")" 666 "socket mode"

ask() { "$BACKFILLD_BIN" "$@" -s "$sock"; }
json_field() { it_sql "SELECT (\$j\$$1\$j\$::jsonb) ->> '$2'"; }

# --- pause through the socket: answered after the batch in flight, nothing commits
out=$(ask pause)
it_eq "$?" 0 "pause exit status"
it_eq "$out" "OK paused" "pause answer"
it_eq "$(it_sql "SELECT state FROM backfilld_checkpoint")" paused "checkpoint state after pause"
b1=$(it_sql "SELECT batches_done FROM backfilld_checkpoint")
sleep 1.5
it_eq "$(it_sql "SELECT batches_done FROM backfilld_checkpoint")" "$b1" "batches committed while paused"

# --- status json: every field, values as in the checkpoint row
j=$(ask status --json)
it_eq "$?" 0 "status --json exit status"
it_eq "$(it_sql "SELECT jsonb_typeof(\$j\$$j\$j\$::jsonb)")" object "status json parses"
for f in job driver table state throttle_reasons rows_done rows_total_estimate percent \
	rows_per_sec eta_seconds cursor high_water batch_size last_batch_ms replication_lag_ms \
	lock_waits errors retries started_at uptime_seconds; do
	it_eq "$(it_sql "SELECT \$j\$$j\$j\$::jsonb ? '$f'")" t "status json has $f"
done
row=$(it_sql "SELECT rows_done || ' ' || batches_done || ' ' || \"cursor\"::text || ' ' || high_water::text FROM backfilld_checkpoint")
it_eq "$(it_sql "SELECT (j->>'rows_done') || ' ' || (j->>'batches_done') || ' ' || (j->'cursor')::text || ' ' || (j->'high_water')::text FROM (SELECT \$j\$$j\$j\$::jsonb AS j) s")" \
	"$row" "status json against the checkpoint row"
it_eq "$(json_field "$j" state)" paused "status json state"
it_eq "$(json_field "$j" job)" status_socket "status json job"
it_eq "$(json_field "$j" driver)" postgres "status json driver"
it_eq "$(it_sql "SELECT jsonb_typeof(\$j\$$j\$j\$::jsonb -> 'throttle_reasons')")" array "throttle_reasons is an array"
pct=$(json_field "$j" percent)
it_eq "$(it_sql "SELECT $pct > 0 AND $pct < 100")" t "percent in range ($pct)"

# the human status fits 80 columns
ask status >"$IT_DIR/status.txt"
it_eq "$?" 0 "status exit status"
it_contains "$IT_DIR/status.txt" "status_socket  paused" "human status headline"
it_eq "$(awk 'length > 80' "$IT_DIR/status.txt" | wc -l)" 0 "status lines longer than 80 columns"

# --- another user may look but not steer
if ((EUID == 0)) && id nobody >/dev/null 2>&1; then
	cp "$BACKFILLD_BIN" "$IT_DIR/backfilld-copy"
	chmod 755 "$IT_DIR" "$IT_DIR/backfilld-copy"
	as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$IT_DIR/backfilld-copy" "$@" -s "$sock"; }
	out=$(as_nobody resume)
	it_eq "$?" 1 "resume by another uid: exit status"
	it_eq "$out" "ERR permission denied" "resume by another uid"
	out=$(as_nobody set batch.sleep=0ms)
	it_eq "$out" "ERR permission denied" "set by another uid"
	as_nobody status --json >/dev/null
	it_eq "$?" 0 "status by another uid"
	it_eq "$(it_sql "SELECT state FROM backfilld_checkpoint")" paused "still paused after the refused resume"
else
	it_log "not root: the other-uid checks need setpriv to another user; skipped"
fi

# --- hostile clients: the daemon keeps answering
"$peer" hold "$sock" 5 &
holder=$!
IT_PIDS+=("$holder")
sleep 0.2
t0=$(date +%s%N)
ask status >/dev/null || it_fail "status while a silent client holds a connection"
it_le $((($(date +%s%N) - t0) / 1000000)) 1000 "status answer time (ms) beside a silent client"
out=$("$peer" ask "$sock" $'\x01\x02garbage\xff')
it_eq "${out%% (*}" "ERR unknown request \"??garbage?\"" "garbage request"
out=$("$peer" flood "$sock" 1048576)
it_eq "$out" "ERR request too long" "1 MiB request line"
out=$("$peer" ask "$sock" "status xml")
it_eq "$out" "ERR status takes no argument but json" "bad argument"
it_alive "$IT_PID" || it_fail "the daemon died from hostile clients"
kill "$holder" 2>/dev/null

# --- live tuning: the next batch has the size set
out=$(ask set batch.min_size=100 batch.max_size=150 batch.size=123 log.level=debug)
it_eq "$out" "OK batch.min_size=100 batch.max_size=150 batch.size=123 log.level=debug" "set answer"
out=$(ask set batch.size=5000)
it_eq "$?" 1 "set out of range: exit status"
it_eq "$out" "ERR batch.min_size <= batch.size <= batch.max_size would not hold (100 <= 5000 <= 150); nothing set" \
	"set out of range"
out=$(ask set table=other)
it_eq "${out:0:9}" "ERR table" "set of a non-tunable"
it_eq "$(ask resume)" "OK resuming" "resume answer"
it_wait_sql 10 "SELECT batches_done > $b1 FROM backfilld_checkpoint" t
it_contains "$IT_DIR/run.log" "batch $((b1 + 1)): 123 keys" "the batch after set batch.size=123"

# --- metrics: Prometheus text, and the textfile
ask metrics >"$IT_DIR/metrics.txt"
it_eq "$?" 0 "metrics exit status"
# the grammar of text format 0.0.4, line by line; each sample's family has a TYPE
bad=$(awk '
	/^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* / { next }
	/^# TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (counter|gauge|histogram|summary|untyped)$/ { typed[$3] = 1; next }
	/^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*"(,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*")*\})? [-+]?([0-9.]+([eE][-+]?[0-9]+)?|Inf|NaN)$/ {
		name = $0; sub(/[{ ].*/, "", name)
		if (!(name in typed)) { print "untyped: " $0 }
		next
	}
	{ print "bad line: " $0 }' "$IT_DIR/metrics.txt")
it_eq "$bad" "" "metrics exposition"
it_eq "$(grep -c '^backfilld_state{.*} 1$' "$IT_DIR/metrics.txt")" 1 "exactly one state is 1"
it_contains "$IT_DIR/metrics.txt" 'backfilld_batches_total{job="status_socket"}' "batches counter"
it_wait_sql 5 "SELECT true" t
[[ -s "$IT_DIR/backfilld.prom" ]] || it_fail "metrics.textfile not written"
it_contains "$IT_DIR/backfilld.prom" "# TYPE backfilld_rows_total counter" "textfile content"
ls "$IT_DIR"/*.tmp >/dev/null 2>&1 && it_fail "temporary metrics files left behind"

# --- stop through the socket; systemd heard the lifecycle
it_eq "$(ask stop)" "OK stopping after the batch in flight" "stop answer"
wait "$IT_PID"
it_eq "$?" 0 "exit status after stop"
it_eq "$(it_sql "SELECT state FROM backfilld_checkpoint")" stopped "checkpoint state after stop"
[[ -e "$sock" ]] && it_fail "socket file left behind after exit"
it_contains "$IT_DIR/backfilld.prom" 'backfilld_state{job="status_socket",state="stopped"} 1' "final textfile"
it_contains "$IT_DIR/notify.log" "READY=1" "sd_notify READY"
it_contains "$IT_DIR/notify.log" "STATUS=running" "sd_notify STATUS"
it_contains "$IT_DIR/notify.log" "STOPPING=1" "sd_notify STOPPING"

# the client says clearly that nothing runs
out=$("$BACKFILLD_BIN" status -s "$sock" 2>&1)
it_eq "$?" 1 "status without a daemon: exit status"
echo "$out" >"$IT_DIR/not_running.txt"
it_contains "$IT_DIR/not_running.txt" "no daemon is running at $sock" "status without a daemon"
it_check_consistent "after stop"
it_pass

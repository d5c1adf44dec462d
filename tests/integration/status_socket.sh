#!/usr/bin/env bash
# The status socket: `status json` carries every field SPEC.md names with values
# that match the checkpoint row; pause through the socket answers once the batch in
# flight has committed and no batch commits while paused; `set batch.size=` sizes
# the next batch; another user may read but not steer at mode 0666 and cannot
# connect at the default 0660; garbage, a 1 MiB line and a
# silent client leave the daemon answering, and a request without newline or EOF is
# answered; metrics parse as Prometheus text and the
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
ask() { "$BACKFILLD_BIN" "$@" -s "$sock"; }
NOTIFY_SOCKET=$IT_DIR/notify it_start "$IT_DIR/run.log" run -c "$IT_DIR/job.yaml"
# the first answer, before any batch, rate or lock sample
for _ in $(seq 250); do
	[[ -S "$sock" ]] && j0=$(ask status --json) && break
	sleep 0.02
done
[[ -n "${j0:-}" ]] || it_fail "no status answer within 5 s of the start"
it_wait_ckpt 20 "batches_done > 2" "$IT_T"
[[ -S "$sock" ]] || it_fail "no socket at $sock"
it_eq "$(stat -c %a "$sock")" 666 "socket mode"

# jlit JSON: the JSON text as an SQL literal of the engine's JSON type, parsed by the
# server (jsonb on PostgreSQL; a string literal MariaDB's JSON functions parse)
jlit() {
	if it_pg; then
		printf '$j$%s$j$::jsonb' "$1"
	else
		it_jlit "$1"
	fi
}

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
if it_pg; then
	it_eq "$(it_sql "SELECT jsonb_typeof($(jlit "$j"))")" object "status json parses"
else
	it_eq "$(it_sql "SELECT CONCAT_WS(' ', JSON_VALID($(jlit "$j")), JSON_TYPE($(jlit "$j")))")" "1 OBJECT" \
		"status json parses"
fi
for f in job driver table state throttle_reasons rows_done rows_total_estimate percent \
	rows_per_sec eta_seconds cursor high_water batch_size last_batch_ms replication_lag_ms \
	lock_waits errors retries started_at uptime_seconds; do
	if it_pg; then
		it_eq "$(it_sql "SELECT $(jlit "$j") ? '$f'")" t "status json has $f"
	else
		it_eq "$(it_sql "SELECT JSON_CONTAINS_PATH($(jlit "$j"), 'one', '\$.$f')")" 1 "status json has $f"
	fi
done
# SPEC.md makes only eta_seconds and replication_lag_ms null while unknown: in the
# first answer too, the other numbers are numbers, and percent is not yet 100
it_log "first status json: $j0"
for f in rows_done rows_total_estimate percent rows_per_sec batch_size last_batch_ms \
	lock_waits errors retries uptime_seconds; do
	if it_pg; then
		it_eq "$(it_sql "SELECT jsonb_typeof($(jlit "$j0") -> '$f')")" number "first answer: $f"
	else
		it_eq "$(it_sql "SELECT JSON_TYPE(JSON_EXTRACT($(jlit "$j0"), '\$.$f')) IN
			('INTEGER', 'UNSIGNED INTEGER', 'DOUBLE', 'DECIMAL')")" 1 "first answer: $f"
	fi
done
awk -v p="$(it_jget "$j0" percent)" 'BEGIN { exit !(p < 100) }' ||
	it_fail "first answer: percent $(it_jget "$j0" percent) before the job is done"
IT_CHECKS=$((IT_CHECKS + 1))
# the same four values, JSON values normalised by the server on both sides
if it_pg; then
	row=$(it_sql "SELECT rows_done || ' ' || batches_done || ' ' || \"cursor\"::text || ' ' || high_water::text FROM backfilld_checkpoint")
	got=$(it_sql "SELECT (j->>'rows_done') || ' ' || (j->>'batches_done') || ' ' || (j->'cursor')::text || ' ' || (j->'high_water')::text FROM (SELECT $(jlit "$j") AS j) s")
else
	row=$(it_sql "SELECT CONCAT_WS(' ', rows_done, batches_done, JSON_COMPACT(\`cursor\`), JSON_COMPACT(high_water)) FROM backfilld_checkpoint")
	got=$(it_sql "SELECT CONCAT_WS(' ', JSON_UNQUOTE(JSON_EXTRACT(j, '\$.rows_done')), JSON_UNQUOTE(JSON_EXTRACT(j, '\$.batches_done')),
		JSON_COMPACT(JSON_EXTRACT(j, '\$.cursor')), JSON_COMPACT(JSON_EXTRACT(j, '\$.high_water'))) FROM (SELECT $(jlit "$j") AS j) s")
fi
[[ "$row" == *" ["*"] ["*"]" ]] || it_fail "checkpoint row without cursor and high-water mark: [$row]"
it_eq "$got" "$row" "status json against the checkpoint row"
it_eq "$(it_json_field "$j" state)" paused "status json state"
it_eq "$(it_json_field "$j" job)" status_socket "status json job"
it_eq "$(it_json_field "$j" driver)" "$IT_DRIVER" "status json driver"
if it_pg; then
	it_eq "$(it_sql "SELECT jsonb_typeof($(jlit "$j") -> 'throttle_reasons')")" array "throttle_reasons is an array"
else
	it_eq "$(it_sql "SELECT JSON_TYPE(JSON_EXTRACT($(jlit "$j"), '\$.throttle_reasons'))")" ARRAY \
		"throttle_reasons is an array"
fi
pct=$(it_json_field "$j" percent)
it_eq "$(it_sql "SELECT $pct > 0 AND $pct < 100")" "$IT_T" "percent in range ($pct)"

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
	for req in stop pause; do
		out=$(as_nobody $req)
		it_eq "$?/$out" "1/ERR permission denied" "$req by another uid"
	done
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
# a client that writes a request without newline and waits, its write side open
t0=$(date +%s%N)
out=$("$peer" ask-open "$sock" "status json")
[[ "$out" == "{\"job\":"* ]] || it_fail "status json without newline or EOF: [$out]"
IT_CHECKS=$((IT_CHECKS + 1))
it_le $((($(date +%s%N) - t0) / 1000000)) 1000 "answer time (ms) of a request without newline or EOF"
out=$("$peer" ask "$sock" "status xml")
it_eq "$out" "ERR status takes no argument but json" "bad argument"
it_alive "$IT_PID" || it_fail "the daemon died from hostile clients"
kill "$holder" 2>/dev/null

# --- live tuning: the next batch has the size set
out=$(ask set batch.min_size=100 batch.max_size=150 batch.size=123 log.level=debug)
it_eq "$out" "OK batch.min_size=100 batch.max_size=150 batch.size=123 log.level=debug" "set answer"
out=$(ask set batch.size=5000 batch.max_size=150)
it_eq "$?" 2 "set out of range: exit status (a usage error, nothing set)"
it_eq "$out" "ERR batch.min_size <= batch.size <= batch.max_size would not hold (100 <= 5000 <= 150); nothing set" \
	"set out of range"
out=$(ask set table=other)
it_eq "$?" 2 "set of a non-tunable: exit status"
it_eq "${out:0:9}" "ERR table" "set of a non-tunable"
it_eq "$(ask resume)" "OK resuming" "resume answer"
it_wait_sql 10 "SELECT batches_done > $b1 FROM backfilld_checkpoint" "$IT_T"
it_contains "$IT_DIR/run.log" "batch $((b1 + 1)): 123 keys" "the batch after set batch.size=123"
# a size alone past a limit moves that limit, and the answer says so
out=$(ask set batch.size=60)
it_eq "$out" "OK batch.size=60 batch.min_size=60" "set batch.size below min_size"
it_contains "$IT_DIR/run.log" "set batch.min_size=60 (status socket, to make room)" "the moved limit logged"

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
it_wait_file 5 "$IT_DIR/backfilld.prom" "# TYPE backfilld_rows_total counter"
# rewritten every check_interval (1 s) while batches commit
first=$(grep '^backfilld_batches_total' "$IT_DIR/backfilld.prom")
deadline=$((SECONDS + 5))
while [[ "$(grep '^backfilld_batches_total' "$IT_DIR/backfilld.prom")" == "$first" ]]; do
	((SECONDS < deadline)) || it_fail "metrics.textfile not rewritten: still [$first]"
	sleep 0.1
done
IT_CHECKS=$((IT_CHECKS + 1))
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

# --- the default mode (0660): another uid outside the group cannot even connect
# (the same job resumed, slower so that it is still running when asked)
sed -e '/^  mode: "0666"$/d' -e 's/^  sleep: 20ms$/  sleep: 300ms/' "$IT_DIR/job.yaml" >"$IT_DIR/default.yaml"
grep -q 'mode:' "$IT_DIR/default.yaml" && it_fail "default.yaml still sets a mode"
it_start "$IT_DIR/run2.log" run -c "$IT_DIR/default.yaml"
it_wait_file 20 "$IT_DIR/run2.log" "state starting -> running"
it_eq "$(stat -c %a "$sock")" 660 "default socket mode"
it_eq "$(ask status --json >/dev/null; echo $?)" 0 "status by the daemon's own uid"
if ((EUID == 0)) && id nobody >/dev/null 2>&1; then
	# nobody is not in the socket's group
	it_eq "$(id -gn nobody | grep -cx "$(stat -c %G "$sock")")" 0 "nobody outside the socket's group"
	for req in status stop; do
		as_nobody $req >"$IT_DIR/other_$req.out" 2>&1
		it_eq "$?" 1 "$req by another uid at mode 0660: exit status"
		it_contains "$IT_DIR/other_$req.out" "$sock: permission denied" "$req by another uid at mode 0660"
	done
	it_alive "$IT_PID" || it_fail "the daemon ended after another uid's stop"
	it_eq "$(it_sql "SELECT state FROM backfilld_checkpoint")" running "still running after the refused stop"
else
	it_log "not root: the other-uid checks need setpriv to another user; skipped"
fi
it_eq "$(ask stop)" "OK stopping after the batch in flight" "stop answer (default mode)"
wait "$IT_PID"
it_eq "$?" 0 "exit status after stop (default mode)"
it_check_consistent "after the second stop"
it_pass

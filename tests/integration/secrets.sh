#!/usr/bin/env bash
# The database password, given by password_file or by BACKFILLD_PASSWORD, is never in
# the daemon's argv, its environment once read (/proc/PID/environ), its log (debug
# level, text and json), its status, status json and metrics answers, nor in the
# errors of a wrong password or an unreachable server; a password file others may read
# is read, with a warning in the log and from check. The daemon is not dumpable: a
# process of its own uid cannot read its /proc/PID/environ or memory.
source "$(dirname "$0")/../lib/itest.sh"
it_setup secrets

if it_pg; then password=$BACKFILLD_PG_PASSWORD; else password=$BACKFILLD_MY_PASSWORD; fi
[[ ${#password} -ge 8 ]] || it_fail "the test password is too short to search for"
# the servers' variables stay in this shell: the daemons' environment holds only
# what a scenario hands them
export -n BACKFILLD_PG_PASSWORD BACKFILLD_MY_PASSWORD
it_items 60000
sock=$IT_DIR/status.sock

# no_secret WHAT FILE...: none of the files holds the password
no_secret() {
	local what=$1
	shift
	IT_CHECKS=$((IT_CHECKS + 1))
	if grep -aqF -- "$password" "$@"; then
		it_fail "$what: the password appears in $(grep -alF -- "$password" "$@" | head -n 1)"
	fi
}

# next_run: the checkpoint row outlives each run; hand it to the next one. A run is
# under way once it has taken the row over and added batches to those done before.
done_before=0
next_run() {
	it_sql "UPDATE backfilld_checkpoint SET state = 'stopped'" >/dev/null
	done_before=$(it_ckpt batches_done)
}
wait_this_run() {
	it_wait_ckpt 20 "state = 'running' AND batches_done > $done_before + 1" "$IT_T"
}

# while_running NAME: the daemon IT_PID is running NAME's job; check what it shows
while_running() {
	local name=$1 pid=$IT_PID
	wait_this_run
	it_alive "$pid" || it_fail "$name: the daemon ended early: $(tail -n 3 "$IT_DIR/$name.log")"
	tr '\0' ' ' <"/proc/$pid/cmdline" >"$IT_DIR/$name.cmdline"
	it_contains "$IT_DIR/$name.cmdline" "run -c $IT_DIR/$name.yaml" "$name: cmdline read"
	no_secret "$name: /proc/PID/cmdline" "$IT_DIR/$name.cmdline"
	if ((EUID == 0)); then
		# root reads it despite the daemon being not dumpable: the value must be gone
		cat "/proc/$pid/environ" >"$IT_DIR/$name.environ" || it_fail "$name: cannot read environ as root"
		it_contains "$IT_DIR/$name.environ" "RUNTIME_DIRECTORY=$IT_DIR" "$name: environ read"
		no_secret "$name: /proc/PID/environ" "$IT_DIR/$name.environ"
	fi
	"$BACKFILLD_BIN" status -s "$sock" >"$IT_DIR/$name.status" || it_fail "$name: status"
	"$BACKFILLD_BIN" status --json -s "$sock" >"$IT_DIR/$name.json" || it_fail "$name: status json"
	"$BACKFILLD_BIN" metrics -s "$sock" >"$IT_DIR/$name.metrics" || it_fail "$name: metrics"
	it_contains "$IT_DIR/$name.json" "\"job\":\"secrets\"" "$name: status json read"
	it_contains "$IT_DIR/$name.metrics" "backfilld_rows_total" "$name: metrics read"
	no_secret "$name: status" "$IT_DIR/$name.status" "$IT_DIR/$name.json" "$IT_DIR/$name.metrics"
	no_secret "$name: log while running" "$IT_DIR/$name.log" "$IT_DIR/$name.log.out"
	it_eq "$("$BACKFILLD_BIN" stop -s "$sock")" "OK stopping after the batch in flight" "$name: stop"
	wait "$pid"
	it_eq "$?" 0 "$name: exit status after stop"
	no_secret "$name: log after the stop" "$IT_DIR/$name.log" "$IT_DIR/$name.log.out"
	it_contains "$IT_DIR/$name.log" "stopped" "$name: log read"
}

job_yaml() { # FILE FORMAT [PASSWORD_FILE]
	it_config "$1" "batch:
  size: 200
  max_size: 200
  sleep: 30ms"
	sed -i -e 's/^  progress_interval: 0s$/  progress_interval: 0s\n  level: debug\n  format: '"$2"'/' "$1"
	if [[ -n "${3:-}" ]]; then
		sed -i "s|^  password_file: .*|  password_file: $3|" "$1"
	else
		sed -i '/^  password_file: /d' "$1"
	fi
	grep -q "^  format: $2\$" "$1" || it_fail "job file not as intended"
}

# --- password_file, log as text at debug level --------------------------------------------
# BACKFILLD_PASSWORD is set too: the file wins, and the variable goes all the same
job_yaml "$IT_DIR/file.yaml" text "$IT_DIR/password"
BACKFILLD_PASSWORD=$password RUNTIME_DIRECTORY=$IT_DIR it_start "$IT_DIR/file.log" run -c "$IT_DIR/file.yaml"
while_running file

# --- BACKFILLD_PASSWORD, log as json at debug level: the environment forgets it ----------
next_run
job_yaml "$IT_DIR/env.yaml" json
BACKFILLD_PASSWORD=$password RUNTIME_DIRECTORY=$IT_DIR it_start "$IT_DIR/env.log" run -c "$IT_DIR/env.yaml"
while_running env
it_contains "$IT_DIR/env.log" '"level":"debug"' "json log at debug level"

# --- a password file others may read: the job runs, and its log and check say so --------
next_run
cp "$IT_DIR/password" "$IT_DIR/open.password"
chmod 644 "$IT_DIR/open.password"
job_yaml "$IT_DIR/open.yaml" text "$IT_DIR/open.password"
RUNTIME_DIRECTORY=$IT_DIR it_start "$IT_DIR/open.log" run -c "$IT_DIR/open.yaml"
while_running open
it_contains "$IT_DIR/open.log" \
	"database.password_file: $IT_DIR/open.password is accessible by others (mode 0644); chmod o-rwx it" \
	"a password file others may read: warned in the log"
"$BACKFILLD_BIN" check -c "$IT_DIR/open.yaml" >"$IT_DIR/open.check" 2>&1
it_eq "$?" 0 "check of a job whose password file others may read: exit status (a warning)"
it_contains "$IT_DIR/open.check" "password-file-mode" "check names the password file's mode"
no_secret "check with a password file others may read" "$IT_DIR/open.check"
next_run

# --- errors: a wrong password, an unreachable server -----------------------------------------
wrong="wrong-$RANDOM$RANDOM-password"
printf '%s' "$wrong" >"$IT_DIR/wrong"
chmod 600 "$IT_DIR/wrong"
job_yaml "$IT_DIR/wrong.yaml" json "$IT_DIR/wrong"
job_yaml "$IT_DIR/unreachable.yaml" text "$IT_DIR/password"
if it_pg; then
	sed -i 's/port=[0-9]* /port=1 /' "$IT_DIR/unreachable.yaml"
else
	sed -i 's/^  port: .*/  port: 1/' "$IT_DIR/unreachable.yaml"
fi
for cmd in run check; do
	"$BACKFILLD_BIN" $cmd -c "$IT_DIR/wrong.yaml" >"$IT_DIR/wrong.$cmd.out" 2>"$IT_DIR/wrong.$cmd.err"
	it_eq "$?" 1 "$cmd with a wrong password: exit status ($(tail -n 1 "$IT_DIR/wrong.$cmd.err"))"
	if it_pg; then
		it_contains "$IT_DIR/wrong.$cmd.err" "password authentication failed" "$cmd: wrong password message"
	else
		it_contains "$IT_DIR/wrong.$cmd.err" "Access denied" "$cmd: wrong password message"
	fi
	IT_CHECKS=$((IT_CHECKS + 1))
	grep -aqF -- "$wrong" "$IT_DIR/wrong.$cmd.err" "$IT_DIR/wrong.$cmd.out" &&
		it_fail "$cmd: the wrong password appears in its error"
	no_secret "$cmd with a wrong password" "$IT_DIR/wrong.$cmd.err" "$IT_DIR/wrong.$cmd.out"
	BACKFILLD_PASSWORD=$password "$BACKFILLD_BIN" $cmd -c "$IT_DIR/unreachable.yaml" \
		>"$IT_DIR/unreachable.$cmd.out" 2>"$IT_DIR/unreachable.$cmd.err"
	it_eq "$?" 1 "$cmd with an unreachable server: exit status"
	it_contains "$IT_DIR/unreachable.$cmd.err" "connect" "$cmd: unreachable message"
	no_secret "$cmd with an unreachable server" "$IT_DIR/unreachable.$cmd.err" "$IT_DIR/unreachable.$cmd.out"
done

# --- not dumpable: the daemon's own uid cannot read its environment or memory -------------
# as root: the daemon and the reader run as another user; otherwise both are this user
if ((EUID == 0)) && id nobody >/dev/null 2>&1; then
	as_user=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
	mkdir -p "$IT_DIR/nobody"
	cp "$BACKFILLD_BIN" "$IT_DIR/nobody/backfilld"
	# the drivers the binary loads from its own directory, where it has them
	for so in "$(dirname "$BACKFILLD_BIN")"/backfilld-*.so; do
		[[ -e "$so" ]] && cp "$so" "$IT_DIR/nobody/"
	done
	cp "$IT_DIR/password" "$IT_DIR/nobody/password"
	chown -R nobody "$IT_DIR/nobody"
	chmod 755 "$IT_DIR" "$IT_DIR"/nobody/backfilld*
	bin=$IT_DIR/nobody/backfilld
	sock=$IT_DIR/nobody/status.sock
	job_yaml "$IT_DIR/nobody/job.yaml" text "$IT_DIR/nobody/password"
	sed -i "s|^  socket: .*|  socket: $sock|" "$IT_DIR/nobody/job.yaml"
else
	as_user=()
	bin=$BACKFILLD_BIN
	mkdir -p "$IT_DIR/nobody"
	job_yaml "$IT_DIR/nobody/job.yaml" text "$IT_DIR/password"
	sock=$IT_DIR/status.sock
fi
next_run
BACKFILLD_PASSWORD=$password "${as_user[@]}" "$bin" run -c "$IT_DIR/nobody/job.yaml" >"$IT_DIR/nobody.out" 2>"$IT_DIR/nobody.log" &
IT_PID=$!
IT_PIDS+=("$IT_PID")
wait_this_run
# the daemon itself under that pid (setpriv execs it)
it_contains <(tr '\0' ' ' <"/proc/$IT_PID/cmdline") "$bin run" "the daemon's cmdline"
IT_CHECKS=$((IT_CHECKS + 1))
if "${as_user[@]}" cat "/proc/$IT_PID/environ" >"$IT_DIR/nobody.environ" 2>"$IT_DIR/nobody.environ.err"; then
	it_fail "a process of the daemon's uid read its /proc/PID/environ"
fi
it_contains "$IT_DIR/nobody.environ.err" "Permission denied" "reading environ as the daemon's uid"
IT_CHECKS=$((IT_CHECKS + 1))
if "${as_user[@]}" dd if="/proc/$IT_PID/mem" of=/dev/null bs=1 count=1 skip=4096 2>"$IT_DIR/nobody.mem.err"; then
	it_fail "a process of the daemon's uid opened its /proc/PID/mem"
fi
it_contains "$IT_DIR/nobody.mem.err" "Permission denied" "reading mem as the daemon's uid"
it_eq "$(stat -c %U "/proc/$IT_PID/status")" root "the daemon's /proc entries (owned by root when not dumpable)"
it_eq "$("${as_user[@]}" "$bin" stop -s "$sock")" "OK stopping after the batch in flight" "stop of the other uid's daemon"
wait "$IT_PID"
it_eq "$?" 0 "exit status after stop"
no_secret "the log of the daemon run as another uid" "$IT_DIR/nobody.log" "$IT_DIR/nobody.out"
it_pass

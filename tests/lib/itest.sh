# shellcheck shell=bash
# Helpers for the integration scenarios in tests/integration/: each scenario is one
# script, run by ctest against the servers that tests/run.sh started, once per
# driver (BACKFILLD_TEST_DRIVER=postgres or mysql; see CMakeLists.txt).
#
#   source "$(dirname "$0")/../lib/itest.sh"
#   it_setup NAME          fresh database it_NAME the user backfill may use, scratch dir $IT_DIR
#   it_items N             table items(id bigint PK, old_status int, payload, new_status)
#   it_config FILE [YAML]  job config for $IT_DB (extra YAML lines appended)
#   it_sql "SQL"           as backfill on $IT_DB: one row per line, columns joined by |
#   it_admin_sql "SQL"     the same as the administrator
#   it_pg / it_my          true when the scenario runs on that driver
#   it_ckpt FIELD [JOB]    a field of the checkpoint row (cursor0, hw0: first key part)
#   it_distinct A B        SQL: A and B differ, NULL-safe
#   $IT_T                  a true boolean as the client prints it (t / 1); for text
#                          use CONCAT_WS, which both engines have (|| is OR in MySQL)
#   it_run ARGS...         the daemon (BACKFILLD_BIN), password through the file
#   it_eq ACTUAL EXPECTED WHAT / it_fail WHAT / it_pass
#
# Without the servers' variables a scenario skips (exit 77), except under CI, where
# that is a failure: CI always starts the servers.
set -uo pipefail

IT_NAME=""
IT_DB=""
IT_DIR=""
IT_PIDS=()
IT_CHECKS=0
IT_DRIVER=${BACKFILLD_TEST_DRIVER:-postgres}
# Under valgrind (tests/valgrind/run.sh) the daemon and its client run many times
# slower: the timeouts of the waits below (it_wait_sql, it_wait_ckpt, it_wait_file,
# it_wait_state) are multiplied by BACKFILLD_TEST_SLOWDOWN, a whole number, 1 by
# default, and it_kill_at counts its instants from the daemon's connection. Latencies
# the scenarios assert are not scaled.
IT_SLOW=${BACKFILLD_TEST_SLOWDOWN:-1}
[[ "$IT_SLOW" =~ ^[1-9][0-9]*$ ]] || IT_SLOW=1
# how each engine's client prints a true boolean: compare query results with $IT_T
IT_T=t
[[ "$IT_DRIVER" == mysql ]] && IT_T=1

it_fail() {
	printf 'FAIL [%s/%s]: %s\n' "$IT_NAME" "$IT_DRIVER" "$*" >&2
	exit 1
}

it_log() {
	printf '[%s/%s] %s\n' "$IT_NAME" "$IT_DRIVER" "$*" >&2
}

it_cleanup() {
	local pid
	for pid in "${IT_PIDS[@]}"; do
		kill -9 "$pid" 2>/dev/null
	done
	wait 2>/dev/null
	[[ -n "$IT_DIR" && -z "${BACKFILLD_KEEP_TMP:-}" ]] && rm -rf "$IT_DIR"
	return 0
}

it_pg() { [[ "$IT_DRIVER" == postgres ]]; }
it_my() { [[ "$IT_DRIVER" == mysql ]]; }

it_setup() {
	local port_var
	IT_NAME=$1
	case "$IT_DRIVER" in
	postgres) port_var=BACKFILLD_PG_PORT ;;
	mysql) port_var=BACKFILLD_MY_PORT ;;
	*) it_fail "unknown BACKFILLD_TEST_DRIVER $IT_DRIVER" ;;
	esac
	if [[ -z "${!port_var:-}" ]]; then
		if [[ -n "${CI:-}" ]]; then
			echo "FAIL [$IT_NAME/$IT_DRIVER]: no test servers ($port_var unset); run tests/run.sh" >&2
			exit 1
		fi
		echo "SKIP [$IT_NAME/$IT_DRIVER]: no test servers; run through tests/run.sh" >&2
		exit 77
	fi
	[[ -x "${BACKFILLD_BIN:-}" ]] || it_fail "BACKFILLD_BIN is not an executable"
	IT_DB="it_${IT_NAME}"
	IT_DIR=$(mktemp -d "${TMPDIR:-/tmp}/backfilld-it-${IT_NAME}-${IT_DRIVER}.XXXXXX")
	trap it_cleanup EXIT
	if it_pg; then
		export PGCONNECT_TIMEOUT=10 PGOPTIONS='-c client_min_messages=warning'
		it_admin_sql_db postgres "DROP DATABASE IF EXISTS \"$IT_DB\" WITH (FORCE)" >/dev/null
		it_admin_sql_db postgres "CREATE DATABASE \"$IT_DB\" OWNER $BACKFILLD_PG_USER" >/dev/null ||
			it_fail "cannot create database $IT_DB"
		printf '%s' "$BACKFILLD_PG_PASSWORD" >"$IT_DIR/password"
	else
		it_admin_sql_db mysql "DROP DATABASE IF EXISTS \`$IT_DB\`; CREATE DATABASE \`$IT_DB\`;
			GRANT ALL ON \`$IT_DB\`.* TO '$BACKFILLD_MY_USER'@'127.0.0.1'" >/dev/null ||
			it_fail "cannot create database $IT_DB"
		printf '%s' "$BACKFILLD_MY_PASSWORD" >"$IT_DIR/password"
	fi
	# the password file the daemon reads: 0600, owned by whoever runs the tests
	chmod 600 "$IT_DIR/password"
}

# The mariadb client prints tabs and NULL; psql -At prints | and nothing.
_it_my_rows() {
	awk -F '\t' -v OFS='|' '{ $1 = $1; for (i = 1; i <= NF; i++) if ($i == "NULL") $i = ""; print }'
}

_it_my_client() {
	local user=$1 db=$2 pw=$3
	shift 3
	local rc out
	out=$(MYSQL_PWD=$pw "${BACKFILLD_MY_BIN:-/usr/bin}/mariadb" --batch --skip-column-names \
		--connect-timeout=10 -h "$BACKFILLD_MY_HOST" -P "$BACKFILLD_MY_PORT" -u "$user" "$db" -e "$@")
	rc=$?
	[[ -n "$out" ]] && printf '%s\n' "$out" | _it_my_rows
	return $rc
}

it_sql() {
	if it_pg; then
		PGPASSWORD=$BACKFILLD_PG_PASSWORD "$BACKFILLD_PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 \
			-h "$BACKFILLD_PG_HOST" -p "$BACKFILLD_PG_PORT" -U "$BACKFILLD_PG_USER" -d "$IT_DB" \
			-c "$@"
	else
		_it_my_client "$BACKFILLD_MY_USER" "$IT_DB" "$BACKFILLD_MY_PASSWORD" "$@"
	fi
}

it_admin_sql_db() {
	local db=$1
	shift
	if it_pg; then
		"$BACKFILLD_PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 \
			-h "$BACKFILLD_PG_HOST" -p "$BACKFILLD_PG_PORT" -U "$BACKFILLD_PG_ADMIN" -d "$db" -c "$@"
	else
		_it_my_client "$BACKFILLD_MY_ADMIN" "$db" "" "$@"
	fi
}

it_admin_sql() {
	it_admin_sql_db "$IT_DB" "$@"
}

# it_distinct A B: SQL that is true when A and B differ, NULL-safe
it_distinct() {
	if it_pg; then echo "($1 IS DISTINCT FROM $2)"; else echo "(NOT ($1 <=> $2))"; fi
}

# it_ckpt FIELD [JOB]: a field of the job's checkpoint row; cursor0 and hw0 are the
# first key part of cursor and high_water, cursor and high_water the JSON text.
# it_table_exists NAME: the table is in the scenario's database
it_table_exists() {
	local n
	if it_pg; then
		n=$(it_sql "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename = '$1'")
	else
		n=$(it_sql "SELECT count(*) FROM information_schema.TABLES
			WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '$1'")
	fi || it_fail "cannot read the catalog for table $1"
	[[ "$n" == 1 ]]
}

it_ckpt() {
	local f=$1 job=${2:-$IT_NAME} expr
	case "$f" in
	cursor0) it_pg && expr="\"cursor\"->>0" || expr="JSON_UNQUOTE(JSON_EXTRACT(\`cursor\`, '\$[0]'))" ;;
	hw0) it_pg && expr="high_water->>0" || expr="JSON_UNQUOTE(JSON_EXTRACT(high_water, '\$[0]'))" ;;
	cursor) it_pg && expr="\"cursor\"::text" || expr="\`cursor\`" ;;
	high_water) it_pg && expr="high_water::text" || expr="high_water" ;;
	*) expr=$f ;;
	esac
	it_sql "SELECT $expr FROM backfilld_checkpoint WHERE job = '$job'"
}

# it_items N: N rows with sparse ids (id = g*3 + g%7), ~2% NULL sources.
it_items() {
	if it_pg; then
		it_sql "CREATE TABLE items (id bigint PRIMARY KEY, old_status int, payload text, new_status int);
			INSERT INTO items SELECT g * 3 + g % 7, CASE WHEN g % 50 = 0 THEN NULL ELSE g % 1000 END,
				md5(g::text), NULL FROM generate_series(1, $1) g;
			ANALYZE items;" || it_fail "cannot create items"
	else
		it_sql "CREATE TABLE items (id BIGINT PRIMARY KEY, old_status INT, payload TEXT, new_status INT)
				ENGINE=InnoDB;
			INSERT INTO items SELECT seq * 3 + seq % 7, IF(seq % 50 = 0, NULL, seq % 1000),
				md5(seq), NULL FROM seq_1_to_$1;
			ANALYZE TABLE items;" >/dev/null || it_fail "cannot create items"
	fi
}

# it_items_matched N MOD: it_items, then rows with id % MOD = 0 written by "the
# application" (new_status -1, guard false), and a column `matched`: the rows whose
# guard held when the job started, as it_check_consistent needs.
it_items_matched() {
	it_items "$1"
	it_sql "UPDATE items SET new_status = -1 WHERE id % $2 = 0;
		ALTER TABLE items ADD COLUMN matched bool;
		UPDATE items SET matched = (new_status IS NULL)" || it_fail "cannot mark items"
}

# milliseconds since the epoch
it_now_ms() {
	local t=${EPOCHREALTIME/[.,]/}
	echo $((t / 1000))
}

# it_db_yaml [USER [PORT]]: the lines under `database:` that reach $IT_DB on the
# primary (driver and dsn, or driver, host, port, user and database), without the
# password_file; USER and PORT (when not empty) replace the test user and port.
# shellcheck disable=SC2120 # check.sh passes them
it_db_yaml() {
	if it_pg; then
		printf '  driver: postgres\n  dsn: "host=%s port=%s dbname=%s user=%s"\n' \
			"$BACKFILLD_PG_HOST" "${2:-$BACKFILLD_PG_PORT}" "$IT_DB" "${1:-$BACKFILLD_PG_USER}"
	else
		printf '  driver: mysql\n  host: %s\n  port: %s\n  user: %s\n  database: %s\n' \
			"$BACKFILLD_MY_HOST" "${2:-$BACKFILLD_MY_PORT}" "${1:-$BACKFILLD_MY_USER}" "$IT_DB"
	fi
}

# it_replica_yaml [PORT]: the lines of one throttle.replicas entry that reach $IT_DB on
# the replica (PORT, when given, replaces the replica's port).
it_replica_yaml() {
	if it_pg; then
		printf '    - dsn: "host=%s port=%s dbname=%s user=%s"\n' \
			"$BACKFILLD_PG_HOST" "${1:-$BACKFILLD_PG_REPLICA_PORT}" "$IT_DB" "$BACKFILLD_PG_USER"
	else
		printf '    - host: %s\n      port: %s\n      user: %s\n      database: %s\n' \
			"$BACKFILLD_MY_HOST" "${1:-$BACKFILLD_MY_REPLICA_PORT}" "$BACKFILLD_MY_USER" "$IT_DB"
	fi
}

# it_replica_sql SQL: as the administrator on the replica
it_replica_sql() {
	if it_pg; then
		"$BACKFILLD_PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$BACKFILLD_PG_HOST" \
			-p "$BACKFILLD_PG_REPLICA_PORT" -U "$BACKFILLD_PG_ADMIN" -d postgres -c "$1"
	else
		"$BACKFILLD_MY_BIN/mariadb" --no-defaults --connect-timeout=10 -N -B \
			-S "$BACKFILLD_MY_REPLICA_SOCKET" -u "$BACKFILLD_MY_ADMIN" -e "$1"
	fi
}

# it_config FILE [EXTRA_YAML]: a job on items(id) setting new_status = old_status.
it_config() {
	local file=$1 extra=${2:-}
	cat >"$file" <<YAML
job: ${IT_NAME}
database:
$(it_db_yaml)
  password_file: $IT_DIR/password
table: items
key: id
set:
  new_status: old_status
throttle:
  # no throttle sessions beside the batch's: scenarios count the daemon's sessions
  max_replication_lag: 0s
  max_lock_waits: 0
status:
  socket: $IT_DIR/status.sock
log:
  progress_interval: 0s
$extra
YAML
}

# it_config_sampled FILE SIZE [EXPR [BATCH_YAML]]: it_config with batches of
# exactly SIZE keys that aim at 5 s (50 ms while sessions wait on them), lock waits
# sampled but never enough to pause, and new_status set to EXPR when given.
# BATCH_YAML: more lines under batch:, indented.
it_config_sampled() {
	local file=$1 size=$2 expr=${3:-} more=${4:-}
	it_config "$file" "batch:
  size: $size
  min_size: $size
  max_size: $size
  target_time: 5s
  contended_target_time: 50ms${more:+
$more}"
	sed -i "s/^  max_lock_waits: 0/  max_lock_waits: 1000/" "$file"
	[[ -z "$expr" ]] || sed -i "s/^  new_status: old_status/  new_status: \"$expr\"/" "$file"
	it_contains "$file" "max_lock_waits: 1000" "job with lock waits sampled"
}

it_run() {
	"$BACKFILLD_BIN" "$@"
}

# it_start LOG ARGS...: the daemon in the background; its pid in IT_PID.
it_start() {
	local log=$1
	shift
	"$BACKFILLD_BIN" "$@" >"$log.out" 2>"$log" &
	IT_PID=$!
	IT_LOG=$log
	IT_PIDS+=("$IT_PID")
}

# it_sleeper SECONDS: another session of the test user runs a statement (a sleep)
# for SECONDS, as on a server in use; returns once it runs; its client's pid in
# IT_SLEEPER (wait for it before the end: the server would go on sleeping).
it_sleeper() {
	local sql
	if it_pg; then sql="SELECT pg_sleep($1)"; else sql="SELECT SLEEP($1)"; fi
	it_sql "$sql" >/dev/null &
	IT_SLEEPER=$!
	IT_PIDS+=("$IT_SLEEPER")
	if it_pg; then
		it_wait_sql 10 "SELECT count(*) FROM pg_stat_activity WHERE query = '$sql' AND state = 'active'" 1
	else
		it_wait_sql 10 "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO = '$sql'" 1
	fi
}

# it_wait_sql SECONDS "SQL" EXPECTED: poll until the query answers EXPECTED.
it_wait_sql() {
	local deadline=$((SECONDS + $1 * IT_SLOW)) got
	while ((SECONDS < deadline)); do
		got=$(it_sql "$2" 2>/dev/null) && [[ "$got" == "$3" ]] && return 0
		sleep 0.05
	done
	it_fail "timed out waiting for [$2] = [$3] (last: [${got:-}])"
}

# it_wait_ckpt SECONDS EXPR EXPECTED: it_wait_sql on EXPR of the job's checkpoint row
it_wait_ckpt() {
	it_wait_sql "$1" "SELECT $2 FROM backfilld_checkpoint WHERE job = '$IT_NAME'" "$3"
}

# it_wait_ckpt_throttled SECONDS: poll until the checkpoint row records the throttle:
# throttle_reasons set, state still running (the row keeps SPEC.md's five states)
it_wait_ckpt_throttled() {
	it_wait_sql "$1" "SELECT state FROM backfilld_checkpoint WHERE job = '$IT_NAME' AND throttle_reasons IS NOT NULL" running
}

# it_wait_file SECONDS FILE TEXT: poll until FILE holds TEXT (a fixed string).
it_wait_file() {
	local deadline=$((SECONDS + $1 * IT_SLOW))
	while ((SECONDS < deadline)); do
		grep -qF -- "$3" "$2" 2>/dev/null && return 0
		sleep 0.05
	done
	it_fail "timed out waiting for [$3] in $2: $(tail -n 3 "$2" 2>/dev/null)"
}

# it_alive PID: true while PID runs (a zombie does not count).
it_alive() {
	local st
	st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
	[[ "$st" != Z ]]
}

# it_kill_at MIN_MS SPAN_MS: after a random MIN_MS..MIN_MS+SPAN_MS-1 ms (under 1 s),
# kill -9 the daemon (IT_PID, logging to IT_LOG) and reap it. If it had ended
# already: reap it, set IT_RC to its exit status and return 1.
# Under a slowdown the instant counts from the daemon's connection to the database
# (its log says "connected"), not from its start: valgrind stretches the start to
# seconds, and counted from there every kill would land before the job began, while
# the batches, mostly the database's time, are hardly slower.
IT_RC=0
IT_LOG=""
it_kill_at() {
	if ((IT_SLOW > 1)); then
		local deadline=$((SECONDS + 10 * IT_SLOW))
		while it_alive "$IT_PID" && ! grep -q connected "$IT_LOG" 2>/dev/null &&
			((SECONDS < deadline)); do
			sleep 0.02
		done
	fi
	sleep "0.$(printf '%03d' $(($1 + RANDOM % $2)))"
	if it_alive "$IT_PID"; then
		kill -9 "$IT_PID"
		wait "$IT_PID" 2>/dev/null
		return 0
	fi
	wait "$IT_PID"
	IT_RC=$?
	return 1
}

it_eq() {
	IT_CHECKS=$((IT_CHECKS + 1))
	[[ "$1" == "$2" ]] || it_fail "$3: got [$1], expected [$2]"
}

# it_le A B WHAT: integer A <= B
it_le() {
	IT_CHECKS=$((IT_CHECKS + 1))
	(($1 <= $2)) || it_fail "$3: $1 > $2"
}

it_contains() {
	IT_CHECKS=$((IT_CHECKS + 1))
	grep -qF -- "$2" "$1" || it_fail "$3: [$2] not in $1: $(tail -n 5 "$1")"
}

it_pass() {
	echo "PASS [$IT_NAME]: $IT_CHECKS checks"
	exit 0
}

# The checkpoint's view must match the data exactly: every row at or below the
# cursor whose guard held is done, nothing above it has been touched, and rows_done
# counts exactly the rows the committed batches matched. Call while no daemon runs.
# Needs a column `matched` (bool): rows whose guard held when the job started.
it_check_consistent() {
	local what=$1 out cur=-1 done_sql=0
	# no table or no row yet (killed before it was written) or no batch yet:
	# nothing is done
	if it_table_exists backfilld_checkpoint; then
		cur=$(it_ckpt cursor0) || it_fail "$what: cannot read the checkpoint"
		[[ -n "$cur" ]] || cur=-1
		done_sql="COALESCE((SELECT rows_done FROM backfilld_checkpoint WHERE job = '$IT_NAME'), 0)"
	fi
	out=$(it_sql "SELECT
		  (SELECT count(*) FROM items WHERE id <= $cur AND matched
		     AND $(it_distinct new_status old_status)),
		  (SELECT count(*) FROM items WHERE id > $cur AND matched AND new_status IS NOT NULL),
		  (SELECT count(*) FROM items WHERE id <= $cur AND matched) - $done_sql") ||
		it_fail "$what: consistency query failed"
	it_eq "$out" "0|0|0" "$what: (undone at/below cursor | touched above cursor | matched - rows_done)"
}

# it_kill_daemon_sessions: ends the daemon's database sessions from outside
# (pg_terminate_backend / KILL CONNECTION); prints how many.
it_kill_daemon_sessions() {
	local ids n=0 id
	if it_pg; then
		it_admin_sql "SELECT count(*) FILTER (WHERE t) FROM (SELECT pg_terminate_backend(pid) AS t
			FROM pg_stat_activity WHERE application_name = 'backfilld $IT_NAME') s"
		return
	fi
	ids=$(it_admin_sql "SELECT ID FROM information_schema.PROCESSLIST
		WHERE USER = '$BACKFILLD_MY_USER' AND DB = '$IT_DB' AND ID <> CONNECTION_ID()")
	for id in $ids; do
		it_admin_sql "KILL CONNECTION $id" && n=$((n + 1))
	done
	echo "$n"
}

# it_daemon_lock_waits: how many of the daemon's sessions wait on a row lock now.
# MariaDB refreshes INNODB_TRX only when nobody read it for 0.1 s: poll it more
# slowly than that.
it_daemon_lock_waits() {
	if it_pg; then
		it_admin_sql "SELECT count(*) FROM pg_stat_activity
			WHERE application_name = 'backfilld $IT_NAME' AND wait_event_type = 'Lock'"
	else
		it_admin_sql "SELECT count(*) FROM information_schema.INNODB_TRX t
			JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id
			WHERE t.trx_state = 'LOCK WAIT' AND p.USER = '$BACKFILLD_MY_USER' AND p.DB = '$IT_DB'"
	fi
}

# it_jlit JSON: the JSON text as a MariaDB string literal, quotes included: quotes
# doubled, backslashes escaped (the servers do not run NO_BACKSLASH_ESCAPES)
it_jlit() {
	printf "'%s'" "$(printf '%s' "$1" | sed "s/'/''/g; s/\\\\/\\\\\\\\/g")"
}

# it_json_field JSON FIELD: a field of a JSON object, as text, parsed by the server
it_json_field() {
	if it_pg; then
		it_sql "SELECT (\$j\$$1\$j\$::jsonb) ->> '$2'"
	else
		it_sql "SELECT JSON_UNQUOTE(JSON_EXTRACT($(it_jlit "$1"), '\$.$2'))"
	fi
}

# it_jget JSON FIELD: a scalar of the daemon's one-line status json (a number, null,
# or a string without quotes in it); it_jreasons has the server parse the array
it_jget() {
	local re="\"$2\":(\"[^\"]*\"|[^,}]*)" v
	[[ "$1" =~ $re ]] || return 1
	v=${BASH_REMATCH[1]}
	v=${v#\"}
	printf '%s' "${v%\"}"
}

# it_jpositive JSON FIELD: whether the field is a number above 0 (the rate, once known)
it_jpositive() {
	local v
	v=$(it_jget "$1" "$2") || return 1
	awk -v v="$v" 'BEGIN { exit !(v + 0 > 0) }'
}

# it_jreasons JSON: the throttle_reasons of a status json, one per line
it_jreasons() {
	if it_pg; then
		it_sql "SELECT jsonb_array_elements_text(\$j\$$1\$j\$::jsonb -> 'throttle_reasons')"
	else
		it_sql "SELECT r FROM JSON_TABLE($(it_jlit "$1"),
			'\$.throttle_reasons[*]' COLUMNS (r TEXT PATH '\$')) t"
	fi
}

# it_fcmp EXPR: a comparison of decimals, by awk (exit status)
it_fcmp() { awk "BEGIN { exit !($1) }"; }

# it_status_json: the daemon's `status --json` answer on $IT_DIR/status.sock (stderr
# dropped; the exit status is the daemon's)
it_status_json() {
	"$BACKFILLD_BIN" status --json -s "$IT_DIR/status.sock" 2>/dev/null
}

# it_throttled_s KIND [FILE]: the job's backfilld_throttled_seconds_total for reason
# KIND, from FILE (a saved `metrics` answer) or asked on $IT_DIR/status.sock
it_throttled_s() {
	local prog="s/^backfilld_throttled_seconds_total{job=\"$IT_NAME\",reason=\"$1\"} //p"
	if (($# > 1)); then
		sed -n "$prog" "$2"
	else
		"$BACKFILLD_BIN" metrics -s "$IT_DIR/status.sock" 2>/dev/null | sed -n "$prog"
	fi
}

# it_wait_state STATE SECONDS: polls `status json` on $IT_DIR/status.sock every 50 ms
# until the job's state is STATE. Sets J (that answer), T_SEEN (its time, ms) and
# J_RUNNING (the last answer in state running before it); every poll is appended
# to $IT_DIR/states.txt as "ms state batches_done".
J="" J_RUNNING="" T_SEEN=0
it_wait_state() {
	local deadline=$(($(it_now_ms) + $2 * IT_SLOW * 1000)) s now
	while :; do
		J=$(it_status_json) || J=""
		now=$(it_now_ms)
		s=$(it_jget "$J" state) || s="?"
		echo "$now $s $(it_jget "$J" batches_done)" >>"$IT_DIR/states.txt"
		[[ "$s" == running ]] && J_RUNNING=$J
		if [[ "$s" == "$1" ]]; then
			T_SEEN=$now
			return 0
		fi
		((now < deadline)) || it_fail "state $1 not reached in $2 s (last: $s; log: $(tail -n 3 "$IT_DIR/run.log"))"
		sleep 0.05
	done
}

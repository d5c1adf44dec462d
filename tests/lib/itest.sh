# shellcheck shell=bash
# Helpers for the integration scenarios in tests/integration/: each scenario is one
# script, run by ctest against the servers that tests/run.sh started.
#
#   source "$(dirname "$0")/../lib/itest.sh"
#   it_setup NAME          fresh database it_NAME owned by backfill, scratch dir $IT_DIR
#   it_items N             table items(id bigint PK, old_status int, payload, new_status)
#   it_config FILE [YAML]  job config for $IT_DB (extra YAML lines appended)
#   it_sql "SQL"           psql as backfill on $IT_DB, unaligned, tuples only
#   it_admin_sql "SQL"     the same as the superuser
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

it_fail() {
	printf 'FAIL [%s]: %s\n' "$IT_NAME" "$*" >&2
	exit 1
}

it_log() {
	printf '[%s] %s\n' "$IT_NAME" "$*" >&2
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

it_setup() {
	IT_NAME=$1
	if [[ -z "${BACKFILLD_PG_PORT:-}" ]]; then
		if [[ -n "${CI:-}" ]]; then
			echo "FAIL [$IT_NAME]: no test servers (BACKFILLD_PG_PORT unset); run tests/run.sh" >&2
			exit 1
		fi
		echo "SKIP [$IT_NAME]: no test servers; run through tests/run.sh" >&2
		exit 77
	fi
	[[ -x "${BACKFILLD_BIN:-}" ]] || it_fail "BACKFILLD_BIN is not an executable"
	IT_DB="it_${IT_NAME}"
	IT_DIR=$(mktemp -d "${TMPDIR:-/tmp}/backfilld-it-${IT_NAME}.XXXXXX")
	trap it_cleanup EXIT
	export PGCONNECT_TIMEOUT=10 PGOPTIONS='-c client_min_messages=warning'
	it_admin_sql_db postgres "DROP DATABASE IF EXISTS \"$IT_DB\" WITH (FORCE)" >/dev/null
	it_admin_sql_db postgres "CREATE DATABASE \"$IT_DB\" OWNER $BACKFILLD_PG_USER" >/dev/null ||
		it_fail "cannot create database $IT_DB"
	# the password file the daemon reads: 0600, owned by whoever runs the tests
	printf '%s' "$BACKFILLD_PG_PASSWORD" >"$IT_DIR/password"
	chmod 600 "$IT_DIR/password"
}

it_sql() {
	PGPASSWORD=$BACKFILLD_PG_PASSWORD "$BACKFILLD_PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 \
		-h "$BACKFILLD_PG_HOST" -p "$BACKFILLD_PG_PORT" -U "$BACKFILLD_PG_USER" -d "$IT_DB" \
		-c "$@"
}

it_admin_sql_db() {
	local db=$1
	shift
	"$BACKFILLD_PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 \
		-h "$BACKFILLD_PG_HOST" -p "$BACKFILLD_PG_PORT" -U "$BACKFILLD_PG_ADMIN" -d "$db" -c "$@"
}

it_admin_sql() {
	it_admin_sql_db "$IT_DB" "$@"
}

# it_items N [GAP]: N rows with sparse ids (id = g*3 + g%7), ~2% NULL sources.
it_items() {
	it_sql "CREATE TABLE items (id bigint PRIMARY KEY, old_status int, payload text, new_status int);
		INSERT INTO items SELECT g * 3 + g % 7, CASE WHEN g % 50 = 0 THEN NULL ELSE g % 1000 END,
			md5(g::text), NULL FROM generate_series(1, $1) g;
		ANALYZE items;" || it_fail "cannot create items"
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

# it_config FILE [EXTRA_YAML]: a job on items(id) setting new_status = old_status.
it_config() {
	local file=$1 extra=${2:-}
	cat >"$file" <<YAML
job: ${IT_NAME}
database:
  driver: postgres
  dsn: "host=$BACKFILLD_PG_HOST port=$BACKFILLD_PG_PORT dbname=$IT_DB user=$BACKFILLD_PG_USER"
  password_file: $IT_DIR/password
table: items
key: id
set:
  new_status: old_status
throttle:
  max_replication_lag: 0s
status:
  socket: $IT_DIR/status.sock
log:
  progress_interval: 0s
$extra
YAML
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
	IT_PIDS+=("$IT_PID")
}

# it_wait_sql SECONDS "SQL" EXPECTED: poll until the query answers EXPECTED.
it_wait_sql() {
	local deadline=$((SECONDS + $1)) got
	while ((SECONDS < deadline)); do
		got=$(it_sql "$2" 2>/dev/null) && [[ "$got" == "$3" ]] && return 0
		sleep 0.05
	done
	it_fail "timed out waiting for [$2] = [$3] (last: [${got:-}])"
}

# it_alive PID: true while PID runs (a zombie does not count).
it_alive() {
	local st
	st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
	[[ "$st" != Z ]]
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
	local what=$1 out
	out=$(it_sql "
		WITH c AS (SELECT COALESCE((\"cursor\"->>0)::bigint, -1) AS cur, rows_done
		           FROM backfilld_checkpoint WHERE job = '$IT_NAME')
		SELECT
		  (SELECT count(*) FROM items, c WHERE id <= cur AND matched
		     AND new_status IS DISTINCT FROM old_status),
		  (SELECT count(*) FROM items, c WHERE id > cur AND matched AND new_status IS NOT NULL),
		  (SELECT count(*) FROM items, c WHERE id <= cur AND matched) - (SELECT rows_done FROM c)") ||
		it_fail "$what: consistency query failed"
	it_eq "$out" "0|0|0" "$what: (undone at/below cursor | touched above cursor | matched - rows_done)"
}

#!/usr/bin/env bash
# backfilld demo: backfill a 1,000,000-row table on a throwaway PostgreSQL 15 or
# MariaDB.
#
#   tests/demo.sh [--rows N]            # PostgreSQL 15, job config/demo.yaml
#   tests/demo.sh --mysql [--rows N]    # MariaDB, job config/demo-mysql.yaml
#
# Installs missing Debian packages (tests/lib/deps.sh), builds build/demo (Release),
# starts a private primary (no replica) in /tmp, creates database `demo` with
#     items (id bigint PRIMARY KEY, old_status int, payload text, new_status int)
# (sparse ids, ~2% NULL old_status, new_status NULL; InnoDB on MariaDB), then runs
# the job in the foreground: `backfilld check`, `backfilld run`, then
# `backfilld verify`, and prints
# what the table looks like afterwards. Everything is removed on exit
# (BACKFILLD_KEEP_TMP=1 keeps the temp dir: server log, generated job file).
set -euo pipefail

rows=1000000
engine=postgres
while (($#)); do
	case "$1" in
	--mysql) engine=mysql ;;
	--rows)
		[[ "${2:-}" =~ ^[1-9][0-9]*$ ]] || {
			echo "demo.sh: --rows needs a positive number" >&2
			exit 2
		}
		rows=$2
		shift
		;;
	-h | --help)
		sed -n '2,14s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
		exit 0
		;;
	*)
		echo "demo.sh: unknown argument: $1 (see --help)" >&2
		exit 2
		;;
	esac
	shift
done

cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."

t_start=$SECONDS
section() { printf '\n==== %s  (t+%ds)\n' "$*" "$((SECONDS - t_start))"; }

section "dependencies"
tests/lib/deps.sh

section "build: build/demo (Release)"
cmake -S . -B build/demo -DCMAKE_BUILD_TYPE=Release -DBACKFILLD_TESTS=OFF >/dev/null
cmake --build build/demo -j2 --target backfilld
bin=$PWD/build/demo/backfilld

# shellcheck source=tests/lib/servers.sh
source tests/lib/servers.sh
trap servers_stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

job=""
sock=""

# ---- PostgreSQL
# Over the socket: admin and backfill are trusted there (over TCP backfill needs its
# password, which is what the daemon uses).
psql_as() {
	local user=$1 db=$2
	shift 2
	"$BACKFILLD_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -At -h "$BACKFILLD_PG_SOCKET_DIR" \
		-p "$BACKFILLD_PG_PORT" -U "$user" -d "$db" "$@"
}

setup_postgres() {
	section "PostgreSQL 15 (throwaway, no replica)"
	servers_start_pg --no-replica

	section "database demo: items with $rows rows"
	t0=$SECONDS
	psql_as admin postgres -c "CREATE DATABASE demo OWNER backfill"
	# Same table as CREATE TABLE items (id bigint PRIMARY KEY, ...), but the primary key
	# is added after the load, which is faster than maintaining it row by row.
	psql_as backfill demo <<-EOF
		CREATE TABLE items (id bigint NOT NULL, old_status int, payload text, new_status int);
		INSERT INTO items (id, old_status, payload, new_status)
		SELECT g * 3 + (g % 7),                                   -- sparse, unique ids
		       CASE WHEN g % 50 = 7 THEN NULL ELSE (g * 7) % 10 END, -- 2% NULL
		       rpad(md5(g::text), 60, md5((-g)::text)),             -- 60 bytes
		       NULL
		FROM generate_series(1, $rows) AS g;
		SET maintenance_work_mem = '256MB';
		ALTER TABLE items ADD CONSTRAINT items_pkey PRIMARY KEY (id);
		ANALYZE items;
	EOF
	psql_as backfill demo -c "SELECT format('%s rows, ids %s..%s, %s with NULL old_status, %s on disk',
		count(*), min(id), max(id), count(*) FILTER (WHERE old_status IS NULL),
		pg_size_pretty(pg_total_relation_size('items'))) FROM items"
	echo "loaded in $((SECONDS - t0)) s"

	make_job config/demo.yaml -e "s|@PG_PORT@|$BACKFILLD_PG_PORT|g" \
		-e "s|@PASSWORD_FILE@|$BACKFILLD_PG_PASSWORD_FILE|g"
}

# Prints total|copied|pending|diverged|nulls for the summary.
summary_counts_postgres() {
	psql_as backfill demo -c "
		SELECT count(*),
		       count(*) FILTER (WHERE new_status = old_status),
		       count(*) FILTER (WHERE new_status IS NULL AND old_status IS NOT NULL),
		       count(*) FILTER (WHERE new_status IS NOT NULL AND new_status IS DISTINCT FROM old_status),
		       count(*) FILTER (WHERE old_status IS NULL)
		FROM items"
}

summary_checkpoint_postgres() {
	psql_as backfill demo -c "SELECT format('  checkpoint: state=%s rows_done=%s batches_done=%s',
		state, rows_done, batches_done) FROM backfilld_checkpoint
		WHERE job = 'demo_items_new_status'"
}

# ---- MariaDB
# my_as admin|backfill [DB] [ARGS...]: the mariadb client, batch mode, no column
# names, NULL printed as NULL. admin over the unix socket; backfill over TCP with its
# password (from a 0600 option file, the way the daemon connects: TCP + password).
my_as() {
	local user=$1
	shift
	local -a conn
	if [[ "$user" == admin ]]; then
		conn=(--no-defaults -S "$BACKFILLD_MY_SOCKET" -u "$BACKFILLD_MY_ADMIN")
	else
		conn=(--defaults-file="$BACKFILLD_TEST_TMP/demo-client.cnf")
	fi
	"$BACKFILLD_MY_BIN/mariadb" "${conn[@]}" --batch --skip-column-names "$@"
}

setup_mysql() {
	section "MariaDB (throwaway, no replica)"
	servers_start_mysql --no-replica
	(umask 077 && printf '[client]\nhost=%s\nport=%s\nuser=%s\npassword=%s\n' \
		"$BACKFILLD_MY_HOST" "$BACKFILLD_MY_PORT" "$BACKFILLD_MY_USER" "$BACKFILLD_MY_PASSWORD" \
		>"$BACKFILLD_TEST_TMP/demo-client.cnf")

	section "database demo: items with $rows rows"
	t0=$SECONDS
	# backfill has ALL on demo.* but may not create databases: admin does.
	my_as admin -e "CREATE DATABASE demo"
	# admin loads, without writing the rows to the binlog (there is no replica);
	# seq_1_to_N is MariaDB's Sequence engine. Ids arrive nearly in key order, so
	# the primary key is defined up front (InnoDB clusters the rows by it anyway).
	my_as admin demo >/dev/null <<-EOF
		SET SESSION sql_log_bin = 0;
		CREATE TABLE items (id BIGINT PRIMARY KEY, old_status INT, payload TEXT, new_status INT)
		  ENGINE=InnoDB;
		INSERT INTO items (id, old_status, payload, new_status)
		SELECT seq * 3 + seq % 7,                                       -- sparse, unique ids
		       CASE WHEN seq % 50 = 7 THEN NULL ELSE (seq * 7) % 10 END, -- 2% NULL
		       RPAD(MD5(seq), 60, MD5(CONCAT('-', seq))),                -- 60 bytes
		       NULL
		FROM seq_1_to_$rows;
		ANALYZE TABLE items;
	EOF
	my_as backfill demo -e "
		SELECT CONCAT(COUNT(*), ' rows, ids ', MIN(id), '..', MAX(id), ', ',
		       SUM(old_status IS NULL), ' with NULL old_status, ',
		       (SELECT ROUND((data_length + index_length) / 1048576) FROM information_schema.TABLES
		        WHERE table_schema = 'demo' AND table_name = 'items'), ' MB on disk')
		FROM items"
	echo "loaded in $((SECONDS - t0)) s"

	make_job config/demo-mysql.yaml -e "s|@MY_PORT@|$BACKFILLD_MY_PORT|g" \
		-e "s|@PASSWORD_FILE@|$BACKFILLD_MY_PASSWORD_FILE|g"
}

# The same five counts as summary_counts_postgres, |-separated. SUM over no rows is
# NULL, hence COALESCE; <=> is MariaDB's IS NOT DISTINCT FROM.
summary_counts_mysql() {
	my_as backfill demo -e "
		SELECT COUNT(*),
		       COALESCE(SUM(new_status = old_status), 0),
		       COALESCE(SUM(new_status IS NULL AND old_status IS NOT NULL), 0),
		       COALESCE(SUM(new_status IS NOT NULL AND NOT (new_status <=> old_status)), 0),
		       COALESCE(SUM(old_status IS NULL), 0)
		FROM items" | tr '\t' '|'
}

summary_checkpoint_mysql() {
	my_as backfill demo -e "SELECT CONCAT('  checkpoint: state=', state, ' rows_done=', rows_done,
		' batches_done=', batches_done) FROM backfilld_checkpoint
		WHERE job = 'demo_items_new_status'"
}

# make_job TEMPLATE SED_ARGS...: $job from the template, placeholders replaced (not in
# comments). The password is in a 0600 file written by servers.sh; the job file only
# names it.
make_job() {
	local template=$1
	shift
	section "job file"
	job=$BACKFILLD_TEST_TMP/demo.yaml
	sock=$BACKFILLD_TEST_TMP/demo.sock
	sed -e '/^[[:space:]]*#/!{' "$@" -e "s|@SOCKET@|$sock|g" -e '}' "$template" >"$job"
	if grep -v '^[[:space:]]*#' "$job" | grep -q '@[A-Z_]*@'; then
		echo "demo.sh: unsubstituted placeholder in $job" >&2
		exit 1
	fi
	echo "$job (from $template):"
	grep -v '^[[:space:]]*#' "$job" | grep -v '^[[:space:]]*$' | sed 's/^/  | /'
}

if [[ "$engine" == mysql ]]; then setup_mysql; else setup_postgres; fi

section "backfilld check -c $job"
check_rc=0
"$bin" check -c "$job" </dev/null || check_rc=$?
if ((check_rc != 0)); then
	echo "DEMO: FAILED (check found an error)"
	exit 1
fi

section "backfilld run -c $job"
t_run=$(date +%s.%N)
run_rc=0
"$bin" run -c "$job" </dev/null &
run_pid=$!
# what an operator sees meanwhile, from another terminal, through the status socket
sleep 2
if kill -0 "$run_pid" 2>/dev/null; then
	echo "---- $bin status -s $sock"
	"$bin" status -s "$sock" </dev/null | sed 's/^/  | /' || true
	echo "----"
fi
wait "$run_pid" || run_rc=$?
t_run_end=$(date +%s.%N)

section "backfilld verify -c $job"
verify_rc=0
"$bin" verify -c "$job" </dev/null || verify_rc=$?

section "summary"
IFS='|' read -r total copied pending diverged nulls < <(
	if [[ "$engine" == mysql ]]; then summary_counts_mysql; else summary_counts_postgres; fi
) || true
if [[ ! "$total" =~ ^[0-9]+$ ]]; then
	echo "demo.sh: could not count the rows of items" >&2
	exit 1
fi
elapsed=$(awk -v a="$t_run" -v b="$t_run_end" 'BEGIN { printf "%.1f", b - a }')
rate=$(awk -v n="$copied" -v a="$t_run" -v b="$t_run_end" \
	'BEGIN { d = b - a; if (d > 0) printf "%d", n / d; else print "-" }')
printf '  %-40s %s\n' \
	"rows in items" "$total" \
	"rows with new_status = old_status" "$copied" \
	"rows still pending" "$pending" \
	"rows diverged (new_status set otherwise)" "$diverged" \
	"rows with NULL old_status (stay NULL)" "$nulls" \
	"backfilld check" "exit $check_rc" \
	"backfilld run" "exit $run_rc, $elapsed s (~$rate rows/s)" \
	"backfilld verify" "exit $verify_rc" \
	"demo total" "$((SECONDS - t_start)) s"
if [[ "$engine" == mysql ]]; then
	summary_checkpoint_mysql 2>/dev/null || true
else
	summary_checkpoint_postgres 2>/dev/null || true
fi

if ((run_rc == 0 && verify_rc == 0 && pending == 0 && diverged == 0)); then
	echo "DEMO: OK"
	exit 0
fi
echo "DEMO: FAILED"
exit 1

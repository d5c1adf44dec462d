#!/usr/bin/env bash
# backfilld's benchmark: backfilld side by side with what users would otherwise run,
# on the same table, in one run, on both engines.
#
#   tests/bench/run.sh [--rows N] [--engine postgres|mysql|both] [--reps N]
#                      [--methods LIST] [--window S] [--no-secondary-index] [--out DIR]
#                      [--pg-conf TEXT] [--mysql-conf TEXT] [--io-probe]
#
#   --rows N       rows in the table (default 1000000; 10000000 works)
#   --engine E     postgres, mysql or both (default both)
#   --reps N       repetitions of every measurement; the table shows medians (default 3)
#   --methods L    comma-separated subset of:
#                  update,shell,dbloop,dbloop_max,backfilld,backfilld_lag
#   --window S     seconds the foreground workload is measured alone (default 10)
#   --yaml TEXT    YAML appended to backfilld's job (e.g. "batch: {target_time: 200ms}";
#                  not a throttle: section with backfilld_lag, which writes its own)
#   --no-secondary-index
#                  the table without its index on src: how much of a method's cost
#                  is the maintenance of that index
#   --out DIR      where results go (default build/bench/results)
#   --pg-conf TEXT lines added to postgresql.conf of both PostgreSQL servers, after the
#                  benchmark's own (e.g. "wal_init_zero = off")
#   --mysql-conf TEXT
#                  lines added to both MariaDB servers' [mariadbd] section, after the
#                  benchmark's own (e.g. "innodb_max_dirty_pages_pct_lwm = 10")
#   --io-probe     beside each loaded run, the storage's stalls seen by a bystander
#                  (logs/NAME.io, bench_probe io). Off by default: its fdatasync every
#                  20 ms competes with the servers' own, and slows what is measured
#
# Installs what is missing (tests/lib/deps.sh --bench), builds a Release binary in
# build/bench, starts throwaway servers with replicas (tests/lib/servers.sh, with
# durable settings: fsync, synchronous commit, full-page writes / flush at commit)
# and measures, recreating the table from a template before every run:
#   update        one UPDATE bench SET dst = src WHERE dst IS NULL
#   shell         a shell loop of batches of 1,000 keys, one client process per batch
#   dbloop        a PL/pgSQL procedure / MariaDB stored procedure, COMMIT per 1,000 keys
#   dbloop_max    the same procedure with COMMIT per 50,000 keys (backfilld's default
#                 max_size): what batches of backfilld's size cost the engine itself,
#                 with no client round trips and no checkpoint row
#   backfilld     backfilld run with default settings
#   backfilld_lag backfilld with max_replication_lag: 1s against the replica, while the
#                 replica is slowed (its replay runs only part of the time)
# each unloaded and under a foreground workload (pgbench / sysbench, 4 clients:
# single-row UPDATE + SELECT by random key on the same table), and the workload alone.
# Beside each loaded run's slow foreground transactions (logs/NAME.slow), with
# --io-probe the storage's stalls seen by a bystander (logs/NAME.io); beside each
# backfilld run's log, its status round trips over 1 ms (logs/NAME.status).
# Replica lag is measured by the harness's own heartbeat (bench_probe lag), the
# daemon's peak RSS and CPU by wait4 (bench_probe exec), beside the peak RSS of
# programs that only load, or only connect through, the same client library
# (client_floor.c), status round trips by bench_probe status, how busy the machine's
# CPUs were from /proc/stat. Every run is checked: afterwards dst equals src on every
# row.
#
# Prints a Markdown table of medians and ratios (also $out/results.md); the raw
# figures are in $out/results.tsv, the daemon's logs in $out/logs. Timings are not asserted: only failures (a method
# that leaves a wrong table, a tool that does not run) make the exit status non-zero.
set -euo pipefail

usage() { sed -n '2,/^[^#]/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }
die() {
	echo "bench: $*" >&2
	exit 1
}

rows=1000000
engines=(postgres mysql)
reps=3
# every method, in the order they run; backfilld_lag runs last, after the workload
# alone with the replica slowed
all_methods=(update shell dbloop dbloop_max backfilld backfilld_lag)
methods=$(IFS=,; echo "${all_methods[*]}")
window=10
out=build/bench/results
job_yaml=""
pg_conf=""
mysql_conf=""
secondary_index=1
io_probe=0
run_timeout=900 # seconds a backfilld run may take before the benchmark gives up
while (($#)); do
	case "$1" in
	--rows | --engine | --reps | --methods | --window | --out | --yaml | --pg-conf | --mysql-conf)
		(($# >= 2)) || die "$1 needs a value (see --help)"
		case "$1" in
		--rows) rows=$2 ;;
		--engine)
			case "$2" in
			postgres | mysql) engines=("$2") ;;
			both) engines=(postgres mysql) ;;
			*) die "--engine: postgres, mysql or both, not '$2'" ;;
			esac
			;;
		--reps) reps=$2 ;;
		--methods) methods=$2 ;;
		--window) window=$2 ;;
		--out) out=$2 ;;
		--yaml) job_yaml=$2 ;;
		--pg-conf) pg_conf=$2 ;;
		--mysql-conf) mysql_conf=$2 ;;
		esac
		shift
		;;
	--no-secondary-index) secondary_index=0 ;;
	--io-probe) io_probe=1 ;;
	-h | --help)
		usage
		exit 0
		;;
	*) die "unknown argument: $1 (see --help)" ;;
	esac
	shift
done
[[ "$rows" =~ ^[0-9]+$ ]] && ((rows >= 10000)) || die "--rows: a number >= 10000, not '$rows'"
[[ "$reps" =~ ^[0-9]+$ ]] && ((reps >= 1)) || die "--reps: a number >= 1, not '$reps'"
[[ "$window" =~ ^[0-9]+$ ]] && ((window >= 2)) || die "--window: seconds >= 2, not '$window'"
IFS=, read -r -a method_list <<<"$methods"
for m in "${method_list[@]}"; do
	known=0
	for k in "${all_methods[@]}"; do [[ "$k" != "$m" ]] || known=1; done
	((known)) || die "--methods: unknown method '$m'"
done
has_method() { [[ ",$methods," == *",$1,"* ]]; }

cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.."
root=$PWD
bench_dir=$root/tests/bench
mkdir -p "$out/logs"
out=$(cd "$out" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/backfilld-bench.XXXXXX")
chmod 0755 "$work"
results=$out/results.tsv
: >"$results"
log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# ---------------------------------------------------------------------------------------
log "dependencies"
tests/lib/deps.sh --bench
command -v sysbench >/dev/null || die "sysbench is missing"

log "Release build in build/bench"
cmake -S . -B build/bench -DCMAKE_BUILD_TYPE=Release -DBACKFILLD_WERROR=ON >/dev/null
cmake --build build/bench -j2 --target backfilld bench_probe bench_floor_postgres bench_floor_mysql >/dev/null
bin=$root/build/bench/backfilld
probe=$root/build/bench/bench_probe
floor=$root/build/bench/bench_floor

# ---------------------------------------------------------------------------------------
# Servers: the test servers, with durable settings and buffers that hold the table
# (and its template copy).
mem_mb=$((rows * 400 / 1000000))
((mem_mb >= 256)) || mem_mb=256
export BACKFILLD_PG_EXTRA_CONF="
fsync = on
synchronous_commit = on
full_page_writes = on
shared_buffers = ${mem_mb}MB
max_wal_size = 8GB
checkpoint_timeout = 30min
$pg_conf"
export BACKFILLD_MY_EXTRA_CNF="
innodb_flush_log_at_trx_commit = 1
sync_binlog = 1
innodb_buffer_pool_size = ${mem_mb}M
innodb_log_file_size = 2G
$mysql_conf"
# The MariaDB replica flushes its redo log once a second, as replicas commonly do:
# its single applier thread, flushing at every applied commit, falls behind the
# foreground workload alone as soon as it is slowed at all.
export BACKFILLD_MY_REPLICA_EXTRA_CNF="
innodb_flush_log_at_trx_commit = 2"

# shellcheck source=tests/lib/servers.sh
source tests/lib/servers.sh
slow_pid=""
fg_pid=""
lag_pid=""
run_pid=""
cleanup() {
	# the daemon first (bench_probe exec waits for it), then the workload and probes
	pkill -TERM -P "${run_pid:-0}" 2>/dev/null || true
	[[ -z "$fg_pid" ]] || kill "$fg_pid" 2>/dev/null || true
	[[ -z "$lag_pid" ]] || kill "$lag_pid" 2>/dev/null || true
	[[ -z "$io_pid" ]] || kill "$io_pid" 2>/dev/null || true
	replica_normal || true
	servers_stop
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------
# SQL on the current engine: b_sql as the job's user, b_admin as the superuser, on
# the primary; b_replica as the superuser on the replica. Output: rows, tab-separated.
engine=""
export PGOPTIONS="-c client_min_messages=warning"
b_sql() {
	if [[ "$engine" == postgres ]]; then
		PGPASSWORD=$BACKFILLD_PG_PASSWORD "$BACKFILLD_PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 \
			-h 127.0.0.1 -p "$BACKFILLD_PG_PORT" -U "$BACKFILLD_PG_USER" -d bench -c "$1"
	else
		MYSQL_PWD=$BACKFILLD_MY_PASSWORD "$BACKFILLD_MY_BIN/mariadb" --no-defaults -N -B \
			-h 127.0.0.1 -P "$BACKFILLD_MY_PORT" -u "$BACKFILLD_MY_USER" bench -e "$1"
	fi
}
b_admin() {
	if [[ "$engine" == postgres ]]; then
		"$BACKFILLD_PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 \
			-p "$BACKFILLD_PG_PORT" -U "$BACKFILLD_PG_ADMIN" -d "${2:-bench}" -c "$1"
	else
		"$BACKFILLD_MY_BIN/mariadb" --no-defaults -N -B -h 127.0.0.1 -P "$BACKFILLD_MY_PORT" \
			-u "$BACKFILLD_MY_ADMIN" -e "$1"
	fi
}
b_replica() {
	if [[ "$engine" == postgres ]]; then
		"$BACKFILLD_PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 \
			-p "$BACKFILLD_PG_REPLICA_PORT" -U "$BACKFILLD_PG_ADMIN" -d bench -c "$1"
	else
		"$BACKFILLD_MY_BIN/mariadb" --no-defaults -N -B -h 127.0.0.1 -P "$BACKFILLD_MY_REPLICA_PORT" \
			-u "$BACKFILLD_MY_ADMIN" -e "$1"
	fi
}

now_us() { echo "${EPOCHREALTIME/[.,]/}"; }

# field FILE KEY: the number after KEY= in a probe's one-line output
field() { sed "s/.*$2=\([0-9.]*\).*/\1/" "$1"; }

# record REP METHOD LOAD KEY VALUE
record() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$engine" "$@" >>"$results"; }

# ---------------------------------------------------------------------------------------
# The table: bigint primary key with gaps (id = g * 3 + g % 7), an int source with
# ~2% NULLs, a 100-byte payload, the target column, one secondary index (on src).
setup_database() {
	if [[ "$engine" == postgres ]]; then
		b_admin "CREATE DATABASE bench OWNER $BACKFILLD_PG_USER" postgres >/dev/null
		b_sql "CREATE TABLE bench_template (id bigint, src int, payload text, dst int);
			INSERT INTO bench_template SELECT g * 3 + g % 7,
				CASE WHEN g % 50 = 0 THEN NULL ELSE g % 1000 END,
				rpad(md5(g::text), 100, md5((-g)::text)), NULL
			FROM generate_series(1, $rows) g;
			CREATE TABLE bench_heartbeat (id int PRIMARY KEY, ts_us bigint NOT NULL);
			INSERT INTO bench_heartbeat VALUES (1, 0);
			CREATE PROCEDURE bench_loop(batch int) LANGUAGE plpgsql AS \$\$
			DECLARE lo bigint := -1; hi bigint;
			BEGIN
				LOOP
					SELECT max(id) INTO hi FROM
						(SELECT id FROM bench WHERE id > lo ORDER BY id LIMIT batch) s;
					EXIT WHEN hi IS NULL;
					UPDATE bench SET dst = src WHERE id > lo AND id <= hi AND dst IS NULL;
					COMMIT;
					lo := hi;
				END LOOP;
			END \$\$;" >/dev/null
		b_sql "VACUUM ANALYZE bench_template" >/dev/null
	else
		b_admin "CREATE DATABASE bench" >/dev/null
		b_sql "CREATE TABLE bench_template (id BIGINT NOT NULL PRIMARY KEY, src INT,
				payload VARCHAR(120), dst INT, KEY bench_src (src)) ENGINE=InnoDB;
			INSERT INTO bench_template SELECT seq * 3 + seq % 7, IF(seq % 50 = 0, NULL, seq % 1000),
				RPAD(MD5(seq), 100, MD5(-seq)), NULL FROM seq_1_to_$rows;
			CREATE TABLE bench_heartbeat (id INT PRIMARY KEY, ts_us BIGINT NOT NULL) ENGINE=InnoDB;
			INSERT INTO bench_heartbeat VALUES (1, 0);
			DELIMITER //
			CREATE PROCEDURE bench_loop(batch INT)
			BEGIN
				DECLARE lo BIGINT DEFAULT -1;
				DECLARE hi BIGINT;
				lp: LOOP
					SELECT MAX(id) INTO hi FROM
						(SELECT id FROM bench WHERE id > lo ORDER BY id LIMIT batch) s;
					IF hi IS NULL THEN LEAVE lp; END IF;
					START TRANSACTION;
					UPDATE bench SET dst = src WHERE id > lo AND id <= hi AND dst IS NULL;
					COMMIT;
					SET lo = hi;
				END LOOP;
			END //" >/dev/null
	fi
}

# a fresh copy of the template, with its indexes, statistics and visibility map, on
# the replica too, and no checkpoint row: every run starts from the same table
reset_table() {
	if [[ "$engine" == postgres ]]; then
		b_sql "DROP TABLE IF EXISTS bench, backfilld_checkpoint;
			CREATE TABLE bench (id bigint NOT NULL, src int, payload text, dst int);
			INSERT INTO bench SELECT * FROM bench_template;
			ALTER TABLE bench ADD PRIMARY KEY (id);" >/dev/null
		((!secondary_index)) || b_sql "CREATE INDEX bench_src ON bench (src)" >/dev/null
		b_sql "VACUUM ANALYZE bench" >/dev/null
		b_admin "CHECKPOINT" >/dev/null
	else
		b_sql "DROP TABLE IF EXISTS bench, backfilld_checkpoint;
			CREATE TABLE bench LIKE bench_template;" >/dev/null
		((secondary_index)) || b_sql "ALTER TABLE bench DROP INDEX bench_src" >/dev/null
		b_sql "INSERT INTO bench SELECT * FROM bench_template;
			ANALYZE TABLE bench;" >/dev/null
		innodb_quiesce
	fi
	wait_replica
}

# InnoDB's counterpart of the CHECKPOINT above: no run pays for the one before it.
# Purge catches up with the undo logs that the last run and its workload left (tens
# of thousands of transactions after a run under the workload), and the buffer
# pool's dirty pages are written, at a raised I/O capacity, before the settings are
# put back. Without this, the methods that run after a run under the workload were
# measured up to 20% slower than the same method run first.
innodb_quiesce() {
	local saved deadline=$((SECONDS + 600)) dirty history
	saved=$(b_admin "SELECT CONCAT_WS(' ', @@innodb_io_capacity, @@innodb_io_capacity_max,
		@@innodb_max_dirty_pages_pct)")
	read -r -a saved <<<"$saved"
	b_admin "SET GLOBAL innodb_io_capacity_max = 100000;
		SET GLOBAL innodb_io_capacity = 50000;
		SET GLOBAL innodb_max_dirty_pages_pct = 0" >/dev/null
	while :; do
		read -r dirty history < <(b_admin "SELECT
			(SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS
				WHERE VARIABLE_NAME = 'INNODB_BUFFER_POOL_PAGES_DIRTY'),
			(SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS
				WHERE VARIABLE_NAME = 'INNODB_HISTORY_LIST_LENGTH')")
		[[ "$dirty" =~ ^[0-9]+$ && "$history" =~ ^[0-9]+$ ]] ||
			die "no dirty pages or history list length in InnoDB's status: '$dirty' '$history'"
		((dirty > 100 || history > 100)) || break
		((SECONDS < deadline)) ||
			die "InnoDB did not settle in 10 minutes: $dirty dirty pages, history list length $history"
		sleep 0.2
	done
	b_admin "SET GLOBAL innodb_max_dirty_pages_pct = ${saved[2]};
		SET GLOBAL innodb_io_capacity = ${saved[0]};
		SET GLOBAL innodb_io_capacity_max = ${saved[1]}" >/dev/null
}

# wait until the replica has applied everything the primary has written
wait_replica() {
	local deadline=$((SECONDS + 1800)) pos
	if [[ "$engine" == postgres ]]; then
		pos=$(b_admin "SELECT pg_current_wal_lsn()")
		until [[ "$(b_replica "SELECT pg_last_wal_replay_lsn() >= '$pos'")" == t ]]; do
			((SECONDS < deadline)) || die "the replica did not catch up in 30 minutes"
			sleep 0.05
		done
	else
		pos=$(b_admin "SELECT @@gtid_binlog_pos")
		[[ "$(b_replica "SELECT MASTER_GTID_WAIT('$pos', 1800)")" == 0 ]] ||
			die "the replica did not catch up in 30 minutes"
	fi
}

# every row's dst equals its src: the method did the whole job, and nothing else
check_table() {
	local what=$1 bad
	if [[ "$engine" == postgres ]]; then
		bad=$(b_sql "SELECT count(*) FROM bench WHERE dst IS DISTINCT FROM src")
	else
		bad=$(b_sql "SELECT COUNT(*) FROM bench WHERE NOT (dst <=> src)")
	fi
	[[ "$bad" == 0 ]] || die "$engine $what: $bad rows where dst differs from src"
}

# the size of the index on src in KiB (empty without it): an UPDATE that is not HOT
# adds an entry for every row's new version, and what the method leaves differs
secondary_index_kib() {
	((secondary_index)) || return 0
	if [[ "$engine" == postgres ]]; then
		b_sql "SELECT pg_relation_size('bench_src') / 1024"
	else
		b_sql "ANALYZE TABLE bench" >/dev/null
		b_admin "SELECT stat_value * @@innodb_page_size / 1024 FROM mysql.innodb_index_stats
			WHERE database_name = 'bench' AND table_name = 'bench' AND index_name = 'bench_src'
				AND stat_name = 'size'"
	fi
}

# ---------------------------------------------------------------------------------------
# Lag: the harness's own heartbeat (written on the primary, read on the replica).
lag_start() {
	if [[ "$engine" == postgres ]]; then
		PGPASSWORD="" "$probe" lag postgres \
			"host=127.0.0.1 port=$BACKFILLD_PG_PORT user=$BACKFILLD_PG_ADMIN dbname=bench" \
			"host=127.0.0.1 port=$BACKFILLD_PG_REPLICA_PORT user=$BACKFILLD_PG_ADMIN dbname=bench" \
			50 >"$work/lag.out" &
	else
		BENCH_MYSQL_PASSWORD="" "$probe" lag mysql "127.0.0.1:$BACKFILLD_MY_PORT" \
			"127.0.0.1:$BACKFILLD_MY_REPLICA_PORT" "$BACKFILLD_MY_ADMIN" bench 50 >"$work/lag.out" &
	fi
	lag_pid=$!
}
# lag_stop: after the replica has caught up; the maximum lag in seconds in $lag
# (not a subshell: the probe is this shell's child)
lag_stop() {
	wait_replica
	kill "$lag_pid"
	wait "$lag_pid" || die "the lag probe failed: $(cat "$work/lag.out")"
	lag_pid=""
	lag=$(sed -n 's/.*max_ms=\([0-9.]*\).*/\1/p' "$work/lag.out" | awk '{ printf "%.2f", $1 / 1000 }')
}

# ---------------------------------------------------------------------------------------
# The storage's stalls, to set beside the foreground's slow transactions: a bystander's
# fdatasync every 20 ms and the time every task stalled on I/O (bench_probe io), into
# $out/logs/NAME.io beside NAME.slow.
io_pid=""
io_start() {
	((io_probe)) || return 0
	"$probe" io "$work" "$out/logs/$1.io" >"$work/io.out" &
	io_pid=$!
}
io_stop() {
	[[ -n "$io_pid" ]] || return 0
	kill "$io_pid"
	wait "$io_pid" || die "the I/O probe failed: $(cat "$work/io.out")"
	io_pid=""
}

# ---------------------------------------------------------------------------------------
# The foreground workload, 4 clients; each transaction logged with its end time and
# latency, so that its figures are taken over exactly the measured window.
fg_start() {
	rm -f "$work"/fg.*
	if [[ "$engine" == postgres ]]; then
		(cd "$work" && PGPASSWORD=$BACKFILLD_PG_PASSWORD exec "$BACKFILLD_PG_BIN/pgbench" -n -c 4 -j 2 \
			-T 86400 -D rows="$rows" -f "$bench_dir/foreground.sql" -l --log-prefix=fg \
			-h 127.0.0.1 -p "$BACKFILLD_PG_PORT" -U "$BACKFILLD_PG_USER" bench \
			>"$work/fg.out" 2>&1) &
	else
		(cd "$work" && exec sysbench "$bench_dir/foreground.lua" --db-driver=mysql --threads=4 \
			--time=0 --events=0 --report-interval=0 --rows="$rows" --log-prefix="$work/fg" \
			--mysql-host=127.0.0.1 --mysql-port="$BACKFILLD_MY_PORT" \
			--mysql-user="$BACKFILLD_MY_USER" --mysql-password="$BACKFILLD_MY_PASSWORD" \
			--mysql-db=bench run >"$work/fg.out" 2>&1) &
	fi
	fg_pid=$!
	sleep 2 # connected and warm
	kill -0 "$fg_pid" 2>/dev/null || die "the foreground workload did not start: $(cat "$work/fg.out")"
}
fg_stop() {
	sleep 1 # so that its buffered log covers the window
	kill "$fg_pid" 2>/dev/null || die "the foreground workload ended early: $(cat "$work/fg.out")"
	wait "$fg_pid" 2>/dev/null || true
	fg_pid=""
}
# fg_rows: every logged transaction, "end_us latency_us"
fg_rows() {
	if [[ "$engine" == postgres ]]; then
		# client txn latency_us script epoch_s epoch_us
		cat "$work"/fg.[0-9]* | awk 'NF >= 6 { print $5 * 1000000 + $6, $3 }'
	else
		# a line cut short when the client was stopped is left out
		cat "$work"/fg.[0-9]* | awk 'NF == 2 && $1 ~ /^[0-9]+$/ && $2 ~ /^[0-9]+$/'
	fi
}
# fg_slow FROM_US TO_US FILE: the transactions of fg_stats that took over 20 ms, one a
# line: start and end (UTC, as the daemon's log writes its times) and milliseconds;
# to set beside the daemon's debug log, which gives each batch's end and duration
fg_slow() {
	local from=$1 to=$2
	fg_rows | awk -v from="$from" -v to="$to" '
		function hms(us,  s) {
			s = int(us / 1000000) % 86400
			return sprintf("%02d:%02d:%02d.%03d", int(s / 3600), int(s % 3600 / 60), s % 60,
				int(us % 1000000 / 1000))
		}
		$1 >= from && $1 - $2 <= to && $2 > 20000 { print hms($1 - $2), hms($1), $2 / 1000 }' |
		sort >"$3"
}

# fg_stats FROM_US TO_US: "tps p50_ms p99_ms max_ms": the rate of transactions that
# ended in the window, the latencies of all that overlapped it (a transaction the
# method stalled ends after the window, and counts)
fg_stats() {
	local from=$1 to=$2
	fg_rows | awk -v from="$from" -v to="$to" '
		$1 >= from && $1 - $2 <= to { print $2, ($1 <= to) }' | sort -n |
		awk -v ms="$(((to - from) / 1000))" '
			{ v[NR] = $1; ended += $2 }
			END {
				if (NR == 0) { print "0 0 0 0"; exit }
				p50 = v[int(NR * 0.50 + 0.999999)]; p99 = v[int(NR * 0.99 + 0.999999)]
				printf "%.0f %.2f %.2f %.2f\n", ended / (ms / 1000), p50 / 1000, p99 / 1000, v[NR] / 1000
			}'
}

# ---------------------------------------------------------------------------------------
# The slowed replica: its replay runs only part of the time. PostgreSQL: the startup
# (recovery) process is stopped 90 ms of every 100 (reads are still answered);
# MariaDB, whose single applier thread has less to spare (the workload alone keeps
# it busy): the SQL thread is stopped 200 ms of every second.
replica_slow() {
	if [[ "$engine" == postgres ]]; then
		local pm startup
		pm=$(head -n 1 "$BACKFILLD_PG_REPLICA_DATA/postmaster.pid")
		startup=$(pgrep -P "$pm" -f 'startup' | head -n 1)
		[[ -n "$startup" ]] || die "no startup process under the replica's postmaster $pm"
		echo "$startup" >"$work/startup.pid"
		(
			trap 'kill -CONT '"$startup"'; exit 0' TERM
			while :; do
				kill -STOP "$startup"
				sleep 0.09
				kill -CONT "$startup"
				sleep 0.01
			done
		) &
	else
		(
			trap 'exit 0' TERM
			while :; do
				b_replica "STOP SLAVE SQL_THREAD" >/dev/null
				sleep 0.2
				b_replica "START SLAVE SQL_THREAD" >/dev/null
				sleep 0.8
			done
		) &
	fi
	slow_pid=$!
}
replica_normal() {
	[[ -n "$slow_pid" ]] || return 0
	kill "$slow_pid" 2>/dev/null || true
	wait "$slow_pid" 2>/dev/null || true
	slow_pid=""
	if [[ "$engine" == postgres ]]; then
		kill -CONT "$(cat "$work/startup.pid")" 2>/dev/null || true
	else
		b_replica "START SLAVE SQL_THREAD" >/dev/null
	fi
}

# CPU seconds the primary server has used so far (all its processes, exited ones too)
db_cpu() {
	local tck pids
	tck=$(getconf CLK_TCK)
	if [[ "$engine" == postgres ]]; then
		local pm
		pm=$(head -n 1 "$BACKFILLD_PG_PRIMARY_DATA/postmaster.pid")
		pids="$pm $(pgrep -P "$pm" | tr '\n' ' ')"
		# utime stime of each; cutime cstime of the postmaster (its reaped backends)
		for p in $pids; do cat "/proc/$p/stat" 2>/dev/null || true; done |
			sed 's/^.*) //' | awk -v tck="$tck" -v first=1 '
				{ t += $12 + $13; if (first) { t += $14 + $15; first = 0 } }
				END { printf "%.2f", t / tck }'
	else
		sed 's/^.*) //' "/proc/$(cat "$BACKFILLD_TEST_TMP/my-primary.pid")/stat" |
			awk -v tck="$tck" '{ printf "%.2f", ($12 + $13) / tck }'
	fi
}

# ---------------------------------------------------------------------------------------
# The methods. Each runs to the end on the table as reset_table left it.
method_update() { b_sql "UPDATE bench SET dst = src WHERE dst IS NULL" >/dev/null; }

method_shell() {
	local lo=-1 hi
	while :; do
		if [[ "$engine" == postgres ]]; then
			hi=$(b_sql "UPDATE bench SET dst = src WHERE id > $lo AND dst IS NULL AND id <=
					(SELECT max(id) FROM (SELECT id FROM bench WHERE id > $lo ORDER BY id LIMIT 1000) s);
				SELECT max(id) FROM (SELECT id FROM bench WHERE id > $lo ORDER BY id LIMIT 1000) s")
		else
			hi=$(b_sql "SET @hi = (SELECT MAX(id) FROM
					(SELECT id FROM bench WHERE id > $lo ORDER BY id LIMIT 1000) s);
				UPDATE bench SET dst = src WHERE id > $lo AND id <= @hi AND dst IS NULL;
				SELECT @hi")
		fi
		[[ -n "$hi" && "$hi" != NULL ]] || break
		lo=$hi
	done
}

method_dbloop() { b_sql "CALL bench_loop(1000)" >/dev/null; }
# batches of backfilld's default batch.max_size (config.c), in the database itself
method_dbloop_max() { b_sql "CALL bench_loop(50000)" >/dev/null; }

# backfilld_job FILE [EXTRA_YAML]: the job, with only the required keys set
backfilld_job() {
	{
		echo "job: bench"
		echo "database:"
		if [[ "$engine" == postgres ]]; then
			echo "  driver: postgres"
			echo "  dsn: \"host=127.0.0.1 port=$BACKFILLD_PG_PORT dbname=bench user=$BACKFILLD_PG_USER\""
			echo "  password_file: $BACKFILLD_PG_PASSWORD_FILE"
		else
			printf '  driver: mysql\n  host: 127.0.0.1\n  port: %s\n  user: %s\n  database: bench\n' \
				"$BACKFILLD_MY_PORT" "$BACKFILLD_MY_USER"
			echo "  password_file: $BACKFILLD_MY_PASSWORD_FILE"
		fi
		printf 'table: bench\nkey: id\nset:\n  dst: src\nstatus:\n  socket: %s\n' "$work/status.sock"
		printf '%s\n' "${2:-}" "$job_yaml"
	} >"$1"
}

# client_floor REP: the peak RSS of a process that only links the job's client library
# and loads it (floor_load_rss_kib), and of one that also connects as the daemon does
# and runs SELECT 1 (floor_rss_kib; tests/bench/client_floor.c): the floor under the
# daemon's own peak RSS
client_floor() {
	"$probe" exec "$work/floor" "${floor}_$engine" --load-only ||
		die "the client library's floor: $engine's library did not load"
	record "$1" backfilld idle floor_load_rss_kib "$(field "$work/floor" rss_kib)"
	if [[ "$engine" == postgres ]]; then
		"$probe" exec "$work/floor" "${floor}_postgres" \
			"host=127.0.0.1 port=$BACKFILLD_PG_PORT dbname=bench user=$BACKFILLD_PG_USER" \
			"$BACKFILLD_PG_PASSWORD_FILE" || die "the client library's floor: no connection"
	else
		"$probe" exec "$work/floor" "${floor}_mysql" 127.0.0.1 "$BACKFILLD_MY_PORT" \
			"$BACKFILLD_MY_USER" bench "$BACKFILLD_MY_PASSWORD_FILE" ||
			die "the client library's floor: no connection"
	fi
	record "$1" backfilld idle floor_rss_kib "$(field "$work/floor" rss_kib)"
}

# method_backfilld REP LOAD [EXTRA_YAML]: also records the daemon's peak RSS, CPU
# seconds and status round trips; prints the seconds to state done
method_backfilld() {
	local rep=$1 load=$2 t0 done_line done_ms status_pid
	backfilld_job "$work/job.yaml" "${3:-}"
	rm -f "$work/status.sock"
	"$probe" status "$work/status.sock" 20 "$out/logs/$engine-$4-$load-$rep.status" \
		>"$work/status.out" &
	status_pid=$!
	t0=$(now_us)
	"$probe" exec "$work/rusage" "$bin" run -c "$work/job.yaml" 2>"$work/daemon.log" >/dev/null &
	run_pid=$!
	local pid=$run_pid deadline=$((SECONDS + run_timeout))
	while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
	if kill -0 "$pid" 2>/dev/null; then
		# recorded as such (the report says so), and the benchmark goes on
		"$bin" status -s "$work/status.sock" >&2 || true
		"$bin" stop -s "$work/status.sock" >/dev/null 2>&1 || true
		wait "$pid" || true
		run_pid=""
		kill "$status_pid" 2>/dev/null || true
		wait "$status_pid" || true
		cp "$work/daemon.log" "$out/logs/$engine-$4-$load-$rep.log"
		log "backfilld ($4, $load) did not finish in $run_timeout s: stopped"
		record "$rep" "$4" "$load" timed_out "$run_timeout"
		echo "$run_timeout.000" >"$work/secs"
		return 0
	fi
	wait "$pid" || die "backfilld run failed: $(tail -n 5 "$work/daemon.log")"
	run_pid=""
	cp "$work/daemon.log" "$out/logs/$engine-$4-$load-$rep.log"
	kill "$status_pid" 2>/dev/null || true
	wait "$status_pid" || die "no status answer measured: $(cat "$work/status.out")"
	# the run ends with a verify walk; the backfill itself ends at state done
	done_line=$(grep -m 1 -- '-> done' "$work/daemon.log") || die "no state done in the daemon's log"
	done_ms=$(date -d "${done_line%% *}" +%s%3N)
	record "$rep" "$4" "$load" rss_kib "$(field "$work/rusage" rss_kib)"
	record "$rep" "$4" "$load" anon_kib "$(field "$work/rusage" anon_kib)"
	record "$rep" "$4" "$load" daemon_cpu_s "$(field "$work/rusage" cpu_s)"
	record "$rep" "$4" "$load" wall_with_verify_s "$(field "$work/rusage" wall_s)"
	record "$rep" "$4" "$load" status_p50_ms "$(field "$work/status.out" p50_ms)"
	record "$rep" "$4" "$load" status_p99_ms "$(field "$work/status.out" p99_ms)"
	record "$rep" "$4" "$load" status_samples "$(field "$work/status.out" samples)"
	awk -v a="$done_ms" -v b="$((t0 / 1000))" 'BEGIN { printf "%.3f", (a - b) / 1000 }' >"$work/secs"
}

lag_yaml() {
	echo "throttle:"
	echo "  max_replication_lag: 1s"
	echo "  replicas:"
	if [[ "$engine" == postgres ]]; then
		echo "    - dsn: \"host=127.0.0.1 port=$BACKFILLD_PG_REPLICA_PORT dbname=bench user=$BACKFILLD_PG_USER\""
	else
		printf '    - host: 127.0.0.1\n      port: %s\n      user: %s\n' \
			"$BACKFILLD_MY_REPLICA_PORT" "$BACKFILLD_MY_USER"
	fi
}

# machine_jiffies: the busy and the total jiffies of all the machine's CPUs so far
# (idle and iowait are not busy; guest time is already counted in user)
machine_jiffies() {
	awk '/^cpu / { t = 0; for (i = 2; i <= 9; i++) t += $i; print t - $5 - $6, t }' /proc/stat
}

# busy_pct BUSY0 TOTAL0 BUSY1 TOTAL1: the share of the machine's CPU time that was busy
busy_pct() { awk -v b0="$1" -v t0="$2" -v b1="$3" -v t1="$4" 'BEGIN { printf "%.1f", ((t1 > t0) ? 100 * (b1 - b0) / (t1 - t0) : 0) }'; }

# measure REP METHOD LOAD: one run of METHOD on a fresh table, unloaded ("idle") or
# under the foreground workload ("fg"); records rows/s, seconds, max lag, DB CPU and
# the workload's figures
measure() {
	local rep=$1 method=$2 load=$3 t0 t1 secs cpu0 cpu1 lag tps="" p50 p99 max kib j0 j1
	reset_table
	[[ "$method/$load" != backfilld/idle ]] || client_floor "$rep"
	[[ "$method" != backfilld_lag ]] || replica_slow
	[[ "$load" == idle ]] || fg_start
	[[ "$load" == idle ]] || io_start "$engine-$method-$load-$rep"
	lag_start
	cpu0=$(db_cpu)
	j0=$(machine_jiffies)
	t0=$(now_us)
	case "$method" in
	backfilld) method_backfilld "$rep" "$load" "" "$method" ;;
	backfilld_lag) method_backfilld "$rep" "$load" "$(lag_yaml)" "$method" ;;
	*) "method_$method" ;;
	esac
	t1=$(now_us)
	j1=$(machine_jiffies)
	if [[ "$method" == backfilld* ]]; then
		secs=$(cat "$work/secs")
		t1=$((t0 + 10#${secs/./} * 1000))
	else
		secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e6 }')
	fi
	sleep 0.3 # the backends of finished sessions are gone
	cpu1=$(db_cpu)
	if [[ "$load" == fg ]]; then
		fg_stop
		io_stop
		read -r tps p50 p99 max < <(fg_stats "$t0" "$t1")
		fg_slow "$t0" "$t1" "$out/logs/$engine-$method-$load-$rep.slow"
		record "$rep" "$method" "$load" fg_tps "$tps"
		record "$rep" "$method" "$load" fg_p50_ms "$p50"
		record "$rep" "$method" "$load" fg_p99_ms "$p99"
		record "$rep" "$method" "$load" fg_max_ms "$max"
	fi
	replica_normal
	lag_stop
	if grep -q "^$engine	$rep	$method	$load	timed_out	" "$results"; then
		log "$engine rep $rep: $method ($load) did not finish; no rate, the table is not checked"
	else
		check_table "$method ($load, rep $rep)"
		kib=$(secondary_index_kib)
		[[ -z "$kib" ]] || record "$rep" "$method" "$load" index_kib "$kib"
		record "$rep" "$method" "$load" seconds "$secs"
		record "$rep" "$method" "$load" rows_per_s "$(awk -v r="$rows" -v s="$secs" 'BEGIN { printf "%.0f", r / s }')"
	fi
	record "$rep" "$method" "$load" max_lag_s "$lag"
	record "$rep" "$method" "$load" db_cpu_s "$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.2f", b - a }')"
	# shellcheck disable=SC2086 # two numbers each
	record "$rep" "$method" "$load" machine_busy_pct "$(busy_pct $j0 $j1)"
	log "$engine rep $rep: $method ($load): $secs s, max lag $lag s${tps:+, foreground $tps tps p99 $p99 ms max $max ms}"
}

# measure_alone REP SLOWED: the foreground workload with nothing else running
measure_alone() {
	local rep=$1 slowed=$2 t0 t1 lag name=alone tps p50 p99 max j0 j1
	reset_table
	((slowed)) && name=alone_slowed && replica_slow
	fg_start
	io_start "$engine-$name-fg-$rep"
	lag_start
	j0=$(machine_jiffies)
	t0=$(now_us)
	sleep "$window"
	t1=$(now_us)
	j1=$(machine_jiffies)
	fg_stop
	io_stop
	read -r tps p50 p99 max < <(fg_stats "$t0" "$t1")
	fg_slow "$t0" "$t1" "$out/logs/$engine-$name-fg-$rep.slow"
	replica_normal
	lag_stop
	record "$rep" "$name" fg fg_tps "$tps"
	record "$rep" "$name" fg fg_p50_ms "$p50"
	record "$rep" "$name" fg fg_p99_ms "$p99"
	record "$rep" "$name" fg fg_max_ms "$max"
	record "$rep" "$name" fg max_lag_s "$lag"
	# shellcheck disable=SC2086 # two numbers each
	record "$rep" "$name" fg machine_busy_pct "$(busy_pct $j0 $j1)"
	log "$engine rep $rep: foreground alone ($name): $tps tps, p50 $p50 ms, p99 $p99 ms, max $max ms, max lag $lag s"
}

# ---------------------------------------------------------------------------------------
for engine in "${engines[@]}"; do
	log "servers for $engine"
	if [[ "$engine" == postgres ]]; then servers_start_pg; else servers_start_mysql; fi
	log "$engine: a table of $rows rows"
	setup_database
	for ((rep = 1; rep <= reps; rep++)); do
		measure_alone "$rep" 0
		for m in "${all_methods[@]}"; do
			# backfilld_lag runs only under the workload, after it (below)
			[[ "$m" != backfilld_lag ]] || continue
			has_method "$m" || continue
			measure "$rep" "$m" idle
			measure "$rep" "$m" fg
		done
		if has_method backfilld_lag; then
			measure_alone "$rep" 1
			measure "$rep" backfilld_lag fg
		fi
	done
	servers_stop
done

# ---------------------------------------------------------------------------------------
{
	((secondary_index)) || echo "The table has no index on src (--no-secondary-index)."
	# settings that differ from those of the README's table, one line each
	[[ -z "$job_yaml" ]] || echo "backfilld's job adds (--yaml): \`${job_yaml//$'\n'/ }\`"
	[[ -z "$pg_conf" ]] || echo "postgresql.conf adds (--pg-conf): \`${pg_conf//$'\n'/; }\`"
	[[ -z "$mysql_conf" ]] || echo "MariaDB adds (--mysql-conf): \`${mysql_conf//$'\n'/; }\`"
	"$bench_dir/report.sh" "$results" "$rows" "$reps"
} | tee "$out/results.md"
log "raw figures: $results; table: $out/results.md"

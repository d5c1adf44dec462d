#!/usr/bin/env bash
# backfilld's chaos suite: a backfill of a large table per engine, with faults
# injected at random instants of the run, then an exact check of the table.
#
#   tests/chaos/run.sh [--engine postgres|mysql|both] [--rows N] [--long] [--keep]
#                      [--bin PATH] [--only LIST] [--seed N]
#
#   --engine E   postgres, mysql or both (default both)
#   --rows N     rows in the table (default 1000000; at least 10000)
#   --long       more faults: 200 kills, 10 database restarts, 50 terminations,
#                4 replica restarts
#   --keep       keep the temp dirs (servers' data and logs, the scenarios' logs)
#   --bin PATH   the backfilld binary to test (or BACKFILLD_BIN); default: build one
#                (RelWithDebInfo, -Werror) in build/chaos
#   --only LIST  comma-separated subset of the scenarios (default all):
#   --seed N     seed of the random instants (default: random; printed)
#
# Scenarios, each on a fresh copy of the table with a job of its own:
#   kill9            kill -9 the daemon at random instants of its runs and start it
#                    again (50 times); after every kill the checkpoint matches the
#                    data exactly and the next run resumes right after it
#   db_restart       restart the primary under the running daemon (5 times;
#                    PostgreSQL: fast and immediate shutdowns in turn, MariaDB:
#                    SHUTDOWN and kill -9 of mariadbd in turn); the same process
#                    reconnects every time and finishes
#   terminate        end all the daemon's sessions from another session (20 times:
#                    pg_terminate_backend / KILL CONNECTION), five of them in the
#                    UPDATE of a big batch (the server holds the job's lock until it
#                    has rolled it back); the same process reconnects and goes on
#   replica_restart  stop the replica (throttle.max_replication_lag watches it) and
#                    start it again (2 times; fast/immediate, SHUTDOWN/kill -9): the
#                    daemon throttles while it is down and commits nothing, then goes on
# Every fault must land while the job runs (the job not yet done), or the scenario
# fails. During the runs "the application" inserts rows above the high-water mark
# and writes rows ahead of the cursor. After each scenario: every row in range
# equals its expression, nothing above the high-water mark changed, no row of the
# application clobbered, state done, cursor at the high-water mark, rows_done equal
# to the rows the job matched, the daemon's last exit status 0. One line each:
#   chaos ENGINE SCENARIO: faults F, restarts R, reconnects C, rows checked N, mismatches M, T s
# (restarts: of the daemon process; reconnects: of its connection to the primary,
# or for replica_restart of its throttle to the replica). Exit status 0 when every
# scenario passed, 1 otherwise.
#
# Both engines at 1,000,000 rows take about 7 minutes on 2 cores, --long about 20.
# Starts its own throwaway servers (tests/lib/servers.sh: a primary and a replica
# per engine) and stops them on exit. Works as root (the servers run as the user
# backfilld-test) and as an unprivileged user; needs no terminal.
set -euo pipefail

usage() { sed -n '2,49s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }
die() {
	echo "chaos: $*" >&2
	exit 2
}

engines=(postgres mysql)
rows=1000000
long=0
keep=0
bin=${BACKFILLD_BIN:-}
only=kill9,db_restart,terminate,replica_restart
seed=$((RANDOM * 32768 + RANDOM))
while (($#)); do
	case "$1" in
	--engine | --rows | --bin | --only | --seed)
		(($# >= 2)) || die "$1 needs a value (see --help)"
		case "$1" in
		--engine)
			case "$2" in
			postgres | mysql) engines=("$2") ;;
			both) engines=(postgres mysql) ;;
			*) die "--engine: postgres, mysql or both, not '$2'" ;;
			esac
			;;
		--rows) rows=$2 ;;
		--bin) bin=$2 ;;
		--only) only=$2 ;;
		--seed) seed=$2 ;;
		esac
		shift
		;;
	--long) long=1 ;;
	--keep) keep=1 ;;
	-h | --help)
		usage
		exit 0
		;;
	*) die "unknown argument: $1 (see --help)" ;;
	esac
	shift
done
[[ "$rows" =~ ^[0-9]+$ ]] && ((rows >= 10000)) || die "--rows: a number >= 10000, not '$rows'"
[[ "$seed" =~ ^[0-9]+$ ]] || die "--seed: a number, not '$seed'"
IFS=, read -r -a scenarios <<<"$only"
for s in "${scenarios[@]}"; do
	[[ "$s" =~ ^(kill9|db_restart|terminate|replica_restart)$ ]] || die "--only: unknown scenario '$s'"
done

# how many faults of each kind
if ((long)); then
	CH_KILLS=200 CH_DB_RESTARTS=10 CH_TERMINATES=50 CH_REPLICA_RESTARTS=4 CH_BATCHES=4000
else
	CH_KILLS=50 CH_DB_RESTARTS=5 CH_TERMINATES=20 CH_REPLICA_RESTARTS=2 CH_BATCHES=1000
fi
CH_ROWS_N=$rows

cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.."
root=$PWD
t_suite=$SECONDS
log() { printf '[chaos %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# ---------------------------------------------------------------------------------------
if [[ -z "$bin" ]]; then
	tests/lib/deps.sh >/dev/null
	log "RelWithDebInfo build in build/chaos"
	cmake -S . -B build/chaos -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBACKFILLD_WERROR=ON \
		-DBACKFILLD_TESTS=OFF >/dev/null
	cmake --build build/chaos -j2 --target backfilld >/dev/null
	bin=$root/build/chaos/backfilld
fi
[[ -x "$bin" ]] || die "not an executable: $bin"
export BACKFILLD_BIN
BACKFILLD_BIN=$(readlink -f "$bin")

work=$(mktemp -d "${TMPDIR:-/tmp}/backfilld-chaos.XXXXXX")
chmod 0755 "$work"
((keep)) && export BACKFILLD_KEEP_TMP=1

# shellcheck source=tests/lib/servers.sh
source tests/lib/servers.sh
# shellcheck source=tests/lib/itest.sh
source tests/lib/itest.sh
# shellcheck source=tests/chaos/lib.sh
source tests/chaos/lib.sh
for s in kill9 db_restart terminate replica_restart; do
	# shellcheck source=/dev/null
	source "tests/chaos/$s.sh"
done
set -euo pipefail # itest.sh sets -uo pipefail only
# outside the scenarios (building the template), a failure ends the suite
IT_DIR=$work
IT_NAME=setup

failed=0
cleanup() {
	servers_stop
	if ((keep)); then
		log "kept $work"
	elif ((failed)); then
		log "kept $work (the failed scenarios' logs; the servers' data is gone: --keep keeps it)"
	else
		rm -rf -- "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
export PGCONNECT_TIMEOUT=10 PGOPTIONS='-c client_min_messages=warning'

# run_scenario ENGINE NAME: one scenario in a subshell (it_fail ends the scenario,
# not the suite), then its summary line from the counters it left
run_scenario() {
	local engine=$1 name=$2 dir=$work/$1-$2 t0=$SECONDS rc=0 counts reason
	local f r c n m
	if (
		RANDOM=$((seed + ${#name} * 7919 + ${#engine}))
		ch_begin "$engine" "$name" "$dir"
		"scenario_$name"
	); then rc=0; else rc=1; fi
	counts=$(cat "$dir/counts" 2>/dev/null) || counts="0 0 0 0 0"
	read -r f r c n m <<<"$counts"
	if ((rc == 0)); then
		printf 'chaos %s %s: faults %s, restarts %s, reconnects %s, rows checked %s, mismatches %s, %d s\n' \
			"$engine" "$name" "$f" "$r" "$c" "$n" "$m" $((SECONDS - t0))
	else
		reason=$(cat "$dir/failure" 2>/dev/null) || reason="exited early"
		printf 'chaos %s %s: FAILED (%s): faults %s, restarts %s, reconnects %s, rows checked %s, mismatches %s, %d s; logs in %s\n' \
			"$engine" "$name" "$reason" "$f" "$r" "$c" "$n" "$m" $((SECONDS - t0)) "$dir"
		failed=1
	fi
}

log "seed $seed; $rows rows; faults: $CH_KILLS kills, $CH_DB_RESTARTS database restarts, $CH_TERMINATES terminations, $CH_REPLICA_RESTARTS replica restarts"
for engine in "${engines[@]}"; do
	t0=$SECONDS
	if [[ "$engine" == postgres ]]; then
		servers_start_pg || die "cannot start PostgreSQL"
	else
		servers_start_mysql || die "cannot start MariaDB"
	fi
	IT_DRIVER=$engine
	ch_template "$engine" "$rows"
	log "$engine: servers and table ready in $((SECONDS - t0)) s"
	for s in "${scenarios[@]}"; do
		run_scenario "$engine" "$s"
	done
	servers_stop
done
log "all scenarios in $((SECONDS - t_suite)) s"
exit "$failed"

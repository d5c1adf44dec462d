# shellcheck shell=bash disable=SC2120
# Throwaway database servers for backfilld's tests and demo.
#
#   source tests/lib/servers.sh
#   trap servers_stop EXIT
#   servers_start_pg [--no-replica]     # PostgreSQL 15 primary (+ streaming replica)
#   ...                                 # use the BACKFILLD_* variables below
#   servers_stop                        # idempotent; fine from an EXIT trap
#
# Everything lives in one temp dir (/tmp/backfilld-test.XXXXXX), removed by
# servers_stop unless BACKFILLD_KEEP_TMP=1. As root, the servers run as the system
# user `backfilld-test` (created on first use) through setpriv; PostgreSQL refuses
# to run as root. Debian's own cluster (port 5432) is never used.
#
# Exported (and written as `export K=V` lines to $BACKFILLD_TEST_TMP/env.sh):
#   BACKFILLD_TEST_TMP          the temp dir (mode 0755, owned by the server user)
#   BACKFILLD_PG_BIN            /usr/lib/postgresql/15/bin (call psql etc. from here)
#   BACKFILLD_PG_HOST           127.0.0.1
#   BACKFILLD_PG_PORT           primary's TCP port
#   BACKFILLD_PG_REPLICA_PORT   replica's TCP port (unset with --no-replica)
#   BACKFILLD_PG_ADMIN          admin: superuser, trust over TCP and the socket
#   BACKFILLD_PG_USER           backfill: LOGIN CREATEDB, member of pg_monitor,
#                               scram-sha-256 over TCP, trust over the socket
#   BACKFILLD_PG_PASSWORD       backfill-secret
#   BACKFILLD_PG_PASSWORD_FILE  a 0600 file holding the password (no newline)
#   BACKFILLD_PG_SOCKET_DIR     unix_socket_directories of both servers (= the temp dir)
#   BACKFILLD_PG_PRIMARY_DATA   data directory of the primary
#   BACKFILLD_PG_REPLICA_DATA   data directory of the replica (unset with --no-replica)
#
# The replica streams from the physical slot `backfilld_replica`. Tests may use
#   servers_pg_ctl primary|replica ARGS...   (pg_ctl as the server user, from any
#                                            process that has the variables above)
#
# Functions return non-zero (after printing the servers' log tails) on failure;
# they do not exit, and they work under `set -euo pipefail` as well as without it.

BACKFILLD_TEST_USER=${BACKFILLD_TEST_USER:-backfilld-test}
_srv_pg_bin=/usr/lib/postgresql/15/bin
_srv_tmp=""

_srv_log() { printf 'servers: %s\n' "$*" >&2; }

# The command prefix that runs a program as the server user.
_srv_prefix() {
	local home=${BACKFILLD_TEST_TMP:-/}
	if ((EUID == 0)); then
		printf '%s\0' setpriv --reuid="$BACKFILLD_TEST_USER" --regid="$BACKFILLD_TEST_USER" \
			--init-groups env HOME="$home"
	else
		printf '%s\0' env HOME="$home"
	fi
}

# _srv_as CMD ARGS...: run CMD as the server user, from a directory it can read.
_srv_as() {
	local -a pre
	mapfile -d '' -t pre < <(_srv_prefix)
	(cd "${BACKFILLD_TEST_TMP:-/}" && exec "${pre[@]}" "$@")
}

_srv_ensure_user() {
	((EUID == 0)) || return 0
	id -u "$BACKFILLD_TEST_USER" >/dev/null 2>&1 && return 0
	useradd --system --user-group --no-create-home --home-dir /nonexistent \
		--shell /usr/sbin/nologin "$BACKFILLD_TEST_USER" >/dev/null 2>&1 || true
	# A concurrent run may have created it between the check and useradd.
	id -u "$BACKFILLD_TEST_USER" >/dev/null 2>&1 && return 0
	_srv_log "could not create system user $BACKFILLD_TEST_USER"
	return 1
}

# True if any TCP socket (any state, IPv4 or IPv6) uses PORT locally.
_srv_port_busy() {
	local hex
	hex=$(printf '%04X' "$1")
	awk -v h=":$hex" 'NR > 1 && substr($2, length($2) - 4) == h { found = 1 }
		END { exit !found }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# _srv_free_port [EXCLUDED_PORT...]: print a port in 20000-45000 nothing uses.
_srv_free_port() {
	local p i x skip
	for ((i = 0; i < 200; i++)); do
		p=$((20000 + (RANDOM * 32768 + RANDOM) % 25001))
		skip=0
		for x in "$@"; do [[ "$p" == "$x" ]] && skip=1; done
		((skip)) && continue
		_srv_port_busy "$p" && continue
		echo "$p"
		return 0
	done
	_srv_log "no free TCP port found in 20000-45000"
	return 1
}

# Print "STATE PPID" of a live process, nothing if it is gone or a zombie.
# (kill -0 succeeds on zombies, and reaping can take seconds on this machine.)
_srv_proc_state() {
	local stat
	{ read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 0
	stat=${stat##*) }
	case "${stat%% *}" in
	Z | X | x) return 0 ;;
	esac
	echo "$stat"
}

_srv_alive() { [[ -n "$(_srv_proc_state "$1")" ]]; }

# PIDs of live processes whose parent is $1.
_srv_children() {
	local f stat rest ppid
	for f in /proc/[0-9]*/stat; do
		{ read -r stat <"$f"; } 2>/dev/null || continue
		rest=${stat##*) }
		read -r _ ppid _ <<<"$rest"
		if [[ "$ppid" == "$1" ]]; then
			f=${f#/proc/}
			echo "${f%/stat}"
		fi
	done
}

# _srv_wait_gone SECONDS PID...: wait until none of the PIDs is alive.
_srv_wait_gone() {
	local deadline=$((SECONDS + $1)) p any
	shift
	while :; do
		any=0
		for p in "$@"; do _srv_alive "$p" && any=1; done
		((any)) || return 0
		((SECONDS >= deadline)) && return 1
		sleep 0.05
	done
}

_srv_tail_logs() {
	local f
	for f in "$_srv_tmp"/*.log; do
		[[ -s "$f" ]] || continue
		printf -- '----- last lines of %s -----\n' "$f" >&2
		tail -n 40 "$f" >&2
	done
	printf -- '-----\n' >&2
}

_srv_fail() {
	_srv_log "FAILED: $*"
	[[ -n "$_srv_tmp" ]] && _srv_tail_logs
	local keep=${BACKFILLD_KEEP_TMP:-0}
	servers_stop
	[[ "$keep" == 1 ]] || _srv_log "(set BACKFILLD_KEEP_TMP=1 to keep the temp dir)"
	return 1
}

# _srv_pg_start NAME DATADIR PORT_VAR [EXCLUDED_PORT]: start with pg_ctl -w; on a port
# clash (another process took the port since we picked it), retry with a new port.
_srv_pg_start() {
	local name=$1 data=$2 portvar=$3 exclude=${4:-} port log
	log="$_srv_tmp/$name.log"
	for _ in 1 2 3; do
		port=${!portvar}
		printf '\nport = %s\n' "$port" >>"$data/postgresql.conf"
		if _srv_as "$_srv_pg_bin/pg_ctl" start -w -t 60 -D "$data" -l "$log" \
			>>"$_srv_tmp/pg_ctl.log" 2>&1; then
			return 0
		fi
		grep -qE 'could not bind|could not create any TCP/IP|could not create lock file' \
			"$log" 2>/dev/null || return 1
		_srv_log "$name: port $port taken, retrying"
		port=$(_srv_free_port "$exclude") || return 1
		printf -v "$portvar" '%s' "$port"
	done
	return 1
}

_srv_psql_admin() {
	"$_srv_pg_bin/psql" -X -q -v ON_ERROR_STOP=1 -At -h "$_srv_tmp" -p "$BACKFILLD_PG_PORT" \
		-U admin -d postgres "$@"
}

servers_start_pg() {
	local replica=1 arg t0=$SECONDS
	for arg in "$@"; do
		case "$arg" in
		--no-replica) replica=0 ;;
		*)
			_srv_log "servers_start_pg: unknown argument: $arg"
			return 2
			;;
		esac
	done
	if [[ -n "$_srv_tmp" ]]; then
		_srv_log "servers already started in $_srv_tmp; call servers_stop first"
		return 1
	fi
	if [[ ! -x "$_srv_pg_bin/initdb" ]]; then
		_srv_log "$_srv_pg_bin/initdb not found: run tests/lib/deps.sh (postgresql-15)"
		return 1
	fi
	_srv_ensure_user || return 1

	_srv_tmp=$(mktemp -d /tmp/backfilld-test.XXXXXX) || {
		_srv_tmp=""
		_srv_log "mktemp failed"
		return 1
	}
	chmod 0755 "$_srv_tmp"
	if ((EUID == 0)); then
		chown "$BACKFILLD_TEST_USER:$BACKFILLD_TEST_USER" "$_srv_tmp" || {
			_srv_fail "chown $_srv_tmp"
			return 1
		}
	fi

	export BACKFILLD_TEST_TMP=$_srv_tmp
	export BACKFILLD_PG_BIN=$_srv_pg_bin
	export BACKFILLD_PG_HOST=127.0.0.1
	export BACKFILLD_PG_ADMIN=admin
	export BACKFILLD_PG_USER=backfill
	export BACKFILLD_PG_PASSWORD=backfill-secret
	export BACKFILLD_PG_SOCKET_DIR=$_srv_tmp
	export BACKFILLD_PG_PRIMARY_DATA=$_srv_tmp/pg-primary
	unset BACKFILLD_PG_REPLICA_PORT BACKFILLD_PG_REPLICA_DATA
	BACKFILLD_PG_PORT=$(_srv_free_port) || {
		_srv_fail "no free port"
		return 1
	}
	export BACKFILLD_PG_PORT

	# ---- primary
	if ! _srv_as "$_srv_pg_bin/initdb" -D "$BACKFILLD_PG_PRIMARY_DATA" -A trust -U admin \
		-E UTF8 --no-locale -N >"$_srv_tmp/initdb.log" 2>&1; then
		_srv_fail "initdb"
		return 1
	fi
	rm -f "$_srv_tmp/initdb.log"
	cat >>"$BACKFILLD_PG_PRIMARY_DATA/postgresql.conf" <<-EOF

		# ---- backfilld test settings
		listen_addresses = '127.0.0.1'
		unix_socket_directories = '$_srv_tmp'
		wal_level = replica
		max_wal_senders = 5
		max_replication_slots = 5
		hot_standby = on
		fsync = off
		synchronous_commit = off
		full_page_writes = off
		shared_buffers = 128MB
		max_connections = 100
		logging_collector = off
		log_line_prefix = '%m [%p] %q%u@%d '
		log_min_messages = warning
	EOF
	cat >"$BACKFILLD_PG_PRIMARY_DATA/pg_hba.conf" <<-EOF
		# TYPE  DATABASE     USER      ADDRESS        METHOD
		local   all          all                      trust
		host    all          backfill  127.0.0.1/32   scram-sha-256
		host    all          all       127.0.0.1/32   trust
		host    replication  all       127.0.0.1/32   trust
	EOF
	if ! _srv_pg_start pg-primary "$BACKFILLD_PG_PRIMARY_DATA" BACKFILLD_PG_PORT; then
		_srv_fail "starting the primary"
		return 1
	fi
	if ! _srv_psql_admin >/dev/null <<-'EOF'; then
		CREATE ROLE backfill LOGIN PASSWORD 'backfill-secret' CREATEDB;
		GRANT pg_monitor TO backfill;
	EOF
		_srv_fail "creating role backfill"
		return 1
	fi

	# ---- replica
	if ((replica)); then
		export BACKFILLD_PG_REPLICA_DATA=$_srv_tmp/pg-replica
		BACKFILLD_PG_REPLICA_PORT=$(_srv_free_port "$BACKFILLD_PG_PORT") || {
			_srv_fail "no free port"
			return 1
		}
		export BACKFILLD_PG_REPLICA_PORT
		if ! _srv_as "$_srv_pg_bin/pg_basebackup" -h 127.0.0.1 -p "$BACKFILLD_PG_PORT" -U admin \
			-D "$BACKFILLD_PG_REPLICA_DATA" -R -X stream -C -S backfilld_replica -c fast -N \
			>"$_srv_tmp/pg_basebackup.log" 2>&1; then
			_srv_fail "pg_basebackup"
			return 1
		fi
		rm -f "$_srv_tmp/pg_basebackup.log"
		if ! _srv_pg_start pg-replica "$BACKFILLD_PG_REPLICA_DATA" BACKFILLD_PG_REPLICA_PORT \
			"$BACKFILLD_PG_PORT"; then
			_srv_fail "starting the replica"
			return 1
		fi
		local deadline=$((SECONDS + 30)) n=0
		while :; do
			n=$(_srv_psql_admin -c \
				"SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'" \
				2>/dev/null) || n=0
			[[ "$n" =~ ^[1-9] ]] && break
			if ((SECONDS >= deadline)); then
				_srv_fail "the replica is not streaming after 30 s"
				return 1
			fi
			sleep 0.1
		done
	fi

	# ---- credentials and env.sh
	export BACKFILLD_PG_PASSWORD_FILE=$_srv_tmp/backfill.password
	(umask 077 && printf '%s' "$BACKFILLD_PG_PASSWORD" >"$BACKFILLD_PG_PASSWORD_FILE") || {
		_srv_fail "writing $BACKFILLD_PG_PASSWORD_FILE"
		return 1
	}
	local v
	{
		echo "# written by tests/lib/servers.sh; source it to reach the test servers"
		for v in BACKFILLD_TEST_TMP BACKFILLD_PG_BIN BACKFILLD_PG_HOST BACKFILLD_PG_PORT \
			BACKFILLD_PG_REPLICA_PORT BACKFILLD_PG_ADMIN BACKFILLD_PG_USER \
			BACKFILLD_PG_PASSWORD BACKFILLD_PG_PASSWORD_FILE BACKFILLD_PG_SOCKET_DIR \
			BACKFILLD_PG_PRIMARY_DATA BACKFILLD_PG_REPLICA_DATA; do
			if [[ -n "${!v+set}" ]]; then printf 'export %s=%q\n' "$v" "${!v}"; fi
		done
	} >"$_srv_tmp/env.sh" || {
		_srv_fail "writing env.sh"
		return 1
	}
	_srv_log "PostgreSQL 15 primary on 127.0.0.1:$BACKFILLD_PG_PORT${BACKFILLD_PG_REPLICA_PORT:+, replica on 127.0.0.1:$BACKFILLD_PG_REPLICA_PORT} ($_srv_tmp, $((SECONDS - t0)) s)"
	return 0
}

# servers_pg_ctl primary|replica ARGS...: pg_ctl on one of the servers, as the
# server user; works from any process that has the exported variables.
servers_pg_ctl() {
	local which=$1 data
	shift
	case "$which" in
	primary) data=${BACKFILLD_PG_PRIMARY_DATA:-} ;;
	replica) data=${BACKFILLD_PG_REPLICA_DATA:-} ;;
	*)
		_srv_log "servers_pg_ctl: primary or replica, not '$which'"
		return 2
		;;
	esac
	[[ -n "$data" ]] || {
		_srv_log "servers_pg_ctl: no $which server"
		return 1
	}
	_srv_as "$_srv_pg_bin/pg_ctl" -D "$data" -l "$BACKFILLD_TEST_TMP/pg-$which.log" "$@"
}

# Stop one server (immediate shutdown, bounded), then make sure the postmaster and
# all its children are gone, SIGKILLing what is left.
_srv_stop_one() {
	local data=$1 pid="" pids
	[[ -f "$data/postmaster.pid" ]] || return 0
	read -r pid <"$data/postmaster.pid" 2>/dev/null || true
	[[ "$pid" =~ ^[0-9]+$ ]] || pid=""
	pids=()
	if [[ -n "$pid" ]] && _srv_alive "$pid"; then
		mapfile -t pids < <(_srv_children "$pid")
		pids+=("$pid")
	fi
	local -a pre
	mapfile -d '' -t pre < <(_srv_prefix)
	(cd / && timeout 20 "${pre[@]}" "$_srv_pg_bin/pg_ctl" stop -D "$data" -m immediate -w \
		-t 15) >/dev/null 2>&1 || true
	((${#pids[@]})) || return 0
	if ! _srv_wait_gone 5 "${pids[@]}"; then
		_srv_log "$data: server still running after pg_ctl stop; killing ${pids[*]}"
		kill -KILL "${pids[@]}" 2>/dev/null || true
		_srv_wait_gone 10 "${pids[@]}" || _srv_log "$data: processes survive SIGKILL: ${pids[*]}"
	fi
	return 0
}

servers_stop() {
	local tmp=$_srv_tmp
	[[ -n "$tmp" ]] || return 0
	_srv_tmp=""
	_srv_stop_one "$tmp/pg-replica"
	_srv_stop_one "$tmp/pg-primary"
	if [[ "${BACKFILLD_KEEP_TMP:-0}" == 1 ]]; then
		_srv_log "kept $tmp (BACKFILLD_KEEP_TMP=1)"
	else
		rm -rf -- "$tmp" 2>/dev/null || true
	fi
	unset BACKFILLD_TEST_TMP BACKFILLD_PG_PORT BACKFILLD_PG_REPLICA_PORT \
		BACKFILLD_PG_PASSWORD_FILE BACKFILLD_PG_SOCKET_DIR BACKFILLD_PG_PRIMARY_DATA \
		BACKFILLD_PG_REPLICA_DATA
	return 0
}

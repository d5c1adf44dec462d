# shellcheck shell=bash disable=SC2120
# Throwaway database servers for backfilld's tests and demo.
#
#   source tests/lib/servers.sh
#   trap servers_stop EXIT
#   servers_start_pg [--no-replica]     # PostgreSQL 15 primary (+ streaming replica)
#   servers_start_mysql [--no-replica]  # MariaDB primary (+ GTID binlog replica)
#   ...                                 # use the BACKFILLD_* variables below
#   servers_stop                        # stops both engines; idempotent; fine from
#                                       # an EXIT trap
#
# Either engine, or both in any order, in one temp dir (/tmp/backfilld-test.XXXXXX),
# removed by servers_stop unless BACKFILLD_KEEP_TMP=1. As root, the servers run as
# the system user `backfilld-test` (created on first use) through setpriv;
# PostgreSQL refuses to run as root. The distribution's own servers (PostgreSQL on
# 5432, the mariadb service on 3306) are never used.
#
# Exported (and appended as `export K=V` lines to $BACKFILLD_TEST_TMP/env.sh):
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
# and from servers_start_mysql:
#   BACKFILLD_MY_BIN            /usr/bin: the directory of the mariadb client
#   BACKFILLD_MY_HOST           127.0.0.1
#   BACKFILLD_MY_PORT           primary's TCP port
#   BACKFILLD_MY_REPLICA_PORT   replica's TCP port (unset with --no-replica)
#   BACKFILLD_MY_SOCKET         primary's unix socket
#   BACKFILLD_MY_REPLICA_SOCKET replica's unix socket (unset with --no-replica)
#   BACKFILLD_MY_ADMIN          admin@127.0.0.1 and admin@localhost (the socket): ALL
#                               PRIVILEGES WITH GRANT OPTION, no password
#   BACKFILLD_MY_USER           backfill@127.0.0.1 (TCP only): ALL on `it\_%`.*, demo.*
#                               and bench.*, PROCESS, REPLICATION CLIENT, SLAVE MONITOR;
#                               it cannot create databases: admin creates them
#   BACKFILLD_MY_PASSWORD       backfill-secret
#   BACKFILLD_MY_PASSWORD_FILE  a 0600 file holding the password (no newline)
#
# The MariaDB replica (read_only; admin may still write) replicates everything from
# the primary's first binlog, users included, with MASTER_USE_GTID=slave_pos as
# user repl; binlog_format=ROW. STOP SLAVE [SQL_THREAD] as admin on the replica
# makes lag. Connect with `$BACKFILLD_MY_BIN/mariadb --no-defaults -S SOCKET -u admin`
# or `... -h 127.0.0.1 -P PORT -u backfill -pbackfill-secret`.
#
# The PostgreSQL replica streams from the physical slot `backfilld_replica`. Tests
# may use
#   servers_pg_ctl primary|replica ARGS...   (pg_ctl as the server user, from any
#                                            process that has the variables above)
#
# Stopping and starting one server again, with the same data directory, port and
# options (tests/chaos/ restarts primaries and replicas under a running daemon);
# these too work from any process that has the exported variables:
#   servers_pg_restart primary|replica fast|immediate
#                                      pg_ctl restart -m MODE; returns once it accepts
#                                      connections (after crash recovery for immediate)
#   servers_my_stop primary|replica [clean|kill]
#                                      clean (the default): SHUTDOWN as servers_stop does;
#                                      kill: SIGKILL of mariadbd (crash recovery at the
#                                      next start); returns once the process is gone
#   servers_my_start primary|replica   start a stopped MariaDB server again from its
#                                      option file (a replica resumes replicating by
#                                      itself); returns once admin can connect
#
# Settings of their own (the benchmark's larger buffers): lines in
# BACKFILLD_PG_EXTRA_CONF (postgresql.conf, replica included), BACKFILLD_MY_EXTRA_CNF
# (both MariaDB servers' [mariadbd] section) and BACKFILLD_MY_REPLICA_EXTRA_CNF (the
# MariaDB replica's, after the others) are appended when set.
#
# Functions return non-zero (after printing the servers' log tails) on failure;
# they do not exit, and they work under `set -euo pipefail` as well as without it.
# A failed start stops every server of the temp dir (both engines) and removes it.

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

# Create the temp dir shared by all servers of this run, unless it exists already.
_srv_ensure_tmp() {
	[[ -n "$_srv_tmp" ]] && return 0
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
}

# _srv_write_env VAR...: append `export VAR=value` lines for the VARs that are set
# to $BACKFILLD_TEST_TMP/env.sh, which starts with a comment and BACKFILLD_TEST_TMP.
_srv_write_env() {
	local v env=$_srv_tmp/env.sh new=1
	[[ -e "$env" ]] && new=0
	{
		if ((new)); then
			echo "# written by tests/lib/servers.sh; source it to reach the test servers"
			printf 'export %s=%q\n' BACKFILLD_TEST_TMP "$_srv_tmp"
		fi
		for v in "$@"; do
			if [[ -n "${!v+set}" ]]; then printf 'export %s=%q\n' "$v" "${!v}"; fi
		done
	} >>"$env"
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
	if [[ -n "$_srv_tmp" && -d "$_srv_tmp/pg-primary" ]]; then
		_srv_log "PostgreSQL already started in $_srv_tmp; call servers_stop first"
		return 1
	fi
	if [[ ! -x "$_srv_pg_bin/initdb" ]]; then
		_srv_log "$_srv_pg_bin/initdb not found: run tests/lib/deps.sh (postgresql-15)"
		return 1
	fi
	_srv_ensure_tmp || return 1

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
		${BACKFILLD_PG_EXTRA_CONF:-}
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
	_srv_write_env BACKFILLD_PG_BIN BACKFILLD_PG_HOST BACKFILLD_PG_PORT \
		BACKFILLD_PG_REPLICA_PORT BACKFILLD_PG_ADMIN BACKFILLD_PG_USER \
		BACKFILLD_PG_PASSWORD BACKFILLD_PG_PASSWORD_FILE BACKFILLD_PG_SOCKET_DIR \
		BACKFILLD_PG_PRIMARY_DATA BACKFILLD_PG_REPLICA_DATA || {
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

# servers_pg_restart primary|replica fast|immediate: restart one PostgreSQL server
# with pg_ctl (same data directory, port and options; an immediate shutdown is a
# crash, so the start runs crash recovery); returns once it accepts connections.
servers_pg_restart() {
	local which=$1 mode=$2
	case "$mode" in
	fast | immediate) ;;
	*)
		_srv_log "servers_pg_restart: fast or immediate, not '$mode'"
		return 2
		;;
	esac
	servers_pg_ctl "$which" restart -m "$mode" -w -t 120 \
		>>"${BACKFILLD_TEST_TMP:-/tmp}/pg_ctl.log" 2>&1 || {
		_srv_log "servers_pg_restart: pg_ctl restart -m $mode of the $which failed (see ${BACKFILLD_TEST_TMP:-}/pg-$which.log)"
		return 1
	}
}

# ---------------------------------------------------------------------------
# MariaDB

_srv_my_sbin=/usr/sbin/mariadbd

# _srv_my NAME ARGS...: the mariadb client as admin over NAME's unix socket (no
# option files read), batch mode, no column names.
_srv_my() {
	local name=$1
	shift
	"$BACKFILLD_MY_BIN/mariadb" --no-defaults --connect-timeout=5 -S "$_srv_tmp/$name.sock" \
		-u admin -N -B "$@"
}

# The live process started for server NAME (by the launcher pid file or the server's
# own pid file), checked against its command line so a reused pid is never taken.
_srv_my_pids() {
	local name=$1 tmp=$2 f pid cmd
	for f in "$tmp/$name.launch-pid" "$tmp/$name.pid"; do
		pid=""
		{ read -r pid <"$f"; } 2>/dev/null || continue
		[[ "$pid" =~ ^[0-9]+$ ]] || continue
		_srv_alive "$pid" || continue
		cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || continue
		[[ "$cmd" == *"--defaults-file=$tmp/$name.cnf"* ]] && echo "$pid"
	done | sort -u
}

# _srv_my_write_cnf NAME PORT SERVER_ID EXTRA_LINES
_srv_my_write_cnf() {
	local name=$1 port=$2 id=$3 extra=$4
	cat >"$_srv_tmp/$name.cnf" <<-EOF
		# written by tests/lib/servers.sh
		[mariadbd]
		datadir = $_srv_tmp/$name
		tmpdir = $_srv_tmp/$name.tmp
		socket = $_srv_tmp/$name.sock
		pid-file = $_srv_tmp/$name.pid
		log-error = $_srv_tmp/$name.log
		port = $port
		bind-address = 127.0.0.1
		skip-name-resolve
		server_id = $id
		max_connections = 200
		performance_schema = OFF
		innodb_buffer_pool_size = 128M
		innodb_flush_log_at_trx_commit = 2
		sync_binlog = 0
		innodb_buffer_pool_dump_at_shutdown = OFF
		innodb_buffer_pool_load_at_startup = OFF
		character_set_server = utf8mb4
		collation_server = utf8mb4_general_ci
		$extra
		${BACKFILLD_MY_EXTRA_CNF:-}
		$([[ "$name" == my-replica ]] && printf '%s' "${BACKFILLD_MY_REPLICA_EXTRA_CNF:-}")
	EOF
}

# _srv_my_start NAME PORT_VAR SERVER_ID EXTRA_CNF INIT_SQL FAIL_RE [EXCLUDED_PORT...]:
# start mariadbd detached (its own session, not a child of this shell), running
# INIT_SQL once, and wait until admin can connect over the socket; give up at once
# when the server's log matches the extended regex FAIL_RE. On a port clash, retry
# with a new port. (A failing statement ends the init file silently: check its
# effects afterwards.)
_srv_my_start() {
	local name=$1 portvar=$2 id=$3 extra=$4 init=$5 failre=$6 port pid deadline off news
	shift 6
	local initf=$_srv_tmp/$name-init.sql log=$_srv_tmp/$name.log
	local bindre='Bind on TCP/IP port|Do you already have another (mysqld|mariadbd) server running'
	for _ in 1 2 3; do
		port=${!portvar}
		_srv_my_write_cnf "$name" "$port" "$id" "$extra" || return 1
		printf '%s\n' "$init" >"$initf" || return 1
		if ((EUID == 0)); then chown "$BACKFILLD_TEST_USER" "$initf" || return 1; fi
		chmod 0600 "$initf"
		rm -f "$_srv_tmp/$name.pid" "$_srv_tmp/$name.launch-pid"
		off=$(stat -c %s "$log" 2>/dev/null) || off=0
		# Double fork, so the server is no child of this shell (a plain `wait` in the
		# caller must not wait for it); `exec` all the way keeps one pid from the
		# subshell through setpriv and setsid to mariadbd.
		(
			local -a pre
			mapfile -d '' -t pre < <(_srv_prefix)
			cd "$_srv_tmp" || exit 1
			exec "${pre[@]}" setsid "$_srv_my_sbin" --defaults-file="$_srv_tmp/$name.cnf" \
				--init-file="$initf" </dev/null >>"$log" 2>&1 &
			echo $! >"$_srv_tmp/$name.launch-pid"
		)
		read -r pid <"$_srv_tmp/$name.launch-pid" || return 1
		deadline=$((SECONDS + 60))
		while :; do
			if _srv_my "$name" -e 'SELECT 1' >/dev/null 2>&1; then
				rm -f "$initf"
				return 0
			fi
			# Only this attempt's part of the log counts.
			news=$(tail -c "+$((off + 1))" "$log" 2>/dev/null) || news=""
			if grep -qE "$bindre" <<<"$news"; then
				_srv_wait_gone 10 "$pid" || return 1
				break
			fi
			if ! _srv_alive "$pid"; then
				_srv_log "$name: mariadbd exited"
				return 1
			fi
			if grep -qE "$failre" <<<"$news"; then
				_srv_log "$name: failed (its log matches /$failre/)"
				return 1
			fi
			if ((SECONDS >= deadline)); then
				_srv_log "$name: not accepting connections after 60 s"
				return 1
			fi
			sleep 0.05
		done
		# Someone took the port since we picked it.
		_srv_log "$name: port $port taken, retrying"
		port=$(_srv_free_port "$@") || return 1
		printf -v "$portvar" '%s' "$port"
	done
	return 1
}

# _srv_my_install NAME: an empty data directory with the system tables. Each server
# has a tmpdir of its own: mariadbd deletes every #sql* file in its tmpdir when it
# starts, including a concurrently starting server's temporary tables.
_srv_my_install() {
	local name=$1
	_srv_as mkdir -m 0700 "$_srv_tmp/$name.tmp" &&
		_srv_my_write_cnf "$name" 0 0 "" &&
		_srv_as "$BACKFILLD_MY_BIN/mariadb-install-db" --defaults-file="$_srv_tmp/$name.cnf" \
			--skip-test-db --skip-name-resolve --auth-root-authentication-method=socket \
			>"$_srv_tmp/$name-install.log" 2>&1
}

servers_start_mysql() {
	local replica=1 arg t0=$SECONDS
	for arg in "$@"; do
		case "$arg" in
		--no-replica) replica=0 ;;
		*)
			_srv_log "servers_start_mysql: unknown argument: $arg"
			return 2
			;;
		esac
	done
	if [[ -n "$_srv_tmp" && -d "$_srv_tmp/my-primary" ]]; then
		_srv_log "MariaDB already started in $_srv_tmp; call servers_stop first"
		return 1
	fi
	local client
	client=$(command -v mariadb 2>/dev/null) || client=""
	if [[ ! -x "$_srv_my_sbin" || -z "$client" || ! -x "${client%/*}/mariadb-install-db" ]]; then
		_srv_log "mariadbd, mariadb or mariadb-install-db not found: run tests/lib/deps.sh (mariadb-server, mariadb-client)"
		return 1
	fi
	_srv_ensure_tmp || return 1

	export BACKFILLD_MY_BIN=${client%/*}
	export BACKFILLD_MY_HOST=127.0.0.1
	export BACKFILLD_MY_ADMIN=admin
	export BACKFILLD_MY_USER=backfill
	export BACKFILLD_MY_PASSWORD=backfill-secret
	export BACKFILLD_MY_SOCKET=$_srv_tmp/my-primary.sock
	unset BACKFILLD_MY_REPLICA_PORT BACKFILLD_MY_REPLICA_SOCKET
	BACKFILLD_MY_PORT=$(_srv_free_port "${BACKFILLD_PG_PORT:-}" "${BACKFILLD_PG_REPLICA_PORT:-}") || {
		_srv_fail "no free port"
		return 1
	}
	export BACKFILLD_MY_PORT

	# SLAVE MONITOR (SHOW SLAVE STATUS) exists from MariaDB 10.5.9 on.
	local ver monitor=""
	ver=$("$_srv_my_sbin" --version 2>/dev/null) || ver=""
	if [[ "$ver" =~ Ver\ ([0-9]+)\.([0-9]+)\.([0-9]+)-MariaDB ]]; then
		local v=$((BASH_REMATCH[1] * 10000 + BASH_REMATCH[2] * 100 + BASH_REMATCH[3]))
		((v >= 100509)) && monitor=", SLAVE MONITOR"
	fi

	# ---- data directories (in parallel: mariadb-install-db takes a second or two)
	local -a names=(my-primary)
	((replica)) && names+=(my-replica)
	local -A ipid=()
	local n
	for n in "${names[@]}"; do
		_srv_my_install "$n" &
		ipid[$n]=$!
	done
	for n in "${names[@]}"; do
		if ! wait "${ipid[$n]}"; then
			_srv_fail "mariadb-install-db for $n (log: $_srv_tmp/$n-install.log)"
			return 1
		fi
		rm -f "$_srv_tmp/$n-install.log"
	done

	# ---- primary: users are created with the binlog on, so the replica gets them too.
	# (An init file needs FLUSH PRIVILEGES first, or CREATE USER fails with 1290.)
	if ! _srv_my_start my-primary BACKFILLD_MY_PORT 1 \
		$'log_bin = mariadb-bin\nbinlog_format = ROW' "FLUSH PRIVILEGES;
CREATE USER 'admin'@'127.0.0.1';
GRANT ALL PRIVILEGES ON *.* TO 'admin'@'127.0.0.1' WITH GRANT OPTION;
CREATE USER 'admin'@'localhost';
GRANT ALL PRIVILEGES ON *.* TO 'admin'@'localhost' WITH GRANT OPTION;
CREATE USER 'backfill'@'127.0.0.1' IDENTIFIED BY 'backfill-secret';
GRANT ALL PRIVILEGES ON \`it\\_%\`.* TO 'backfill'@'127.0.0.1';
GRANT ALL PRIVILEGES ON \`demo\`.* TO 'backfill'@'127.0.0.1';
GRANT ALL PRIVILEGES ON \`bench\`.* TO 'backfill'@'127.0.0.1';
GRANT PROCESS, REPLICATION CLIENT$monitor ON *.* TO 'backfill'@'127.0.0.1';
CREATE USER 'repl'@'127.0.0.1' IDENTIFIED BY 'repl-secret';
GRANT REPLICATION SLAVE ON *.* TO 'repl'@'127.0.0.1';" '\[ERROR\]' \
		"${BACKFILLD_PG_PORT:-}" "${BACKFILLD_PG_REPLICA_PORT:-}"; then
		_srv_fail "starting the MariaDB primary"
		return 1
	fi
	# The init file stops silently at a failing statement: check that it ran to the end.
	local grants
	grants=$(_srv_my my-primary -e "SHOW GRANTS FOR 'repl'@'127.0.0.1'" 2>&1) || grants=""
	if [[ "$grants" != *"REPLICATION SLAVE"* ]]; then
		_srv_fail "creating the MariaDB users (the init file stopped early)"
		return 1
	fi

	# ---- replica: GTID replication from the start of the primary's binlog.
	if ((replica)); then
		export BACKFILLD_MY_REPLICA_SOCKET=$_srv_tmp/my-replica.sock
		BACKFILLD_MY_REPLICA_PORT=$(_srv_free_port "$BACKFILLD_MY_PORT" \
			"${BACKFILLD_PG_PORT:-}" "${BACKFILLD_PG_REPLICA_PORT:-}") || {
			_srv_fail "no free port"
			return 1
		}
		export BACKFILLD_MY_REPLICA_PORT
		if ! _srv_my_start my-replica BACKFILLD_MY_REPLICA_PORT 2 \
			$'relay_log = relay-bin\nread_only = ON' "FLUSH PRIVILEGES;
CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=$BACKFILLD_MY_PORT,
  MASTER_USER='repl', MASTER_PASSWORD='repl-secret', MASTER_CONNECT_RETRY=1,
  MASTER_USE_GTID=slave_pos;
START SLAVE;" '\[ERROR\]' \
			"$BACKFILLD_MY_PORT" "${BACKFILLD_PG_PORT:-}" "${BACKFILLD_PG_REPLICA_PORT:-}"; then
			_srv_fail "starting the MariaDB replica"
			return 1
		fi
		# admin could connect, so the users have arrived; now both threads must run
		# and everything the primary has written so far must be applied.
		local pos status io sql deadline=$((SECONDS + 30))
		pos=$(_srv_my my-primary -e 'SELECT @@gtid_binlog_pos') || pos=""
		while :; do
			status=$(_srv_my my-replica --column-names -e 'SHOW SLAVE STATUS\G' 2>/dev/null) || status=""
			io=$(sed -n 's/^ *Slave_IO_Running: //p' <<<"$status")
			sql=$(sed -n 's/^ *Slave_SQL_Running: //p' <<<"$status")
			if [[ "$io" == Yes && "$sql" == Yes ]] &&
				[[ "$(_srv_my my-replica -e "SELECT MASTER_GTID_WAIT('$pos', 0)" 2>/dev/null)" == 0 ]]; then
				break
			fi
			if ((SECONDS >= deadline)); then
				printf '%s\n' "$status" >&2
				_srv_fail "the MariaDB replica is not replicating after 30 s (IO: ${io:-?}, SQL: ${sql:-?})"
				return 1
			fi
			sleep 0.05
		done
	fi

	# ---- credentials and env.sh
	export BACKFILLD_MY_PASSWORD_FILE=$_srv_tmp/my-backfill.password
	(umask 077 && printf '%s' "$BACKFILLD_MY_PASSWORD" >"$BACKFILLD_MY_PASSWORD_FILE") || {
		_srv_fail "writing $BACKFILLD_MY_PASSWORD_FILE"
		return 1
	}
	_srv_write_env BACKFILLD_MY_BIN BACKFILLD_MY_HOST BACKFILLD_MY_PORT \
		BACKFILLD_MY_REPLICA_PORT BACKFILLD_MY_SOCKET BACKFILLD_MY_REPLICA_SOCKET \
		BACKFILLD_MY_ADMIN BACKFILLD_MY_USER BACKFILLD_MY_PASSWORD \
		BACKFILLD_MY_PASSWORD_FILE || {
		_srv_fail "writing env.sh"
		return 1
	}
	_srv_log "MariaDB ${ver:+$(sed -E 's/.*Ver ([^ ]*).*/\1/' <<<"$ver") }primary on 127.0.0.1:$BACKFILLD_MY_PORT${BACKFILLD_MY_REPLICA_PORT:+, replica on 127.0.0.1:$BACKFILLD_MY_REPLICA_PORT} ($_srv_tmp, $((SECONDS - t0)) s)"
	return 0
}

# Stop one MariaDB server of temp dir TMP: SHUTDOWN as admin (bounded; the SQL
# statement, as `mariadb-admin shutdown` then polls the pid file once a second),
# SIGTERM if that failed, SIGKILL what is left after 10 s.
_srv_my_stop_one() {
	local name=$1 tmp=$2 pids
	mapfile -t pids < <(_srv_my_pids "$name" "$tmp")
	((${#pids[@]})) || return 0
	if ! timeout 15 "${BACKFILLD_MY_BIN:-/usr/bin}/mariadb" --no-defaults --connect-timeout=3 \
		-S "$tmp/$name.sock" -u admin -e SHUTDOWN </dev/null >/dev/null 2>&1; then
		kill -TERM "${pids[@]}" 2>/dev/null || true
	fi
	if ! _srv_wait_gone 10 "${pids[@]}"; then
		_srv_log "$name: server still running after shutdown; killing ${pids[*]}"
		kill -KILL "${pids[@]}" 2>/dev/null || true
		_srv_wait_gone 10 "${pids[@]}" || _srv_log "$name: processes survive SIGKILL: ${pids[*]}"
	fi
	return 0
}

# _srv_my_which primary|replica: the server's name (my-primary, my-replica), checked
# against the running test servers' temp dir ($BACKFILLD_TEST_TMP).
_srv_my_which() {
	case "$1" in
	primary | replica) ;;
	*)
		_srv_log "MariaDB server: primary or replica, not '$1'"
		return 2
		;;
	esac
	if [[ -z "${BACKFILLD_TEST_TMP:-}" || ! -f "$BACKFILLD_TEST_TMP/my-$1.cnf" ]]; then
		_srv_log "no MariaDB $1 in ${BACKFILLD_TEST_TMP:-(no temp dir)}"
		return 1
	fi
	echo "my-$1"
}

# servers_my_stop primary|replica [clean|kill]: stop one MariaDB server of this run,
# keeping its data directory. clean: SHUTDOWN (as servers_stop); kill: SIGKILL of
# mariadbd, a crash. Returns once the process is gone (it is no child of ours: it is
# reaped by init, so its /proc state is watched, not kill -0).
servers_my_stop() {
	local name how=${2:-clean} tmp=${BACKFILLD_TEST_TMP:-} pids
	name=$(_srv_my_which "$1") || return
	case "$how" in
	clean)
		_srv_my_stop_one "$name" "$tmp"
		return 0
		;;
	kill) ;;
	*)
		_srv_log "servers_my_stop: clean or kill, not '$how'"
		return 2
		;;
	esac
	mapfile -t pids < <(_srv_my_pids "$name" "$tmp")
	((${#pids[@]})) || return 0
	kill -KILL "${pids[@]}" 2>/dev/null || true
	_srv_wait_gone 20 "${pids[@]}" || {
		_srv_log "$name: processes survive SIGKILL: ${pids[*]}"
		return 1
	}
}

# servers_my_start primary|replica: start a stopped MariaDB server of this run again,
# detached as in _srv_my_start, from the option file it was first started with (same
# data directory, port and options; no init file: what it did is in the data
# directory). Waits up to 120 s (crash recovery) until admin can connect.
servers_my_start() {
	local name tmp=${BACKFILLD_TEST_TMP:-} pid deadline
	name=$(_srv_my_which "$1") || return
	if [[ -n "$(_srv_my_pids "$name" "$tmp")" ]]; then
		_srv_log "$name is running already"
		return 1
	fi
	rm -f "$tmp/$name.pid" "$tmp/$name.launch-pid"
	(
		local -a pre
		mapfile -d '' -t pre < <(_srv_prefix)
		cd "$tmp" || exit 1
		exec "${pre[@]}" setsid "$_srv_my_sbin" --defaults-file="$tmp/$name.cnf" \
			</dev/null >>"$tmp/$name.log" 2>&1 &
		echo $! >"$tmp/$name.launch-pid"
	)
	read -r pid <"$tmp/$name.launch-pid" || return 1
	deadline=$((SECONDS + 120))
	until "${BACKFILLD_MY_BIN:-/usr/bin}/mariadb" --no-defaults --connect-timeout=5 \
		-S "$tmp/$name.sock" -u admin -N -B -e 'SELECT 1' </dev/null >/dev/null 2>&1; do
		if ! _srv_alive "$pid"; then
			_srv_log "$name: mariadbd exited (see $tmp/$name.log)"
			return 1
		fi
		if ((SECONDS >= deadline)); then
			_srv_log "$name: not accepting connections 120 s after the start"
			return 1
		fi
		sleep 0.05
	done
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
	_srv_my_stop_one my-replica "$tmp"
	_srv_my_stop_one my-primary "$tmp"
	_srv_stop_one "$tmp/pg-replica"
	_srv_stop_one "$tmp/pg-primary"
	if [[ "${BACKFILLD_KEEP_TMP:-0}" == 1 ]]; then
		_srv_log "kept $tmp (BACKFILLD_KEEP_TMP=1)"
	else
		rm -rf -- "$tmp" 2>/dev/null || true
	fi
	unset BACKFILLD_TEST_TMP BACKFILLD_PG_PORT BACKFILLD_PG_REPLICA_PORT \
		BACKFILLD_PG_PASSWORD_FILE BACKFILLD_PG_SOCKET_DIR BACKFILLD_PG_PRIMARY_DATA \
		BACKFILLD_PG_REPLICA_DATA BACKFILLD_MY_PORT BACKFILLD_MY_REPLICA_PORT \
		BACKFILLD_MY_SOCKET BACKFILLD_MY_REPLICA_SOCKET BACKFILLD_MY_PASSWORD_FILE
	return 0
}

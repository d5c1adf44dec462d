#!/usr/bin/env bash
# Install the Debian packages backfilld's build, tests and demo need.
#
#   tests/lib/deps.sh           # build deps + PostgreSQL 15
#   tests/lib/deps.sh --mysql   # ... plus MariaDB server and client
#   tests/lib/deps.sh --check   # only list what is missing (exit 1 if anything)
#
# Idempotent and fast: one dpkg-query call; apt-get runs only when something is
# missing. Uses sudo when not root. The postgresql package's own cluster (Debian's
# 15/main on port 5432) is never used by the tests: servers.sh starts private ones.
set -euo pipefail

packages=(build-essential cmake pkg-config git libpq-dev libyaml-dev libev-dev
	libcmocka-dev default-libmysqlclient-dev postgresql-15 postgresql-client-15 systemd)

check_only=0
for arg in "$@"; do
	case "$arg" in
	--mysql) packages+=(mariadb-server mariadb-client) ;;
	--check) check_only=1 ;;
	-h | --help)
		sed -n '2,10s/^# \{0,1\}//p' "$0"
		exit 0
		;;
	*)
		echo "deps.sh: unknown argument: $arg" >&2
		exit 2
		;;
	esac
done

# "ii" = desired install, status installed. Packages dpkg has never heard of print
# nothing (and an error on stderr), so compare against the list we asked for.
declare -A installed=()
while read -r name abbrev; do
	[[ "$abbrev" == ii* ]] && installed["${name%%:*}"]=1
done < <(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${packages[@]}" 2>/dev/null || true)

missing=()
for p in "${packages[@]}"; do
	[[ -n "${installed[$p]:-}" ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
	exit 0
fi

if ((check_only)); then
	echo "deps.sh: missing: ${missing[*]}" >&2
	exit 1
fi
echo "deps.sh: installing: ${missing[*]}" >&2

sudo=()
if ((EUID != 0)); then
	if ! command -v sudo >/dev/null 2>&1; then
		echo "deps.sh: not root and no sudo; please install: ${missing[*]}" >&2
		exit 1
	fi
	sudo=(sudo)
	# Without a terminal a password prompt would hang or fail confusingly.
	[[ -t 0 ]] || sudo=(sudo -n)
fi

export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	--no-install-recommends "${missing[@]}" </dev/null

#!/usr/bin/env bash
# Install the Debian packages backfilld's build, tests and demo need.
#
#   tests/lib/deps.sh           # build deps + PostgreSQL 15 + MariaDB server and client
#   tests/lib/deps.sh --check   # only list what is missing (exit 1 if anything)
#   tests/lib/deps.sh --bench   # also what tests/bench/run.sh drives: sysbench
#   tests/lib/deps.sh --fuzz    # also clang and its libFuzzer runtime (tests/fuzz/run.sh)
#   (--mysql is still accepted and does nothing: MariaDB is always installed.)
#
# Idempotent and fast: one dpkg-query call; apt-get runs only when something is
# missing. Uses sudo when not root. The packages' own servers (Debian's PostgreSQL
# cluster 15/main on 5432, the mariadb service on 3306) are never used by the tests:
# servers.sh starts private ones. Where no init system runs (containers), services
# are kept from starting during the install (a temporary policy-rc.d), so package
# scripts that would start them cannot fail the install.
set -euo pipefail

packages=(build-essential cmake pkg-config git libpq-dev libyaml-dev libev-dev
	libcmocka-dev default-libmysqlclient-dev postgresql-15 postgresql-client-15 systemd
	mariadb-server mariadb-client)

check_only=0
for arg in "$@"; do
	case "$arg" in
	--mysql) ;; # compatibility: MariaDB is a normal dependency now
	--check) check_only=1 ;;
	--bench) packages+=(sysbench) ;;
	--fuzz) packages+=(clang libclang-rt-14-dev) ;;
	-h | --help)
		sed -n '2,15s/^# \{0,1\}//p' "$0"
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

# Without a running systemd, package scripts start services through invoke-rc.d
# and the init.d scripts; in a container that may fail (and fail the install) or
# leave a server running. invoke-rc.d and deb-systemd-invoke skip the start when
# /usr/sbin/policy-rc.d exits 101 (Docker images ship such a file): provide one
# for the duration of the install if there is none, and remove it afterwards.
policy=/usr/sbin/policy-rc.d
policy_added=0
remove_policy() {
	if ((policy_added)); then
		"${sudo[@]}" rm -f "$policy" || echo "deps.sh: could not remove $policy" >&2
		policy_added=0
	fi
}
if [[ ! -d /run/systemd/system && ! -e "$policy" ]]; then
	trap remove_policy EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	if printf '#!/bin/sh\n# temporary, from backfilld tests/lib/deps.sh\nexit 101\n' |
		"${sudo[@]}" tee "$policy" >/dev/null && "${sudo[@]}" chmod 0755 "$policy"; then
		policy_added=1
	else
		"${sudo[@]}" rm -f "$policy" 2>/dev/null || true
		echo "deps.sh: warning: could not write $policy; package scripts may try to start services" >&2
	fi
fi

export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	--no-install-recommends "${missing[@]}" </dev/null
remove_policy

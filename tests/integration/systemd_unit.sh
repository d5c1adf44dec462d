#!/usr/bin/env bash
# drivers: none
# The systemd unit is valid (systemd-analyze verify), sandboxed as the README says
# (systemd-analyze security: exposure at most 1.2, no exposed setting beyond the
# README's exceptions), and installed by cmake --install
# with ExecStart pointing at the installed binary, which finds its driver modules.
source "$(dirname "$0")/../lib/itest.sh"
IT_NAME=systemd_unit
IT_DIR=$(mktemp -d "${TMPDIR:-/tmp}/backfilld-it-systemd.XXXXXX")
trap it_cleanup EXIT
command -v systemd-analyze >/dev/null || it_fail "systemd-analyze is not installed (tests/lib/deps.sh installs systemd)"
src=${BACKFILLD_SOURCE_DIR:?}
build=$(dirname "$BACKFILLD_BIN")

# install into a staging prefix
cmake --install "$build" --prefix "$IT_DIR/prefix" >"$IT_DIR/install.log" 2>&1 ||
	it_fail "cmake --install failed: $(tail -n 5 "$IT_DIR/install.log")"
unit=$IT_DIR/prefix/lib/systemd/system/backfilld@.service
[[ -x "$IT_DIR/prefix/bin/backfilld" ]] || it_fail "binary not installed"
[[ -f "$unit" ]] || it_fail "unit not installed at $unit"
[[ -f "$IT_DIR/prefix/share/doc/backfilld/example.yaml" ]] || it_fail "example config not installed"
it_contains "$unit" "ExecStart=$IT_DIR/prefix/bin/backfilld run -c /etc/backfilld/%i.yaml" \
	"installed unit runs the installed binary"
"$IT_DIR/prefix/bin/backfilld" --version >/dev/null || it_fail "installed binary does not run"

# the drivers are modules in lib/backfilld, found relative to the installed binary:
# a job on a closed port gets as far as connecting
for engine in postgres mysql; do
	[[ -f "$IT_DIR/prefix/lib/backfilld/backfilld-$engine.so" ]] || it_fail "driver $engine not installed"
	if [[ $engine == postgres ]]; then
		db='  driver: postgres
  dsn: "host=127.0.0.1 port=1 dbname=app user=app"'
	else
		db='  driver: mysql
  host: 127.0.0.1
  port: 1
  user: app
  database: app'
	fi
	printf 'job: load_%s\ndatabase:\n%s\ntable: items\nkey: id\nset:\n  new_status: old_status\n' \
		"$engine" "$db" >"$IT_DIR/$engine.yaml"
	out=$("$IT_DIR/prefix/bin/backfilld" check -c "$IT_DIR/$engine.yaml" 2>&1)
	it_eq "$?" 1 "check of a $engine job on a closed port: exit status ($out)"
	[[ "$out" == *"cannot connect to 127.0.0.1:1"* ]] || it_fail "$engine driver not loaded: $out"
done
# without its module, a job says which file it looked for, and writes nothing
mv "$IT_DIR/prefix/lib/backfilld/backfilld-postgres.so" "$IT_DIR/moved.so"
out=$("$IT_DIR/prefix/bin/backfilld" run -c "$IT_DIR/postgres.yaml" 2>&1)
it_eq "$?" 1 "run without the driver module: exit status"
[[ "$out" == *"cannot load the driver: neither "*"/bin/backfilld-postgres.so nor "*"/lib/backfilld/backfilld-postgres.so exists"* ]] ||
	it_fail "run without the driver module: $out"
mv "$IT_DIR/moved.so" "$IT_DIR/prefix/lib/backfilld/backfilld-postgres.so"

# verify: every directive known, the command executable
cp "$unit" "$IT_DIR/backfilld@.service"
systemd-analyze verify "$IT_DIR/backfilld@.service" >"$IT_DIR/verify.log" 2>&1
rc=$?
it_eq "$rc" 0 "systemd-analyze verify exit status ($(cat "$IT_DIR/verify.log"))"
it_eq "$(grep -v -e '^$' "$IT_DIR/verify.log" | grep -cv 'is not a valid path\|Failed to load\|\.mount\|\.device')" 0 \
	"systemd-analyze verify messages: $(cat "$IT_DIR/verify.log")"

# the sandbox
systemd-analyze security --offline=yes "$IT_DIR/backfilld@.service" >"$IT_DIR/security.log" 2>&1
score=$(sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p' "$IT_DIR/security.log")
[[ -n "$score" ]] || it_fail "no exposure score: $(tail -n 3 "$IT_DIR/security.log")"
it_log "systemd-analyze security exposure: $score"
it_eq "$(awk -v s="$score" 'BEGIN { print (s <= 1.2) ? "ok" : "too exposed" }')" ok "exposure $score"
# every setting still exposed is one the README justifies: the database is reached
# over the network or a Unix socket, the status socket and sd_notify are Unix
# sockets, ProtectClock= brings the rtc device ACL, the database's addresses are the
# site's (a drop-in may add IPAddressDeny=any with IPAddressAllow= them), the
# binary runs from the host's root, and PrivateUsers= is not proven here
allowed='RootDirectory=/RootImage=|RestrictAddressFamilies=~AF_UNIX|RestrictAddressFamilies=~AF_\(INET\|INET6\)|PrivateNetwork=|PrivateUsers=|DeviceAllow=|IPAddressDeny='
# (a cross mark, or "-" where the locale is not UTF-8)
exposed=$(sed -n 's/^\(✗\|-\) \([^ ]*\) .*/\2/p' "$IT_DIR/security.log")
[[ -n "$exposed" ]] || it_fail "no exposed settings read from: $(head -n 3 "$IT_DIR/security.log")"
it_eq "$(grep -cvxE "$allowed" <<<"$exposed")" 0 \
	"exposed settings beyond the README's exceptions: $(grep -vxE "$allowed" <<<"$exposed" | tr '\n' ' ')"

# the repository's unit is the one that was installed, but for the binary's path
it_eq "$(sed "s|$IT_DIR/prefix/bin|/usr/local/bin|" "$unit")" "$(cat "$src/systemd/backfilld@.service")" \
	"installed unit differs from systemd/backfilld@.service beyond ExecStart"
it_pass

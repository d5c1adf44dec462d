#!/usr/bin/env bash
# The test suite under valgrind memcheck: no leak and no invalid access.
#
#   tests/valgrind/run.sh [CTEST_ARGS...]   e.g. -R unit, -L postgres, -R 'verify|check'
#
# Builds build/valgrind (Debug, no sanitizers, -Werror), starts throwaway PostgreSQL
# and MariaDB servers (tests/lib/servers.sh) and runs ctest (-j2 unless CTEST_ARGS
# say otherwise) with every unit test and fuzz replay, and in every scenario the
# daemon and its client (BACKFILLD_BIN), under tests/valgrind/memcheck.sh: one log
# per process in build/valgrind/logs. Any error there also fails that test.
# Then it reads every log and prints a summary; the exit status is non-zero when a
# test failed or a log has an error (invalid access, uninitialised use, a definite or
# indirect leak). Processes the scenarios kill with SIGKILL leave no leak summary:
# they are counted apart, and only the errors they logged before count.
#
# The scenarios' wait timeouts are multiplied by BACKFILLD_TEST_SLOWDOWN (10 here
# unless set) and their kill -9 instants count from the daemon's connection
# (tests/lib/itest.sh): under valgrind every process takes a second or more to
# start and computes 20-50x slower. What the scenarios check is the same; those
# that assert latencies are left out of the verdict (below), but run afterwards for
# their memory. A complete run on both engines takes about 15 minutes on 2 cores.
set -euo pipefail

cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.."
root=$PWD
build=$root/build/valgrind
logs=$build/logs

# Scenarios left out (a ctest -E regex), each for a reason valgrind itself makes:
#   status_during_lock     asserts each status answer within 1 s, ten of them while
#                          a lock is held for a fixed 10 s; under valgrind the client
#                          alone takes about 1 s to start
#   status_socket          asserts the status answer beside a silent client within
#                          1 s, timed around the client process (as above)
#   throttle_replica_down  asserts the throttle within 1.1 s of the replica's stop
#   throttle_replica_lag   asserts the throttle within 1.6 s of the replica's stall
#                          (1615 ms in one run under valgrind)
#   throttle_signals       asserts rows_per_sec after four throttles within 2x of
#                          the rate before them, which valgrind's slow start skews
#   secrets                reads /proc/PID/environ: under valgrind that is valgrind's
#                          own copy of the environment, not the one the daemon wipes
exclude='\.(status_during_lock|status_socket|throttle_replica_down|throttle_replica_lag|throttle_signals|secrets)$'

t_start=$SECONDS
section() { printf '\n==== %s  (t+%ds)\n' "$*" "$((SECONDS - t_start))"; }

command -v valgrind >/dev/null || {
	echo "valgrind not found: apt-get install valgrind" >&2
	exit 1
}

# ---------------------------------------------------------------------------
section "build: $build (Debug, no sanitizers)"
mkdir -p "$build"
# BACKFILLD_BIN for the scenarios: the daemon under memcheck
cat >"$build/backfilld-memcheck" <<EOF
#!/bin/sh
# written by tests/valgrind/run.sh: the daemon under valgrind memcheck
exec "$root/tests/valgrind/memcheck.sh" "$build/backfilld" "\$@"
EOF
chmod +x "$build/backfilld-memcheck"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DBACKFILLD_SANITIZE=OFF -DBACKFILLD_WERROR=ON \
	-DBACKFILLD_TEST_LAUNCHER="$root/tests/valgrind/memcheck.sh" \
	-DBACKFILLD_TEST_BIN="$build/backfilld-memcheck" >/dev/null
cmake --build "$build" -j2

rm -rf "$logs"
# some scenarios run the daemon and its client as another user too
mkdir -p -m 1777 "$logs"
export BACKFILLD_VG_LOG_DIR=$logs
export BACKFILLD_TEST_SLOWDOWN=${BACKFILLD_TEST_SLOWDOWN:-10}

# ---------------------------------------------------------------------------
# shellcheck source=tests/lib/servers.sh
source tests/lib/servers.sh
trap servers_stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

section "servers"
servers_start_pg
servers_start_mysql

section "tests under valgrind: ctest -j2 $*${exclude:+ (excluded: $exclude)}"
ctest_rc=0
ctest --test-dir "$build" --output-on-failure -j2 --no-tests=error \
	${exclude:+-E "$exclude"} "$@" </dev/null || ctest_rc=$?
# The scenarios left out run too, for their memory only: their processes' logs count
# like every other's, their own verdicts (latencies, environ) do not.
memory_only="not run"
if (($# == 0)); then
	section "the scenarios left out, for their memory only: ctest -R '$exclude'"
	if ctest --test-dir "$build" --output-on-failure -j2 -R "$exclude" </dev/null; then
		memory_only="run; their own checks passed too"
	else
		memory_only="run; their own checks failed under valgrind, as expected (not counted)"
	fi
fi
servers_stop
t_tests=$((SECONDS - t_start))

# ---------------------------------------------------------------------------
section "valgrind logs ($logs)"
# a report from here on: it reads every log whatever it finds
set +e +o pipefail
# A process whose log has no ERROR SUMMARY did not exit: it was killed with SIGKILL
# (valgrind reports every other fatal signal), or it still runs.
still=()
for f in "$logs"/vg.*.log; do
	[[ -e "$f" ]] || continue
	grep -q 'ERROR SUMMARY:' "$f" && continue
	pid=${f##*/vg.}
	pid=${pid%%.*}
	if [[ -r /proc/$pid/cmdline ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "log-file=$f"; then
		still+=("$pid")
	fi
done
if ((${#still[@]})); then
	echo "still running after the tests (now killed): ${still[*]}"
	kill -KILL "${still[@]}" 2>/dev/null || true
fi

# Every process's numbers, one line per log: complete (1/0), errors, invalid reads,
# invalid writes, invalid frees, uninitialised uses, definitely and indirectly lost
# bytes, the fatal signal (0: none), and the log's path. A killed process's errors
# are the reports it wrote before the kill.
scan() {
	awk '
	function flush() {
		if (file == "") return
		if (!done) errs = rd + wr + fr + un + other
		printf "%d %d %d %d %d %d %d %d %d %s\n", done, errs, rd, wr, fr, un, def, ind, sig, file
	}
	FNR == 1 { flush(); file = FILENAME; done = errs = rd = wr = fr = un = other = def = ind = sig = 0 }
	/== Invalid read of size/ { rd++ }
	/== Invalid write of size/ { wr++ }
	/== (Invalid free|Mismatched free)/ { fr++ }
	/== (Conditional jump or move depends on uninitialised|Use of uninitialised value|Syscall param .* uninitialised)/ { un++ }
	/== (Source and destination overlap|Argument .* of function .* has a fishy|Invalid (address|alignment))/ { other++ }
	/ definitely lost: / { v = $4; gsub(",", "", v); def = v }
	/ indirectly lost: / { v = $4; gsub(",", "", v); ind = v }
	/Process terminating with default action of signal/ { sig = $(NF - 1) + 0 }
	/ERROR SUMMARY: / { done = 1; errs = $4 }
	END { flush() }
	' "$@"
}

shopt -s nullglob
vglogs=("$logs"/vg.*.log)
shopt -u nullglob
n=0 nbad=0 nkilled=0 rd=0 wr=0 fr=0 un=0 def=0 ind=0
bad=() killed=()
if ((${#vglogs[@]})); then
	while read -r c e r w f u d i s file; do
		n=$((n + 1))
		rd=$((rd + r)) wr=$((wr + w)) fr=$((fr + f)) un=$((un + u)) def=$((def + d)) ind=$((ind + i))
		who=$(cat "$file.parent" 2>/dev/null) || who="?"
		who=${who#bash }
		who=${who#"$root/"}
		cmd=$(sed -n 's/^==[0-9]*== Command: //p' "$file" | head -n1)
		cmd=${cmd#"$root/"}
		cmd=${cmd#build/valgrind/}
		drv=$(grep -o 'backfilld-it-[a-z_]*-\(postgres\|mysql\)' "$file" | head -n1 | sed 's/.*-//') || drv=""
		line="${file#"$root/"}  ${cmd:0:100}  (from ${who:0:80}${drv:+, $drv})"
		if ((!c)); then
			nkilled=$((nkilled + 1))
			killed+=("${who##*/}${drv:+ ($drv)}")
		fi
		sigtxt=""
		((s == 0)) || sigtxt=", signal $s"
		# a crash (SIGILL, SIGABRT, SIGBUS, SIGFPE, SIGSEGV) counts as an error
		if ((e > 0 || d > 0 || i > 0 || s == 4 || s == 6 || s == 7 || s == 8 || s == 11)); then
			nbad=$((nbad + 1))
			bad+=("$line: $e errors, invalid reads $r, writes $w, frees $f, uninitialised $u, lost $d + $i bytes${sigtxt}")
		fi
	done < <(scan "${vglogs[@]}")
fi

section "summary"
if ((nkilled)); then
	echo "killed with SIGKILL by the scenarios (no leak summary; only the errors they"
	echo "logged before the kill count), per scenario:"
	printf '%s\n' "${killed[@]}" | sort | uniq -c
fi
if ((nbad)); then
	echo "processes with errors (details in their logs):"
	printf '  %s\n' "${bad[@]}"
fi
printf '  processes checked            %d (%d complete, %d killed with SIGKILL)\n' \
	"$n" "$((n - nkilled))" "$nkilled"
printf '  processes with errors        %d\n' "$nbad"
printf '  invalid reads / writes       %d / %d\n' "$rd" "$wr"
printf '  invalid frees                %d\n' "$fr"
printf '  uninitialised uses           %d\n' "$un"
printf '  definitely lost              %d bytes\n' "$def"
printf '  indirectly lost              %d bytes\n' "$ind"
printf '  ctest                        %s\n' "$( ((ctest_rc == 0)) && echo passed || echo "FAILED (exit $ctest_rc)")"
printf '  scenarios left out           %s\n' "$memory_only"
printf '  wall time                    %d s (tests %d s)\n' "$((SECONDS - t_start))" "$t_tests"
if ((n == 0)); then
	echo "RESULT: FAILED (no process ran under valgrind)"
	exit 1
fi
if ((ctest_rc || nbad)); then
	echo "RESULT: FAILED"
	exit 1
fi
echo "RESULT: OK"

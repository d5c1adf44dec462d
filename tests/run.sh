#!/usr/bin/env bash
# backfilld's test suite: the one command CI (.ci/run) and developers run.
#
#   tests/run.sh                 deps, -Werror build + ASan/UBSan build, all tests on both,
#                                then the chaos suite (faults on 1,000,000 rows per
#                                engine, both engines at once), the benchmark at 100,000 rows (proves it runs;
#                                no timing is asserted) and 60 s of libFuzzer per parser
#   tests/run.sh --quick         only the normal build (build/ci) and its tests
#   tests/run.sh -R REGEX        only tests whose name matches (ctest -R), e.g. -R unit
#   tests/run.sh -L LABEL        only tests with a label (ctest -L): unit, integration
#
# Runs from anywhere (it cds to the repo root), as root or as a user with sudo
# (only needed when Debian packages are missing), with or without a terminal.
# Tests get throwaway PostgreSQL 15 and MariaDB servers (each a primary + replica,
# see tests/lib/servers.sh); they are restarted fresh for the ASan pass and removed
# on exit (BACKFILLD_KEEP_TMP=1 keeps their temp dir and logs).
set -euo pipefail

usage() { sed -n '2,15s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }

quick=0
ctest_filter=()
while (($#)); do
	case "$1" in
	--quick) quick=1 ;;
	-R | -L)
		(($# >= 2)) || {
			echo "run.sh: $1 needs an argument" >&2
			exit 2
		}
		ctest_filter+=("$1" "$2")
		shift
		;;
	-R?* | -L?*) ctest_filter+=("${1:0:2}" "${1:2}") ;;
	-h | --help)
		usage
		exit 0
		;;
	*)
		echo "run.sh: unknown argument: $1 (see --help)" >&2
		exit 2
		;;
	esac
	shift
done

cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."

t_start=$SECONDS
section() {
	printf '\n\033[1m==== %s\033[0m  (t+%ds)\n' "$*" "$((SECONDS - t_start))"
}
# No colours when the output is not a terminal (CI logs).
if [[ ! -t 1 ]]; then
	section() { printf '\n==== %s  (t+%ds)\n' "$*" "$((SECONDS - t_start))"; }
fi

# ---------------------------------------------------------------------------
section "dependencies (tests/lib/deps.sh)"
tests/lib/deps.sh
echo "$(uname -srm); $(. /etc/os-release && echo "$PRETTY_NAME"); $(nproc) cores; $(id -un)"
echo "$(cmake --version | head -n1); $(cc --version | head -n1)"
/usr/lib/postgresql/15/bin/postgres --version

# ---------------------------------------------------------------------------
format_status="not checked"
section "format check (clang-format; warning only)"
if [[ ! -f .clang-format ]]; then
	echo "no .clang-format: skipped"
	format_status="skipped (no .clang-format)"
elif ! command -v clang-format >/dev/null 2>&1; then
	echo "warning: clang-format is not installed: skipped"
	format_status="skipped (clang-format not installed)"
else
	shopt -s nullglob
	files=(src/*.c src/*.h include/backfilld/*.h tests/unit/*.c tests/unit/*.h)
	shopt -u nullglob
	unformatted=()
	for f in "${files[@]}"; do
		clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || unformatted+=("$f")
	done
	if ((${#unformatted[@]})); then
		echo "warning: ${#unformatted[@]} of ${#files[@]} files are not clang-formatted:"
		printf '  %s\n' "${unformatted[@]}"
		echo "first differences:"
		{ clang-format --dry-run "${unformatted[@]}" 2>&1 | head -n 30 | sed 's/^/  /'; } || true
		echo "fix with: clang-format -i ${unformatted[*]}"
		format_status="WARNING: ${#unformatted[@]} files not formatted"
	else
		echo "${#files[@]} files OK ($(clang-format --version | head -n1))"
		format_status="ok (${#files[@]} files)"
	fi
fi

# ---------------------------------------------------------------------------
build() {
	local dir=$1
	shift
	section "build: $dir ($*)"
	if ! cmake -S . -B "$dir" -DBACKFILLD_WERROR=ON "$@" || ! cmake --build "$dir" -j2; then
		section "summary"
		echo "  build of $dir failed (format: $format_status)"
		echo "RESULT: FAILED"
		exit 1
	fi
}

build build/ci -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBACKFILLD_SANITIZE=OFF
if ((!quick)); then
	build build/asan -DCMAKE_BUILD_TYPE=Debug -DBACKFILLD_SANITIZE=ON
fi

# ---------------------------------------------------------------------------
# shellcheck source=tests/lib/servers.sh
source tests/lib/servers.sh
trap servers_stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

declare -A results=()
run_ctest() {
	local name=$1 dir=$2 rc=0
	section "servers for the $name tests"
	servers_start_pg
	servers_start_mysql
	section "tests: $dir (ctest -j2${ctest_filter[*]:+ ${ctest_filter[*]}})"
	ctest --test-dir "$dir" --output-on-failure -j2 --timeout 300 --no-tests=error \
		"${ctest_filter[@]}" </dev/null || rc=$?
	servers_stop
	if ((rc == 0)); then
		results[$name]="passed"
	else
		results[$name]="FAILED (ctest exit $rc)"
	fi
	return 0
}

run_ctest ci build/ci
if ((!quick)); then
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		run_ctest asan build/asan
fi

# ---------------------------------------------------------------------------
# The chaos suite, with the -Werror build's binary, and the benchmark at a small
# size: every method, both engines, the report. Each starts servers of its own; the
# benchmark's timings vary with the machine and are not asserted here.
if ((!quick)) && ((${#ctest_filter[@]} == 0)); then
	section "chaos suite (tests/chaos/run.sh: kill -9, restarts, terminations; 1,000,000 rows per engine, both engines at once)"
	# one run per engine, side by side (each with servers of its own); their output
	# follows, one after the other
	mkdir -p build/chaos-logs
	declare -A chaos_pid
	for e in postgres mysql; do
		tests/chaos/run.sh --bin build/ci/backfilld --engine "$e" </dev/null \
			>"build/chaos-logs/$e.log" 2>&1 &
		chaos_pid[$e]=$!
	done
	results[chaos]="passed"
	for e in postgres mysql; do
		if wait "${chaos_pid[$e]}"; then rc=0; else rc=$?; fi
		cat "build/chaos-logs/$e.log"
		((rc == 0)) || results[chaos]="FAILED (tests/chaos/run.sh --engine $e exit $rc)"
	done
	section "benchmark, small (tests/bench/run.sh --rows 100000 --reps 1 --io-probe)"
	if tests/bench/run.sh --rows 100000 --reps 1 --window 3 --io-probe --out build/bench/ci </dev/null; then
		results[bench]="passed"
	else
		results[bench]="FAILED (tests/bench/run.sh exit $?)"
	fi
	section "fuzzing (tests/fuzz/run.sh 60: each parser for 60 s)"
	if tests/fuzz/run.sh 60 </dev/null; then
		results[fuzz]="passed"
	else
		results[fuzz]="FAILED (tests/fuzz/run.sh exit $?)"
	fi
fi

# ---------------------------------------------------------------------------
section "summary"
status=0
for name in ci asan chaos bench fuzz; do
	[[ -n "${results[$name]:-}" ]] || continue
	printf '  %-6s %s\n' "$name" "${results[$name]}"
	[[ "${results[$name]}" == passed ]] || status=1
done
printf '  %-6s %s\n' format "$format_status"
printf '  total  %d s\n' "$((SECONDS - t_start))"
if ((status)); then
	echo "RESULT: FAILED"
else
	echo "RESULT: OK"
fi
exit "$status"

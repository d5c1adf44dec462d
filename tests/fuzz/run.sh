#!/usr/bin/env bash
# Fuzzes backfilld's parsers with libFuzzer (clang, -fsanitize=fuzzer,address,undefined):
#
#   tests/fuzz/run.sh [SECONDS] [TARGET...]
#
#   SECONDS   per target (default 60)
#   TARGET    config, duration, identifier, control (default: all)
#
#   config      the job file (libyaml and every check behind it)
#   duration    durations, numbers, time windows, log levels
#   identifier  table and column names; the checkpoint cursor's JSON
#   control     the status socket's requests, `set` applied to a job's settings
#
# Installs clang and its runtime when missing, builds in build/fuzz, and runs the
# targets side by side, one per core, each from its seed corpus
# (tests/fuzz/corpus/TARGET) plus the inputs of past crashes
# (tests/fuzz/regressions/TARGET). A crash, leak, sanitizer report or
# timeout fails the run; the input is left in build/fuzz/artifacts/TARGET-*: fix
# the cause and keep the input in tests/fuzz/regressions/TARGET, where every test
# run replays it (ctest's unit.fuzz_replay.* tests).
set -euo pipefail

cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.."
secs=${1:-60}
[[ "$secs" =~ ^[0-9]+$ ]] && ((secs >= 1)) || {
	echo "fuzz: SECONDS must be a positive number, not '$secs'" >&2
	exit 2
}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(config duration identifier control)
for t in "${targets[@]}"; do
	[[ -f tests/fuzz/fuzz_$t.c ]] || {
		echo "fuzz: no target '$t' (tests/fuzz/fuzz_$t.c)" >&2
		exit 2
	}
done

tests/lib/deps.sh --fuzz
cmake -S . -B build/fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DBACKFILLD_FUZZ=ON -DBACKFILLD_TESTS=OFF -DBACKFILLD_WERROR=ON >/dev/null
cmake --build build/fuzz -j2 --target "${targets[@]/#/fuzz_}" >/dev/null

mkdir -p build/fuzz/artifacts

# fuzz_one TARGET: fuzzes one target for $secs seconds; its log in build/fuzz/TARGET.log
fuzz_one() {
	local t=$1 work=build/fuzz/corpus-$1 dict=() # the corpus grows across runs; the seeds stay
	mkdir -p "$work"
	[[ -f tests/fuzz/$t.dict ]] && dict=(-dict="tests/fuzz/$t.dict")
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		"build/fuzz/fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
		-print_final_stats=1 -artifact_prefix="build/fuzz/artifacts/$t-" "${dict[@]}" \
		"$work" "tests/fuzz/corpus/$t" "tests/fuzz/regressions/$t" \
		>"build/fuzz/$t.log" 2>&1
}

# one target per core at a time: each still gets a whole core for $secs seconds
cores=$(nproc)
declare -A pid_of
for t in "${targets[@]}"; do
	while (($(jobs -rp | wc -l) >= cores)); do wait -n || true; done
	echo "fuzz: $t for ${secs}s"
	fuzz_one "$t" &
	pid_of[$t]=$!
done
status=0
for t in "${targets[@]}"; do
	if wait "${pid_of[$t]}"; then
		echo "fuzz: $t: $(grep -E '^stat::number_of_executed_units' "build/fuzz/$t.log" |
			awk '{print $2}') inputs, no failure"
	else
		status=1
		echo "fuzz: $t FAILED; the end of build/fuzz/$t.log:" >&2
		tail -n 40 "build/fuzz/$t.log" >&2
		ls build/fuzz/artifacts/"$t"-* >&2 2>/dev/null || true
	fi
done
exit "$status"

#!/usr/bin/env bash
# memcheck.sh PROGRAM ARGS...: PROGRAM under valgrind memcheck, one log per process
# in $BACKFILLD_VG_LOG_DIR; tests/valgrind/run.sh makes every test program and the
# scenarios' daemon and client go through here.
#
# Any error (invalid access, uninitialised use, a definite or indirect leak) makes
# the process exit 99, which fails the test that ran it; run.sh's summary reads the
# logs. A process killed with SIGKILL leaves a log without a summary.
set -u
dir=${BACKFILLD_VG_LOG_DIR:?BACKFILLD_VG_LOG_DIR: the directory for the logs}
# Who ran it (the scenario or test), for the summary: the parent's command line.
parent=$(tr '\0' ' ' <"/proc/$PPID/cmdline" 2>/dev/null) || parent="?"
supp=()
for f in "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"/*.supp; do
	[[ -f "$f" ]] && supp+=("--suppressions=$f")
done
# One log per process: the pid is valgrind's (exec below), the time keeps a reused
# pid from overwriting an earlier log.
log="$dir/vg.$$.${EPOCHREALTIME/[.,]/}.log"
printf '%s\n' "${parent% }" >"$log.parent"
exec valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite,indirect \
	--errors-for-leak-kinds=definite,indirect --track-origins=yes --num-callers=30 \
	--error-exitcode=99 "${supp[@]}" --log-file="$log" -- "$@"

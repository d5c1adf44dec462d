#!/usr/bin/env bash
# A run starts presuming that sessions wait on its batches: they aim at
# batch.contended_target_time until 2 s of lock samples have shown nobody waiting.
# When the samples show nobody else running a statement in the job's database (on
# MariaDB, nor any session without a default database), nobody can wait: the
# presumption ends after 5 samples (about 0.5 s), not 2 s, and the batches aim at
# target_time at once. A session that merely runs a query keeps the full 2 s, and
# then the target steps up to target_time, twice as long every 2 s in which
# nobody is seen waiting. (Other scenarios running at the same time use other
# databases.)
source "$(dirname "$0")/../lib/itest.sh"
it_setup start_presumption

it_items_matched 100000 101
# about 200 batches of 500 keys, 50 ms apart: over 10 s, whichever way it starts
it_config_sampled "$IT_DIR/job.yaml" 500 "" "  sleep: 50ms"

# between_ms LOG FROM TO: milliseconds from the first line with FROM to the first with TO
between_ms() {
	local from to
	from=$(grep -m 1 -F "$2" "$1" | cut -d ' ' -f 1)
	to=$(grep -m 1 -F "$3" "$1" | cut -d ' ' -f 1)
	[[ -n "$from" && -n "$to" ]] || it_fail "no line with '$2' or none with '$3' in $1"
	echo $(($(date -d "$to" +%s%3N) - $(date -d "$from" +%s%3N)))
}
ended="no session waits on the batches' locks"
# presumed_ms LOG: milliseconds from the start of running to the end of the presumption
presumed_ms() { between_ms "$1" "state starting -> running" "$ended"; }

# --- another session runs a statement (it waits on nothing): the full 2 s, then
# 100, 200 and 400 ms (target_time), 2 s each ---------------------------------------
sed 's/^  target_time: 5s/  target_time: 400ms/' "$IT_DIR/job.yaml" >"$IT_DIR/busy.yaml"
it_contains "$IT_DIR/busy.yaml" "target_time: 400ms" "job with a target_time of 400 ms"
it_sleeper 6
it_start "$IT_DIR/busy.log" run -c "$IT_DIR/busy.yaml"
it_wait_file 10 "$IT_DIR/busy.log" "$ended"
busy=$(presumed_ms "$IT_DIR/busy.log")
it_log "presumption with another session running: $busy ms"
((busy >= 1900)) || it_fail "the presumption ended after $busy ms although a session was running"
it_contains "$IT_DIR/busy.log" "but other sessions run: they aim at 100 ms, and twice as long every 2 s" \
	"target after the presumption"
it_wait_file 10 "$IT_DIR/busy.log" "they aim at 400 ms again"
s200=$(between_ms "$IT_DIR/busy.log" "$ended" "they aim at 200 ms")
s400=$(between_ms "$IT_DIR/busy.log" "$ended" "they aim at 400 ms again")
it_log "ramp: 200 ms after $s200 ms, 400 ms after $s400 ms"
((s200 >= 1950 && s200 < 3000 * IT_SLOW)) || it_fail "200 ms after $s200 ms, not 2 s"
((s400 >= 3950 && s400 < 6000 * IT_SLOW)) || it_fail "400 ms after $s400 ms, not 4 s"
J=$(it_status_json) || it_fail "no status answer"
it_eq "$(it_jget "$J" target_ms)" 400 "target at the end of the ramp"
it_run stop -s "$IT_DIR/status.sock" >/dev/null || it_fail "stop refused"
wait "$IT_PID"
it_eq "$?" 0 "exit status after stop"
it_eq "$(it_ckpt state)" stopped "stopped mid-run (make the table larger)"
wait "$IT_SLEEPER"

# --- nobody else: the presumption ends after 5 quiet samples ------------------------
it_start "$IT_DIR/quiet.log" run -c "$IT_DIR/job.yaml"
it_wait_file 10 "$IT_DIR/quiet.log" "$ended"
quiet=$(presumed_ms "$IT_DIR/quiet.log")
it_log "presumption with nobody else running: $quiet ms"
it_contains "$IT_DIR/quiet.log" "resuming job" "second run resumed"
((quiet >= 300)) || it_fail "the presumption ended after $quiet ms: not after 5 samples"
((quiet < 1500 * IT_SLOW)) || it_fail "the presumption lasted $quiet ms with nobody else running"
J=$(it_status_json) || it_fail "no status answer"
it_eq "$(it_jget "$J" target_ms)" 5000 "target once the quiet start ended"
wait "$IT_PID"
it_eq "$?" 0 "run exit status"
it_check_consistent "at the end"
it_eq "$(it_ckpt state)" done "final state"
it_pass

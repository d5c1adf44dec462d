#!/usr/bin/env bash
# Logs: one line per event on stderr; with log.format json every line is one JSON
# object with ts, level, job and msg; under systemd (JOURNAL_STREAM set) every line
# starts with its syslog priority; the password never appears.
source "$(dirname "$0")/../lib/itest.sh"
it_setup log_formats

if it_pg; then password=$BACKFILLD_PG_PASSWORD; else password=$BACKFILLD_MY_PASSWORD; fi

# json_line LINE JOB: $IT_T when LINE is one JSON object with ts, level (a known one),
# job = JOB and msg; the server is the parser (jsonb / JSON_VALID and JSON_EXTRACT)
json_line() {
	if it_pg; then
		it_sql "SELECT (j ? 'ts') AND (j ? 'level') AND j->>'job' = '$2' AND (j ? 'msg')
			AND j->>'level' IN ('debug', 'info', 'warn', 'error')
			FROM (SELECT \$j\$$1\$j\$::jsonb AS j) s" 2>&1
	else
		# a string literal: quotes doubled, backslashes escaped (not NO_BACKSLASH_ESCAPES)
		local lit
		lit=$(it_jlit "$1")
		it_sql "SELECT JSON_VALID(j) AND JSON_TYPE(j) = 'OBJECT'
			AND JSON_CONTAINS_PATH(j, 'all', '\$.ts', '\$.level', '\$.msg')
			AND JSON_UNQUOTE(JSON_EXTRACT(j, '\$.job')) = '$2'
			AND JSON_UNQUOTE(JSON_EXTRACT(j, '\$.level')) IN ('debug', 'info', 'warn', 'error')
			FROM (SELECT $lit AS j) s" 2>&1
	fi
}

# the check can fail: not an object, a field missing, another job, an unknown level, not JSON
for bad in '["ts","level","job","msg"]' '{"ts":"x","level":"info","job":"log_formats"}' \
	'{"ts":"x","level":"info","job":"other","msg":"m"}' '{"ts":"x","level":"loud","job":"log_formats","msg":"m"}' \
	'{"ts":"x","level":"info","job":"log_formats","msg":"m"'; do
	[[ "$(json_line "$bad" log_formats)" != "$IT_T" ]] || it_fail "the JSON line check accepts $bad"
done
it_eq "$(json_line '{"ts":"x","level":"info","job":"log_formats","msg":"it'"'"'s \"q\" \\ done"}' log_formats)" \
	"$IT_T" "the JSON line check on quotes and backslashes"

it_items 3000
it_config "$IT_DIR/json.yaml" "batch:
  size: 500
  max_size: 500"
sed -i 's/^  progress_interval: 0s$/  progress_interval: 0s\n  format: json\n  level: debug/' "$IT_DIR/json.yaml"
it_run run -c "$IT_DIR/json.yaml" >/dev/null 2>"$IT_DIR/json.log"
it_eq "$?" 0 "json run exit status"
lines=$(wc -l <"$IT_DIR/json.log")
it_le 10 "$lines" "json log lines"
# every line parses as a JSON object with the four fields
while IFS= read -r line; do
	it_eq "$(json_line "$line" log_formats)" "$IT_T" "json log line: $line"
done <"$IT_DIR/json.log"
grep -q '"level":"debug","job":"log_formats","msg":"batch 1: 500 keys' "$IT_DIR/json.log" ||
	it_fail "no debug line for the first batch"

# under systemd: <priority> prefixes, no timestamp of our own (journald adds it)
it_sql "UPDATE items SET new_status = NULL"
it_config "$IT_DIR/text.yaml"
sed -i 's/^job: .*/job: log_formats_journal/' "$IT_DIR/text.yaml"
# a wrong password in BACKFILLD_PASSWORD: the password file's must win (a password
# in the dsn is refused: see hostile_configs)
JOURNAL_STREAM=8:12345 BACKFILLD_PASSWORD=wrong-on-purpose \
	it_run run -c "$IT_DIR/text.yaml" >/dev/null 2>"$IT_DIR/journal.log"
it_eq "$?" 0 "journal run exit status (password_file wins over BACKFILLD_PASSWORD)"
it_eq "$(grep -cv '^<[3467]>' "$IT_DIR/journal.log")" 0 "lines without a priority prefix"
it_contains "$IT_DIR/journal.log" "<6>starting job log_formats_journal" "info priority, no timestamp"
it_eq "$(it_sql "SELECT count(*) FROM items WHERE $(it_distinct new_status old_status)")" 0 "journal run's rows"
logs=("$IT_DIR/journal.log" "$IT_DIR/json.log")

if it_my; then
	# the password from BACKFILLD_PASSWORD alone (no password file) at debug level, and
	# a wrong one refused, in json: neither ever appears in a log
	it_sql "UPDATE items SET new_status = NULL"
	sed -e 's/^job: .*/job: log_formats_env/' -e '/^  password_file:/d' \
		-e 's/^  progress_interval: 0s$/  progress_interval: 0s\n  level: debug/' \
		"$IT_DIR/text.yaml" >"$IT_DIR/env.yaml"
	grep -q password "$IT_DIR/env.yaml" && it_fail "a password in env.yaml"
	BACKFILLD_PASSWORD=$password it_run run -c "$IT_DIR/env.yaml" >/dev/null 2>"$IT_DIR/env.log"
	it_eq "$?" 0 "run with the password from BACKFILLD_PASSWORD ($(tail -n 2 "$IT_DIR/env.log"))"
	it_contains "$IT_DIR/env.log" "debug log_formats_env: " "debug lines in the text log"
	sed -i 's/^  level: debug$/  level: debug\n  format: json/' "$IT_DIR/env.yaml"
	BACKFILLD_PASSWORD=wrong-on-purpose it_run run -c "$IT_DIR/env.yaml" >/dev/null 2>"$IT_DIR/env-wrong.log"
	it_eq "$?" 1 "run with a wrong password in BACKFILLD_PASSWORD"
	it_contains "$IT_DIR/env-wrong.log" "cannot connect to the database: Access denied" "the wrong password refused"
	# the failure's lines are JSON too, quotes in the server's message and all
	while IFS= read -r line; do
		it_eq "$(json_line "$line" log_formats_env)" "$IT_T" "json log line: $line"
	done <"$IT_DIR/env-wrong.log"
	logs+=("$IT_DIR/env.log" "$IT_DIR/env-wrong.log")
fi
it_eq "$(grep -c -e "$password" -e wrong-on-purpose "${logs[@]}" | awk -F: '{ s += $2 } END { print s }')" \
	0 "a password in a log"
it_pass

#!/usr/bin/env bash
# Logs: one line per event on stderr; with log.format json every line is one JSON
# object with ts, level, job and msg; under systemd (JOURNAL_STREAM set) every line
# starts with its syslog priority; the password never appears.
source "$(dirname "$0")/../lib/itest.sh"
it_setup log_formats

it_items 3000
it_config "$IT_DIR/json.yaml" "batch:
  size: 500
  max_size: 500"
sed -i 's/^  progress_interval: 0s$/  progress_interval: 0s\n  format: json\n  level: debug/' "$IT_DIR/json.yaml"
it_run run -c "$IT_DIR/json.yaml" >/dev/null 2>"$IT_DIR/json.log"
it_eq "$?" 0 "json run exit status"
lines=$(wc -l <"$IT_DIR/json.log")
it_le 10 "$lines" "json log lines"
# every line parses as a JSON object with the four fields (the server is the parser)
while IFS= read -r line; do
	got=$(it_sql "SELECT (j ? 'ts') AND (j ? 'level') AND j->>'job' = 'log_formats' AND (j ? 'msg')
		AND j->>'level' IN ('debug', 'info', 'warn', 'error')
		FROM (SELECT \$j\$$line\$j\$::jsonb AS j) s" 2>&1)
	it_eq "$got" t "json log line: $line"
done <"$IT_DIR/json.log"
grep -q '"level":"debug","job":"log_formats","msg":"batch 1: 500 keys' "$IT_DIR/json.log" ||
	it_fail "no debug line for the first batch"

# under systemd: <priority> prefixes, no timestamp of our own (journald adds it)
it_sql "UPDATE items SET new_status = NULL"
it_config "$IT_DIR/text.yaml"
sed -i 's/^job: .*/job: log_formats_journal/' "$IT_DIR/text.yaml"
sed -i "s|^  dsn: \"\\(.*\\)\"|  dsn: \"\\1 password=wrong-on-purpose\"|" "$IT_DIR/text.yaml"
JOURNAL_STREAM=8:12345 it_run run -c "$IT_DIR/text.yaml" >/dev/null 2>"$IT_DIR/journal.log"
it_eq "$?" 0 "journal run exit status (password_file wins over the dsn's)"
it_eq "$(grep -cv '^<[3467]>' "$IT_DIR/journal.log")" 0 "lines without a priority prefix"
it_contains "$IT_DIR/journal.log" "<6>starting job log_formats_journal" "info priority, no timestamp"
it_eq "$(grep -c "$BACKFILLD_PG_PASSWORD" "$IT_DIR/journal.log" "$IT_DIR/json.log" | awk -F: '{ s += $2 } END { print s }')" \
	0 "the password in a log"
it_pass

#!/usr/bin/env bash
# Bad configs: each mistake exits 2 (1 for problems only the running database can
# show: unreachable, wrong password, no such database) with a message naming the
# problem, never shows the password, and writes nothing to the database.
source "$(dirname "$0")/../lib/itest.sh"
it_setup bad_configs
# `job | sed … | expect …`: expect runs in this shell, so its failures end the script
shopt -s lastpipe

it_items 2000
dsn="host=$BACKFILLD_PG_HOST port=$BACKFILLD_PG_PORT dbname=$IT_DB user=$BACKFILLD_PG_USER"
printf 'not-the-password' >"$IT_DIR/wrong"
chmod 600 "$IT_DIR/wrong"
printf '%s' "$BACKFILLD_PG_PASSWORD" >"$IT_DIR/open"
chmod 644 "$IT_DIR/open"
closed_port=1 # nothing listens on port 1

# job FILE: a correct job; each case below edits it with sed or appends to it
job() {
	cat <<YAML
job: bad_configs
database:
  driver: postgres
  dsn: "$dsn"
  password_file: $IT_DIR/password
table: items
key: id
set:
  new_status: old_status
throttle:
  max_replication_lag: 0s
YAML
}

cases=0
# expect CODE "MESSAGE SUBSTRING" NAME  (the config on stdin)
expect() {
	local code=$1 msg=$2 name=$3 rc
	cases=$((cases + 1))
	cat >"$IT_DIR/$name.yaml"
	"$BACKFILLD_BIN" run -c "$IT_DIR/$name.yaml" >"$IT_DIR/$name.out" 2>"$IT_DIR/$name.err" </dev/null
	rc=$?
	it_eq "$rc" "$code" "$name: exit status ($(head -c 300 "$IT_DIR/$name.err"))"
	it_contains "$IT_DIR/$name.err" "$msg" "$name: message"
	if grep -qF -- "$BACKFILLD_PG_PASSWORD" "$IT_DIR/$name.err" "$IT_DIR/$name.out"; then
		it_fail "$name: the password appears in the output"
	fi
	it_eq "$(it_sql "SELECT to_regclass('backfilld_checkpoint') IS NULL")" t "$name: checkpoint table created"
	it_eq "$(it_sql "SELECT count(*) FROM items WHERE new_status IS NOT NULL")" 0 "$name: rows written"
}

# --- caught by the config loader: FILE:LINE:COL, exit 2 --------------------------------
job | sed '/^table:/d' | expect 2 "table" missing_key
job | sed 's/^key: id/key: id\nbatch:\n  size: many/' | expect 2 "$IT_DIR/wrong_type.yaml:9:" wrong_type
job | sed 's/^table: items/table: items\ntabel: items/' | expect 2 "tabel" unknown_key
printf 'batch:\n  lock_timeout: 5 secs\n' | cat <(job) - | expect 2 "lock_timeout" bad_duration
job | sed 's/^job: bad_configs/job: "bad configs; drop"/' | expect 2 "job" bad_job_name
job | sed 's/^  new_status: old_status/  "new\\tstatus": old_status/' | expect 2 "identifier" bad_identifier
job | sed 's/^key: id/key: {id: 1}/' | expect 2 "key" key_wrong_shape
job | sed 's/^key: id/key: []/' | expect 2 "key" key_empty_list
printf 'batch:\n  min_size: 5000\n  max_size: 100\n' | cat <(job) - | expect 2 "min_size" min_above_max
printf 'batch:\n  size: -5\n' | cat <(job) - | expect 2 "size" negative_size
job | sed 's/driver: postgres/driver: oracle/' | expect 2 "oracle" unknown_driver
job | sed "s|password_file: .*|password_file: $IT_DIR/open|" | expect 2 "password_file" password_file_world_readable
job | sed "s|password_file: .*|password_file: $IT_DIR/missing|" | expect 2 "$IT_DIR/missing" password_file_missing
job | sed 's/^  new_status: old_status/  id: old_status/' | expect 2 "id" set_the_key

# --- found against the database, before anything is written: exit 2 -------------------------
job | sed 's/^table: items/table: itemz/' | expect 2 "table itemz not found" missing_table
job | sed 's/^key: id/key: ident/' | expect 2 "key column ident not found" missing_key_column
job | sed 's/^  new_status: old_status/  new_stat: old_status/' | expect 2 "set column new_stat not found" missing_set_column
job | sed 's/^  new_status: old_status/  new_status: old_status +/' | expect 2 "syntax error" bad_expression
job | sed 's/^  new_status: old_status/  new_status: "'"'"'text'"'"'::text"/' | expect 2 "new_status" expression_wrong_type
printf 'where: old_stat IS NOT NULL\n' | cat <(job) - | expect 2 "old_stat" bad_where

# --- only the running database can tell: exit 1 --------------------------------------------
job | sed "s/port=$BACKFILLD_PG_PORT/port=$closed_port/" | expect 1 "cannot connect to the database" unreachable
job | sed "s|password_file: .*|password_file: $IT_DIR/wrong|" | expect 1 "password authentication failed" wrong_password
job | sed "s/dbname=$IT_DB/dbname=no_such_db/" | expect 1 "no_such_db" missing_database

it_log "$cases bad configs refused"
it_le 15 "$cases" "distinct mistakes covered"

# and the correct job, for contrast, works and writes
job >"$IT_DIR/good.yaml"
it_run run -c "$IT_DIR/good.yaml" >/dev/null 2>"$IT_DIR/good.err"
it_eq "$?" 0 "the correct job ($(tail -n 2 "$IT_DIR/good.err"))"
it_eq "$(it_sql "SELECT state FROM backfilld_checkpoint")" done "the correct job's checkpoint"
it_pass

#!/usr/bin/env bash
# Bad configs: each mistake exits 2 (1 for problems only the running database can
# show: unreachable, wrong password, no such database) with a message naming the
# problem, never shows the password, and writes nothing to the database.
source "$(dirname "$0")/../lib/itest.sh"
it_setup bad_configs
# `job | sed … | expect …`: expect runs in this shell, so its failures end the script
shopt -s lastpipe

it_items 2000
printf 'not-the-password' >"$IT_DIR/wrong"
chmod 600 "$IT_DIR/wrong"
if it_pg; then password=$BACKFILLD_PG_PASSWORD; else password=$BACKFILLD_MY_PASSWORD; fi
closed_port=1 # nothing listens on port 1

# job FILE: a correct job; each case below edits it with sed or appends to it. Its own
# socket in $IT_DIR: the two drivers' runs never share /tmp/backfilld/<job>.sock.
job() {
	cat <<YAML
job: bad_configs
database:
$(it_db_yaml)
  password_file: $IT_DIR/password
table: items
key: id
set:
  new_status: old_status
throttle:
  max_replication_lag: 0s
status:
  socket: $IT_DIR/status.sock
YAML
}

# SQL answering $IT_T while the job has written nothing: no checkpoint table, no row changed
if it_pg; then
	no_ckpt_table="SELECT to_regclass('backfilld_checkpoint') IS NULL"
else
	no_ckpt_table="SELECT count(*) = 0 FROM information_schema.TABLES
		WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'backfilld_checkpoint'"
fi
# the probes themselves must be able to fail: the table exists, the column is NULL
it_eq "$(it_sql "SELECT count(*) FROM items WHERE new_status IS NULL")" 2000 "the rows start unwritten"

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
	if grep -qF -- "$password" "$IT_DIR/$name.err" "$IT_DIR/$name.out"; then
		it_fail "$name: the password appears in the output"
	fi
	it_eq "$(it_sql "$no_ckpt_table")" "$IT_T" "$name: checkpoint table created"
	it_eq "$(it_sql "SELECT count(*) FROM items WHERE new_status IS NOT NULL")" 0 "$name: rows written"
}

# --- caught by the config loader: FILE:LINE:COL, exit 2 --------------------------------
# the line of `size: many`, two below `key:`
size_line=$(($(job | grep -n '^key:' | cut -d: -f1) + 2))
job | sed '/^table:/d' | expect 2 "table" missing_key
job | sed 's/^key: id/key: id\nbatch:\n  size: many/' | expect 2 "$IT_DIR/wrong_type.yaml:$size_line:" wrong_type
job | sed 's/^table: items/table: items\ntabel: items/' | expect 2 "tabel" unknown_key
printf 'batch:\n  lock_timeout: 5 secs\n' | cat <(job) - | expect 2 "lock_timeout" bad_duration
job | sed 's/^job: bad_configs/job: "bad configs; drop"/' | expect 2 "job" bad_job_name
job | sed 's/^  new_status: old_status/  "new\\tstatus": old_status/' | expect 2 "identifier" bad_identifier
job | sed 's/^key: id/key: {id: 1}/' | expect 2 "key" key_wrong_shape
job | sed 's/^key: id/key: []/' | expect 2 "key" key_empty_list
printf 'batch:\n  min_size: 5000\n  max_size: 100\n' | cat <(job) - | expect 2 "min_size" min_above_max
printf 'batch:\n  size: -5\n' | cat <(job) - | expect 2 "size" negative_size
job | sed 's/driver: \(postgres\|mysql\)$/driver: oracle/' | expect 2 "oracle" unknown_driver
# (a password file others may read is read, with a warning: see secrets)
job | sed "s|password_file: .*|password_file: $IT_DIR|" | expect 2 "not a regular file" password_file_directory
job | sed "s|password_file: .*|password_file: $IT_DIR/missing|" | expect 2 "$IT_DIR/missing" password_file_missing
job | sed 's/^  new_status: old_status/  id: old_status/' | expect 2 "id" set_the_key
job | sed "s|^  password_file: .*|  password: \"$password\"|" | expect 2 "database.password: passwords are never read from the YAML" password_in_yaml
# each driver's connection keys
if it_pg; then
	job | sed '/^  dsn:/d' | expect 2 'missing required key "database.dsn"' pg_missing_dsn
	job | sed "s/^  dsn: .*/&\n  host: $BACKFILLD_PG_HOST/" | expect 2 "database.host: not used by the postgres driver" pg_host_key
else
	job | sed "s/^  database: .*/&\n  dsn: \"host=$BACKFILLD_MY_HOST\"/" | expect 2 "database.dsn: not used by the mysql driver" my_dsn_key
	job | sed '/^  host:/d' | expect 2 "the mysql driver needs database.host or database.socket" my_no_host
	job | sed '/^  user:/d' | expect 2 'missing required key "database.user"' my_missing_user
	job | sed '/^  database: it_/d' | expect 2 'missing required key "database.database"' my_missing_database_key
	job | sed 's/^  port: .*/  port: 70000/' | expect 2 "database.port" my_port_out_of_range
fi

# --- found against the database, before anything is written: exit 2 -------------------------
job | sed 's/^table: items/table: itemz/' | expect 2 "table itemz not found" missing_table
job | sed 's/^key: id/key: ident/' | expect 2 "key column ident not found" missing_key_column
job | sed 's/^  new_status: old_status/  new_stat: old_status/' | expect 2 "set column new_stat not found" missing_set_column
printf 'where: old_stat IS NOT NULL\n' | cat <(job) - | expect 2 "old_stat" bad_where
if it_pg; then
	job | sed 's/^  new_status: old_status/  new_status: old_status +/' | expect 2 "syntax error" bad_expression
	job | sed 's/^  new_status: old_status/  new_status: "'"'"'text'"'"'::text"/' | expect 2 "new_status" expression_wrong_type
else
	job | sed 's/^  new_status: old_status/  new_status: old_status +/' | expect 2 "error in your SQL syntax" bad_expression
	# MariaDB converts most types silently; a row value where a scalar belongs it refuses
	job | sed 's/^  new_status: old_status/  new_status: ROW(old_status, 1)/' | expect 2 "Operand should contain 1 column" expression_wrong_type
	job | sed 's/^  new_status: old_status/  new_status: no_such_function(old_status)/' | expect 2 "no_such_function does not exist" unknown_function
fi

# --- only the running database can tell: exit 1 --------------------------------------------
if it_pg; then
	job | sed "s/port=$BACKFILLD_PG_PORT/port=$closed_port/" | expect 1 "cannot connect to the database" unreachable
	job | sed "s|password_file: .*|password_file: $IT_DIR/wrong|" | expect 1 "password authentication failed" wrong_password
	job | sed "s/dbname=$IT_DB/dbname=no_such_db/" | expect 1 "no_such_db" missing_database
else
	job | sed "s/^  port: .*/  port: $closed_port/" | expect 1 "cannot connect to the database" unreachable
	job | sed "s|password_file: .*|password_file: $IT_DIR/wrong|" | expect 1 "cannot connect to the database: " wrong_password
	it_contains "$IT_DIR/wrong_password.err" "Access denied" "wrong_password: message"
	job | sed "s/^  database: .*/  database: no_such_db/" | expect 1 "no_such_db" missing_database
	it_contains "$IT_DIR/missing_database.err" "cannot connect to the database: " "missing_database: message"
fi

it_log "$cases bad configs refused"
it_le 15 "$cases" "distinct mistakes covered"

# and the correct job, for contrast, works and writes
job >"$IT_DIR/good.yaml"
it_run run -c "$IT_DIR/good.yaml" >/dev/null 2>"$IT_DIR/good.err"
it_eq "$?" 0 "the correct job ($(tail -n 2 "$IT_DIR/good.err"))"
it_eq "$(it_sql "SELECT state FROM backfilld_checkpoint")" "done" "the correct job's checkpoint"
# the probes that every case passed now see the writes
it_eq "$(it_sql "$no_ckpt_table")" "$(it_pg && echo f || echo 0)" "the correct job's checkpoint table"
it_eq "$(it_sql "SELECT count(*) FROM items WHERE new_status IS NOT NULL")" \
	"$(it_sql "SELECT count(*) FROM items WHERE old_status IS NOT NULL")" "the correct job's rows"
it_pass

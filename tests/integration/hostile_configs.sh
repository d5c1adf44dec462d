#!/usr/bin/env bash
# Hostile input through the real binary: every broken config of tests/data/bad (and a
# multi-megabyte one made here), pointed at the test server with the real password
# at hand, makes `run` and `check` exit 2 with a message that names the file and the
# problem, never crash, and write nothing. Expressions that fail only at run time on
# one row (a cast of text to int, a value too large for the column) end the job with
# exit 1 naming the batch's key range; that batch is rolled back, the cursor stays
# before it, and once the data is fixed the same job resumes and finishes.
source "$(dirname "$0")/../lib/itest.sh"
it_setup hostile_configs
src=${BACKFILLD_SOURCE_DIR:?}

it_items 2000
if it_pg; then password=$BACKFILLD_PG_PASSWORD; else password=$BACKFILLD_MY_PASSWORD; fi

# --- the corpus, pointed at the test server ----------------------------------------------
# Line numbers in the files' "# expect:" texts must hold: every rewrite keeps them.
if it_pg; then
	to_server=(-e "s|host=127.0.0.1 port=5432 dbname=app user=backfill|host=$BACKFILLD_PG_HOST port=$BACKFILLD_PG_PORT dbname=$IT_DB user=$BACKFILLD_PG_USER|")
	# a file with the corpus's mysql block (and nothing else there) becomes a postgres
	# one: the three lines it no longer needs become comments
	other_block=$'database:\n  driver: mysql\n  host: 127.0.0.1\n  port: 3306\n  user: backfill\n  database: app\n'
	# a file that still has keys of that driver elsewhere (a replica), or whose
	# expected message speaks of them, stays as it is
	other_keys='^ *(- )?(host|port|socket|user|database):|mysql'
	this_block=$(printf 'database:\n  driver: postgres\n  dsn: "host=%s port=%s dbname=%s user=%s"\n  #\n  #\n  #\n' \
		"$BACKFILLD_PG_HOST" "$BACKFILLD_PG_PORT" "$IT_DB" "$BACKFILLD_PG_USER")
else
	to_server=(-e "s|^\(  *\)host: 127.0.0.1\$|\1host: $BACKFILLD_MY_HOST|" -e "s|^\(  *\)port: 3306\$|\1port: $BACKFILLD_MY_PORT|"
		-e "s|^\(  *\)user: backfill\$|\1user: $BACKFILLD_MY_USER|" -e "s|^\(  *\)database: app\$|\1database: $IT_DB|")
	# the corpus's postgres block (three lines) becomes a flow mapping on three lines
	other_block=$'database:\n  driver: postgres\n  dsn: "host=127.0.0.1 port=5432 dbname=app user=backfill"\n'
	other_keys='dsn|postgres'
	this_block=$(printf 'database: {driver: mysql, host: %s, port: %s,\n  user: %s,\n  database: %s}\n' \
		"$BACKFILLD_MY_HOST" "$BACKFILLD_MY_PORT" "$BACKFILLD_MY_USER" "$IT_DB")
fi
this_block+=$'\n'
# point FROM TO: FROM's connection at this scenario's server, nothing else changed
point() {
	local text
	text=$(cat "$1"; printf x) # keep trailing newlines (and their absence)
	text=${text%x}
	if [[ "$text" == *"$other_block"* ]] && ! grep -qE "$other_keys" <<<"${text/"$other_block"/}"; then
		text=${text/"$other_block"/"$this_block"}
	fi
	printf '%s' "$text" | sed "${to_server[@]}" >"$2"
}

mkdir -p "$IT_DIR/bad" "$IT_DIR/run"
pointed=0
for f in "$src"/tests/data/bad/*.yaml; do
	point "$f" "$IT_DIR/bad/${f##*/}"
	grep -q -e "$IT_DB" "$IT_DIR/bad/${f##*/}" && pointed=$((pointed + 1))
done
# a multi-megabyte value: bigger than any job file may be
sed -e 1d -e '/^batch:/,$d' "$src/tests/data/bad/size_zero.yaml" |
	sed -e '1i # expect: file too large' >"$IT_DIR/bad.tmp"
point "$IT_DIR/bad.tmp" "$IT_DIR/bad/huge_file.yaml"
{
	printf "where: new_status IS NULL OR '"
	head -c 3000000 /dev/zero | tr '\0' y
	printf "' = ''\n"
} >>"$IT_DIR/bad/huge_file.yaml"
rm -f "$IT_DIR/bad.tmp"

# what the database holds: every table of the scenario's database and a checksum of
# items; a config that slipped through would create the checkpoint table or write rows
if it_pg; then
	state_sql="SELECT (SELECT string_agg(table_schema || '.' || table_name, ',' ORDER BY table_schema, table_name)
			FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema'))
		|| ' ' || (SELECT md5(string_agg(i::text, ',' ORDER BY id)) FROM items i)"
else
	state_sql="SET SESSION group_concat_max_len = 16777216;
		SELECT CONCAT_WS(' ', (SELECT GROUP_CONCAT(TABLE_NAME ORDER BY TABLE_NAME) FROM information_schema.TABLES
			WHERE TABLE_SCHEMA = DATABASE()),
		(SELECT md5(GROUP_CONCAT(CONCAT_WS(':', id, IFNULL(old_status, '-'), payload,
			IFNULL(new_status, '-')) ORDER BY id)) FROM items))"
fi
before=$(it_sql "$state_sql") || it_fail "cannot read the database's state"
[[ "$before" == *items" "???????????????????????????????? ]] || it_fail "state probe: [$before]"

# each file through `run` and `check`, the password in the environment as systemd
# would hand it over; the status socket's default directory is the scenario's
cases=0
for f in "$IT_DIR"/bad/*.yaml; do
	name=${f##*/}
	want=$(head -n 1 "$f")
	[[ "$want" == "# expect: "?* ]] || it_fail "$name: first line is not '# expect: ...'"
	want=${want#"# expect: "}
	for cmd in run check; do
		cases=$((cases + 1))
		out=$IT_DIR/${name%.yaml}.$cmd
		BACKFILLD_PASSWORD=$password RUNTIME_DIRECTORY=$IT_DIR/run \
			timeout 60 "$BACKFILLD_BIN" "$cmd" -c "$f" >"$out.out" 2>"$out.err" </dev/null
		rc=$?
		((rc < 128)) || it_fail "$name: $cmd crashed or hung (exit $rc): $(head -c 300 "$out.err")"
		it_eq "$rc" 2 "$name: $cmd exit status ($(head -c 300 "$out.err"))"
		it_contains "$out.err" "$f:" "$name: $cmd names the file"
		it_contains "$out.err" "$want" "$name: $cmd message"
		IT_CHECKS=$((IT_CHECKS + 1))
		if grep -qF -- "$password" "$out.err" "$out.out"; then
			it_fail "$name: $cmd shows the password"
		fi
	done
	it_eq "$(it_sql "$state_sql")" "$before" "$name: the database after run and check"
done
nfiles=$(find "$IT_DIR/bad" -name '*.yaml' | wc -l)
it_log "$nfiles broken configs ($pointed pointed at the test server), $cases runs, all refused"
it_le 100 "$nfiles" "files in the corpus"
it_le 70 "$pointed" "files pointed at the test server"

# the rewrite really reaches the server: the corpus's own lines for the connection,
# with the mistake left out, make a job that runs and writes (and so the state probe
# can tell)
for block in pg my; do
	if [[ $block == pg ]]; then
		printf 'job: hostile_good_pg\ndatabase:\n  driver: postgres\n  dsn: "host=127.0.0.1 port=5432 dbname=app user=backfill"\n'
	else
		printf 'job: hostile_good_my\ndatabase:\n  driver: mysql\n  host: 127.0.0.1\n  port: 3306\n  user: backfill\n  database: app\n'
	fi >"$IT_DIR/good.tmp"
	printf 'table: items\nkey: id\nset:\n  new_status: old_status\n' >>"$IT_DIR/good.tmp"
	point "$IT_DIR/good.tmp" "$IT_DIR/good_$block.yaml"
	BACKFILLD_PASSWORD=$password RUNTIME_DIRECTORY=$IT_DIR/run \
		"$BACKFILLD_BIN" check -c "$IT_DIR/good_$block.yaml" >/dev/null 2>"$IT_DIR/good_$block.err"
	it_eq "$?" 0 "check of the corpus's $block lines, pointed ($(tail -n 2 "$IT_DIR/good_$block.err"))"
done
BACKFILLD_PASSWORD=$password RUNTIME_DIRECTORY=$IT_DIR/run \
	"$BACKFILLD_BIN" run -c "$IT_DIR/good_pg.yaml" >/dev/null 2>"$IT_DIR/good.err"
it_eq "$?" 0 "run of the corpus's lines, pointed ($(tail -n 2 "$IT_DIR/good.err"))"
after=$(it_sql "$state_sql")
[[ "$after" != "$before" ]] || it_fail "the state probe did not see the good job's writes"
it_eq "${after%% *}" "$(it_pg && echo public.backfilld_checkpoint,public.items || echo backfilld_checkpoint,items)" \
	"tables after the good job"

# --- expressions that fail at run time on one row in the middle ----------------------------
# runtime_case NAME SET_EXPR BREAK_SQL FIX_SQL MESSAGE: a fresh table of 20000 rows; BREAK
# makes one row in the middle fail the expression, FIX repairs it.
runtime_case() {
	local name=$1 expr=$2 break_sql=$3 fix_sql=$4 msg=$5 job=hostile_$1 mid log from to range
	it_sql "DROP TABLE items; DROP TABLE backfilld_checkpoint" || it_fail "$name: cannot drop"
	it_items 20000
	it_sql "ALTER TABLE items ADD COLUMN txt varchar(40), ADD COLUMN big bigint;
		UPDATE items SET txt = old_status, big = old_status" || it_fail "$name: extra columns"
	mid=$(it_sql "SELECT id FROM items ORDER BY id LIMIT 1 OFFSET 10000")
	it_sql "${break_sql//MID/$mid}" || it_fail "$name: cannot break row $mid"
	it_config "$IT_DIR/$name.yaml" "batch:
  size: 500
  min_size: 500
  max_size: 500"
	sed -i -e "s/^job: .*/job: $job/" -e "s/^  new_status: old_status\$/  new_status: \"$expr\"/" "$IT_DIR/$name.yaml"
	log=$IT_DIR/$name.log
	it_run run -c "$IT_DIR/$name.yaml" >/dev/null 2>"$log"
	it_eq "$?" 1 "$name: exit status ($(tail -n 2 "$log"))"
	it_contains "$log" "batch failed: $msg" "$name: message"
	# "(keys after [FROM] up to [TO]; rolled back)": the failing row lies in that range
	range=$(sed -n 's/.*batch failed: .* (keys after \[\([0-9]*\)\] up to \[\([0-9]*\)\]; rolled back)$/\1 \2/p' "$log")
	read -r from to <<<"$range"
	[[ -n "$from" && -n "$to" ]] || it_fail "$name: no key range in the message: $(grep 'batch failed' "$log")"
	it_eq "$(it_sql "SELECT $from < $mid AND $mid <= $to")" "$IT_T" "$name: failing row $mid in ($from, $to]"
	it_eq "$(it_ckpt state "$job") $(it_ckpt cursor0 "$job")" "failed $from" "$name: checkpoint stops before the batch"
	it_contains <(it_ckpt last_error "$job") "(keys after [$from] up to [$to]; rolled back)" "$name: last_error"
	it_eq "$(it_sql "SELECT count(*) FROM items WHERE id > $from AND new_status IS NOT NULL")" 0 \
		"$name: rows of the failed batch and after written"
	it_eq "$(it_sql "SELECT count(*) FROM items WHERE id <= $from AND $(it_distinct new_status "$expr")")" 0 \
		"$name: rows before the batch not done"
	# the data fixed, the same job resumes from its checkpoint and finishes
	it_sql "${fix_sql//MID/$mid}" || it_fail "$name: cannot fix row $mid"
	it_run run -c "$IT_DIR/$name.yaml" >/dev/null 2>"$log.2"
	it_eq "$?" 0 "$name: run after the fix ($(tail -n 2 "$log.2"))"
	it_contains "$log.2" "(was failed," "$name: resumed from the failed state"
	it_eq "$(it_ckpt "CONCAT_WS(' ', state, last_error IS NULL)" "$job")" "done $IT_T" "$name: checkpoint after the fix"
	it_eq "$(it_sql "SELECT count(*) FROM items WHERE $(it_distinct new_status "$expr")")" 0 \
		"$name: rows not backfilled after the fix"
}
if it_pg; then
	runtime_case cast "CAST(txt AS int)" "UPDATE items SET txt = 'n/a' WHERE id = MID" \
		"UPDATE items SET txt = '7' WHERE id = MID" 'invalid input syntax for type integer: "n/a" (SQLSTATE 22P02)'
	runtime_case overflow "big * 1000" "UPDATE items SET big = 5000000 WHERE id = MID" \
		"UPDATE items SET big = 5 WHERE id = MID" "integer out of range (SQLSTATE 22003)"
else
	runtime_case cast "CAST(txt AS SIGNED)" "UPDATE items SET txt = 'n/a' WHERE id = MID" \
		"UPDATE items SET txt = '7' WHERE id = MID" "Truncated incorrect INTEGER value: 'n/a' (error 1292) (SQLSTATE 22007)"
	runtime_case overflow "big * 1000" "UPDATE items SET big = 5000000 WHERE id = MID" \
		"UPDATE items SET big = 5 WHERE id = MID" "Out of range value for column 'new_status' at row"
fi
it_pass

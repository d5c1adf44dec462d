#!/usr/bin/env bash
# resource_lock: replica
# check: the preflight reports each red flag on a table built to have exactly that
# one, with its level, a message naming the culprit and no unrelated error, in text
# and in --json; exits 0 with warnings only, 3 with an error, 2 for a config error
# (before connecting), 1 when the primary cannot be reached. A clean job passes
# with a plan that fits the table, and check writes nothing: no checkpoint table,
# no heartbeat table, no row. It uses the shared replica (reachable replicas are
# not a red flag), hence the lock.
source "$(dirname "$0")/../lib/itest.sh"
it_setup check

# users made for the privilege cases (server-wide): dropped however the scenario ends
drop_users() {
	if it_pg; then
		it_admin_sql "DROP OWNED BY it_check_np" >/dev/null 2>&1
		it_admin_sql_db postgres "DROP ROLE IF EXISTS it_check_np" >/dev/null 2>&1
	else
		it_admin_sql_db mysql "DROP USER IF EXISTS 'it_check_ro'@'127.0.0.1', 'it_check_np'@'127.0.0.1'" \
			>/dev/null 2>&1
	fi
	return 0
}
trap 'drop_users; it_cleanup' EXIT
drop_users

# --- helpers ----------------------------------------------------------------------------
if it_pg; then
	ENGINE="" SCHEMA=public
	host=$BACKFILLD_PG_HOST replica_port=$BACKFILLD_PG_REPLICA_PORT
	server_version=$(it_sql "SELECT current_setting('server_version_num')::int / 10000")
	no_table() { echo "SELECT to_regclass('$1') IS NULL"; }
else
	ENGINE=" ENGINE=InnoDB" SCHEMA=$IT_DB
	host=$BACKFILLD_MY_HOST replica_port=$BACKFILLD_MY_REPLICA_PORT
	server_version=$(it_sql "SELECT SUBSTRING_INDEX(VERSION(), '-', 1)")
	no_table() {
		echo "SELECT count(*) = 0 FROM information_schema.TABLES
			WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '$1'"
	}
fi
[[ -n "$server_version" ]] || it_fail "cannot read the server version"

# mk TABLE "COLUMNS" N "VALUES": a table of N rows, @g the row number (1..N), analyzed
mk() {
	local t=$1 cols=$2 n=$3 vals=$4
	if it_pg; then
		it_sql "CREATE TABLE $t ($cols); INSERT INTO $t SELECT ${vals//@g/g} FROM generate_series(1, $n) g;
			ANALYZE $t" || it_fail "cannot create $t"
	else
		it_sql "CREATE TABLE $t ($cols)$ENGINE; INSERT INTO $t SELECT ${vals//@g/seq} FROM seq_1_to_$n;
			ANALYZE TABLE $t" >/dev/null || it_fail "cannot create $t"
	fi
}
# plain: a correct table for the jobs below, bigint primary key, nullable target
plain() { mk "$1" "id bigint PRIMARY KEY, old_status int, new_status int" "${2:-20000}" "@g, @g % 1000, NULL"; }

# cfg NAME TABLE KEY "SET LINES" [EXTRA]: job check_NAME in $IT_DIR/NAME.yaml. CK_USER,
# CK_PORT and CK_THROTTLE (the whole throttle section) override the defaults.
cfg() {
	local name=$1 table=$2 key=$3 set=$4 extra=${5:-}
	cat >"$IT_DIR/$name.yaml" <<YAML
job: check_$name
database:
$(it_db_yaml "${CK_USER:-}" "${CK_PORT:-}")
  password_file: $IT_DIR/password
table: $table
key: $key
set:
$set
batch:
  size: 1000
  target_time: 400ms
${CK_THROTTLE:-}
status:
  socket: $IT_DIR/$name.sock
$extra
YAML
}

# jx FILE EXPR: a Python expression over the JSON object d (findings F); lv(LEVEL) the
# sorted codes of that level, msgs(LEVEL, CODE) their messages
jx() {
	python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
F = d.get("findings") or []
def lv(level): return " ".join(sorted(f["code"] for f in F if f["level"] == level))
def msgs(level, code): return [f["message"] for f in F if f["level"] == level and f["code"] == code]
r = eval(sys.argv[2])
print(r if isinstance(r, str) else json.dumps(r))
' "$1" "$2" || it_fail "cannot evaluate [$2] on $1: $(head -c 300 "$1")"
}

# text_codes FILE PREFIX: the sorted codes of the text lines "PREFIX code: message"
text_codes() { sed -n "s/^$2\([a-z-]*\): .*/\1/p" "$1" | sort | paste -sd' '; }

plural() { (($1 == 1)) && echo "$1 $2" || echo "$1 ${2}s"; }

# expect NAME EXIT "ERROR CODES" "WARNING CODES": check and check --json on job NAME,
# each list exact and sorted ("*": the warnings are not this case's concern). Both
# forms agree: every finding of the JSON is a line of the text.
expect() {
	local name=$1 rc=$2 errs=$3 warns=$4 f=$IT_DIR/$1 ne nw first
	it_run check -c "$f.yaml" >"$f.out" 2>"$f.err"
	it_eq "$?" "$rc" "$name: exit status of check ($(head -c 400 "$f.out" "$f.err"))"
	it_run check -c "$f.yaml" --json >"$f.json" 2>"$f.jerr"
	it_eq "$?" "$rc" "$name: exit status of check --json ($(head -c 400 "$f.jerr"))"
	it_eq "$(grep -c '' "$f.json")" 1 "$name: --json prints one line"
	# one parse: job, driver, server, error codes, errors, warning codes, warnings
	local -a j
	mapfile -t j < <(jx "$f.json" '"\n".join([d["job"], d["driver"], d["server"], lv("error"), str(d["errors"]),
		lv("warn"), str(d["warnings"])])')
	it_eq "${j[0]:-} ${j[1]:-}" "check_$name $IT_DRIVER" "$name: json job, driver"
	[[ "${j[2]}" == *"$server_version"* ]] || it_fail "$name: json server [${j[2]}] is not version $server_version"
	it_eq "${j[3]}" "$errs" "$name: error codes (json)"
	it_eq "$(text_codes "$f.out" 'ERROR ')" "$errs" "$name: error codes (text)"
	ne=$(wc -w <<<"$errs")
	it_eq "${j[4]}" "$ne" "$name: json errors"
	nw=${j[6]}
	it_eq "$(wc -w <<<"${j[5]}")" "$nw" "$name: json warnings against its findings"
	it_eq "$(text_codes "$f.out" 'WARN  ')" "${j[5]}" "$name: warning codes (text against json)"
	if [[ "$warns" != "*" ]]; then
		it_eq "${j[5]}" "$warns" "$name: warning codes (json)"
	fi
	jx "$f.json" '"\n".join(("ERROR " if x["level"] == "error" else "WARN  ") + x["code"] + ": " + x["message"] for x in F)' |
		while IFS= read -r line; do
			[[ -z "$line" ]] || grep -qxF -- "$line" "$f.out" || it_fail "$name: [$line] not in the text: $(cat "$f.out")"
		done || exit 1
	IT_CHECKS=$((IT_CHECKS + 1))
	first=$(head -n 1 "$f.out")
	[[ "$first" == "check: job check_$name on "* ]] || it_fail "$name: first line [$first]"
	it_eq "$(tail -n 1 "$f.out")" "check: $(plural "$ne" error), $(plural "$nw" warning)" "$name: summary line"
}

# named NAME LEVEL CODE WORD...: each finding NAME has at that level with that code
# names every WORD (grep -E, case-insensitive)
named() {
	local name=$1 level=$2 code=$3 m w n=0
	shift 3
	while IFS= read -r m; do
		[[ -n "$m" ]] || continue
		n=$((n + 1))
		for w in "$@"; do
			grep -qiE -- "$w" <<<"$m" || it_fail "$name: $level $code message [$m] does not name [$w]"
		done
	done < <(jx "$IT_DIR/$name.json" "\"\\n\".join(msgs(\"$level\", \"$code\"))")
	it_le 1 "$n" "$name: $level $code findings"
}

# check writes nothing: neither of the daemon's tables, checked after each phase
nothing_written() {
	it_eq "$(it_sql "$(no_table backfilld_checkpoint)")" "$IT_T" "$1: checkpoint table created"
	it_eq "$(it_sql "$(no_table backfilld_heartbeat)")" "$IT_T" "$1: heartbeat table created"
}

# --- the clean job: no finding, a plan that fits the table -----------------------------------
it_items 20000
cfg clean items id "  new_status: old_status"
expect clean 0 "" ""
f=$IT_DIR/clean.json
it_eq "$(jx "$f" 'd["table"]')" "$SCHEMA.items" "clean: json table"
it_eq "$(jx "$f" 'd["plan"]["batch_size"]') $(jx "$f" 'd["plan"]["target_time_ms"]')" "1000 400" \
	"clean: plan batch_size, target_time_ms"
batches=$(jx "$f" 'd["plan"]["batches"]')
rows=$(jx "$f" 'd["plan"]["rows_estimate"]')
it_le 16 "$batches" "clean: plan batches (20000 rows / 1000, -20%)"
it_le "$batches" 24 "clean: plan batches (20000 rows / 1000, +20%)"
it_le 16000 "$rows" "clean: rows_estimate (-20%)"
it_le "$rows" 24000 "clean: rows_estimate (+20%)"
it_eq "$(jx "$f" 'd["plan"]["key_min"]') $(jx "$f" 'd["plan"]["key_max"]')" \
	"[$(it_sql "SELECT min(id) FROM items")] [$(it_sql "SELECT max(id) FROM items")]" "clean: key range"
it_eq "$(jx "$f" 'isinstance(d["plan"]["duration_s"], (int, float)) and d["plan"]["duration_s"] >= 0')" true \
	"clean: duration_s a number"
it_eq "$(jx "$f" '[(s["name"], s["index_range"], bool(s["sql"]), bool(s["access"])) for s in d["plan"]["statements"]]')" \
	'[["bound", true, true, true], ["update", true, true, true], ["bound_next", true, true, true], ["update_next", true, true, true]]' \
	"clean: statements (name, index_range, sql, access)"
it_eq "$(jx "$f" '"LIMIT" in d["plan"]["statements"][0]["sql"].upper() and d["plan"]["statements"][1]["sql"].upper().startswith("UPDATE")')" \
	true "clean: the bound and update statements"
it_le 1 "$(grep -c '^plan: ' "$IT_DIR/clean.out")" "clean: text plan lines"
it_contains "$IT_DIR/clean.out" ", key (id)" "clean: text header names the key"
nothing_written clean
it_eq "$(it_sql "SELECT count(*) FROM items WHERE new_status IS NOT NULL")" 0 "clean: rows written"

# --- errors on the set columns -----------------------------------------------------------------
mk nn "id bigint PRIMARY KEY, old_status int, nn_target int NOT NULL" 20000 "@g, @g % 1000, 0"
cfg set_not_null nn id "  nn_target: old_status"
expect set_not_null 3 "set-not-null" ""
named set_not_null error set-not-null nn_target

mk dflt "id bigint PRIMARY KEY, old_status int, dflt_target int DEFAULT 7" 20000 "@g, @g % 1000, NULL"
cfg set_default dflt id "  dflt_target: old_status"
expect set_default 3 "set-default" ""
named set_default error set-default dflt_target

plain colm
cfg set_column_missing colm id "  no_such_target: old_status"
expect set_column_missing 3 "column-missing" "*"
named set_column_missing error column-missing no_such_target
cfg key_column_missing colm no_such_key "  new_status: old_status"
expect key_column_missing 3 "column-missing" "*"
named key_column_missing error column-missing no_such_key

cfg table_missing no_such_table id "  new_status: old_status"
expect table_missing 3 "table-missing" "*"
named table_missing error table-missing no_such_table
it_eq "$(jx "$IT_DIR/table_missing.json" 'd.get("plan")')" null "table_missing: no plan"

# --- expressions ---------------------------------------------------------------------------------
plain expr
cfg expr_function expr id "  new_status: no_such_fn(old_status)"
expect expr_function 3 "expression-error" "*"
named expr_function error expression-error no_such_fn
# an unknown column in the guard: not a key or set column, an expression that does not resolve
cfg expr_guard expr id "  new_status: old_status" "where: new_status IS NULL AND no_such_col > 0"
expect expr_guard 3 "expression-error" "*"
named expr_guard error expression-error no_such_col

plain guard
cfg guard_not_idempotent guard id "  new_status: old_status" "where: old_status IS NOT NULL"
expect guard_not_idempotent 0 "" "guard-not-idempotent"
named guard_not_idempotent warn guard-not-idempotent "new_status|old_status IS NOT NULL"

plain oth
mk lookup_codes "code int PRIMARY KEY, label int" 1000 "@g - 1, @g * 10"
cfg other_tables oth id '  new_status: "(SELECT l.label FROM lookup_codes l WHERE l.code = old_status)"'
expect other_tables 0 "" "other-tables"
named other_tables warn other-tables lookup_codes

# --- the key ---------------------------------------------------------------------------------------
# an index to range-scan, but not a unique one
mk nouniq "ref_no bigint NOT NULL, old_status int, new_status int" 20000 "@g, @g % 1000, NULL"
it_sql "CREATE INDEX nouniq_ref ON nouniq (ref_no); ANALYZE$(it_my && echo " TABLE") nouniq" >/dev/null ||
	it_fail "cannot index nouniq"
cfg key_not_unique nouniq ref_no "  new_status: old_status"
expect key_not_unique 3 "key-not-unique" ""
named key_not_unique error key-not-unique ref_no
# unique, but nullable: NULLs may repeat
mk nulluniq "id bigint PRIMARY KEY, ext_code bigint UNIQUE, old_status int, new_status int" 20000 \
	"@g, @g * 2, @g % 1000, NULL"
cfg key_nullable_unique nulluniq ext_code "  new_status: old_status"
expect key_nullable_unique 3 "key-not-unique" ""
named key_nullable_unique error key-not-unique ext_code

# unique, but in the order (b, a): no range scan on (a, b)
mk ba "a bigint NOT NULL, b bigint NOT NULL, old_status int, new_status int, PRIMARY KEY (b, a)" 5000 \
	"@g, @g % 10, @g % 1000, NULL"
cfg no_index_range ba "[a, b]" "  new_status: old_status"
expect no_index_range 3 "no-index-range" "*"
it_eq "$(jx "$IT_DIR/no_index_range.json" 'sorted(s["name"] for s in d["plan"]["statements"] if not s["index_range"])[:1]')" \
	'["bound"]' "no_index_range: the bound statement cannot range-scan"

# a five-row table: the index could serve, the planner prefers reading the table
if it_pg; then
	plain tiny 5
	cfg seq_scan_chosen tiny id "  new_status: old_status"
	expect seq_scan_chosen 0 "" "seq-scan-chosen"
fi

# a table smaller than one batch: there is no later batch to plan (MariaDB's EXPLAIN
# of the empty range after high_water names no access path): no error
plain onebatch 500
cfg one_batch onebatch id "  new_status: old_status"
expect one_batch 0 "" "*"
it_eq "$(jx "$IT_DIR/one_batch.json" 'sorted(s["name"] for s in d["plan"]["statements"])')" \
	'["bound", "update"]' "one_batch: only the first batch's statements are planned"

# PostgreSQL: a table never analysed, so no correlation known: a bitmap scan and a
# sort where the index can serve in key order: at most a warning, never an error
if it_pg; then
	it_sql "CREATE TABLE fresh (id bigint PRIMARY KEY, old_status int, new_status int);
		INSERT INTO fresh SELECT g * 2, g % 1000, NULL FROM generate_series(1, 200000) g" ||
		it_fail "cannot create fresh"
	cfg unanalysed fresh id "  new_status: old_status"
	expect unanalysed 0 "" "*"
fi

# --- a trigger -------------------------------------------------------------------------------------
plain trig
if it_pg; then
	it_admin_sql "CREATE FUNCTION audit_fn() RETURNS trigger LANGUAGE plpgsql AS \$\$BEGIN RETURN NEW; END\$\$;
		CREATE TRIGGER audit_trg BEFORE UPDATE ON trig FOR EACH ROW EXECUTE FUNCTION audit_fn()" ||
		it_fail "cannot create the trigger"
else
	it_admin_sql "CREATE TRIGGER audit_trg BEFORE UPDATE ON trig FOR EACH ROW SET NEW.old_status = NEW.old_status" ||
		it_fail "cannot create the trigger"
fi
cfg trigger trig id "  new_status: old_status"
expect trigger 0 "" "trigger"
named trigger warn trigger audit_trg

# --- replicas: the shared one answers, nothing listens on port 1 -----------------------------------
replica() {
	if it_pg; then
		echo "    - dsn: \"host=$host port=$1 dbname=$IT_DB user=$BACKFILLD_PG_USER\""
	else
		printf '    - host: %s\n      port: %s\n      user: %s\n      database: %s\n' \
			"$host" "$1" "$BACKFILLD_MY_USER" "$IT_DB"
	fi
}
CK_THROTTLE="throttle:
  max_replication_lag: 1s
  replicas:
$(replica "$replica_port")"
cfg replica_reachable items id "  new_status: old_status"
expect replica_reachable 0 "" ""
CK_THROTTLE="$CK_THROTTLE
$(replica 1)"
cfg replica_unreachable items id "  new_status: old_status"
expect replica_unreachable 3 "replica-unreachable" "*"
named replica_unreachable error replica-unreachable "$host:1([^0-9]|$)"
IT_CHECKS=$((IT_CHECKS + 1))
jx "$IT_DIR/replica_unreachable.json" '"\n".join(msgs("error", "replica-unreachable"))' | grep -qF ":$replica_port" &&
	it_fail "replica_unreachable: the reachable replica reported: $(cat "$IT_DIR/replica_unreachable.out")"
CK_THROTTLE=""
# every case so far was check only: the daemon's tables do not exist, no row changed
nothing_written "all checks"
it_eq "$(it_sql "SELECT (SELECT count(*) FROM items WHERE new_status IS NOT NULL)
	+ (SELECT count(*) FROM colm WHERE new_status IS NOT NULL)
	+ (SELECT count(*) FROM trig WHERE new_status IS NOT NULL)")" 0 "rows written by check"

# --- privileges ------------------------------------------------------------------------------------
# the checkpoint table, made by a run, then the administrator's: the job's user may read
# it, and only UPDATE or only INSERT it (the job has no row yet: it needs both)
plain seed 10
plain priv
CK_THROTTLE="throttle:
  max_replication_lag: 0s" cfg seed seed id "  new_status: old_status" "checkpoint:
  table: priv_ckpt"
it_run run -c "$IT_DIR/seed.yaml" >/dev/null 2>"$IT_DIR/seed.log"
it_eq "$?" 0 "the run that makes priv_ckpt ($(tail -n 2 "$IT_DIR/seed.log"))"
# the probe nothing_written uses can fail: it sees a table a run made
it_eq "$(it_sql "$(no_table priv_ckpt)")" "$(it_pg && echo f || echo 0)" "the probe on priv_ckpt"
if it_pg; then
	it_admin_sql "ALTER TABLE priv_ckpt OWNER TO $BACKFILLD_PG_ADMIN" || it_fail "cannot take priv_ckpt over"
	grant_only() {
		it_admin_sql "REVOKE ALL ON priv_ckpt FROM $BACKFILLD_PG_USER; GRANT SELECT, $1 ON priv_ckpt TO $BACKFILLD_PG_USER"
	}
else
	# the same global privileges as backfill's, table privileges only on priv and priv_ckpt
	it_admin_sql "CREATE USER 'it_check_ro'@'127.0.0.1' IDENTIFIED BY '$BACKFILLD_MY_PASSWORD';
		GRANT PROCESS, REPLICATION CLIENT, SLAVE MONITOR ON *.* TO 'it_check_ro'@'127.0.0.1';
		GRANT SELECT, UPDATE ON \`$IT_DB\`.priv TO 'it_check_ro'@'127.0.0.1'" || it_fail "cannot create it_check_ro"
	grant_only() {
		it_admin_sql "REVOKE ALL PRIVILEGES ON \`$IT_DB\`.priv_ckpt FROM 'it_check_ro'@'127.0.0.1'" 2>/dev/null
		it_admin_sql "GRANT SELECT, $1 ON \`$IT_DB\`.priv_ckpt TO 'it_check_ro'@'127.0.0.1'"
	}
	CK_USER=it_check_ro
fi
for p in UPDATE INSERT; do
	missing=INSERT
	[[ $p == INSERT ]] && missing=UPDATE
	grant_only "$p" || it_fail "cannot grant $p on priv_ckpt"
	cfg "privilege_no_$missing" priv id "  new_status: old_status" "checkpoint:
  table: priv_ckpt"
	expect "privilege_no_$missing" 3 "privilege" ""
	named "privilege_no_$missing" error privilege priv_ckpt
done
CK_USER=""
it_eq "$(it_sql "SELECT count(*) FROM priv_ckpt")" 1 "privilege: priv_ckpt holds only the seed job's row"

# a user who may run the job but not read the lock waits of other sessions
if it_pg; then
	# without pg_monitor (pg_read_all_stats), pg_stat_activity shows only its own sessions
	it_admin_sql "CREATE ROLE it_check_np LOGIN PASSWORD '$BACKFILLD_PG_PASSWORD';
		GRANT SELECT, UPDATE ON priv TO it_check_np; GRANT CREATE ON SCHEMA public TO it_check_np" ||
		it_fail "cannot create it_check_np"
	monitor=pg_monitor
else
	# every privilege on the database, but not PROCESS, which INNODB_TRX needs
	it_admin_sql "CREATE USER 'it_check_np'@'127.0.0.1' IDENTIFIED BY '$BACKFILLD_MY_PASSWORD';
		GRANT ALL PRIVILEGES ON \`$IT_DB\`.* TO 'it_check_np'@'127.0.0.1'" || it_fail "cannot create it_check_np"
	monitor=PROCESS
fi
CK_USER=it_check_np CK_THROTTLE="throttle:
  max_replication_lag: 0s
  max_lock_waits: 5" cfg privilege_lock_waits priv id "  new_status: old_status"
expect privilege_lock_waits 3 "privilege" ""
named privilege_lock_waits error privilege "$monitor"
nothing_written "privilege_lock_waits"

# the heartbeat table, the administrator's: the job's user may read it (on the replica
# too) but not write it, which the throttle does on the primary every interval
if it_pg; then
	it_admin_sql "GRANT ALL ON priv_ckpt TO $BACKFILLD_PG_USER;
		CREATE TABLE backfilld_heartbeat (job text PRIMARY KEY, ts_us bigint NOT NULL);
		GRANT SELECT ON backfilld_heartbeat TO $BACKFILLD_PG_USER" || it_fail "cannot create the heartbeat table"
	hb_user=""
else
	it_admin_sql "GRANT ALL PRIVILEGES ON \`$IT_DB\`.priv_ckpt TO 'it_check_ro'@'127.0.0.1';
		CREATE TABLE backfilld_heartbeat (job VARCHAR(255) NOT NULL PRIMARY KEY, ts_us BIGINT NOT NULL)
			ENGINE=InnoDB;
		GRANT SELECT ON \`$IT_DB\`.backfilld_heartbeat TO 'it_check_ro'@'127.0.0.1'" ||
		it_fail "cannot create the heartbeat table"
	hb_user=it_check_ro
fi
CK_USER=$hb_user CK_THROTTLE="throttle:
  max_replication_lag: 1s
  replicas:
$(replica "$replica_port")" cfg privilege_heartbeat priv id "  new_status: old_status" "checkpoint:
  table: priv_ckpt"
expect privilege_heartbeat 3 "privilege" ""
named privilege_heartbeat error privilege backfilld_heartbeat

# --- a config error exits 2 before connecting; an unreachable primary exits 1 -----------------------
CK_PORT=1 cfg primary_unreachable items id "  new_status: old_status"
it_run check -c "$IT_DIR/primary_unreachable.yaml" >"$IT_DIR/pu.out" 2>"$IT_DIR/pu.err"
it_eq "$?" 1 "unreachable primary: exit status ($(head -c 300 "$IT_DIR/pu.err"))"
it_run check -c "$IT_DIR/primary_unreachable.yaml" --json >"$IT_DIR/pu.out" 2>"$IT_DIR/pu.err"
it_eq "$?" 1 "unreachable primary: exit status with --json"
# the same file with an unknown key: the loader stops it before any connection
cp "$IT_DIR/primary_unreachable.yaml" "$IT_DIR/config_error.yaml"
echo "tabel: items" >>"$IT_DIR/config_error.yaml"
line=$(wc -l <"$IT_DIR/config_error.yaml")
it_run check -c "$IT_DIR/config_error.yaml" >"$IT_DIR/ce.out" 2>&1
it_eq "$?" 2 "config error: exit status ($(head -c 300 "$IT_DIR/ce.out"))"
it_contains "$IT_DIR/ce.out" "$IT_DIR/config_error.yaml:$line:1:" "config error: FILE:LINE:COL"
it_contains "$IT_DIR/ce.out" "tabel" "config error: names the key"
it_pass

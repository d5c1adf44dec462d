/* sql.c - every statement backfilld sends, built in one place. */
#include "backfilld/sql.h"
#include "backfilld/config.h"
#include "backfilld/strbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void ph(struct strbuf *sb, const struct sql *s, int n)
{
	if (s->dialect == DB_DIALECT_POSTGRES)
		strbuf_addf(sb, "$%d", n);
	else
		strbuf_add(sb, "?");
}

/* Composite keys compare as row values, which PostgreSQL's planner turns into an
 * index range. MySQL and MariaDB only scan the whole index for a row-value
 * inequality, so there the comparison is expanded to the nested OR form that the
 * range optimiser reads as one range:
 *   (a, b, c) > (x, y, z)  =>  (a > x OR (a = x AND (b > y OR (b = y AND c > z))))
 * which names every part but the last twice (see sql_range_params). */
static int expand_rows(const struct sql *s)
{
	return s->nkey > 1 && s->dialect == DB_DIALECT_MYSQL;
}

/* key OP (params first..): *first advances past the placeholders used. op is
 * ">" or "<=". */
static void key_cmp(struct strbuf *sb, const struct sql *s, const char *op, int *first)
{
	if (s->nkey == 1) {
		strbuf_addf(sb, "%s %s ", s->keys, op);
		ph(sb, s, (*first)++);
		return;
	}
	if (expand_rows(s)) {
		const char *strict = op[0] == '>' ? ">" : "<";

		for (size_t i = 0; i + 1 < s->nkey; i++) {
			strbuf_addf(sb, "(%s %s ", s->quoted_key[i], strict);
			ph(sb, s, (*first)++);
			strbuf_addf(sb, " OR (%s = ", s->quoted_key[i]);
			ph(sb, s, (*first)++);
			strbuf_add(sb, " AND ");
		}
		strbuf_addf(sb, "%s %s ", s->quoted_key[s->nkey - 1], op);
		ph(sb, s, (*first)++);
		for (size_t i = 0; i + 1 < s->nkey; i++)
			strbuf_add(sb, "))");
		return;
	}
	strbuf_addf(sb, "(%s) %s (", s->keys, op);
	for (size_t i = 0; i < s->nkey; i++) {
		if (i)
			strbuf_add(sb, ", ");
		ph(sb, s, (*first)++);
	}
	strbuf_add(sb, ")");
}

/* WHERE [key > cursor AND] key <= bound */
static void key_range(struct strbuf *sb, const struct sql *s, int first)
{
	int n = 1;

	strbuf_add(sb, " WHERE ");
	if (!first) {
		key_cmp(sb, s, ">", &n);
		strbuf_add(sb, " AND ");
	}
	key_cmp(sb, s, "<=", &n);
}

/* One key's parts in the order key_cmp() placed their placeholders. */
static int key_cmp_params(const struct sql *s, const char *const *part, const char **out)
{
	int n = 0;

	if (!expand_rows(s)) {
		for (size_t i = 0; i < s->nkey; i++)
			out[n++] = part ? part[i] : NULL;
		return n;
	}
	for (size_t i = 0; i + 1 < s->nkey; i++) {
		out[n++] = part ? part[i] : NULL;
		out[n++] = part ? part[i] : NULL;
	}
	out[n++] = part ? part[s->nkey - 1] : NULL;
	return n;
}

int sql_range_params(const struct sql *s, const char *const *cursor, const char *const *bound,
		     const char **out)
{
	int n = 0;

	if (cursor)
		n += key_cmp_params(s, cursor, out + n);
	n += key_cmp_params(s, bound, out + n);
	return n;
}

static void add_assignments(struct strbuf *set, struct strbuf *diff, struct db *db,
			    const struct sql *s, const struct config_assign *a, size_t n,
			    int *failed)
{
	for (size_t i = 0; i < n; i++) {
		char *col = db_quote_ident(db, a[i].column);

		if (!col) {
			*failed = 1;
			return;
		}
		strbuf_addf(set, "%s%s = (%s)", i ? ", " : "", col, a[i].expr);
		if (s->dialect == DB_DIALECT_POSTGRES)
			strbuf_addf(diff, "%s%s IS DISTINCT FROM (%s)", i ? " OR " : "", col,
				    a[i].expr);
		else
			strbuf_addf(diff, "%sNOT (%s <=> (%s))", i ? " OR " : "", col, a[i].expr);
		free(col);
	}
}

/* "(c1 TEST JOIN c2 TEST …)" over the set columns: the default guard and the
 * rollback's guard */
static void add_column_test(struct strbuf *sb, struct db *db, const struct config *cfg,
			    const char *test, const char *join, int *failed)
{
	strbuf_add(sb, "(");
	for (size_t i = 0; i < cfg->nset && !*failed; i++) {
		char *col = db_quote_ident(db, cfg->set[i].column);

		if (!col)
			*failed = 1;
		else
			strbuf_addf(sb, "%s%s%s", i ? join : "", col, test);
		free(col);
	}
	strbuf_add(sb, ")");
}

char *sql_quoted_name(struct db *db, const char *schema, const char *name)
{
	char *qs = schema ? db_quote_ident(db, schema) : NULL;
	char *qn = db_quote_ident(db, name);
	struct strbuf sb;

	strbuf_init(&sb);
	if (qn && (!schema || qs))
		strbuf_addf(&sb, "%s%s%s", qs ? qs : "", qs ? "." : "", qn);
	free(qs);
	free(qn);
	if (!sb.len) {
		strbuf_free(&sb);
		return NULL;
	}
	return strbuf_take(&sb);
}

struct sql *sql_new(const struct config *cfg, struct db *db, int rollback, char *err, size_t errlen)
{
	struct sql *s = calloc(1, sizeof(*s));
	struct strbuf keys, desc, set, diff, guard;
	int failed = 0;

	if (!s)
		goto out_oom;
	s->dialect = db_dialect(db);
	s->mariadb = strstr(db_server_version(db), "MariaDB") != NULL;
	s->nkey = cfg->nkey;
	s->name = strdup(cfg->table.name);
	s->schema = cfg->table.schema ? strdup(cfg->table.schema) : NULL;
	if (!s->name || (cfg->table.schema && !s->schema))
		failed = 1;
	strbuf_init(&keys);
	strbuf_init(&desc);
	strbuf_init(&set);
	strbuf_init(&diff);
	strbuf_init(&guard);

	s->table = sql_quoted_name(db, cfg->table.schema, cfg->table.name);
	s->ckpt = sql_quoted_name(db, cfg->checkpoint_table.schema, cfg->checkpoint_table.name);
	if (!s->table || !s->ckpt) {
		failed = 1;
	} else {
		struct strbuf t;

		strbuf_init(&t);
		strbuf_addf(&t, "%s%s%s", cfg->table.schema ? cfg->table.schema : "",
			    cfg->table.schema ? "." : "", cfg->table.name);
		s->table_name = strbuf_take(&t);
	}

	for (size_t i = 0; i < cfg->nkey && !failed; i++) {
		s->quoted_key[i] = db_quote_ident(db, cfg->key[i]);
		if (!s->quoted_key[i]) {
			failed = 1;
			break;
		}
		strbuf_addf(&keys, "%s%s", i ? ", " : "", s->quoted_key[i]);
		strbuf_addf(&desc, "%s%s DESC", i ? ", " : "", s->quoted_key[i]);
	}

	if (!failed && !rollback) {
		add_assignments(&set, &diff, db, s, cfg->set, cfg->nset, &failed);
		if (cfg->where)
			strbuf_addf(&guard, "(%s)", cfg->where);
		else
			add_column_test(&guard, db, cfg, " IS NULL", " AND ", &failed);
	} else if (!failed) {
		add_assignments(&set, &diff, db, s, cfg->rollback_set, cfg->nrollback_set, &failed);
		add_column_test(&guard, db, cfg, " IS NOT NULL", " OR ", &failed);
	}

	s->keys = strbuf_take(&keys);
	s->keys_desc = strbuf_take(&desc);
	s->set_list = strbuf_take(&set);
	s->diff = strbuf_take(&diff);
	s->guard = strbuf_take(&guard);
	if (failed) {
		snprintf(err, errlen, "cannot quote identifiers for the %s connection",
			 s->dialect == DB_DIALECT_POSTGRES ? "postgres" : "mysql");
		sql_free(s);
		return NULL;
	}
	if (!s->table || !s->ckpt || !s->table_name || !s->keys || !s->keys_desc || !s->set_list ||
	    !s->diff || !s->guard) {
		sql_free(s);
		goto out_oom;
	}
	return s;
out_oom:
	snprintf(err, errlen, "out of memory");
	return NULL;
}

void sql_free(struct sql *s)
{
	if (!s)
		return;
	free(s->table);
	free(s->table_name);
	free(s->schema);
	free(s->name);
	free(s->ckpt);
	free(s->keys);
	free(s->keys_desc);
	free(s->guard);
	free(s->set_list);
	free(s->diff);
	for (size_t i = 0; i < CONFIG_MAX_KEY_PARTS; i++)
		free(s->quoted_key[i]);
	free(s);
}

const char *sql_columns(const struct sql *s)
{
	if (s->dialect == DB_DIALECT_POSTGRES)
		return "SELECT a.attname, (t.typcategory = 'N')::int, a.attnotnull::int,"
		       " pg_catalog.pg_get_expr(d.adbin, d.adrelid)"
		       " FROM pg_catalog.pg_attribute a"
		       " JOIN pg_catalog.pg_type t ON t.oid = a.atttypid"
		       " LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid"
		       " AND d.adnum = a.attnum"
		       " WHERE a.attrelid = to_regclass($1) AND a.attnum > 0"
		       " AND NOT a.attisdropped ORDER BY a.attnum";
	/* MariaDB spells "DEFAULT NULL" as the text NULL, MySQL as SQL NULL */
	return "SELECT COLUMN_NAME, DATA_TYPE IN ('tinyint','smallint','mediumint','int',"
	       "'integer','bigint','decimal','numeric','float','double','real','bit'),"
	       " IS_NULLABLE = 'NO', COLUMN_DEFAULT"
	       " FROM information_schema.COLUMNS"
	       " WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?"
	       " ORDER BY ORDINAL_POSITION";
}

int sql_table_params(const struct sql *s, const char **params)
{
	if (s->dialect == DB_DIALECT_POSTGRES) {
		params[0] = s->table;
		return 1;
	}
	params[0] = s->schema;
	params[1] = s->name;
	return 2;
}

const char *sql_estimate(const struct sql *s)
{
	if (s->dialect == DB_DIALECT_POSTGRES)
		return "SELECT GREATEST(reltuples, 0)::bigint FROM pg_catalog.pg_class"
		       " WHERE oid = to_regclass($1)";
	return "SELECT TABLE_ROWS FROM information_schema.TABLES"
	       " WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?";
}

char *sql_high_water(const struct sql *s, int lowest)
{
	struct strbuf sb;

	strbuf_init(&sb);
	strbuf_addf(&sb, "SELECT %s FROM %s ORDER BY %s LIMIT 1", s->keys, s->table,
		    lowest ? s->keys : s->keys_desc);
	return strbuf_take(&sb);
}

char *sql_upper_bound(const struct sql *s, int first, int64_t n)
{
	struct strbuf sb;

	strbuf_init(&sb);
	strbuf_addf(&sb, "SELECT %s FROM %s", s->keys, s->table);
	key_range(&sb, s, first);
	strbuf_addf(&sb, " ORDER BY %s LIMIT 1 OFFSET %lld", s->keys, (long long)(n - 1));
	return strbuf_take(&sb);
}

char *sql_update(const struct sql *s, int first)
{
	struct strbuf sb;

	strbuf_init(&sb);
	strbuf_addf(&sb, "UPDATE %s SET %s", s->table, s->set_list);
	key_range(&sb, s, first);
	strbuf_addf(&sb, " AND %s", s->guard);
	return strbuf_take(&sb);
}

char *sql_count(const struct sql *s, int first)
{
	struct strbuf sb;

	strbuf_init(&sb);
	strbuf_addf(&sb,
		    "SELECT COALESCE(SUM(CASE WHEN %s IS TRUE AND (%s) THEN 1 ELSE 0 END), 0),"
		    " COALESCE(SUM(CASE WHEN %s IS NOT TRUE AND (%s) THEN 1 ELSE 0 END), 0),"
		    " COUNT(*) FROM %s",
		    s->guard, s->diff, s->guard, s->diff, s->table);
	key_range(&sb, s, first);
	return strbuf_take(&sb);
}

char *sql_sample(const struct sql *s, int first, int diverged, int64_t limit)
{
	struct strbuf sb;

	strbuf_init(&sb);
	strbuf_addf(&sb, "SELECT %s FROM %s", s->keys, s->table);
	key_range(&sb, s, first);
	strbuf_addf(&sb, " AND %s IS %s AND (%s) ORDER BY %s LIMIT %lld", s->guard,
		    diverged ? "NOT TRUE" : "TRUE", s->diff, s->keys, (long long)limit);
	return strbuf_take(&sb);
}

const char *sql_read_only(const struct sql *s)
{
	if (s->dialect == DB_DIALECT_POSTGRES)
		return "SET default_transaction_read_only = on";
	return "SET SESSION TRANSACTION READ ONLY";
}

char *sql_begin(const struct sql *s, int64_t lock_timeout_ms, int64_t statement_timeout_ms)
{
	struct strbuf sb;

	strbuf_init(&sb);
	if (s->dialect == DB_DIALECT_POSTGRES) {
		strbuf_addf(&sb,
			    "BEGIN ISOLATION LEVEL READ COMMITTED;"
			    " SET LOCAL lock_timeout = %lld; SET LOCAL statement_timeout = %lld",
			    (long long)lock_timeout_ms, (long long)statement_timeout_ms);
	} else {
		/* innodb_lock_wait_timeout counts whole seconds: round up. MariaDB's
		 * max_statement_time (seconds) bounds every statement; MySQL's
		 * max_execution_time (ms) only SELECTs, so the UPDATE is bounded by the
		 * lock wait timeout there */
		strbuf_addf(&sb, "SET SESSION innodb_lock_wait_timeout = %lld;",
			    (long long)((lock_timeout_ms + 999) / 1000));
		if (s->mariadb)
			strbuf_addf(&sb, " SET SESSION max_statement_time = %.3f;",
				    (double)statement_timeout_ms / 1000.0);
		else
			strbuf_addf(&sb, " SET SESSION max_execution_time = %lld;",
				    (long long)statement_timeout_ms);
		strbuf_add(&sb, " SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED;"
				" START TRANSACTION");
	}
	return strbuf_take(&sb);
}

char *sql_with_table(const char *tmpl, const char *table)
{
	const char *at = strstr(tmpl, "%s");
	struct strbuf sb;

	if (!at)
		return NULL;
	strbuf_init(&sb);
	strbuf_addf(&sb, "%.*s%s%s", (int)(at - tmpl), tmpl, table, at + 2);
	return strbuf_take(&sb);
}

char *sql_heartbeat_create(enum db_dialect d, const char *table)
{
	if (d == DB_DIALECT_POSTGRES)
		return sql_with_table("CREATE TABLE IF NOT EXISTS %s"
				      " (job text PRIMARY KEY, ts_us bigint NOT NULL)",
				      table);
	return sql_with_table("CREATE TABLE IF NOT EXISTS %s"
			      " (job VARCHAR(255) NOT NULL PRIMARY KEY, ts_us BIGINT NOT NULL)"
			      " ENGINE=InnoDB",
			      table);
}

char *sql_heartbeat_write(enum db_dialect d, const char *table)
{
	if (d == DB_DIALECT_POSTGRES)
		return sql_with_table("INSERT INTO %s (job, ts_us) VALUES ($1, $2)"
				      " ON CONFLICT (job) DO UPDATE SET ts_us = EXCLUDED.ts_us",
				      table);
	return sql_with_table("INSERT INTO %s (job, ts_us) VALUES (?, ?)"
			      " ON DUPLICATE KEY UPDATE ts_us = VALUES(ts_us)",
			      table);
}

char *sql_heartbeat_read(enum db_dialect d, const char *table)
{
	return sql_with_table(d == DB_DIALECT_POSTGRES ? "SELECT ts_us FROM %s WHERE job = $1"
						       : "SELECT ts_us FROM %s WHERE job = ?",
			      table);
}

/* Sessions but the probe's own that run a statement (the batch's session is left
 * out by each query): PostgreSQL's client backends; MariaDB's and MySQL's threads
 * neither idle nor replicating (Threads_running would count our own batch and the
 * replication threads). Column names unqualified: they name the innermost FROM. */
#define PG_OTHERS_RUNNING \
	"state = 'active' AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
#define MY_OTHERS_RUNNING                                                       \
	"COMMAND NOT IN ('Sleep', 'Daemon', 'Binlog Dump', 'Binlog Dump GTID'," \
	" 'Slave_IO', 'Slave_SQL', 'Slave_worker', 'Connect') AND ID <> CONNECTION_ID()"

const char *sql_lock_waits(enum db_dialect d, const char *server_version)
{
	/* one pass over pg_stat_activity: with a second one in a subquery, planning took
	 * 3 ms a sample (0.5 ms so), inside every batch's transaction. pg_blocking_pids
	 * takes the lock manager's partitions: only for the sessions that wait, the
	 * FILTER's AND stopping at its first false term */
	if (d == DB_DIALECT_POSTGRES)
		return "SELECT count(*) FILTER (WHERE wait_event_type = 'Lock'),"
		       " count(*) FILTER (WHERE wait_event_type = 'Lock'"
		       " AND $1::int = ANY(pg_blocking_pids(pid))),"
		       " count(*) FILTER (WHERE " PG_OTHERS_RUNNING
		       " AND datname = current_database())"
		       " FROM pg_catalog.pg_stat_activity WHERE pid <> $1::int";
	/* MySQL 8 has no INNODB_LOCK_WAITS (performance_schema.data_lock_waits instead):
	 * there only the count */
	if (!strstr(server_version, "MariaDB") && strncmp(server_version, "5.", 2) != 0)
		return "SELECT COUNT(*) FROM information_schema.INNODB_TRX"
		       " WHERE trx_state = 'LOCK WAIT' AND trx_mysql_thread_id <> ?";
	/* scalar subqueries on the one row of o: each count is read even when nobody
	 * waits (a join would have no row to read the third from) */
	return "SELECT"
	       " (SELECT COUNT(DISTINCT r.trx_id) FROM information_schema.INNODB_TRX r"
	       " WHERE r.trx_state = 'LOCK WAIT' AND r.trx_mysql_thread_id <> o.id),"
	       " (SELECT COUNT(DISTINCT r.trx_id) FROM information_schema.INNODB_TRX r"
	       " JOIN information_schema.INNODB_LOCK_WAITS w ON w.requesting_trx_id = r.trx_id"
	       " JOIN information_schema.INNODB_TRX b ON b.trx_id = w.blocking_trx_id"
	       " WHERE r.trx_state = 'LOCK WAIT' AND b.trx_mysql_thread_id = o.id),"
	       " (SELECT COUNT(*) FROM information_schema.PROCESSLIST p"
	       " WHERE " MY_OTHERS_RUNNING
	       " AND (p.DB IS NULL OR p.DB = DATABASE()) AND p.ID <> o.id)"
	       " FROM (SELECT CAST(? AS UNSIGNED) AS id) o";
}

const char *sql_active(enum db_dialect d)
{
	if (d == DB_DIALECT_POSTGRES)
		return "SELECT count(*) FROM pg_catalog.pg_stat_activity"
		       " WHERE " PG_OTHERS_RUNNING " AND pid <> $1::int";
	return "SELECT COUNT(*) FROM information_schema.PROCESSLIST"
	       " WHERE " MY_OTHERS_RUNNING " AND ID <> ?";
}

const char *sql_lag_fallback(enum db_dialect d, const char *server_version)
{
	int major = 0, minor = 0, patch = 0;

	if (d == DB_DIALECT_POSTGRES)
		return "SELECT count(*), COALESCE(max(EXTRACT(epoch FROM replay_lag) * 1000), 0),"
		       " COALESCE(max(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)), 0)"
		       " FROM pg_catalog.pg_stat_replication";
	/* MySQL 8.0.22 renamed it SHOW REPLICA STATUS (column Seconds_Behind_Source) and
	 * 8.4 dropped the old name; MariaDB keeps SHOW SLAVE STATUS */
	if (server_version && !strstr(server_version, "MariaDB") &&
	    sscanf(server_version, "%d.%d.%d", &major, &minor, &patch) == 3 &&
	    (major > 8 || (major == 8 && (minor > 0 || patch >= 22))))
		return "SHOW REPLICA STATUS";
	return "SHOW SLAVE STATUS";
}

/* --- preflight (check) ----------------------------------------------------------------- */

const char *sql_check_schema(const struct sql *s)
{
	if (s->dialect == DB_DIALECT_POSTGRES)
		return "SELECT n.nspname FROM pg_catalog.pg_class c"
		       " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
		       " WHERE c.oid = to_regclass($1)";
	return "SELECT COALESCE(?, DATABASE()), ?";
}

const char *sql_check_tables(const struct sql *s)
{
	if (s->dialect == DB_DIALECT_POSTGRES)
		return "SELECT DISTINCT relname FROM pg_catalog.pg_class WHERE relkind IN"
		       " ('r', 'p', 'v', 'm', 'f')";
	return "SELECT DISTINCT TABLE_NAME FROM information_schema.TABLES"
	       " WHERE TABLE_SCHEMA NOT IN ('mysql', 'information_schema',"
	       " 'performance_schema', 'sys')";
}

const char *sql_check_unique(const struct sql *s)
{
	if (s->dialect == DB_DIALECT_POSTGRES)
		return "SELECT i.indexrelid::regclass::text, a.attname"
		       " FROM pg_catalog.pg_index i"
		       " CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY k(attnum, n)"
		       " JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid"
		       " AND a.attnum = k.attnum"
		       " WHERE i.indrelid = to_regclass($1) AND i.indisunique"
		       " AND i.indpred IS NULL AND i.indexprs IS NULL"
		       " ORDER BY 1, k.n";
	return "SELECT INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS"
	       " WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?"
	       " AND NON_UNIQUE = 0 AND SUB_PART IS NULL"
	       " ORDER BY INDEX_NAME, SEQ_IN_INDEX";
}

const char *sql_check_triggers(const struct sql *s)
{
	if (s->dialect == DB_DIALECT_POSTGRES)
		return "SELECT tgname, CASE WHEN tgtype & 16 <> 0 THEN 'UPDATE' ELSE 'not UPDATE' END"
		       " FROM pg_catalog.pg_trigger"
		       " WHERE tgrelid = to_regclass($1) AND NOT tgisinternal ORDER BY 1";
	return "SELECT TRIGGER_NAME, EVENT_MANIPULATION FROM information_schema.TRIGGERS"
	       " WHERE EVENT_OBJECT_SCHEMA = COALESCE(?, DATABASE()) AND EVENT_OBJECT_TABLE = ?"
	       " ORDER BY 1";
}

const char *sql_check_table(const struct sql *s)
{
	if (s->dialect == DB_DIALECT_POSTGRES)
		return "SELECT (to_regclass($1) IS NOT NULL)::int,"
		       " has_schema_privilege(COALESCE($2::text, current_schema()), 'CREATE')::int";
	/* the grants of this account, global or on a database pattern that matches */
	return "SELECT (SELECT COUNT(*) FROM information_schema.TABLES"
	       " WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?) > 0,"
	       " (SELECT COUNT(*) FROM information_schema.USER_PRIVILEGES"
	       " WHERE GRANTEE = g.who AND PRIVILEGE_TYPE = 'CREATE')"
	       " + (SELECT COUNT(*) FROM information_schema.SCHEMA_PRIVILEGES"
	       " WHERE GRANTEE = g.who AND PRIVILEGE_TYPE = 'CREATE'"
	       " AND COALESCE(?, DATABASE()) LIKE TABLE_SCHEMA) > 0"
	       " FROM (SELECT CONCAT('''', SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''',"
	       " SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''') AS who) g";
}

const char *sql_check_stats_visible(const struct sql *s)
{
	if (s->dialect == DB_DIALECT_POSTGRES)
		return "SELECT (pg_has_role(current_user, 'pg_read_all_stats', 'MEMBER')"
		       " OR (SELECT rolsuper FROM pg_catalog.pg_roles"
		       " WHERE rolname = current_user))::int";
	return "SELECT 1";
}

char *sql_explain(const struct sql *s, const char *stmt)
{
	struct strbuf sb;

	strbuf_init(&sb);
	strbuf_addf(&sb, "EXPLAIN %s%s", s->dialect == DB_DIALECT_POSTGRES ? "(FORMAT JSON) " : "",
		    stmt);
	return strbuf_take(&sb);
}

/* test_sql.c - the statement builders and the checkpoint row parse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "backfilld/checkpoint.h"
#include "backfilld/config.h"
#include "backfilld/db.h"
#include "backfilld/sql.h"
#include "backfilld/strbuf.h"

/* A connection that only quotes, the way each engine does. */
static char *fake_quote(struct db *db, const char *ident, char q)
{
	struct strbuf sb;
	char one[2] = { q, 0 };

	strbuf_init(&sb);
	strbuf_add(&sb, one);
	for (const char *p = ident; *p; p++) {
		char c[2] = { *p, 0 };

		strbuf_add(&sb, c);
		if (*p == q)
			strbuf_add(&sb, c);
	}
	strbuf_add(&sb, one);
	return strbuf_take(&sb);
}

static char *quote_pg(struct db *db, const char *ident)
{
	return fake_quote(db, ident, '"');
}

static char *quote_my(struct db *db, const char *ident)
{
	return fake_quote(db, ident, '`');
}

static const char *version_pg(const struct db *db)
{
	return "15.18 (Debian 15.18-0+deb12u1)";
}

static const char *version_maria(const struct db *db)
{
	return "10.11.6-MariaDB-0+deb12u1-log";
}

static const char *version_oracle(const struct db *db)
{
	return "8.0.36";
}

static const struct db_ops pg_ops = { .dialect = DB_DIALECT_POSTGRES,
				      .quote_ident = quote_pg,
				      .server_version = version_pg };
static const struct db_ops my_ops = { .dialect = DB_DIALECT_MYSQL,
				      .quote_ident = quote_my,
				      .server_version = version_maria };
static const struct db_ops oracle_ops = { .dialect = DB_DIALECT_MYSQL,
					  .quote_ident = quote_my,
					  .server_version = version_oracle };

static struct config_assign set2[] = { { "new", "old * 2" }, { "b\"x", "lower(a)" } };
static struct config_assign rb2[] = { { "new", "NULL" }, { "b\"x", "NULL" } };

static void make_config(struct config *cfg, size_t nkey)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->job = "j";
	cfg->table.schema = "app";
	cfg->table.name = "it\"ems";
	cfg->key[0] = "tenant";
	cfg->key[1] = "id";
	cfg->nkey = nkey;
	if (nkey == 1)
		cfg->key[0] = "id";
	cfg->set = set2;
	cfg->nset = 2;
	cfg->rollback_set = rb2;
	cfg->nrollback_set = 2;
	cfg->checkpoint_table.name = "backfilld_checkpoint";
}

static void test_postgres_single_key(void **state)
{
	struct db db = { &pg_ops };
	struct config cfg;
	char err[128];
	struct sql *s;
	char *q;

	make_config(&cfg, 1);
	s = sql_new(&cfg, &db, 0, err, sizeof(err));
	assert_non_null(s);
	assert_string_equal(s->table, "\"app\".\"it\"\"ems\"");
	assert_string_equal(s->table_name, "app.it\"ems");
	assert_string_equal(s->guard, "(\"new\" IS NULL AND \"b\"\"x\" IS NULL)");

	q = sql_upper_bound(s, 0, 1000);
	assert_string_equal(q, "SELECT \"id\" FROM \"app\".\"it\"\"ems\" WHERE \"id\" > $1 AND "
			       "\"id\" <= $2 ORDER BY \"id\" LIMIT 1 OFFSET 999");
	free(q);
	q = sql_upper_bound(s, 1, 1);
	assert_string_equal(q, "SELECT \"id\" FROM \"app\".\"it\"\"ems\" WHERE \"id\" <= $1 "
			       "ORDER BY \"id\" LIMIT 1 OFFSET 0");
	free(q);
	q = sql_update(s, 0);
	assert_string_equal(q, "UPDATE \"app\".\"it\"\"ems\" SET \"new\" = (old * 2), \"b\"\"x\" = "
			       "(lower(a)) WHERE \"id\" > $1 AND \"id\" <= $2 AND (\"new\" IS NULL "
			       "AND \"b\"\"x\" IS NULL)");
	free(q);
	q = sql_count(s, 1);
	assert_non_null(strstr(q, "\"new\" IS DISTINCT FROM (old * 2) OR \"b\"\"x\" IS DISTINCT "
				  "FROM (lower(a))"));
	assert_non_null(strstr(q, " WHERE \"id\" <= $1"));
	free(q);
	q = sql_high_water(s, 0);
	assert_string_equal(
		q, "SELECT \"id\" FROM \"app\".\"it\"\"ems\" ORDER BY \"id\" DESC LIMIT 1");
	free(q);
	q = sql_begin(s, 500, 30000);
	assert_string_equal(q, "BEGIN ISOLATION LEVEL READ COMMITTED; SET LOCAL lock_timeout = 500;"
			       " SET LOCAL statement_timeout = 30000");
	free(q);
	sql_free(s);
}

static void test_postgres_composite_key_and_where(void **state)
{
	struct db db = { &pg_ops };
	struct config cfg;
	char err[128];
	struct sql *s;
	char *q;

	make_config(&cfg, 2);
	cfg.where = "new IS NULL AND flag";
	s = sql_new(&cfg, &db, 0, err, sizeof(err));
	assert_non_null(s);
	q = sql_update(s, 0);
	assert_string_equal(q, "UPDATE \"app\".\"it\"\"ems\" SET \"new\" = (old * 2), \"b\"\"x\" = "
			       "(lower(a)) WHERE (\"tenant\", \"id\") > ($1, $2) AND (\"tenant\", "
			       "\"id\") <= ($3, $4) AND (new IS NULL AND flag)");
	free(q);
	q = sql_high_water(s, 0);
	assert_string_equal(q, "SELECT \"tenant\", \"id\" FROM \"app\".\"it\"\"ems\" ORDER BY "
			       "\"tenant\" DESC, \"id\" DESC LIMIT 1");
	free(q);
	sql_free(s);
}

static void test_rollback_statements(void **state)
{
	struct db db = { &pg_ops };
	struct config cfg;
	char err[128];
	struct sql *s;
	char *q;

	make_config(&cfg, 1);
	s = sql_new(&cfg, &db, 1, err, sizeof(err));
	assert_non_null(s);
	q = sql_update(s, 1);
	assert_string_equal(q,
			    "UPDATE \"app\".\"it\"\"ems\" SET \"new\" = (NULL), \"b\"\"x\" = "
			    "(NULL) WHERE \"id\" <= $1 AND (\"new\" IS NOT NULL OR \"b\"\"x\" IS "
			    "NOT NULL)");
	free(q);
	sql_free(s);
}

static void test_mysql_dialect(void **state)
{
	struct db db = { &my_ops };
	struct config cfg;
	char err[128];
	struct sql *s;
	char *q;

	make_config(&cfg, 1);
	s = sql_new(&cfg, &db, 0, err, sizeof(err));
	assert_non_null(s);
	q = sql_update(s, 0);
	assert_string_equal(q,
			    "UPDATE `app`.`it\"ems` SET `new` = (old * 2), `b\"x` = (lower(a)) "
			    "WHERE `id` > ? AND `id` <= ? AND (`new` IS NULL AND `b\"x` IS NULL)");
	free(q);
	q = sql_count(s, 0);
	assert_non_null(strstr(q, "NOT (`new` <=> (old * 2)) OR NOT (`b\"x` <=> (lower(a)))"));
	free(q);
	q = sql_begin(s, 1500, 30000);
	assert_string_equal(q, "SET SESSION innodb_lock_wait_timeout = 2;" /* rounded up */
			       " SET SESSION max_statement_time = 30.000;"
			       " SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED;"
			       " START TRANSACTION");
	free(q);
	q = checkpoint_sql_advance(s);
	assert_string_equal(q, "UPDATE `backfilld_checkpoint` SET `cursor` = ?, rows_done = "
			       "rows_done + ?, batches_done = batches_done + 1, batch_size = ?, "
			       "updated_at = NOW(6) WHERE job = ?");
	free(q);
	sql_free(s);
}

/* MySQL reads a row-value inequality as a full index scan: composite keys go out
 * in the nested OR form, and the parameters follow its placeholders. */
static void test_mysql_composite_key_expanded(void **state)
{
	struct db db = { &my_ops };
	struct config cfg;
	char err[128];
	struct sql *s;
	char *q;
	const char *cur[3] = { "c0", "c1", "c2" }, *up[3] = { "u0", "u1", "u2" };
	const char *p[SQL_MAX_RANGE_PARAMS];
	const char *want[] = { "c0", "c0", "c1", "c1", "c2", "u0", "u0", "u1", "u1", "u2" };

	make_config(&cfg, 2);
	s = sql_new(&cfg, &db, 0, err, sizeof(err));
	assert_non_null(s);
	q = sql_update(s, 0);
	assert_string_equal(q, "UPDATE `app`.`it\"ems` SET `new` = (old * 2), `b\"x` = (lower(a)) "
			       "WHERE (`tenant` > ? OR (`tenant` = ? AND `id` > ?)) AND "
			       "(`tenant` < ? OR (`tenant` = ? AND `id` <= ?)) AND "
			       "(`new` IS NULL AND `b\"x` IS NULL)");
	free(q);
	q = sql_upper_bound(s, 1, 1000);
	assert_string_equal(q, "SELECT `tenant`, `id` FROM `app`.`it\"ems` WHERE "
			       "(`tenant` < ? OR (`tenant` = ? AND `id` <= ?)) ORDER BY "
			       "`tenant`, `id` LIMIT 1 OFFSET 999");
	free(q);
	assert_int_equal(sql_range_params(s, NULL, up, p), 3);
	assert_string_equal(p[0], "u0");
	assert_string_equal(p[1], "u0");
	assert_string_equal(p[2], "u1");
	sql_free(s);

	cfg.key[2] = "ts";
	cfg.nkey = 3;
	s = sql_new(&cfg, &db, 0, err, sizeof(err));
	assert_non_null(s);
	q = sql_count(s, 0);
	assert_non_null(strstr(q, " WHERE (`tenant` > ? OR (`tenant` = ? AND (`id` > ? OR "
				  "(`id` = ? AND `ts` > ?)))) AND (`tenant` < ? OR (`tenant` = ? "
				  "AND (`id` < ? OR (`id` = ? AND `ts` <= ?))))"));
	free(q);
	assert_int_equal(sql_range_params(s, cur, up, p), 10);
	for (int i = 0; i < 10; i++)
		assert_string_equal(p[i], want[i]);
	sql_free(s);

	/* PostgreSQL keeps the row value, which its planner reads as an index range */
	db.ops = &pg_ops;
	s = sql_new(&cfg, &db, 0, err, sizeof(err));
	assert_non_null(s);
	assert_int_equal(sql_range_params(s, cur, up, p), 6);
	assert_string_equal(p[2], "c2");
	assert_string_equal(p[3], "u0");
	sql_free(s);
}

static void test_mysql_statement_timeout_on_oracle(void **state)
{
	struct db db = { &oracle_ops };
	struct config cfg;
	char err[128];
	struct sql *s;
	char *q;

	make_config(&cfg, 1);
	s = sql_new(&cfg, &db, 0, err, sizeof(err));
	assert_non_null(s);
	assert_false(s->mariadb);
	q = sql_begin(s, 500, 30000);
	assert_non_null(strstr(q, "innodb_lock_wait_timeout = 1;"));
	assert_non_null(strstr(q, "max_execution_time = 30000;"));
	assert_null(strstr(q, "max_statement_time"));
	free(q);
	sql_free(s);
}

/* The lag without replicas: SHOW REPLICA STATUS where MySQL has it (8.0.22 on; 8.4
 * dropped SHOW SLAVE STATUS), SHOW SLAVE STATUS before and on MariaDB. */
static void test_lag_fallback_by_server(void **state)
{
	(void)state;
	assert_non_null(
		strstr(sql_lag_fallback(DB_DIALECT_POSTGRES, "15.18"), "pg_stat_replication"));
	assert_string_equal(sql_lag_fallback(DB_DIALECT_MYSQL, "10.11.19-MariaDB-0+deb12u1"),
			    "SHOW SLAVE STATUS");
	assert_string_equal(sql_lag_fallback(DB_DIALECT_MYSQL, "11.4.2-MariaDB"),
			    "SHOW SLAVE STATUS");
	assert_string_equal(sql_lag_fallback(DB_DIALECT_MYSQL, "5.7.44-log"), "SHOW SLAVE STATUS");
	assert_string_equal(sql_lag_fallback(DB_DIALECT_MYSQL, "8.0.21"), "SHOW SLAVE STATUS");
	assert_string_equal(sql_lag_fallback(DB_DIALECT_MYSQL, "8.0.22"), "SHOW REPLICA STATUS");
	assert_string_equal(sql_lag_fallback(DB_DIALECT_MYSQL, "8.0.36-0ubuntu0.22.04.1"),
			    "SHOW REPLICA STATUS");
	assert_string_equal(sql_lag_fallback(DB_DIALECT_MYSQL, "8.4.0"), "SHOW REPLICA STATUS");
	assert_string_equal(sql_lag_fallback(DB_DIALECT_MYSQL, "9.1.0"), "SHOW REPLICA STATUS");
	assert_string_equal(sql_lag_fallback(DB_DIALECT_MYSQL, ""), "SHOW SLAVE STATUS");
}

static void test_lock_waits_by_server(void **state)
{
	const char *pg = sql_lock_waits(DB_DIALECT_POSTGRES, "15.18 (Debian 15.18-0+deb12u1)");
	const char *maria = sql_lock_waits(DB_DIALECT_MYSQL, "10.11.19-MariaDB-0+deb12u1");
	const char *my57 = sql_lock_waits(DB_DIALECT_MYSQL, "5.7.44-log");
	const char *my8 = sql_lock_waits(DB_DIALECT_MYSQL, "8.0.40");

	/* who waits behind the batch's session: PostgreSQL, MariaDB and MySQL 5.7 */
	assert_non_null(strstr(pg, "pg_blocking_pids"));
	assert_non_null(strstr(maria, "INNODB_LOCK_WAITS"));
	assert_non_null(strstr(maria, "blocking_trx_id"));
	assert_string_equal(my57, maria);
	/* and who else runs a statement at all: a quiet start ends its presumption */
	assert_non_null(strstr(pg, "state = 'active'"));
	assert_non_null(strstr(pg, "current_database()"));
	assert_non_null(strstr(maria, "PROCESSLIST"));
	assert_non_null(strstr(maria, "CONNECTION_ID()"));
	assert_non_null(strstr(maria, "p.DB = DATABASE()"));
	/* MySQL 8 has no INNODB_LOCK_WAITS: only the count, one column */
	assert_null(strstr(my8, "INNODB_LOCK_WAITS"));
	assert_non_null(strstr(my8, "LOCK WAIT"));
	assert_null(strstr(my8, ","));
	/* one parameter each: the batch's session */
	assert_null(strstr(maria + (strchr(maria, '?') - maria) + 1, "?"));
	assert_null(strstr(my8 + (strchr(my8, '?') - my8) + 1, "?"));
}

static void test_checkpoint_statements(void **state)
{
	struct db db = { &pg_ops };
	struct config cfg;
	char err[128];
	struct sql *s;
	char *q;

	make_config(&cfg, 1);
	cfg.checkpoint_table.schema = "ops";
	s = sql_new(&cfg, &db, 0, err, sizeof(err));
	assert_non_null(s);
	q = checkpoint_sql_create(s);
	assert_non_null(strstr(q, "CREATE TABLE IF NOT EXISTS \"ops\".\"backfilld_checkpoint\" ("));
	assert_non_null(strstr(q, "\"cursor\" jsonb"));
	free(q);
	q = checkpoint_sql_advance(s);
	assert_string_equal(q, "UPDATE \"ops\".\"backfilld_checkpoint\" SET \"cursor\" = $1::jsonb,"
			       " rows_done = rows_done + $2, batches_done = batches_done + 1,"
			       " batch_size = $3, updated_at = now() WHERE job = $4");
	free(q);
	sql_free(s);
}

static void test_checkpoint_row_parse(void **state)
{
	char *vals[7] = { "running", "[17]", "[99]", "1234", "5", "abcdef0123456789", NULL };
	size_t lens[7];
	struct db_result res = { 0 };
	struct checkpoint_row row;

	for (int i = 0; i < 7; i++)
		lens[i] = vals[i] ? strlen(vals[i]) : 0;
	assert_int_equal(db_result_alloc(&res, 1, 7, lens, vals), 0);
	assert_int_equal(checkpoint_row_parse(&res, &row), 0);
	assert_string_equal(row.state, "running");
	assert_string_equal(row.cursor, "[17]");
	assert_string_equal(row.high_water, "[99]");
	assert_int_equal(row.rows_done, 1234);
	assert_int_equal(row.batches_done, 5);
	assert_string_equal(row.config_hash, "abcdef0123456789");
	assert_null(row.owner);
	checkpoint_row_clear(&row);
	db_result_clear(&res);
	/* no row */
	assert_int_equal(checkpoint_row_parse(&res, &row), -2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_postgres_single_key),
		cmocka_unit_test(test_postgres_composite_key_and_where),
		cmocka_unit_test(test_mysql_composite_key_expanded),
		cmocka_unit_test(test_rollback_statements),
		cmocka_unit_test(test_mysql_dialect),
		cmocka_unit_test(test_mysql_statement_timeout_on_oracle),
		cmocka_unit_test(test_lag_fallback_by_server),
		cmocka_unit_test(test_lock_waits_by_server),
		cmocka_unit_test(test_checkpoint_statements),
		cmocka_unit_test(test_checkpoint_row_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

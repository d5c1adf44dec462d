/* sql.h - every statement backfilld sends, built in one place.
 *
 * Identifiers are quoted by the driver; values travel as parameters ($n / ?), each
 * placeholder used once and numbered in the order the caller passes values. The
 * user's `set` expressions and `where` guard are SQL by design and are the only
 * text taken from the configuration. */
#ifndef BACKFILLD_SQL_H
#define BACKFILLD_SQL_H

#include <stddef.h>
#include <stdint.h>

#include "backfilld/config.h"
#include "backfilld/db.h"

struct sql {
	enum db_dialect dialect;
	int mariadb; /* MySQL dialect on MariaDB: max_statement_time, not max_execution_time */
	size_t nkey;
	char *table;	  /* quoted, schema-qualified when configured */
	char *table_name; /* schema.name as the catalog spells it, for messages */
	char *schema;	  /* the configured schema, NULL when none; unquoted */
	char *name;	  /* the table's name, unquoted */
	char *ckpt;	  /* checkpoint table, quoted */
	char *keys;	  /* "k1", "k2" */
	char *keys_desc;  /* "k1" DESC, "k2" DESC */
	char *guard;	  /* (where) or the default: every set column IS NULL */
	char *set_list;	  /* "c" = (expr), … */
	char *diff;	  /* a set column differs from its expression, NULL-safe */
	char *quoted_key[CONFIG_MAX_KEY_PARTS];
};

/* The throttle's heartbeat table, in the checkpoint table's schema. */
#define SQL_HEARTBEAT_TABLE "backfilld_heartbeat"

/* schema.name (or name when schema is NULL), each quoted by db; malloc'd, NULL on
 * failure. */
char *sql_quoted_name(struct db *db, const char *schema, const char *name);

/* Builds the fragments for cfg, quoting with db (connected). With rollback set,
 * the statements are those of the inverse job: rollback.set, guarded by "some set
 * column IS NOT NULL". NULL with err filled on failure. */
struct sql *sql_new(const struct config *cfg, struct db *db, int rollback, char *err,
		    size_t errlen);
void sql_free(struct sql *s);

/* Most placeholders a key range statement takes (see sql_range_params): two
 * comparisons of at most 2n - 1 each, n key parts. */
#define SQL_MAX_RANGE_PARAMS (4 * CONFIG_MAX_KEY_PARTS)

/* The parameters of a statement over the key range (cursor, bound], in placeholder
 * order, into out (SQL_MAX_RANGE_PARAMS entries): cursor's parts unless cursor is
 * NULL (the first batch), then bound's; a NULL bound gives NULL parameters. On
 * MySQL a composite key is compared in an expanded OR form that names a part more
 * than once, so callers never lay these out themselves. Returns the count. */
int sql_range_params(const struct sql *s, const char *const *cursor, const char *const *bound,
		     const char **out);

/* The parameters that name the job's table in a catalog read (sql_columns,
 * sql_estimate, sql_check_*): PostgreSQL the quoted name, MySQL its schema (NULL:
 * the connection's database) and name. Returns how many (at most 2). */
int sql_table_params(const struct sql *s, const char **params);

/* The table's columns: (name, is_numeric, not_null, default or NULL) rows, none
 * when the table is missing. Parameters: sql_table_params(). */
const char *sql_columns(const struct sql *s);

/* SELECT key FROM t ORDER BY key DESC LIMIT 1 (ASC with lowest) */
char *sql_high_water(const struct sql *s, int lowest);

/* The batch's upper bound: the n-th key after the cursor, not beyond high_water.
 * Parameters: sql_range_params(cursor unless first, high_water). */
char *sql_upper_bound(const struct sql *s, int first, int64_t n);

/* UPDATE t SET … WHERE key > cursor AND key <= upper AND (guard).
 * Parameters: sql_range_params(cursor unless first, upper). */
char *sql_update(const struct sql *s, int first);

/* SELECT pending, diverged, rows over (cursor, upper]; same parameters. */
char *sql_count(const struct sql *s, int first);

/* The first limit keys over (cursor, upper] that verify counts as pending (or,
 * with diverged, as diverged), in key order; parameters as sql_count(). */
char *sql_sample(const struct sql *s, int first, int diverged, int64_t limit);

/* Makes the session read only: verify never writes. */
const char *sql_read_only(const struct sql *s);

/* BEGIN with this batch's timeouts (several statements, no parameters). */
char *sql_begin(const struct sql *s, int64_t lock_timeout_ms, int64_t statement_timeout_ms);

/* Estimated rows of the table (planner statistics); one row, one value. */
const char *sql_estimate(const struct sql *s);

/* The statement tmpl with its one "%s" replaced by table (quoted); NULL when tmpl
 * has none or on allocation failure. */
char *sql_with_table(const char *tmpl, const char *table);

/* The throttle's statements (table: the heartbeat table, quoted). */
char *sql_heartbeat_create(enum db_dialect d, const char *table);
/* params: job, microseconds */
char *sql_heartbeat_write(enum db_dialect d, const char *table);
/* params: job; one row, the microseconds */
char *sql_heartbeat_read(enum db_dialect d, const char *table);
/* Sessions waiting on a lock, but session $1 (ours); one row: the count, how many
 * of them wait behind session $1, and how many other sessions are running a
 * statement in this database (MariaDB: also those with none), the probe's own and session $1
 * left out (PostgreSQL, MariaDB, MySQL 5.7; on MySQL 8, whose server has no
 * INNODB_LOCK_WAITS, only the count). */
const char *sql_lock_waits(enum db_dialect d, const char *server_version);
/* Active client sessions but ours (this one and session $1); one row, one count. */
const char *sql_active(enum db_dialect d);
/* Replication lag without replicas configured: PostgreSQL: (replicas, lag ms,
 * bytes) from pg_stat_replication; MySQL: SHOW REPLICA STATUS from 8.0.22 on,
 * else (and on MariaDB) SHOW SLAVE STATUS. No parameters. */
const char *sql_lag_fallback(enum db_dialect d, const char *server_version);

/* The names of every table of every user schema (one column); no parameters. */
const char *sql_check_tables(const struct sql *s);
/* The preflight's catalog reads of the job's table; parameters: sql_table_params().
 * schema: one row, the schema the table is in (or would be, on MySQL);
 * unique: (index, column) of every full unique index, columns in index order;
 * triggers: (name, event). */
const char *sql_check_schema(const struct sql *s);
const char *sql_check_unique(const struct sql *s);
const char *sql_check_triggers(const struct sql *s);
/* Whether a table exists and this user may create one beside it: one row
 * (exists, may_create). PostgreSQL: $1 quoted table, $2 schema or NULL;
 * MySQL: schema or NULL, name, schema or NULL. */
const char *sql_check_table(const struct sql *s);
/* 1 when this user sees every session's wait and state (PostgreSQL:
 * pg_read_all_stats or superuser), which the lock-wait and active throttles read. */
const char *sql_check_stats_visible(const struct sql *s);
/* EXPLAIN of stmt: FORMAT JSON on PostgreSQL, the classic table on MySQL. */
char *sql_explain(const struct sql *s, const char *stmt);

#endif

/* check.c - `backfilld check`: the preflight.
 *
 * Reads the catalog, EXPLAINs the real first batch and the statements the daemon
 * will send, connects to every replica, and reports red flags before a job starts:
 * ERROR (the job would fail, skip rows, clobber them or scan the whole table per
 * batch; exit 3) or WARN (worth a look). It writes nothing: no checkpoint table,
 * no heartbeat, no row. One short query at a time, on a loop of its own. */
#include "backfilld/check.h"
#include "backfilld/checkpoint.h"
#include "backfilld/config.h"
#include "backfilld/db.h"
#include "backfilld/json.h"
#include "backfilld/sql.h"
#include "backfilld/strbuf.h"

#include <ctype.h>
#include <ev.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_FINDINGS 64
#define NST 4 /* statements explained: bound, update, bound_next, update_next */

struct finding {
	int error;
	char code[32];
	char msg[640];
};

struct statement {
	const char *name;
	char *sql;
	int explained;
	int index_range;
	char access[256];
};

struct check {
	struct ev_loop *loop;
	const struct config *cfg;
	struct db *db;
	struct db **replica; /* one per throttle.replicas entry; NULL: out of memory */
	struct sql *sql;
	int pg;
	int columns_ok;
	struct finding f[MAX_FINDINGS];
	int nf, nerr, nwarn;
	int numeric[CONFIG_MAX_KEY_PARTS];
	int64_t estimate;
	char *lo_json, *hi_json;
	char *hi[CONFIG_MAX_KEY_PARTS];
	struct statement st[NST];
	char table[600]; /* schema.name, the schema resolved where the job left it out */
	char keys[512];	 /* the key's columns, "a, b", for messages */
};

static void flag(struct check *c, int error, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void flag(struct check *c, int error, const char *code, const char *fmt, ...)
{
	struct finding *f;
	va_list ap;

	if (error)
		c->nerr++;
	else
		c->nwarn++;
	if (c->nf == MAX_FINDINGS)
		return;
	f = &c->f[c->nf++];
	f->error = error;
	snprintf(f->code, sizeof(f->code), "%s", code);
	va_start(ap, fmt);
	vsnprintf(f->msg, sizeof(f->msg), fmt, ap);
	va_end(ap);
}

/* --- one query at a time ----------------------------------------------------------- */

struct waiter {
	int done;
	struct db_result *out;
};

static void waiter_cb(const struct db_result *r, void *arg)
{
	struct waiter *w = arg;
	struct db_result *o = w->out;
	size_t n = (size_t)r->nrows * (size_t)r->ncols;
	size_t *lens = calloc(n ? n : 1, sizeof(*lens));

	w->done = 1;
	o->error = r->error;
	o->affected = r->affected;
	memcpy(o->sqlstate, r->sqlstate, sizeof(o->sqlstate));
	memcpy(o->message, r->message, sizeof(o->message));
	for (size_t i = 0; lens && i < n; i++)
		lens[i] = r->values[i] ? strlen(r->values[i]) : 0;
	if (!lens || db_result_alloc(o, r->nrows, r->ncols, lens, r->values) < 0 ||
	    (r->names && db_result_set_names(o, r->names) < 0)) {
		db_result_clear(o);
		o->error = DB_ERR_OTHER;
		snprintf(o->message, sizeof(o->message), "out of memory");
	}
	free(lens);
}

static void wait_for(struct check *c, struct waiter *w)
{
	while (!w->done)
		ev_run(c->loop, EVRUN_ONCE);
}

/* Runs sql on db and waits; 0 when it succeeded. out is always filled. */
static int run(struct check *c, struct db *db, const char *sql, int n, const char *const *params,
	       struct db_result *out)
{
	struct waiter w = { 0, out };

	memset(out, 0, sizeof(*out));
	if (!sql || db_query(db, sql, n, params, waiter_cb, &w) < 0) {
		out->error = DB_ERR_OTHER;
		snprintf(out->message, sizeof(out->message), "out of memory");
		return -1;
	}
	wait_for(c, &w);
	return out->error == DB_OK ? 0 : -1;
}

/* A statement whose result does not matter, on the job's connection: 0 or -1. */
static int run_setting(struct check *c, const char *sql)
{
	struct db_result r;
	int rc = run(c, c->db, sql, 0, NULL, &r);

	db_result_clear(&r);
	return rc;
}

static int connect_wait(struct check *c, struct db *db, struct db_result *out)
{
	struct waiter w = { 0, out };

	memset(out, 0, sizeof(*out));
	if (db_connect(db, waiter_cb, &w) < 0) {
		out->error = DB_ERR_OTHER;
		snprintf(out->message, sizeof(out->message), "cannot start connecting");
		return -1;
	}
	wait_for(c, &w);
	return out->error == DB_OK ? 0 : -1;
}

static struct db *new_db(struct check *c, const struct config_conn *conn)
{
	char app[160];

	if (!c->pg)
		return db_new_mysql(c->loop, conn);
	snprintf(app, sizeof(app), "backfilld check %s", c->cfg->job);
	return db_new_postgres(c->loop, conn, app);
}

static int denied(const struct db_result *r)
{
	return strcmp(r->sqlstate, "42501") == 0 || strstr(r->message, "denied") ||
	       strstr(r->message, "permission");
}

/* --- the table ------------------------------------------------------------------- */

static void resolve_table(struct check *c)
{
	const char *p[2];
	struct db_result r;
	int n = sql_table_params(c->sql, p);

	snprintf(c->table, sizeof(c->table), "%s", c->sql->table_name);
	if (c->cfg->table.schema)
		return;
	if (run(c, c->db, sql_check_schema(c->sql), n, p, &r) == 0 && r.nrows > 0 &&
	    db_value(&r, 0, 0))
		snprintf(c->table, sizeof(c->table), "%s.%s", db_value(&r, 0, 0),
			 c->cfg->table.name);
	db_result_clear(&r);
}

static int is_null_default(const char *d)
{
	return !d || strcasecmp(d, "NULL") == 0 || strncasecmp(d, "NULL::", 6) == 0;
}

static int find_row(const struct db_result *r, const char *name)
{
	for (int i = 0; i < r->nrows; i++)
		if (db_value(r, i, 0) && strcmp(db_value(r, i, 0), name) == 0)
			return i;
	return -1;
}

static void check_columns(struct check *c)
{
	const struct config *cfg = c->cfg;
	const char *p[2];
	struct db_result r;
	int n = sql_table_params(c->sql, p);

	c->columns_ok = 0;
	if (run(c, c->db, sql_columns(c->sql), n, p, &r) < 0) {
		flag(c, 1, "privilege", "cannot read the columns of table %s: %s", c->table,
		     r.message);
		db_result_clear(&r);
		return;
	}
	if (r.nrows == 0) {
		flag(c, 1, "table-missing", "table %s not found (or not visible to this user)",
		     c->table);
		db_result_clear(&r);
		return;
	}
	c->columns_ok = 1;
	for (size_t i = 0; i < cfg->nkey; i++) {
		int row = find_row(&r, cfg->key[i]);

		if (row < 0) {
			flag(c, 1, "column-missing", "key column %s not found in table %s",
			     cfg->key[i], c->table);
			c->columns_ok = 0;
			continue;
		}
		c->numeric[i] = strcmp(db_value(&r, row, 1), "1") == 0;
		if (strcmp(db_value(&r, row, 2), "1") != 0)
			flag(c, 1, "key-not-unique",
			     "key column %s is nullable: rows where it is NULL are never reached "
			     "by a keyset walk",
			     cfg->key[i]);
	}
	for (size_t i = 0; i < cfg->nset; i++) {
		const char *col = cfg->set[i].column, *def;
		int row = find_row(&r, col);

		if (row < 0) {
			flag(c, 1, "column-missing", "set column %s not found in table %s", col,
			     c->table);
			c->columns_ok = 0;
			continue;
		}
		if (strcmp(db_value(&r, row, 2), "1") == 0)
			flag(c, 1, "set-not-null",
			     "set column %s is NOT NULL: the expand step adds it nullable, and a "
			     "guard on IS NULL matches no row",
			     col);
		def = db_value(&r, row, 3);
		if (!is_null_default(def))
			flag(c, 1, "set-default",
			     "set column %s has the default %s: existing rows already hold it, so "
			     "a guard on IS NULL skips them (or a guard without it clobbers what "
			     "the application wrote); add the column without a default, backfill, "
			     "then set the default",
			     col, def);
	}
	db_result_clear(&r);
}

/* A unique index whose columns are all key columns makes the key unique. */
static void check_unique(struct check *c)
{
	const struct config *cfg = c->cfg;
	const char *p[2];
	struct db_result r;
	int n = sql_table_params(c->sql, p), found = 0;

	if (run(c, c->db, sql_check_unique(c->sql), n, p, &r) < 0) {
		flag(c, 1, "privilege", "cannot read the indexes of table %s: %s", c->table,
		     r.message);
		db_result_clear(&r);
		return;
	}
	for (int i = 0; i < r.nrows && !found;) {
		const char *index = db_value(&r, i, 0);
		int covered = 1, j = i;

		for (; j < r.nrows && strcmp(db_value(&r, j, 0), index) == 0; j++) {
			int in_key = 0;

			for (size_t k = 0; k < cfg->nkey; k++)
				in_key |= strcmp(db_value(&r, j, 1), cfg->key[k]) == 0;
			covered &= in_key;
		}
		found = covered;
		i = j;
	}
	db_result_clear(&r);
	if (found)
		return;
	flag(c, 1, "key-not-unique",
	     "no primary key or unique index of table %s lies within the key (%s): batches "
	     "bounded on a duplicated key grow without limit",
	     c->table, c->keys);
}

/* A word of text, case-insensitive, not part of a longer identifier. */
static int mentions(const char *text, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = text; (p = strcasestr(p, word)) != NULL; p++) {
		int before = p > text && (isalnum((unsigned char)p[-1]) || p[-1] == '_');
		int after = isalnum((unsigned char)p[n]) || p[n] == '_';

		if (!before && !after)
			return 1;
	}
	return 0;
}

static void check_guard(struct check *c)
{
	const struct config *cfg = c->cfg;

	if (!cfg->where)
		return;
	for (size_t i = 0; i < cfg->nset; i++)
		if (mentions(cfg->where, cfg->set[i].column))
			return;
	flag(c, 0, "guard-not-idempotent",
	     "the where guard \"%s\" mentions no set column: a row it matches stays matched "
	     "after its update, so a rerun (or --reset) writes it again and verify cannot "
	     "tell pending from done",
	     cfg->where);
}

static void check_triggers(struct check *c)
{
	const char *p[2];
	struct db_result r;
	int n = sql_table_params(c->sql, p);

	if (run(c, c->db, sql_check_triggers(c->sql), n, p, &r) < 0) {
		flag(c, 0, "trigger", "cannot list the triggers of table %s: %s", c->table,
		     r.message);
		db_result_clear(&r);
		return;
	}
	for (int i = 0; i < r.nrows; i++)
		flag(c, 0, "trigger", "table %s has trigger %s (%s): %s", c->table,
		     db_value(&r, i, 0), db_value(&r, i, 1),
		     strstr(db_value(&r, i, 1), "UPDATE") == db_value(&r, i, 1)
			     ? "it fires for every row each batch updates, inside the batch's "
			       "transaction"
			     : "it does not fire on UPDATE, but check what it does");
	db_result_clear(&r);
}

/* --- the range and the plan --------------------------------------------------------- */

static char *key_json_row(const struct check *c, const struct db_result *r)
{
	char *parts[CONFIG_MAX_KEY_PARTS];

	for (size_t i = 0; i < c->cfg->nkey; i++) {
		parts[i] = (char *)db_value(r, 0, (int)i);
		if (!parts[i])
			return NULL;
	}
	return json_encode_key(parts, c->numeric, c->cfg->nkey);
}

static void read_range(struct check *c)
{
	struct db_result r;
	char *q;
	const char *p[2];
	int n = sql_table_params(c->sql, p);

	if (run(c, c->db, sql_estimate(c->sql), n, p, &r) == 0 && r.nrows > 0 && db_value(&r, 0, 0))
		c->estimate = strtoll(db_value(&r, 0, 0), NULL, 10);
	db_result_clear(&r);

	q = sql_high_water(c->sql, 1);
	if (run(c, c->db, q, 0, NULL, &r) == 0 && r.nrows > 0)
		c->lo_json = key_json_row(c, &r);
	free(q);
	db_result_clear(&r);
	q = sql_high_water(c->sql, 0);
	if (run(c, c->db, q, 0, NULL, &r) == 0 && r.nrows > 0) {
		c->hi_json = key_json_row(c, &r);
		for (size_t i = 0; i < c->cfg->nkey; i++)
			c->hi[i] = db_value(&r, 0, (int)i) ? strdup(db_value(&r, 0, (int)i)) : NULL;
	} else if (r.error != DB_OK) {
		flag(c, 1, "expression-error", "cannot read the key range of table %s: %s",
		     c->table, r.message);
	}
	free(q);
	db_result_clear(&r);
}

/* The text of JSON member key after from, up to end; "" when absent. */
static void json_member(const char *from, const char *end, const char *key, char *out, size_t len)
{
	char pat[64];
	const char *p;
	size_t o = 0;

	out[0] = '\0';
	snprintf(pat, sizeof(pat), "\"%s\": \"", key);
	p = strstr(from, pat);
	if (!p || (end && p >= end))
		return;
	for (p += strlen(pat); *p && *p != '"' && o + 1 < len; p++) {
		if (*p == '\\' && p[1])
			p++;
		out[o++] = *p;
	}
	out[o] = '\0';
}

static void add_other(struct strbuf *others, const char *name)
{
	if (!name[0] || (others->buf && mentions(others->buf, name)))
		return;
	strbuf_addf(others, "%s%s", others->len ? ", " : "", name);
}

/* PostgreSQL's plan: the table is read through an index condition on the first key
 * column and never sequentially; other relations go into others. */
static void pg_plan(const struct check *c, const char *plan, struct statement *st,
		    struct strbuf *others)
{
	static const char node[] = "\"Node Type\": \"";
	int seq = 0, idx = 0, sort = 0;
	size_t o = 0, k = 0;
	char key[2 * CONFIG_MAX_IDENT + 1]; /* as conditions print it: a " doubled */

	for (const char *q = c->cfg->key[0]; *q && k + 2 < sizeof(key); q++) {
		if (*q == '"')
			key[k++] = '"';
		key[k++] = *q;
	}
	key[k] = '\0';
	st->access[0] = '\0';
	for (const char *p = strstr(plan, node); p;) {
		const char *next = strstr(p + 1, node);
		char type[64], rel[256], index[256], cond[1024];

		json_member(p, next, "Node Type", type, sizeof(type));
		json_member(p, next, "Relation Name", rel, sizeof(rel));
		json_member(p, next, "Index Name", index, sizeof(index));
		json_member(p, next, "Index Cond", cond, sizeof(cond));
		if (rel[0] && strcmp(rel, c->cfg->table.name) != 0)
			add_other(others, rel);
		if (strcmp(type, "Seq Scan") == 0 && strcmp(rel, c->cfg->table.name) == 0)
			seq = 1;
		/* an index whose leading columns are not the key, read whole and sorted */
		if (strcmp(type, "Sort") == 0 || strcmp(type, "Incremental Sort") == 0)
			sort = 1;
		if (strstr(type, "Index") && cond[0] && mentions(cond, key))
			idx = 1;
		if (strstr(type, "Scan") && o < sizeof(st->access))
			o += (size_t)snprintf(st->access + o, sizeof(st->access) - o,
					      "%s%s%s%s%s%s", o ? "; " : "", type,
					      index[0] ? " using " : "", index,
					      rel[0] ? " on " : "", rel);
		p = next;
	}
	st->index_range = idx && !seq && !sort;
}

/* MySQL's plan: one row per table read; ours by a range on an index. */
static void my_plan(const struct check *c, const struct db_result *r, struct statement *st,
		    struct strbuf *others)
{
	int ct = db_column(r, "table"), ty = db_column(r, "type"), ck = db_column(r, "key");
	int cx = db_column(r, "Extra");
	int ours = 0, range = 1;
	size_t o = 0;

	st->access[0] = '\0';
	for (int i = 0; ct >= 0 && ty >= 0 && ck >= 0 && i < r->nrows; i++) {
		const char *t = db_value(r, i, ct), *type = db_value(r, i, ty);
		const char *key = db_value(r, i, ck);

		if (!t || t[0] == '<')
			continue; /* <derived2>, <subquery3>: made of the rows below */
		if (o < sizeof(st->access))
			o += (size_t)snprintf(st->access + o, sizeof(st->access) - o,
					      "%s%s on %s%s%s", o ? "; " : "", type ? type : "?", t,
					      key ? " using " : "", key ? key : "");
		if (strcmp(t, c->cfg->table.name) != 0) {
			add_other(others, t);
			continue;
		}
		ours = 1;
		if (!type || !key || strcmp(type, "range") != 0 ||
		    (cx >= 0 && db_value(r, i, cx) && strstr(db_value(r, i, cx), "filesort")))
			range = 0;
	}
	st->index_range = ours && range;
}

static void explain(struct check *c, struct statement *st, int n, const char *const *p,
		    struct strbuf *others, struct db_result *r)
{
	char *q = sql_explain(c->sql, st->sql);

	if (run(c, c->db, q, n, p, r) == 0) {
		st->explained = 1;
		if (c->pg)
			pg_plan(c, r->nrows > 0 && db_value(r, 0, 0) ? db_value(r, 0, 0) : "", st,
				others);
		else
			my_plan(c, r, st, others);
	}
	free(q);
}

/* MySQL's plan names a table by its alias: look for the tables that the
 * expressions and the guard spell out instead, keeping the aliases if none. */
static void name_others(struct check *c, struct strbuf *others)
{
	const struct config *cfg = c->cfg;
	struct strbuf names;
	struct db_result r;

	if (run(c, c->db, sql_check_tables(c->sql), 0, NULL, &r) < 0) {
		db_result_clear(&r);
		return;
	}
	strbuf_init(&names);
	for (int i = 0; i < r.nrows; i++) {
		const char *t = db_value(&r, i, 0);
		int used = cfg->where && mentions(cfg->where, t);

		if (!t || strcmp(t, cfg->table.name) == 0)
			continue;
		for (size_t k = 0; k < cfg->nset && !used; k++)
			used = mentions(cfg->set[k].expr, t);
		if (used)
			add_other(&names, t);
	}
	db_result_clear(&r);
	if (names.len && !names.oom) {
		strbuf_free(others);
		*others = names;
		return;
	}
	strbuf_free(&names);
}

/* The key of row 0 of r, or copies of fallback when r has no row. */
static void take_key(const struct check *c, const struct db_result *r, char *const *fallback,
		     char **out)
{
	for (size_t i = 0; i < c->cfg->nkey; i++) {
		const char *v = r->nrows > 0 ? db_value(r, 0, (int)i) : fallback[i];

		out[i] = v ? strdup(v) : NULL;
	}
}

/* EXPLAINs the statements of the first two batches as the daemon would send them:
 * the first has only an upper bound, every later one a cursor too. */
static void check_statements(struct check *c)
{
	const struct config *cfg = c->cfg;
	const char *p[SQL_MAX_RANGE_PARAMS];
	const char *nulls[CONFIG_MAX_KEY_PARTS] = { 0 };
	char *up1[CONFIG_MAX_KEY_PARTS] = { 0 }, *up2[CONFIG_MAX_KEY_PARTS] = { 0 };
	/* per statement: cursor (NULL: first batch) and bound */
	const char *const *from[NST];
	const char *const *to[NST];
	struct strbuf others;
	struct db_result r;
	int n, worst = -1, failed = 0, one_batch;

	strbuf_init(&others);
	c->st[0] = (struct statement){ .name = "bound",
				       .sql = sql_upper_bound(c->sql, 1, cfg->batch.size) };
	c->st[1] = (struct statement){ .name = "update", .sql = sql_update(c->sql, 1) };
	c->st[2] = (struct statement){ .name = "bound_next",
				       .sql = sql_upper_bound(c->sql, 0, cfg->batch.size) };
	c->st[3] = (struct statement){ .name = "update_next", .sql = sql_update(c->sql, 0) };

	if (!c->hi_json) {
		/* an empty table: the expressions must still resolve */
		n = sql_range_params(c->sql, NULL, nulls, p);
		explain(c, &c->st[1], n, p, &others, &r);
		if (!c->st[1].explained)
			flag(c, 1, denied(&r) ? "privilege" : "expression-error",
			     "the batch UPDATE does not resolve: %s", r.message);
		db_result_clear(&r);
		strbuf_free(&others);
		return;
	}
	/* the two batches' upper bounds, read for real */
	n = sql_range_params(c->sql, NULL, (const char *const *)c->hi, p);
	run(c, c->db, c->st[0].sql, n, p, &r);
	take_key(c, &r, c->hi, up1);
	db_result_clear(&r);
	n = sql_range_params(c->sql, (const char *const *)up1, (const char *const *)c->hi, p);
	run(c, c->db, c->st[2].sql, n, p, &r);
	take_key(c, &r, c->hi, up2);
	db_result_clear(&r);
	/* the first batch reaches high_water: no batch has a cursor, and the range of
	 * a second one would be empty, which MariaDB's EXPLAIN answers as "Impossible
	 * WHERE" with no access path at all */
	one_batch = 1;
	for (size_t i = 0; i < cfg->nkey; i++)
		if (!up1[i] || !c->hi[i] || strcmp(up1[i], c->hi[i]) != 0)
			one_batch = 0;

	from[0] = NULL;
	to[0] = (const char *const *)c->hi;
	from[1] = NULL;
	to[1] = (const char *const *)up1;
	from[2] = (const char *const *)up1;
	to[2] = (const char *const *)c->hi;
	from[3] = (const char *const *)up1;
	to[3] = (const char *const *)up2;
	for (int i = 0; i < NST; i++) {
		if (one_batch && from[i])
			continue; /* a later batch's statement: there is none */
		n = sql_range_params(c->sql, from[i], to[i], p);
		explain(c, &c->st[i], n, p, &others, &r);
		if (!c->st[i].explained && (i == 1 || i == 3) && !failed++)
			flag(c, 1, denied(&r) ? "privilege" : "expression-error",
			     "the batch UPDATE on %s %s: %s", c->table,
			     denied(&r) ? "is not allowed"
					: "does not resolve (set expressions, where guard)",
			     r.message);
		db_result_clear(&r);
		if (c->st[i].explained && !c->st[i].index_range && worst < 0)
			worst = i;
	}

	if (worst >= 0) {
		int usable = 0;

		/* PostgreSQL prefers a sequential scan, or a bitmap scan and a sort, when
		 * a batch covers much of a small table or one never analysed (no
		 * correlation known): ask whether the index could serve, in key order */
		if (c->pg) {
			struct db_result r2;

			usable = run_setting(c, "SET enable_seqscan = off") == 0 &&
				 run_setting(c, "SET enable_bitmapscan = off") == 0;
			for (int i = 0; usable && i < NST; i++) {
				struct statement probe = c->st[i];

				if (!probe.explained)
					continue;
				n = sql_range_params(c->sql, from[i], to[i], p);
				explain(c, &probe, n, p, &others, &r2);
				db_result_clear(&r2);
				usable &= probe.index_range;
			}
			if (run_setting(c, "RESET enable_seqscan") < 0 ||
			    run_setting(c, "RESET enable_bitmapscan") < 0)
				usable = 0;
		}
		db_result_clear(&r);
		if (usable)
			flag(c, 0, "seq-scan-chosen",
			     "the planner reads %s by %s for the %s statement, though the key's "
			     "index can serve it in key order: fine for a small table, a scan of "
			     "the whole range per batch on a large one (ANALYZE it if it never was)",
			     c->table, c->st[worst].access, c->st[worst].name);
		else
			flag(c, 1, "no-index-range",
			     "the %s statement does not read %s by an index range on the key (%s): "
			     "every batch would scan the table; the key needs an index whose "
			     "leading columns are the key, in order",
			     c->st[worst].name, c->table, c->st[worst].access);
	}
	if (others.len && !c->pg)
		name_others(c, &others);
	if (others.len)
		flag(c, 0, "other-tables",
		     "the set expressions or the guard read other tables (%s): each batch "
		     "locks or waits on them too, and the backfill depends on their content",
		     others.buf);
	strbuf_free(&others);
	for (size_t i = 0; i < cfg->nkey; i++) {
		free(up1[i]);
		free(up2[i]);
	}
}

/* --- privileges ---------------------------------------------------------------------- */

/* The parameters of sql_check_table() for the table q, quoted: quoted. */
static int check_table_params(const struct check *c, const struct config_qname *q,
			      const char *quoted, const char **p)
{
	if (c->pg) {
		p[0] = quoted;
		p[1] = q->schema;
		return 2;
	}
	p[0] = q->schema;
	p[1] = q->name;
	p[2] = q->schema;
	return 3;
}

/* The table q (quoted: quoted) must exist with the statements allowed, or be
 * creatable. what names it in messages. */
static void check_table_rights(struct check *c, struct db *db, const struct config_qname *q,
			       const char *quoted, const char *what, char *const *stmts,
			       const int *nparams, size_t nstmts)
{
	const char *p[3];
	const char *nulls[8] = { 0 };
	struct db_result r;
	int n = check_table_params(c, q, quoted, p);

	if (run(c, db, sql_check_table(c->sql), n, p, &r) < 0 || r.nrows < 1) {
		flag(c, 1, "privilege", "cannot look up the %s %s: %s", what, quoted, r.message);
		db_result_clear(&r);
		return;
	}
	if (strcmp(db_value(&r, 0, 0), "1") != 0) {
		if (strcmp(db_value(&r, 0, 1), "1") != 0)
			flag(c, 1, "privilege",
			     "the %s %s does not exist and this user may not create it", what,
			     quoted);
		db_result_clear(&r);
		return;
	}
	db_result_clear(&r);
	for (size_t i = 0; i < nstmts; i++) {
		char *q2 = sql_explain(c->sql, stmts[i]);

		int denied_here = run(c, db, q2, nparams[i], nulls, &r) < 0;

		if (denied_here)
			flag(c, 1, "privilege", "the %s %s: %s", what, quoted, r.message);
		db_result_clear(&r);
		free(q2);
		if (denied_here)
			break; /* one message per table */
	}
}

/* The heartbeat table, quoted for db, and q naming it for the catalog reads. */
static char *heartbeat_quoted(const struct check *c, struct db *db, struct config_qname *q)
{
	q->schema = c->cfg->checkpoint_table.schema;
	q->name = SQL_HEARTBEAT_TABLE;
	return sql_quoted_name(db, q->schema, q->name);
}

static void check_rights(struct check *c)
{
	const struct config *cfg = c->cfg;
	struct db_result r = { 0 };
	char session[32];
	const char *p[1] = { session };
	int lag = cfg->throttle.max_replication_lag_ms > 0;

	{
		char *stmts[3] = { checkpoint_sql_load(c->sql), checkpoint_sql_insert(c->sql),
				   checkpoint_sql_advance(c->sql) };
		int np[3] = { 1, 5, 4 };

		check_table_rights(c, c->db, &cfg->checkpoint_table, c->sql->ckpt,
				   "checkpoint table", stmts, np, 3);
		for (int i = 0; i < 3; i++)
			free(stmts[i]);
	}
	if (lag && cfg->throttle.nreplicas) {
		struct config_qname q;
		char *hb = heartbeat_quoted(c, c->db, &q);
		char *stmts[1] = { hb ? sql_heartbeat_write(db_dialect(c->db), hb) : NULL };
		int np[1] = { 2 };

		if (stmts[0])
			check_table_rights(c, c->db, &q, hb, "heartbeat table", stmts, np, 1);
		free(stmts[0]);
		free(hb);
	}
	if (c->pg && (cfg->throttle.max_lock_waits > 0 || cfg->throttle.max_active > 0 ||
		      (lag && !cfg->throttle.nreplicas))) {
		if (run(c, c->db, sql_check_stats_visible(c->sql), 0, NULL, &r) == 0 &&
		    r.nrows > 0 && strcmp(db_value(&r, 0, 0), "1") != 0)
			flag(c, 1, "privilege",
			     "this user sees only its own sessions in pg_stat_activity and "
			     "pg_stat_replication, so the lock-wait, active-session and replication "
			     "throttles would read 0: GRANT pg_monitor (or pg_read_all_stats)");
		db_result_clear(&r);
	}
	snprintf(session, sizeof(session), "%ld", db_session_id(c->db));
	if (cfg->throttle.max_lock_waits > 0 &&
	    run(c, c->db, sql_lock_waits(db_dialect(c->db), db_server_version(c->db)), 1, p, &r) <
		    0)
		flag(c, 1, "privilege", "the lock-wait throttle cannot read: %s", r.message);
	db_result_clear(&r);
	if (cfg->throttle.max_active > 0 &&
	    run(c, c->db, sql_active(db_dialect(c->db)), 1, p, &r) < 0)
		flag(c, 1, "privilege", "the active-session throttle cannot read: %s", r.message);
	db_result_clear(&r);
	if (lag && !cfg->throttle.nreplicas &&
	    run(c, c->db, sql_lag_fallback(db_dialect(c->db), db_server_version(c->db)), 0, NULL,
		&r) < 0)
		flag(c, 1, "privilege",
		     "the replication lag (no replicas listed) cannot be read: %s", r.message);
	db_result_clear(&r);
	if (cfg->throttle.query && cfg->throttle.query[0]) {
		if (run(c, c->db, cfg->throttle.query, 0, NULL, &r) < 0)
			flag(c, 1, "throttle-query", "throttle.query fails: %s", r.message);
		else if (r.nrows < 1 || r.ncols < 1 || !db_value(&r, 0, 0) ||
			 !json_is_number(db_value(&r, 0, 0)))
			flag(c, 1, "throttle-query", "throttle.query does not return one number");
		db_result_clear(&r);
	}
}

static void check_replicas(struct check *c)
{
	const struct config *cfg = c->cfg;

	for (size_t i = 0; i < cfg->throttle.nreplicas; i++) {
		const struct config_conn *conn = &cfg->throttle.replicas[i].conn;
		char name[160], fallback[32];
		struct db *db = c->replica ? c->replica[i] : NULL;
		struct db_result r;

		snprintf(fallback, sizeof(fallback), "replica %zu", i + 1);
		config_conn_name(conn, cfg->driver, fallback, name, sizeof(name));
		if (!db) {
			flag(c, 1, "replica-unreachable", "replica %s: out of memory", name);
			continue;
		}
		if (connect_wait(c, db, &r) < 0) {
			flag(c, 1, "replica-unreachable",
			     "replica %s cannot be reached: %s; the job would stay throttled", name,
			     r.message);
		} else if (cfg->throttle.max_replication_lag_ms > 0) {
			struct config_qname q;
			char *hb = heartbeat_quoted(c, db, &q);
			char *read = hb ? sql_heartbeat_read(db_dialect(db), hb) : NULL;
			const char *p[3];
			int n = check_table_params(c, &q, hb, p);

			db_result_clear(&r);
			/* a heartbeat table not replicated yet is created by the first run */
			if (read && run(c, db, sql_check_table(c->sql), n, p, &r) == 0 &&
			    r.nrows > 0 && strcmp(db_value(&r, 0, 0), "1") == 0) {
				const char *jp[1] = { cfg->job };

				db_result_clear(&r);
				if (run(c, db, read, 1, jp, &r) < 0)
					flag(c, 1, "privilege",
					     "replica %s: the heartbeat cannot be read: %s", name,
					     r.message);
			}
			free(read);
			free(hb);
		}
		db_result_clear(&r);
		db_free(db);
		if (c->replica)
			c->replica[i] = NULL;
	}
}

static void free_dbs(struct check *c)
{
	for (size_t i = 0; c->replica && i < c->cfg->throttle.nreplicas; i++)
		db_free(c->replica[i]);
	free(c->replica);
	db_free(c->db);
}

/* --- the report ------------------------------------------------------------------------ */

/* Batches at the first size; adaptive sizing can only grow them towards max_size
 * while each takes less than target_time, so this bounds the count and, at one
 * target_time (+ sleep) each, the duration from above. */
static int64_t batches_at(const struct check *c, int64_t size)
{
	return c->estimate > 0 ? (c->estimate + size - 1) / size : 0;
}

static int64_t batches(const struct check *c)
{
	return batches_at(c, c->cfg->batch.size);
}

static double duration_s(const struct check *c)
{
	return (double)batches(c) *
	       (double)(c->cfg->batch.target_time_ms + c->cfg->batch.sleep_ms) / 1000.0;
}

static void print_text(const struct check *c)
{
	const struct config *cfg = c->cfg;

	printf("check: job %s on %s %s, table %s, key (%s)\n", cfg->job,
	       c->pg ? "postgres" : "mysql", db_server_version(c->db), c->table, c->keys);
	for (int i = 0; i < c->nf; i++)
		printf("%s %s: %s\n", c->f[i].error ? "ERROR" : "WARN ", c->f[i].code, c->f[i].msg);
	if (c->columns_ok) {
		if (c->hi_json)
			printf("plan: ~%" PRId64 " rows (planner estimate), key %s .. %s; ~%" PRId64
			       " batches of %" PRId64 " rows (as few as %" PRId64
			       " once they grow to max_size %" PRId64 "); at most about %.0f s, "
			       "at target_time %" PRId64 " ms + sleep %" PRId64 " ms per batch\n",
			       c->estimate, c->lo_json ? c->lo_json : "?", c->hi_json, batches(c),
			       cfg->batch.size, batches_at(c, cfg->batch.max_size),
			       cfg->batch.max_size, duration_s(c), cfg->batch.target_time_ms,
			       cfg->batch.sleep_ms);
		else
			printf("plan: table %s is empty: nothing to backfill\n", c->table);
		for (int i = 0; i < NST; i++)
			if (c->st[i].explained)
				printf("plan: %s statement: %s (%s)\n", c->st[i].name,
				       c->st[i].index_range ? "index range on the key"
							    : "NOT an index range on the key",
				       c->st[i].access);
	}
	printf("check: %d error%s, %d warning%s\n", c->nerr, c->nerr == 1 ? "" : "s", c->nwarn,
	       c->nwarn == 1 ? "" : "s");
}

static int print_json(const struct check *c)
{
	const struct config *cfg = c->cfg;
	size_t cap = 1 << 20;
	char *buf = malloc(cap);
	struct json_buf jb;

	if (!buf)
		return -1;
	json_buf_init(&jb, buf, cap);
	json_obj_begin(&jb);
	json_kv_str(&jb, "job", cfg->job);
	json_kv_str(&jb, "driver", c->pg ? "postgres" : "mysql");
	json_kv_str(&jb, "server", db_server_version(c->db));
	json_kv_str(&jb, "table", c->table);
	json_kv_int(&jb, "errors", c->nerr);
	json_kv_int(&jb, "warnings", c->nwarn);
	json_key(&jb, "findings");
	json_arr_begin(&jb);
	for (int i = 0; i < c->nf; i++) {
		json_obj_begin(&jb);
		json_kv_str(&jb, "level", c->f[i].error ? "error" : "warn");
		json_kv_str(&jb, "code", c->f[i].code);
		json_kv_str(&jb, "message", c->f[i].msg);
		json_obj_end(&jb);
	}
	json_arr_end(&jb);
	json_key(&jb, "plan");
	if (!c->columns_ok) {
		json_null(&jb);
	} else {
		json_obj_begin(&jb);
		json_kv_int(&jb, "rows_estimate", c->estimate);
		json_kv_raw(&jb, "key_min", c->lo_json);
		json_kv_raw(&jb, "key_max", c->hi_json);
		json_kv_int(&jb, "batch_size", cfg->batch.size);
		json_kv_int(&jb, "batches", batches(c));
		json_kv_int(&jb, "batches_at_max_size", batches_at(c, cfg->batch.max_size));
		json_kv_int(&jb, "target_time_ms", cfg->batch.target_time_ms);
		json_kv_int(&jb, "sleep_ms", cfg->batch.sleep_ms);
		json_kv_double(&jb, "duration_s", duration_s(c), 1); /* an upper bound */
		json_key(&jb, "statements");
		json_arr_begin(&jb);
		for (int i = 0; i < NST; i++) {
			if (!c->st[i].explained)
				continue;
			json_obj_begin(&jb);
			json_kv_str(&jb, "name", c->st[i].name);
			json_kv_str(&jb, "sql", c->st[i].sql);
			json_key(&jb, "index_range");
			json_bool(&jb, c->st[i].index_range);
			json_kv_str(&jb, "access", c->st[i].access);
			json_obj_end(&jb);
		}
		json_arr_end(&jb);
		json_obj_end(&jb);
	}
	json_obj_end(&jb);
	if (!jb.overflow)
		printf("%s\n", buf);
	free(buf);
	return jb.overflow ? -1 : 0;
}

int check_run(struct config *cfg, int json)
{
	struct check c = { 0 };
	struct db_result r;
	char err[256], name[160];
	int code, n;

	c.cfg = cfg;
	c.pg = cfg->driver == CONFIG_DRIVER_POSTGRES;
	/* the loader's warnings: today only a password file others may read */
	for (const char *at = cfg->warnings, *line; (line = config_warning_next(&at, &n));)
		flag(&c, 0, "password-file-mode", "%.*s", n, line);
	for (size_t k = 0, o = 0; k < cfg->nkey && o < sizeof(c.keys); k++)
		o += (size_t)snprintf(c.keys + o, sizeof(c.keys) - o, "%s%s", k ? ", " : "",
				      cfg->key[k]);
	c.loop = ev_loop_new(EVFLAG_AUTO);
	if (!c.loop) {
		fprintf(stderr, "backfilld check: cannot create an event loop\n");
		return 1;
	}
	c.db = new_db(&c, &cfg->db);
	c.replica = calloc(cfg->throttle.nreplicas + 1, sizeof(*c.replica));
	for (size_t i = 0; c.replica && i < cfg->throttle.nreplicas; i++)
		c.replica[i] = new_db(&c, &cfg->throttle.replicas[i].conn);
	/* every connection holds its own copy of the password now */
	config_wipe_secrets(cfg);
	config_conn_name(&cfg->db, cfg->driver, "the database", name, sizeof(name));
	if (!c.db || connect_wait(&c, c.db, &r) < 0) {
		fprintf(stderr, "backfilld check: %s: cannot connect to %s: %s\n", cfg->path, name,
			c.db ? r.message : "out of memory");
		db_result_clear(&r);
		free_dbs(&c);
		ev_loop_destroy(c.loop);
		return 1;
	}
	db_result_clear(&r);
	c.sql = sql_new(cfg, c.db, 0, err, sizeof(err));
	if (!c.sql) {
		fprintf(stderr, "backfilld check: %s\n", err);
		free_dbs(&c);
		ev_loop_destroy(c.loop);
		return 1;
	}

	resolve_table(&c);
	check_columns(&c);
	if (c.columns_ok) {
		check_unique(&c);
		check_guard(&c);
		check_triggers(&c);
		read_range(&c);
		check_statements(&c);
	}
	check_rights(&c);
	check_replicas(&c);

	code = c.nerr ? 3 : 0;
	if (json) {
		if (print_json(&c) < 0) {
			fprintf(stderr, "backfilld check: report too large\n");
			code = 1;
		}
	} else {
		print_text(&c);
	}
	fflush(stdout);

	for (int i = 0; i < NST; i++)
		free(c.st[i].sql);
	for (size_t i = 0; i < CONFIG_MAX_KEY_PARTS; i++)
		free(c.hi[i]);
	free(c.lo_json);
	free(c.hi_json);
	sql_free(c.sql);
	free_dbs(&c);
	ev_loop_destroy(c.loop);
	return code;
}

/* db_pg.c - the PostgreSQL driver: libpq in non-blocking mode, driven by ev_io. */
#include "backfilld/config.h"
#include "backfilld/db.h"
#include "backfilld/driver.h"

#include <errno.h>
#include <ev.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PGDB_CONNECT_TIMEOUT 10.0

enum pgdb_phase { PGDB_IDLE, PGDB_CONNECTING, PGDB_QUERY };

struct pgdb {
	struct db base;
	struct ev_loop *loop;
	PGconn *conn;
	enum pgdb_phase phase;
	ev_io rio, wio;
	ev_timer timeout;  /* connect deadline */
	ev_timer deferred; /* delivers a failure detected inside a call, from the loop */
	db_callback cb;
	void *arg;
	struct db_result res;
	int have_error;
	char *dsn, *password, *app_name;
};

static enum db_error pgdb_classify(const char *sqlstate)
{
	if (!sqlstate || !*sqlstate)
		return DB_ERR_OTHER;
	if (strcmp(sqlstate, "55P03") == 0)
		return DB_ERR_LOCK_TIMEOUT;
	if (strcmp(sqlstate, "57014") == 0)
		return DB_ERR_STATEMENT_TIMEOUT;
	if (strcmp(sqlstate, "40P01") == 0)
		return DB_ERR_DEADLOCK;
	if (strcmp(sqlstate, "40001") == 0)
		return DB_ERR_SERIALIZATION;
	/* connection exceptions, and the server shutting the session down */
	if (strncmp(sqlstate, "08", 2) == 0 || strcmp(sqlstate, "57P01") == 0 ||
	    strcmp(sqlstate, "57P02") == 0 || strcmp(sqlstate, "57P03") == 0)
		return DB_ERR_CONNECTION;
	if (strcmp(sqlstate, "28P01") == 0 || strcmp(sqlstate, "28000") == 0)
		return DB_ERR_AUTH;
	return DB_ERR_OTHER;
}

/* libpq's messages span lines ("…failed: FATAL:  …\n\tIs the server…"); logs want
 * one line: line breaks become "; ", runs of blanks one space. */
static void copy_message(char *dst, size_t cap, const char *src)
{
	size_t o = 0;
	int blank = 0, brk = 0;

	if (!src)
		src = "unknown error";
	for (; *src && o + 3 < cap; src++) {
		if (*src == '\n' || *src == '\r') {
			brk = 1;
			continue;
		}
		if (*src == ' ' || *src == '\t') {
			blank = 1;
			continue;
		}
		if (o > 0 && brk) {
			dst[o++] = ';';
			dst[o++] = ' ';
		} else if (o > 0 && blank) {
			dst[o++] = ' ';
		}
		blank = brk = 0;
		dst[o++] = *src;
	}
	dst[o] = '\0';
}

static void pgdb_stop_watchers(struct pgdb *p)
{
	ev_io_stop(p->loop, &p->rio);
	ev_io_stop(p->loop, &p->wio);
	ev_timer_stop(p->loop, &p->timeout);
	ev_timer_stop(p->loop, &p->deferred);
}

/* Ends the operation in flight and reports it. The result is moved out first: the
 * callback may start the next query, or close and free this connection. */
static void pgdb_finish(struct pgdb *p)
{
	struct db_result res = p->res;
	db_callback cb = p->cb;
	void *arg = p->arg;

	pgdb_stop_watchers(p);
	if (res.error != DB_OK && p->conn && PQstatus(p->conn) == CONNECTION_BAD)
		res.error = DB_ERR_CONNECTION;
	memset(&p->res, 0, sizeof(p->res));
	p->have_error = 0;
	p->phase = PGDB_IDLE;
	p->cb = NULL;
	p->arg = NULL;
	if (cb)
		cb(&res, arg);
	db_result_clear(&res);
}

/* The result the callback will see is this failure. */
static void pgdb_set_error(struct pgdb *p, enum db_error e, const char *msg)
{
	db_result_clear(&p->res);
	p->res.error = e;
	copy_message(p->res.message, sizeof(p->res.message), msg);
	p->have_error = 1;
}

/* Fails now, unless an earlier error of this query is already kept. */
static void pgdb_fail(struct pgdb *p, enum db_error e, const char *msg)
{
	if (!p->have_error)
		pgdb_set_error(p, e, msg);
	pgdb_finish(p);
}

static void pgdb_deferred_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	pgdb_finish(w->data);
}

/* Reports a failure found synchronously through the loop, so that callers never see
 * their callback run inside their own call. */
static int pgdb_fail_later(struct pgdb *p, enum db_error e, const char *msg)
{
	pgdb_set_error(p, e, msg);
	ev_timer_set(&p->deferred, 0., 0.);
	ev_timer_start(p->loop, &p->deferred);
	return 0;
}

static void pgdb_watch(struct pgdb *p, int events)
{
	int fd = PQsocket(p->conn);

	ev_io_stop(p->loop, &p->rio);
	ev_io_stop(p->loop, &p->wio);
	if (events & EV_READ) {
		ev_io_set(&p->rio, fd, EV_READ);
		ev_io_start(p->loop, &p->rio);
	}
	if (events & EV_WRITE) {
		ev_io_set(&p->wio, fd, EV_WRITE);
		ev_io_start(p->loop, &p->wio);
	}
}

/* Server notices ("relation already exists, skipping") are not the user's business;
 * libpq's default would print them on stderr, outside the log format. */
static void pgdb_notice(void *arg, const char *message)
{
}

static void pgdb_connect_poll(struct pgdb *p)
{
	const char *msg;

	switch (PQconnectPoll(p->conn)) {
	case PGRES_POLLING_READING: pgdb_watch(p, EV_READ); return;
	case PGRES_POLLING_WRITING: pgdb_watch(p, EV_WRITE); return;
	case PGRES_POLLING_OK:
		PQsetNoticeProcessor(p->conn, pgdb_notice, p);
		if (PQsetnonblocking(p->conn, 1) != 0) {
			pgdb_fail(p, DB_ERR_CONNECTION, PQerrorMessage(p->conn));
			return;
		}
		pgdb_finish(p);
		return;
	default:
		msg = PQerrorMessage(p->conn);
		pgdb_fail(p,
			  strstr(msg, "password authentication failed") ||
					  strstr(msg, "no password supplied") ||
					  strstr(msg, "authentication failed")
				  ? DB_ERR_AUTH
			  : strstr(msg, "does not exist") ? DB_ERR_OTHER
							  : DB_ERR_CONNECTION,
			  msg);
	}
}

static int pgdb_names(struct db_result *res, const PGresult *r)
{
	char *names[64];

	if (res->ncols > 64)
		return 0; /* no query of ours is that wide: go without names */
	for (int i = 0; i < res->ncols; i++)
		names[i] = PQfname(r, i);
	return db_result_set_names(res, names);
}

static void pgdb_take_result(struct pgdb *p, PGresult *r)
{
	ExecStatusType st = PQresultStatus(r);

	if (p->have_error)
		return; /* the first error is the one that counts */
	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
		int nr = PQntuples(r), nc = PQnfields(r);
		size_t n = (size_t)nr * (size_t)nc;
		size_t *lens = NULL;
		char **src = NULL;
		const char *aff = PQcmdTuples(r);

		db_result_clear(&p->res);
		if (n) {
			lens = calloc(n, sizeof(*lens));
			src = calloc(n, sizeof(*src));
		}
		if (n && (!lens || !src)) {
			p->res.error = DB_ERR_OTHER;
			snprintf(p->res.message, sizeof(p->res.message), "out of memory");
			p->have_error = 1;
		} else {
			for (int i = 0; i < nr; i++)
				for (int j = 0; j < nc; j++) {
					size_t k = (size_t)i * (size_t)nc + (size_t)j;

					if (PQgetisnull(r, i, j))
						continue;
					src[k] = PQgetvalue(r, i, j);
					lens[k] = (size_t)PQgetlength(r, i, j);
				}
			if (db_result_alloc(&p->res, nr, nc, lens, src) < 0 ||
			    pgdb_names(&p->res, r) < 0) {
				p->res.error = DB_ERR_OTHER;
				snprintf(p->res.message, sizeof(p->res.message), "out of memory");
				p->have_error = 1;
			}
			p->res.affected = aff && *aff ? strtoll(aff, NULL, 10) : 0;
		}
		free(lens);
		free(src);
		return;
	}
	{
		const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
		const char *primary = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);

		db_result_clear(&p->res);
		p->res.error = pgdb_classify(state);
		snprintf(p->res.sqlstate, sizeof(p->res.sqlstate), "%s", state ? state : "");
		copy_message(p->res.message, sizeof(p->res.message),
			     primary ? primary : PQresultErrorMessage(r));
		p->have_error = 1;
	}
}

/* Reads what arrived; finishes the query once libpq has handed over every result. */
static void pgdb_query_read(struct pgdb *p)
{
	if (!PQconsumeInput(p->conn)) {
		pgdb_fail(p, DB_ERR_CONNECTION, PQerrorMessage(p->conn));
		return;
	}
	while (!PQisBusy(p->conn)) {
		PGresult *r = PQgetResult(p->conn);

		if (!r) {
			pgdb_finish(p);
			return;
		}
		pgdb_take_result(p, r);
		PQclear(r);
		if (PQstatus(p->conn) == CONNECTION_BAD) {
			pgdb_finish(p);
			return;
		}
	}
}

static void pgdb_flush(struct pgdb *p)
{
	int r = PQflush(p->conn);

	if (r < 0)
		pgdb_fail(p, DB_ERR_CONNECTION, PQerrorMessage(p->conn));
	else if (r == 0)
		ev_io_stop(p->loop, &p->wio);
	else if (!ev_is_active(&p->wio))
		ev_io_start(p->loop, &p->wio);
}

static void pgdb_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct pgdb *p = w->data;

	if (p->phase == PGDB_CONNECTING) {
		pgdb_connect_poll(p);
		return;
	}
	if (p->phase != PGDB_QUERY)
		return;
	if (ev_is_active(&p->wio)) {
		pgdb_flush(p);
		if (p->phase != PGDB_QUERY)
			return;
	}
	pgdb_query_read(p);
}

static void pgdb_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct pgdb *p = w->data;

	if (p->phase == PGDB_CONNECTING)
		pgdb_connect_poll(p);
	else if (p->phase == PGDB_QUERY)
		pgdb_flush(p);
}

static void pgdb_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct pgdb *p = w->data;

	/* before the callback, which may start connecting again */
	pgdb_stop_watchers(p);
	if (p->conn) {
		PQfinish(p->conn);
		p->conn = NULL;
	}
	pgdb_fail(p, DB_ERR_CONNECTION, "timed out connecting to the server");
}

static int pgdb_connect(struct db *db, db_callback cb, void *arg)
{
	struct pgdb *p = (struct pgdb *)db;
	const char *keys[8], *vals[8];
	int n = 0;

	if (p->phase != PGDB_IDLE)
		return -EBUSY;
	if (p->conn) {
		PQfinish(p->conn);
		p->conn = NULL;
	}
	/* application_name first so that the user's dsn may override it; the password
	 * from password_file / BACKFILLD_PASSWORD last so that it wins over the dsn's */
	keys[n] = "application_name", vals[n++] = p->app_name;
	keys[n] = "dbname", vals[n++] = p->dsn;
	keys[n] = "keepalives_idle", vals[n++] = "10";
	keys[n] = "keepalives_interval", vals[n++] = "5";
	keys[n] = "keepalives_count", vals[n++] = "3";
	if (p->password)
		keys[n] = "password", vals[n++] = p->password;
	keys[n] = NULL, vals[n] = NULL;

	p->cb = cb;
	p->arg = arg;
	p->phase = PGDB_CONNECTING;
	p->conn = PQconnectStartParams(keys, vals, 1);
	if (!p->conn)
		return pgdb_fail_later(p, DB_ERR_OTHER, "out of memory");
	if (PQstatus(p->conn) == CONNECTION_BAD)
		return pgdb_fail_later(p, DB_ERR_CONNECTION, PQerrorMessage(p->conn));
	ev_timer_set(&p->timeout, PGDB_CONNECT_TIMEOUT, 0.);
	ev_timer_start(p->loop, &p->timeout);
	/* libpq: behave as if PQconnectPoll had last returned PGRES_POLLING_WRITING */
	pgdb_watch(p, EV_WRITE);
	return 0;
}

static int pgdb_query(struct db *db, const char *sql, int nparams, const char *const *params,
		      db_callback cb, void *arg)
{
	struct pgdb *p = (struct pgdb *)db;
	int ok;

	if (p->phase != PGDB_IDLE)
		return -EBUSY;
	p->cb = cb;
	p->arg = arg;
	p->phase = PGDB_QUERY;
	if (!p->conn || PQstatus(p->conn) != CONNECTION_OK)
		return pgdb_fail_later(p, DB_ERR_CONNECTION, "not connected");
	if (nparams == 0)
		ok = PQsendQuery(p->conn, sql);
	else
		ok = PQsendQueryParams(p->conn, sql, nparams, NULL, params, NULL, NULL, 0);
	if (!ok)
		return pgdb_fail_later(
			p, PQstatus(p->conn) == CONNECTION_BAD ? DB_ERR_CONNECTION : DB_ERR_OTHER,
			PQerrorMessage(p->conn));
	pgdb_watch(p, EV_READ);
	pgdb_flush(p);
	return 0;
}

static int pgdb_busy(const struct db *db)
{
	return ((const struct pgdb *)db)->phase != PGDB_IDLE;
}

static void pgdb_close(struct db *db)
{
	struct pgdb *p = (struct pgdb *)db;

	pgdb_stop_watchers(p);
	if (p->conn) {
		PQfinish(p->conn);
		p->conn = NULL;
	}
	db_result_clear(&p->res);
	p->have_error = 0;
	p->phase = PGDB_IDLE;
	p->cb = NULL;
	p->arg = NULL;
}

static void pgdb_destroy(struct db *db)
{
	struct pgdb *p = (struct pgdb *)db;

	pgdb_close(db);
	free(p->dsn);
	if (p->password) {
		explicit_bzero(p->password, strlen(p->password));
		free(p->password);
	}
	free(p->app_name);
	free(p);
}

static char *pgdb_quote_ident(struct db *db, const char *ident)
{
	struct pgdb *p = (struct pgdb *)db;
	char *q, *out;

	if (!p->conn)
		return NULL;
	q = PQescapeIdentifier(p->conn, ident, strlen(ident));
	if (!q)
		return NULL;
	out = strdup(q);
	PQfreemem(q);
	return out;
}

static const char *pgdb_server_version(const struct db *db)
{
	const struct pgdb *p = (const struct pgdb *)db;
	const char *v = p->conn ? PQparameterStatus(p->conn, "server_version") : NULL;

	return v ? v : "";
}

static long pgdb_session_id(const struct db *db)
{
	const struct pgdb *p = (const struct pgdb *)db;

	return p->conn && PQstatus(p->conn) == CONNECTION_OK ? (long)PQbackendPID(p->conn) : 0;
}

static const struct db_ops pgdb_ops = {
	.dialect = DB_DIALECT_POSTGRES,
	.connect = pgdb_connect,
	.query = pgdb_query,
	.busy = pgdb_busy,
	.close = pgdb_close,
	.destroy = pgdb_destroy,
	.quote_ident = pgdb_quote_ident,
	.server_version = pgdb_server_version,
	.session_id = pgdb_session_id,
};

struct db *backfilld_db_new_postgres(struct ev_loop *loop, const struct config_conn *conn,
				     const char *app_name)
{
	struct pgdb *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->base.ops = &pgdb_ops;
	p->loop = loop;
	p->dsn = strdup(conn->dsn ? conn->dsn : "");
	p->password = conn->password ? strdup(conn->password) : NULL;
	p->app_name = strdup(app_name ? app_name : "backfilld");
	if (!p->dsn || !p->app_name || (conn->password && !p->password)) {
		pgdb_destroy(&p->base);
		return NULL;
	}
	ev_io_init(&p->rio, pgdb_read_cb, -1, EV_READ);
	ev_io_init(&p->wio, pgdb_write_cb, -1, EV_WRITE);
	ev_timer_init(&p->timeout, pgdb_timeout_cb, PGDB_CONNECT_TIMEOUT, 0.);
	ev_init(&p->deferred, pgdb_deferred_cb);
	p->rio.data = p->wio.data = p->timeout.data = p->deferred.data = p;
	return &p->base;
}

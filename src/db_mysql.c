/* db_mysql.c - the MySQL/MariaDB driver: libmysqlclient on a worker thread.
 *
 * The client library only blocks, so each connection has a thread of its own that
 * runs one request at a time and hands the result back to the loop through an
 * ev_async. The loop never waits for the thread. A connection dropped while its
 * thread is still inside a call is abandoned: the thread finishes that call, sees
 * it is no longer wanted, and frees everything itself. Only calls that Oracle's
 * libmysqlclient also has are used. */
#include "backfilld/config.h"
#include "backfilld/db.h"
#include "backfilld/driver.h"

#include <errno.h>
#include <ev.h>
#include <errmsg.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* my_bool (MariaDB, MySQL 5.7) or bool (MySQL 8): whatever MYSQL_BIND uses */
typedef __typeof__(((MYSQL_BIND *)0)->is_null_value) mybool;

enum req_kind { REQ_NONE, REQ_CONNECT, REQ_QUERY, REQ_QUIT };

/* Where and as whom to connect: each worker holds a copy of its own, so that the
 * loop side may free its copy while a worker still connects. */
struct myconf {
	char *host, *user, *password, *database, *socket;
	unsigned port;
};

/* Shared by the loop and one worker thread, under mu. */
struct myconn {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	MYSQL *mysql; /* the worker's alone */
	enum req_kind req;
	char *sql;
	int nparams;
	char **params;
	int has_res;
	struct db_result res;
	int abandoned; /* the loop side is gone: clean up and exit */
	struct ev_loop *loop;
	ev_async *async;
	struct myconf conf;
	char version[128];
	unsigned long thread_id;
};

struct mydb {
	struct db base;
	struct ev_loop *loop;
	ev_async async;
	ev_timer deferred;
	struct myconn *c; /* NULL while closed */
	int busy;
	db_callback cb;
	void *arg;
	struct db_result early; /* a failure found before the worker got the request */
	struct myconf conf;
	char version[128];
	unsigned long thread_id;
};

/* A connection's copy of the password serves its one connect; reconnecting copies
 * the driver's again (the client library keeps its own inside MYSQL). */
static void conn_wipe_password(struct myconf *f)
{
	if (f->password) {
		explicit_bzero(f->password, strlen(f->password));
		free(f->password);
		f->password = NULL;
	}
}

static void conf_free(struct myconf *f)
{
	conn_wipe_password(f);
	free(f->host);
	free(f->user);
	free(f->database);
	free(f->socket);
	memset(f, 0, sizeof(*f));
}

static int dup_into(char **dst, const char *src)
{
	*dst = src ? strdup(src) : NULL;
	return src && !*dst ? -ENOMEM : 0;
}

/* Copies the settings into f; -ENOMEM (and f empty) when a copy fails. */
static int conf_copy(struct myconf *f, const char *host, const char *user, const char *password,
		     const char *database, const char *socket, unsigned port)
{
	memset(f, 0, sizeof(*f));
	f->port = port;
	if (dup_into(&f->host, host) < 0 || dup_into(&f->user, user) < 0 ||
	    dup_into(&f->password, password) < 0 || dup_into(&f->database, database) < 0 ||
	    dup_into(&f->socket, socket) < 0) {
		conf_free(f);
		return -ENOMEM;
	}
	return 0;
}

static pthread_once_t library_once = PTHREAD_ONCE_INIT;

static void library_init(void)
{
	mysql_library_init(0, NULL, NULL);
}

/* --- errors ---------------------------------------------------------------------- */

/* Error numbers that only one server's header names (the rest come from
 * mysqld_error.h and errmsg.h, which both client libraries ship). */
enum {
	MY_CONNECTION_KILLED = 1927,   /* MariaDB ER_CONNECTION_KILLED */
	MY_STATEMENT_TIMEOUT = 1969,   /* MariaDB ER_STATEMENT_TIMEOUT (max_statement_time) */
	MY_QUERY_TIMEOUT = 3024,       /* MySQL ER_QUERY_TIMEOUT (max_execution_time) */
	MY_INTERACTION_TIMEOUT = 4031, /* MySQL ER_CLIENT_INTERACTION_TIMEOUT */
};

static enum db_error mydb_classify(unsigned err)
{
	switch (err) {
	case 0: return DB_OK;
	case ER_LOCK_WAIT_TIMEOUT: return DB_ERR_LOCK_TIMEOUT;
	case ER_LOCK_DEADLOCK: return DB_ERR_DEADLOCK;
	case MY_STATEMENT_TIMEOUT:
	case MY_QUERY_TIMEOUT:
	case ER_QUERY_INTERRUPTED: return DB_ERR_STATEMENT_TIMEOUT;
	case ER_SERVER_SHUTDOWN:
	case MY_CONNECTION_KILLED:
	case CR_CONNECTION_ERROR:
	case CR_CONN_HOST_ERROR:
	case CR_SERVER_GONE_ERROR:
	case CR_SERVER_LOST:
	case CR_SERVER_LOST_EXTENDED:
	case MY_INTERACTION_TIMEOUT: return DB_ERR_CONNECTION;
	case ER_ACCESS_DENIED_ERROR: return DB_ERR_AUTH;
	default: return DB_ERR_OTHER;
	}
}

static void set_error(struct db_result *res, unsigned err, const char *sqlstate, const char *msg)
{
	db_result_clear(res);
	res->error = mydb_classify(err);
	if (res->error == DB_OK)
		res->error = DB_ERR_OTHER;
	snprintf(res->sqlstate, sizeof(res->sqlstate), "%s", sqlstate ? sqlstate : "");
	snprintf(res->message, sizeof(res->message), "%s (error %u)", msg && *msg ? msg : "error",
		 err);
}

static void conn_error(struct myconn *c, struct db_result *res)
{
	set_error(res, mysql_errno(c->mysql), mysql_sqlstate(c->mysql), mysql_error(c->mysql));
}

static void stmt_error(MYSQL_STMT *st, struct db_result *res)
{
	set_error(res, mysql_stmt_errno(st), mysql_stmt_sqlstate(st), mysql_stmt_error(st));
}

/* --- the worker's calls ------------------------------------------------------------ */

static void worker_connect(struct myconn *c, struct db_result *res)
{
	unsigned timeout = 10;

	c->mysql = mysql_init(NULL);
	if (!c->mysql) {
		set_error(res, 0, NULL, "out of memory");
		return;
	}
	mysql_options(c->mysql, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
	mysql_options(c->mysql, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	mysql_options4(c->mysql, MYSQL_OPT_CONNECT_ATTR_ADD, "program_name", "backfilld");
	/* CLIENT_FOUND_ROWS: affected rows count the rows matched, as PostgreSQL does;
	 * CLIENT_MULTI_STATEMENTS: session settings and BEGIN in one round trip */
	if (!mysql_real_connect(c->mysql, c->conf.socket ? NULL : c->conf.host, c->conf.user,
				c->conf.password, c->conf.database, c->conf.port, c->conf.socket,
				CLIENT_FOUND_ROWS | CLIENT_MULTI_STATEMENTS)) {
		conn_wipe_password(&c->conf);
		conn_error(c, res);
		if (res->error == DB_ERR_OTHER && mysql_errno(c->mysql) >= CR_MIN_ERROR)
			res->error = DB_ERR_CONNECTION; /* client-side: could not reach it */
		mysql_close(c->mysql);
		c->mysql = NULL;
		return;
	}
	conn_wipe_password(&c->conf);
	snprintf(c->version, sizeof(c->version), "%s", mysql_get_server_info(c->mysql));
	c->thread_id = mysql_thread_id(c->mysql);
}

/* Copies a text result set into res. */
static int take_result(MYSQL_RES *r, struct db_result *res)
{
	int nr = (int)mysql_num_rows(r), nc = (int)mysql_num_fields(r);
	size_t n = (size_t)nr * (size_t)nc;
	size_t *lens = calloc(n ? n : 1, sizeof(*lens));
	char **src = calloc(n ? n : 1, sizeof(*src));
	int rc = -ENOMEM;
	MYSQL_ROW row;

	if (!lens || !src)
		goto out_free;
	for (int i = 0; i < nr && (row = mysql_fetch_row(r)); i++) {
		unsigned long *l = mysql_fetch_lengths(r);

		for (int j = 0; j < nc; j++) {
			src[(size_t)i * (size_t)nc + (size_t)j] = row[j];
			lens[(size_t)i * (size_t)nc + (size_t)j] = l[j];
		}
	}
	db_result_clear(res);
	rc = db_result_alloc(res, nr, nc, lens, src);
	if (rc == 0) {
		MYSQL_FIELD *f = mysql_fetch_fields(r);
		char **names = calloc((size_t)nc + 1, sizeof(*names));

		for (int j = 0; names && j < nc; j++)
			names[j] = f[j].name;
		rc = names ? db_result_set_names(res, names) : -ENOMEM;
		free(names);
	}
out_free:
	free(lens);
	free(src);
	return rc;
}

/* Several statements, no parameters: the last result counts, or the first error. */
static void worker_simple(struct myconn *c, const char *sql, struct db_result *res)
{
	int status;

	if (mysql_real_query(c->mysql, sql, strlen(sql)) != 0) {
		conn_error(c, res);
		return;
	}
	do {
		MYSQL_RES *r = mysql_store_result(c->mysql);

		if (r) {
			if (take_result(r, res) < 0)
				set_error(res, 0, NULL, "out of memory");
			mysql_free_result(r);
		} else if (mysql_field_count(c->mysql) == 0) {
			db_result_clear(res);
			res->affected = (int64_t)mysql_affected_rows(c->mysql);
		} else {
			conn_error(c, res);
			return;
		}
		status = mysql_next_result(c->mysql);
		if (status > 0) {
			conn_error(c, res);
			return;
		}
	} while (status == 0);
}

/* A prepared statement with text parameters; result columns fetched as text. */
static void worker_prepared(struct myconn *c, const char *sql, int nparams, char **params,
			    struct db_result *res)
{
	MYSQL_STMT *st = mysql_stmt_init(c->mysql);
	MYSQL_BIND *in = NULL, *out = NULL;
	mybool *in_null = NULL, *out_null = NULL, update_max = 1;
	unsigned long *in_len = NULL, *out_len = NULL;
	MYSQL_RES *meta = NULL;
	char **bufs = NULL, **src = NULL;
	size_t *lens = NULL, cap = 0, nrows = 0;
	unsigned ncols = 0;

	if (!st) {
		conn_error(c, res);
		return;
	}
	if (mysql_stmt_prepare(st, sql, strlen(sql)) != 0)
		goto out_stmt_error;
	if ((int)mysql_stmt_param_count(st) != nparams) {
		set_error(res, 0, NULL, "internal error: parameter count mismatch");
		goto out_close;
	}
	in = calloc((size_t)nparams + 1, sizeof(*in));
	in_null = calloc((size_t)nparams + 1, sizeof(*in_null));
	in_len = calloc((size_t)nparams + 1, sizeof(*in_len));
	if (!in || !in_null || !in_len)
		goto out_oom;
	for (int i = 0; i < nparams; i++) {
		in[i].buffer_type = MYSQL_TYPE_STRING;
		in_null[i] = params[i] == NULL;
		in[i].is_null = &in_null[i];
		if (params[i]) {
			in[i].buffer = params[i];
			in_len[i] = strlen(params[i]);
			in[i].buffer_length = in_len[i];
			in[i].length = &in_len[i];
		}
	}
	if ((nparams && mysql_stmt_bind_param(st, in) != 0) || mysql_stmt_execute(st) != 0)
		goto out_stmt_error;

	meta = mysql_stmt_result_metadata(st);
	if (!meta) {
		if (mysql_stmt_errno(st))
			goto out_stmt_error;
		db_result_clear(res);
		res->affected = (int64_t)mysql_stmt_affected_rows(st);
		goto out_close;
	}
	mysql_stmt_attr_set(st, STMT_ATTR_UPDATE_MAX_LENGTH, &update_max);
	if (mysql_stmt_store_result(st) != 0)
		goto out_stmt_error;
	ncols = mysql_num_fields(meta);
	out = calloc(ncols + 1, sizeof(*out));
	out_null = calloc(ncols + 1, sizeof(*out_null));
	out_len = calloc(ncols + 1, sizeof(*out_len));
	bufs = calloc(ncols + 1, sizeof(*bufs));
	if (!out || !out_null || !out_len || !bufs)
		goto out_oom;
	for (unsigned j = 0; j < ncols; j++) {
		MYSQL_FIELD *f = mysql_fetch_field_direct(meta, j);
		/* numbers and dates have no max_length in some versions: leave room */
		unsigned long size = (f->max_length > 64 ? f->max_length : 64) + 1;

		bufs[j] = malloc(size);
		if (!bufs[j])
			goto out_oom;
		out[j].buffer_type = MYSQL_TYPE_STRING;
		out[j].buffer = bufs[j];
		out[j].buffer_length = size;
		out[j].is_null = &out_null[j];
		out[j].length = &out_len[j];
	}
	if (mysql_stmt_bind_result(st, out) != 0)
		goto out_stmt_error;
	nrows = (size_t)mysql_stmt_num_rows(st);
	cap = nrows * ncols;
	src = calloc(cap ? cap : 1, sizeof(*src));
	lens = calloc(cap ? cap : 1, sizeof(*lens));
	if (!src || !lens)
		goto out_oom;
	for (size_t i = 0; i < nrows; i++) {
		int f = mysql_stmt_fetch(st);

		if (f == 1 || f == MYSQL_NO_DATA) {
			if (f == 1)
				goto out_stmt_error;
			nrows = i;
			break;
		}
		for (unsigned j = 0; j < ncols; j++) {
			size_t k = i * ncols + j;

			if (out_null[j])
				continue;
			if (out_len[j] >= out[j].buffer_length) {
				set_error(res, 0, NULL, "internal error: a value was truncated");
				goto out_free_rows;
			}
			src[k] = strndup(bufs[j], out_len[j]);
			if (!src[k])
				goto out_oom_rows;
			lens[k] = out_len[j];
		}
	}
	db_result_clear(res);
	if (db_result_alloc(res, (int)nrows, (int)ncols, lens, src) < 0) {
		set_error(res, 0, NULL, "out of memory");
	} else {
		char **names = calloc(ncols + 1, sizeof(*names));

		for (unsigned j = 0; names && j < ncols; j++)
			names[j] = mysql_fetch_field_direct(meta, j)->name;
		if (!names || db_result_set_names(res, names) < 0)
			set_error(res, 0, NULL, "out of memory");
		free(names);
	}
	goto out_free_rows;

out_oom_rows:
	set_error(res, 0, NULL, "out of memory");
out_free_rows:
	for (size_t k = 0; src && k < cap; k++)
		free(src[k]);
	goto out_close;
out_oom:
	set_error(res, 0, NULL, "out of memory");
	goto out_close;
out_stmt_error:
	stmt_error(st, res);
out_close:
	if (meta)
		mysql_free_result(meta);
	for (unsigned j = 0; bufs && j < ncols; j++)
		free(bufs[j]);
	free(bufs);
	free(src);
	free(lens);
	free(out);
	free(out_null);
	free(out_len);
	free(in);
	free(in_null);
	free(in_len);
	mysql_stmt_close(st);
}

static void conn_free(struct myconn *c)
{
	if (c->mysql)
		mysql_close(c->mysql);
	free(c->sql);
	for (int i = 0; c->params && i < c->nparams; i++)
		free(c->params[i]);
	free(c->params);
	db_result_clear(&c->res);
	conf_free(&c->conf);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
	free(c);
}

static void *worker_main(void *arg)
{
	struct myconn *c = arg;

	mysql_thread_init();
	for (;;) {
		struct db_result res = { 0 };
		enum req_kind req;

		pthread_mutex_lock(&c->mu);
		while (c->req == REQ_NONE)
			pthread_cond_wait(&c->cv, &c->mu);
		req = c->req;
		pthread_mutex_unlock(&c->mu);
		if (req == REQ_QUIT)
			break;
		if (req == REQ_CONNECT)
			worker_connect(c, &res);
		else if (!c->mysql)
			set_error(&res, CR_SERVER_GONE_ERROR, NULL, "not connected");
		else if (c->nparams == 0)
			worker_simple(c, c->sql, &res);
		else
			worker_prepared(c, c->sql, c->nparams, c->params, &res);

		pthread_mutex_lock(&c->mu);
		c->req = REQ_NONE;
		if (c->abandoned) {
			pthread_mutex_unlock(&c->mu);
			db_result_clear(&res);
			break;
		}
		c->res = res;
		c->has_res = 1;
		ev_async_send(c->loop, c->async);
		pthread_mutex_unlock(&c->mu);
	}
	conn_free(c);
	mysql_thread_end();
	return NULL;
}

/* --- the loop's side ------------------------------------------------------------------ */

static void mydb_finish(struct mydb *d, struct db_result *res)
{
	db_callback cb = d->cb;
	void *arg = d->arg;

	d->busy = 0;
	d->cb = NULL;
	d->arg = NULL;
	if (cb)
		cb(res, arg);
	db_result_clear(res);
}

static void mydb_async_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	struct mydb *d = w->data;
	struct db_result res = { 0 };
	int have = 0;

	if (!d->c)
		return;
	pthread_mutex_lock(&d->c->mu);
	if (d->c->has_res) {
		res = d->c->res;
		memset(&d->c->res, 0, sizeof(d->c->res));
		d->c->has_res = 0;
		have = 1;
		snprintf(d->version, sizeof(d->version), "%s", d->c->version);
		d->thread_id = d->c->thread_id;
	}
	pthread_mutex_unlock(&d->c->mu);
	if (have)
		mydb_finish(d, &res);
}

static void mydb_deferred_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct mydb *d = w->data;
	struct db_result res = d->early;

	memset(&d->early, 0, sizeof(d->early));
	mydb_finish(d, &res);
}

static int mydb_fail_later(struct mydb *d, enum db_error e, const char *msg)
{
	db_result_clear(&d->early);
	d->early.error = e;
	snprintf(d->early.message, sizeof(d->early.message), "%s", msg);
	ev_timer_set(&d->deferred, 0., 0.);
	ev_timer_start(d->loop, &d->deferred);
	return 0;
}

/* Drops the worker: told to quit when idle, abandoned when inside a call. */
static void mydb_drop(struct mydb *d)
{
	struct myconn *c = d->c;

	if (!c)
		return;
	pthread_mutex_lock(&c->mu);
	db_result_clear(&c->res); /* an answer nobody will read */
	c->has_res = 0;
	if (c->req != REQ_NONE) {
		c->abandoned = 1; /* inside a call: it cleans up when the call returns */
	} else {
		c->req = REQ_QUIT;
		pthread_cond_signal(&c->cv);
	}
	c->loop = NULL;
	c->async = NULL;
	pthread_mutex_unlock(&c->mu);
	d->c = NULL;
}

static int mydb_connect(struct db *db, db_callback cb, void *arg)
{
	struct mydb *d = (struct mydb *)db;
	struct myconn *c;
	pthread_t tid;
	pthread_attr_t attr;
	sigset_t all, old;
	int rc;

	if (d->busy)
		return -EBUSY;
	mydb_drop(d);
	d->busy = 1;
	d->cb = cb;
	d->arg = arg;
	pthread_once(&library_once, library_init);
	c = calloc(1, sizeof(*c));
	if (!c)
		return mydb_fail_later(d, DB_ERR_OTHER, "out of memory");
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	c->loop = d->loop;
	c->async = &d->async;
	if (conf_copy(&c->conf, d->conf.host, d->conf.user, d->conf.password, d->conf.database,
		      d->conf.socket, d->conf.port) < 0) {
		conn_free(c);
		return mydb_fail_later(d, DB_ERR_OTHER, "out of memory");
	}
	c->req = REQ_CONNECT;
	/* the worker takes no signals: the loop's signal watchers see them all */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&tid, &attr, worker_main, c);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		conn_free(c);
		return mydb_fail_later(d, DB_ERR_OTHER, "cannot start the connection's thread");
	}
	d->c = c;
	return 0;
}

static int mydb_query(struct db *db, const char *sql, int nparams, const char *const *params,
		      db_callback cb, void *arg)
{
	struct mydb *d = (struct mydb *)db;
	struct myconn *c = d->c;
	char **copy = NULL;
	char *sqlcopy;

	if (d->busy)
		return -EBUSY;
	d->busy = 1;
	d->cb = cb;
	d->arg = arg;
	if (!c)
		return mydb_fail_later(d, DB_ERR_CONNECTION, "not connected");
	sqlcopy = strdup(sql);
	if (nparams > 0)
		copy = calloc((size_t)nparams, sizeof(*copy));
	if (!sqlcopy || (nparams > 0 && !copy)) {
		free(sqlcopy);
		free(copy);
		return mydb_fail_later(d, DB_ERR_OTHER, "out of memory");
	}
	for (int i = 0; i < nparams; i++)
		if (params[i] && !(copy[i] = strdup(params[i]))) {
			for (int j = 0; j < i; j++)
				free(copy[j]);
			free(copy);
			free(sqlcopy);
			return mydb_fail_later(d, DB_ERR_OTHER, "out of memory");
		}
	pthread_mutex_lock(&c->mu);
	free(c->sql);
	for (int i = 0; c->params && i < c->nparams; i++)
		free(c->params[i]);
	free(c->params);
	c->sql = sqlcopy;
	c->params = copy;
	c->nparams = nparams;
	c->req = REQ_QUERY;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	return 0;
}

static int mydb_busy(const struct db *db)
{
	return ((const struct mydb *)db)->busy;
}

static void mydb_close(struct db *db)
{
	struct mydb *d = (struct mydb *)db;

	ev_timer_stop(d->loop, &d->deferred);
	mydb_drop(d);
	db_result_clear(&d->early);
	d->busy = 0;
	d->cb = NULL;
	d->arg = NULL;
}

static void mydb_destroy(struct db *db)
{
	struct mydb *d = (struct mydb *)db;

	mydb_close(db);
	ev_async_stop(d->loop, &d->async);
	conf_free(&d->conf);
	free(d);
}

/* Backticks, doubled inside: legal for any name MySQL allows. */
static char *mydb_quote_ident(struct db *db, const char *ident)
{
	size_t n = strlen(ident), o = 0;
	char *q = malloc(2 * n + 3);

	if (!q)
		return NULL;
	q[o++] = '`';
	for (size_t i = 0; i < n; i++) {
		if (ident[i] == '`')
			q[o++] = '`';
		q[o++] = ident[i];
	}
	q[o++] = '`';
	q[o] = '\0';
	return q;
}

static const char *mydb_server_version(const struct db *db)
{
	return ((const struct mydb *)db)->version;
}

static long mydb_session_id(const struct db *db)
{
	const struct mydb *d = (const struct mydb *)db;

	return d->c ? (long)d->thread_id : 0;
}

static const struct db_ops mydb_ops = {
	.dialect = DB_DIALECT_MYSQL,
	.connect = mydb_connect,
	.query = mydb_query,
	.busy = mydb_busy,
	.close = mydb_close,
	.destroy = mydb_destroy,
	.quote_ident = mydb_quote_ident,
	.server_version = mydb_server_version,
	.session_id = mydb_session_id,
};

struct db *backfilld_db_new_mysql(struct ev_loop *loop, const struct config_conn *conn)
{
	struct mydb *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->base.ops = &mydb_ops;
	d->loop = loop;
	if (conf_copy(&d->conf, conn->host, conn->user, conn->password, conn->database,
		      conn->socket, (unsigned)conn->port) < 0) {
		mydb_destroy(&d->base);
		return NULL;
	}
	ev_async_init(&d->async, mydb_async_cb);
	d->async.data = d;
	ev_async_start(loop, &d->async);
	ev_init(&d->deferred, mydb_deferred_cb);
	d->deferred.data = d;
	return &d->base;
}

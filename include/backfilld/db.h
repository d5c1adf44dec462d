/* db.h - the driver interface: asynchronous connect and query on the event loop.
 *
 * The job, the verifier and everything above them speak only this interface; each
 * engine's client library stays inside its driver. One query is in flight per
 * connection at a time; every call completes through exactly one callback. */
#ifndef BACKFILLD_DB_H
#define BACKFILLD_DB_H

#include <stddef.h>
#include <stdint.h>

struct ev_loop;
struct config_conn;

/* What went wrong, as far as the caller must act on it. */
enum db_error {
	DB_OK = 0,
	DB_ERR_LOCK_TIMEOUT,	  /* lock wait timed out: retry smaller */
	DB_ERR_STATEMENT_TIMEOUT, /* statement timed out or was cancelled: retry smaller */
	DB_ERR_DEADLOCK,	  /* chosen as deadlock victim: retry */
	DB_ERR_SERIALIZATION,	  /* serialization failure: retry */
	DB_ERR_CONNECTION,	  /* connection lost or refused: reconnect */
	DB_ERR_AUTH,		  /* authentication failed: fatal */
	DB_ERR_OTHER,		  /* anything else: fatal for the job */
};

enum db_dialect { DB_DIALECT_POSTGRES, DB_DIALECT_MYSQL };

struct db_result {
	enum db_error error;
	char sqlstate[8];   /* "" when the engine gave none */
	char message[1024]; /* the engine's text, one line */
	int nrows, ncols;
	char **values;	  /* row-major, NULL for SQL NULL */
	char **names;	  /* ncols column names, or NULL where the driver gave none */
	int64_t affected; /* rows matched by the last UPDATE/INSERT/DELETE */
};

/* res is valid only during the call. */
typedef void (*db_callback)(const struct db_result *res, void *arg);

struct db;

/* A connection for conn's target; not yet connected. app_name shows up in the
 * server's session list. NULL on allocation failure. */
struct db *db_new_postgres(struct ev_loop *loop, const struct config_conn *conn,
			   const char *app_name);
/* MySQL or MariaDB through libmysqlclient, on a worker thread of its own. */
struct db *db_new_mysql(struct ev_loop *loop, const struct config_conn *conn);

enum db_dialect db_dialect(const struct db *db);

/* Starts connecting; cb reports success (DB_OK) or the failure. */
int db_connect(struct db *db, db_callback cb, void *arg) __attribute__((warn_unused_result));

/* Sends sql with nparams text parameters (NULL entries are SQL NULL). With
 * nparams == 0 the text may hold several statements; the result is the last one's,
 * or the first error. */
int db_query(struct db *db, const char *sql, int nparams, const char *const *params, db_callback cb,
	     void *arg) __attribute__((warn_unused_result));

/* 1 while a connect or query is in flight. */
int db_busy(const struct db *db);

/* Drops the connection; a pending callback is never called. Safe when closed. */
void db_close(struct db *db);
void db_free(struct db *db);

/* The identifier quoted for this engine; malloc'd, NULL on failure. Connected only. */
char *db_quote_ident(struct db *db, const char *ident);

/* The server's version string ("15.18 (Debian …)", "10.11.6-MariaDB-…"); "" before
 * the first connection. */
const char *db_server_version(const struct db *db);

/* The server's id of this session (PostgreSQL backend pid, MySQL connection id);
 * 0 when not connected. */
long db_session_id(const struct db *db);

/* Value of row r, column c, or NULL. */
const char *db_value(const struct db_result *res, int r, int c);
/* Index of the column called name (case-insensitive), or -1. */
int db_column(const struct db_result *res, const char *name);

/* A human name for an error class ("lock timeout", …). */
const char *db_error_name(enum db_error e);

/* For drivers. */
struct db_ops {
	enum db_dialect dialect;
	int (*connect)(struct db *db, db_callback cb, void *arg);
	int (*query)(struct db *db, const char *sql, int nparams, const char *const *params,
		     db_callback cb, void *arg);
	int (*busy)(const struct db *db);
	void (*close)(struct db *db);
	void (*destroy)(struct db *db);
	char *(*quote_ident)(struct db *db, const char *ident);
	const char *(*server_version)(const struct db *db);
	long (*session_id)(const struct db *db);
};

struct db {
	const struct db_ops *ops;
};

/* Driver helpers: build a result holding copies of n*m values. */
int db_result_alloc(struct db_result *res, int nrows, int ncols, const size_t *lens,
		    char *const *src);
void db_result_clear(struct db_result *res);
/* Driver helper: copies the column names (res->ncols of them). 0 or -ENOMEM. */
int db_result_set_names(struct db_result *res, char *const *names);

#endif

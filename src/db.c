/* db.c - the driver interface: dispatch to the engine's driver, shared result code. */
#include "backfilld/db.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum db_dialect db_dialect(const struct db *db)
{
	return db->ops->dialect;
}

int db_connect(struct db *db, db_callback cb, void *arg)
{
	return db->ops->connect(db, cb, arg);
}

int db_query(struct db *db, const char *sql, int nparams, const char *const *params, db_callback cb,
	     void *arg)
{
	return db->ops->query(db, sql, nparams, params, cb, arg);
}

int db_busy(const struct db *db)
{
	return db->ops->busy(db);
}

void db_close(struct db *db)
{
	db->ops->close(db);
}

void db_free(struct db *db)
{
	if (db)
		db->ops->destroy(db);
}

char *db_quote_ident(struct db *db, const char *ident)
{
	return db->ops->quote_ident(db, ident);
}

const char *db_server_version(const struct db *db)
{
	return db->ops->server_version(db);
}

long db_session_id(const struct db *db)
{
	return db->ops->session_id(db);
}

const char *db_value(const struct db_result *res, int r, int c)
{
	if (r < 0 || r >= res->nrows || c < 0 || c >= res->ncols)
		return NULL;
	return res->values[(size_t)r * (size_t)res->ncols + (size_t)c];
}

const char *db_error_name(enum db_error e)
{
	switch (e) {
	case DB_OK: return "ok";
	case DB_ERR_LOCK_TIMEOUT: return "lock timeout";
	case DB_ERR_STATEMENT_TIMEOUT: return "statement timeout";
	case DB_ERR_DEADLOCK: return "deadlock";
	case DB_ERR_SERIALIZATION: return "serialization failure";
	case DB_ERR_CONNECTION: return "connection lost";
	case DB_ERR_AUTH: return "authentication failed";
	case DB_ERR_OTHER: break;
	}
	return "error";
}

/* One allocation: the pointer table, then the strings. src[i] NULL stays NULL. */
int db_result_alloc(struct db_result *res, int nrows, int ncols, const size_t *lens,
		    char *const *src)
{
	size_t n = (size_t)nrows * (size_t)ncols, bytes = n * sizeof(char *);
	char *p;

	for (size_t i = 0; i < n; i++)
		if (src[i])
			bytes += lens[i] + 1;
	res->values = malloc(bytes ? bytes : 1);
	if (!res->values)
		return -ENOMEM;
	p = (char *)(res->values + n);
	for (size_t i = 0; i < n; i++) {
		if (!src[i]) {
			res->values[i] = NULL;
			continue;
		}
		memcpy(p, src[i], lens[i]);
		p[lens[i]] = '\0';
		res->values[i] = p;
		p += lens[i] + 1;
	}
	res->nrows = nrows;
	res->ncols = ncols;
	return 0;
}

int db_result_set_names(struct db_result *res, char *const *names)
{
	res->names = calloc((size_t)res->ncols + 1, sizeof(char *));
	if (!res->names)
		return -ENOMEM;
	for (int i = 0; i < res->ncols; i++)
		if (names[i] && !(res->names[i] = strdup(names[i])))
			return -ENOMEM;
	return 0;
}

int db_column(const struct db_result *res, const char *name)
{
	for (int i = 0; res->names && i < res->ncols; i++)
		if (res->names[i] && strcasecmp(res->names[i], name) == 0)
			return i;
	return -1;
}

void db_result_clear(struct db_result *res)
{
	for (int i = 0; res->names && i < res->ncols; i++)
		free(res->names[i]);
	free(res->names);
	free(res->values);
	memset(res, 0, sizeof(*res));
}

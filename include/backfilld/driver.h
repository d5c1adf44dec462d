/* driver.h - the engine drivers as modules, loaded on first use.
 *
 * backfilld-postgres.so holds db_pg.c and links libpq; backfilld-mysql.so holds
 * db_mysql.c and links libmysqlclient (or MariaDB Connector/C). A job maps only its
 * own engine's client library and what that pulls in (TLS, Kerberos), and a host
 * needs only the client library of the engine it backfills. db_new_postgres and
 * db_new_mysql (db.h) load the module; driver_load reports why it cannot be. */
#ifndef BACKFILLD_DRIVER_H
#define BACKFILLD_DRIVER_H

#include "backfilld/config.h"

#include <stddef.h>

struct db;
struct ev_loop;

/* Loads the driver's module unless loaded: from the directory of the running
 * executable (a build tree), then from DRIVER_DIR relative to it (an installed
 * tree: bin/../lib/backfilld). 0, or -1 with the paths tried and the loader's
 * message in err. */
int driver_load(enum config_driver driver, char *err, size_t errlen);

/* The modules' entry points, looked up by these names. */
#define DRIVER_ENTRY_POSTGRES "backfilld_db_new_postgres"
#define DRIVER_ENTRY_MYSQL "backfilld_db_new_mysql"
struct db *backfilld_db_new_postgres(struct ev_loop *loop, const struct config_conn *conn,
				     const char *app_name);
struct db *backfilld_db_new_mysql(struct ev_loop *loop, const struct config_conn *conn);

#endif

/* driver.c - loads the engine's driver module on first use (see driver.h). */
#include "backfilld/driver.h"

#include "backfilld/db.h"
#include "backfilld/log.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifndef BACKFILLD_DRIVER_DIR
#define BACKFILLD_DRIVER_DIR "../lib/backfilld"
#endif

typedef struct db *(*new_postgres_fn)(struct ev_loop *, const struct config_conn *, const char *);
typedef struct db *(*new_mysql_fn)(struct ev_loop *, const struct config_conn *);

static struct {
	const char *file, *entry;
	void *fn; /* the entry point, once loaded */
} drivers[] = {
	[CONFIG_DRIVER_POSTGRES] = { "backfilld-postgres.so", DRIVER_ENTRY_POSTGRES, NULL },
	[CONFIG_DRIVER_MYSQL] = { "backfilld-mysql.so", DRIVER_ENTRY_MYSQL, NULL },
};

/* The directory of the running executable, without the trailing slash. */
static int exe_dir(char *dir, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", dir, len - 1);
	char *slash;

	if (n <= 0 || (size_t)n >= len - 1)
		return -1;
	dir[n] = '\0';
	slash = strrchr(dir, '/');
	if (!slash)
		return -1;
	*slash = '\0';
	return 0;
}

int driver_load(enum config_driver driver, char *err, size_t errlen)
{
	char dir[PATH_MAX], path[PATH_MAX + 64];
	const char *const where[] = { "", "/" BACKFILLD_DRIVER_DIR };

	if (drivers[driver].fn)
		return 0;
	if (exe_dir(dir, sizeof(dir)) < 0) {
		snprintf(err, errlen, "cannot load the driver %s: cannot read /proc/self/exe: %s",
			 drivers[driver].file, strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++) {
		void *h;

		snprintf(path, sizeof(path), "%s%s/%s", dir, where[i], drivers[driver].file);
		if (access(path, F_OK) < 0)
			continue;
		h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
		if (!h) {
			/* there, but it does not load: its client library is missing, say */
			snprintf(err, errlen, "cannot load the driver %s: %s", path, dlerror());
			return -1;
		}
		drivers[driver].fn = dlsym(h, drivers[driver].entry);
		if (!drivers[driver].fn) {
			snprintf(err, errlen, "cannot load the driver %s: no %s in it", path,
				 drivers[driver].entry);
			dlclose(h);
			return -1;
		}
		log_debug("driver %s loaded", path);
		return 0;
	}
	snprintf(err, errlen, "cannot load the driver: neither %s/%s nor %s/%s/%s exists", dir,
		 drivers[driver].file, dir, BACKFILLD_DRIVER_DIR, drivers[driver].file);
	return -1;
}

/* Loads the module, logging why it cannot: NULL then, as on allocation failure. */
static void *entry(enum config_driver driver)
{
	char err[PATH_MAX * 3];

	if (driver_load(driver, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return NULL;
	}
	return drivers[driver].fn;
}

struct db *db_new_postgres(struct ev_loop *loop, const struct config_conn *conn,
			   const char *app_name)
{
	new_postgres_fn fn;
	void *p = entry(CONFIG_DRIVER_POSTGRES);

	if (!p)
		return NULL;
	/* POSIX: a function pointer round-trips through dlsym's void * */
	memcpy(&fn, &p, sizeof(fn));
	return fn(loop, conn, app_name);
}

struct db *db_new_mysql(struct ev_loop *loop, const struct config_conn *conn)
{
	new_mysql_fn fn;
	void *p = entry(CONFIG_DRIVER_MYSQL);

	if (!p)
		return NULL;
	memcpy(&fn, &p, sizeof(fn));
	return fn(loop, conn);
}

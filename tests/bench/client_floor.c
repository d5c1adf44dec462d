/* client_floor.c - the least a process needs to talk to the database through its
 * client library: connect as the daemon does, run SELECT 1, exit. Run under
 * bench_probe exec, its peak RSS is the floor that the daemon's own peak RSS is set
 * beside: what the client library and the libraries it links take by themselves.
 *
 *   bench_floor_postgres CONNINFO PASSWORD_FILE
 *   bench_floor_mysql HOST PORT USER DATABASE PASSWORD_FILE
 *   bench_floor_postgres --load-only | bench_floor_mysql --load-only
 *
 * --load-only asks the library its version and exits without connecting: what
 * loading the library and the libraries it links takes, before any connection.
 *
 * Built twice (CMake targets bench_floor_postgres and bench_floor_mysql), each
 * linking only its own client library, as each of the daemon's driver modules does.
 * Exits 0 when SELECT 1 answered 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef FLOOR_POSTGRES
#include <libpq-fe.h>
#else
#include <mysql.h>
#endif

static void die(const char *what, const char *detail)
{
	fprintf(stderr, "client_floor: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
	exit(1);
}

/* the password file's first line, as the daemon reads it */
static void read_password(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");

	if (!f)
		die("cannot open the password file", path);
	if (!fgets(buf, (int)size, f))
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\r\n")] = '\0';
}

#ifdef FLOOR_POSTGRES
static int library_loaded(void)
{
	return PQlibVersion() > 0;
}

/* connects, runs SELECT 1: 1 when it answered 1 */
static int connect_and_select(int argc, char **argv, char *password, size_t size)
{
	const char *keys[] = { "dbname", "password", NULL };
	const char *values[] = { NULL, password, NULL };
	PGconn *conn;
	PGresult *res;
	int ok;

	if (argc != 3)
		die("usage", "bench_floor_postgres CONNINFO PASSWORD_FILE");
	read_password(argv[2], password, size);
	values[0] = argv[1]; /* with expand_dbname, a conninfo string */
	conn = PQconnectdbParams(keys, values, 1);
	if (PQstatus(conn) != CONNECTION_OK)
		die("cannot connect", PQerrorMessage(conn));
	res = PQexec(conn, "SELECT 1");
	ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
	     strcmp(PQgetvalue(res, 0, 0), "1") == 0;
	PQclear(res);
	PQfinish(conn);
	return ok;
}
#else
static int library_loaded(void)
{
	return mysql_get_client_version() > 0;
}

/* connects, runs SELECT 1: 1 when it answered 1 */
static int connect_and_select(int argc, char **argv, char *password, size_t size)
{
	MYSQL *conn;
	MYSQL_RES *res;
	MYSQL_ROW row;
	int ok;

	if (argc != 6)
		die("usage", "bench_floor_mysql HOST PORT USER DATABASE PASSWORD_FILE");
	read_password(argv[5], password, size);
	conn = mysql_init(NULL);
	if (!conn)
		die("mysql_init failed", NULL);
	if (!mysql_real_connect(conn, argv[1], argv[3], password, argv[4],
				(unsigned)strtoul(argv[2], NULL, 10), NULL, 0))
		die("cannot connect", mysql_error(conn));
	if (mysql_query(conn, "SELECT 1") != 0 || !(res = mysql_store_result(conn)))
		die("SELECT 1 failed", mysql_error(conn));
	row = mysql_fetch_row(res);
	ok = row && row[0] && strcmp(row[0], "1") == 0;
	mysql_free_result(res);
	mysql_close(conn);
	return ok;
}
#endif

int main(int argc, char **argv)
{
	char password[256];
	int ok;

	if (argc == 2 && strcmp(argv[1], "--load-only") == 0)
		return library_loaded() ? 0 : 1;
	ok = connect_and_select(argc, argv, password, sizeof(password));
	memset(password, 0, sizeof(password));
	if (!ok)
		die("SELECT 1 did not answer 1", NULL);
	return 0;
}

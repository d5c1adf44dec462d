/* test_config.c - config module: defaults, every key, errors with positions, corpus files. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "backfilld/config.h"

#define NAME "test.yaml"

/* 8 lines; tests append from line 9 */
static const char base[] = "job: items_new_status\n"
			   "database:\n"
			   "  driver: postgres\n"
			   "  dsn: \"host=127.0.0.1 dbname=app\"\n"
			   "table: items\n"
			   "key: id\n"
			   "set:\n"
			   "  new_status: old_status\n";

static char tmpdir[64];

static char *cat(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *s = malloc(la + lb + 1);

	assert_non_null(s);
	memcpy(s, a, la);
	memcpy(s + la, b, lb + 1);
	return s;
}

static struct config *parse_ok(const char *yaml)
{
	struct config *cfg = NULL;
	char err[512];
	int rc = config_parse(NAME, yaml, strlen(yaml), &cfg, err, sizeof(err));

	if (rc != 0)
		fail_msg("unexpected error %d: %s\n--- input:\n%s", rc, err, yaml);
	assert_non_null(cfg);
	return cfg;
}

static struct config *base_with(const char *extra)
{
	char *s = cat(base, extra);
	struct config *cfg = parse_ok(s);

	free(s);
	return cfg;
}

/* Parses yaml, expects failure with a message starting "test.yaml:" and containing want. */
static void parse_bad(const char *yaml, const char *want)
{
	struct config *cfg = (struct config *)1;
	char err[512];
	int rc = config_parse(NAME, yaml, strlen(yaml), &cfg, err, sizeof(err));

	if (rc >= 0)
		fail_msg("accepted, expected an error containing '%s'\n--- input:\n%s", want, yaml);
	assert_null(cfg);
	assert_int_equal(strncmp(err, NAME ":", strlen(NAME ":")), 0);
	if (!strstr(err, want))
		fail_msg("message '%s' lacks '%s'", err, want);
}

static void base_bad(const char *extra, const char *want)
{
	char *s = cat(base, extra);

	parse_bad(s, want);
	free(s);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static int setup_env(void **state)
{
	unsetenv("BACKFILLD_PASSWORD");
	unsetenv("RUNTIME_DIRECTORY");
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_config.XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_env(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* --- loading good configs ------------------------------------------------------------ */

static void test_minimal_defaults(void **state)
{
	struct config *cfg = parse_ok(base);

	assert_string_equal(cfg->path, NAME);
	assert_string_equal(cfg->job, "items_new_status");
	assert_int_equal(cfg->driver, CONFIG_DRIVER_POSTGRES);
	assert_string_equal(cfg->db.dsn, "host=127.0.0.1 dbname=app");
	assert_null(cfg->db.host);
	assert_null(cfg->db.password_file);
	assert_null(cfg->db.password);
	assert_null(cfg->table.schema);
	assert_string_equal(cfg->table.name, "items");
	assert_int_equal(cfg->nkey, 1);
	assert_string_equal(cfg->key[0], "id");
	assert_null(cfg->key[1]);
	assert_int_equal(cfg->nset, 1);
	assert_string_equal(cfg->set[0].column, "new_status");
	assert_string_equal(cfg->set[0].expr, "old_status");
	assert_null(cfg->where);

	assert_int_equal(cfg->batch.size, 1000);
	assert_int_equal(cfg->batch.min_size, 100);
	assert_int_equal(cfg->batch.max_size, 50000);
	assert_int_equal(cfg->batch.target_time_ms, 500);
	assert_int_equal(cfg->batch.sleep_ms, 0);
	assert_int_equal(cfg->batch.lock_timeout_ms, 500);
	assert_int_equal(cfg->batch.statement_timeout_ms, 30000);
	assert_int_equal(cfg->batch.max_retries, 10);

	assert_int_equal(cfg->throttle.max_replication_lag_ms, 1000);
	assert_int_equal(cfg->throttle.nreplicas, 0);
	assert_null(cfg->throttle.replicas);
	assert_int_equal(cfg->throttle.max_lock_waits, 5);
	assert_int_equal(cfg->throttle.max_active, 0);
	assert_string_equal(cfg->throttle.query, "");
	assert_true(cfg->throttle.query_max == 0.0);
	assert_string_equal(cfg->throttle.window, "");
	assert_int_equal(cfg->throttle.check_interval_ms, 1000);

	assert_null(cfg->checkpoint_table.schema);
	assert_string_equal(cfg->checkpoint_table.name, "backfilld_checkpoint");

	assert_int_equal(cfg->nrollback_set, 1);
	assert_string_equal(cfg->rollback_set[0].column, "new_status");
	assert_string_equal(cfg->rollback_set[0].expr, "NULL");

	assert_string_equal(cfg->status.socket, "/tmp/backfilld/items_new_status.sock");
	assert_int_equal(cfg->status.mode, 0660);
	assert_null(cfg->metrics.textfile);
	assert_int_equal(cfg->log.format, CONFIG_LOG_TEXT);
	assert_int_equal(cfg->log.level, CONFIG_LOG_INFO);
	assert_int_equal(cfg->log.progress_interval_ms, 5000);
	config_free(cfg);
}

static void test_every_key(void **state)
{
	static const char yaml[] = "job: items.v2-x_1\n"
				   "database:\n"
				   "  driver: postgres\n"
				   "  dsn: postgresql://backfill@127.0.0.1:5432/app\n"
				   "table: app.items\n"
				   "key: [tenant_id, id]\n"
				   "set:\n"
				   "  new_status: old_status\n"
				   "  \"Weird Col;\": lower(name) || 'x'\n"
				   "where: new_status IS NULL AND id > 0\n"
				   "batch:\n"
				   "  size: 2000\n"
				   "  min_size: 10\n"
				   "  max_size: 9000\n"
				   "  target_time: 1.5s\n"
				   "  sleep: 20ms\n"
				   "  lock_timeout: 2s\n"
				   "  statement_timeout: 1m\n"
				   "  max_retries: 0\n"
				   "throttle:\n"
				   "  max_replication_lag: 0\n"
				   "  replicas:\n"
				   "    - dsn: \"host=r1\"\n"
				   "    - dsn: \"host=r2\"\n"
				   "  max_lock_waits: 0\n"
				   "  max_active: 64\n"
				   "  query: SELECT count(*) FROM jobs\n"
				   "  query_max: 12.5\n"
				   "  window: \"22:30-06:00\"\n"
				   "  check_interval: 250ms\n"
				   "checkpoint:\n"
				   "  table: ops.bf_checkpoint\n"
				   "rollback:\n"
				   "  set: { \"Weird Col;\": \"NULL\" }\n"
				   "status:\n"
				   "  socket: /run/bf/x.sock\n"
				   "  mode: 600\n"
				   "metrics:\n"
				   "  textfile: /var/lib/node_exporter/bf.prom\n"
				   "log:\n"
				   "  format: json\n"
				   "  level: debug\n"
				   "  progress_interval: 0\n";
	struct config *cfg = parse_ok(yaml);

	assert_string_equal(cfg->job, "items.v2-x_1");
	assert_string_equal(cfg->db.dsn, "postgresql://backfill@127.0.0.1:5432/app");
	assert_string_equal(cfg->table.schema, "app");
	assert_string_equal(cfg->table.name, "items");
	assert_int_equal(cfg->nkey, 2);
	assert_string_equal(cfg->key[0], "tenant_id");
	assert_string_equal(cfg->key[1], "id");
	assert_int_equal(cfg->nset, 2);
	assert_string_equal(cfg->set[0].column, "new_status");
	assert_string_equal(cfg->set[1].column, "Weird Col;");
	assert_string_equal(cfg->set[1].expr, "lower(name) || 'x'");
	assert_string_equal(cfg->where, "new_status IS NULL AND id > 0");
	assert_int_equal(cfg->batch.size, 2000);
	assert_int_equal(cfg->batch.min_size, 10);
	assert_int_equal(cfg->batch.max_size, 9000);
	assert_int_equal(cfg->batch.target_time_ms, 1500);
	assert_int_equal(cfg->batch.sleep_ms, 20);
	assert_int_equal(cfg->batch.lock_timeout_ms, 2000);
	assert_int_equal(cfg->batch.statement_timeout_ms, 60000);
	assert_int_equal(cfg->batch.max_retries, 0);
	assert_int_equal(cfg->throttle.max_replication_lag_ms, 0);
	assert_int_equal(cfg->throttle.nreplicas, 2);
	assert_string_equal(cfg->throttle.replicas[0].conn.dsn, "host=r1");
	assert_string_equal(cfg->throttle.replicas[1].conn.dsn, "host=r2");
	assert_null(cfg->throttle.replicas[1].conn.password);
	assert_int_equal(cfg->throttle.max_lock_waits, 0);
	assert_int_equal(cfg->throttle.max_active, 64);
	assert_string_equal(cfg->throttle.query, "SELECT count(*) FROM jobs");
	assert_true(cfg->throttle.query_max == 12.5);
	assert_string_equal(cfg->throttle.window, "22:30-06:00");
	assert_int_equal(cfg->throttle.window_start_min, 22 * 60 + 30);
	assert_int_equal(cfg->throttle.window_end_min, 6 * 60);
	assert_int_equal(cfg->throttle.check_interval_ms, 250);
	assert_string_equal(cfg->checkpoint_table.schema, "ops");
	assert_string_equal(cfg->checkpoint_table.name, "bf_checkpoint");
	assert_int_equal(cfg->nrollback_set, 1);
	assert_string_equal(cfg->rollback_set[0].column, "Weird Col;");
	assert_string_equal(cfg->rollback_set[0].expr, "NULL");
	assert_string_equal(cfg->status.socket, "/run/bf/x.sock");
	assert_int_equal(cfg->status.mode, 0600);
	assert_string_equal(cfg->metrics.textfile, "/var/lib/node_exporter/bf.prom");
	assert_int_equal(cfg->log.format, CONFIG_LOG_JSON);
	assert_int_equal(cfg->log.level, CONFIG_LOG_DEBUG);
	assert_int_equal(cfg->log.progress_interval_ms, 0);
	config_free(cfg);
}

static void test_mysql(void **state)
{
	static const char yaml[] = "job: j\n"
				   "database:\n"
				   "  driver: mysql\n"
				   "  host: 127.0.0.1\n"
				   "  port: 3306\n"
				   "  user: backfill\n"
				   "  database: app\n"
				   "table: items\n"
				   "key: id\n"
				   "set: {b: a}\n"
				   "throttle:\n"
				   "  replicas:\n"
				   "    - host: 127.0.0.2\n"
				   "      port: 3307\n"
				   "    - socket: /run/mysqld/replica.sock\n"
				   "      user: monitor\n"
				   "      database: other\n";
	struct config *cfg;

	setenv("BACKFILLD_PASSWORD", "from-env", 1);
	cfg = parse_ok(yaml);
	unsetenv("BACKFILLD_PASSWORD");
	assert_int_equal(cfg->driver, CONFIG_DRIVER_MYSQL);
	assert_null(cfg->db.dsn);
	assert_string_equal(cfg->db.host, "127.0.0.1");
	assert_int_equal(cfg->db.port, 3306);
	assert_null(cfg->db.socket);
	assert_string_equal(cfg->db.user, "backfill");
	assert_string_equal(cfg->db.database, "app");
	assert_string_equal(cfg->db.password, "from-env");
	assert_int_equal(cfg->throttle.nreplicas, 2);
	/* a replica inherits user, database and password, not host or port */
	assert_string_equal(cfg->throttle.replicas[0].conn.host, "127.0.0.2");
	assert_int_equal(cfg->throttle.replicas[0].conn.port, 3307);
	assert_string_equal(cfg->throttle.replicas[0].conn.user, "backfill");
	assert_string_equal(cfg->throttle.replicas[0].conn.database, "app");
	assert_string_equal(cfg->throttle.replicas[0].conn.password, "from-env");
	assert_null(cfg->throttle.replicas[1].conn.host);
	assert_int_equal(cfg->throttle.replicas[1].conn.port, 0);
	assert_string_equal(cfg->throttle.replicas[1].conn.socket, "/run/mysqld/replica.sock");
	assert_string_equal(cfg->throttle.replicas[1].conn.user, "monitor");
	assert_string_equal(cfg->throttle.replicas[1].conn.database, "other");
	config_free(cfg);
}

static void test_scalars_as_text(void **state)
{
	static const char yaml[] = "job: 123\n"
				   "database: {driver: postgres, dsn: 'dbname=app'}\n"
				   "table: \"public.items\"\n"
				   "key: [\"id\"]\n"
				   "set: {flag: true, n: 42}\n"
				   "where: true\n"
				   "batch: ~\n"
				   "throttle:\n"
				   "rollback:\n"
				   "metrics: {textfile: \"\"}\n"
				   "status: {socket: ~, mode: \"0640\"}\n";
	struct config *cfg = parse_ok(yaml);

	assert_string_equal(cfg->job, "123");
	assert_string_equal(cfg->table.schema, "public");
	assert_string_equal(cfg->set[0].expr, "true");
	assert_string_equal(cfg->set[1].expr, "42");
	assert_string_equal(cfg->where, "true");
	assert_int_equal(cfg->batch.size, 1000); /* null section: defaults */
	assert_int_equal(cfg->throttle.check_interval_ms, 1000);
	assert_int_equal(cfg->nrollback_set, 2);
	assert_string_equal(cfg->rollback_set[1].column, "n");
	assert_string_equal(cfg->rollback_set[1].expr, "NULL");
	assert_null(cfg->metrics.textfile);
	assert_string_equal(cfg->status.socket, "/tmp/backfilld/123.sock");
	assert_int_equal(cfg->status.mode, 0640);
	config_free(cfg);
}

/* YAML's core tags mean what they say where they fit; any other tag is an error. */
static void test_core_tags(void **state)
{
	static const char yaml[] = "job: !!str 123\n"
				   "database: !!map {driver: postgres, dsn: ! 'dbname=app'}\n"
				   "table: items\n"
				   "key: !!seq [id]\n"
				   "set: {n: !!str m}\n"
				   "where: !!str null\n"
				   "batch: {size: !!int 2000, max_size: !!float 40000}\n"
				   "throttle: !!null\n"
				   "status: {socket: !!null \"\"}\n";
	struct config *cfg = parse_ok(yaml);

	(void)state;
	assert_string_equal(cfg->job, "123");
	assert_string_equal(cfg->where, "null"); /* a string, not YAML's null */
	assert_int_equal(cfg->batch.size, 2000);
	assert_int_equal(cfg->batch.max_size, 40000);
	assert_int_equal(cfg->throttle.check_interval_ms, 1000);
	assert_string_equal(cfg->status.socket, "/tmp/backfilld/123.sock");
	config_free(cfg);

	base_bad("batch: {size: !!int 1e3}\n",
		 "YAML tag !!int tags a value that is not an integer");
	base_bad("batch: {size: !!float x}\n",
		 "YAML tag !!float tags a value that is not a number");
	base_bad("batch: {size: !!bool 1}\n", "YAML tag !!bool is not allowed in a job file");
	base_bad("batch: {size: !!binary MTAwMA==}\n", "YAML tag !!binary is not allowed");
	base_bad("batch: !!seq {size: 1}\n", "YAML tag !!seq does not fit this node");
	base_bad("batch: {size: !<tag:example.com,2026:n> 1}\n",
		 "YAML tag tag:example.com,2026:n is not one of YAML's core tags");
	base_bad("batch: {size: !!null 5}\n", "YAML tag !!null tags a value that is not null");
	base_bad("batch: !local {size: 5}\n", "YAML tag !local is not one of YAML's core tags");
}

static void test_socket_default(void **state)
{
	struct config *cfg;

	setenv("RUNTIME_DIRECTORY", "/run/backfilld", 1);
	cfg = base_with("");
	assert_string_equal(cfg->status.socket, "/run/backfilld/items_new_status.sock");
	config_free(cfg);

	setenv("RUNTIME_DIRECTORY", "/run/a:/run/b", 1);
	cfg = base_with("status: {socket: \"\"}\n");
	assert_string_equal(cfg->status.socket, "/run/a/items_new_status.sock");
	config_free(cfg);

	setenv("RUNTIME_DIRECTORY", "", 1);
	cfg = base_with("");
	assert_string_equal(cfg->status.socket, "/tmp/backfilld/items_new_status.sock");
	config_free(cfg);

	setenv("RUNTIME_DIRECTORY", "/run/backfilld", 1);
	cfg = base_with("status: {socket: /srv/s.sock}\n");
	assert_string_equal(cfg->status.socket, "/srv/s.sock");
	config_free(cfg);
	unsetenv("RUNTIME_DIRECTORY");

	/* a job name of 100 characters: cut, with a hash of the whole name */
	{
		char name[101], yaml[512], other[101];
		char *a, *b;

		memset(name, 'j', 100);
		name[100] = '\0';
		memcpy(other, name, sizeof(other));
		other[99] = 'k';
		snprintf(yaml, sizeof(yaml), "job: %s\n%s", name, strchr(base, '\n') + 1);
		cfg = parse_ok(yaml);
		a = strdup(cfg->status.socket);
		assert_true(strlen(a) < sizeof(((struct sockaddr_un *)0)->sun_path));
		assert_int_equal(strncmp(a, "/tmp/backfilld/jjjjjjjjjj", 25), 0);
		assert_string_equal(a + strlen(a) - 5, ".sock");
		assert_int_equal(a[strlen(a) - 14], '-');
		config_free(cfg);
		cfg = parse_ok(yaml); /* the same name, the same path */
		assert_string_equal(cfg->status.socket, a);
		config_free(cfg);
		snprintf(yaml, sizeof(yaml), "job: %s\n%s", other, strchr(base, '\n') + 1);
		cfg = parse_ok(yaml);
		b = cfg->status.socket;
		assert_int_equal(strlen(a), strlen(b));
		assert_string_not_equal(a, b); /* the same start, another name */
		config_free(cfg);
		free(a);
	}
}

static void test_status_mode(void **state)
{
	static const struct {
		const char *text;
		unsigned mode;
	} good[] = { { "\"0660\"", 0660 }, { "660", 0660 }, { "0600", 0600 },
		     { "'0777'", 0777 },   { "0", 0 },	    { "644", 0644 } };
	static const char *const bad[] = { "\"0778\"", "1777", "0o660", "rw",
					   "\"\"",     "-660", "06600" };
	char extra[64];
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct config *cfg;

		snprintf(extra, sizeof(extra), "status:\n  mode: %s\n", good[i].text);
		cfg = base_with(extra);
		assert_int_equal(cfg->status.mode, good[i].mode);
		config_free(cfg);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(extra, sizeof(extra), "status:\n  mode: %s\n", bad[i]);
		base_bad(extra, "status.mode: ");
	}
}

static void test_query_max(void **state)
{
	static const char *const bad[] = { "inf", "nan", "0x10", "1e999", "abc", "\" 1\"", "1.2.3" };
	struct config *cfg;
	char extra[64];
	size_t i;

	cfg = base_with("throttle: {query: 'SELECT 1', query_max: -2.25}\n");
	assert_true(cfg->throttle.query_max == -2.25);
	config_free(cfg);
	cfg = base_with("throttle: {query_max: 1e3}\n");
	assert_true(cfg->throttle.query_max == 1000.0);
	config_free(cfg);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(extra, sizeof(extra), "throttle: {query_max: %s}\n", bad[i]);
		base_bad(extra, "throttle.query_max: invalid number");
	}
}

/* --- public helpers ---------------------------------------------------------------- */

static void test_parse_duration(void **state)
{
	static const struct {
		const char *s;
		int64_t ms;
	} good[] = {
		{ "0", 0 },
		{ "0ms", 0 },
		{ "0s", 0 },
		{ "500ms", 500 },
		{ "1s", 1000 },
		{ "1.5s", 1500 },
		{ "2m", 120000 },
		{ "1h", 3600000 },
		{ "0.25m", 15000 },
		{ "1.0001s", 1001 },
		{ "0.0001s", 1 },
		{ "1.5ms", 2 },
		{ "10.123456789h", 36444445 },
		{ "9223372036854775807ms", INT64_MAX },
	};
	static const char *const bad[] = {
		"",
		"5 secs",
		"500",
		"1.5",
		"s",
		"-1s",
		"+1s",
		"1x",
		"1sec",
		"1.s",
		".5s",
		"1..5s",
		" 1s",
		"1s ",
		"1S",
		"1e3ms",
		"0x10s",
		"9223372036854775808ms",
		"2562047788015216h",
		"1.0000000001s",
		"00",
		"1ms5",
	};
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		int64_t ms = -1;

		if (config_parse_duration(good[i].s, &ms) != 0)
			fail_msg("rejected '%s'", good[i].s);
		assert_int_equal(ms, good[i].ms);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t ms = 42;

		if (config_parse_duration(bad[i], &ms) != -EINVAL)
			fail_msg("accepted '%s'", bad[i]);
		assert_int_equal(ms, 42);
	}
	assert_int_equal(config_parse_duration(NULL, NULL), -EINVAL);
}

static void test_parse_window(void **state)
{
	int a = -1, b = -1;

	assert_int_equal(config_parse_window("00:00-23:59", &a, &b), 0);
	assert_int_equal(a, 0);
	assert_int_equal(b, 23 * 60 + 59);
	assert_int_equal(config_parse_window("22:00-06:30", &a, &b), 0);
	assert_int_equal(a, 1320);
	assert_int_equal(b, 390);
	assert_int_equal(config_parse_window("10:00-10:00", &a, &b), -EINVAL);
	assert_int_equal(config_parse_window("24:00-01:00", &a, &b), -EINVAL);
	assert_int_equal(config_parse_window("01:60-02:00", &a, &b), -EINVAL);
	assert_int_equal(config_parse_window("1:00-02:00", &a, &b), -EINVAL);
	assert_int_equal(config_parse_window("01:00 - 02:00", &a, &b), -EINVAL);
	assert_int_equal(config_parse_window("01:00-02:00x", &a, &b), -EINVAL);
	assert_int_equal(config_parse_window("01:00/02:00", &a, &b), -EINVAL);
	assert_int_equal(config_parse_window("", &a, &b), -EINVAL);
	assert_int_equal(config_parse_window(NULL, &a, &b), -EINVAL);
}

static void test_check_identifier(void **state)
{
	char err[128], name[70];

	assert_int_equal(config_check_identifier("id", err, sizeof(err)), 0);
	assert_int_equal(config_check_identifier("we\"ird; name.x", err, sizeof(err)), 0);
	assert_int_equal(config_check_identifier("größe", err, sizeof(err)), 0);
	memset(name, 'a', 63);
	name[63] = '\0';
	assert_int_equal(config_check_identifier(name, err, sizeof(err)), 0);
	name[63] = 'a';
	name[64] = '\0';
	assert_int_equal(config_check_identifier(name, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "is 64 bytes long (max 63)");
	/* 63 bytes is the limit in bytes, not characters */
	memset(name, 'a', 62);
	memcpy(name + 62, "\xc3\xa4", 3);
	assert_int_equal(config_check_identifier(name, err, sizeof(err)), -EINVAL);
	assert_int_equal(config_check_identifier("", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "is empty");
	assert_int_equal(config_check_identifier(NULL, err, sizeof(err)), -EINVAL);
	assert_int_equal(config_check_identifier("a\tb", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "contains a control character");
	assert_int_equal(config_check_identifier("a\x7f", err, sizeof(err)), -EINVAL);
	assert_int_equal(config_check_identifier("a\xff", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "is not valid UTF-8");
	assert_int_equal(config_check_identifier("\xc0\xaf", err, sizeof(err)),
			 -EINVAL); /* overlong */
	assert_int_equal(config_check_identifier("\xed\xa0\x80", err, sizeof(err)),
			 -EINVAL); /* surrogate */
	assert_int_equal(config_check_identifier("\xf4\x90\x80\x80", err, sizeof(err)), -EINVAL);
	assert_int_equal(config_check_identifier("\xe2\x82", err, sizeof(err)), -EINVAL); /* cut */
	assert_int_equal(config_check_identifier("x", NULL, 0), 0);
	assert_int_equal(config_check_identifier("", NULL, 0), -EINVAL);
}

static void hash_of(const char *yaml, char out[17])
{
	struct config *cfg = parse_ok(yaml);

	config_hash(cfg, out);
	config_free(cfg);
}

static void test_hash(void **state)
{
	char h0[17], h[17];
	size_t i;

	hash_of(base, h0);
	assert_int_equal(strlen(h0), 16);
	assert_int_equal(strspn(h0, "0123456789abcdef"), 16);
	/* the hash is pure: same input, same digest; tunables do not matter */
	hash_of(base, h);
	assert_string_equal(h, h0);
	{
		char *s = cat(base,
			      "batch: {size: 5000, max_size: 60000}\nthrottle: {max_active: 3}\n"
			      "log: {level: debug}\nstatus: {mode: '0600'}\n");
		hash_of(s, h);
		free(s);
		assert_string_equal(h, h0);
	}
	{
		/* job name and dsn are not part of what the rows become */
		static const char other[] = "job: another_job\n"
					    "database:\n"
					    "  driver: postgres\n"
					    "  dsn: \"host=elsewhere\"\n"
					    "table: items\n"
					    "key: id\n"
					    "set:\n"
					    "  new_status: old_status\n";
		hash_of(other, h);
		assert_string_equal(h, h0);
	}

	static const char *const variants[] = {
		/* table */
		"job: j\ndatabase: {driver: postgres, dsn: d}\ntable: public.items\nkey: id\nset: {new_status: old_status}\n",
		"job: j\ndatabase: {driver: postgres, dsn: d}\ntable: items2\nkey: id\nset: {new_status: old_status}\n",
		/* key */
		"job: j\ndatabase: {driver: postgres, dsn: d}\ntable: items\nkey: [id, x]\nset: {new_status: old_status}\n",
		"job: j\ndatabase: {driver: postgres, dsn: d}\ntable: items\nkey: uid\nset: {new_status: old_status}\n",
		/* set */
		"job: j\ndatabase: {driver: postgres, dsn: d}\ntable: items\nkey: id\nset: {new_status: old_status2}\n",
		"job: j\ndatabase: {driver: postgres, dsn: d}\ntable: items\nkey: id\nset: {new_status: old_status, b: c}\n",
		"job: j\ndatabase: {driver: postgres, dsn: d}\ntable: items\nkey: id\nset: {new_statu: sold_status}\n",
		/* where */
		"job: j\ndatabase: {driver: postgres, dsn: d}\ntable: items\nkey: id\nset: {new_status: old_status}\nwhere: new_status IS NULL\n",
	};
	char seen[sizeof(variants) / sizeof(variants[0])][17];

	for (i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
		size_t j;

		hash_of(variants[i], seen[i]);
		if (!strcmp(seen[i], h0))
			fail_msg("variant %zu hashes like the base", i);
		for (j = 0; j < i; j++)
			if (!strcmp(seen[i], seen[j]))
				fail_msg("variants %zu and %zu hash alike", i, j);
	}
	/* the set order is part of the job's identity (it is the SQL's order) */
	hash_of("job: j\ndatabase: {driver: postgres, dsn: d}\ntable: items\nkey: id\nset: {a: x, b: y}\n",
		h0);
	hash_of("job: j\ndatabase: {driver: postgres, dsn: d}\ntable: items\nkey: id\nset: {b: y, a: x}\n",
		h);
	assert_string_not_equal(h, h0);
	/* fields are delimited: moving bytes between key parts changes the hash */
	hash_of("job: j\ndatabase: {driver: postgres, dsn: d}\ntable: items\nkey: [ab, c]\nset: {z: x}\n",
		h0);
	hash_of("job: j\ndatabase: {driver: postgres, dsn: d}\ntable: items\nkey: [a, bc]\nset: {z: x}\n",
		h);
	assert_string_not_equal(h, h0);

	/* a known digest pins the serialization: changing it strands every checkpoint */
	{
		struct config cfg;

		memset(&cfg, 0, sizeof(cfg));
		cfg.table.name = "t";
		cfg.key[0] = "id";
		cfg.nkey = 1;
		struct config_assign a = { "c", "e" };
		cfg.set = &a;
		cfg.nset = 1;
		config_hash(&cfg, h);
		/* FNV-1a 64 of V23:backfilld-config-hash-1 T- t1:t K1:1 k2:id S1:1 c1:c e1:e W-
		 * (no spaces), computed independently */
		assert_string_equal(h, "c40f6ca2bb66ac98");
		cfg.where = "x";
		config_hash(&cfg, h);
		assert_string_equal(h, "42d89109a1efc0fe");
		hash_of("job: j\ndatabase: {driver: postgres, dsn: d}\ntable: t\nkey: id\nset: {c: e}\nwhere: x\n",
			h0);
		assert_string_equal(h, h0);
	}
}

/* --- passwords -------------------------------------------------------------------- */

/* Under systemd, LoadCredential=password:… hands the password over in
 * $CREDENTIALS_DIRECTORY; BACKFILLD_PASSWORD and password_file still win. */
static void test_password_credential(void **state)
{
	static const char yaml[] = "job: j\ndatabase: {driver: postgres, dsn: d}\n"
				   "table: t\nkey: id\nset: {a: b}\n";
	char cred[256];
	struct config *cfg;

	snprintf(cred, sizeof(cred), "%s/password", tmpdir);
	write_file(cred, "from-credential\n", 0400);
	setenv("CREDENTIALS_DIRECTORY", tmpdir, 1);
	cfg = parse_ok(yaml);
	assert_string_equal(cfg->db.password, "from-credential");
	config_free(cfg);
	setenv("BACKFILLD_PASSWORD", "from-env", 1);
	cfg = parse_ok(yaml);
	assert_string_equal(cfg->db.password, "from-env");
	config_free(cfg);
	unsetenv("BACKFILLD_PASSWORD");
	unlink(cred);
	cfg = parse_ok(yaml); /* no credential there: no password */
	assert_null(cfg->db.password);
	config_free(cfg);
	unsetenv("CREDENTIALS_DIRECTORY");
}

static void test_password_file(void **state)
{
	char pw[128], pw2[128], open_pw[128], cfgpath[128], yaml[1024], err[512];
	struct config *cfg;
	int rc;

	snprintf(pw, sizeof(pw), "%s/app.password", tmpdir);
	snprintf(pw2, sizeof(pw2), "%s/replica.password", tmpdir);
	snprintf(open_pw, sizeof(open_pw), "%s/open.password", tmpdir);
	write_file(pw, "s3cret\n", 0600);
	write_file(pw2, "other\r\n", 0640);
	write_file(open_pw, "leaked-secret\n", 0644);

	setenv("BACKFILLD_PASSWORD", "env-loses", 1);
	snprintf(yaml, sizeof(yaml),
		 "job: j\n"
		 "database: {driver: postgres, dsn: d, password_file: %s}\n"
		 "table: t\nkey: id\nset: {a: b}\n"
		 "throttle:\n"
		 "  replicas:\n"
		 "    - dsn: r1\n"
		 "    - dsn: r2\n"
		 "      password_file: %s\n",
		 pw, pw2);
	cfg = parse_ok(yaml);
	unsetenv("BACKFILLD_PASSWORD");
	assert_string_equal(cfg->db.password_file, pw);
	assert_string_equal(cfg->db.password, "s3cret");
	assert_string_equal(cfg->throttle.replicas[0].conn.password, "s3cret");
	assert_null(cfg->throttle.replicas[0].conn.password_file);
	assert_string_equal(cfg->throttle.replicas[1].conn.password, "other");
	config_free(cfg);

	/* readable by others: read, with a warning that never holds the secret */
	snprintf(yaml, sizeof(yaml),
		 "job: j\ndatabase:\n  driver: postgres\n  dsn: d\n  password_file: %s\n"
		 "table: t\nkey: id\nset: {a: b}\n",
		 open_pw);
	rc = config_parse(NAME, yaml, strlen(yaml), &cfg, err, sizeof(err));
	assert_int_equal(rc, 0);
	assert_string_equal(cfg->db.password, "leaked-secret");
	assert_non_null(cfg->warnings);
	assert_non_null(strstr(cfg->warnings, "test.yaml:5:18: database.password_file: "));
	assert_non_null(
		strstr(cfg->warnings, "accessible by others (mode 0644); chmod o-rwx it\n"));
	assert_null(strstr(cfg->warnings, "leaked"));
	config_free(cfg);
	cfg = NULL;

	snprintf(yaml, sizeof(yaml),
		 "job: j\ndatabase:\n  driver: postgres\n  dsn: d\n  password_file: %s/nope\n"
		 "table: t\nkey: id\nset: {a: b}\n",
		 tmpdir);
	rc = config_parse(NAME, yaml, strlen(yaml), &cfg, err, sizeof(err));
	assert_int_equal(rc, -EINVAL);
	snprintf(
		yaml, sizeof(yaml),
		"test.yaml:5:18: database.password_file: cannot read %s/nope: No such file or directory",
		tmpdir);
	assert_string_equal(err, yaml);

	/* a directory is not a password file */
	snprintf(yaml, sizeof(yaml),
		 "job: j\ndatabase: {driver: postgres, dsn: d, password_file: %s}\n"
		 "table: t\nkey: id\nset: {a: b}\n",
		 tmpdir);
	parse_bad(yaml, "not a regular file");

	/* a relative password_file is relative to the job file, not to the cwd */
	snprintf(cfgpath, sizeof(cfgpath), "%s/job.yaml", tmpdir);
	write_file(cfgpath,
		   "job: j\ndatabase: {driver: postgres, dsn: d, password_file: app.password}\n"
		   "table: t\nkey: id\nset: {a: b}\n",
		   0644);
	rc = config_load(cfgpath, &cfg, err, sizeof(err));
	if (rc)
		fail_msg("%s", err);
	assert_string_equal(cfg->path, cfgpath);
	assert_string_equal(cfg->db.password_file, pw);
	assert_string_equal(cfg->db.password, "s3cret");
	config_free(cfg);

	/* an empty file is an empty password; only one newline is stripped */
	write_file(pw, "\n\n", 0600);
	snprintf(yaml, sizeof(yaml),
		 "job: j\ndatabase: {driver: postgres, dsn: d, password_file: %s}\n"
		 "table: t\nkey: id\nset: {a: b}\n",
		 pw);
	cfg = parse_ok(yaml);
	assert_string_equal(cfg->db.password, "\n");
	config_free(cfg);
}

static void test_dsn_without_password(void **state)
{
	static const char *const ok[] = {
		"host=r passfile=/etc/pgpass user=password",
		"host=r application_name='password=x' dbname=d",
		"host=r application_name=a\\\\ password=x", /* an escaped space, in YAML */
		"postgresql://u@r:5432/db?sslmode=require",
		"postgresql://r1:5432,r2:5433/db",
		"postgres:///db?host=/run/postgresql",
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		char yaml[256];
		struct config *cfg;

		snprintf(yaml, sizeof(yaml), "throttle: {replicas: [{dsn: \"%s\"}]}\n", ok[i]);
		cfg = base_with(yaml);
		config_free(cfg); /* accepted: base_with fails the test otherwise */
	}
}

static void test_env_password(void **state)
{
	struct config *cfg;
	const char *env;

	setenv("BACKFILLD_PASSWORD", "pw-from-env", 1);
	env = getenv("BACKFILLD_PASSWORD");
	cfg = base_with("throttle: {replicas: [{dsn: r}]}\n");
	assert_string_equal(cfg->db.password, "pw-from-env");
	assert_string_equal(cfg->throttle.replicas[0].conn.password, "pw-from-env");
	/* read once, then gone from the environment, its old value wiped in place */
	assert_null(getenv("BACKFILLD_PASSWORD"));
	assert_int_equal(env[0], '\0');
	/* the config's copies go once the connections have theirs */
	config_wipe_secrets(cfg);
	assert_null(cfg->db.password);
	assert_null(cfg->throttle.replicas[0].conn.password);
	config_free(cfg);
	unsetenv("BACKFILLD_PASSWORD");
	cfg = base_with("");
	assert_null(cfg->db.password);
	config_free(cfg);
}

/* base_with(yaml) gives these batch limits; -1: not looked at */
static void limits_are(const char *yaml, int64_t min, int64_t size, int64_t max)
{
	struct config *cfg = base_with(yaml);

	if (min >= 0)
		assert_int_equal(cfg->batch.min_size, min);
	if (size >= 0)
		assert_int_equal(cfg->batch.size, size);
	if (max >= 0)
		assert_int_equal(cfg->batch.max_size, max);
	config_free(cfg);
}

/* Limits left to their defaults make room for those given; given ones are kept. */
static void test_batch_defaults_make_room(void **state)
{
	(void)state;
	limits_are("batch: {size: 10}\n", 10, 10, 50000);
	limits_are("batch: {size: 80000}\n", 100, -1, 80000);
	limits_are("batch: {max_size: 50}\n", 50, 50, 50);
	limits_are("batch: {max_size: 500}\n", 100, 500, -1);
	limits_are("batch: {min_size: 60000}\n", -1, 60000, 60000);
	limits_are("batch: {min_size: 2000}\n", -1, 2000, 50000);
	limits_are("batch: {size: 20, max_size: 30}\n", 20, -1, -1);
	base_bad("batch: {min_size: 60000, max_size: 50000}\n",
		 "batch.min_size: 60000 is greater than batch.max_size (50000)");
	base_bad("batch: {size: 10, min_size: 20}\n",
		 "batch.size: 10 is below batch.min_size (20)");
}

/* --- errors ------------------------------------------------------------------------- */

static void expect_exact(const char *yaml, int want_rc, const char *want)
{
	struct config *cfg = NULL;
	char err[512];
	int rc = config_parse(NAME, yaml, strlen(yaml), &cfg, err, sizeof(err));

	assert_int_equal(rc, want_rc);
	assert_null(cfg);
	assert_string_equal(err, want);
}

static void test_error_positions(void **state)
{
	char *s;

	s = cat(base, "batch:\n  lock_timeout: 5 secs\n");
	expect_exact(
		s, -EINVAL,
		"test.yaml:10:17: batch.lock_timeout: invalid duration \"5 secs\" (use ms, s, m or h)");
	free(s);

	s = cat(base, "tabel: x\n");
	expect_exact(s, -EINVAL, "test.yaml:9:1: unknown key \"tabel\" (did you mean \"table\"?)");
	free(s);

	s = cat(base, "batch:\n  size: 10\n  sise: 20\n");
	expect_exact(s, -EINVAL,
		     "test.yaml:11:3: unknown key \"batch.sise\" (did you mean \"batch.size\"?)");
	free(s);

	s = cat(base, "throttle: {frobnicate: 1}\n");
	expect_exact(s, -EINVAL, "test.yaml:9:12: unknown key \"throttle.frobnicate\"");
	free(s);

	s = cat(base, "job: again\n");
	expect_exact(s, -EINVAL, "test.yaml:9:1: duplicate key \"job\" (first at line 1)");
	free(s);

	s = cat(base, "batch:\n  size: {a: 1}\n");
	expect_exact(s, -EINVAL,
		     "test.yaml:10:9: batch.size: expected a scalar value, got a mapping");
	free(s);

	s = cat(base, "batch:\n  size: 0\n");
	expect_exact(s, -EINVAL, "test.yaml:10:9: batch.size: 0 is out of range (1..10000000)");
	free(s);

	s = cat(base, "batch:\n  size: 50\n  min_size: 100\n");
	expect_exact(s, -EINVAL, "test.yaml:10:9: batch.size: 50 is below batch.min_size (100)");
	free(s);
	s = cat(base, "batch: {max_size: 500, size: 1000}\n");
	expect_exact(s, -EINVAL, "test.yaml:9:30: batch.size: 1000 is above batch.max_size (500)");
	free(s);

	s = cat(base, "throttle:\n  replicas:\n    - dsn: x\n    - host: y\n");
	expect_exact(
		s, -EINVAL,
		"test.yaml:12:7: throttle.replicas[1].host: not used by the postgres driver (put it into throttle.replicas[1].dsn)");
	free(s);

	s = cat(base, "log: &l {level: info}\n");
	expect_exact(s, -EINVAL, "test.yaml:9:6: YAML anchors and aliases are not allowed (&l)");
	free(s);

	expect_exact(
		"job: x\ndatabase:\n  driver: postgres\n  host: h\n", -EINVAL,
		"test.yaml:4:3: database.host: not used by the postgres driver (put it into database.dsn)");
	expect_exact("job: x\ndatabase:\n  driver: mysql\n  host: h\n", -EINVAL,
		     "test.yaml:2:1: missing required key \"database.user\"");
	expect_exact("job: x\n", -EINVAL, "test.yaml:1:1: missing required key \"database\"");
	expect_exact("job: x\n---\njob: y\n", -EINVAL,
		     "test.yaml:2:1: more than one YAML document (one job per file)");
	expect_exact(
		"job: x\n# caf\xc3 au lait\n", -EINVAL,
		"test.yaml:2:6: invalid input: invalid trailing UTF-8 octet (byte 0xc3 at offset 12)");
	/* columns count characters, not bytes */
	expect_exact(
		"job: x\nwhere: \xc3\xa4\xc3\xa4 \xff\n", -EINVAL,
		"test.yaml:2:11: invalid input: invalid leading UTF-8 octet (byte 0xff at offset 19)");
	expect_exact("", -EINVAL, "test.yaml: empty file (expected a mapping of settings)");
	expect_exact("# nothing\n", -EINVAL,
		     "test.yaml: empty file (expected a mapping of settings)");
	expect_exact("- a\n- b\n", -EINVAL,
		     "test.yaml:1:1: top level: expected a mapping of settings, got a sequence");
	expect_exact(
		"job: [x\n", -EINVAL,
		"test.yaml:2:1: invalid YAML: did not find expected ',' or ']' (while parsing a flow sequence at line 1, column 6)");
}

static void test_error_messages(void **state)
{
	/* values are named and escaped; the key path is always there */
	base_bad("where: \"\"\n", "test.yaml:9:8: where: must not be empty");
	base_bad("where: \"  \"\n", "where: must not be empty");
	base_bad("where: ~\n", "where: must not be empty");
	base_bad(
		"rollback: {set: {new_status: NULL}}\n",
		"rollback.set.new_status: must not be empty (a bare NULL is YAML's null; to mean SQL NULL write \"NULL\" in quotes)");
	base_bad("rollback: {set: {other: \"NULL\"}}\n",
		 "test.yaml:9:18: rollback.set.other: not a column of set");
	base_bad("batch: {size: 0x10}\n", "batch.size: invalid integer \"0x10\"");
	base_bad("batch: {size: 010}\n", "batch.size: invalid integer \"010\"");
	base_bad("batch: {size: 1.5}\n", "batch.size: invalid integer \"1.5\"");
	base_bad("batch: {size: 1_000}\n", "batch.size: invalid integer \"1_000\"");
	base_bad("batch: {size: +5}\n", "batch.size: invalid integer \"+5\"");
	base_bad("batch: {size: -}\n", "batch.size: invalid integer \"-\"");
	base_bad("batch: {size: }\n", "batch.size: must not be empty");
	base_bad("batch: {size: 99999999999999999999}\n",
		 "batch.size: \"99999999999999999999\" is out of range");
	base_bad("batch: {max_retries: -9223372036854775808}\n",
		 "batch.max_retries: must not be negative");
	base_bad("batch: {max_retries: -9223372036854775809}\n",
		 "batch.max_retries: \"-9223372036854775809\" is out of range");
	base_bad("batch: {max_retries: 1001}\n",
		 "batch.max_retries: 1001 is out of range (0..1000)");
	base_bad("batch: {max_size: 10000001}\n", "batch.max_size: 10000001 is out of range");
	base_bad("batch: {min_size: 5000, max_size: 4000, size: 4500}\n",
		 "batch.min_size: 5000 is greater than batch.max_size (4000)");
	base_bad("batch: {sleep: -5ms}\n", "batch.sleep: must not be negative, got \"-5ms\"");
	base_bad("batch: {statement_timeout: 0}\n",
		 "batch.statement_timeout: must be greater than 0");
	base_bad("batch: {target_time: 0s}\n", "batch.target_time: must be greater than 0");
	base_bad("throttle: {check_interval: 0ms}\n",
		 "throttle.check_interval: must be greater than 0");
	base_bad("batch: {statement_timeout: 600h}\n",
		 "batch.statement_timeout: duration \"600h\" is too long");
	base_bad("batch: {sleep: 99999999999999999999ms}\n", "batch.sleep: invalid duration");
	base_bad("throttle: {max_lock_waits: 1000001}\n",
		 "throttle.max_lock_waits: 1000001 is out of range");
	base_bad("throttle: {max_active: -1}\n",
		 "throttle.max_active: must not be negative, got -1");
	base_bad("throttle: {window: \"25:00-01:00\"}\n",
		 "throttle.window: invalid window \"25:00-01:00\"");
	base_bad("throttle: {replicas: {dsn: x}}\n",
		 "throttle.replicas: expected a sequence of connections, got a mapping");
	base_bad("throttle: {replicas: [x]}\n",
		 "throttle.replicas[0]: expected a mapping, got \"x\"");
	base_bad("throttle: {replicas: [{}]}\n",
		 "missing required key \"throttle.replicas[0].dsn\"");
	base_bad("throttle: {replicas: [{dsn: x, password: y}]}\n",
		 "throttle.replicas[0].password: passwords are never read from the YAML");
	/* nor from a dsn, in either of libpq's forms */
	base_bad(
		"throttle: {replicas: [{dsn: \"host=r password=s3cret\"}]}\n",
		"throttle.replicas[0].dsn holds a password: passwords are never read from the YAML");
	base_bad("throttle: {replicas: [{dsn: \"host=r password = 'a b'\"}]}\n",
		 "throttle.replicas[0].dsn holds a password");
	base_bad("throttle: {replicas: [{dsn: \"postgresql://u:pw@r/db\"}]}\n",
		 "throttle.replicas[0].dsn holds a password");
	base_bad("throttle: {replicas: [{dsn: \"postgres://r/db?sslmode=require&password=pw\"}]}\n",
		 "throttle.replicas[0].dsn holds a password");
	base_bad("batch: 5\n", "batch: expected a mapping, got \"5\"");
	base_bad("batch: [1]\n", "batch: expected a mapping, got a sequence");
	base_bad("log: {format: xml}\n", "log.format: unknown format \"xml\" (use text or json)");
	base_bad("log: {level: verbose}\n", "log.level: unknown level \"verbose\"");
	base_bad("log: {progress_interval: 5}\n", "log.progress_interval: invalid duration \"5\"");
	base_bad("checkpoint: {table: a.b.c}\n",
		 "checkpoint.table: \"a.b.c\" has more than one dot");
	base_bad("checkpoint: {table: \"x\\ty\"}\n",
		 "checkpoint.table: invalid table name \"x\\ty\": contains a control character");
	base_bad("checkpoint: {table: \".t\"}\n",
		 "checkpoint.table: invalid schema name \"\": is empty");
	base_bad(
		"status: {socket: /x/yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy.sock}\n",
		"status.socket: path too long for a Unix socket (max 107 bytes)");
	base_bad("where: \"a\\0b\"\n", "where: contains a NUL character");
	base_bad("[a]: b\n", "keys must be plain names, got a sequence");
	base_bad("set: {x: y}\n", "duplicate key \"set\" (first at line 7)");
	base_bad("metrics: {textfile: [a]}\n",
		 "metrics.textfile: expected a scalar value, got a sequence");

	parse_bad("job: x\ndatabase: {driver: postgres, dsn: d}\ntable: t\nkey: id\nset: {id: x}\n",
		  "test.yaml:5:7: set.id: is a key column");
	parse_bad(
		"job: x\ndatabase: {driver: postgres, dsn: d}\ntable: t\nkey: [a, b, a]\nset: {x: y}\n",
		"test.yaml:4:13: key[2]: duplicate key column \"a\"");
	parse_bad(
		"job: x\ndatabase: {driver: postgres, dsn: d}\ntable: t\nkey: [a, b, c, d, e, f, g, h, i]\nset: {x: y}\n",
		"key: too many key columns (9, max 8)");
	parse_bad(
		"job: x\ndatabase: {driver: postgres, dsn: d}\ntable: t\nkey: id\nset: {x: y, x: z}\n",
		"test.yaml:5:13: set: duplicate column \"x\" (first at line 5)");
	parse_bad("job: \"bad name\"\n", "test.yaml:1:6: job: invalid job name \"bad name\"");
	parse_bad("job: x\ndatabase: {driver: Postgres}\n",
		  "database.driver: unknown driver \"Postgres\" (use postgres or mysql)");
	parse_bad("job: x\ndatabase: {driver: mysql, user: u, database: d}\n",
		  "database: the mysql driver needs database.host or database.socket");
	parse_bad("job: x\ndatabase: {driver: mysql, host: h, user: u, database: d, port: 65536}\n",
		  "database.port: 65536 is out of range (0..65535)");
	parse_bad("job: x\ndatabase: {driver: mysql, host: h, user: u, database: d, dsn: x}\n",
		  "database.dsn: not used by the mysql driver");
	parse_bad(
		"job: x\ndatabase: {driver: postgres, dsn: d, pasword_file: x}\n",
		"unknown key \"database.pasword_file\" (did you mean \"database.password_file\"?)");
	/* a 100-character job name fits, cut (test_socket_default); a runtime directory
	 * that leaves no room does not */
	setenv("RUNTIME_DIRECTORY",
	       "/run/dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
	       "ddddddddddddddddddddddddd",
	       1);
	parse_bad("job: a\ndatabase: {driver: postgres, dsn: d}\ntable: t\nkey: id\nset: {x: y}\n",
		  "test.yaml:1:6: status.socket: the default directory /run/dddd");
	unsetenv("RUNTIME_DIRECTORY");
}

static void test_limits(void **state)
{
	size_t n = 70000, i;
	char *s = malloc(n + 64), *p;
	char err[256];
	struct config *cfg;

	/* one scalar over 64 KiB */
	assert_non_null(s);
	p = s + sprintf(s, "job: x\nwhere: ");
	memset(p, 'a', n);
	strcpy(p + n, "\n");
	parse_bad(s, "test.yaml:2:8: value too long (70000 bytes, max 65536)");

	/* nesting far beyond anything the schema needs */
	p = s + sprintf(s, "job: x\nwhere: ");
	for (i = 0; i < 10000; i++)
		*p++ = '[';
	strcpy(p, "\n");
	parse_bad(s, "nested too deeply");
	free(s);

	/* an alias bomb is refused at the first anchor, long before any expansion */
	parse_bad("a: &a [x, x, x, x, x, x, x, x, x]\n"
		  "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
		  "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n",
		  "test.yaml:1:4: YAML anchors and aliases are not allowed (&a)");
	parse_bad("job: *nothing\n", "aliases are not allowed");

	/* a raw NUL byte in the input is a reader error, not a truncated string */
	assert_int_equal(config_parse(NAME, "job: x\0y\n", 9, &cfg, err, sizeof(err)), -EINVAL);
	assert_null(cfg);
	assert_non_null(strstr(
		err,
		"test.yaml:1:7: invalid input: control characters are not allowed (byte 0x00 at offset 6)"));

	/* too big a buffer */
	assert_int_equal(config_parse(NAME, "x", 2 * 1024 * 1024, &cfg, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "test.yaml: file too large (2097152 bytes, max 1048576)");

	/* a tiny error buffer is never overrun, and NULL is tolerated */
	assert_int_equal(config_parse(NAME, "job: [", 6, &cfg, err, 5), -EINVAL);
	assert_string_equal(err, "test");
	assert_int_equal(config_parse(NAME, "job: [", 6, &cfg, NULL, 0), -EINVAL);
}

static void test_load_errors(void **state)
{
	struct config *cfg = (struct config *)1;
	char err[256], path[128];

	snprintf(path, sizeof(path), "%s/missing.yaml", tmpdir);
	assert_int_equal(config_load(path, &cfg, err, sizeof(err)), -ENOENT);
	assert_null(cfg);
	assert_true(strncmp(err, path, strlen(path)) == 0);
	assert_string_equal(err + strlen(path), ": cannot read: No such file or directory");

	assert_int_equal(config_load(tmpdir, &cfg, err, sizeof(err)), -EISDIR);
	assert_string_equal(err + strlen(tmpdir), ": cannot read: Is a directory");
}

/* Every prefix of a full config either loads or fails with a positioned message. */
static void test_every_prefix(void **state)
{
	static const char full[] = "job: p\n"
				   "database:\n"
				   "  driver: mysql\n"
				   "  host: 127.0.0.1\n"
				   "  port: 3306\n"
				   "  user: u\n"
				   "  database: app\n"
				   "table: app.items\n"
				   "key: [t, id]\n"
				   "set: {\"a b\": \"x || 'y'\", c: d}\n"
				   "where: a IS NULL\n"
				   "batch: {size: 1000, sleep: 1.5s}\n"
				   "throttle:\n"
				   "  replicas:\n"
				   "    - {host: r, port: 3307}\n"
				   "  window: \"01:00-02:00\"\n"
				   "rollback:\n"
				   "  set: {c: \"NULL\"}\n"
				   "status: {mode: 0600}\n"
				   "log: {format: json}\n";
	size_t len, ok = 0;

	for (len = 0; len <= sizeof(full) - 1; len++) {
		struct config *cfg = NULL;
		char err[512];
		int rc = config_parse(NAME, full, len, &cfg, err, sizeof(err));

		if (rc == 0) {
			assert_non_null(cfg);
			config_free(cfg);
			ok++;
		} else {
			assert_int_equal(rc, -EINVAL);
			assert_null(cfg);
			assert_int_equal(strncmp(err, NAME ":", strlen(NAME ":")), 0);
		}
	}
	assert_true(ok > 0);
}

/* --- corpus -------------------------------------------------------------------------- */

static int yaml_name(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return n > 5 && !strcmp(d->d_name + n - 5, ".yaml");
}

static const char *data_dir(void)
{
	const char *d = getenv("BACKFILLD_TEST_DATA");

	if (!d || !*d)
		fail_msg("BACKFILLD_TEST_DATA is not set (CMake sets it to tests/data)");
	return d;
}

static void test_bad_corpus(void **state)
{
	struct dirent **list;
	char dir[512];
	int n, i;

	snprintf(dir, sizeof(dir), "%s/bad", data_dir());
	n = scandir(dir, &list, yaml_name, alphasort);
	assert_true(n >= 25);
	for (i = 0; i < n; i++) {
		char path[1024], first[512], err[1024], *want, *nl;
		struct config *cfg = (struct config *)1;
		FILE *f;
		int rc;

		snprintf(path, sizeof(path), "%s/%s", dir, list[i]->d_name);
		f = fopen(path, "r");
		assert_non_null(f);
		if (!fgets(first, sizeof(first), f))
			first[0] = '\0';
		fclose(f);
		if (strncmp(first, "# expect: ", 10) != 0)
			fail_msg("%s: first line is not '# expect: ...'", path);
		want = first + 10;
		nl = strchr(want, '\n');
		if (nl)
			*nl = '\0';
		assert_true(*want != '\0');

		rc = config_load(path, &cfg, err, sizeof(err));
		if (rc >= 0)
			fail_msg("%s: loaded, expected '%s'", path, want);
		assert_null(cfg);
		if (strncmp(err, path, strlen(path)) != 0 || err[strlen(path)] != ':')
			fail_msg("%s: message does not start with the path: %s", path, err);
		if (!strstr(err, want))
			fail_msg("%s: message '%s' lacks '%s'", path, err, want);
		free(list[i]);
	}
	free(list);
}

static void test_good_corpus(void **state)
{
	struct dirent **list;
	char dir[512];
	int n, i;

	snprintf(dir, sizeof(dir), "%s/good", data_dir());
	n = scandir(dir, &list, yaml_name, alphasort);
	assert_true(n >= 3);
	for (i = 0; i < n; i++) {
		char path[1024], err[1024];
		struct config *cfg = NULL;

		snprintf(path, sizeof(path), "%s/%s", dir, list[i]->d_name);
		if (config_load(path, &cfg, err, sizeof(err)) != 0)
			fail_msg("%s", err);
		assert_non_null(cfg->job);
		assert_true(cfg->nkey >= 1 && cfg->nset >= 1);
		assert_true(cfg->nrollback_set >= 1);
		config_free(cfg);
		free(list[i]);
	}
	free(list);
}

/* Where a connection points, for messages: never the password a DSN may hold. */
static void test_conn_name(void **state)
{
	struct config_conn pg = { .dsn = "host=db1 port=5433 user=u password=hunter2" };
	struct config_conn pg_bare = { .dsn = "dbname=app password=hunter2" };
	struct config_conn my = { .host = "db2", .port = 3307 };
	struct config_conn my_sock = { .socket = "/run/mysqld/mysqld.sock" };
	char out[160];

	(void)state;
	config_conn_name(&pg, CONFIG_DRIVER_POSTGRES, "primary", out, sizeof(out));
	assert_string_equal(out, "db1:5433");
	config_conn_name(&pg_bare, CONFIG_DRIVER_POSTGRES, "replica 2", out, sizeof(out));
	assert_string_equal(out, "replica 2");
	config_conn_name(&my, CONFIG_DRIVER_MYSQL, "primary", out, sizeof(out));
	assert_string_equal(out, "db2:3307");
	config_conn_name(&my_sock, CONFIG_DRIVER_MYSQL, "primary", out, sizeof(out));
	assert_string_equal(out, "/run/mysqld/mysqld.sock");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_minimal_defaults),
		cmocka_unit_test(test_every_key),
		cmocka_unit_test(test_mysql),
		cmocka_unit_test(test_scalars_as_text),
		cmocka_unit_test(test_core_tags),
		cmocka_unit_test(test_batch_defaults_make_room),
		cmocka_unit_test(test_socket_default),
		cmocka_unit_test(test_status_mode),
		cmocka_unit_test(test_query_max),
		cmocka_unit_test(test_parse_duration),
		cmocka_unit_test(test_parse_window),
		cmocka_unit_test(test_check_identifier),
		cmocka_unit_test(test_hash),
		cmocka_unit_test(test_password_file),
		cmocka_unit_test(test_password_credential),
		cmocka_unit_test(test_dsn_without_password),
		cmocka_unit_test(test_env_password),
		cmocka_unit_test(test_error_positions),
		cmocka_unit_test(test_error_messages),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_every_prefix),
		cmocka_unit_test(test_bad_corpus),
		cmocka_unit_test(test_good_corpus),
		cmocka_unit_test(test_conn_name),
	};

	return cmocka_run_group_tests(tests, setup_env, teardown_env);
}

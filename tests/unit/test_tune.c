/* test_tune.c - live tuning (`set KEY=VALUE`) of a parsed configuration. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backfilld/config.h"
#include "backfilld/tune.h"

#define NAME "tune.yaml"

static const char base[] = "job: tune_test\n"
			   "database:\n"
			   "  driver: postgres\n"
			   "  dsn: x\n"
			   "table: t\n"
			   "key: id\n"
			   "set:\n"
			   "  b: a\n"
			   "where: b IS NULL\n";

static struct config *load(const char *yaml)
{
	struct config *cfg = NULL;
	char err[512] = "";
	int rc = config_parse(NAME, yaml, strlen(yaml), &cfg, err, sizeof(err));

	if (rc != 0)
		fail_msg("config_parse: %d %s\n--- input:\n%s", rc, err, yaml);
	assert_non_null(cfg);
	return cfg;
}

static int setup(void **state)
{
	*state = load(base);
	return 0;
}

static int teardown(void **state)
{
	config_free(*state);
	return 0;
}

/* Everything tune_set may touch, and the things it must never touch. */
struct snap {
	int64_t size, min_size, max_size, target, sleep, lock, stmt, retries;
	int64_t lag, lock_waits, active, interval, progress;
	double query_max;
	int window_start, window_end, level, format;
	char query[1100], window[64];
	char job[64], table[64], key0[64], set_col[64], set_expr[64], where[64], dsn[64];
	size_t nkey, nset, nreplicas;
};

static void copy_str(char *dst, size_t cap, const char *s)
{
	snprintf(dst, cap, "%s", s ? s : "(null)");
}

static void take(const struct config *c, struct snap *s)
{
	memset(s, 0, sizeof(*s));
	s->size = c->batch.size;
	s->min_size = c->batch.min_size;
	s->max_size = c->batch.max_size;
	s->target = c->batch.target_time_ms;
	s->sleep = c->batch.sleep_ms;
	s->lock = c->batch.lock_timeout_ms;
	s->stmt = c->batch.statement_timeout_ms;
	s->retries = c->batch.max_retries;
	s->lag = c->throttle.max_replication_lag_ms;
	s->lock_waits = c->throttle.max_lock_waits;
	s->active = c->throttle.max_active;
	s->interval = c->throttle.check_interval_ms;
	s->progress = c->log.progress_interval_ms;
	s->query_max = c->throttle.query_max;
	/* an unset string is "" or NULL alike ("none") */
	copy_str(s->query, sizeof(s->query), c->throttle.query ? c->throttle.query : "");
	copy_str(s->window, sizeof(s->window), c->throttle.window ? c->throttle.window : "");
	s->window_start = c->throttle.window_start_min;
	s->window_end = c->throttle.window_end_min;
	s->level = (int)c->log.level;
	s->format = (int)c->log.format;
	copy_str(s->job, sizeof(s->job), c->job);
	copy_str(s->table, sizeof(s->table), c->table.name);
	copy_str(s->key0, sizeof(s->key0), c->key[0]);
	copy_str(s->set_col, sizeof(s->set_col), c->nset ? c->set[0].column : NULL);
	copy_str(s->set_expr, sizeof(s->set_expr), c->nset ? c->set[0].expr : NULL);
	copy_str(s->where, sizeof(s->where), c->where);
	copy_str(s->dsn, sizeof(s->dsn), c->db.dsn);
	s->nkey = c->nkey;
	s->nset = c->nset;
	s->nreplicas = c->throttle.nreplicas;
}

static void assert_same(const struct snap *a, const struct snap *b, const char *what)
{
	if (memcmp(a, b, sizeof(*a)) != 0)
		fail_msg("%s: the configuration changed (batch %lld/%lld/%lld sleep %lld, "
			 "query \"%s\"/\"%s\", window \"%s\"/\"%s\", level %d/%d)",
			 what, (long long)b->size, (long long)b->min_size, (long long)b->max_size,
			 (long long)b->sleep, a->query, b->query, a->window, b->window, a->level,
			 b->level);
}

static void tune_ok(struct config *cfg, const char *key, const char *value)
{
	char err[512] = "";
	int rc = tune_set(cfg, key, value, err, sizeof(err));

	if (rc != 0)
		fail_msg("%s=\"%s\": unexpected error %d: %s", key, value, rc, err);
}

/* Refused with -EINVAL, a reason, and cfg as it was. */
static void tune_bad(struct config *cfg, const char *key, const char *value)
{
	struct snap before, after;
	char err[512] = "";
	int rc;

	take(cfg, &before);
	rc = tune_set(cfg, key, value, err, sizeof(err));
	take(cfg, &after);
	if (rc != -EINVAL)
		fail_msg("%s=\"%s\": expected -EINVAL, got %d", key, value, rc);
	if (err[0] == '\0')
		fail_msg("%s=\"%s\": refused without a reason", key, value);
	assert_same(&before, &after, key);
}

static void test_defaults_as_expected(void **state)
{
	struct config *cfg = *state;

	/* the bounds the other tests count on */
	assert_int_equal(cfg->batch.size, 1000);
	assert_int_equal(cfg->batch.min_size, 100);
	assert_int_equal(cfg->batch.max_size, 50000);
	assert_int_equal(cfg->log.level, CONFIG_LOG_INFO);
}

static void test_batch(void **state)
{
	struct config *cfg = *state;

	tune_ok(cfg, "batch.size", "5000");
	assert_int_equal(cfg->batch.size, 5000);
	tune_ok(cfg, "batch.size", "100");
	assert_int_equal(cfg->batch.size, 100);
	tune_ok(cfg, "batch.size", "50000");
	assert_int_equal(cfg->batch.size, 50000);
	tune_ok(cfg, "batch.max_size", "60000");
	assert_int_equal(cfg->batch.max_size, 60000);
	tune_ok(cfg, "batch.size", "60000");
	assert_int_equal(cfg->batch.size, 60000);
	tune_ok(cfg, "batch.min_size", "50");
	assert_int_equal(cfg->batch.min_size, 50);
	tune_ok(cfg, "batch.size", "50");
	assert_int_equal(cfg->batch.size, 50);

	tune_ok(cfg, "batch.sleep", "250ms");
	assert_int_equal(cfg->batch.sleep_ms, 250);
	tune_ok(cfg, "batch.sleep", "1.5s");
	assert_int_equal(cfg->batch.sleep_ms, 1500);
	tune_ok(cfg, "batch.sleep", "0");
	assert_int_equal(cfg->batch.sleep_ms, 0);
	tune_ok(cfg, "batch.sleep", "0.1ms"); /* a fraction rounds up, never to 0 */
	assert_int_equal(cfg->batch.sleep_ms, 1);
	tune_ok(cfg, "batch.target_time", "2s");
	assert_int_equal(cfg->batch.target_time_ms, 2000);
	tune_ok(cfg, "batch.lock_timeout", "1m");
	assert_int_equal(cfg->batch.lock_timeout_ms, 60000);
	tune_ok(cfg, "batch.statement_timeout", "1h");
	assert_int_equal(cfg->batch.statement_timeout_ms, 3600000);
	tune_ok(cfg, "batch.statement_timeout", "2147483647ms");
	assert_int_equal(cfg->batch.statement_timeout_ms, INT32_MAX);
	tune_ok(cfg, "batch.max_retries", "0");
	assert_int_equal(cfg->batch.max_retries, 0);
	tune_ok(cfg, "batch.max_retries", "1000");
	assert_int_equal(cfg->batch.max_retries, 1000);
}

static void test_throttle(void **state)
{
	struct config *cfg = *state;
	static const char query[] = "SELECT count(*) FROM pg_stat_activity WHERE state = 'active'";

	tune_ok(cfg, "throttle.max_replication_lag", "2500ms");
	assert_int_equal(cfg->throttle.max_replication_lag_ms, 2500);
	tune_ok(cfg, "throttle.max_replication_lag", "0");
	assert_int_equal(cfg->throttle.max_replication_lag_ms, 0);
	tune_ok(cfg, "throttle.max_lock_waits", "7");
	assert_int_equal(cfg->throttle.max_lock_waits, 7);
	tune_ok(cfg, "throttle.max_lock_waits", "0");
	assert_int_equal(cfg->throttle.max_lock_waits, 0);
	tune_ok(cfg, "throttle.max_active", "32");
	assert_int_equal(cfg->throttle.max_active, 32);
	tune_ok(cfg, "throttle.check_interval", "500ms");
	assert_int_equal(cfg->throttle.check_interval_ms, 500);

	tune_ok(cfg, "throttle.query", query);
	assert_non_null(cfg->throttle.query);
	assert_string_equal(cfg->throttle.query, query);
	tune_ok(cfg, "throttle.query", "");
	assert_true(cfg->throttle.query == NULL || cfg->throttle.query[0] == '\0');

	tune_ok(cfg, "throttle.query_max", "2.5");
	assert_true(cfg->throttle.query_max == 2.5);
	tune_ok(cfg, "throttle.query_max", "100");
	assert_true(cfg->throttle.query_max == 100.0);
	tune_ok(cfg, "throttle.query_max", "1e3");
	assert_true(cfg->throttle.query_max == 1000.0);

	tune_ok(cfg, "throttle.window", "01:00-06:00");
	assert_string_equal(cfg->throttle.window, "01:00-06:00");
	assert_int_equal(cfg->throttle.window_start_min, 60);
	assert_int_equal(cfg->throttle.window_end_min, 360);
	tune_ok(cfg, "throttle.window", "22:30-02:15"); /* across midnight */
	assert_string_equal(cfg->throttle.window, "22:30-02:15");
	assert_int_equal(cfg->throttle.window_start_min, 22 * 60 + 30);
	assert_int_equal(cfg->throttle.window_end_min, 2 * 60 + 15);
	tune_ok(cfg, "throttle.window", "");
	assert_true(cfg->throttle.window == NULL || cfg->throttle.window[0] == '\0');
}

static void test_log(void **state)
{
	struct config *cfg = *state;

	tune_ok(cfg, "log.level", "debug");
	assert_int_equal(cfg->log.level, CONFIG_LOG_DEBUG);
	tune_ok(cfg, "log.level", "warn");
	assert_int_equal(cfg->log.level, CONFIG_LOG_WARN);
	tune_ok(cfg, "log.level", "error");
	assert_int_equal(cfg->log.level, CONFIG_LOG_ERROR);
	tune_ok(cfg, "log.level", "info");
	assert_int_equal(cfg->log.level, CONFIG_LOG_INFO);
	tune_ok(cfg, "log.progress_interval", "30s");
	assert_int_equal(cfg->log.progress_interval_ms, 30000);
	tune_ok(cfg, "log.progress_interval", "0");
	assert_int_equal(cfg->log.progress_interval_ms, 0);
}

static void test_not_tunable(void **state)
{
	struct config *cfg = *state;
	static const char *const keys[] = { "",
					    "bogus",
					    "batch",
					    "batch.",
					    "batch.bogus",
					    "BATCH.SIZE",
					    "batch.size ",
					    "job",
					    "table",
					    "key",
					    "set",
					    "set.b",
					    "where",
					    "database.dsn",
					    "database.driver",
					    "database.password_file",
					    "throttle.replicas",
					    "checkpoint.table",
					    "rollback.set",
					    "status.socket",
					    "status.mode",
					    "metrics.textfile",
					    "log.format",
					    "log" };

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		tune_bad(cfg, keys[i], "1");
	tune_bad(cfg, "table", "other");
	tune_bad(cfg, "where", "true");
	tune_bad(cfg, "database.dsn", "host=elsewhere");
	tune_bad(cfg, "log.format", "json");
}

static void test_bad_ints(void **state)
{
	struct config *cfg = *state;
	static const char *const bad[] = { "",
					   "-5",
					   "-1",
					   "0",
					   "abc",
					   "12a",
					   "010",
					   "00",
					   "+5",
					   " 5",
					   "5 ",
					   "1.5",
					   "1e3",
					   "0x10",
					   "99999999999999999999",
					   "-99999999999999999999" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		tune_bad(cfg, "batch.size", bad[i]);
		tune_bad(cfg, "batch.min_size", bad[i]);
		tune_bad(cfg, "batch.max_size", bad[i]);
	}
	tune_bad(cfg, "batch.max_retries", "-1");
	tune_bad(cfg, "batch.max_retries", "1001");
	tune_bad(cfg, "batch.max_retries", "01");
	tune_bad(cfg, "throttle.max_lock_waits", "-1");
	tune_bad(cfg, "throttle.max_lock_waits", "007");
	tune_bad(cfg, "throttle.max_lock_waits", "1000001");
	tune_bad(cfg, "throttle.max_active", "-3");
	tune_bad(cfg, "throttle.max_active", "x");
	tune_bad(cfg, "batch.max_size", "10000001");
}

static void test_batch_limits_stay_consistent(void **state)
{
	struct config *cfg = *state;

	/* defaults: size 1000 in 100..50000; a limit alone moves the values not given */
	tune_ok(cfg, "batch.min_size", "2000");
	assert_int_equal(cfg->batch.size, 2000);
	assert_int_equal(cfg->batch.max_size, 50000);
	tune_ok(cfg, "batch.max_size", "1500");
	assert_int_equal(cfg->batch.min_size, 1500);
	assert_int_equal(cfg->batch.size, 1500);
	tune_ok(cfg, "batch.min_size", "60000");
	assert_int_equal(cfg->batch.size, 60000);
	assert_int_equal(cfg->batch.max_size, 60000);
	tune_bad(cfg, "batch.min_size", "0");
	tune_bad(cfg, "batch.max_size", "10000001");
}

/* A size alone is the next batch's, as asked: the limit it passes moves to it. */
static void test_size_moves_its_limit(void **state)
{
	struct config *cfg = *state;
	char err[512];
	const char *k[] = { "batch.size", "batch.max_size" };
	const char *v[] = { "3000", "2000" };

	tune_ok(cfg, "batch.size", "99");
	assert_int_equal(cfg->batch.size, 99);
	assert_int_equal(cfg->batch.min_size, 99);
	assert_int_equal(cfg->batch.max_size, 50000);
	tune_ok(cfg, "batch.size", "50001");
	assert_int_equal(cfg->batch.size, 50001);
	assert_int_equal(cfg->batch.min_size, 99);
	assert_int_equal(cfg->batch.max_size, 50001);
	/* a limit given with it is kept, and a conflict refused */
	assert_int_equal(tune_set_many(cfg, k, v, 2, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "would not hold (99 <= 3000 <= 2000)"));
	assert_int_equal(cfg->batch.size, 50001);
	assert_int_equal(cfg->batch.max_size, 50001);
}

/* config.h: "min <= size <= max"; tune.c: "the batch limits stay consistent:
 * min_size <= size <= max_size"; the YAML file refuses a size below a min_size given with it.
 * Raising a limit past the current size must be refused or carry size along. */
static void limit_keeps_invariant(struct config *cfg, const char *key, const char *value)
{
	struct snap before, after;
	char err[512] = "";
	int rc;

	take(cfg, &before);
	rc = tune_set(cfg, key, value, err, sizeof(err));
	take(cfg, &after);
	if (rc < 0) {
		assert_true(err[0] != '\0');
		assert_same(&before, &after, key);
		return;
	}
	if (!(cfg->batch.min_size <= cfg->batch.size && cfg->batch.size <= cfg->batch.max_size))
		fail_msg("%s=%s accepted with batch.size %lld: left min_size %lld, size %lld, "
			 "max_size %lld",
			 key, value, (long long)before.size, (long long)cfg->batch.min_size,
			 (long long)cfg->batch.size, (long long)cfg->batch.max_size);
}

static void test_limit_past_size_keeps_invariant(void **state)
{
	limit_keeps_invariant(*state, "batch.min_size", "2000");
}

static void test_limit_below_size_keeps_invariant(void **state)
{
	limit_keeps_invariant(*state, "batch.max_size", "500");
}

static void test_bad_durations(void **state)
{
	struct config *cfg = *state;
	static const char *const keys[] = { "batch.target_time",
					    "batch.sleep",
					    "batch.lock_timeout",
					    "batch.statement_timeout",
					    "throttle.max_replication_lag",
					    "throttle.check_interval",
					    "log.progress_interval" };
	static const char *const bad[] = { "",
					   "250",
					   "ms",
					   "s",
					   "-1s",
					   "-5ms",
					   "1d",
					   "1.s",
					   ".5s",
					   "abc",
					   " 1s",
					   "1s ",
					   "1 s",
					   "1S",
					   "1MS",
					   "1sec",
					   "2147483648ms",
					   "9999999h",
					   "99999999999999999999s",
					   "1.0000000001s" };

	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			tune_bad(cfg, keys[k], bad[i]);
	/* zero where the YAML wants "> 0" */
	tune_bad(cfg, "batch.target_time", "0");
	tune_bad(cfg, "batch.target_time", "0ms");
	tune_bad(cfg, "batch.lock_timeout", "0s");
	tune_bad(cfg, "batch.statement_timeout", "0");
	tune_bad(cfg, "throttle.check_interval", "0");
}

static void test_bad_window_level_number(void **state)
{
	struct config *cfg = *state;
	static const char *const windows[] = { "1:00-6:00",    "01:00",	      "01:00-06:00x",
					       "01:00-01:00",  "24:00-06:00", "01:60-06:00",
					       "aa:bb-cc:dd",  "01:00 06:00", "01-00-06-00",
					       " 01:00-06:00", "always" };
	static const char *const levels[] = {
		"", "DEBUG", "Info", "trace", "warning", "info ", "1"
	};
	static const char *const numbers[] = { "",     "abc", "2.5x",  "inf",
					       "-inf", "nan", "1e999", "--1" };

	tune_ok(cfg, "throttle.window", "01:00-06:00");
	for (size_t i = 0; i < sizeof(windows) / sizeof(windows[0]); i++)
		tune_bad(cfg, "throttle.window", windows[i]);
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
		tune_bad(cfg, "log.level", levels[i]);
	for (size_t i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++)
		tune_bad(cfg, "throttle.query_max", numbers[i]);
}

/* tune.h: values follow "the rules of the YAML file". For each value, what the YAML
 * loader makes of it and what tune_set makes of it must agree: both refuse, or both
 * accept and leave the same settings. */
struct pair {
	const char *key, *value;
};

static const struct pair agree[] = {
	{ "batch.size", "5000" },
	{ "batch.size", "99" },
	{ "batch.size", "010" },
	{ "batch.min_size", "500" },
	{ "batch.min_size", "2000" },
	{ "batch.max_size", "800" },
	{ "batch.sleep", "250ms" },
	{ "batch.sleep", "0" },
	{ "batch.sleep", "250" },
	{ "batch.target_time", "0" },
	{ "batch.max_retries", "1001" },
	{ "throttle.max_lock_waits", "3" },
	{ "throttle.query", "SELECT 1 FROM t WHERE x > 1" },
	{ "throttle.query", "   " },
	{ "throttle.query_max", "2.5" },
	{ "throttle.query_max", "-1" },
	{ "throttle.query_max", "0x10" },
	{ "throttle.query_max", " 2.5" },
	{ "throttle.query_max", "1e-400" },
	{ "throttle.query_max", "inf" },
	{ "throttle.window", "01:00-06:00" },
	{ "throttle.window", "01:00-01:00" },
	{ "throttle.window", "" },
	{ "log.level", "debug" },
	{ "log.level", "verbose" },
	{ "log.progress_interval", "10s" },
};

/* "batch.sleep" + "250ms" -> base + "batch:\n  sleep: \"250ms\"\n" */
static char *yaml_with(const struct pair *p)
{
	const char *dot = strchr(p->key, '.');
	size_t cap = sizeof(base) + strlen(p->key) + 2 * strlen(p->value) + 32, o;
	char *s = malloc(cap);

	assert_non_null(s);
	assert_non_null(dot);
	o = (size_t)snprintf(s, cap, "%s%.*s:\n  %s: \"", base, (int)(dot - p->key), p->key,
			     dot + 1);
	for (const char *v = p->value; *v; v++) {
		if (*v == '"' || *v == '\\')
			s[o++] = '\\';
		s[o++] = *v;
	}
	snprintf(s + o, cap - o, "\"\n");
	return s;
}

static void test_agrees_with_yaml(void **state)
{
	char msgs[4096] = "";
	size_t o = 0;

	for (size_t i = 0; i < sizeof(agree) / sizeof(agree[0]); i++) {
		const struct pair *p = &agree[i];
		char *yaml = yaml_with(p), err[512] = "";
		struct config *fromfile = NULL, *tuned = load(base);
		struct snap a, b;
		int yrc = config_parse(NAME, yaml, strlen(yaml), &fromfile, err, sizeof(err));
		int trc = tune_set(tuned, p->key, p->value, err, sizeof(err));
		const char *why = NULL;

		if ((yrc == 0) != (trc == 0)) {
			why = yrc == 0 ? "the YAML accepts it, tune_set refuses it"
				       : "the YAML refuses it, tune_set accepts it";
		} else if (yrc == 0) {
			take(fromfile, &a);
			take(tuned, &b);
			if (memcmp(&a, &b, sizeof(a)) != 0)
				why = "both accept it, with different results";
		}
		if (why)
			o += (size_t)snprintf(msgs + o, o < sizeof(msgs) ? sizeof(msgs) - o : 0,
					      "\n  %s=\"%s\": %s", p->key, p->value, why);
		config_free(fromfile);
		config_free(tuned);
		free(yaml);
	}
	if (o)
		fail_msg("tune_set and the YAML file disagree:%s", msgs);
}

/* Several settings at once: order does not matter, and it is all or nothing. */
static void test_set_many(void **state)
{
	struct config *cfg = load(base);
	char err[512];
	const char *k1[] = { "batch.max_size", "batch.size", "batch.min_size" };
	const char *v1[] = { "150", "123", "100" };
	const char *k2[] = { "batch.sleep", "batch.size", "batch.max_size" };
	const char *v2[] = { "75ms", "999999", "150" };
	const char *k3[] = { "batch.sleep", "bogus.key" };
	const char *v3[] = { "75ms", "1" };

	/* lowering max_size below the current size works when size comes along */
	assert_int_equal(tune_set_many(cfg, k1, v1, 3, err, sizeof(err)), 0);
	assert_int_equal(cfg->batch.min_size, 100);
	assert_int_equal(cfg->batch.size, 123);
	assert_int_equal(cfg->batch.max_size, 150);
	/* a bad one leaves every other one unapplied */
	assert_int_equal(tune_set_many(cfg, k2, v2, 3, err, sizeof(err)), -22);
	assert_non_null(strstr(err, "would not hold (100 <= 999999 <= 150)"));
	assert_int_equal(cfg->batch.sleep_ms, 0);
	assert_int_equal(cfg->batch.size, 123);
	assert_int_equal(tune_set_many(cfg, k3, v3, 2, err, sizeof(err)), -22);
	assert_non_null(strstr(err, "bogus.key"));
	assert_int_equal(cfg->batch.sleep_ms, 0);
	config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set_many),
		cmocka_unit_test_setup_teardown(test_defaults_as_expected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_throttle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_tunable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_ints, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_limits_stay_consistent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_size_moves_its_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limit_past_size_keeps_invariant, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_limit_below_size_keeps_invariant, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bad_durations, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_window_level_number, setup, teardown),
		cmocka_unit_test(test_agrees_with_yaml),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

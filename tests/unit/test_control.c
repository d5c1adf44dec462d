/* test_control.c - the status socket's request language. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backfilld/control.h"

/* Parses line into *req, which starts out as garbage so that every field the
 * parser leaves alone shows; fails the test on an error. */
static void parse_ok(const char *line, struct control_request *req)
{
	char err[256] = "";
	int rc;

	memset(req, 0xa5, sizeof(*req));
	rc = control_parse(line, req, err, sizeof(err));
	if (rc != 0)
		fail_msg("\"%.80s\": unexpected error %d: %s", line, rc, err);
}

/* Expects line to be refused with -EINVAL and a reason. */
static void parse_bad(const char *line)
{
	struct control_request req;
	char err[256];
	int rc;

	memset(err, 0, sizeof(err));
	rc = control_parse(line, &req, err, sizeof(err));
	if (rc != -EINVAL)
		fail_msg("\"%.80s\": expected -EINVAL, got %d", line, rc);
	if (err[0] == '\0')
		fail_msg("\"%.80s\": refused without a reason", line);
	assert_non_null(memchr(err, '\0', sizeof(err)));
}

static void assert_plain(const char *line, enum control_cmd cmd)
{
	struct control_request req;

	parse_ok(line, &req);
	assert_int_equal(req.cmd, cmd);
	assert_int_equal(req.nset, 0);
}

static void test_every_word(void **state)
{
	assert_plain("status", CONTROL_STATUS);
	assert_plain("status json", CONTROL_STATUS_JSON);
	assert_plain("pause", CONTROL_PAUSE);
	assert_plain("resume", CONTROL_RESUME);
	assert_plain("stop", CONTROL_STOP);
	assert_plain("metrics", CONTROL_METRICS);
}

static void test_blanks_and_tabs(void **state)
{
	struct control_request req;

	assert_plain("  status  ", CONTROL_STATUS);
	assert_plain("\tstatus\t", CONTROL_STATUS);
	assert_plain("status \t json", CONTROL_STATUS_JSON);
	assert_plain("\t status\tjson \t", CONTROL_STATUS_JSON);
	assert_plain(" pause ", CONTROL_PAUSE);
	assert_plain("\tresume\t", CONTROL_RESUME);
	assert_plain("stop \t ", CONTROL_STOP);
	assert_plain("\t\tmetrics", CONTROL_METRICS);

	parse_ok("\tset\ta=1 \t b=2\t", &req);
	assert_int_equal(req.cmd, CONTROL_SET);
	assert_int_equal(req.nset, 2);
	assert_string_equal(req.set[0].key, "a");
	assert_string_equal(req.set[0].value, "1");
	assert_string_equal(req.set[1].key, "b");
	assert_string_equal(req.set[1].value, "2");
}

static void test_set_one_and_two(void **state)
{
	struct control_request req;

	parse_ok("set batch.size=5000", &req);
	assert_int_equal(req.cmd, CONTROL_SET);
	assert_int_equal(req.nset, 1);
	assert_string_equal(req.set[0].key, "batch.size");
	assert_string_equal(req.set[0].value, "5000");

	parse_ok("set a=1 b=2", &req);
	assert_int_equal(req.cmd, CONTROL_SET);
	assert_int_equal(req.nset, 2);
	assert_string_equal(req.set[0].key, "a");
	assert_string_equal(req.set[0].value, "1");
	assert_string_equal(req.set[1].key, "b");
	assert_string_equal(req.set[1].value, "2");

	/* the first '=' splits: the value may hold more */
	parse_ok("set a=b=c", &req);
	assert_int_equal(req.nset, 1);
	assert_string_equal(req.set[0].key, "a");
	assert_string_equal(req.set[0].value, "b=c");

	/* an empty value clears a string setting (throttle.window=) */
	parse_ok("set throttle.window=", &req);
	assert_int_equal(req.nset, 1);
	assert_string_equal(req.set[0].key, "throttle.window");
	assert_string_equal(req.set[0].value, "");
}

static void test_set_query_takes_rest_of_line(void **state)
{
	struct control_request req;

	parse_ok("set throttle.query=SELECT count(*) FROM t WHERE x > 1", &req);
	assert_int_equal(req.cmd, CONTROL_SET);
	assert_int_equal(req.nset, 1);
	assert_string_equal(req.set[0].key, "throttle.query");
	assert_string_equal(req.set[0].value, "SELECT count(*) FROM t WHERE x > 1");

	/* after other settings; "k=v" inside the query is part of the query */
	parse_ok("set batch.sleep=10ms throttle.query=SELECT 1 WHERE a=b", &req);
	assert_int_equal(req.nset, 2);
	assert_string_equal(req.set[0].key, "batch.sleep");
	assert_string_equal(req.set[0].value, "10ms");
	assert_string_equal(req.set[1].key, "throttle.query");
	assert_string_equal(req.set[1].value, "SELECT 1 WHERE a=b");

	/* a one-word query, and throttle.query_max is not the query */
	parse_ok("set throttle.query=SELECT1 throttle.query_max=2.5", &req);
	assert_int_equal(req.nset, 1);
	assert_string_equal(req.set[0].value, "SELECT1 throttle.query_max=2.5");
	parse_ok("set throttle.query_max=2.5 throttle.max_active=3", &req);
	assert_int_equal(req.nset, 2);
	assert_string_equal(req.set[0].key, "throttle.query_max");
	assert_string_equal(req.set[0].value, "2.5");
	assert_string_equal(req.set[1].key, "throttle.max_active");
	assert_string_equal(req.set[1].value, "3");
}

static void test_sixteen_settings(void **state)
{
	struct control_request req;
	char line[512];
	size_t o;

	o = (size_t)snprintf(line, sizeof(line), "set");
	for (int i = 0; i < CONTROL_MAX_SETS; i++)
		o += (size_t)snprintf(line + o, sizeof(line) - o, " k%d=v%d", i, i);
	parse_ok(line, &req);
	assert_int_equal(req.cmd, CONTROL_SET);
	assert_int_equal(req.nset, CONTROL_MAX_SETS);
	for (int i = 0; i < CONTROL_MAX_SETS; i++) {
		char k[16], v[16];

		snprintf(k, sizeof(k), "k%d", i);
		snprintf(v, sizeof(v), "v%d", i);
		assert_string_equal(req.set[i].key, k);
		assert_string_equal(req.set[i].value, v);
	}
	snprintf(line + o, sizeof(line) - o, " k16=v16");
	parse_bad(line);
}

static void test_longest_key_and_value(void **state)
{
	struct control_request req;
	size_t klen = sizeof(req.set[0].key) - 1, vlen = sizeof(req.set[0].value) - 1;
	char *line = malloc(klen + vlen + 64), *q;

	assert_non_null(line);
	/* the longest that fit */
	memcpy(line, "set ", 4);
	memset(line + 4, 'k', klen);
	line[4 + klen] = '=';
	memset(line + 5 + klen, 'v', vlen);
	line[5 + klen + vlen] = '\0';
	parse_ok(line, &req);
	assert_int_equal(req.nset, 1);
	assert_int_equal(strlen(req.set[0].key), klen);
	assert_int_equal(strspn(req.set[0].key, "k"), klen);
	assert_int_equal(strlen(req.set[0].value), vlen);
	assert_int_equal(strspn(req.set[0].value, "v"), vlen);

	/* one byte more in the key */
	memcpy(line, "set ", 4);
	memset(line + 4, 'k', klen + 1);
	strcpy(line + 5 + klen, "=1");
	parse_bad(line);

	/* one byte more in the value */
	memcpy(line, "set a=", 6);
	memset(line + 6, 'v', vlen + 1);
	line[7 + vlen] = '\0';
	parse_bad(line);

	/* a query with blanks, as long as fits, then one byte longer */
	q = line + snprintf(line, 64, "set throttle.query=");
	for (size_t i = 0; i < vlen; i++)
		q[i] = i % 7 == 6 ? ' ' : 'q';
	q[vlen] = '\0';
	parse_ok(line, &req);
	assert_int_equal(req.nset, 1);
	assert_string_equal(req.set[0].key, "throttle.query");
	assert_string_equal(req.set[0].value, q);
	q[vlen] = 'q';
	q[vlen + 1] = '\0';
	parse_bad(line);
	free(line);
}

static void test_huge_lines(void **state)
{
	enum { N = 5000 };
	char *line = malloc(N + 1);
	struct control_request req;

	assert_non_null(line);
	/* one 5000-byte word */
	memset(line, 'a', N);
	line[N] = '\0';
	parse_bad(line);
	/* a 5000-byte value */
	memset(line, 'x', N);
	memcpy(line, "set a=", 6);
	parse_bad(line);
	/* a 5000-byte query */
	memset(line, 'x', N);
	memcpy(line, "set throttle.query=SELECT ", 26);
	parse_bad(line);
	/* a 5000-byte argument to status */
	memset(line, 'j', N);
	memcpy(line, "status ", 7);
	parse_bad(line);
	/* 5000 bytes of which most are blanks: still a plain request */
	memset(line, ' ', N);
	memcpy(line + N - 6, "status", 6);
	parse_ok(line, &req);
	assert_int_equal(req.cmd, CONTROL_STATUS);
	free(line);
}

static void test_errors(void **state)
{
	parse_bad("");
	parse_bad(" \t ");
	parse_bad("bogus");
	parse_bad("STATUS");
	parse_bad("Pause");
	parse_bad("statusjson");
	parse_bad("status xml");
	parse_bad("status json json");
	parse_bad("status json x");
	parse_bad("pause now");
	parse_bad("resume x");
	parse_bad("stop\tnow");
	parse_bad("metrics all");
	parse_bad("set");
	parse_bad("set \t ");
	parse_bad("set =1");
	parse_bad("set novalue");
	parse_bad("set a=1 novalue");
	parse_bad("set a=1 =2");
}

static void test_small_error_buffer(void **state)
{
	struct control_request req;
	char err[8];

	memset(err, 'z', sizeof(err));
	assert_int_equal(control_parse("bogus request", &req, err, sizeof(err)), -EINVAL);
	assert_non_null(memchr(err, '\0', sizeof(err)));
	assert_true(err[0] != '\0');
}

static void test_mutates(void **state)
{
	assert_int_equal(control_mutates(CONTROL_STATUS), 0);
	assert_int_equal(control_mutates(CONTROL_STATUS_JSON), 0);
	assert_int_equal(control_mutates(CONTROL_METRICS), 0);
	assert_int_equal(control_mutates(CONTROL_PAUSE), 1);
	assert_int_equal(control_mutates(CONTROL_RESUME), 1);
	assert_int_equal(control_mutates(CONTROL_STOP), 1);
	assert_int_equal(control_mutates(CONTROL_SET), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_word),
		cmocka_unit_test(test_blanks_and_tabs),
		cmocka_unit_test(test_set_one_and_two),
		cmocka_unit_test(test_set_query_takes_rest_of_line),
		cmocka_unit_test(test_sixteen_settings),
		cmocka_unit_test(test_longest_key_and_value),
		cmocka_unit_test(test_huge_lines),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_small_error_buffer),
		cmocka_unit_test(test_mutates),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

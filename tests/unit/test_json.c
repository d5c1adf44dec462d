/* test_json.c - the JSON writer and the key-array reader. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "backfilld/json.h"

static void test_writer_object(void **state)
{
	char buf[256];
	struct json_buf jb;

	json_buf_init(&jb, buf, sizeof(buf));
	json_obj_begin(&jb);
	json_kv_str(&jb, "job", "a\"b\\c\n");
	json_kv_int(&jb, "rows", -42);
	json_key(&jb, "reasons");
	json_arr_begin(&jb);
	json_str(&jb, "lag");
	json_str(&jb, NULL);
	json_arr_end(&jb);
	json_kv_double(&jb, "pct", 12.345, 1);
	json_kv_raw(&jb, "eta", NULL);
	json_key(&jb, "ok");
	json_bool(&jb, 1);
	json_obj_end(&jb);
	assert_false(jb.overflow);
	assert_string_equal(buf,
			    "{\"job\":\"a\\\"b\\\\c\\n\",\"rows\":-42,\"reasons\":[\"lag\",null],"
			    "\"pct\":12.3,\"eta\":null,\"ok\":true}");
}

static void test_writer_control_chars_and_overflow(void **state)
{
	char buf[16];
	struct json_buf jb;

	json_buf_init(&jb, buf, sizeof(buf));
	json_str(&jb, "\x01");
	assert_string_equal(buf, "\"\\u0001\"");
	json_buf_init(&jb, buf, sizeof(buf));
	json_str(&jb, "this string is far too long");
	assert_true(jb.overflow);
	assert_true(strlen(buf) < sizeof(buf));
}

static void test_parse_array(void **state)
{
	char **v;
	size_t n;

	assert_int_equal(json_parse_array(" [4711] ", &v, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0], "4711");
	json_strv_free(v, n);

	assert_int_equal(json_parse_array("[\"eu\", 17, null, -1.5e3]", &v, &n), 0);
	assert_int_equal(n, 4);
	assert_string_equal(v[0], "eu");
	assert_string_equal(v[1], "17");
	assert_null(v[2]);
	assert_string_equal(v[3], "-1.5e3");
	json_strv_free(v, n);

	assert_int_equal(json_parse_array("[\"a\\\"b\\u00e9\\ud83d\\ude00\"]", &v, &n), 0);
	assert_string_equal(v[0], "a\"b\xc3\xa9\xf0\x9f\x98\x80");
	json_strv_free(v, n);

	assert_int_equal(json_parse_array("[]", &v, &n), 0);
	assert_int_equal(n, 0);
	json_strv_free(v, n);
}

static void test_parse_array_rejects(void **state)
{
	static const char *const bad[] = {
		"",
		"4711",
		"[",
		"[1,]",
		"[1 2]",
		"[01]",
		"[\"unterminated]",
		"[\"\\x\"]",
		"[\"\\u0000\"]",
		"[\"\\ud800\"]",
		"[1] x",
		"{\"a\":1}",
		"[tru]",
		"[-]",
		"[1.]",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char **v = NULL;
		size_t n = 0;

		if (json_parse_array(bad[i], &v, &n) != -22)
			fail_msg("accepted %s", bad[i]);
	}
}

static void test_encode_key(void **state)
{
	char *parts[3] = { "eu", "17", "NaN" };
	int numeric[3] = { 0, 1, 1 };
	char *s = json_encode_key(parts, numeric, 3);
	char **v;
	size_t n;

	assert_string_equal(s, "[\"eu\",17,\"NaN\"]");
	/* round trip */
	assert_int_equal(json_parse_array(s, &v, &n), 0);
	assert_int_equal(n, 3);
	assert_string_equal(v[0], "eu");
	assert_string_equal(v[1], "17");
	assert_string_equal(v[2], "NaN");
	json_strv_free(v, n);
	free(s);
	assert_true(json_is_number("-0.5E+10"));
	assert_false(json_is_number("1e"));
	assert_false(json_is_number("Infinity"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_writer_object),
		cmocka_unit_test(test_writer_control_chars_and_overflow),
		cmocka_unit_test(test_parse_array),
		cmocka_unit_test(test_parse_array_rejects),
		cmocka_unit_test(test_encode_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_progress.c - rate window, ETA and the report formats (text, line, JSON). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backfilld/progress.h"

/* --- a strict JSON validator (RFC 8259) --------------------------------------------- */

#define JSON_MAX_DEPTH 64
#define JSON_MAX_TOP 64

/* The top-level object's members, as spans of the input. */
struct jtop {
	size_t n;
	struct {
		const char *key, *val;
		size_t klen, vlen;
	} m[JSON_MAX_TOP];
};

struct jp {
	const char *p;
	int depth;
	struct jtop *top;
};

static int jv_value(struct jp *j);

static void jv_ws(struct jp *j)
{
	while (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')
		j->p++;
}

static int hex4(const char *p, unsigned *out)
{
	unsigned v = 0;

	for (int i = 0; i < 4; i++) {
		char c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

/* Length of the well-formed UTF-8 sequence at s, 0 when ill-formed. */
static size_t utf8_len(const unsigned char *s)
{
	size_t len;
	unsigned cp, min;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1fu, min = 0x80;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0fu, min = 0x800;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07u, min = 0x10000;
	else
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3fu);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

static int jv_string(struct jp *j)
{
	if (*j->p != '"')
		return -1;
	j->p++;
	for (;;) {
		unsigned char c = (unsigned char)*j->p;
		unsigned cp, lo;
		size_t n;

		if (c == '"') {
			j->p++;
			return 0;
		}
		if (c < 0x20) /* includes the end of the input */
			return -1;
		if (c != '\\') {
			n = utf8_len((const unsigned char *)j->p);
			if (n == 0)
				return -1;
			j->p += n;
			continue;
		}
		j->p++;
		switch (*j->p) {
		case '"':
		case '\\':
		case '/':
		case 'b':
		case 'f':
		case 'n':
		case 'r':
		case 't': j->p++; break;
		case 'u':
			if (hex4(j->p + 1, &cp) < 0)
				return -1;
			j->p += 5;
			if (cp >= 0xdc00 && cp <= 0xdfff)
				return -1;
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (j->p[0] != '\\' || j->p[1] != 'u' || hex4(j->p + 2, &lo) < 0 ||
				    lo < 0xdc00 || lo > 0xdfff)
					return -1;
				j->p += 6;
			}
			break;
		default: return -1;
		}
	}
}

static int jv_number(struct jp *j)
{
	const char *p = j->p;

	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		while (*p >= '0' && *p <= '9')
			p++;
	else
		return -1;
	if (*p == '.') {
		p++;
		if (!(*p >= '0' && *p <= '9'))
			return -1;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!(*p >= '0' && *p <= '9'))
			return -1;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	j->p = p;
	return 0;
}

static int jv_literal(struct jp *j, const char *word)
{
	size_t n = strlen(word);

	if (strncmp(j->p, word, n) != 0)
		return -1;
	j->p += n;
	return 0;
}

static int jv_object(struct jp *j)
{
	int top = j->depth == 1 && j->top;

	j->p++;
	jv_ws(j);
	if (*j->p == '}') {
		j->p++;
		return 0;
	}
	for (;;) {
		const char *key = j->p + 1, *val;

		jv_ws(j);
		key = j->p + 1;
		if (jv_string(j) < 0)
			return -1;
		if (top) {
			if (j->top->n == JSON_MAX_TOP)
				return -1;
			j->top->m[j->top->n].key = key;
			j->top->m[j->top->n].klen = (size_t)(j->p - 1 - key);
		}
		jv_ws(j);
		if (*j->p != ':')
			return -1;
		j->p++;
		jv_ws(j);
		val = j->p;
		if (jv_value(j) < 0)
			return -1;
		if (top) {
			j->top->m[j->top->n].val = val;
			j->top->m[j->top->n].vlen = (size_t)(j->p - val);
			j->top->n++;
		}
		jv_ws(j);
		if (*j->p == ',') {
			j->p++;
			continue;
		}
		if (*j->p == '}') {
			j->p++;
			return 0;
		}
		return -1;
	}
}

static int jv_array(struct jp *j)
{
	j->p++;
	jv_ws(j);
	if (*j->p == ']') {
		j->p++;
		return 0;
	}
	for (;;) {
		jv_ws(j);
		if (jv_value(j) < 0)
			return -1;
		jv_ws(j);
		if (*j->p == ',') {
			j->p++;
			continue;
		}
		if (*j->p == ']') {
			j->p++;
			return 0;
		}
		return -1;
	}
}

static int jv_value(struct jp *j)
{
	int rc;

	if (++j->depth > JSON_MAX_DEPTH)
		return -1;
	switch (*j->p) {
	case '{': rc = jv_object(j); break;
	case '[': rc = jv_array(j); break;
	case '"': rc = jv_string(j); break;
	case 't': rc = jv_literal(j, "true"); break;
	case 'f': rc = jv_literal(j, "false"); break;
	case 'n': rc = jv_literal(j, "null"); break;
	default: rc = jv_number(j); break;
	}
	j->depth--;
	return rc;
}

/* 0 when s is exactly one JSON value (blanks around it allowed); top, when given,
 * gets the members of a top-level object. */
static int json_valid(const char *s, struct jtop *top)
{
	struct jp j = { s, 0, top };

	if (top)
		top->n = 0;
	jv_ws(&j);
	if (jv_value(&j) < 0)
		return -1;
	jv_ws(&j);
	return *j.p == '\0' ? 0 : -1;
}

/* The raw text of member key of the top-level object, NUL-terminated in buf. */
static const char *member(const struct jtop *top, const char *key, char *buf, size_t cap)
{
	for (size_t i = 0; i < top->n; i++)
		if (top->m[i].klen == strlen(key) &&
		    memcmp(top->m[i].key, key, top->m[i].klen) == 0) {
			snprintf(buf, cap, "%.*s", (int)top->m[i].vlen, top->m[i].val);
			return buf;
		}
	return NULL;
}

static void test_json_validator_itself(void **state)
{
	static const char *const good[] = {
		"{}",
		"[]",
		" 1 ",
		"0",
		"-0.5e+3",
		"1E9",
		"\"\"",
		"true",
		"null",
		"{\"a\":[1,-0.5e+3,true,false,null,\"x\\n\\u00e9\\ud83d\\ude00\\/\"],\"b\":{}}",
		"\"caf\xc3\xa9\"",
		"[[[[]]]]",
		"{\"a\" : 1 ,\n\"b\" :\t2}"
	};
	static const char *const bad[] = { "",
					   " ",
					   "{",
					   "}",
					   "{\"a\":1,}",
					   "[1,]",
					   "[,1]",
					   "{\"a\" 1}",
					   "{a:1}",
					   "{'a':1}",
					   "01",
					   "1.",
					   ".5",
					   "-",
					   "+1",
					   "1e",
					   "1e+",
					   "NaN",
					   "Infinity",
					   "-inf",
					   "nul",
					   "True",
					   "\"a",
					   "\"\\x\"",
					   "\"\\u12\"",
					   "\"\\ud800\"",
					   "\"\\udc00\"",
					   "\"a\tb\"",
					   "\"a\nb\"",
					   "\"\xff\"",
					   "\"\xc3\"",
					   "\"\xc0\xaf\"",
					   "\"\xed\xa0\x80\"",
					   "{\"a\":1} x",
					   "{}{}",
					   "[1 2]",
					   "{\"a\":1 \"b\":2}",
					   "{\"a\"}",
					   "[1]]",
					   "{,}" };
	char deep[2 * JSON_MAX_DEPTH + 8];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (json_valid(good[i], NULL) != 0)
			fail_msg("valid JSON refused: %s", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (json_valid(bad[i], NULL) == 0)
			fail_msg("invalid JSON accepted: %s", bad[i]);
	memset(deep, '[', JSON_MAX_DEPTH + 1);
	memset(deep + JSON_MAX_DEPTH + 1, ']', JSON_MAX_DEPTH + 1);
	deep[2 * JSON_MAX_DEPTH + 2] = '\0';
	assert_int_not_equal(json_valid(deep, NULL), 0);
}

/* --- rate window ---------------------------------------------------------------------- */

static void test_rate_unknown_with_too_little(void **state)
{
	struct rate_window w;

	memset(&w, 0, sizeof(w));
	assert_true(rate_window_rate(&w) < 0);
	assert_true(rate_window_eta(&w) < 0);
	rate_window_add(&w, 10.0, 0, 0.0);
	assert_true(rate_window_rate(&w) < 0);
	assert_true(rate_window_eta(&w) < 0);
	rate_window_add(&w, 10.4, 400, 1.0); /* 0.4 s of active time */
	assert_true(rate_window_rate(&w) < 0);
	assert_true(rate_window_eta(&w) < 0);
	rate_window_add(&w, 10.5, 500, 1.0); /* 0.5 s: a rate, no ETA */
	assert_true(rate_window_rate(&w) == 1000.0);
	assert_true(rate_window_eta(&w) < 0);
	rate_window_add(&w, 11.9, 1900, 4.0); /* 1.9 s: still no ETA */
	assert_true(rate_window_rate(&w) > 999.99 && rate_window_rate(&w) < 1000.01);
	assert_true(rate_window_eta(&w) < 0);
	rate_window_add(&w, 12.0, 2000, 5.0); /* 2 s: 5% in 2 s, 95% to go */
	assert_true(rate_window_rate(&w) == 1000.0);
	assert_true(rate_window_eta(&w) == 38.0);
}

static void test_rate_and_eta_exact(void **state)
{
	struct rate_window w;

	memset(&w, 0, sizeof(w));
	rate_window_add(&w, 0.0, 0, 10.0);
	rate_window_add(&w, 2.0, 500, 20.0);
	assert_true(rate_window_rate(&w) == 250.0);
	/* (100 - 20) * 2 / 10 */
	assert_true(rate_window_eta(&w) == 16.0);
	rate_window_add(&w, 4.0, 1500, 30.0);
	assert_true(rate_window_rate(&w) == 375.0);
	/* (100 - 30) * 4 / 20 */
	assert_true(rate_window_eta(&w) == 14.0);
	/* at 100%: nothing left */
	rate_window_add(&w, 8.0, 4000, 100.0);
	assert_true(rate_window_eta(&w) == 0.0);
}

static void test_eta_unknown_without_progress(void **state)
{
	struct rate_window w;

	memset(&w, 0, sizeof(w));
	rate_window_add(&w, 0.0, 100, 10.0);
	rate_window_add(&w, 30.0, 100, 10.0);
	assert_true(rate_window_rate(&w) == 0.0);
	assert_true(rate_window_eta(&w) < 0);
}

static void test_window_keeps_one_older_sample(void **state)
{
	struct rate_window w;

	memset(&w, 0, sizeof(w));
	rate_window_add(&w, 0.0, 0, 0.0);
	rate_window_add(&w, 30.0, 3000, 5.0);
	rate_window_add(&w, 50.0, 4000, 8.0);
	/* all within the minute */
	assert_true(rate_window_rate(&w) == 80.0);
	rate_window_add(&w, 100.0, 10000, 12.0);
	/* t=0 is gone; t=30 (70 s old) stays so that the window spans a whole minute */
	assert_int_equal(w.count, 3);
	assert_true(w.t[w.head] == 30.0);
	assert_true(rate_window_rate(&w) == 100.0);	       /* (10000 - 3000) / 70 */
	assert_true(fabs(rate_window_eta(&w) - 880.0) < 1e-9); /* (100 - 12) * 70 / 7 */
}

static void test_window_follows_the_recent_pace(void **state)
{
	struct rate_window w;
	int64_t rows = 0;

	memset(&w, 0, sizeof(w));
	/* 100 rows/s for a minute, then 10 rows/s for two minutes */
	for (int t = 0; t <= 180; t++) {
		rate_window_add(&w, (double)t, rows, (double)t / 4.0);
		rows += t < 60 ? 100 : 10;
	}
	assert_true(rate_window_rate(&w) == 10.0);
	/* the oldest kept sample is exactly a minute old */
	assert_true(w.t[w.head] == 120.0);
	assert_int_equal(w.count, 61);
	/* 0.25%/s with 55% to go */
	assert_true(fabs(rate_window_eta(&w) - 220.0) < 1e-9);
}

static void test_window_ring_wraps(void **state)
{
	struct rate_window w;

	memset(&w, 0, sizeof(w));
	/* 8 samples a second: more than the ring holds for a minute */
	for (int i = 0; i < 1000; i++)
		rate_window_add(&w, i * 0.125, 7 * (int64_t)i, i * 0.0625);
	assert_int_equal(w.count, RATE_WINDOW_SAMPLES);
	assert_true(rate_window_rate(&w) == 56.0);
	/* 0.5%/s, 100 - 999 * 0.0625 to go */
	assert_true(fabs(rate_window_eta(&w) - (100.0 - 999 * 0.0625) / 0.5) < 1e-9);
}

/* --- durations -------------------------------------------------------------------------- */

static void assert_duration(double s, const char *want)
{
	char buf[32];

	memset(buf, 'x', sizeof(buf));
	progress_format_duration(s, buf, sizeof(buf));
	if (strcmp(buf, want) != 0)
		fail_msg("%g s: got \"%s\", want \"%s\"", s, buf, want);
}

static void test_durations(void **state)
{
	assert_duration(0, "0s");
	assert_duration(45, "45s");
	assert_duration(59, "59s");
	assert_duration(60, "1m00s");
	assert_duration(65, "1m05s");
	assert_duration(3599, "59m59s");
	assert_duration(3600, "1h00m");
	assert_duration(2 * 3600 + 3 * 60 + 40, "2h03m");
	assert_duration(86399, "23h59m");
	assert_duration(86400, "1d00h");
	assert_duration(86400 + 2 * 3600 + 59 * 60, "1d02h");
	assert_duration(400 * 86400.0, "400d00h");
	assert_duration(-1, "unknown");
	assert_duration(-0.5, "unknown");
	assert_duration(NAN, "unknown");
	assert_duration(INFINITY, "unknown");
}

/* --- the reports ------------------------------------------------------------------------ */

static const char *const realistic_reasons[] = { "replication lag 3.20s > 1s (127.0.0.1:5433)",
						 "lock waits 7 > 5" };

static void realistic(struct progress *p)
{
	memset(p, 0, sizeof(*p));
	p->job = "items_new_status";
	p->driver = "postgres";
	p->table = "public.items";
	p->state = "throttled";
	p->reasons[0] = realistic_reasons[0];
	p->reasons[1] = realistic_reasons[1];
	p->nreasons = 2;
	p->rows_done = 1234567;
	p->batches_done = 1235;
	p->rows_total_estimate = 9876543;
	p->percent = 12.5;
	p->rows_per_sec = 8300.4;
	p->eta_seconds = 65;
	p->cursor = "[1234567]";
	p->high_water = "[9876543]";
	p->batch_size = 5000;
	p->last_batch_ms = 412.0;
	p->replication_lag_ms = 3200;
	p->lag_source = "127.0.0.1:5433";
	p->lock_waits = 7;
	p->errors = 2;
	p->retries = 1;
	p->by_kind.lock_timeout = 1;
	p->by_kind.deadlock = 1;
	p->throttled_seconds = 42;
	p->paused_seconds = 0;
	p->started_at = 1704164645; /* 2024-01-02T03:04:05Z */
	p->uptime_seconds = 3723.5;
}

/* The largest values a real job could plausibly show: a 100-billion-row table, a
 * year of uptime, the largest batch, every error counter high, a composite cursor,
 * every throttle reason at once. */
static const char *const extreme_reasons[PROGRESS_MAX_REASONS] = {
	"replication lag 3599.99s > 1s (replica-01.db.example.internal:5433)",
	"lock waits 999999 > 5",
	"active sessions 999999 > 100",
	"throttle.query 123456789.5 > 1000",
	"outside window 01:00-06:00",
	"replica unreachable: replica-02.db.example.internal:5433",
	"paused by operator",
	"reconnecting"
};

static void extreme(struct progress *p)
{
	memset(p, 0, sizeof(*p));
	p->job = "orders_2023_backfill_customer_region_v2";
	p->driver = "postgres";
	p->table = "sales.orders_archive_2023";
	p->state = "reconnecting";
	for (size_t i = 0; i < PROGRESS_MAX_REASONS; i++)
		p->reasons[i] = extreme_reasons[i];
	p->nreasons = PROGRESS_MAX_REASONS;
	p->rows_done = 99999999999;
	p->batches_done = 999999999;
	p->rows_total_estimate = 99999999999;
	p->percent = 99.99;
	p->rows_per_sec = 9999999;
	p->eta_seconds = 999 * 86400.0;
	p->cursor = "[\"eu-central\", 99999999999]";
	p->high_water = "[\"us-west\", 99999999999]";
	p->batch_size = 10000000;
	p->last_batch_ms = 2147483647.0;
	p->replication_lag_ms = 3599990;
	p->lag_source = "replica-01.db.example.internal:5433";
	p->lock_waits = 999999;
	p->errors = 999999;
	p->retries = 999999;
	p->throttled_seconds = 365 * 86400.0;
	p->paused_seconds = 365 * 86400.0;
	p->started_at = 1704164645;
	p->uptime_seconds = 365 * 86400.0;
}

/* Every line of text fits 80 columns; the first names the job and is let off when
 * skip_first. */
static void assert_fits_80(const char *text, int skip_first)
{
	const char *line = text;
	int no = 1;
	char msgs[2048] = "";
	size_t o = 0;

	while (*line) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);

		if (len > 80 && !(skip_first && no == 1))
			o += (size_t)snprintf(msgs + o, o < sizeof(msgs) ? sizeof(msgs) - o : 0,
					      "\n  line %d has %zu columns: %.*s", no, len,
					      (int)len, line);
		if (!nl)
			break;
		line = nl + 1;
		no++;
	}
	if (o)
		fail_msg("status text wider than 80 columns:%s\n--- text:\n%s", msgs, text);
}

/* The progress bar: a bracketed run of at least 20 '#'/'.' cells; the share of
 * '#' is the percent, less than a cell off. */
static void assert_bar(const char *text, double pct)
{
	for (const char *p = strchr(text, '['); p; p = strchr(p + 1, '[')) {
		size_t n = strspn(p + 1, "#."), full = strspn(p + 1, "#");

		if (n < 20 || p[1 + n] != ']')
			continue;
		if (strspn(p + 1 + full, ".") != n - full)
			fail_msg("bar not filled from the left: %.*s", (int)n + 2, p);
		if ((double)full < floor(pct / 100.0 * (double)n) ||
		    (double)full > ceil(pct / 100.0 * (double)n))
			fail_msg("bar %.*s for %.1f%%", (int)n + 2, p, pct);
		return;
	}
	fail_msg("no progress bar in:\n%s", text);
}

static void test_text_realistic(void **state)
{
	struct progress p;
	char buf[8192];

	realistic(&p);
	progress_format_text(&p, buf, sizeof(buf));
	assert_fits_80(buf, 0);
	assert_non_null(strstr(buf, "items_new_status"));
	assert_non_null(strstr(buf, "throttled"));
	assert_non_null(strstr(buf, "public.items"));
	assert_non_null(strstr(buf, "postgres"));
	assert_bar(buf, 12.5);
	assert_non_null(strstr(buf, "12.5%"));
	assert_non_null(strstr(buf, "1,234,567"));
	assert_non_null(strstr(buf, "9,876,543"));
	assert_non_null(strstr(buf, "8,300 rows/s"));
	assert_non_null(strstr(buf, "eta 1m05s"));
	assert_non_null(strstr(buf, realistic_reasons[0]));
	assert_non_null(strstr(buf, realistic_reasons[1]));
	assert_non_null(strstr(buf, "[1234567]"));
	assert_non_null(strstr(buf, "[9876543]"));

	p.percent = 0;
	progress_format_text(&p, buf, sizeof(buf));
	assert_bar(buf, 0);
	p.percent = 100;
	progress_format_text(&p, buf, sizeof(buf));
	assert_bar(buf, 100);
	p.percent = 50;
	progress_format_text(&p, buf, sizeof(buf));
	assert_bar(buf, 50);
}

static void test_text_unknowns(void **state)
{
	struct progress p;
	char buf[8192];

	realistic(&p);
	p.state = "running";
	p.nreasons = 0;
	p.rows_total_estimate = -1;
	p.rows_per_sec = -1;
	p.eta_seconds = -1;
	p.last_batch_ms = -1;
	p.replication_lag_ms = -1;
	p.lag_source = NULL;
	p.lock_waits = -1;
	p.cursor = NULL;
	p.high_water = NULL;
	progress_format_text(&p, buf, sizeof(buf));
	assert_fits_80(buf, 0);
	assert_non_null(strstr(buf, "eta unknown"));
	assert_null(strstr(buf, "throttled:"));
	assert_null(strstr(buf, "(null)"));
	assert_null(strstr(buf, "-1"));
}

static void test_text_extreme(void **state)
{
	struct progress p;
	char buf[8192];

	extreme(&p);
	progress_format_text(&p, buf, sizeof(buf));
	assert_non_null(strstr(buf, "99,999,999,999"));
	for (size_t i = 0; i < PROGRESS_MAX_REASONS; i++)
		assert_non_null(strstr(buf, extreme_reasons[i]));
	assert_non_null(strstr(buf, p.cursor));
	/* the first line is the job's and table's names: let off */
	assert_fits_80(buf, 1);
}

static void test_text_long_job_name(void **state)
{
	struct progress p;
	char buf[8192], job[101];

	memset(job, 'j', 100);
	job[100] = '\0';
	realistic(&p);
	p.job = job;
	progress_format_text(&p, buf, sizeof(buf));
	assert_non_null(strstr(buf, job));
	assert_fits_80(buf, 1);
}

static void test_text_small_buffer(void **state)
{
	struct progress p;
	char full[8192], small[64];

	realistic(&p);
	progress_format_text(&p, full, sizeof(full));
	memset(small, 'x', sizeof(small));
	progress_format_text(&p, small, sizeof(small));
	assert_int_equal(strlen(small), sizeof(small) - 1);
	assert_memory_equal(small, full, sizeof(small) - 1);
}

static void test_line(void **state)
{
	struct progress p;
	char buf[512];

	realistic(&p);
	p.state = "running";
	p.nreasons = 0;
	p.percent = 45.2;
	p.rows_done = 452113;
	p.rows_per_sec = 8300;
	progress_format_line(&p, buf, sizeof(buf));
	assert_null(strchr(buf, '\n'));
	/* the header's example prints rows bare; the text report groups thousands */
	if (strcmp(buf, "running 45.2%, 452,113 rows, 8300 rows/s, eta 1m05s") != 0 &&
	    strcmp(buf, "running 45.2%, 452113 rows, 8300 rows/s, eta 1m05s") != 0)
		fail_msg("line \"%s\"", buf);

	p.state = "throttled";
	p.reasons[0] = "lock waits 7 > 5";
	p.nreasons = 1;
	progress_format_line(&p, buf, sizeof(buf));
	assert_int_equal(strncmp(buf, "throttled 45.2%, ", 17), 0);
	assert_non_null(strstr(buf, "lock waits 7 > 5"));

	p.rows_per_sec = -1;
	p.eta_seconds = -1;
	p.nreasons = 0;
	progress_format_line(&p, buf, sizeof(buf));
	assert_null(strstr(buf, "rows/s"));
	assert_non_null(strstr(buf, "eta unknown"));
	assert_null(strstr(buf, "-1"));
}

/* --- JSON ------------------------------------------------------------------------------- */

static const char *const spec_fields[] = { "job",
					   "driver",
					   "table",
					   "state",
					   "throttle_reasons",
					   "rows_done",
					   "rows_total_estimate",
					   "percent",
					   "rows_per_sec",
					   "eta_seconds",
					   "cursor",
					   "high_water",
					   "batch_size",
					   "last_batch_ms",
					   "replication_lag_ms",
					   "lock_waits",
					   "errors",
					   "retries",
					   "started_at",
					   "uptime_seconds" };

static void format_json_ok(const struct progress *p, char *buf, size_t cap, struct jtop *top)
{
	progress_format_json(p, buf, cap);
	if (json_valid(buf, top) != 0)
		fail_msg("invalid JSON: %s", buf);
	if (buf[0] != '{')
		fail_msg("not an object: %s", buf);
	assert_null(strchr(buf, '\n'));
	for (size_t i = 0; i < sizeof(spec_fields) / sizeof(spec_fields[0]); i++) {
		char v[512];

		if (!member(top, spec_fields[i], v, sizeof(v)))
			fail_msg("no \"%s\" in %s", spec_fields[i], buf);
	}
	for (size_t i = 0; i < top->n; i++)
		for (size_t k = i + 1; k < top->n; k++)
			if (top->m[i].klen == top->m[k].klen &&
			    memcmp(top->m[i].key, top->m[k].key, top->m[i].klen) == 0)
				fail_msg("duplicate key \"%.*s\"", (int)top->m[i].klen,
					 top->m[i].key);
}

static void assert_member(const struct jtop *top, const char *key, const char *want)
{
	char v[4096];

	if (!member(top, key, v, sizeof(v)))
		fail_msg("no \"%s\"", key);
	if (strcmp(v, want) != 0)
		fail_msg("\"%s\": %s, want %s", key, v, want);
}

/* A JSON number equal to want. */
static void assert_number(const struct jtop *top, const char *key, double want)
{
	char v[512], *end;
	double d;

	if (!member(top, key, v, sizeof(v)))
		fail_msg("no \"%s\"", key);
	if (v[0] != '-' && !(v[0] >= '0' && v[0] <= '9'))
		fail_msg("\"%s\": %s is not a number", key, v);
	d = strtod(v, &end);
	if (*end || fabs(d - want) > 1e-9 * (fabs(want) + 1))
		fail_msg("\"%s\": %s, want %.17g", key, v, want);
}

static void test_json_realistic(void **state)
{
	struct progress p;
	struct jtop top;
	char buf[8192], v[64];

	realistic(&p);
	p.rows_done = 1234;
	format_json_ok(&p, buf, sizeof(buf), &top);
	assert_non_null(strstr(buf, "\"rows_done\":1234"));
	assert_member(&top, "job", "\"items_new_status\"");
	assert_member(&top, "driver", "\"postgres\"");
	assert_member(&top, "table", "\"public.items\"");
	assert_member(&top, "state", "\"throttled\"");
	assert_member(&top, "throttle_reasons",
		      "[\"replication lag 3.20s > 1s (127.0.0.1:5433)\",\"lock waits 7 > 5\"]");
	assert_number(&top, "rows_done", 1234);
	assert_number(&top, "rows_total_estimate", 9876543);
	assert_number(&top, "percent", 12.5);
	assert_number(&top, "rows_per_sec", 8300.4);
	assert_number(&top, "eta_seconds", 65);
	assert_member(&top, "cursor", "[1234567]");
	assert_member(&top, "high_water", "[9876543]");
	assert_number(&top, "batch_size", 5000);
	assert_number(&top, "last_batch_ms", 412);
	assert_number(&top, "replication_lag_ms", 3200);
	assert_number(&top, "lock_waits", 7);
	assert_number(&top, "errors", 2);
	assert_number(&top, "retries", 1);
	assert_number(&top, "uptime_seconds", 3723.5);
	/* started_at: an ISO 8601 UTC string or Unix seconds */
	assert_non_null(member(&top, "started_at", v, sizeof(v)));
	if (strcmp(v, "\"2024-01-02T03:04:05Z\"") != 0 && strcmp(v, "1704164645") != 0)
		fail_msg("started_at %s", v);
}

/* SPEC.md: eta_seconds and replication_lag_ms are null while unknown; every other
 * number stays a number, with what is known so far. */
static void test_json_unknowns(void **state)
{
	struct progress p;
	struct jtop top;
	char buf[8192];

	realistic(&p);
	p.state = "starting";
	p.nreasons = 0;
	p.rows_done = 17;
	p.rows_total_estimate = -1;
	p.rows_per_sec = -1;
	p.eta_seconds = -1;
	p.cursor = NULL;
	p.high_water = NULL;
	p.last_batch_ms = -1;
	p.replication_lag_ms = -1;
	p.lag_source = NULL;
	p.lock_waits = -1;
	format_json_ok(&p, buf, sizeof(buf), &top);
	assert_member(&top, "throttle_reasons", "[]");
	assert_number(&top, "rows_done", 17);
	assert_number(&top, "rows_total_estimate", 17); /* at least the rows done */
	assert_number(&top, "rows_per_sec", 0);
	assert_member(&top, "eta_seconds", "null");
	assert_member(&top, "cursor", "null");
	assert_member(&top, "high_water", "null");
	assert_number(&top, "last_batch_ms", 0);
	assert_member(&top, "replication_lag_ms", "null");
	assert_number(&top, "lock_waits", 0);
	assert_member(&top, "lock_waits_measured", "false");
	/* known ones stay numbers */
	assert_number(&top, "batch_size", 5000);
	assert_number(&top, "percent", 12.5);

	/* zero is known */
	p.rows_done = 0;
	p.rows_per_sec = 0;
	p.eta_seconds = 0;
	p.replication_lag_ms = 0;
	p.lock_waits = 0;
	p.last_batch_ms = 0;
	p.rows_total_estimate = 0;
	format_json_ok(&p, buf, sizeof(buf), &top);
	assert_number(&top, "rows_per_sec", 0);
	assert_number(&top, "eta_seconds", 0);
	assert_number(&top, "replication_lag_ms", 0);
	assert_number(&top, "lock_waits", 0);
	assert_member(&top, "lock_waits_measured", "true");
	assert_number(&top, "last_batch_ms", 0);
	assert_number(&top, "rows_total_estimate", 0);
}

static void test_json_escapes(void **state)
{
	static const char table[] = "we\"ird\\ta\tble\ncaf\xc3\xa9\x01";
	static const char reason[] = "query said \"stop\"\r\n\x1f\x7f";
	struct progress p;
	struct jtop top;
	char buf[8192];

	realistic(&p);
	p.table = table;
	p.reasons[0] = reason;
	p.nreasons = 1;
	p.lag_source = "a\"b";
	p.cursor = "[\"eu \\\"x\\\"\", 17]";
	format_json_ok(&p, buf, sizeof(buf), &top);
	assert_member(&top, "table", "\"we\\\"ird\\\\ta\\tble\\ncaf\xc3\xa9\\u0001\"");
	assert_member(&top, "cursor", "[\"eu \\\"x\\\"\", 17]");
	assert_number(&top, "rows_done", 1234567);
}

static void test_json_extreme(void **state)
{
	struct progress p;
	struct jtop top;
	char buf[8192];

	extreme(&p);
	p.rows_done = INT64_MAX;
	p.rows_per_sec = 1e15;
	p.eta_seconds = 1e12;
	format_json_ok(&p, buf, sizeof(buf), &top);
	assert_member(&top, "rows_done", "9223372036854775807");
	assert_number(&top, "rows_per_sec", 1e15);
	assert_number(&top, "eta_seconds", 1e12);
	assert_member(&top, "cursor", "[\"eu-central\", 99999999999]");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_validator_itself),
		cmocka_unit_test(test_rate_unknown_with_too_little),
		cmocka_unit_test(test_rate_and_eta_exact),
		cmocka_unit_test(test_eta_unknown_without_progress),
		cmocka_unit_test(test_window_keeps_one_older_sample),
		cmocka_unit_test(test_window_follows_the_recent_pace),
		cmocka_unit_test(test_window_ring_wraps),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_text_realistic),
		cmocka_unit_test(test_text_unknowns),
		cmocka_unit_test(test_text_extreme),
		cmocka_unit_test(test_text_long_job_name),
		cmocka_unit_test(test_text_small_buffer),
		cmocka_unit_test(test_line),
		cmocka_unit_test(test_json_realistic),
		cmocka_unit_test(test_json_unknowns),
		cmocka_unit_test(test_json_escapes),
		cmocka_unit_test(test_json_extreme),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_metrics.c - Prometheus text exposition and the node_exporter textfile. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backfilld/metrics.h"
#include "backfilld/progress.h"

/* --- a parser for the text exposition format 0.0.4 ------------------------------------ */

#define PROM_MAX_FAMILIES 64
#define PROM_MAX_SAMPLES 256
#define PROM_MAX_LABELS 8

struct prom_family {
	char name[128];
	char type[16]; /* "" until its TYPE line */
	int has_help, has_samples, closed;
};

struct prom_sample {
	char name[128];
	size_t family;
	size_t nlabels;
	struct {
		char name[64];
		char value[512]; /* unescaped */
	} labels[PROM_MAX_LABELS];
	double value;
};

struct prom {
	struct prom_family fam[PROM_MAX_FAMILIES];
	size_t nfam;
	struct prom_sample s[PROM_MAX_SAMPLES];
	size_t ns;
	char err[256];
};

static int is_name_start(char c, int colon)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
}

static int is_name_char(char c, int colon)
{
	return is_name_start(c, colon) || (c >= '0' && c <= '9');
}

/* A metric name ([a-zA-Z_:][a-zA-Z0-9_:]*) or, with colon 0, a label name
 * ([a-zA-Z_][a-zA-Z0-9_]*), into out; returns what follows, NULL when none. */
static const char *read_name(const char *p, int colon, char *out, size_t cap)
{
	size_t n = 0;

	if (!is_name_start(*p, colon))
		return NULL;
	while (is_name_char(*p, colon)) {
		if (n + 1 >= cap)
			return NULL;
		out[n++] = *p++;
	}
	out[n] = '\0';
	return p;
}

static const char *skip_blanks(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* A value as Go's ParseFloat reads it: decimal floats, NaN, [+-]Inf. */
static int read_float(const char *tok, double *out)
{
	const char *p = tok;
	char *end;
	int digits = 0;

	if (!strcasecmp(tok, "nan")) {
		*out = NAN;
		return 0;
	}
	if (!strcasecmp(tok, "+inf") || !strcasecmp(tok, "inf") || !strcasecmp(tok, "+infinity") ||
	    !strcasecmp(tok, "infinity")) {
		*out = INFINITY;
		return 0;
	}
	if (!strcasecmp(tok, "-inf") || !strcasecmp(tok, "-infinity")) {
		*out = -INFINITY;
		return 0;
	}
	/* strtod also takes hex and blanks: check the shape first */
	if (*p == '+' || *p == '-')
		p++;
	for (; *p >= '0' && *p <= '9'; p++)
		digits++;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			digits++;
	if (!digits)
		return -1;
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!(*p >= '0' && *p <= '9'))
			return -1;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p)
		return -1;
	*out = strtod(tok, &end);
	return *end ? -1 : 0;
}

static int perr(struct prom *pr, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int perr(struct prom *pr, int line, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(pr->err, sizeof(pr->err), "line %d: ", line);

	va_start(ap, fmt);
	vsnprintf(pr->err + n, sizeof(pr->err) - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

static struct prom_family *find_family(struct prom *pr, const char *name)
{
	for (size_t i = 0; i < pr->nfam; i++)
		if (!strcmp(pr->fam[i].name, name))
			return &pr->fam[i];
	return NULL;
}

/* The family a line of metric name belongs to becomes the current one; the one
 * before it is closed for good (families are not interleaved). */
static struct prom_family *enter_family(struct prom *pr, const char *name, size_t *current,
					int line)
{
	struct prom_family *f = find_family(pr, name);

	if (!f) {
		if (pr->nfam == PROM_MAX_FAMILIES) {
			perr(pr, line, "too many families");
			return NULL;
		}
		f = &pr->fam[pr->nfam++];
		memset(f, 0, sizeof(*f));
		snprintf(f->name, sizeof(f->name), "%s", name);
	}
	if (f->closed) {
		perr(pr, line, "family %s continues after another family", name);
		return NULL;
	}
	if (*current != (size_t)-1 && &pr->fam[*current] != f)
		pr->fam[*current].closed = 1;
	*current = (size_t)(f - pr->fam);
	return f;
}

/* The family name of a sample: itself, or for histograms and summaries the name
 * without _bucket/_sum/_count. */
static struct prom_family *sample_family(struct prom *pr, const char *name)
{
	static const char *const suffixes[] = { "_bucket", "_sum", "_count" };
	struct prom_family *f = find_family(pr, name);

	if (f && f->type[0] && strcmp(f->type, "histogram") != 0)
		return f;
	for (size_t i = 0; i < 3; i++) {
		size_t n = strlen(name), k = strlen(suffixes[i]);
		char base[128];
		struct prom_family *b;

		if (n <= k || strcmp(name + n - k, suffixes[i]) != 0)
			continue;
		snprintf(base, sizeof(base), "%.*s", (int)(n - k), name);
		b = find_family(pr, base);
		if (b && (!strcmp(b->type, "histogram") || (!strcmp(b->type, "summary") && i > 0)))
			return b;
	}
	return f;
}

static int parse_comment(struct prom *pr, const char *p, size_t *current, int line)
{
	char word[16], name[128];
	struct prom_family *f;
	size_t n = 0;

	p = skip_blanks(p + 1);
	while (*p >= 'A' && *p <= 'Z' && n + 1 < sizeof(word))
		word[n++] = *p++;
	word[n] = '\0';
	if ((strcmp(word, "HELP") != 0 && strcmp(word, "TYPE") != 0) || (*p != ' ' && *p != '\t'))
		return 0; /* an ordinary comment */
	p = read_name(skip_blanks(p), 1, name, sizeof(name));
	if (!p)
		return perr(pr, line, "%s without a valid metric name", word);
	if (*p && *p != ' ' && *p != '\t')
		return perr(pr, line, "%s: bad metric name", word);
	f = enter_family(pr, name, current, line);
	if (!f)
		return -1;
	if (!strcmp(word, "HELP")) {
		if (f->has_help)
			return perr(pr, line, "second HELP for %s", name);
		f->has_help = 1;
		/* docstring: \\ and \n are the only escapes */
		for (p = skip_blanks(p); *p; p++)
			if (*p == '\\' && (p[1] == '\\' || p[1] == 'n'))
				p++;
			else if (*p == '\\')
				return perr(pr, line, "bad escape in HELP of %s", name);
		return 0;
	}
	if (f->type[0])
		return perr(pr, line, "second TYPE for %s", name);
	if (f->has_samples)
		return perr(pr, line, "TYPE for %s after its samples", name);
	p = skip_blanks(p);
	n = strcspn(p, " \t");
	if (n == 0 || n >= sizeof(f->type))
		return perr(pr, line, "TYPE without a type");
	snprintf(f->type, sizeof(f->type), "%.*s", (int)n, p);
	if (strcmp(f->type, "counter") && strcmp(f->type, "gauge") &&
	    strcmp(f->type, "histogram") && strcmp(f->type, "summary") &&
	    strcmp(f->type, "untyped"))
		return perr(pr, line, "unknown type %s", f->type);
	if (*skip_blanks(p + n))
		return perr(pr, line, "trailing text after TYPE");
	return 0;
}

static int parse_sample(struct prom *pr, const char *p, size_t *current, int line)
{
	struct prom_sample *s;
	struct prom_family *f;
	char tok[64];
	size_t n;

	if (pr->ns == PROM_MAX_SAMPLES)
		return perr(pr, line, "too many samples");
	s = &pr->s[pr->ns];
	memset(s, 0, sizeof(*s));
	p = read_name(p, 1, s->name, sizeof(s->name));
	if (!p)
		return perr(pr, line, "bad metric name");
	if (*p == '{') {
		p++;
		for (;;) {
			size_t o = 0;

			p = skip_blanks(p);
			if (*p == '}')
				break;
			if (s->nlabels == PROM_MAX_LABELS)
				return perr(pr, line, "too many labels");
			p = read_name(p, 0, s->labels[s->nlabels].name, sizeof(s->labels[0].name));
			if (!p)
				return perr(pr, line, "bad label name");
			if (!strncmp(s->labels[s->nlabels].name, "__", 2))
				return perr(pr, line, "reserved label name");
			for (size_t i = 0; i < s->nlabels; i++)
				if (!strcmp(s->labels[i].name, s->labels[s->nlabels].name))
					return perr(pr, line, "label %s twice", s->labels[i].name);
			p = skip_blanks(p);
			if (*p++ != '=')
				return perr(pr, line, "label without '='");
			p = skip_blanks(p);
			if (*p++ != '"')
				return perr(pr, line, "label value not quoted");
			for (; *p != '"'; p++) {
				char c = *p;

				if (c == '\0')
					return perr(pr, line, "unterminated label value");
				if (c == '\\') {
					p++;
					if (*p == '\\' || *p == '"')
						c = *p;
					else if (*p == 'n')
						c = '\n';
					else
						return perr(pr, line, "bad escape \\%c", *p);
				}
				if (o + 1 >= sizeof(s->labels[0].value))
					return perr(pr, line, "label value too long");
				s->labels[s->nlabels].value[o++] = c;
			}
			s->labels[s->nlabels].value[o] = '\0';
			s->nlabels++;
			p = skip_blanks(p + 1);
			if (*p == ',') {
				p++;
				continue;
			}
			if (*p != '}')
				return perr(pr, line, "expected ',' or '}'");
			break;
		}
		p++;
	}
	if (*p != ' ' && *p != '\t')
		return perr(pr, line, "no blank before the value");
	p = skip_blanks(p);
	n = strcspn(p, " \t");
	if (n == 0 || n >= sizeof(tok))
		return perr(pr, line, "no value");
	snprintf(tok, sizeof(tok), "%.*s", (int)n, p);
	if (read_float(tok, &s->value) < 0)
		return perr(pr, line, "bad value \"%s\"", tok);
	p = skip_blanks(p + n);
	if (*p) { /* an optional timestamp: an int64 in milliseconds */
		char *end;

		errno = 0;
		(void)strtoll(p, &end, 10);
		if (errno || end == p || *skip_blanks(end) ||
		    !(*p == '-' || (*p >= '0' && *p <= '9')))
			return perr(pr, line, "bad timestamp");
	}

	f = sample_family(pr, s->name);
	if (!f || !f->type[0])
		return perr(pr, line, "sample %s without a TYPE before it", s->name);
	if (!enter_family(pr, f->name, current, line))
		return -1;
	f->has_samples = 1;
	s->family = (size_t)(f - pr->fam);
	/* no two samples with the same name and labels (label order ignored) */
	for (size_t i = 0; i < pr->ns; i++) {
		const struct prom_sample *o = &pr->s[i];
		size_t same = 0;

		if (strcmp(o->name, s->name) || o->nlabels != s->nlabels)
			continue;
		for (size_t a = 0; a < s->nlabels; a++)
			for (size_t b = 0; b < o->nlabels; b++)
				if (!strcmp(s->labels[a].name, o->labels[b].name) &&
				    !strcmp(s->labels[a].value, o->labels[b].value))
					same++;
		if (same == s->nlabels)
			return perr(pr, line, "duplicate sample %s", s->name);
	}
	pr->ns++;
	return 0;
}

/* 0 when text is a valid exposition; pr holds its families and samples. */
static int prom_parse(const char *text, struct prom *pr)
{
	size_t current = (size_t)-1, len = strlen(text);
	int line = 0;
	char buf[4096];

	memset(pr, 0, sizeof(*pr));
	if (len && text[len - 1] != '\n')
		return perr(pr, 0, "the last line does not end in a line feed");
	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = (size_t)(nl - p);
		int rc;

		line++;
		if (n >= sizeof(buf))
			return perr(pr, line, "line too long");
		memcpy(buf, p, n);
		buf[n] = '\0';
		p = nl + 1;
		if (memchr(buf, '\r', n))
			return perr(pr, line, "carriage return");
		if (*skip_blanks(buf) == '\0')
			continue;
		if (*skip_blanks(buf) == '#')
			rc = parse_comment(pr, skip_blanks(buf), &current, line);
		else
			rc = parse_sample(pr, skip_blanks(buf), &current, line);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static const char *label(const struct prom_sample *s, const char *name)
{
	for (size_t i = 0; i < s->nlabels; i++)
		if (!strcmp(s->labels[i].name, name))
			return s->labels[i].value;
	return NULL;
}

/* The one sample of name whose label lname is lvalue (lname NULL: the only one). */
static const struct prom_sample *sample(const struct prom *pr, const char *name, const char *lname,
					const char *lvalue)
{
	const struct prom_sample *found = NULL;

	for (size_t i = 0; i < pr->ns; i++) {
		const char *v;

		if (strcmp(pr->s[i].name, name))
			continue;
		v = lname ? label(&pr->s[i], lname) : NULL;
		if (lname && (!v || strcmp(v, lvalue)))
			continue;
		if (found)
			fail_msg("%s: more than one sample", name);
		found = &pr->s[i];
	}
	return found;
}

static size_t count_samples(const struct prom *pr, const char *name)
{
	size_t n = 0;

	for (size_t i = 0; i < pr->ns; i++)
		n += !strcmp(pr->s[i].name, name);
	return n;
}

static void test_parser_itself(void **state)
{
	static const char *const good[] = {
		"",
		"# TYPE a counter\na 1\n",
		"# HELP a some \\\\ help \\n text\n# TYPE a gauge\na{x=\"1\",y=\"a\\\"b\\\\c\\nd\"} -1.5e3\n",
		"# TYPE a gauge\na{x=\"1\",} NaN\na{x=\"2\"} +Inf 1700000000000\na{x=\"3\"} -Inf\n",
		"# a comment\n\n# TYPE a:b untyped\na:b 0\n",
		"# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n"
	};
	static const char *const bad[] = {
		"a 1\n",		 /* no TYPE */
		"# TYPE a counter\na 1", /* no final line feed */
		"# TYPE a counter\n# TYPE a counter\na 1\n",
		"# TYPE a counter\na 1\n# TYPE a counter\n",
		"# TYPE a counter\n# HELP a x\n# HELP a y\na 1\n",
		"# TYPE a counter\n# TYPE b counter\na 1\nb 1\na{x=\"1\"} 2\n", /* interleaved */
		"# TYPE a counter\na 1\n# TYPE b gauge\nb 1\n# HELP a late\n",
		"# TYPE a number\na 1\n",
		"# TYPE 1a counter\n1a 1\n",
		"# TYPE a counter\na{1x=\"1\"} 1\n",
		"# TYPE a counter\na{x:y=\"1\"} 1\n",
		"# TYPE a counter\na{x=1} 1\n",
		"# TYPE a counter\na{x=\"\\t\"} 1\n",
		"# TYPE a counter\na{x=\"1\" 1\n",
		"# TYPE a counter\na{x=\"1\",x=\"2\"} 1\n",
		"# TYPE a counter\na{__x=\"1\"} 1\n",
		"# TYPE a counter\na one\n",
		"# TYPE a counter\na 0x10\n",
		"# TYPE a counter\na\n",
		"# TYPE a counter\na 1 2 3\n",
		"# TYPE a counter\na 1\na 2\n",
		"# TYPE a counter\na{x=\"1\",y=\"2\"} 1\na{y=\"2\",x=\"1\"} 2\n",
		"# TYPE a counter\na 1\r\n",
		"# HELP a bad \\t escape\n# TYPE a counter\na 1\n",
		"# TYPE a counter extra\na 1\n"
	};
	struct prom *pr = malloc(sizeof(*pr));

	assert_non_null(pr);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (prom_parse(good[i], pr) != 0)
			fail_msg("valid exposition refused (%s):\n%s", pr->err, good[i]);
	assert_int_equal(prom_parse(good[1], pr), 0);
	assert_int_equal(pr->ns, 1);
	assert_string_equal(pr->fam[0].type, "counter");
	assert_int_equal(prom_parse(good[2], pr), 0);
	assert_string_equal(label(&pr->s[0], "y"), "a\"b\\c\nd");
	assert_true(pr->s[0].value == -1500.0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (prom_parse(bad[i], pr) == 0)
			fail_msg("invalid exposition accepted:\n%s", bad[i]);
	free(pr);
}

/* --- the exposition ---------------------------------------------------------------------- */

static void progress_known(struct progress *p)
{
	memset(p, 0, sizeof(*p));
	p->job = "items_new_status";
	p->driver = "postgres";
	p->table = "public.items";
	p->state = "running";
	p->rows_done = 1234567;
	p->batches_done = 1235;
	p->rows_total_estimate = 9876543;
	p->percent = 45.2;
	p->rows_per_sec = 8300.5;
	p->eta_seconds = 65;
	p->cursor = "[1234567]";
	p->high_water = "[9876543]";
	p->batch_size = 5000;
	p->last_batch_ms = 412.0;
	p->replication_lag_ms = 3200;
	p->lag_source = "127.0.0.1:5433";
	p->lock_waits = 7;
	p->errors = 21;
	p->retries = 9;
	p->by_kind.lock_timeout = 1;
	p->by_kind.statement_timeout = 2;
	p->by_kind.deadlock = 3;
	p->by_kind.serialization = 4;
	p->by_kind.connection = 5;
	p->by_kind.other = 6;
	p->throttled_seconds = 42.5;
	p->paused_seconds = 7.25;
	p->started_at = 1704164645;
	p->uptime_seconds = 3723.5;
}

static void progress_unknown(struct progress *p)
{
	progress_known(p);
	p->state = "starting";
	p->rows_total_estimate = -1;
	p->rows_per_sec = -1;
	p->eta_seconds = -1;
	p->last_batch_ms = -1;
	p->replication_lag_ms = -1;
	p->lag_source = NULL;
	p->lock_waits = -1;
	p->cursor = NULL;
}

/* metrics_format into a malloc'd buffer, checking the length it reports. */
static char *format(const struct progress *p)
{
	size_t need = metrics_format(p, NULL, 0), got;
	char *buf = malloc(need + 1);

	assert_non_null(buf);
	assert_true(need > 0);
	memset(buf, 'x', need + 1);
	got = metrics_format(p, buf, need + 1);
	assert_int_equal(got, need);
	assert_int_equal(strlen(buf), need);
	return buf;
}

static struct prom *parse_ok(const char *text)
{
	struct prom *pr = malloc(sizeof(*pr));

	assert_non_null(pr);
	if (prom_parse(text, pr) != 0)
		fail_msg("invalid exposition: %s\n--- text:\n%s", pr->err, text);
	return pr;
}

static void assert_family(const struct prom *pr, const char *name, const char *type)
{
	for (size_t i = 0; i < pr->nfam; i++)
		if (!strcmp(pr->fam[i].name, name)) {
			if (strcmp(pr->fam[i].type, type))
				fail_msg("%s is a %s, want %s", name, pr->fam[i].type, type);
			if (!pr->fam[i].has_samples)
				fail_msg("%s has no sample", name);
			return;
		}
	fail_msg("no family %s", name);
}

static void assert_no_family(const struct prom *pr, const char *name)
{
	for (size_t i = 0; i < pr->nfam; i++)
		if (!strcmp(pr->fam[i].name, name))
			fail_msg("family %s present", name);
	assert_int_equal(count_samples(pr, name), 0);
}

static double value_of(const struct prom *pr, const char *name, const char *lname,
		       const char *lvalue)
{
	const struct prom_sample *s = sample(pr, name, lname, lvalue);

	if (!s)
		fail_msg("no sample %s{%s=\"%s\"}", name, lname ? lname : "", lvalue ? lvalue : "");
	return s->value;
}

static void assert_value(const struct prom *pr, const char *name, const char *lname,
			 const char *lvalue, double want)
{
	double v = value_of(pr, name, lname, lvalue);

	if (fabs(v - want) > 1e-6 * (fabs(want) + 1))
		fail_msg("%s{%s=\"%s\"} = %.17g, want %.17g", name, lname ? lname : "",
			 lvalue ? lvalue : "", v, want);
}

/* Exactly one backfilld_state sample is 1, the one for p->state; the others 0. */
static void assert_state(const struct prom *pr, const char *state_name)
{
	size_t ones = 0, n = 0;

	for (size_t i = 0; i < pr->ns; i++) {
		const struct prom_sample *s = &pr->s[i];

		if (strcmp(s->name, "backfilld_state"))
			continue;
		n++;
		assert_non_null(label(s, "state"));
		if (s->value == 1.0) {
			ones++;
			assert_string_equal(label(s, "state"), state_name);
		} else if (s->value != 0.0) {
			fail_msg("backfilld_state{state=\"%s\"} = %g", label(s, "state"), s->value);
		}
	}
	assert_true(n >= 8);
	if (ones != 1)
		fail_msg("%zu states at 1 for \"%s\"", ones, state_name);
}

static void test_families_known(void **state)
{
	struct progress p;
	char *text;
	struct prom *pr;
	static const char *const kinds[] = { "lock_timeout",  "statement_timeout", "deadlock",
					     "serialization", "connection",	   "other" };

	progress_known(&p);
	text = format(&p);
	pr = parse_ok(text);

	assert_family(pr, "backfilld_rows_total", "counter");
	assert_value(pr, "backfilld_rows_total", NULL, NULL, 1234567);
	assert_family(pr, "backfilld_batches_total", "counter");
	assert_value(pr, "backfilld_batches_total", NULL, NULL, 1235);
	assert_family(pr, "backfilld_errors_total", "counter");
	assert_int_equal(count_samples(pr, "backfilld_errors_total"), 6);
	for (size_t i = 0; i < 6; i++)
		assert_value(pr, "backfilld_errors_total", "kind", kinds[i], (double)(i + 1));
	assert_family(pr, "backfilld_state", "gauge");
	assert_state(pr, "running");
	assert_family(pr, "backfilld_progress_ratio", "gauge");
	assert_value(pr, "backfilld_progress_ratio", NULL, NULL, 0.452);

	/* the optional gauges, all known here */
	assert_family(pr, "backfilld_last_batch_seconds", "gauge");
	assert_value(pr, "backfilld_last_batch_seconds", NULL, NULL, 0.412);
	assert_family(pr, "backfilld_rows_per_second", "gauge");
	assert_value(pr, "backfilld_rows_per_second", NULL, NULL, 8300.5);
	assert_family(pr, "backfilld_eta_seconds", "gauge");
	assert_value(pr, "backfilld_eta_seconds", NULL, NULL, 65);
	assert_family(pr, "backfilld_rows_estimate", "gauge");
	assert_value(pr, "backfilld_rows_estimate", NULL, NULL, 9876543);
	assert_family(pr, "backfilld_replication_lag_seconds", "gauge");
	assert_value(pr, "backfilld_replication_lag_seconds", NULL, NULL, 3.2);
	assert_family(pr, "backfilld_lock_waits", "gauge");
	assert_value(pr, "backfilld_lock_waits", NULL, NULL, 7);

	/* every sample names the job; counters are never negative */
	for (size_t i = 0; i < pr->ns; i++) {
		const char *job = label(&pr->s[i], "job");

		if (!job || strcmp(job, "items_new_status"))
			fail_msg("%s: job label \"%s\"", pr->s[i].name, job ? job : "(none)");
		if (!strcmp(pr->fam[pr->s[i].family].type, "counter") && !(pr->s[i].value >= 0))
			fail_msg("%s: counter %g", pr->s[i].name, pr->s[i].value);
	}
	free(pr);
	free(text);
}

static void test_unknown_gauges_omitted(void **state)
{
	struct progress p;
	char *text;
	struct prom *pr;

	progress_unknown(&p);
	text = format(&p);
	pr = parse_ok(text);
	assert_no_family(pr, "backfilld_last_batch_seconds");
	assert_no_family(pr, "backfilld_rows_per_second");
	assert_no_family(pr, "backfilld_eta_seconds");
	assert_no_family(pr, "backfilld_rows_estimate");
	assert_no_family(pr, "backfilld_replication_lag_seconds");
	assert_no_family(pr, "backfilld_lock_waits");
	/* the rest still there */
	assert_family(pr, "backfilld_rows_total", "counter");
	assert_family(pr, "backfilld_progress_ratio", "gauge");
	assert_state(pr, "starting");
	free(pr);
	free(text);
}

static void test_one_state_at_a_time(void **state)
{
	static const char *const states[] = { "starting", "running",  "throttled",
					      "paused",	  "stopping", "reconnecting",
					      "stopped",  "done",     "failed" };
	struct progress p;

	for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
		char *text;
		struct prom *pr;

		progress_known(&p);
		p.state = states[i];
		p.percent = 10.0 * (double)i;
		text = format(&p);
		pr = parse_ok(text);
		assert_state(pr, states[i]);
		assert_value(pr, "backfilld_progress_ratio", NULL, NULL, (double)i / 10.0);
		free(pr);
		free(text);
	}
}

static void test_job_name_escaped(void **state)
{
	static const char job[] = "we\"ird\\job\nname";
	struct progress p;
	char *text;
	struct prom *pr;

	progress_known(&p);
	p.job = job;
	text = format(&p);
	assert_non_null(strstr(text, "job=\"we\\\"ird\\\\job\\nname\""));
	pr = parse_ok(text);
	for (size_t i = 0; i < pr->ns; i++) {
		const char *v = label(&pr->s[i], "job");

		assert_non_null(v);
		assert_string_equal(v, job);
	}
	assert_value(pr, "backfilld_rows_total", NULL, NULL, 1234567);
	free(pr);
	free(text);
}

static void test_length_and_truncation(void **state)
{
	struct progress p;
	size_t need, got;
	char *full, small[100];

	progress_known(&p);
	need = metrics_format(&p, NULL, 0);
	full = format(&p); /* checks that a real call writes exactly need bytes */
	assert_int_equal(strlen(full), need);

	/* too small: the length needed, and a NUL-terminated prefix */
	memset(small, 'x', sizeof(small));
	got = metrics_format(&p, small, sizeof(small));
	assert_int_equal(got, need);
	assert_int_equal(strlen(small), sizeof(small) - 1);
	assert_memory_equal(small, full, sizeof(small) - 1);

	/* one byte short of the NUL */
	{
		char *b = malloc(need);

		assert_non_null(b);
		got = metrics_format(&p, b, need);
		assert_int_equal(got, need);
		assert_int_equal(strlen(b), need - 1);
		assert_memory_equal(b, full, need - 1);
		free(b);
	}

	/* the unknown variant is shorter, and its length exact too */
	progress_unknown(&p);
	assert_true(metrics_format(&p, NULL, 0) < need);
	free(format(&p));
	free(full);
}

/* --- the textfile ------------------------------------------------------------------------ */

static char *read_all(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (!f)
		fail_msg("%s: %s", path, strerror(errno));
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* The names in dir other than . and .., newline-separated. */
static void list_dir(const char *dir, char *out, size_t cap)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t o = 0;

	assert_non_null(d);
	out[0] = '\0';
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			o += (size_t)snprintf(out + o, o < cap ? cap - o : 0, "%s\n", e->d_name);
	closedir(d);
}

static void test_textfile(void **state)
{
	char dir[] = "/tmp/test_metrics.XXXXXX", path[256], names[1024];
	struct progress p;
	char *want, *got;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/backfilld_items.prom", dir);

	progress_known(&p);
	assert_int_equal(metrics_write_textfile(&p, path), 0);
	want = format(&p);
	got = read_all(path);
	assert_string_equal(got, want);
	list_dir(dir, names, sizeof(names));
	assert_string_equal(names, "backfilld_items.prom\n");
	free(got);
	free(want);

	/* rewritten in place with the new progress */
	progress_unknown(&p);
	p.rows_done = 7;
	assert_int_equal(metrics_write_textfile(&p, path), 0);
	want = format(&p);
	got = read_all(path);
	assert_string_equal(got, want);
	list_dir(dir, names, sizeof(names));
	assert_string_equal(names, "backfilld_items.prom\n");
	free(got);
	free(want);

	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

static void test_textfile_missing_dir(void **state)
{
	char dir[] = "/tmp/test_metrics.XXXXXX", path[256], names[1024];
	struct progress p;
	int rc;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/missing/backfilld_items.prom", dir);
	progress_known(&p);
	rc = metrics_write_textfile(&p, path);
	assert_int_equal(rc, -ENOENT);
	list_dir(dir, names, sizeof(names));
	assert_string_equal(names, "");
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parser_itself),
		cmocka_unit_test(test_families_known),
		cmocka_unit_test(test_unknown_gauges_omitted),
		cmocka_unit_test(test_one_state_at_a_time),
		cmocka_unit_test(test_job_name_escaped),
		cmocka_unit_test(test_length_and_truncation),
		cmocka_unit_test(test_textfile),
		cmocka_unit_test(test_textfile_missing_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

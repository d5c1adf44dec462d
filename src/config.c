/* config.c - a job's YAML file parsed (libyaml events) and validated into struct config. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "backfilld/config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <yaml.h>

#define MAX_FILE_BYTES (1024 * 1024) /* a job file is a few hundred bytes */
#define MAX_SCALAR_BYTES (64 * 1024)
#define MAX_SECRET_BYTES (64 * 1024)
#define MAX_DEPTH 32	     /* the schema needs 4; bounds recursion in node_free */
#define MAX_SET_COLUMNS 4096 /* MySQL's column limit; keeps duplicate checks cheap */
#define MAX_REPLICAS 64
#define MAX_JOB_NAME 100
#define MAX_DURATION_MS INT32_MAX /* fits postgres' int GUCs and every int timer */
#define ESC_BUF 80		  /* a value quoted in a message, truncated */
#define PATH_BUF 256		  /* a key path such as throttle.replicas[3].password_file */

enum node_type { NODE_SCALAR, NODE_SEQUENCE, NODE_MAPPING };

/* The document as a tree with positions: libyaml's own document API hides marks of
 * values and silently shares aliased nodes, and we want both under control. */
struct node {
	enum node_type type;
	size_t line, col;	/* 1-based */
	const struct node *key; /* the key when this node is a mapping value */
	char *str;		/* scalar text, NUL-terminated */
	size_t len;		/* may exceed strlen(str) after a "\0" escape */
	bool nullable;		/* plain and untagged, or !!null: "", "~", "null" mean null */
	struct node **kids;	/* sequence items; mapping keys and values alternate */
	size_t nkids, cap;
};

struct ctx {
	const char *name; /* for messages */
	char *err;
	size_t errlen;
	char *dir; /* directory of the file: base of relative paths */
	const struct node *root;
	unsigned flags;	    /* CONFIG_NO_SECRETS */
	struct config *cfg; /* being filled: warnings go to cfg->warnings */
};

/* get_string flags */
#define STR_EMPTY_OK 1	/* null or "" yields NULL instead of an error */
#define STR_NOT_BLANK 2 /* whitespace only counts as empty */

/* --- messages ------------------------------------------------------------------- */

__attribute__((format(printf, 4, 0))) static int vfail(struct ctx *c, size_t line, size_t col,
						       const char *fmt, va_list ap)
{
	int w;
	size_t off;

	if (!c->err || c->errlen == 0)
		return -EINVAL;
	if (line)
		w = snprintf(c->err, c->errlen, "%s:%zu:%zu: ", c->name, line, col);
	else
		w = snprintf(c->err, c->errlen, "%s: ", c->name);
	off = w < 0 ? 0 : (size_t)w;
	if (off < c->errlen)
		vsnprintf(c->err + off, c->errlen - off, fmt, ap);
	return -EINVAL;
}

__attribute__((format(printf, 4, 5))) static int fail_pos(struct ctx *c, size_t line, size_t col,
							  const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vfail(c, line, col, fmt, ap);
	va_end(ap);
	return rc;
}

/* Reports at node n, or at the file alone when n is NULL. Returns -EINVAL. */
__attribute__((format(printf, 3, 4))) static int fail(struct ctx *c, const struct node *n,
						      const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vfail(c, n ? n->line : 0, n ? n->col : 0, fmt, ap);
	va_end(ap);
	return rc;
}

/* Something the job file may do but should not: one line "FILE:LINE:COL: message"
 * appended to cfg->warnings for the caller to log (and `check` to report). */
__attribute__((format(printf, 3, 4))) static void warn_at(struct ctx *c, const struct node *n,
							  const char *fmt, ...)
{
	char line[1536];
	size_t have, add;
	char *grown;
	va_list ap;
	int w;

	if (!c->cfg)
		return;
	w = snprintf(line, sizeof(line), "%s:%zu:%zu: ", c->name, n ? n->line : 0, n ? n->col : 0);
	va_start(ap, fmt);
	if (w > 0 && (size_t)w < sizeof(line))
		vsnprintf(line + w, sizeof(line) - (size_t)w, fmt, ap);
	va_end(ap);
	have = c->cfg->warnings ? strlen(c->cfg->warnings) : 0;
	add = strlen(line);
	grown = realloc(c->cfg->warnings, have + add + 2);
	if (!grown)
		return; /* a warning lost to a failed allocation is not worth failing for */
	memcpy(grown + have, line, add);
	grown[have + add] = '\n';
	grown[have + add + 1] = '\0';
	c->cfg->warnings = grown;
}

const char *config_warning_next(const char **at, int *len)
{
	const char *line = *at, *nl;

	if (!line || !*line)
		return NULL;
	nl = strchr(line, '\n');
	*len = nl ? (int)(nl - line) : (int)strlen(line);
	*at = line + *len + (nl != NULL);
	return line;
}

static int oom(struct ctx *c)
{
	fail(c, NULL, "out of memory");
	return -ENOMEM;
}

/* Writes len bytes of s escaped for a message ("\"" and control characters escaped),
 * cut with "..." on a character boundary when longer than the buffer. */
static const char *escape(char *out, size_t size, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0, i;

	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (o + 4 + 3 + 1 > size) {
			while (o > 0 && ((unsigned char)out[o - 1] & 0xc0) == 0x80)
				o--;
			if (o > 0 && (unsigned char)out[o - 1] >= 0xc0)
				o--;
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		if (ch == '"' || ch == '\\') {
			out[o++] = '\\';
			out[o++] = (char)ch;
		} else if (ch == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else if (ch == '\t') {
			out[o++] = '\\';
			out[o++] = 't';
		} else if (ch < 0x20 || ch == 0x7f) {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		} else {
			out[o++] = (char)ch;
		}
	}
	out[o] = '\0';
	return out;
}

static const char *esc_node(char *out, size_t size, const struct node *n)
{
	return escape(out, size, n->str, n->len);
}

static const char *esc_str(char *out, size_t size, const char *s)
{
	return escape(out, size, s, strlen(s));
}

static bool is_null(const struct node *n)
{
	if (n->type != NODE_SCALAR || !n->nullable)
		return false;
	return n->len == 0 || !strcmp(n->str, "~") || !strcmp(n->str, "null") ||
	       !strcmp(n->str, "Null") || !strcmp(n->str, "NULL");
}

static const char *describe(const struct node *n, char *buf, size_t size)
{
	char e[ESC_BUF];

	if (n->type == NODE_MAPPING)
		return "a mapping";
	if (n->type == NODE_SEQUENCE)
		return "a sequence";
	if (is_null(n))
		return "null";
	snprintf(buf, size, "\"%s\"", esc_node(e, sizeof(e), n));
	return buf;
}

static int type_error(struct ctx *c, const struct node *n, const char *path, const char *want)
{
	char d[ESC_BUF + 8];

	return fail(c, n, "%s: expected %s, got %s", path, want, describe(n, d, sizeof(d)));
}

/* Where to report something missing inside section n (absent: the whole file). */
static const struct node *anchor_of(const struct ctx *c, const struct node *n)
{
	if (!n)
		return c->root;
	return n->key ? n->key : n;
}

static int missing(struct ctx *c, const struct node *at, const char *path)
{
	return fail(c, at, "missing required key \"%s\"", path);
}

static const char *join(char *buf, size_t size, const char *path, const char *key)
{
	if (*path)
		snprintf(buf, size, "%s.%s", path, key);
	else
		snprintf(buf, size, "%s", key);
	return buf;
}

static char *dup_n(const char *s, size_t n)
{
	char *p = malloc(n + 1);

	if (p) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

/* --- YAML events into a tree ----------------------------------------------------- */

static void node_free(struct node *n)
{
	size_t i;

	if (!n)
		return;
	for (i = 0; i < n->nkids; i++)
		node_free(n->kids[i]);
	free(n->kids);
	free(n->str);
	free(n);
}

static struct node *node_new(enum node_type type, yaml_mark_t mark)
{
	struct node *n = calloc(1, sizeof(*n));

	if (n) {
		n->type = type;
		n->line = mark.line + 1;
		n->col = mark.column + 1;
	}
	return n;
}

static int node_append(struct node *parent, struct node *kid)
{
	if (parent->nkids == parent->cap) {
		size_t cap = parent->cap ? parent->cap * 2 : 8;
		struct node **k = realloc(parent->kids, cap * sizeof(*k));

		if (!k)
			return -ENOMEM;
		parent->kids = k;
		parent->cap = cap;
	}
	if (parent->type == NODE_MAPPING && parent->nkids % 2 == 1)
		kid->key = parent->kids[parent->nkids - 1];
	parent->kids[parent->nkids++] = kid;
	return 0;
}

/* Line and column (in characters, as libyaml counts them) of a byte offset. */
static void offset_to_pos(const char *buf, size_t len, size_t offset, size_t *line, size_t *col)
{
	size_t i;

	*line = 1;
	*col = 1;
	if (offset > len)
		offset = len;
	for (i = 0; i < offset; i++) {
		if (buf[i] == '\n') {
			(*line)++;
			*col = 1;
		} else if (((unsigned char)buf[i] & 0xc0) != 0x80) {
			(*col)++;
		}
	}
}

static int yaml_failure(struct ctx *c, const yaml_parser_t *p, const char *buf, size_t len)
{
	const char *problem = p->problem ? p->problem : "unknown error";
	size_t line, col, off = p->problem_offset;

	switch (p->error) {
	case YAML_MEMORY_ERROR: return oom(c);
	case YAML_READER_ERROR:
		if (off > len)
			off = len;
		if (strstr(problem, "trailing") || strstr(problem, "incomplete")) {
			/* libyaml points past the lead byte; the user wants the broken character */
			while (off > 0 && ((unsigned char)buf[off - 1] & 0xc0) == 0x80)
				off--;
			if (off > 0 && (unsigned char)buf[off - 1] >= 0xc0)
				off--;
		}
		offset_to_pos(buf, len, off, &line, &col);
		if (off < len)
			return fail_pos(c, line, col,
					"invalid input: %s (byte 0x%02x at offset %zu)", problem,
					(unsigned char)buf[off], off);
		return fail_pos(c, line, col, "invalid input: %s (at offset %zu)", problem, off);
	default:
		if (p->context)
			return fail_pos(c, p->problem_mark.line + 1, p->problem_mark.column + 1,
					"invalid YAML: %s (%s at line %zu, column %zu)", problem,
					p->context, p->context_mark.line + 1,
					p->context_mark.column + 1);
		return fail_pos(c, p->problem_mark.line + 1, p->problem_mark.column + 1,
				"invalid YAML: %s", problem);
	}
}

/* An explicit tag on a node: the core schema's, where it fits the node, are kept as
 * what they say; any other (a local tag such as !env, !!bool, !!binary, a URI) would
 * mean something the job file cannot, so it is an error rather than ignored.
 * Returns NULL when the tag is acceptable, else what is wrong. */
static const char core[] = "tag:yaml.org,2002:"; /* what libyaml makes of "!!" */

static const char *tag_problem(yaml_event_type_t type, const char *tag, const char *value,
			       size_t len)
{
	const char *name;
	char *end;

	if (!strcmp(tag, "!")) /* the non-specific tag: a string, or the node's own kind */
		return NULL;
	if (type != YAML_SCALAR_EVENT) {
		if (strncmp(tag, core, sizeof(core) - 1) != 0)
			return "is not one of YAML's core tags";
		name = tag + sizeof(core) - 1;
		if (!strcmp(name, type == YAML_MAPPING_START_EVENT ? "map" : "seq"))
			return NULL;
		return "does not fit this node";
	}
	if (strncmp(tag, core, sizeof(core) - 1) != 0)
		return "is not one of YAML's core tags";
	name = tag + sizeof(core) - 1;
	if (!strcmp(name, "str"))
		return NULL;
	if (!strcmp(name, "null"))
		return len == 0 || !strcmp(value, "~") || !strcmp(value, "null") ||
				       !strcmp(value, "Null") || !strcmp(value, "NULL")
			       ? NULL
			       : "tags a value that is not null";
	if (!strcmp(name, "int")) {
		size_t i = (value[0] == '-' || value[0] == '+') ? 1 : 0;

		if (i == len)
			return "tags a value that is not an integer";
		for (; i < len; i++)
			if (value[i] < '0' || value[i] > '9')
				return "tags a value that is not an integer";
		return NULL;
	}
	if (!strcmp(name, "float")) {
		(void)strtod(value, &end);
		return len && end == value + len ? NULL : "tags a value that is not a number";
	}
	return "is not allowed in a job file (!!str, !!int, !!float, !!null, !!map, !!seq are)";
}

/* Handles one node event: rejects anchors and foreign tags, builds the node, hangs it
 * into the tree. */
static int tree_node(struct ctx *c, const yaml_event_t *ev, struct node **stack, size_t *depth,
		     struct node **root)
{
	const yaml_char_t *anchor, *tag;
	const char *problem;
	struct node *n;
	char e[ESC_BUF];

	if (ev->type == YAML_SCALAR_EVENT) {
		anchor = ev->data.scalar.anchor;
		tag = ev->data.scalar.tag;
	} else if (ev->type == YAML_SEQUENCE_START_EVENT) {
		anchor = ev->data.sequence_start.anchor;
		tag = ev->data.sequence_start.tag;
	} else {
		anchor = ev->data.mapping_start.anchor;
		tag = ev->data.mapping_start.tag;
	}
	if (anchor)
		return fail_pos(c, ev->start_mark.line + 1, ev->start_mark.column + 1,
				"YAML anchors and aliases are not allowed (&%s)",
				esc_str(e, sizeof(e), (const char *)anchor));

	if (tag) {
		const char *t = (const char *)tag;
		bool scalar = ev->type == YAML_SCALAR_EVENT;
		bool core_tag = !strncmp(t, core, sizeof(core) - 1);

		problem = tag_problem(ev->type, t,
				      scalar ? (const char *)ev->data.scalar.value : "",
				      scalar ? ev->data.scalar.length : 0);
		if (problem)
			return fail_pos(c, ev->start_mark.line + 1, ev->start_mark.column + 1,
					"YAML tag %s%s %s", core_tag ? "!!" : "",
					esc_str(e, sizeof(e), core_tag ? t + sizeof(core) - 1 : t),
					problem);
	}

	if (ev->type == YAML_SCALAR_EVENT && ev->data.scalar.length > MAX_SCALAR_BYTES)
		return fail_pos(c, ev->start_mark.line + 1, ev->start_mark.column + 1,
				"value too long (%zu bytes, max %d)", ev->data.scalar.length,
				MAX_SCALAR_BYTES);

	if (ev->type == YAML_SCALAR_EVENT)
		n = node_new(NODE_SCALAR, ev->start_mark);
	else if (ev->type == YAML_SEQUENCE_START_EVENT)
		n = node_new(NODE_SEQUENCE, ev->start_mark);
	else
		n = node_new(NODE_MAPPING, ev->start_mark);
	if (!n)
		return oom(c);
	if (*depth == 0) {
		*root = n;
	} else if (node_append(stack[*depth - 1], n) < 0) {
		node_free(n);
		return oom(c);
	}
	if (ev->type == YAML_SCALAR_EVENT) {
		n->str = dup_n((const char *)ev->data.scalar.value, ev->data.scalar.length);
		if (!n->str)
			return oom(c);
		n->len = ev->data.scalar.length;
		/* plain and untagged, or tagged !!null (tag_problem checked its value) */
		n->nullable = (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
			       ev->data.scalar.plain_implicit) ||
			      (tag && !strcmp((const char *)tag, YAML_NULL_TAG));
		return 0;
	}
	if (*depth == MAX_DEPTH)
		return fail(c, n, "nested too deeply (more than %d levels)", MAX_DEPTH);
	stack[(*depth)++] = n;
	return 0;
}

static int tree_load(struct ctx *c, const char *buf, size_t len, struct node **out)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	struct node *stack[MAX_DEPTH];
	struct node *root = NULL;
	size_t depth = 0;
	int ndocs = 0, rc = 0;
	bool done = false;
	char e[ESC_BUF];

	if (!yaml_parser_initialize(&parser))
		return oom(c);
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);
	while (!done && rc == 0) {
		if (!yaml_parser_parse(&parser, &ev)) {
			rc = yaml_failure(c, &parser, buf, len);
			break;
		}
		switch (ev.type) {
		case YAML_STREAM_END_EVENT: done = true; break;
		case YAML_DOCUMENT_START_EVENT:
			if (++ndocs > 1)
				rc = fail_pos(c, ev.start_mark.line + 1, ev.start_mark.column + 1,
					      "more than one YAML document (one job per file)");
			break;
		case YAML_ALIAS_EVENT:
			rc = fail_pos(c, ev.start_mark.line + 1, ev.start_mark.column + 1,
				      "YAML anchors and aliases are not allowed (*%s)",
				      esc_str(e, sizeof(e), (const char *)ev.data.alias.anchor));
			break;
		case YAML_SCALAR_EVENT:
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT: rc = tree_node(c, &ev, stack, &depth, &root); break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			if (depth > 0)
				depth--;
			break;
		default: break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	if (rc < 0) {
		node_free(root);
		return rc;
	}
	if (!root)
		return fail(c, NULL, "empty file (expected a mapping of settings)");
	*out = root;
	return 0;
}

/* --- scalars ---------------------------------------------------------------------- */

static int want_scalar(struct ctx *c, const struct node *n, const char *path)
{
	if (n->type != NODE_SCALAR)
		return type_error(c, n, path, "a scalar value");
	if (memchr(n->str, '\0', n->len))
		return fail(c, n, "%s: contains a NUL character", path);
	return 0;
}

static bool is_blank(const struct node *n)
{
	size_t i;

	for (i = 0; i < n->len; i++)
		if (!strchr(" \t\r\n", n->str[i]))
			return false;
	return true;
}

static int empty_error(struct ctx *c, const struct node *n, const char *path)
{
	if (is_null(n) && n->len > 1) /* a bare null, NULL or Null */
		return fail(c, n,
			    "%s: must not be empty (a bare %s is YAML's null; "
			    "to mean SQL NULL write \"NULL\" in quotes)",
			    path, n->str);
	return fail(c, n, "%s: must not be empty", path);
}

/* A string value: *out is a new copy, or NULL when empty and STR_EMPTY_OK. */
static int get_string(struct ctx *c, const struct node *n, const char *path, int flags, char **out)
{
	int rc = want_scalar(c, n, path);

	*out = NULL;
	if (rc < 0)
		return rc;
	if (is_null(n) || n->len == 0 || ((flags & STR_NOT_BLANK) && is_blank(n))) {
		if (flags & STR_EMPTY_OK)
			return 0;
		return empty_error(c, n, path);
	}
	*out = dup_n(n->str, n->len);
	return *out ? 0 : oom(c);
}

/* path.key: the value given, else (a replica's) the primary's, else missing. */
static int get_inherited(struct ctx *c, const struct node *n, const struct node *at,
			 const char *path, const char *key, const char *inherited, char **out)
{
	char p[PATH_BUF];

	join(p, sizeof(p), path, key);
	if (n)
		return get_string(c, n, p, 0, out);
	if (!inherited)
		return missing(c, at, p);
	*out = strdup(inherited);
	return *out ? 0 : oom(c);
}

static int get_int(struct ctx *c, const struct node *n, const char *path, int64_t min, int64_t max,
		   int64_t *out)
{
	const char *s = n->str;
	bool neg = false;
	uint64_t v = 0, limit;
	size_t i = 0;
	char e[ESC_BUF];
	int rc = want_scalar(c, n, path);

	if (rc < 0)
		return rc;
	if (is_null(n) || n->len == 0)
		return empty_error(c, n, path);
	if (s[0] == '-') {
		neg = true;
		i = 1;
	}
	if (i == n->len || (s[i] == '0' && n->len - i > 1))
		goto invalid;
	limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; i < n->len; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			goto invalid;
		d = (unsigned)(s[i] - '0');
		if (v > (limit - d) / 10)
			return fail(c, n, "%s: \"%s\" is out of range (%" PRId64 "..%" PRId64 ")",
				    path, esc_node(e, sizeof(e), n), min, max);
		v = v * 10 + d;
	}
	if (neg)
		*out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
	else
		*out = (int64_t)v;
	if (*out < 0 && min >= 0)
		return fail(c, n, "%s: must not be negative, got %s", path,
			    esc_node(e, sizeof(e), n));
	if (*out < min || *out > max)
		return fail(c, n, "%s: %" PRId64 " is out of range (%" PRId64 "..%" PRId64 ")",
			    path, *out, min, max);
	return 0;
invalid:
	return fail(c, n, "%s: invalid integer \"%s\" (plain decimal digits, no leading zeros)",
		    path, esc_node(e, sizeof(e), n));
}

static int get_duration(struct ctx *c, const struct node *n, const char *path, bool positive,
			int64_t *out)
{
	char e[ESC_BUF];
	int rc = want_scalar(c, n, path);

	if (rc < 0)
		return rc;
	if (is_null(n) || n->len == 0)
		return empty_error(c, n, path);
	if (n->str[0] == '-')
		return fail(c, n, "%s: must not be negative, got \"%s\"", path,
			    esc_node(e, sizeof(e), n));
	if (config_parse_duration(n->str, out) < 0)
		return fail(c, n, "%s: invalid duration \"%s\" (use ms, s, m or h)", path,
			    esc_node(e, sizeof(e), n));
	if (*out > MAX_DURATION_MS)
		return fail(c, n, "%s: duration \"%s\" is too long (max %dms, about 596h)", path,
			    esc_node(e, sizeof(e), n), MAX_DURATION_MS);
	if (positive && *out == 0)
		return fail(c, n, "%s: must be greater than 0", path);
	return 0;
}

int config_parse_number(const char *s, double *out)
{
	char *end;
	double v;

	/* strtod also takes hex, "inf", "nan" and leading blanks: not a config number */
	if (!*s || s[strspn(s, "0123456789+-.eE")] != '\0')
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (*end != '\0' || end == s || errno == ERANGE || !isfinite(v))
		return -EINVAL;
	*out = v;
	return 0;
}

static int get_number(struct ctx *c, const struct node *n, const char *path, double *out)
{
	char e[ESC_BUF];
	int rc = want_scalar(c, n, path);

	if (rc < 0)
		return rc;
	if (is_null(n) || n->len == 0)
		return empty_error(c, n, path);
	if (config_parse_number(n->str, out) < 0)
		return fail(c, n, "%s: invalid number \"%s\"", path, esc_node(e, sizeof(e), n));
	return 0;
}

static int get_column(struct ctx *c, const struct node *n, const char *path, const char *what,
		      char **out)
{
	char reason[96], e[ESC_BUF];
	int rc = get_string(c, n, path, 0, out);

	if (rc < 0)
		return rc;
	if (config_check_identifier(*out, reason, sizeof(reason)) < 0)
		return fail(c, n, "%s: invalid %s \"%s\": %s", path, what,
			    esc_node(e, sizeof(e), n), reason);
	return 0;
}

static int get_qname(struct ctx *c, const struct node *n, const char *path, struct config_qname *q)
{
	char reason[96], e[ESC_BUF], *s, *dot;
	int rc = get_string(c, n, path, 0, &s);

	if (rc < 0)
		return rc;
	dot = strchr(s, '.');
	if (dot && strchr(dot + 1, '.')) {
		rc = fail(c, n, "%s: \"%s\" has more than one dot (use name or schema.name)", path,
			  esc_node(e, sizeof(e), n));
		goto out_free;
	}
	if (dot) {
		q->schema = dup_n(s, (size_t)(dot - s));
		q->name = strdup(dot + 1);
		if (!q->schema || !q->name) {
			rc = oom(c);
			goto out_free;
		}
		if (config_check_identifier(q->schema, reason, sizeof(reason)) < 0) {
			rc = fail(c, n, "%s: invalid schema name \"%s\": %s", path,
				  esc_str(e, sizeof(e), q->schema), reason);
			goto out_free;
		}
	} else {
		q->name = s;
		s = NULL;
	}
	if (config_check_identifier(q->name, reason, sizeof(reason)) < 0)
		rc = fail(c, n, "%s: invalid table name \"%s\": %s", path,
			  esc_str(e, sizeof(e), q->name), reason);
out_free:
	free(s);
	return rc;
}

/* --- mappings --------------------------------------------------------------------- */

static size_t edit_distance(const char *a, size_t alen, const char *b)
{
	size_t blen = strlen(b), row[72], i, j;

	if (alen > 64 || blen > 64)
		return SIZE_MAX;
	for (j = 0; j <= blen; j++)
		row[j] = j;
	for (i = 1; i <= alen; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (j = 1; j <= blen; j++) {
			size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			diag = up;
			row[j] = best;
		}
	}
	return row[blen];
}

static int unknown_key(struct ctx *c, const struct node *kn, const char *path,
		       const char *const *keys)
{
	const char *best = NULL;
	size_t bestd = 3, k;
	char e[ESC_BUF];

	for (k = 0; keys[k]; k++) {
		size_t d = edit_distance(kn->str, kn->len, keys[k]);

		if (d < bestd) {
			bestd = d;
			best = keys[k];
		}
	}
	esc_node(e, sizeof(e), kn);
	if (best)
		return fail(c, kn, "unknown key \"%s%s%s\" (did you mean \"%s%s%s\"?)", path,
			    *path ? "." : "", e, path, *path ? "." : "", best);
	return fail(c, kn, "unknown key \"%s%s%s\"", path, *path ? "." : "", e);
}

/* Checks a fixed-schema mapping: scalar keys, each known, none twice. vals[k] gets the
 * value of keys[k] or NULL. */
static int check_map(struct ctx *c, const struct node *map, const char *path,
		     const char *const *keys, const struct node **vals)
{
	size_t i, k;

	for (i = 0; i + 1 < map->nkids; i += 2) {
		const struct node *kn = map->kids[i];
		char d[ESC_BUF + 8];

		if (kn->type != NODE_SCALAR || memchr(kn->str, '\0', kn->len))
			return fail(c, kn, "%s%skeys must be plain names, got %s", path,
				    *path ? ": " : "", describe(kn, d, sizeof(d)));
		for (k = 0; keys[k]; k++)
			if (kn->len == strlen(keys[k]) && !memcmp(kn->str, keys[k], kn->len))
				break;
		if (!keys[k])
			return unknown_key(c, kn, path, keys);
		if (vals[k])
			return fail(c, kn, "duplicate key \"%s%s%s\" (first at line %zu)", path,
				    *path ? "." : "", keys[k], anchor_of(c, vals[k])->line);
		vals[k] = map->kids[i + 1];
	}
	return 0;
}

/* A section of settings: absent or null means all defaults (returns 0 with every vals[k]
 * NULL); otherwise it must be a mapping of known keys. */
static int section(struct ctx *c, const struct node *n, const char *path, const char *const *keys,
		   const struct node **vals)
{
	size_t k;

	for (k = 0; keys[k]; k++)
		vals[k] = NULL;
	if (!n || is_null(n))
		return 0;
	if (n->type != NODE_MAPPING)
		return type_error(c, n, path, "a mapping");
	return check_map(c, n, path, keys, vals);
}

/* `set:` and `rollback.set:`: a non-empty mapping of column -> expression. */
static int get_assigns(struct ctx *c, const struct node *n, const char *path,
		       struct config_assign **out, size_t *nout)
{
	struct config_assign *a;
	size_t npairs, i, j;
	char p[PATH_BUF], e[ESC_BUF];
	int rc;

	if (is_null(n))
		return fail(c, n, "%s: must not be empty", path);
	if (n->type != NODE_MAPPING)
		return type_error(c, n, path, "a mapping of column: expression");
	npairs = n->nkids / 2;
	if (npairs == 0)
		return fail(c, n, "%s: must not be empty", path);
	if (npairs > MAX_SET_COLUMNS)
		return fail(c, n, "%s: too many columns (%zu, max %d)", path, npairs,
			    MAX_SET_COLUMNS);
	a = calloc(npairs, sizeof(*a));
	if (!a)
		return oom(c);
	*out = a;
	for (i = 0; i < npairs; i++) {
		const struct node *kn = n->kids[2 * i], *vn = n->kids[2 * i + 1];

		*nout = i + 1; /* zeroed entries are safe to free */
		if (kn->type != NODE_SCALAR)
			return type_error(c, kn, path, "a column name");
		rc = get_column(c, kn, path, "column name", &a[i].column);
		if (rc < 0)
			return rc;
		for (j = 0; j < i; j++)
			if (!strcmp(a[j].column, a[i].column))
				return fail(c, kn,
					    "%s: duplicate column \"%s\" (first at line %zu)", path,
					    esc_str(e, sizeof(e), a[i].column),
					    n->kids[2 * j]->line);
		snprintf(p, sizeof(p), "%s.%s", path, esc_str(e, sizeof(e), a[i].column));
		rc = get_string(c, vn, p, STR_NOT_BLANK, &a[i].expr);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int get_key(struct ctx *c, const struct node *n, struct config *cfg)
{
	char p[PATH_BUF], e[ESC_BUF];
	size_t i, j;
	int rc;

	if (n->type == NODE_SCALAR) {
		cfg->nkey = 1;
		return get_column(c, n, "key", "column name", &cfg->key[0]);
	}
	if (n->type != NODE_SEQUENCE)
		return type_error(c, n, "key", "a column name or a list of column names");
	if (n->nkids == 0)
		return fail(c, n, "key: must not be empty");
	if (n->nkids > CONFIG_MAX_KEY_PARTS)
		return fail(c, n, "key: too many key columns (%zu, max %d)", n->nkids,
			    CONFIG_MAX_KEY_PARTS);
	for (i = 0; i < n->nkids; i++) {
		snprintf(p, sizeof(p), "key[%zu]", i);
		cfg->nkey = i + 1;
		rc = get_column(c, n->kids[i], p, "column name", &cfg->key[i]);
		if (rc < 0)
			return rc;
		for (j = 0; j < i; j++)
			if (!strcmp(cfg->key[j], cfg->key[i]))
				return fail(c, n->kids[i], "%s: duplicate key column \"%s\"", p,
					    esc_str(e, sizeof(e), cfg->key[i]));
	}
	return 0;
}

/* --- connections and secrets -------------------------------------------------------- */

enum {
	C_DSN,
	C_HOST,
	C_PORT,
	C_SOCKET,
	C_USER,
	C_DATABASE,
	C_PASSWORD_FILE,
	C_PASSWORD,
	C_DRIVER, /* database: only */
	C_NKEYS
};
static const char *const db_keys[] = { "dsn",	   "host",	    "port",	"socket", "user",
				       "database", "password_file", "password", "driver", NULL };
static const char *const replica_keys[] = { "dsn",	     "host",	 "port",
					    "socket",	     "user",	 "database",
					    "password_file", "password", NULL };

/* Reads fd to its end into buf (max + 1 bytes); *len the bytes read. 0, -EFBIG
 * when there are more than max, or -errno. */
static int read_capped(int fd, char *buf, size_t max, size_t *len)
{
	*len = 0;
	for (;;) {
		ssize_t r = read(fd, buf + *len, max + 1 - *len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return 0;
		*len += (size_t)r;
		if (*len > max)
			return -EFBIG;
	}
}

/* Reads a password file: a regular file nobody else may read; one trailing newline dropped. */
static int read_secret(struct ctx *c, const struct node *n, const char *path, const char *file,
		       char **out)
{
	char e[1024], *buf = NULL; /* the path whole: cut short, it would hide the file */
	size_t len = 0;
	struct stat st;
	int fd, rc = 0;

	esc_str(e, sizeof(e), file);
	/* O_NONBLOCK: a FIFO planted at the path must not hang the loader */
	fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return fail(c, n, "%s: cannot read %s: %s", path, e, strerror(errno));
	if (fstat(fd, &st) < 0) {
		rc = fail(c, n, "%s: cannot read %s: %s", path, e, strerror(errno));
		goto out_close;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = fail(c, n, "%s: cannot read %s: not a regular file", path, e);
		goto out_close;
	}
	/* readable by others: the secret is out already, and refusing the job would
	 * not take it back; every run and `check` says so until it is fixed */
	if (st.st_mode & 007)
		warn_at(c, n, "%s: %s is accessible by others (mode %04o); chmod o-rwx it", path, e,
			(unsigned)(st.st_mode & 07777));
	buf = malloc(MAX_SECRET_BYTES + 1);
	if (!buf) {
		rc = oom(c);
		goto out_close;
	}
	rc = read_capped(fd, buf, MAX_SECRET_BYTES, &len);
	if (rc == -EFBIG) {
		rc = fail(c, n, "%s: %s is too large for a password (max %d bytes)", path, e,
			  MAX_SECRET_BYTES);
		goto out_free;
	}
	if (rc < 0) {
		rc = fail(c, n, "%s: cannot read %s: %s", path, e, strerror(-rc));
		goto out_free;
	}
	if (len > 0 && buf[len - 1] == '\n') {
		len--;
		if (len > 0 && buf[len - 1] == '\r')
			len--;
	}
	if (memchr(buf, '\0', len)) {
		rc = fail(c, n, "%s: %s contains a NUL byte", path, e);
		goto out_free;
	}
	buf[len] = '\0';
	*out = buf;
	buf = NULL;
out_free:
	if (buf) {
		explicit_bzero(buf, MAX_SECRET_BYTES + 1);
		free(buf);
	}
out_close:
	close(fd);
	return rc;
}

/* BACKFILLD_PASSWORD goes once read: /proc/PID/environ would show it for the
 * process's life (a reload then finds none; the connections keep their own). */
static void env_secret_drop(void)
{
	char *env = getenv("BACKFILLD_PASSWORD");

	if (env)
		explicit_bzero(env, strlen(env));
	unsetenv("BACKFILLD_PASSWORD");
}

/* password_file relative to the job file's directory, so a unit's working directory
 * does not matter. */
static int resolve_path(struct ctx *c, const char *file, char **out)
{
	size_t dl, fl;

	if (file[0] == '/' || !strcmp(c->dir, ".")) {
		*out = strdup(file);
		return *out ? 0 : oom(c);
	}
	dl = strlen(c->dir);
	fl = strlen(file);
	*out = malloc(dl + 1 + fl + 1);
	if (!*out)
		return oom(c);
	memcpy(*out, c->dir, dl);
	(*out)[dl] = '/';
	memcpy(*out + dl + 1, file, fl + 1);
	return 0;
}

/* Whether a libpq connection string carries a password: password=… in the
 * keyword/value form, user:password@ or ?password= in the URI form. A malformed
 * string is left to libpq to reject. */
static bool dsn_has_password(const char *dsn)
{
	static const char ws[] = " \t\n\r\f\v";
	const char *s = dsn + strspn(dsn, ws);

	if (strncmp(s, "postgresql://", 13) == 0 || strncmp(s, "postgres://", 11) == 0) {
		const char *auth = strstr(s, "://") + 3;
		size_t alen = strcspn(auth, "/?"), ulen = strcspn(auth, "@");
		const char *q = strchr(auth, '?');

		if (ulen < alen && memchr(auth, ':', ulen))
			return true;
		while (q) {
			q++;
			if (strncmp(q, "password=", 9) == 0)
				return true;
			q = strchr(q, '&');
		}
		return false;
	}
	while (*s) {
		const char *kw = s;
		size_t kl = strcspn(s, "= \t\n\r\f\v");

		s += kl;
		s += strspn(s, ws);
		if (*s != '=')
			return false;
		s++;
		s += strspn(s, ws);
		if (kl == 8 && strncmp(kw, "password", 8) == 0)
			return true;
		if (*s == '\'') {
			for (s++; *s && *s != '\''; s++)
				if (*s == '\\' && s[1])
					s++;
			if (*s)
				s++;
		} else {
			for (; *s && !strchr(ws, *s); s++)
				if (*s == '\\' && s[1])
					s++;
		}
		s += strspn(s, ws);
	}
	return false;
}

static int get_conn(struct ctx *c, const struct node *section_node, const char *path,
		    const struct node **vals, enum config_driver drv, struct config_conn *conn,
		    const struct config_conn *primary)
{
	const char *const *keys = primary ? replica_keys : db_keys;
	const struct node *at = anchor_of(c, section_node);
	char p[PATH_BUF], *pf = NULL;
	int64_t port;
	size_t k;
	int rc;

	if (vals[C_PASSWORD])
		return fail(c, vals[C_PASSWORD]->key,
			    "%s.password: passwords are never read from the YAML; "
			    "use %s.password_file or the environment variable BACKFILLD_PASSWORD",
			    path, path);
	if (drv == CONFIG_DRIVER_POSTGRES) {
		for (k = C_HOST; k <= C_DATABASE; k++)
			if (vals[k])
				return fail(
					c, vals[k]->key,
					"%s.%s: not used by the postgres driver (put it into %s.dsn)",
					path, keys[k], path);
		if (!vals[C_DSN])
			return missing(c, at, join(p, sizeof(p), path, "dsn"));
		rc = get_string(c, vals[C_DSN], join(p, sizeof(p), path, "dsn"), STR_NOT_BLANK,
				&conn->dsn);
		if (rc < 0)
			return rc;
		if (dsn_has_password(conn->dsn))
			return fail(c, vals[C_DSN],
				    "%s.dsn holds a password: passwords are never read from the "
				    "YAML; use %s.password_file or the environment variable "
				    "BACKFILLD_PASSWORD",
				    path, path);
	} else {
		if (vals[C_DSN])
			return fail(
				c, vals[C_DSN]->key,
				"%s.dsn: not used by the mysql driver (use host, port, socket, user and database)",
				path);
		if (!vals[C_HOST] && !vals[C_SOCKET])
			return fail(c, at, "%s: the mysql driver needs %s.host or %s.socket", path,
				    path, path);
		if (vals[C_HOST] &&
		    (rc = get_string(c, vals[C_HOST], join(p, sizeof(p), path, "host"), 0,
				     &conn->host)) < 0)
			return rc;
		if (vals[C_SOCKET] &&
		    (rc = get_string(c, vals[C_SOCKET], join(p, sizeof(p), path, "socket"), 0,
				     &conn->socket)) < 0)
			return rc;
		if (vals[C_PORT]) {
			rc = get_int(c, vals[C_PORT], join(p, sizeof(p), path, "port"), 0, 65535,
				     &port);
			if (rc < 0)
				return rc;
			conn->port = (int)port;
		}
		rc = get_inherited(c, vals[C_USER], at, path, "user",
				   primary ? primary->user : NULL, &conn->user);
		if (rc < 0)
			return rc;
		rc = get_inherited(c, vals[C_DATABASE], at, path, "database",
				   primary ? primary->database : NULL, &conn->database);
		if (rc < 0)
			return rc;
	}

	if (vals[C_PASSWORD_FILE]) {
		join(p, sizeof(p), path, "password_file");
		rc = get_string(c, vals[C_PASSWORD_FILE], p, 0, &pf);
		if (rc < 0)
			return rc;
		rc = resolve_path(c, pf, &conn->password_file);
		free(pf);
		if (rc < 0 || (c->flags & CONFIG_NO_SECRETS))
			return rc;
		if (!primary)
			env_secret_drop(); /* the file wins; the variable is not kept either */
		return read_secret(c, vals[C_PASSWORD_FILE], p, conn->password_file,
				   &conn->password);
	}
	if (c->flags & CONFIG_NO_SECRETS)
		return 0;
	if (primary) {
		if (primary->password && !(conn->password = strdup(primary->password)))
			return oom(c);
	} else {
		const char *env = getenv("BACKFILLD_PASSWORD");
		const char *creds = getenv("CREDENTIALS_DIRECTORY");

		if (env && *env) {
			conn->password = strdup(env);
			env_secret_drop();
			if (!conn->password)
				return oom(c);
		} else if (creds && *creds) {
			/* systemd's LoadCredential=password:…, readable by this unit only */
			char cred[4096];

			snprintf(cred, sizeof(cred), "%s/password", creds);
			if (access(cred, F_OK) == 0)
				return read_secret(c, at, "$CREDENTIALS_DIRECTORY/password", cred,
						   &conn->password);
		}
	}
	return 0;
}

static int get_database(struct ctx *c, const struct node *n, struct config *cfg)
{
	const struct node *v[C_NKEYS];
	char e[ESC_BUF];
	int rc;

	if (!n)
		return missing(c, c->root, "database");
	if (is_null(n))
		return fail(c, n->key, "database: must not be empty");
	rc = section(c, n, "database", db_keys, v);
	if (rc < 0)
		return rc;
	if (!v[C_DRIVER])
		return missing(c, anchor_of(c, n), "database.driver");
	rc = want_scalar(c, v[C_DRIVER], "database.driver");
	if (rc < 0)
		return rc;
	if (!strcmp(v[C_DRIVER]->str, "postgres"))
		cfg->driver = CONFIG_DRIVER_POSTGRES;
	else if (!strcmp(v[C_DRIVER]->str, "mysql"))
		cfg->driver = CONFIG_DRIVER_MYSQL;
	else if (is_null(v[C_DRIVER]))
		return fail(c, v[C_DRIVER],
			    "database.driver: must not be empty (postgres or mysql)");
	else
		return fail(c, v[C_DRIVER],
			    "database.driver: unknown driver \"%s\" (use postgres or mysql)",
			    esc_node(e, sizeof(e), v[C_DRIVER]));
	return get_conn(c, n, "database", v, cfg->driver, &cfg->db, NULL);
}

static int get_replicas(struct ctx *c, const struct node *n, struct config *cfg)
{
	const char *path = "throttle.replicas";
	char p[PATH_BUF];
	size_t i;
	int rc;

	if (is_null(n))
		return 0;
	if (n->type != NODE_SEQUENCE)
		return type_error(c, n, path, "a sequence of connections");
	if (n->nkids == 0)
		return 0;
	if (n->nkids > MAX_REPLICAS)
		return fail(c, n, "%s: too many replicas (%zu, max %d)", path, n->nkids,
			    MAX_REPLICAS);
	cfg->throttle.replicas = calloc(n->nkids, sizeof(*cfg->throttle.replicas));
	if (!cfg->throttle.replicas)
		return oom(c);
	for (i = 0; i < n->nkids; i++) {
		const struct node *r = n->kids[i], *v[C_NKEYS];

		snprintf(p, sizeof(p), "%s[%zu]", path, i);
		cfg->throttle.nreplicas = i + 1;
		if (r->type != NODE_MAPPING)
			return type_error(c, r, p, "a mapping");
		for (size_t k = 0; k < C_NKEYS; k++)
			v[k] = NULL;
		rc = check_map(c, r, p, replica_keys, v);
		if (rc < 0)
			return rc;
		rc = get_conn(c, r, p, v, cfg->driver, &cfg->throttle.replicas[i].conn, &cfg->db);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* --- sections ---------------------------------------------------------------------- */

void config_batch_make_room(int64_t *min, int64_t *size, int64_t *max, bool given_min,
			    bool given_size, bool given_max)
{
	if (!given_max) {
		if (given_size && *size > *max)
			*max = *size;
		if (given_min && *min > *max)
			*max = *min;
	}
	if (!given_min) {
		if (given_size && *size < *min)
			*min = *size;
		if (*max < *min)
			*min = *max;
	}
	if (!given_size) {
		if (*size < *min)
			*size = *min;
		if (*size > *max)
			*size = *max;
	}
}

static int get_batch(struct ctx *c, const struct node *n, struct config *cfg)
{
	enum {
		B_SIZE,
		B_MIN,
		B_MAX,
		B_TARGET,
		B_CONTENDED,
		B_SLEEP,
		B_LOCK,
		B_STMT,
		B_RETRIES,
		B_NKEYS
	};
	static const char *const keys[] = { "size",
					    "min_size",
					    "max_size",
					    "target_time",
					    "contended_target_time",
					    "sleep",
					    "lock_timeout",
					    "statement_timeout",
					    "max_retries",
					    NULL };
	const struct node *v[B_NKEYS];
	const struct node *at;
	int rc;

	rc = section(c, n, "batch", keys, v);
	if (rc < 0)
		return rc;
	if (v[B_SIZE] && (rc = get_int(c, v[B_SIZE], "batch.size", 1, CONFIG_MAX_BATCH_ROWS,
				       &cfg->batch.size)) < 0)
		return rc;
	if (v[B_MIN] && (rc = get_int(c, v[B_MIN], "batch.min_size", 1, CONFIG_MAX_BATCH_ROWS,
				      &cfg->batch.min_size)) < 0)
		return rc;
	if (v[B_MAX] && (rc = get_int(c, v[B_MAX], "batch.max_size", 1, CONFIG_MAX_BATCH_ROWS,
				      &cfg->batch.max_size)) < 0)
		return rc;
	if (v[B_TARGET] && (rc = get_duration(c, v[B_TARGET], "batch.target_time", true,
					      &cfg->batch.target_time_ms)) < 0)
		return rc;
	if (v[B_CONTENDED] && (rc = get_duration(c, v[B_CONTENDED], "batch.contended_target_time",
						 true, &cfg->batch.contended_target_time_ms)) < 0)
		return rc;
	if (v[B_SLEEP] &&
	    (rc = get_duration(c, v[B_SLEEP], "batch.sleep", false, &cfg->batch.sleep_ms)) < 0)
		return rc;
	if (v[B_LOCK] && (rc = get_duration(c, v[B_LOCK], "batch.lock_timeout", true,
					    &cfg->batch.lock_timeout_ms)) < 0)
		return rc;
	if (v[B_STMT] && (rc = get_duration(c, v[B_STMT], "batch.statement_timeout", true,
					    &cfg->batch.statement_timeout_ms)) < 0)
		return rc;
	if (v[B_RETRIES] && (rc = get_int(c, v[B_RETRIES], "batch.max_retries", 0,
					  CONFIG_MAX_RETRIES, &cfg->batch.max_retries)) < 0)
		return rc;

	config_batch_make_room(&cfg->batch.min_size, &cfg->batch.size, &cfg->batch.max_size,
			       v[B_MIN] != NULL, v[B_SIZE] != NULL, v[B_MAX] != NULL);
	if (cfg->batch.min_size > cfg->batch.max_size) {
		at = v[B_MIN] ? v[B_MIN] : v[B_MAX];
		return fail(c, at,
			    "batch.min_size: %" PRId64 " is greater than batch.max_size (%" PRId64
			    ")",
			    cfg->batch.min_size, cfg->batch.max_size);
	}
	if (cfg->batch.size < cfg->batch.min_size) {
		at = v[B_SIZE] ? v[B_SIZE] : v[B_MIN];
		return fail(c, at, "batch.size: %" PRId64 " is below batch.min_size (%" PRId64 ")",
			    cfg->batch.size, cfg->batch.min_size);
	}
	if (cfg->batch.size > cfg->batch.max_size) {
		at = v[B_SIZE] ? v[B_SIZE] : v[B_MAX];
		return fail(c, at, "batch.size: %" PRId64 " is above batch.max_size (%" PRId64 ")",
			    cfg->batch.size, cfg->batch.max_size);
	}
	return 0;
}

static int get_throttle(struct ctx *c, const struct node *n, struct config *cfg)
{
	enum {
		T_LAG,
		T_REPLICAS,
		T_LOCKS,
		T_ACTIVE,
		T_QUERY,
		T_QUERY_MAX,
		T_WINDOW,
		T_INTERVAL,
		T_NKEYS
	};
	static const char *const keys[] = {
		"max_replication_lag", "replicas", "max_lock_waits", "max_active", "query",
		"query_max",	       "window",   "check_interval", NULL
	};
	const struct node *v[T_NKEYS];
	char e[ESC_BUF];
	int rc;

	rc = section(c, n, "throttle", keys, v);
	if (rc < 0)
		return rc;
	if (v[T_LAG] && (rc = get_duration(c, v[T_LAG], "throttle.max_replication_lag", false,
					   &cfg->throttle.max_replication_lag_ms)) < 0)
		return rc;
	if (v[T_REPLICAS] && (rc = get_replicas(c, v[T_REPLICAS], cfg)) < 0)
		return rc;
	if (v[T_LOCKS] && (rc = get_int(c, v[T_LOCKS], "throttle.max_lock_waits", 0,
					CONFIG_MAX_SESSIONS, &cfg->throttle.max_lock_waits)) < 0)
		return rc;
	if (v[T_ACTIVE] && (rc = get_int(c, v[T_ACTIVE], "throttle.max_active", 0,
					 CONFIG_MAX_SESSIONS, &cfg->throttle.max_active)) < 0)
		return rc;
	if (v[T_QUERY] && (rc = get_string(c, v[T_QUERY], "throttle.query",
					   STR_EMPTY_OK | STR_NOT_BLANK, &cfg->throttle.query)) < 0)
		return rc;
	if (v[T_QUERY_MAX] && (rc = get_number(c, v[T_QUERY_MAX], "throttle.query_max",
					       &cfg->throttle.query_max)) < 0)
		return rc;
	if (v[T_WINDOW]) {
		rc = get_string(c, v[T_WINDOW], "throttle.window", STR_EMPTY_OK,
				&cfg->throttle.window);
		if (rc < 0)
			return rc;
		if (cfg->throttle.window &&
		    config_parse_window(cfg->throttle.window, &cfg->throttle.window_start_min,
					&cfg->throttle.window_end_min) < 0)
			return fail(c, v[T_WINDOW],
				    "throttle.window: invalid window \"%s\" (use \"HH:MM-HH:MM\" "
				    "between 00:00 and 23:59, start and end different)",
				    esc_node(e, sizeof(e), v[T_WINDOW]));
	}
	if (v[T_INTERVAL] && (rc = get_duration(c, v[T_INTERVAL], "throttle.check_interval", true,
						&cfg->throttle.check_interval_ms)) < 0)
		return rc;
	return 0;
}

static int get_mode(struct ctx *c, const struct node *n, unsigned *mode)
{
	char e[ESC_BUF];
	unsigned m = 0;
	size_t i;
	int rc = want_scalar(c, n, "status.mode");

	if (rc < 0)
		return rc;
	if (is_null(n) || n->len == 0)
		return empty_error(c, n, "status.mode");
	if (n->len > 4)
		goto invalid;
	for (i = 0; i < n->len; i++) {
		if (n->str[i] < '0' || n->str[i] > '7')
			goto invalid;
		m = m * 8 + (unsigned)(n->str[i] - '0');
	}
	if (m > 0777)
		goto invalid;
	*mode = m;
	return 0;
invalid:
	return fail(c, n, "status.mode: invalid mode \"%s\" (an octal permission such as \"0660\")",
		    esc_node(e, sizeof(e), n));
}

static int get_status(struct ctx *c, const struct node *n, struct config *cfg)
{
	enum { S_SOCKET, S_MODE, S_NKEYS };
	static const char *const keys[] = { "socket", "mode", NULL };
	const struct node *v[S_NKEYS];
	int rc;

	rc = section(c, n, "status", keys, v);
	if (rc < 0)
		return rc;
	if (v[S_SOCKET]) {
		rc = get_string(c, v[S_SOCKET], "status.socket", STR_EMPTY_OK, &cfg->status.socket);
		if (rc < 0)
			return rc;
		if (cfg->status.socket &&
		    strlen(cfg->status.socket) >= sizeof(((struct sockaddr_un *)0)->sun_path))
			return fail(
				c, v[S_SOCKET],
				"status.socket: path too long for a Unix socket (max %zu bytes)",
				sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
	}
	if (v[S_MODE] && (rc = get_mode(c, v[S_MODE], &cfg->status.mode)) < 0)
		return rc;
	return 0;
}

/* FNV-1a, 64 bits: the config hash, and socket names cut short */
#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

static void fnv(uint64_t *h, const void *p, size_t n)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < n; i++) {
		*h ^= b[i];
		*h *= FNV_PRIME;
	}
}

/* The job's socket when status.socket is empty: $RUNTIME_DIRECTORY (its first entry when
 * systemd lists several) or /tmp/backfilld, then <job>.sock. A job name too long for
 * a Unix socket's path there (names may have 100 characters) is cut, and a hash of
 * the whole name keeps it the job's own: <start of job>-<8 hex digits>.sock. */
static int default_socket(struct ctx *c, const struct node *job_node, struct config *cfg)
{
	const char *rd = getenv("RUNTIME_DIRECTORY");
	size_t dl, need, keep;
	char buf[sizeof(((struct sockaddr_un *)0)->sun_path)];
	uint64_t h = FNV_OFFSET;

	if (rd && *rd && *rd != ':') {
		dl = strcspn(rd, ":");
	} else {
		rd = "/tmp/backfilld";
		dl = strlen(rd);
	}
	need = dl + 1 + strlen(cfg->job) + 5;
	if (need < sizeof(buf)) {
		snprintf(buf, sizeof(buf), "%.*s/%s.sock", (int)dl, rd, cfg->job);
	} else {
		/* room for "/", "-", 8 hex digits, ".sock" and the NUL */
		if (dl + 16 + 8 > sizeof(buf))
			return fail(c, job_node,
				    "status.socket: the default directory %.*s is too long for a "
				    "Unix socket's path (max %zu bytes); set status.socket",
				    (int)dl, rd, sizeof(buf) - 1);
		keep = sizeof(buf) - dl - 16;
		fnv(&h, cfg->job, strlen(cfg->job));
		snprintf(buf, sizeof(buf), "%.*s/%.*s-%08x.sock", (int)dl, rd, (int)keep, cfg->job,
			 (unsigned)(h & 0xffffffffu));
	}
	cfg->status.socket = strdup(buf);
	return cfg->status.socket ? 0 : oom(c);
}

int config_parse_log_level(const char *name, enum config_log_level *out)
{
	static const char *const levels[] = { "debug", "info", "warn", "error" };

	for (int i = 0; i < 4; i++)
		if (strcmp(name, levels[i]) == 0) {
			*out = (enum config_log_level)i;
			return 0;
		}
	return -EINVAL;
}

static int get_log(struct ctx *c, const struct node *n, struct config *cfg)
{
	enum { L_FORMAT, L_LEVEL, L_PROGRESS, L_NKEYS };
	static const char *const keys[] = { "format", "level", "progress_interval", NULL };
	const struct node *v[L_NKEYS];
	char e[ESC_BUF];
	int rc;

	rc = section(c, n, "log", keys, v);
	if (rc < 0)
		return rc;
	if (v[L_FORMAT]) {
		if ((rc = want_scalar(c, v[L_FORMAT], "log.format")) < 0)
			return rc;
		if (!strcmp(v[L_FORMAT]->str, "text"))
			cfg->log.format = CONFIG_LOG_TEXT;
		else if (!strcmp(v[L_FORMAT]->str, "json"))
			cfg->log.format = CONFIG_LOG_JSON;
		else
			return fail(c, v[L_FORMAT],
				    "log.format: unknown format \"%s\" (use text or json)",
				    esc_node(e, sizeof(e), v[L_FORMAT]));
	}
	if (v[L_LEVEL]) {
		if ((rc = want_scalar(c, v[L_LEVEL], "log.level")) < 0)
			return rc;
		if (config_parse_log_level(v[L_LEVEL]->str, &cfg->log.level) < 0)
			return fail(
				c, v[L_LEVEL],
				"log.level: unknown level \"%s\" (use debug, info, warn or error)",
				esc_node(e, sizeof(e), v[L_LEVEL]));
	}
	if (v[L_PROGRESS] && (rc = get_duration(c, v[L_PROGRESS], "log.progress_interval", false,
						&cfg->log.progress_interval_ms)) < 0)
		return rc;
	return 0;
}

static bool job_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > MAX_JOB_NAME)
		return false;
	return s[strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")] ==
	       '\0';
}

/* Every `set` column = NULL: the inverse of a backfill into new columns. */
static int default_rollback(struct ctx *c, struct config *cfg)
{
	size_t i;

	cfg->rollback_set = calloc(cfg->nset, sizeof(*cfg->rollback_set));
	if (!cfg->rollback_set)
		return oom(c);
	for (i = 0; i < cfg->nset; i++) {
		cfg->nrollback_set = i + 1;
		cfg->rollback_set[i].column = strdup(cfg->set[i].column);
		cfg->rollback_set[i].expr = strdup("NULL");
		if (!cfg->rollback_set[i].column || !cfg->rollback_set[i].expr)
			return oom(c);
	}
	return 0;
}

static int get_rollback(struct ctx *c, const struct node *n, struct config *cfg)
{
	static const char *const keys[] = { "set", NULL };
	const struct node *v[1];
	char e[ESC_BUF];
	size_t i, j;
	int rc;

	rc = section(c, n, "rollback", keys, v);
	if (rc < 0)
		return rc;
	if (!v[0])
		return default_rollback(c, cfg);
	rc = get_assigns(c, v[0], "rollback.set", &cfg->rollback_set, &cfg->nrollback_set);
	if (rc < 0)
		return rc;
	for (i = 0; i < cfg->nrollback_set; i++) {
		for (j = 0; j < cfg->nset; j++)
			if (!strcmp(cfg->rollback_set[i].column, cfg->set[j].column))
				break;
		if (j == cfg->nset)
			return fail(c, v[0]->kids[2 * i], "rollback.set.%s: not a column of set",
				    esc_str(e, sizeof(e), cfg->rollback_set[i].column));
	}
	return 0;
}

static void set_defaults(struct config *cfg)
{
	cfg->batch.size = 1000;
	cfg->batch.min_size = 100;
	cfg->batch.max_size = 50000;
	cfg->batch.target_time_ms = 500;
	cfg->batch.contended_target_time_ms = 50;
	cfg->batch.sleep_ms = 0;
	cfg->batch.lock_timeout_ms = 500;
	cfg->batch.statement_timeout_ms = 30000;
	cfg->batch.max_retries = 10;
	cfg->throttle.max_replication_lag_ms = 1000;
	cfg->throttle.max_lock_waits = 5;
	cfg->throttle.max_active = 0;
	cfg->throttle.query_max = 0;
	cfg->throttle.check_interval_ms = 1000;
	cfg->status.mode = 0660;
	cfg->log.format = CONFIG_LOG_TEXT;
	cfg->log.level = CONFIG_LOG_INFO;
	cfg->log.progress_interval_ms = 5000;
}

static int fill_string_defaults(struct ctx *c, struct config *cfg)
{
	if (!cfg->throttle.query && !(cfg->throttle.query = strdup("")))
		return oom(c);
	if (!cfg->throttle.window && !(cfg->throttle.window = strdup("")))
		return oom(c);
	if (!cfg->checkpoint_table.name &&
	    !(cfg->checkpoint_table.name = strdup("backfilld_checkpoint")))
		return oom(c);
	return 0;
}

static int get_root(struct ctx *c, const struct node *root, struct config *cfg)
{
	enum {
		R_JOB,
		R_DATABASE,
		R_TABLE,
		R_KEY,
		R_SET,
		R_WHERE,
		R_BATCH,
		R_THROTTLE,
		R_CHECKPOINT,
		R_ROLLBACK,
		R_STATUS,
		R_METRICS,
		R_LOG,
		R_NKEYS
	};
	static const char *const keys[] = { "job",	  "database", "table",	"key",
					    "set",	  "where",    "batch",	"throttle",
					    "checkpoint", "rollback", "status", "metrics",
					    "log",	  NULL };
	static const char *const checkpoint_keys[] = { "table", NULL };
	static const char *const metrics_keys[] = { "textfile", NULL };
	const struct node *v[R_NKEYS], *sub[1];
	char e[ESC_BUF];
	size_t i, j;
	int rc;

	if (is_null(root))
		return fail(c, root, "the document is empty (expected a mapping of settings)");
	if (root->type != NODE_MAPPING)
		return type_error(c, root, "top level", "a mapping of settings");
	for (i = 0; i < R_NKEYS; i++)
		v[i] = NULL;
	rc = check_map(c, root, "", keys, v);
	if (rc < 0)
		return rc;

	if (!v[R_JOB])
		return missing(c, root, "job");
	if ((rc = get_string(c, v[R_JOB], "job", 0, &cfg->job)) < 0)
		return rc;
	if (!job_name_ok(cfg->job))
		return fail(c, v[R_JOB],
			    "job: invalid job name \"%s\" (1 to %d of A-Z a-z 0-9 _ . -)",
			    esc_node(e, sizeof(e), v[R_JOB]), MAX_JOB_NAME);

	if ((rc = get_database(c, v[R_DATABASE], cfg)) < 0)
		return rc;

	if (!v[R_TABLE])
		return missing(c, root, "table");
	if ((rc = get_qname(c, v[R_TABLE], "table", &cfg->table)) < 0)
		return rc;

	if (!v[R_KEY])
		return missing(c, root, "key");
	if ((rc = get_key(c, v[R_KEY], cfg)) < 0)
		return rc;

	if (!v[R_SET])
		return missing(c, root, "set");
	if ((rc = get_assigns(c, v[R_SET], "set", &cfg->set, &cfg->nset)) < 0)
		return rc;
	for (i = 0; i < cfg->nset; i++)
		for (j = 0; j < cfg->nkey; j++)
			if (!strcmp(cfg->set[i].column, cfg->key[j]))
				return fail(
					c, v[R_SET]->kids[2 * i],
					"set.%s: is a key column; a backfill cannot rewrite its own key",
					esc_str(e, sizeof(e), cfg->set[i].column));

	if (v[R_WHERE] && (rc = get_string(c, v[R_WHERE], "where", STR_NOT_BLANK, &cfg->where)) < 0)
		return rc;
	if ((rc = get_rollback(c, v[R_ROLLBACK], cfg)) < 0)
		return rc;
	if ((rc = get_batch(c, v[R_BATCH], cfg)) < 0)
		return rc;
	if ((rc = get_throttle(c, v[R_THROTTLE], cfg)) < 0)
		return rc;

	if ((rc = section(c, v[R_CHECKPOINT], "checkpoint", checkpoint_keys, sub)) < 0)
		return rc;
	if (sub[0] && (rc = get_qname(c, sub[0], "checkpoint.table", &cfg->checkpoint_table)) < 0)
		return rc;

	if ((rc = get_status(c, v[R_STATUS], cfg)) < 0)
		return rc;
	if (!cfg->status.socket && (rc = default_socket(c, v[R_JOB], cfg)) < 0)
		return rc;

	if ((rc = section(c, v[R_METRICS], "metrics", metrics_keys, sub)) < 0)
		return rc;
	if (sub[0] && (rc = get_string(c, sub[0], "metrics.textfile", STR_EMPTY_OK,
				       &cfg->metrics.textfile)) < 0)
		return rc;

	if ((rc = get_log(c, v[R_LOG], cfg)) < 0)
		return rc;
	return fill_string_defaults(c, cfg);
}

/* --- public ------------------------------------------------------------------------ */

int config_parse(const char *name, const char *buf, size_t len, struct config **out, char *err,
		 size_t errlen)
{
	return config_parse_flags(name, buf, len, 0, out, err, errlen);
}

int config_parse_flags(const char *name, const char *buf, size_t len, unsigned flags,
		       struct config **out, char *err, size_t errlen)
{
	struct ctx c = {
		.name = name ? name : "<config>", .err = err, .errlen = errlen, .flags = flags
	};
	struct node *root = NULL;
	struct config *cfg = NULL;
	const char *slash;
	int rc;

	if (err && errlen)
		err[0] = '\0';
	if (!out)
		return fail(&c, NULL, "no output given");
	*out = NULL;
	if (!buf || len == 0)
		return fail(&c, NULL, "empty file (expected a mapping of settings)");
	if (len > MAX_FILE_BYTES)
		return fail(&c, NULL, "file too large (%zu bytes, max %d)", len, MAX_FILE_BYTES);

	slash = strrchr(c.name, '/');
	if (!slash)
		c.dir = strdup(".");
	else if (slash == c.name)
		c.dir = strdup("/");
	else
		c.dir = dup_n(c.name, (size_t)(slash - c.name));
	if (!c.dir)
		return oom(&c);

	rc = tree_load(&c, buf, len, &root);
	if (rc < 0)
		goto out_free_dir;
	c.root = root;
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg) {
		rc = oom(&c);
		goto out_free_tree;
	}
	set_defaults(cfg);
	c.cfg = cfg;
	cfg->path = strdup(c.name);
	if (!cfg->path) {
		rc = oom(&c);
		goto out_free_cfg;
	}
	rc = get_root(&c, root, cfg);
	if (rc < 0)
		goto out_free_cfg;
	*out = cfg;
	cfg = NULL;
out_free_cfg:
	config_free(cfg);
out_free_tree:
	node_free(root);
out_free_dir:
	free(c.dir);
	return rc;
}

int config_load(const char *path, struct config **out, char *err, size_t errlen)
{
	return config_load_flags(path, 0, out, err, errlen);
}

int config_load_flags(const char *path, unsigned flags, struct config **out, char *err,
		      size_t errlen)
{
	struct ctx c = { .name = path ? path : "<config>", .err = err, .errlen = errlen };
	char *buf;
	size_t len = 0;
	int fd, rc;

	if (err && errlen)
		err[0] = '\0';
	if (out)
		*out = NULL;
	if (!path || !out)
		return fail(&c, NULL, "cannot read: %s", strerror(EINVAL));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		rc = -errno;
		fail(&c, NULL, "cannot read: %s", strerror(-rc));
		return rc;
	}
	buf = malloc(MAX_FILE_BYTES + 1);
	if (!buf) {
		close(fd);
		return oom(&c);
	}
	rc = read_capped(fd, buf, MAX_FILE_BYTES, &len);
	if (rc == -EFBIG) {
		rc = fail(&c, NULL, "file too large (more than %d bytes)", MAX_FILE_BYTES);
		goto out_free;
	}
	if (rc < 0) {
		fail(&c, NULL, "cannot read: %s", strerror(-rc));
		goto out_free;
	}
	rc = config_parse_flags(path, buf, len, flags, out, err, errlen);
out_free:
	free(buf);
	close(fd);
	return rc;
}

static void conn_wipe_secret(struct config_conn *conn)
{
	if (conn->password) {
		explicit_bzero(conn->password, strlen(conn->password));
		free(conn->password);
		conn->password = NULL;
	}
}

void config_wipe_secrets(struct config *cfg)
{
	conn_wipe_secret(&cfg->db);
	for (size_t i = 0; i < cfg->throttle.nreplicas; i++)
		conn_wipe_secret(&cfg->throttle.replicas[i].conn);
}

static void conn_free(struct config_conn *conn)
{
	free(conn->dsn);
	free(conn->host);
	free(conn->socket);
	free(conn->user);
	free(conn->database);
	free(conn->password_file);
	conn_wipe_secret(conn);
}

static void assigns_free(struct config_assign *a, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(a[i].column);
		free(a[i].expr);
	}
	free(a);
}

void config_free(struct config *cfg)
{
	size_t i;

	if (!cfg)
		return;
	free(cfg->path);
	free(cfg->warnings);
	free(cfg->job);
	conn_free(&cfg->db);
	free(cfg->table.schema);
	free(cfg->table.name);
	for (i = 0; i < CONFIG_MAX_KEY_PARTS; i++)
		free(cfg->key[i]);
	assigns_free(cfg->set, cfg->nset);
	free(cfg->where);
	for (i = 0; i < cfg->throttle.nreplicas; i++)
		conn_free(&cfg->throttle.replicas[i].conn);
	free(cfg->throttle.replicas);
	free(cfg->throttle.query);
	free(cfg->throttle.window);
	free(cfg->checkpoint_table.schema);
	free(cfg->checkpoint_table.name);
	assigns_free(cfg->rollback_set, cfg->nrollback_set);
	free(cfg->status.socket);
	free(cfg->metrics.textfile);
	free(cfg);
}

int config_parse_duration(const char *s, int64_t *ms)
{
	static const struct {
		const char *unit;
		int64_t mult;
	} units[] = { { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 } };
	int64_t whole = 0, frac = 0, scale = 1, mult = 0, total;
	size_t i, fdigits = 0;
	const char *p = s;

	if (!s || !ms)
		return -EINVAL;
	if (!strcmp(s, "0")) {
		*ms = 0;
		return 0;
	}
	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (whole > (INT64_MAX - (*p - '0')) / 10)
			return -EINVAL;
		whole = whole * 10 + (*p - '0');
	}
	if (*p == '.') {
		p++;
		for (; *p >= '0' && *p <= '9'; p++) {
			if (++fdigits > 9)
				return -EINVAL;
			frac = frac * 10 + (*p - '0');
			scale *= 10;
		}
		if (fdigits == 0)
			return -EINVAL;
	}
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (!strcmp(p, units[i].unit))
			mult = units[i].mult;
	if (!mult)
		return -EINVAL;
	if (whole > INT64_MAX / mult)
		return -EINVAL;
	total = whole * mult;
	/* a fraction rounds up: a nonzero duration never becomes 0 */
	frac = (frac * mult + scale - 1) / scale;
	if (total > INT64_MAX - frac)
		return -EINVAL;
	*ms = total + frac;
	return 0;
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 when invalid:
 * overlong forms, surrogates and code points above U+10FFFF are refused. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	uint32_t cp;
	size_t len, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

int config_check_identifier(const char *s, char *err, size_t errlen)
{
	const char *why = NULL;
	size_t len, i, k;

	if (!s || !*s) {
		why = "is empty";
		goto invalid;
	}
	len = strlen(s);
	if (len > CONFIG_MAX_IDENT) {
		if (err && errlen)
			snprintf(err, errlen, "is %zu bytes long (max %d)", len, CONFIG_MAX_IDENT);
		return -EINVAL;
	}
	for (i = 0; i < len; i += k) {
		unsigned char ch = (unsigned char)s[i];

		k = utf8_seq((const unsigned char *)s + i, len - i);
		if (k == 0) {
			why = "is not valid UTF-8";
			goto invalid;
		}
		if (ch < 0x20 || ch == 0x7f) {
			why = "contains a control character";
			goto invalid;
		}
	}
	if (err && errlen)
		err[0] = '\0';
	return 0;
invalid:
	if (err && errlen)
		snprintf(err, errlen, "%s", why);
	return -EINVAL;
}

static int two_digits(const char *s, int max)
{
	int v;

	if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
		return -1;
	v = (s[0] - '0') * 10 + (s[1] - '0');
	return v <= max ? v : -1;
}

int config_parse_window(const char *s, int *start_min, int *end_min)
{
	int h1, m1, h2, m2;

	if (!s || strlen(s) != 11 || s[2] != ':' || s[5] != '-' || s[8] != ':')
		return -EINVAL;
	h1 = two_digits(s, 23);
	m1 = two_digits(s + 3, 59);
	h2 = two_digits(s + 6, 23);
	m2 = two_digits(s + 9, 59);
	if (h1 < 0 || m1 < 0 || h2 < 0 || m2 < 0 || (h1 == h2 && m1 == m2))
		return -EINVAL;
	if (start_min)
		*start_min = h1 * 60 + m1;
	if (end_min)
		*end_min = h2 * 60 + m2;
	return 0;
}

/* One field: a tag byte, then '-' for NULL or "<length>:<bytes>", so no two different
 * field lists serialize alike. */
static void fnv_field(uint64_t *h, char tag, const char *s)
{
	char num[24];
	int w;

	fnv(h, &tag, 1);
	if (!s) {
		fnv(h, "-", 1);
		return;
	}
	w = snprintf(num, sizeof(num), "%zu:", strlen(s));
	fnv(h, num, (size_t)w);
	fnv(h, s, strlen(s));
}

void config_hash(const struct config *cfg, char out[17])
{
	uint64_t h = FNV_OFFSET;
	char num[24];
	size_t i;

	fnv_field(&h, 'V', "backfilld-config-hash-1");
	fnv_field(&h, 'T', cfg->table.schema);
	fnv_field(&h, 't', cfg->table.name);
	snprintf(num, sizeof(num), "%zu", cfg->nkey);
	fnv_field(&h, 'K', num);
	for (i = 0; i < cfg->nkey; i++)
		fnv_field(&h, 'k', cfg->key[i]);
	snprintf(num, sizeof(num), "%zu", cfg->nset);
	fnv_field(&h, 'S', num);
	for (i = 0; i < cfg->nset; i++) {
		fnv_field(&h, 'c', cfg->set[i].column);
		fnv_field(&h, 'e', cfg->set[i].expr);
	}
	fnv_field(&h, 'W', cfg->where); /* NULL: the default guard */
	snprintf(out, 17, "%016" PRIx64, h);
}

void config_conn_name(const struct config_conn *c, enum config_driver driver, const char *fallback,
		      char *out, size_t len)
{
	const char *h, *p;
	int hl, pl;

	if (driver == CONFIG_DRIVER_MYSQL) {
		if (c->socket)
			snprintf(out, len, "%s", c->socket);
		else
			snprintf(out, len, "%s:%d", c->host ? c->host : "localhost",
				 c->port ? c->port : 3306);
		return;
	}
	/* host and port only: a conninfo string may hold a password */
	h = c->dsn ? strstr(c->dsn, "host=") : NULL;
	p = c->dsn ? strstr(c->dsn, "port=") : NULL;
	hl = h ? (int)strcspn(h + 5, " ") : 0;
	pl = p ? (int)strcspn(p + 5, " ") : 0;
	if (h || p)
		snprintf(out, len, "%.*s:%.*s", hl, h ? h + 5 : "", pl, p ? p + 5 : "5432");
	else
		snprintf(out, len, "%s", fallback);
}

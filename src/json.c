/* json.c - a small JSON writer into a caller's buffer, and a reader for key arrays. */
#include "backfilld/json.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put(struct json_buf *jb, const char *s, size_t n)
{
	if (jb->overflow || jb->len + n + 1 > jb->cap) {
		jb->overflow = 1;
		return;
	}
	memcpy(jb->buf + jb->len, s, n);
	jb->len += n;
	jb->buf[jb->len] = '\0';
}

static void putc_(struct json_buf *jb, char c)
{
	put(jb, &c, 1);
}

/* A comma before every value but the first of its container, none after a key. */
static void sep(struct json_buf *jb)
{
	if (jb->after_key)
		jb->after_key = 0;
	else if (jb->need_comma)
		putc_(jb, ',');
}

void json_buf_init(struct json_buf *jb, char *buf, size_t cap)
{
	memset(jb, 0, sizeof(*jb));
	jb->buf = buf;
	jb->cap = cap;
	if (cap)
		buf[0] = '\0';
}

void json_obj_begin(struct json_buf *jb)
{
	sep(jb);
	putc_(jb, '{');
	jb->need_comma = 0;
}

void json_obj_end(struct json_buf *jb)
{
	putc_(jb, '}');
	jb->need_comma = 1;
}

void json_arr_begin(struct json_buf *jb)
{
	sep(jb);
	putc_(jb, '[');
	jb->need_comma = 0;
}

void json_arr_end(struct json_buf *jb)
{
	putc_(jb, ']');
	jb->need_comma = 1;
}

static void put_escaped(struct json_buf *jb, const char *s)
{
	char tmp[8];

	putc_(jb, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"': put(jb, "\\\"", 2); break;
		case '\\': put(jb, "\\\\", 2); break;
		case '\n': put(jb, "\\n", 2); break;
		case '\r': put(jb, "\\r", 2); break;
		case '\t': put(jb, "\\t", 2); break;
		default:
			if (*p < 0x20 || *p == 0x7f) {
				snprintf(tmp, sizeof(tmp), "\\u%04x", *p);
				put(jb, tmp, 6);
			} else {
				putc_(jb, (char)*p);
			}
		}
	}
	putc_(jb, '"');
}

void json_key(struct json_buf *jb, const char *key)
{
	sep(jb);
	put_escaped(jb, key);
	putc_(jb, ':');
	jb->after_key = 1;
}

void json_str(struct json_buf *jb, const char *s)
{
	if (!s) {
		json_null(jb);
		return;
	}
	sep(jb);
	put_escaped(jb, s);
	jb->need_comma = 1;
}

void json_raw(struct json_buf *jb, const char *text)
{
	sep(jb);
	put(jb, text, strlen(text));
	jb->need_comma = 1;
}

void json_int(struct json_buf *jb, int64_t v)
{
	char tmp[32];

	snprintf(tmp, sizeof(tmp), "%" PRId64, v);
	json_raw(jb, tmp);
}

void json_double(struct json_buf *jb, double v, int decimals)
{
	char tmp[64];

	if (!isfinite(v)) {
		json_null(jb);
		return;
	}
	snprintf(tmp, sizeof(tmp), "%.*f", decimals, v);
	json_raw(jb, tmp);
}

void json_null(struct json_buf *jb)
{
	json_raw(jb, "null");
}

void json_bool(struct json_buf *jb, int v)
{
	json_raw(jb, v ? "true" : "false");
}

void json_kv_str(struct json_buf *jb, const char *key, const char *s)
{
	json_key(jb, key);
	json_str(jb, s);
}

void json_kv_int(struct json_buf *jb, const char *key, int64_t v)
{
	json_key(jb, key);
	json_int(jb, v);
}

void json_kv_double(struct json_buf *jb, const char *key, double v, int decimals)
{
	json_key(jb, key);
	json_double(jb, v, decimals);
}

void json_kv_raw(struct json_buf *jb, const char *key, const char *text)
{
	json_key(jb, key);
	json_raw(jb, text ? text : "null");
}

void json_strv_free(char **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Appends code point cp as UTF-8. */
static size_t utf8_put(char *out, unsigned cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

static int read_hex4(const char *p, unsigned *cp)
{
	unsigned v = 0;

	for (int i = 0; i < 4; i++) {
		int h = hexval(p[i]);

		if (h < 0)
			return -EINVAL;
		v = v * 16 + (unsigned)h;
	}
	*cp = v;
	return 0;
}

/* Reads a JSON string at p (at the opening quote); *end past the closing quote. */
static char *parse_string(const char *p, const char **end)
{
	size_t cap = strlen(p) + 1, o = 0;
	char *out = malloc(cap);

	if (!out)
		return NULL;
	for (p++; *p && *p != '"'; p++) {
		if ((unsigned char)*p < 0x20)
			goto out_free;
		if (*p != '\\') {
			out[o++] = *p;
			continue;
		}
		p++;
		switch (*p) {
		case '"': out[o++] = '"'; break;
		case '\\': out[o++] = '\\'; break;
		case '/': out[o++] = '/'; break;
		case 'b': out[o++] = '\b'; break;
		case 'f': out[o++] = '\f'; break;
		case 'n': out[o++] = '\n'; break;
		case 'r': out[o++] = '\r'; break;
		case 't': out[o++] = '\t'; break;
		case 'u': {
			unsigned cp, lo;

			if (read_hex4(p + 1, &cp) < 0)
				goto out_free;
			p += 4;
			if (cp >= 0xd800 && cp < 0xdc00) {
				if (p[1] != '\\' || p[2] != 'u' || read_hex4(p + 3, &lo) < 0 ||
				    lo < 0xdc00 || lo > 0xdfff)
					goto out_free;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				p += 6;
			} else if (cp >= 0xdc00 && cp < 0xe000) {
				goto out_free;
			}
			if (cp == 0)
				goto out_free; /* no NUL inside a C string */
			o += utf8_put(out + o, cp);
			break;
		}
		default: goto out_free;
		}
	}
	if (*p != '"')
		goto out_free;
	out[o] = '\0';
	*end = p + 1;
	return out;
out_free:
	free(out);
	return NULL;
}

/* The end of the JSON number at p, or NULL when none starts there. */
static const char *scan_number(const char *p)
{
	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		while (*p >= '0' && *p <= '9')
			p++;
	else
		return NULL;
	if (*p == '.') {
		p++;
		if (!(*p >= '0' && *p <= '9'))
			return NULL;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!(*p >= '0' && *p <= '9'))
			return NULL;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	return p;
}

static char *parse_number(const char *p, const char **end)
{
	const char *e = scan_number(p);

	if (!e)
		return NULL;
	*end = e;
	return strndup(p, (size_t)(e - p));
}

int json_parse_array(const char *s, char ***out, size_t *n)
{
	char **v = NULL;
	size_t cnt = 0, cap = 0;
	const char *p = skip_ws(s);

	if (*p++ != '[')
		return -EINVAL;
	p = skip_ws(p);
	if (*p == ']') {
		p++;
		goto out_done;
	}
	for (;;) {
		char *item = NULL;
		int is_null = 0;

		p = skip_ws(p);
		if (*p == '"') {
			item = parse_string(p, &p);
		} else if (strncmp(p, "null", 4) == 0) {
			is_null = 1;
			p += 4;
		} else {
			item = parse_number(p, &p);
		}
		if (!item && !is_null)
			goto out_free;
		if (cnt == cap) {
			size_t ncap = cap ? cap * 2 : 4;
			char **nv = realloc(v, ncap * sizeof(*nv));

			if (!nv) {
				free(item);
				goto out_free;
			}
			v = nv;
			cap = ncap;
		}
		v[cnt++] = item;
		p = skip_ws(p);
		if (*p == ',') {
			p++;
			continue;
		}
		if (*p == ']') {
			p++;
			break;
		}
		goto out_free;
	}
out_done:
	if (*skip_ws(p) != '\0')
		goto out_free;
	*out = v;
	*n = cnt;
	return 0;
out_free:
	json_strv_free(v, cnt);
	return -EINVAL;
}

int json_is_number(const char *s)
{
	const char *end = scan_number(s);

	return end && *end == '\0';
}

char *json_encode_key(char *const *parts, const int *numeric, size_t n)
{
	size_t cap = 16;
	char *buf;
	struct json_buf jb;

	for (size_t i = 0; i < n; i++)
		cap += (parts[i] ? strlen(parts[i]) * 6 : 4) + 4;
	buf = malloc(cap);
	if (!buf)
		return NULL;
	json_buf_init(&jb, buf, cap);
	json_arr_begin(&jb);
	for (size_t i = 0; i < n; i++) {
		if (!parts[i])
			json_null(&jb);
		else if (numeric[i] && json_is_number(parts[i]))
			json_raw(&jb, parts[i]);
		else
			json_str(&jb, parts[i]);
	}
	json_arr_end(&jb);
	return buf;
}

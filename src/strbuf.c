/* strbuf.c - a growable string for building SQL and messages. */
#include "backfilld/strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void strbuf_init(struct strbuf *sb)
{
	memset(sb, 0, sizeof(*sb));
}

static int strbuf_reserve(struct strbuf *sb, size_t extra)
{
	size_t cap;
	char *nb;

	if (sb->oom)
		return -1;
	if (sb->len + extra + 1 <= sb->cap)
		return 0;
	cap = sb->cap ? sb->cap : 64;
	while (cap < sb->len + extra + 1)
		cap *= 2;
	nb = realloc(sb->buf, cap);
	if (!nb) {
		sb->oom = 1;
		return -1;
	}
	sb->buf = nb;
	sb->cap = cap;
	return 0;
}

void strbuf_add(struct strbuf *sb, const char *s)
{
	size_t n = strlen(s);

	if (strbuf_reserve(sb, n) < 0)
		return;
	memcpy(sb->buf + sb->len, s, n + 1);
	sb->len += n;
}

void strbuf_addf(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || strbuf_reserve(sb, (size_t)n) < 0) {
		sb->oom = 1;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	sb->len += (size_t)n;
}

char *strbuf_take(struct strbuf *sb)
{
	char *s;

	if (sb->oom) {
		strbuf_free(sb);
		return NULL;
	}
	s = sb->buf ? sb->buf : strdup("");
	strbuf_init(sb);
	return s;
}

void strbuf_free(struct strbuf *sb)
{
	free(sb->buf);
	strbuf_init(sb);
}

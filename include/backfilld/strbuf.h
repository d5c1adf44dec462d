/* strbuf.h - a growable string for building SQL and messages. */
#ifndef BACKFILLD_STRBUF_H
#define BACKFILLD_STRBUF_H

#include <stddef.h>

struct strbuf {
	char *buf;
	size_t len, cap;
	int oom; /* an allocation failed: the content is incomplete */
};

void strbuf_init(struct strbuf *sb);
void strbuf_add(struct strbuf *sb, const char *s);
void strbuf_addf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The string, handed over to the caller (malloc'd), or NULL when an allocation failed. */
char *strbuf_take(struct strbuf *sb);
void strbuf_free(struct strbuf *sb);

#endif

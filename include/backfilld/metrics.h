/* metrics.h - Prometheus text exposition of a job's progress, and the textfile. */
#ifndef BACKFILLD_METRICS_H
#define BACKFILLD_METRICS_H

#include <stddef.h>

struct progress;

/* The exposition (text format 0.0.4) into buf; the length written, or the length
 * needed when buf was too small. */
size_t metrics_format(const struct progress *p, char *buf, size_t len);
/* The same in a buffer of its own (free it); its length into *len unless NULL.
 * NULL when out of memory. */
char *metrics_format_alloc(const struct progress *p, size_t *len);

/* Writes the exposition to path atomically (a temporary file in the same
 * directory, then rename), for node_exporter's textfile collector. 0 or -errno. */
int metrics_write_textfile(const struct progress *p, const char *path)
	__attribute__((warn_unused_result));

#endif

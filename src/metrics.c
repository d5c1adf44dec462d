/* metrics.c - Prometheus text exposition of a job's progress, and the textfile. */
#include "backfilld/metrics.h"
#include "backfilld/job.h"
#include "backfilld/progress.h"
#include "backfilld/throttle.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct out {
	char *buf;
	size_t len, used;
};

static void outf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void outf(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	if (o->buf && o->used < o->len)
		n = vsnprintf(o->buf + o->used, o->len - o->used, fmt, ap);
	else
		n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->used += (size_t)n;
}

/* A label value: backslash, double quote and newline escaped. */
static void label_value(const char *s, char *dst, size_t cap)
{
	size_t o = 0;

	for (; *s && o + 3 < cap; s++) {
		if (*s == '\\' || *s == '"') {
			dst[o++] = '\\';
			dst[o++] = *s;
		} else if (*s == '\n') {
			dst[o++] = '\\';
			dst[o++] = 'n';
		} else {
			dst[o++] = *s;
		}
	}
	dst[o] = '\0';
}

static void head(struct out *o, const char *name, const char *type, const char *help)
{
	outf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

size_t metrics_format(const struct progress *p, char *buf, size_t len)
{
	struct out o = { buf, len, 0 };
	char job[256], lbl[300];
	const struct progress_errors *e = &p->by_kind;

	label_value(p->job, job, sizeof(job));
	snprintf(lbl, sizeof(lbl), "job=\"%s\"", job);
	if (len)
		buf[0] = '\0';

	head(&o, "backfilld_rows_total", "counter",
	     "Rows matched by committed batches (the guard held and the key was in the batch).");
	outf(&o, "backfilld_rows_total{%s} %" PRId64 "\n", lbl, p->rows_done);
	head(&o, "backfilld_batches_total", "counter", "Committed batches.");
	outf(&o, "backfilld_batches_total{%s} %" PRId64 "\n", lbl, p->batches_done);
	head(&o, "backfilld_errors_total", "counter",
	     "Failed batch attempts and lost connections, by kind.");
	outf(&o, "backfilld_errors_total{%s,kind=\"lock_timeout\"} %" PRId64 "\n", lbl,
	     e->lock_timeout);
	outf(&o, "backfilld_errors_total{%s,kind=\"statement_timeout\"} %" PRId64 "\n", lbl,
	     e->statement_timeout);
	outf(&o, "backfilld_errors_total{%s,kind=\"deadlock\"} %" PRId64 "\n", lbl, e->deadlock);
	outf(&o, "backfilld_errors_total{%s,kind=\"serialization\"} %" PRId64 "\n", lbl,
	     e->serialization);
	outf(&o, "backfilld_errors_total{%s,kind=\"connection\"} %" PRId64 "\n", lbl,
	     e->connection);
	outf(&o, "backfilld_errors_total{%s,kind=\"other\"} %" PRId64 "\n", lbl, e->other);
	head(&o, "backfilld_retries_total", "counter", "Batches retried after a retryable error.");
	outf(&o, "backfilld_retries_total{%s} %" PRId64 "\n", lbl, p->retries);
	head(&o, "backfilld_throttled_seconds_total", "counter",
	     "Time spent throttled, in all (reason=\"any\") and by the kind of reason that held.");
	outf(&o, "backfilld_throttled_seconds_total{%s,reason=\"any\"} %.3f\n", lbl,
	     p->throttled_seconds);
	for (int k = 0; k < THROTTLE_NKINDS; k++)
		outf(&o, "backfilld_throttled_seconds_total{%s,reason=\"%s\"} %.3f\n", lbl,
		     throttle_kind_name((enum throttle_kind)k), p->throttled_by_kind[k]);
	head(&o, "backfilld_paused_seconds_total", "counter", "Time spent paused.");
	outf(&o, "backfilld_paused_seconds_total{%s} %.3f\n", lbl, p->paused_seconds);

	head(&o, "backfilld_progress_ratio", "gauge",
	     "Share of the key range behind the cursor (0..1).");
	outf(&o, "backfilld_progress_ratio{%s} %.6f\n", lbl, p->percent / 100.0);
	head(&o, "backfilld_batch_size", "gauge", "Rows (keys) in the next batch.");
	outf(&o, "backfilld_batch_size{%s} %" PRId64 "\n", lbl, p->batch_size);
	if (p->last_batch_ms >= 0) {
		head(&o, "backfilld_last_batch_seconds", "gauge",
		     "Duration of the last committed batch.");
		outf(&o, "backfilld_last_batch_seconds{%s} %.6f\n", lbl, p->last_batch_ms / 1000.0);
	}
	if (p->rows_per_sec >= 0) {
		head(&o, "backfilld_rows_per_second", "gauge",
		     "Rows per second over the last minute of active (not paused or throttled) time.");
		outf(&o, "backfilld_rows_per_second{%s} %.3f\n", lbl, p->rows_per_sec);
	}
	if (p->eta_seconds >= 0) {
		head(&o, "backfilld_eta_seconds", "gauge",
		     "Estimated active seconds to completion.");
		outf(&o, "backfilld_eta_seconds{%s} %.0f\n", lbl, p->eta_seconds);
	}
	if (p->rows_total_estimate >= 0) {
		head(&o, "backfilld_rows_estimate", "gauge",
		     "Estimated rows the job will match in all.");
		outf(&o, "backfilld_rows_estimate{%s} %" PRId64 "\n", lbl, p->rows_total_estimate);
	}
	if (p->replication_lag_ms >= 0) {
		head(&o, "backfilld_replication_lag_seconds", "gauge",
		     "Worst replica lag measured.");
		outf(&o, "backfilld_replication_lag_seconds{%s} %.3f\n", lbl,
		     p->replication_lag_ms / 1000.0);
	}
	if (p->lock_waits >= 0) {
		head(&o, "backfilld_lock_waits", "gauge",
		     "Sessions waiting on locks at the last sample.");
		outf(&o, "backfilld_lock_waits{%s} %" PRId64 "\n", lbl, p->lock_waits);
	}
	head(&o, "backfilld_state", "gauge", "1 for the job's current state, 0 for the others.");
	for (int st = JOB_STARTING; st <= JOB_FAILED; st++) {
		const char *name = job_state_name((enum job_state)st);

		outf(&o, "backfilld_state{%s,state=\"%s\"} %d\n", lbl, name,
		     strcmp(name, p->state) == 0);
	}
	head(&o, "backfilld_start_time_seconds", "gauge", "When the daemon started, in Unix time.");
	outf(&o, "backfilld_start_time_seconds{%s} %lld\n", lbl, (long long)p->started_at);
	return o.used;
}

char *metrics_format_alloc(const struct progress *p, size_t *len)
{
	size_t need = metrics_format(p, NULL, 0) + 1, n;
	char *buf = malloc(need);

	if (!buf)
		return NULL;
	n = metrics_format(p, buf, need);
	if (len)
		*len = n;
	return buf;
}

int metrics_write_textfile(const struct progress *p, const char *path)
{
	char tmp[4096], *buf;
	size_t n;
	int fd, rc = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid()) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	buf = metrics_format_alloc(p, &n);
	if (!buf)
		return -ENOMEM;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		free(buf);
		return -errno;
	}
	for (size_t off = 0; off < n;) {
		ssize_t w = write(fd, buf + off, n - off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			break;
		}
		off += (size_t)w;
	}
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc < 0)
		unlink(tmp);
	free(buf);
	return rc;
}

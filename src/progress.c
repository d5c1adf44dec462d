/* progress.c - what a job has done and how fast: rate window and report formats. */
#include "backfilld/progress.h"
#include "backfilld/json.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void rate_window_add(struct rate_window *w, double active_s, int64_t rows, double pct)
{
	size_t last;

	if (w->count == RATE_WINDOW_SAMPLES) {
		w->head = (w->head + 1) % RATE_WINDOW_SAMPLES;
		w->count--;
	}
	last = (w->head + w->count) % RATE_WINDOW_SAMPLES;
	w->t[last] = active_s;
	w->rows[last] = rows;
	w->pct[last] = pct;
	w->count++;
	/* keep one sample older than the window so that it spans the whole minute */
	while (w->count > 2) {
		size_t second = (w->head + 1) % RATE_WINDOW_SAMPLES;

		if (active_s - w->t[second] < RATE_WINDOW_SECONDS)
			break;
		w->head = second;
		w->count--;
	}
}

double rate_window_rate(const struct rate_window *w)
{
	size_t first, last;
	double dt;

	if (w->count < 2)
		return -1.0;
	first = w->head;
	last = (w->head + w->count - 1) % RATE_WINDOW_SAMPLES;
	dt = w->t[last] - w->t[first];
	if (dt < 0.5)
		return -1.0; /* too short to mean anything */
	return (double)(w->rows[last] - w->rows[first]) / dt;
}

double rate_window_eta(const struct rate_window *w)
{
	size_t first, last;
	double dt, dp;

	if (w->count < 2)
		return -1.0;
	first = w->head;
	last = (w->head + w->count - 1) % RATE_WINDOW_SAMPLES;
	dt = w->t[last] - w->t[first];
	dp = w->pct[last] - w->pct[first];
	/* two seconds of work at least before an ETA means anything */
	if (dt < 2.0 || dp <= 0)
		return -1.0;
	return (100.0 - w->pct[last]) * dt / dp;
}

void progress_format_duration(double s, char *buf, size_t len)
{
	long v;

	if (s < 0 || !isfinite(s)) {
		snprintf(buf, len, "unknown");
		return;
	}
	v = lround(s);
	if (v < 60)
		snprintf(buf, len, "%lds", v);
	else if (v < 3600)
		snprintf(buf, len, "%ldm%02lds", v / 60, v % 60);
	else if (v < 86400)
		snprintf(buf, len, "%ldh%02ldm", v / 3600, (v % 3600) / 60);
	else
		snprintf(buf, len, "%ldd%02ldh", v / 86400, (v % 86400) / 3600);
}

/* 1234567 -> "1,234,567" */
static void thousands(int64_t v, char *buf, size_t len)
{
	char tmp[32];
	size_t n, o = 0, lead;
	int neg = v < 0;

	snprintf(tmp, sizeof(tmp), "%" PRId64, neg ? -v : v);
	n = strlen(tmp);
	lead = n % 3 ? n % 3 : 3;
	if (neg && o + 1 < len)
		buf[o++] = '-';
	for (size_t i = 0; i < n && o + 2 < len; i++) {
		if (i && (i - lead) % 3 == 0 && i >= lead)
			buf[o++] = ',';
		buf[o++] = tmp[i];
	}
	buf[o] = '\0';
}

void progress_format_line(const struct progress *p, char *buf, size_t len)
{
	char rows[32], eta[32];

	thousands(p->rows_done, rows, sizeof(rows));
	progress_format_duration(p->eta_seconds, eta, sizeof(eta));
	if (p->rows_per_sec >= 0)
		snprintf(buf, len, "%s %.1f%%, %s rows, %.0f rows/s, eta %s%s%s", p->state,
			 p->percent, rows, p->rows_per_sec, eta, p->nreasons ? ", throttled: " : "",
			 p->nreasons ? p->reasons[0] : "");
	else
		snprintf(buf, len, "%s %.1f%%, %s rows, eta %s%s%s", p->state, p->percent, rows,
			 eta, p->nreasons ? ", throttled: " : "", p->nreasons ? p->reasons[0] : "");
}

/* Appends one line of at most 80 columns (longer ones end in "...") to buf. */
static void add_line(char *buf, size_t len, size_t *o, int cut, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static void add_line(char *buf, size_t len, size_t *o, int cut, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (cut && strlen(line) > 80)
		memcpy(line + 77, "...", 4);
	n = snprintf(buf + (*o < len ? *o : len), *o < len ? len - *o : 0, "%s\n", line);
	if (n > 0)
		*o += (size_t)n;
}

void progress_format_text(const struct progress *p, char *buf, size_t len)
{
	char rows[32], total[48], eta[32], up[32], bar[64], rate[48], waits[32];
	char throttled[32], paused[32], last[48];
	size_t o = 0, width = 50, fill;
	double pct = p->percent < 0 ? 0 : p->percent > 100 ? 100 : p->percent;

	if (len)
		buf[0] = '\0';
	fill = (size_t)(pct / 100.0 * (double)width);
	for (size_t i = 0; i < width; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[width] = '\0';
	thousands(p->rows_done, rows, sizeof(rows));
	total[0] = '\0';
	if (p->rows_total_estimate >= 0) {
		char t[32];

		thousands(p->rows_total_estimate, t, sizeof(t));
		snprintf(total, sizeof(total), " of ~%s", t);
	}
	progress_format_duration(p->eta_seconds, eta, sizeof(eta));
	progress_format_duration(p->uptime_seconds, up, sizeof(up));
	progress_format_duration(p->throttled_seconds, throttled, sizeof(throttled));
	progress_format_duration(p->paused_seconds, paused, sizeof(paused));
	if (p->rows_per_sec >= 0) {
		char r[32];

		thousands((int64_t)llround(p->rows_per_sec), r, sizeof(r));
		snprintf(rate, sizeof(rate), "%s rows/s", r);
	} else {
		snprintf(rate, sizeof(rate), "rate unknown");
	}
	if (p->last_batch_ms >= 0)
		snprintf(last, sizeof(last), " (last %.0f ms)", p->last_batch_ms);
	else
		last[0] = '\0';
	if (p->lock_waits >= 0)
		snprintf(waits, sizeof(waits), "%" PRId64, p->lock_waits);
	else
		snprintf(waits, sizeof(waits), "?");

	/* the headline carries the job's name, which may be long: never cut */
	add_line(buf, len, &o, 0, "%s  %s  %s (%s)", p->job, p->state, p->table, p->driver);
	/* a full bar and 100.0% only when the range is really done */
	add_line(buf, len, &o, 1, "[%s] %5.1f%%", bar, pct < 100 && pct > 99.9 ? 99.9 : pct);
	add_line(buf, len, &o, 1, "rows %s%s   %s   eta %s", rows, total, rate, eta);
	add_line(buf, len, &o, 1,
		 "batch %" PRId64 "%s   errors %" PRId64 "   retries %" PRId64 "   lock waits %s",
		 p->batch_size, last, p->errors, p->retries, waits);
	if (p->replication_lag_ms >= 0)
		add_line(buf, len, &o, 1, "lag %.2fs (%s)", p->replication_lag_ms / 1000.0,
			 p->lag_source ? p->lag_source : "?");
	else
		add_line(buf, len, &o, 1, "lag not measured");
	add_line(buf, len, &o, 1, "throttled %s   paused %s   up %s", throttled, paused, up);
	for (size_t i = 0; i < p->nreasons; i++)
		add_line(buf, len, &o, 1, "throttled: %s", p->reasons[i]);
	add_line(buf, len, &o, 1, "cursor %s of %s", p->cursor ? p->cursor : "(start)",
		 p->high_water ? p->high_water : "(empty)");
	if (o >= len && len > 0)
		buf[len - 1] = '\0';
}

void progress_format_json(const struct progress *p, char *buf, size_t len)
{
	struct json_buf jb;
	char ts[32];
	struct tm tm;

	gmtime_r(&p->started_at, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_buf_init(&jb, buf, len);
	json_obj_begin(&jb);
	json_kv_str(&jb, "job", p->job);
	json_kv_str(&jb, "driver", p->driver);
	json_kv_str(&jb, "table", p->table);
	json_kv_str(&jb, "state", p->state);
	json_key(&jb, "throttle_reasons");
	json_arr_begin(&jb);
	for (size_t i = 0; i < p->nreasons; i++)
		json_str(&jb, p->reasons[i]);
	json_arr_end(&jb);
	/* SPEC.md makes only eta_seconds and replication_lag_ms null while unknown: the
	 * other numbers stay numbers, with what is known so far (the rows done are a
	 * floor for the total; no rate, batch or lock sample yet is 0) */
	json_kv_int(&jb, "rows_done", p->rows_done);
	json_kv_int(&jb, "rows_total_estimate",
		    p->rows_total_estimate >= p->rows_done ? p->rows_total_estimate : p->rows_done);
	json_kv_double(&jb, "percent", p->percent, 2);
	json_kv_double(&jb, "rows_per_sec", p->rows_per_sec >= 0 ? p->rows_per_sec : 0, 1);
	json_key(&jb, "eta_seconds");
	if (p->eta_seconds >= 0)
		json_double(&jb, p->eta_seconds, 0);
	else
		json_null(&jb);
	json_kv_raw(&jb, "cursor", p->cursor);
	json_kv_raw(&jb, "high_water", p->high_water);
	json_kv_int(&jb, "batch_size", p->batch_size);
	json_kv_double(&jb, "last_batch_ms", p->last_batch_ms >= 0 ? p->last_batch_ms : 0, 1);
	json_kv_int(&jb, "target_ms", p->target_ms);
	json_key(&jb, "replication_lag_ms");
	if (p->replication_lag_ms >= 0)
		json_double(&jb, p->replication_lag_ms, 1);
	else
		json_null(&jb);
	json_kv_str(&jb, "lag_source", p->lag_source);
	json_kv_int(&jb, "lock_waits", p->lock_waits >= 0 ? p->lock_waits : 0);
	json_key(&jb, "lock_waits_measured");
	json_bool(&jb, p->lock_waits >= 0);
	json_kv_int(&jb, "errors", p->errors);
	json_kv_int(&jb, "retries", p->retries);
	json_key(&jb, "errors_by_kind");
	json_obj_begin(&jb);
	json_kv_int(&jb, "lock_timeout", p->by_kind.lock_timeout);
	json_kv_int(&jb, "statement_timeout", p->by_kind.statement_timeout);
	json_kv_int(&jb, "deadlock", p->by_kind.deadlock);
	json_kv_int(&jb, "serialization", p->by_kind.serialization);
	json_kv_int(&jb, "connection", p->by_kind.connection);
	json_kv_int(&jb, "other", p->by_kind.other);
	json_obj_end(&jb);
	json_kv_int(&jb, "batches_done", p->batches_done);
	json_kv_double(&jb, "throttled_seconds", p->throttled_seconds, 1);
	json_kv_double(&jb, "paused_seconds", p->paused_seconds, 1);
	json_kv_str(&jb, "started_at", ts);
	json_kv_double(&jb, "uptime_seconds", p->uptime_seconds, 1);
	json_obj_end(&jb);
}

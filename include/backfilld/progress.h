/* progress.h - what a job has done and how fast: the snapshot every report is made
 * from (status, status json, metrics, systemd STATUS, the progress log line). */
#ifndef BACKFILLD_PROGRESS_H
#define BACKFILLD_PROGRESS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "backfilld/throttle.h"

#define RATE_WINDOW_SAMPLES 256
#define RATE_WINDOW_SECONDS 60.0

/* Rows per second over the last minute of *active* time: time spent paused,
 * throttled or reconnecting is not in the clock the samples are taken on. */
struct rate_window {
	double t[RATE_WINDOW_SAMPLES]; /* active seconds */
	int64_t rows[RATE_WINDOW_SAMPLES];
	double pct[RATE_WINDOW_SAMPLES]; /* percent of the key range behind the cursor */
	size_t head, count;
};

void rate_window_add(struct rate_window *w, double active_s, int64_t rows, double pct);
/* rows/s, or a negative number while there is too little to tell */
double rate_window_rate(const struct rate_window *w);
/* Seconds of active time to 100%, at the pace of the window (key range per
 * second, so rows the guard skips count too); negative while unknown. */
double rate_window_eta(const struct rate_window *w);

#define PROGRESS_MAX_REASONS 8

/* Errors by kind, counted since the daemon started. */
struct progress_errors {
	int64_t lock_timeout, statement_timeout, deadlock, serialization, connection, other;
};

struct progress {
	const char *job, *driver, *table, *state;
	const char *reasons[PROGRESS_MAX_REASONS]; /* active throttle reasons */
	size_t nreasons;
	int64_t rows_done, batches_done;
	int64_t rows_total_estimate;	 /* < 0 unknown */
	double percent;			 /* by key range */
	double rows_per_sec;		 /* < 0 unknown */
	double eta_seconds;		 /* < 0 unknown */
	const char *cursor, *high_water; /* JSON arrays or NULL */
	int64_t batch_size;
	double last_batch_ms;	   /* < 0 before the first batch */
	int64_t target_ms;	   /* what the batch size aims at now */
	double replication_lag_ms; /* < 0 not measured */
	const char *lag_source;	   /* NULL when not measured */
	int64_t lock_waits;	   /* < 0 not measured */
	int64_t errors, retries;
	struct progress_errors by_kind;
	double throttled_seconds, paused_seconds;
	/* seconds each kind of reason held, by enum throttle_kind */
	double throttled_by_kind[THROTTLE_NKINDS];
	time_t started_at; /* wall clock */
	double uptime_seconds;
};

/* The human status: fits an 80-column terminal. */
void progress_format_text(const struct progress *p, char *buf, size_t len);
/* One JSON object on one line (no newline). */
void progress_format_json(const struct progress *p, char *buf, size_t len);
/* "running 45.2%, 452113 rows, 8300 rows/s, eta 1m05s": for logs and systemd. */
void progress_format_line(const struct progress *p, char *buf, size_t len);
/* "1h02m", "45s", "unknown" */
void progress_format_duration(double seconds, char *buf, size_t len);

#endif

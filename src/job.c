/* job.c - the batch executor: a backfill job as an explicit state machine. */
#include "backfilld/job.h"
#include "backfilld/batchsize.h"
#include "backfilld/checkpoint.h"
#include "backfilld/config.h"
#include "backfilld/db.h"
#include "backfilld/json.h"
#include "backfilld/log.h"
#include "backfilld/notify.h"
#include "backfilld/progress.h"
#include "backfilld/sql.h"
#include "backfilld/strbuf.h"
#include "backfilld/throttle.h"

#include <errno.h>
#include <ev.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define JOB_MAX_PARAMS SQL_MAX_RANGE_PARAMS
#define VERIFY_CHUNK 20000
#define RECONNECT_MIN 0.1
#define RECONNECT_MAX 30.0
#define RETRY_BACKOFF_MAX 10.0

/* What the query in flight is for: its callback dispatches on this. */
enum step {
	STEP_NONE,
	STEP_CONNECT,
	STEP_COLUMNS,
	STEP_EXPLAIN,
	STEP_LOCK,
	STEP_OWNER,
	STEP_CREATE,
	STEP_LOAD,
	STEP_DELETE,
	STEP_HIGH_WATER,
	STEP_FORWARD,
	STEP_INSERT,
	STEP_RESUME,
	STEP_LOWEST,
	STEP_ESTIMATE,
	STEP_BEGIN,
	STEP_BOUND,
	STEP_UPDATE,
	STEP_ADVANCE,
	STEP_LOCK_SAMPLE,
	STEP_COMMIT,
	STEP_ROLLBACK,
	STEP_STATE,
	STEP_FINISH,
	STEP_VERIFY_BOUND,
	STEP_VERIFY_COUNT,
	STEP_VERIFY_SAMPLE,
	STEP_READ_ONLY,
};

/* a batch's statements, STEP_BEGIN to STEP_COMMIT, in the order they run */
#define JOB_BATCH_STEPS (STEP_COMMIT - STEP_BEGIN + 1)

/* A key value: one text per key part, as the server prints it. */
struct key {
	char *part[CONFIG_MAX_KEY_PARTS];
	int set;
};

/* the longest pause near the lag limit, in batch durations (job_lag_pause) */
#define JOB_LAG_PACE_MAX 10.0

struct job {
	struct ev_loop *loop;
	const struct config *cfg;
	struct job_options opt;
	char name[128]; /* the checkpoint row's job */
	char lock_name[160];
	int owner_other; /* the lock's holder looked up under the forward job's row */
	char owner[300]; /* host:pid */
	char hash[17];

	struct db *db;
	struct sql *sql;
	/* the batch's statements that never change, built once with sql */
	char *q_update_first, *q_update_next, *q_advance;
	char *q_begin;	  /* with the batch's timeouts: rebuilt by job_reload */
	char *upper_json; /* the batch in flight's upper bound, as the checkpoint stores it */
	enum step step;
	enum job_state state;
	int exit_code;
	int connected_once; /* startup is done: a lost connection is reconnected */
	int have_row;	    /* the checkpoint row exists: failures are recorded in it */

	int numeric[CONFIG_MAX_KEY_PARTS];
	struct key cursor, high, low, upper;
	int64_t rows_done, batches_done;
	int64_t estimate;

	/* the batch in flight */
	struct batchsize bs;
	double ramp_at; /* when bs.ramp_ms last stepped up; 0 with no ramp */
	int64_t batch_n;
	int bound_found;
	int64_t affected;
	int64_t waiters; /* sessions the batch stalled; -1 not counted */
	int sample_off;	 /* the batch sample failed: the probe's alone decide */
	double batch_t0;
	double step_done[JOB_BATCH_STEPS]; /* when each answered; 0 when skipped */
	double last_batch_ms;
	double lag_pace, lag_prev;    /* job_lag_pause */
	struct db_result saved_error; /* the error a ROLLBACK is cleaning up after */
	int attempts;		      /* consecutive failed attempts of this batch */
	int64_t errors, retries;

	/* requests, acted upon at batch boundaries */
	int stop_requested;
	int pause_requested;
	int waiting;		  /* idle on `wait` before the next batch */
	int awaiting_throttle;	  /* waiting too, for the throttle's first samples */
	const char *state_target; /* the checkpoint state being written */

	ev_timer wait; /* batch sleep, retry backoff, reconnect backoff */
	ev_timer progress;
	double reconnect_delay;

	/* progress */
	double t_start;
	time_t started_wall;
	double active_s;     /* time spent running batches or sleeping between them */
	double active_since; /* 0 when not running */
	double paused_s;
	double paused_since; /* 0 when not paused */
	double throttled_s;
	double throttled_since; /* 0 when not throttled */
	struct throttle *thr;	/* run mode only */
	struct rate_window rate;
	struct progress_errors by_kind;
	char *cursor_json, *high_json;
	job_state_hook hook;
	void *hook_arg;

	/* verify */
	struct key vcursor;
	int64_t pending, diverged, checked;
	int64_t chunk_pending, chunk_diverged; /* in (vcursor, upper] */
	struct strbuf sample[2];	       /* JSON keys: pending, diverged */
	int64_t nsample[2];
	int sampling;	      /* which kind STEP_VERIFY_SAMPLE reads */
	double verify_logged; /* when progress was last logged */
};

static void job_next_batch(struct job *job);
static int in_batch(enum step s);
static void job_note_contention(struct job *job);
static void job_send_load(struct job *job, enum step step, const char *name);
static void job_db_cb(const struct db_result *res, void *arg);
static void job_fail(struct job *job, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

const char *job_state_name(enum job_state st)
{
	switch (st) {
	case JOB_STARTING: return "starting";
	case JOB_RUNNING: return "running";
	case JOB_THROTTLED: return "throttled";
	case JOB_PAUSED: return "paused";
	case JOB_STOPPING: return "stopping";
	case JOB_RECONNECTING: return "reconnecting";
	case JOB_STOPPED: return "stopped";
	case JOB_DONE: return "done";
	case JOB_FAILED: return "failed";
	}
	return "unknown";
}

static void job_set_state(struct job *job, enum job_state st)
{
	double now = mono_now();

	if (job->state == st)
		return;
	if (job->active_since > 0) {
		job->active_s += now - job->active_since;
		job->active_since = 0;
	}
	if (job->paused_since > 0) {
		job->paused_s += now - job->paused_since;
		job->paused_since = 0;
	}
	if (job->throttled_since > 0) {
		job->throttled_s += now - job->throttled_since;
		job->throttled_since = 0;
	}
	if (st == JOB_RUNNING)
		job->active_since = now;
	else if (st == JOB_PAUSED)
		job->paused_since = now;
	else if (st == JOB_THROTTLED)
		job->throttled_since = now;
	log_info("state %s -> %s", job_state_name(job->state), job_state_name(st));
	if (st == JOB_STOPPING)
		notify_send("STOPPING=1\nSTATUS=stopping after the batch in flight");
	else
		notify_sendf("STATUS=%s", job_state_name(st));
	job->state = st;
	if (job->hook)
		job->hook(job, st, job->hook_arg);
}

/* --- key values ---------------------------------------------------------- */

static void key_clear(struct key *k)
{
	for (size_t i = 0; i < CONFIG_MAX_KEY_PARTS; i++) {
		free(k->part[i]);
		k->part[i] = NULL;
	}
	k->set = 0;
}

/* Moves b's key into a and a's into b: the batch's upper bound becomes the cursor
 * without a copy, and the old cursor's parts are freed when upper is next set. */
static void key_swap(struct key *a, struct key *b)
{
	struct key t = *a;

	*a = *b;
	*b = t;
}

static int key_from_row(struct key *k, const struct db_result *res, int row, size_t n)
{
	key_clear(k);
	for (size_t i = 0; i < n; i++) {
		const char *v = db_value(res, row, (int)i);

		if (!v)
			return -EINVAL; /* a NULL key cannot be ordered past */
		k->part[i] = strdup(v);
		if (!k->part[i])
			return -ENOMEM;
	}
	k->set = 1;
	return 0;
}

static int key_from_json(struct key *k, const char *json, size_t n)
{
	char **v;
	size_t cnt;

	key_clear(k);
	if (!json)
		return 0;
	if (json_parse_array(json, &v, &cnt) < 0)
		return -EINVAL;
	if (cnt != n) {
		json_strv_free(v, cnt);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		if (!v[i]) {
			json_strv_free(v, cnt);
			key_clear(k);
			return -EINVAL;
		}
		k->part[i] = v[i];
		v[i] = NULL;
	}
	json_strv_free(v, cnt);
	k->set = 1;
	return 0;
}

static int key_copy(struct key *dst, const struct key *src, size_t n)
{
	key_clear(dst);
	if (!src->set)
		return 0;
	for (size_t i = 0; i < n; i++) {
		dst->part[i] = strdup(src->part[i]);
		if (!dst->part[i])
			return -ENOMEM;
	}
	dst->set = 1;
	return 0;
}

static int key_equal(const struct key *a, const struct key *b, size_t n)
{
	if (a->set != b->set)
		return 0;
	for (size_t i = 0; a->set && i < n; i++)
		if (strcmp(a->part[i], b->part[i]) != 0)
			return 0;
	return 1;
}

static char *key_json(const struct job *job, const struct key *k)
{
	if (!k->set)
		return NULL;
	return json_encode_key(k->part, job->numeric, job->cfg->nkey);
}

/* The JSON forms of cursor and high_water that reports show. */
static void job_sync_json(struct job *job)
{
	free(job->cursor_json);
	free(job->high_json);
	job->cursor_json = key_json(job, &job->cursor);
	job->high_json = key_json(job, &job->high);
}

/* The parameters of a statement over (from, to]; from NULL or unset: from the
 * start. */
static int range_params(const struct job *job, const struct key *from, const struct key *to,
			const char **params)
{
	return sql_range_params(job->sql,
				from && from->set ? (const char *const *)from->part : NULL,
				(const char *const *)to->part, params);
}

/* --- progress ---------------------------------------------------------------- */

/* Percent of the key range behind the cursor: by key value for a numeric single
 * key, else by rows against the planner's estimate. */
static double job_percent(const struct job *job)
{
	if (job->state == JOB_DONE)
		return 100.0;
	if (!job->high.set) /* starting: the range is not read yet */
		return 0.0;
	if (!job->cursor.set)
		return 0.0;
	if (job->cfg->nkey == 1 && job->numeric[0] && job->low.set) {
		long double lo = strtold(job->low.part[0], NULL);
		long double hi = strtold(job->high.part[0], NULL);
		long double cur = strtold(job->cursor.part[0], NULL);

		if (hi > lo)
			return (double)(100.0L * (cur - lo) / (hi - lo));
	}
	if (job->estimate > 0) {
		double p = 100.0 * (double)job->rows_done / (double)job->estimate;

		return p > 99.9 ? 99.9 : p;
	}
	return 0.0;
}

static double job_active_seconds(const struct job *job)
{
	return job->active_s + (job->active_since > 0 ? mono_now() - job->active_since : 0);
}

static void job_count_error(struct job *job, enum db_error e)
{
	job->errors++;
	switch (e) {
	case DB_ERR_LOCK_TIMEOUT: job->by_kind.lock_timeout++; break;
	case DB_ERR_STATEMENT_TIMEOUT: job->by_kind.statement_timeout++; break;
	case DB_ERR_DEADLOCK: job->by_kind.deadlock++; break;
	case DB_ERR_SERIALIZATION: job->by_kind.serialization++; break;
	case DB_ERR_CONNECTION: job->by_kind.connection++; break;
	default: job->by_kind.other++; break;
	}
}

void job_progress(const struct job *job, struct progress *p)
{
	double now = mono_now();
	double pct = job_percent(job);

	memset(p, 0, sizeof(*p));
	p->job = job->name;
	p->driver = job->cfg->driver == CONFIG_DRIVER_POSTGRES ? "postgres" : "mysql";
	p->table = job->sql ? job->sql->table_name : job->cfg->table.name;
	p->state = job_state_name(job->state);
	p->rows_done = job->rows_done;
	p->batches_done = job->batches_done;
	p->percent = pct;
	/* matched rows so far, extrapolated over the key range; the planner's count
	 * until there is enough of the range behind us to extrapolate from */
	if (job->state == JOB_DONE)
		p->rows_total_estimate = job->rows_done;
	else if (pct >= 1.0)
		p->rows_total_estimate = (int64_t)((double)job->rows_done * 100.0 / pct);
	else
		p->rows_total_estimate = job->estimate > 0 ? job->estimate : -1;
	p->rows_per_sec = rate_window_rate(&job->rate);
	p->eta_seconds = job->state == JOB_DONE ? 0 : rate_window_eta(&job->rate);
	p->cursor = job->cursor_json;
	p->high_water = job->high_json;
	p->batch_size = job->bs.size;
	p->last_batch_ms = job->last_batch_ms;
	p->target_ms = batchsize_target(&job->bs);
	p->replication_lag_ms = -1;
	p->lock_waits = -1;
	if (job->thr) {
		struct throttle_report r;

		throttle_report(job->thr, &r);
		/* SPEC.md: empty when not throttled (paused, or a batch still running while
		 * the throttle engages: the state says throttled once it holds the job) */
		for (size_t i = 0;
		     job->state == JOB_THROTTLED && i < r.nreasons && i < PROGRESS_MAX_REASONS; i++)
			p->reasons[p->nreasons++] = r.reasons[i];
		p->replication_lag_ms = r.lag_ms;
		p->lag_source = r.lag_source;
		p->lock_waits = r.lock_waits;
		for (int k = 0; k < THROTTLE_NKINDS; k++)
			p->throttled_by_kind[k] = r.seconds[k];
	}
	p->throttled_seconds =
		job->throttled_s + (job->throttled_since > 0 ? now - job->throttled_since : 0);
	p->errors = job->errors;
	p->retries = job->retries;
	p->by_kind = job->by_kind;
	p->paused_seconds = job->paused_s + (job->paused_since > 0 ? now - job->paused_since : 0);
	p->started_at = job->started_wall;
	p->uptime_seconds = now - job->t_start;
}

static void job_log_progress(struct job *job)
{
	struct progress p;
	char line[512];

	job_progress(job, &p);
	progress_format_line(&p, line, sizeof(line));
	log_info("progress: %s, batch %" PRId64 " (%.0f ms)", line, p.batch_size,
		 p.last_batch_ms < 0 ? 0 : p.last_batch_ms);
	notify_sendf("STATUS=%s", line);
}

static void job_progress_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct job *job = w->data;

	if (job->state == JOB_RUNNING || job->state == JOB_PAUSED ||
	    job->state == JOB_RECONNECTING || job->state == JOB_THROTTLED)
		job_log_progress(job);
}

/* --- issuing queries ------------------------------------------------------------ */

static void job_send(struct job *job, enum step step, const char *sql, int n,
		     const char *const *params)
{
	job->step = step;
	if (job->thr)
		throttle_batch_running(job->thr, in_batch(step));
	if (!sql) {
		job_fail(job, 1, "out of memory building a statement");
		return;
	}
	if (db_query(job->db, sql, n, params, job_db_cb, job) < 0)
		job_fail(job, 1, "internal error: a query was sent while another was in flight");
}

/* Same, for a statement built for this call. */
static void job_send_owned(struct job *job, enum step step, char *sql, int n,
			   const char *const *params)
{
	job_send(job, step, sql, n, params);
	free(sql);
}

static void job_exit(struct job *job, int code)
{
	job->exit_code = code;
	if (job->thr)
		throttle_stop(job->thr);
	ev_timer_stop(job->loop, &job->wait);
	ev_timer_stop(job->loop, &job->progress);
	db_close(job->db);
	ev_break(job->loop, EVBREAK_ALL);
}

/* Writes row_state, error and reasons into the checkpoint row; the callback
 * continues from there, at target (job_after_state). */
static void job_write_row(struct job *job, const char *target, const char *row_state,
			  const char *error, const char *reasons)
{
	char *sql = checkpoint_sql_state(job->sql);
	const char *params[4] = { row_state, error, reasons, job->name };

	job->state_target = target;
	job_send_owned(job, STEP_STATE, sql, 4, params);
}

static void job_write_state(struct job *job, const char *state, const char *error)
{
	job_write_row(job, state, state, error, NULL);
}

/* Records why the job waits. The row knows running, paused, stopped, done and
 * failed (SPEC.md): a throttled job is "running" there, with throttle_reasons. */
static void job_write_throttled(struct job *job)
{
	char why[THROTTLE_MAX_REASONS * 260];

	throttle_reasons_text(job->thr, why, sizeof(why));
	job_write_row(job, "throttled", "running", NULL, why);
}

static void job_fail(struct job *job, int code, const char *fmt, ...)
{
	va_list ap;
	char msg[1024];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_error("%s", msg);
	job->exit_code = code;
	job_set_state(job, JOB_FAILED);
	/* record it where the row exists and the connection still works */
	if (job->have_row && job->sql && !db_busy(job->db)) {
		job_write_state(job, "failed", msg);
		return;
	}
	job_exit(job, code);
}

/* --- reconnecting -------------------------------------------------------------------- */

static void job_connect(struct job *job)
{
	job->step = STEP_CONNECT;
	if (db_connect(job->db, job_db_cb, job) < 0)
		job_fail(job, 1, "internal error: connect while busy");
}

static void job_wait(struct job *job, double seconds)
{
	job->waiting = 1;
	ev_timer_stop(job->loop, &job->wait);
	ev_timer_set(&job->wait, seconds, 0.);
	ev_timer_start(job->loop, &job->wait);
}

static double jitter(double d)
{
	/* 50..100% of d: instances that failed together do not retry together */
	return d * (0.5 + 0.5 * ((double)rand() / (double)RAND_MAX));
}

static void job_reconnect(struct job *job, const char *why)
{
	db_close(job->db);
	if (job->thr)
		throttle_batch_running(job->thr, 0);
	if (job->state != JOB_RECONNECTING) {
		log_warn("connection lost: %s; reconnecting from the checkpoint", why);
		job->reconnect_delay = RECONNECT_MIN;
		job_set_state(job, JOB_RECONNECTING);
	} else {
		log_warn("reconnect failed: %s; next attempt in %.1fs", why, job->reconnect_delay);
	}
	if (job->stop_requested) {
		log_warn("stop requested while the database is unreachable: exiting; the job "
			 "resumes from its last committed batch");
		job_exit(job, 0);
		return;
	}
	job_count_error(job, DB_ERR_CONNECTION);
	job_wait(job, jitter(job->reconnect_delay));
	job->reconnect_delay *= 2;
	if (job->reconnect_delay > RECONNECT_MAX)
		job->reconnect_delay = RECONNECT_MAX;
}

/* --- startup ------------------------------------------------------------------------------ */

static void job_after_columns(struct job *job, const struct db_result *res)
{
	const struct config *cfg = job->cfg;
	const char *params[JOB_MAX_PARAMS];
	const char *nulls[CONFIG_MAX_KEY_PARTS] = { 0 };
	int n;

	if (res->nrows == 0) {
		job_fail(job, 2, "%s: table %s not found (or not visible to this user)", cfg->path,
			 job->sql->table_name);
		return;
	}
	for (size_t i = 0; i < cfg->nkey; i++) {
		int found = 0;

		for (int r = 0; r < res->nrows; r++)
			if (strcmp(db_value(res, r, 0), cfg->key[i]) == 0) {
				found = 1;
				job->numeric[i] = strcmp(db_value(res, r, 1), "1") == 0;
			}
		if (!found) {
			job_fail(job, 2, "%s: key column %s not found in table %s", cfg->path,
				 cfg->key[i], job->sql->table_name);
			return;
		}
	}
	for (size_t i = 0; i < cfg->nset; i++) {
		int found = 0;

		for (int r = 0; r < res->nrows; r++)
			if (strcmp(db_value(res, r, 0), cfg->set[i].column) == 0)
				found = 1;
		if (!found) {
			job_fail(job, 2, "%s: set column %s not found in table %s", cfg->path,
				 cfg->set[i].column, job->sql->table_name);
			return;
		}
	}
	if (job->opt.mode == JOB_MODE_VERIFY) {
		job_send_load(job, STEP_LOAD, job->name);
		return;
	}
	/* EXPLAIN resolves the expressions, the guard and the privileges without
	 * touching a row; NULL bounds are enough for that */
	n = sql_range_params(job->sql, nulls, nulls, params);
	job_send_owned(job, STEP_EXPLAIN, sql_explain(job->sql, job->q_update_next), n, params);
}

static void job_send_columns(struct job *job)
{
	const char *params[2];
	int n = sql_table_params(job->sql, params);

	job_send(job, STEP_COLUMNS, sql_columns(job->sql), n, params);
}

static void job_send_lock(struct job *job)
{
	const char *params[1] = { job->lock_name };

	job_send(job, STEP_LOCK, checkpoint_sql_lock(db_dialect(job->db)), 1, params);
}

/* Reads the checkpoint row of job name (this job's, or the forward job's). */
static void job_send_load(struct job *job, enum step step, const char *name)
{
	const char *params[1] = { name };

	job_send_owned(job, step, checkpoint_sql_load(job->sql), 1, params);
}

static void job_send_high_water(struct job *job)
{
	job_send_owned(job, STEP_HIGH_WATER, sql_high_water(job->sql, 0), 0, NULL);
}

static void job_send_lowest(struct job *job)
{
	job_send_owned(job, STEP_LOWEST, sql_high_water(job->sql, 1), 0, NULL);
}

static void job_send_estimate(struct job *job)
{
	const char *params[2];
	int n = sql_table_params(job->sql, params);

	job_send(job, STEP_ESTIMATE, sql_estimate(job->sql), n, params);
}

/* A fresh job's key range: the rollback takes the forward job's, as its checkpoint
 * row recorded it; any other job the table's high-water mark now. */
static void job_take_range(struct job *job)
{
	if (job->opt.mode == JOB_MODE_ROLLBACK) {
		job_send_load(job, STEP_FORWARD, job->cfg->job);
		return;
	}
	job_send_high_water(job);
}

/* The checkpoint row is read: start fresh, refuse, finish at once, or resume. */
static void job_after_load(struct job *job, const struct db_result *res)
{
	struct checkpoint_row row;
	int rc = checkpoint_row_parse(res, &row);

	if (rc == -ENOMEM) {
		job_fail(job, 1, "out of memory");
		return;
	}
	if (rc == -ENOENT) {
		if (job->connected_once) {
			job_fail(job, 1, "checkpoint row of job %s disappeared while it ran",
				 job->name);
			return;
		}
		if (job->opt.mode != JOB_MODE_ROLLBACK)
			log_info("no checkpoint for job %s: taking the high-water mark", job->name);
		job_take_range(job);
		return;
	}
	if (job->opt.reset && !job->connected_once) {
		const char *params[1] = { job->name };

		log_warn("--reset: discarding the checkpoint of job %s (state %s, %" PRId64
			 " rows done)",
			 job->name, row.state, row.rows_done);
		checkpoint_row_clear(&row);
		job_send_owned(job, STEP_DELETE, checkpoint_sql_delete(job->sql), 1, params);
		return;
	}
	if (strcmp(row.config_hash, job->hash) != 0) {
		job_fail(job, 2,
			 "%s: job %s has a checkpoint written for another table, key, set or "
			 "where (config hash %s, now %s); run with --reset to start over",
			 job->cfg->path, job->name, row.config_hash, job->hash);
		checkpoint_row_clear(&row);
		return;
	}
	if (strcmp(row.state, "done") == 0 && !job->connected_once) {
		log_info("job %s is already done (%" PRId64 " rows in %" PRId64 " batches)",
			 job->name, row.rows_done, row.batches_done);
		printf("job %s is already done: %" PRId64 " rows in %" PRId64 " batches\n",
		       job->name, row.rows_done, row.batches_done);
		checkpoint_row_clear(&row);
		job_exit(job, 0);
		return;
	}
	if (key_from_json(&job->cursor, row.cursor, job->cfg->nkey) < 0 ||
	    key_from_json(&job->high, row.high_water, job->cfg->nkey) < 0) {
		job_fail(job, 1,
			 "checkpoint row of job %s holds an unreadable cursor (%s) or "
			 "high_water (%s)",
			 job->name, row.cursor ? row.cursor : "NULL",
			 row.high_water ? row.high_water : "NULL");
		checkpoint_row_clear(&row);
		return;
	}
	job->rows_done = row.rows_done;
	job->batches_done = row.batches_done;
	if (!job->connected_once) {
		log_info("resuming job %s (was %s, last owner %s) at cursor %s: %" PRId64
			 " rows in %" PRId64 " batches done",
			 job->name, row.state, row.owner ? row.owner : "unknown",
			 row.cursor ? row.cursor : "start", row.rows_done, row.batches_done);
	} else {
		log_info("reconnected: resuming at cursor %s", row.cursor ? row.cursor : "start");
	}
	checkpoint_row_clear(&row);
	{
		const char *params[2] = { job->owner, job->name };

		job->have_row = 1;
		job_send_owned(job, STEP_RESUME, checkpoint_sql_resume(job->sql), 2, params);
	}
}

/* A fresh checkpoint row for the range (start, job->high]. */
static void job_insert_checkpoint(struct job *job)
{
	char *hw = NULL, sz[32];
	const char *params[5];

	key_clear(&job->cursor);
	if (job->high.set) {
		hw = key_json(job, &job->high);
		if (!hw) {
			job_fail(job, 1, "out of memory");
			return;
		}
		log_info("high-water mark %s", hw);
	} else {
		log_info("table %s is empty: nothing to do", job->sql->table_name);
	}
	snprintf(sz, sizeof(sz), "%" PRId64, job->bs.size);
	params[0] = job->name;
	params[1] = hw;
	params[2] = job->hash;
	params[3] = job->owner;
	params[4] = sz;
	job->rows_done = job->batches_done = 0;
	job_send_owned(job, STEP_INSERT, checkpoint_sql_insert(job->sql), 5, params);
	free(hw);
}

static void job_after_high_water(struct job *job, const struct db_result *res)
{
	key_clear(&job->high);
	if (res->nrows > 0 && key_from_row(&job->high, res, 0, job->cfg->nkey) < 0) {
		job_fail(job, 1, "the key of table %s has NULL values; a key must be NOT NULL",
			 job->sql->table_name);
		return;
	}
	job_insert_checkpoint(job);
}

/* Rollback: the range is the forward job's, as its checkpoint row recorded it. */
static void job_after_forward(struct job *job, const struct db_result *res)
{
	struct checkpoint_row row;

	if (checkpoint_row_parse(res, &row) < 0) {
		log_info("job %s has no checkpoint: rolling back up to the current largest key",
			 job->cfg->job);
		job_send_high_water(job);
		return;
	}
	if (key_from_json(&job->high, row.high_water, job->cfg->nkey) < 0) {
		job_fail(job, 1, "checkpoint row of job %s holds an unreadable high_water (%s)",
			 job->cfg->job, row.high_water ? row.high_water : "NULL");
		checkpoint_row_clear(&row);
		return;
	}
	log_info("rolling back the range of job %s (state %s, %" PRId64 " rows done)",
		 job->cfg->job, row.state, row.rows_done);
	checkpoint_row_clear(&row);
	job_insert_checkpoint(job);
}

static void job_begin_running(struct job *job)
{
	if (job->thr)
		throttle_start(job->thr, db_session_id(job->db));
	if (!job->connected_once) {
		job->connected_once = 1;
		notify_send("READY=1");
		if (job->cfg->log.progress_interval_ms > 0) {
			double iv = (double)job->cfg->log.progress_interval_ms / 1000.0;

			ev_timer_set(&job->progress, iv, iv);
			ev_timer_start(job->loop, &job->progress);
		}
	}
	job->reconnect_delay = RECONNECT_MIN;
	job_sync_json(job);
	job_set_state(job, JOB_RUNNING);
	rate_window_add(&job->rate, job_active_seconds(job), job->rows_done, job_percent(job));
	job_next_batch(job);
}

/* --- verify walk ------------------------------------------------------------------------- */

static const char *const sample_kind[2] = { "pending", "diverged" };

static void job_verify_report(struct job *job)
{
	int samples = job->opt.sample > 0 && job->opt.mode == JOB_MODE_VERIFY;

	if (job->opt.json && job->opt.mode == JOB_MODE_VERIFY) {
		printf("{\"job\":\"%s\",\"pending\":%" PRId64 ",\"diverged\":%" PRId64
		       ",\"rows_checked\":%" PRId64,
		       job->name, job->pending, job->diverged, job->checked);
		if (samples)
			printf(",\"samples\":{\"pending\":[%s],\"diverged\":[%s]}",
			       job->sample[0].len ? job->sample[0].buf : "",
			       job->sample[1].len ? job->sample[1].buf : "");
		printf("}\n");
	} else {
		printf("verify: %" PRId64 " pending, %" PRId64 " diverged, %" PRId64
		       " rows checked\n",
		       job->pending, job->diverged, job->checked);
	}
	fflush(stdout);
	log_info("verify: %" PRId64 " pending, %" PRId64 " diverged, %" PRId64 " rows checked",
		 job->pending, job->diverged, job->checked);
}

static void job_verify_next(struct job *job)
{
	const char *params[JOB_MAX_PARAMS];
	int n;

	if (!job->high.set ||
	    (job->vcursor.set && key_equal(&job->vcursor, &job->high, job->cfg->nkey))) {
		job_verify_report(job);
		if (job->opt.mode == JOB_MODE_VERIFY)
			job_exit(job, job->pending || job->diverged ? 3 : 0);
		else
			job_exit(job, 0);
		return;
	}
	if (job->opt.mode == JOB_MODE_VERIFY && mono_now() - job->verify_logged >= 5.0) {
		char *at = key_json(job, &job->vcursor);

		job->verify_logged = mono_now();
		log_info("verify: %" PRId64 " rows checked, %" PRId64 " pending, %" PRId64
			 " diverged so far; at key %s of %s",
			 job->checked, job->pending, job->diverged, at ? at : "(start)",
			 job->high_json ? job->high_json : "?");
		free(at);
	}
	n = range_params(job, &job->vcursor, &job->high, params);
	job_send_owned(job, STEP_VERIFY_BOUND,
		       sql_upper_bound(job->sql, !job->vcursor.set, VERIFY_CHUNK), n, params);
}

static void job_verify_after_bound(struct job *job, const struct db_result *res)
{
	const char *params[JOB_MAX_PARAMS];
	int n;
	int rc = res->nrows > 0 ? key_from_row(&job->upper, res, 0, job->cfg->nkey)
				: key_copy(&job->upper, &job->high, job->cfg->nkey);

	if (rc < 0) {
		job_fail(job, 1, "cannot read the key of table %s", job->sql->table_name);
		return;
	}
	n = range_params(job, &job->vcursor, &job->upper, params);
	job_send_owned(job, STEP_VERIFY_COUNT, sql_count(job->sql, !job->vcursor.set), n, params);
}

/* The chunk (vcursor, upper] is counted: list its first keys of a kind still
 * wanted (--sample), then move on. */
static void job_verify_chunk_done(struct job *job)
{
	const char *params[JOB_MAX_PARAMS];
	int n;

	for (int kind = 0; kind < 2; kind++) {
		int64_t found = kind ? job->chunk_diverged : job->chunk_pending;
		int64_t want = job->opt.sample - job->nsample[kind];

		if (job->opt.mode != JOB_MODE_VERIFY || found == 0 || want <= 0)
			continue;
		if (kind) /* asked once per chunk and kind */
			job->chunk_diverged = 0;
		else
			job->chunk_pending = 0;
		job->sampling = kind;
		n = range_params(job, &job->vcursor, &job->upper, params);
		job_send_owned(job, STEP_VERIFY_SAMPLE,
			       sql_sample(job->sql, !job->vcursor.set, kind == 1,
					  found < want ? found : want),
			       n, params);
		return;
	}
	key_swap(&job->vcursor, &job->upper);
	job_verify_next(job);
}

static void job_verify_after_count(struct job *job, const struct db_result *res)
{
	if (res->nrows < 1 || res->ncols < 3) {
		job_fail(job, 1, "unexpected answer to the verify count");
		return;
	}
	job->chunk_pending = strtoll(db_value(res, 0, 0), NULL, 10);
	job->chunk_diverged = strtoll(db_value(res, 0, 1), NULL, 10);
	job->pending += job->chunk_pending;
	job->diverged += job->chunk_diverged;
	job->checked += strtoll(db_value(res, 0, 2), NULL, 10);
	job_verify_chunk_done(job);
}

static void job_verify_after_sample(struct job *job, const struct db_result *res)
{
	struct strbuf *sb = &job->sample[job->sampling];

	for (int r = 0; r < res->nrows && job->nsample[job->sampling] < job->opt.sample; r++) {
		struct key k = { 0 };
		char *json = NULL;

		if (key_from_row(&k, res, r, job->cfg->nkey) == 0)
			json = key_json(job, &k);
		key_clear(&k);
		if (!json) {
			job_fail(job, 1, "cannot read the key of table %s", job->sql->table_name);
			return;
		}
		if (!job->opt.json)
			printf("verify: %s key %s\n", sample_kind[job->sampling], json);
		strbuf_addf(sb, "%s%s", sb->len ? "," : "", json);
		job->nsample[job->sampling]++;
		free(json);
	}
	job_verify_chunk_done(job);
}

static void job_verify_start(struct job *job)
{
	job_sync_json(job);
	key_clear(&job->vcursor);
	job->pending = job->diverged = job->checked = 0;
	job->verify_logged = mono_now();
	job_verify_next(job);
}

/* --- batches -------------------------------------------------------------------------------- */

static void job_finish(struct job *job)
{
	const char *params[1] = { job->name };

	job_send_owned(job, STEP_FINISH, checkpoint_sql_finish(job->sql), 1, params);
}

static void job_next_batch(struct job *job)
{
	job->waiting = 0;
	job->awaiting_throttle = 0;
	if (job->stop_requested) {
		job_set_state(job, JOB_STOPPING);
		job_write_state(job, "stopped", NULL);
		return;
	}
	if (job->pause_requested) {
		/* paused once the row says so: whoever waits for the pause may then
		 * read the checkpoint and find it paused */
		if (job->state != JOB_PAUSED)
			job_write_state(job, "paused", NULL);
		return;
	}
	if (!job->high.set ||
	    (job->cursor.set && key_equal(&job->cursor, &job->high, job->cfg->nkey))) {
		job_finish(job);
		return;
	}
	if (job->thr && !throttle_ready(job->thr)) {
		/* nothing tells yet whether a batch may go: the probe's first samples
		 * decide (job_throttle_changed); meanwhile status shows the target the
		 * first batch will aim at */
		job_note_contention(job);
		job->waiting = 1;
		job->awaiting_throttle = 1;
		return;
	}
	if (job->thr && throttle_engaged(job->thr)) {
		/* wait for the throttle to release us (job_throttle_changed) */
		if (job->state != JOB_THROTTLED) {
			job_set_state(job, JOB_THROTTLED);
			job_write_throttled(job);
		}
		job->waiting = 1;
		return;
	}
	if (job->state == JOB_THROTTLED) {
		job_write_state(job, "running", NULL);
		return;
	}
	job_note_contention(job);
	job->batch_n = job->bs.size;
	memset(job->step_done, 0, sizeof(job->step_done));
	job->batch_t0 = mono_now();
	job_send(job, STEP_BEGIN, job->q_begin, 0, NULL);
}

static void job_wait_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct job *job = w->data;

	job->waiting = 0;
	if (job->state == JOB_RECONNECTING) {
		job_connect(job);
		return;
	}
	job_next_batch(job);
}

static void job_send_bound(struct job *job)
{
	const char *params[JOB_MAX_PARAMS];
	int n = 0;

	n = range_params(job, &job->cursor, &job->high, params);
	job_send_owned(job, STEP_BOUND, sql_upper_bound(job->sql, !job->cursor.set, job->batch_n),
		       n, params);
}

static void job_after_bound(struct job *job, const struct db_result *res)
{
	const char *params[JOB_MAX_PARAMS];
	int n = 0, rc;

	job->bound_found = res->nrows > 0;
	rc = job->bound_found ? key_from_row(&job->upper, res, 0, job->cfg->nkey)
			      : key_copy(&job->upper, &job->high, job->cfg->nkey);
	if (rc < 0) {
		job_fail(job, 1, "cannot read the key of table %s", job->sql->table_name);
		return;
	}
	n = range_params(job, &job->cursor, &job->upper, params);
	job_send(job, STEP_UPDATE, job->cursor.set ? job->q_update_next : job->q_update_first, n,
		 params);
}

static void job_after_update(struct job *job, const struct db_result *res)
{
	char rows[32], size[32];
	const char *params[4] = { NULL, rows, size, job->name };

	free(job->upper_json);
	job->upper_json = key_json(job, &job->upper);
	if (!job->upper_json) {
		job_fail(job, 1, "out of memory");
		return;
	}
	params[0] = job->upper_json;
	job->affected = res->affected;
	snprintf(rows, sizeof(rows), "%" PRId64, res->affected);
	snprintf(size, sizeof(size), "%" PRId64, job->batch_n);
	job_send(job, STEP_ADVANCE, job->q_advance, 4, params);
}

/* Before the COMMIT, while the batch still holds every lock it took, a lock sample
 * (throttle_batch_sample_sql): it counts every session waiting on the batch. */
static void job_send_lock_sample(struct job *job)
{
	const char *q = NULL;
	const char *params[1];

	job->waiters = -1;
	if (job->thr && !job->sample_off)
		q = throttle_batch_sample_sql(job->thr, job->db, params);
	if (q)
		job_send(job, STEP_LOCK_SAMPLE, q, 1, params);
	else
		job_send(job, STEP_COMMIT, "COMMIT", 0, NULL);
}

/* After the start's presumption of contention has ended with other sessions
 * running, but none seen waiting, the target goes up from contended_target_time
 * to target_time in steps: twice as long every THROTTLE_CONTENDED_START seconds
 * in which nobody is seen waiting. Short batches are seldom waited on, however
 * busy the table, so their samples see few of the waits; a jump to target_time
 * makes the first waits that are seen as long as a long batch. start: the
 * presumption has just ended; else called before every batch while nobody waits. */
static void job_ramp(struct job *job, int start)
{
	int64_t ms = job->cfg->batch.contended_target_time_ms;
	double now = mono_now();

	if (start) {
		job->ramp_at = now;
		batchsize_ramp(&job->bs, 2 * ms);
	} else if (job->ramp_at > 0 && now - job->ramp_at >= THROTTLE_CONTENDED_START) {
		job->ramp_at = now;
		batchsize_ramp(&job->bs, 2 * job->bs.ramp_ms);
	} else {
		return;
	}
	if (job->bs.ramp_ms >= job->cfg->batch.target_time_ms) {
		job->ramp_at = 0;
		batchsize_ramp(&job->bs, 0);
	}
	if (start)
		log_info("no session waits on the batches' locks and the lag is low, but other "
			 "sessions run: they aim at %" PRId64 " ms, and twice as long every %.0f s "
			 "in which nobody is seen waiting",
			 batchsize_target(&job->bs), THROTTLE_CONTENDED_START);
	else
		log_info(
			"nobody seen waiting on the batches' locks for %.0f s: they aim at %" PRId64
			" ms%s",
			THROTTLE_CONTENDED_START, batchsize_target(&job->bs),
			job->ramp_at > 0 ? "" : " again");
}

/* Batches aim at batch.contended_target_time while sessions wait on their locks
 * (and from the start until the throttle's samples show that none do), and while
 * a replica's lag is past half of max_replication_lag. Once a session has waited,
 * they aim at most at BATCHSIZE_WAITED_FACTOR times that for the rest of the run.
 * Between the start's presumption and target_time, job_ramp. */
static void job_note_contention(struct job *job)
{
	int c = job->thr ? throttle_contended(job->thr) : -1;
	int seen = c == 1 && throttle_waits_seen(job->thr);
	int lag = job->thr ? throttle_lag_near(job->thr) : 0;
	int64_t ms = job->cfg->batch.contended_target_time_ms;
	int on = c == 1 || lag, was = job->bs.contended, presumed = job->bs.presumed;

	if (ms >= job->cfg->batch.target_time_ms) {
		batchsize_contention(&job->bs, 0, ms, 0);
		return;
	}
	/* also when the start's presumption turns into a measured wait */
	if ((on && !was) || (seen && !job->bs.waited))
		log_info("batches aim at %" PRId64 " ms (batch.contended_target_time) %s", ms,
			 c == 1 && !seen ? "until no session is seen waiting on their locks"
			 : c == 1	 ? "while sessions wait on their locks"
					 : "while the replication lag is past half its limit");
	if (seen && !job->bs.waited)
		batchsize_waited(&job->bs);
	batchsize_contention(&job->bs, on, ms, seen || lag);
	if (job->bs.waited) {
		/* a wait seen ends the ramp: the contended targets take over */
		job->ramp_at = 0;
		batchsize_ramp(&job->bs, 0);
	} else if (!on && was && presumed && !throttle_start_quiet(job->thr) &&
		   2 * ms < job->cfg->batch.target_time_ms) {
		job_ramp(job, 1);
		return;
	} else if (!on) {
		job_ramp(job, 0);
	}
	if (!on && was && job->bs.waited)
		log_info(
			"no session waits on the batches' locks and the lag is low: they aim at %" PRId64
			" ms (%d x batch.contended_target_time for the rest of the run: sessions "
			"have waited on them)",
			batchsize_target(&job->bs), BATCHSIZE_WAITED_FACTOR);
	else if (!on && was)
		log_info(
			"no session waits on the batches' locks and the lag is low: they aim at %" PRId64
			" ms again",
			batchsize_target(&job->bs));
}

/* Near the lag limit the batches are paced: after each, a pause of lag_pace times
 * its duration, so that the replica's apply keeps up and the lag holds under the
 * limit instead of overshooting it (the lag shows a batch only once the replica
 * gets to it, so a throttle on the lag alone reacts late by the lag itself).
 * lag_pace grows by half a batch while the lag is past half the limit and not
 * falling, and halves while it is under a quarter. Seconds to pause. */
static double job_lag_pause(struct job *job, double batch_ms)
{
	double max = (double)job->cfg->throttle.max_replication_lag_ms;
	double lag = job->thr ? throttle_lag_ms(job->thr) : -1;

	if (max <= 0 || lag < 0) {
		job->lag_pace = 0;
		job->lag_prev = lag;
		return 0;
	}
	if (lag >= max / 2.0) {
		if (lag >= job->lag_prev)
			job->lag_pace = job->lag_pace < 1.0 ? 1.0 : job->lag_pace * 1.5;
		if (job->lag_pace > JOB_LAG_PACE_MAX)
			job->lag_pace = JOB_LAG_PACE_MAX;
	} else if (lag < max / 4.0) {
		job->lag_pace = job->lag_pace < 0.1 ? 0 : job->lag_pace / 2.0;
	}
	job->lag_prev = lag;
	return job->lag_pace * batch_ms / 1000.0;
}

/* Where the batch's time went, for the debug log: the milliseconds from one step's
 * answer to the next ("begin 0.3, bound 1.2, update 40.1, ..."), skipped steps left out. */
static void job_steps_text(const struct job *job, char *buf, size_t len)
{
	static const char *const names[JOB_BATCH_STEPS] = { "begin",	  "bound",  "update",
							    "checkpoint", "sample", "commit" };
	double prev = job->batch_t0;
	size_t at = 0;

	buf[0] = '\0';
	for (int i = 0; i < JOB_BATCH_STEPS && at < len; i++) {
		if (job->step_done[i] <= 0)
			continue;
		at += (size_t)snprintf(buf + at, len - at, "%s%s %.1f", at ? ", " : "", names[i],
				       (job->step_done[i] - prev) * 1000.0);
		prev = job->step_done[i];
	}
}

static void job_after_commit(struct job *job)
{
	double ms = (mono_now() - job->batch_t0) * 1000.0, pause;
	char waiters[48], steps[160];

	key_swap(&job->cursor, &job->upper);
	/* the cursor's JSON is what the checkpoint row now holds: no need to encode again */
	free(job->cursor_json);
	job->cursor_json = job->upper_json;
	job->upper_json = NULL;
	job->rows_done += job->affected;
	job->batches_done++;
	job->last_batch_ms = ms;
	rate_window_add(&job->rate, job_active_seconds(job), job->rows_done, job_percent(job));
	job->attempts = 0;
	job_note_contention(job);
	batchsize_success(&job->bs, job->bound_found, ms);
	if (log_enabled(LOG_LEVEL_DEBUG)) {
		if (job->waiters < 0)
			snprintf(waiters, sizeof(waiters), "waiters not counted");
		else
			snprintf(waiters, sizeof(waiters), "%" PRId64 " waiting on it",
				 job->waiters);
		job_steps_text(job, steps, sizeof(steps));
		log_debug("batch %" PRId64 ": %" PRId64 " keys, %" PRId64
			  " rows, %.1f ms, %s, next size %" PRId64 "; steps (ms): %s",
			  job->batches_done, job->batch_n, job->affected, ms, waiters, job->bs.size,
			  steps);
	}
	pause = (double)job->cfg->batch.sleep_ms / 1000.0 + job_lag_pause(job, ms);
	if (pause > 0 && !job->stop_requested && !job->pause_requested &&
	    !key_equal(&job->cursor, &job->high, job->cfg->nkey)) {
		job_wait(job, pause);
		return;
	}
	job_next_batch(job);
}

/* The engine's message with its SQLSTATE, as the log and last_error show it. */
static const char *error_text(const struct db_result *r, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s%s", r->message, r->sqlstate[0] ? " (SQLSTATE " : "", r->sqlstate,
		 r->sqlstate[0] ? ")" : "");
	return buf;
}

static int retryable(enum db_error e)
{
	return e == DB_ERR_LOCK_TIMEOUT || e == DB_ERR_STATEMENT_TIMEOUT || e == DB_ERR_DEADLOCK ||
	       e == DB_ERR_SERIALIZATION;
}

/* The batch's transaction has been rolled back: retry smaller, or give up. */
static void job_after_rollback(struct job *job)
{
	struct db_result *e = &job->saved_error;
	double delay;

	job_count_error(job, e->error);
	if (!retryable(e->error)) {
		char text[sizeof(e->message) + 32];
		char *upper = key_json(job, &job->upper);

		/* the range names the rows to look at; none of them was written */
		job_fail(job, 1, "batch failed: %s (keys after %s up to %s; rolled back)",
			 error_text(e, text, sizeof(text)),
			 job->cursor_json ? job->cursor_json : "the start",
			 upper ? upper : "the batch's bound, not yet found");
		free(upper);
		return;
	}
	job->attempts++;
	if (job->attempts > job->cfg->batch.max_retries) {
		job_fail(job, 1,
			 "batch failed %d times in a row (batch.max_retries %" PRId64
			 "); last error: %s: %s",
			 job->attempts, job->cfg->batch.max_retries, db_error_name(e->error),
			 e->message);
		return;
	}
	job->retries++;
	batchsize_timeout(&job->bs);
	if (job->stop_requested || job->pause_requested) {
		/* no point backing off for a batch that will not be tried now */
		log_warn("batch after cursor %s failed (%s: %s)",
			 job->cursor_json ? job->cursor_json : "start", db_error_name(e->error),
			 e->message);
		job_next_batch(job);
		return;
	}
	delay = 0.1 * pow(2.0, job->attempts - 1);
	if (delay > RETRY_BACKOFF_MAX)
		delay = RETRY_BACKOFF_MAX;
	delay = jitter(delay);
	log_warn("batch after cursor %s failed (%s: %s); retry %d of %" PRId64
		 " in %.2fs with batch size %" PRId64,
		 job->cursor_json ? job->cursor_json : "start", db_error_name(e->error), e->message,
		 job->attempts, job->cfg->batch.max_retries, delay, job->bs.size);
	job_wait(job, delay);
}

static int in_batch(enum step s)
{
	return s == STEP_BEGIN || s == STEP_BOUND || s == STEP_UPDATE || s == STEP_ADVANCE ||
	       s == STEP_LOCK_SAMPLE || s == STEP_COMMIT;
}

/* --- the one callback ------------------------------------------------------------------------ */

/* Keeps what went wrong in the batch, rolls its transaction back, then decides
 * (job_after_rollback). */
static void job_abort_batch(struct job *job, enum db_error e, const char *sqlstate,
			    const char *message)
{
	db_result_clear(&job->saved_error);
	job->saved_error.error = e;
	snprintf(job->saved_error.sqlstate, sizeof(job->saved_error.sqlstate), "%s", sqlstate);
	snprintf(job->saved_error.message, sizeof(job->saved_error.message), "%s", message);
	job_send(job, STEP_ROLLBACK, "ROLLBACK", 0, NULL);
}

static void job_on_error(struct job *job, enum step step, const struct db_result *res)
{
	char text[sizeof(res->message) + 32];

	if (res->error == DB_ERR_CONNECTION && job->connected_once && job->state != JOB_FAILED) {
		job_reconnect(job, res->message);
		return;
	}
	if (res->error == DB_ERR_CONNECTION && step != STEP_CONNECT && !job->connected_once) {
		job_fail(job, 1, "lost the connection to the database while starting: %s",
			 res->message);
		return;
	}
	if (step == STEP_LOCK_SAMPLE && db_dialect(job->db) == DB_DIALECT_MYSQL) {
		/* a failed SELECT leaves a MySQL transaction as it was: commit the batch */
		log_warn("cannot sample the lock waits in the batch (%s)%s",
			 error_text(res, text, sizeof(text)),
			 retryable(res->error) ? ""
					       : "; from now on the probe's samples alone tell "
						 "whether sessions wait on the batches");
		job->sample_off = !retryable(res->error);
		job_send(job, STEP_COMMIT, "COMMIT", 0, NULL);
		return;
	}
	if (in_batch(step)) {
		/* before the batch's bound is read, upper still holds an older key */
		if (step < STEP_UPDATE)
			key_clear(&job->upper);
		job_abort_batch(job, res->error, res->sqlstate, res->message);
		return;
	}
	switch (step) {
	case STEP_CONNECT:
		if (job->state == JOB_RECONNECTING) {
			if (res->error == DB_ERR_AUTH) {
				job_fail(job, 1, "cannot reconnect: %s", res->message);
				return;
			}
			job_reconnect(job, res->message);
			return;
		}
		job_fail(job, 1, "cannot connect to the database: %s", res->message);
		return;
	case STEP_COLUMNS:
		job_fail(job, 2, "%s: cannot read the columns of table %s: %s", job->cfg->path,
			 job->sql->table_name, res->message);
		return;
	case STEP_EXPLAIN:
		job_fail(job, 2, "%s: the batch statement for table %s does not work: %s",
			 job->cfg->path, job->sql->table_name, error_text(res, text, sizeof(text)));
		return;
	case STEP_LOAD:
		if (job->opt.mode == JOB_MODE_VERIFY) {
			/* no checkpoint table: verify the whole table as it is now */
			job_send_high_water(job);
			return;
		}
		break;
	case STEP_CREATE:
		/* two jobs creating the checkpoint table at once: one wins, both go on */
		if (strcmp(res->sqlstate, "23505") == 0 || strcmp(res->sqlstate, "42P07") == 0) {
			job_send_load(job, STEP_LOAD, job->name);
			return;
		}
		break;
	case STEP_STATE:
		if (job->state == JOB_FAILED) {
			log_error("could not record the failure in the checkpoint row: %s",
				  res->message);
			job_exit(job, job->exit_code);
			return;
		}
		break;
	case STEP_ROLLBACK: job_fail(job, 1, "rollback failed: %s", res->message); return;
	default: break;
	}
	if (step == STEP_VERIFY_BOUND || step == STEP_VERIFY_COUNT || step == STEP_VERIFY_SAMPLE ||
	    step == STEP_READ_ONLY)
		job_fail(job, 1, "verify failed: %s", res->message);
	else
		job_fail(job, 1, "%s", error_text(res, text, sizeof(text)));
}

static void job_after_state(struct job *job)
{
	const char *target = job->state_target;

	job->state_target = NULL;
	if (job->state == JOB_FAILED) {
		job_exit(job, job->exit_code);
		return;
	}
	if (strcmp(target, "stopped") == 0) {
		job_set_state(job, JOB_STOPPED);
		log_info("stopped at %s after %" PRId64 " rows in %" PRId64
			 " batches; run again to resume",
			 job->cursor_json ? job->cursor_json : "the start", job->rows_done,
			 job->batches_done);
		job_exit(job, 0);
		return;
	}
	if (strcmp(target, "paused") == 0) {
		if (!job->pause_requested || job->stop_requested) {
			/* resumed or stopped while the pause was being recorded */
			if (job->stop_requested)
				job_next_batch(job);
			else
				job_write_state(job, "running", NULL);
			return;
		}
		job_set_state(job, JOB_PAUSED);
		log_info("paused after %" PRId64 " batches", job->batches_done);
		return;
	}
	if (strcmp(target, "throttled") == 0) {
		/* released, or stopped or paused, while this was being written */
		if (!throttle_engaged(job->thr) || job->stop_requested || job->pause_requested)
			job_next_batch(job);
		else
			job->waiting = 1;
		return;
	}
	/* "running": resumed from a pause or released by the throttle */
	if (job->state == JOB_PAUSED)
		log_info("resumed");
	job_set_state(job, JOB_RUNNING);
	job_next_batch(job);
}

/* The throttle's decision changed, or its first samples came in: a waiting job moves
 * on, or records why it waits. */
static void job_throttle_changed(struct throttle *t, int engaged, void *arg)
{
	struct job *job = arg;

	if (job->awaiting_throttle && !db_busy(job->db)) {
		job_next_batch(job); /* the first samples are in */
		return;
	}
	if (job->state != JOB_THROTTLED || !job->waiting || db_busy(job->db))
		return; /* the next batch boundary looks at the throttle anyway */
	job->waiting = 0;
	if (engaged)
		job_write_throttled(job);
	else
		job_next_batch(job);
}

/* A checkpoint state that a live daemon leaves in its row (older versions wrote
 * "throttled" there too). */
static int job_row_live(const char *state)
{
	return state && (!strcmp(state, "running") || !strcmp(state, "paused") ||
			 !strcmp(state, "throttled"));
}

static void job_db_cb(const struct db_result *res, void *arg)
{
	struct job *job = arg;
	enum step step = job->step;

	job->step = STEP_NONE;
	if (in_batch(step))
		job->step_done[step - STEP_BEGIN] = mono_now();
	/* STEP_OWNER reads who holds the lock: its failure is a finding, handled below */
	if (res->error != DB_OK && step != STEP_OWNER) {
		job_on_error(job, step, res);
		return;
	}
	switch (step) {
	case STEP_CONNECT:
		if (!job->sql) {
			char err[256];

			job->sql = sql_new(job->cfg, job->db, job->opt.mode == JOB_MODE_ROLLBACK,
					   err, sizeof(err));
			if (!job->sql) {
				job_fail(job, 1, "%s", err);
				return;
			}
			job->q_update_first = sql_update(job->sql, 1);
			job->q_update_next = sql_update(job->sql, 0);
			job->q_advance = checkpoint_sql_advance(job->sql);
			job->q_begin = sql_begin(job->sql, job->cfg->batch.lock_timeout_ms,
						 job->cfg->batch.statement_timeout_ms);
			if (!job->q_update_first || !job->q_update_next || !job->q_advance ||
			    !job->q_begin) {
				job_fail(job, 1, "out of memory building a statement");
				return;
			}
		}
		if (job->connected_once) {
			job_send_lock(job);
			return;
		}
		if (job->opt.mode == JOB_MODE_VERIFY) {
			job_send(job, STEP_READ_ONLY, sql_read_only(job->sql), 0, NULL);
			return;
		}
		log_info("connected; checking table %s", job->sql->table_name);
		job_send_columns(job);
		return;
	case STEP_READ_ONLY:
		log_info("connected, read only; checking table %s", job->sql->table_name);
		job_send_columns(job);
		return;
	case STEP_COLUMNS: job_after_columns(job, res); return;
	case STEP_EXPLAIN: job_send_lock(job); return;
	case STEP_LOCK:
		if (res->nrows < 1 || !db_value(res, 0, 0) ||
		    strcmp(db_value(res, 0, 0), "1") != 0) {
			/* after a reconnect too: the holder may be this daemon's previous
			 * session, which the server has not ended yet (MariaDB rolls a killed
			 * session's batch back before it releases GET_LOCK; a session cut
			 * off by the network lingers): the owner column tells */
			job_send_load(job, STEP_OWNER, job->name);
			return;
		}
		if (job->connected_once) {
			job_send_load(job, STEP_LOAD, job->name);
			return;
		}
		job_send_owned(job, STEP_CREATE, checkpoint_sql_create(job->sql), 0, NULL);
		return;
	case STEP_OWNER: {
		struct checkpoint_row row = { 0 };
		int ok = res->error == DB_OK && checkpoint_row_parse(res, &row) == 0;

		if (job->connected_once && res->error == DB_ERR_CONNECTION) {
			job_reconnect(job, res->message);
			return;
		}
		if (job->connected_once && ok && row.owner && strcmp(row.owner, job->owner) == 0) {
			/* nobody else has resumed the job: wait for the server to end
			 * our old session, with the reconnect backoff */
			checkpoint_row_clear(&row);
			job_reconnect(job, "the job's lock is still held by this daemon's previous "
					   "session");
			return;
		}
		/* the lock is the forward job's, which its rollback shares: a rollback held
		 * back by a live forward run (or the reverse) names that one's row */
		if (!job->connected_once && !job->owner_other && strcmp(job->name, job->cfg->job) &&
		    !(ok && row.owner && job_row_live(row.state))) {
			checkpoint_row_clear(&row);
			job->owner_other = 1;
			job_send_load(job, STEP_OWNER, job->cfg->job);
			return;
		}
		if (job->connected_once)
			job_fail(job, 1,
				 "after reconnecting, job %s is held by another instance "
				 "(owner %s); exiting",
				 job->name, ok && row.owner ? row.owner : "unknown");
		else if (job->owner_other)
			job_fail(job, 1,
				 "job %s is running (owner %s, state %s); its rollback %s waits "
				 "until it ends: refusing to start",
				 job->cfg->job, ok && row.owner ? row.owner : "unknown",
				 ok ? row.state : "unknown", job->name);
		else
			job_fail(job, 1,
				 "job %s is already running (owner %s, state %s); refusing "
				 "to start a second instance",
				 job->name, ok && row.owner ? row.owner : "unknown",
				 ok ? row.state : "unknown");
		checkpoint_row_clear(&row);
		return;
	}
	case STEP_CREATE: job_send_load(job, STEP_LOAD, job->name); return;
	case STEP_LOAD:
		if (job->opt.mode == JOB_MODE_VERIFY) {
			struct checkpoint_row row;

			if (checkpoint_row_parse(res, &row) == 0) {
				if (strcmp(row.config_hash, job->hash) != 0)
					log_warn("checkpoint of job %s was written for another "
						 "config; verifying up to its high-water mark "
						 "anyway",
						 job->name);
				if (key_from_json(&job->high, row.high_water, job->cfg->nkey) < 0) {
					checkpoint_row_clear(&row);
					job_fail(job, 1, "unreadable high_water in the checkpoint");
					return;
				}
				checkpoint_row_clear(&row);
				job_verify_start(job);
				return;
			}
			job_send_high_water(job);
			return;
		}
		job_after_load(job, res);
		return;
	case STEP_DELETE: job_take_range(job); return;
	case STEP_FORWARD: job_after_forward(job, res); return;
	case STEP_HIGH_WATER:
		if (job->opt.mode == JOB_MODE_VERIFY) {
			if (res->nrows > 0 &&
			    key_from_row(&job->high, res, 0, job->cfg->nkey) < 0) {
				job_fail(job, 1, "the key of table %s has NULL values",
					 job->sql->table_name);
				return;
			}
			log_info("no checkpoint for job %s: verifying the whole table", job->name);
			job_verify_start(job);
			return;
		}
		job_after_high_water(job, res);
		return;
	case STEP_INSERT:
		job->have_row = 1;
		/* fallthrough */
	case STEP_RESUME:
		if (job->connected_once) {
			job_begin_running(job);
			return;
		}
		job_send_lowest(job);
		return;
	case STEP_LOWEST:
		if (res->nrows > 0)
			(void)key_from_row(&job->low, res, 0, job->cfg->nkey);
		job_send_estimate(job);
		return;
	case STEP_ESTIMATE:
		job->estimate = res->nrows > 0 && db_value(res, 0, 0)
					? strtoll(db_value(res, 0, 0), NULL, 10)
					: 0;
		job_begin_running(job);
		return;
	case STEP_BEGIN: job_send_bound(job); return;
	case STEP_BOUND: job_after_bound(job, res); return;
	case STEP_UPDATE: job_after_update(job, res); return;
	case STEP_ADVANCE:
		if (res->affected != 1) {
			char msg[256];

			snprintf(msg, sizeof(msg), "checkpoint row of job %s is missing",
				 job->name);
			job_abort_batch(job, DB_ERR_OTHER, "", msg);
			return;
		}
		job_send_lock_sample(job);
		return;
	case STEP_LOCK_SAMPLE:
		job->waiters = throttle_batch_sample(job->thr, res);
		job_send(job, STEP_COMMIT, "COMMIT", 0, NULL);
		return;
	case STEP_COMMIT:
		if (job->thr)
			throttle_batch_running(job->thr, 0);
		job_after_commit(job);
		return;
	case STEP_ROLLBACK: job_after_rollback(job); return;
	case STEP_STATE: job_after_state(job); return;
	case STEP_FINISH:
		job_set_state(job, JOB_DONE);
		log_info("done: %" PRId64 " rows in %" PRId64 " batches, %.1fs", job->rows_done,
			 job->batches_done, mono_now() - job->t_start);
		ev_timer_stop(job->loop, &job->progress);
		job_verify_start(job);
		return;
	case STEP_VERIFY_BOUND: job_verify_after_bound(job, res); return;
	case STEP_VERIFY_COUNT: job_verify_after_count(job, res); return;
	case STEP_VERIFY_SAMPLE: job_verify_after_sample(job, res); return;
	case STEP_NONE: return;
	}
}

/* --- public ------------------------------------------------------------------------------------ */

struct job *job_new(struct ev_loop *loop, const struct config *cfg, const struct job_options *opt)
{
	struct job *job = calloc(1, sizeof(*job));
	char host[256] = "localhost";

	if (!job)
		return NULL;
	job->loop = loop;
	job->cfg = cfg;
	job->opt = *opt;
	job->exit_code = 1;
	job->last_batch_ms = -1;
	job->started_wall = time(NULL);
	snprintf(job->name, sizeof(job->name), "%s%s", cfg->job,
		 opt->mode == JOB_MODE_ROLLBACK ? ":rollback" : "");
	snprintf(job->lock_name, sizeof(job->lock_name), "backfilld:%s", cfg->job);
	gethostname(host, sizeof(host) - 1);
	snprintf(job->owner, sizeof(job->owner), "%s:%ld", host, (long)getpid());
	config_hash(cfg, job->hash);
	batchsize_init(&job->bs, cfg->batch.size, cfg->batch.min_size, cfg->batch.max_size,
		       cfg->batch.target_time_ms);
	if (cfg->driver == CONFIG_DRIVER_POSTGRES) {
		char app[160];

		snprintf(app, sizeof(app), "backfilld %s", cfg->job);
		job->db = db_new_postgres(loop, &cfg->db, app);
	} else {
		job->db = db_new_mysql(loop, &cfg->db);
	}
	if (!job->db) {
		free(job);
		return NULL;
	}
	if (opt->mode != JOB_MODE_VERIFY) {
		job->thr = throttle_new(loop, cfg, job->name, job_throttle_changed, job);
		if (!job->thr) {
			db_free(job->db);
			free(job);
			return NULL;
		}
	}
	ev_init(&job->wait, job_wait_cb);
	job->wait.data = job;
	ev_init(&job->progress, job_progress_cb);
	job->progress.data = job;
	srand((unsigned)(getpid() ^ time(NULL)));
	return job;
}

void job_free(struct job *job)
{
	if (!job)
		return;
	ev_timer_stop(job->loop, &job->wait);
	ev_timer_stop(job->loop, &job->progress);
	throttle_free(job->thr);
	db_free(job->db);
	sql_free(job->sql);
	key_clear(&job->cursor);
	key_clear(&job->high);
	key_clear(&job->low);
	key_clear(&job->upper);
	key_clear(&job->vcursor);
	strbuf_free(&job->sample[0]);
	strbuf_free(&job->sample[1]);
	db_result_clear(&job->saved_error);
	free(job->cursor_json);
	free(job->high_json);
	free(job->upper_json);
	free(job->q_update_first);
	free(job->q_update_next);
	free(job->q_advance);
	free(job->q_begin);
	free(job);
}

int job_start(struct job *job)
{
	job->t_start = mono_now();
	job->state = JOB_STARTING;
	log_info("starting job %s on table %s%s%s (%s)", job->name,
		 job->cfg->table.schema ? job->cfg->table.schema : "",
		 job->cfg->table.schema ? "." : "", job->cfg->table.name,
		 job->opt.mode == JOB_MODE_VERIFY     ? "verify"
		 : job->opt.mode == JOB_MODE_ROLLBACK ? "rollback"
						      : "run");
	job_connect(job);
	return 0;
}

int job_exit_code(const struct job *job)
{
	return job->exit_code;
}

enum job_state job_state(const struct job *job)
{
	return job->state;
}

void job_request_stop(struct job *job)
{
	if (job->stop_requested)
		return;
	job->stop_requested = 1;
	if (job->opt.mode == JOB_MODE_VERIFY) {
		/* read only: nothing to wind down, but no verdict either, and exit 0 would
		 * say "nothing pending, nothing diverged" */
		log_warn("stop requested: verify ends without a verdict");
		job_exit(job, 1);
		return;
	}
	if (!job->connected_once) {
		/* nothing committed by this run yet: nothing to wind down */
		log_info("stop requested: exiting");
		job_exit(job, 0);
		return;
	}
	log_info("stop requested: letting the batch in flight commit");
	if (job->state == JOB_RECONNECTING) {
		/* a connect in flight sees stop_requested when it completes */
		if (!db_busy(job->db))
			job_reconnect(job, "stop requested");
		return;
	}
	if (job->waiting || (job->state == JOB_PAUSED && !db_busy(job->db))) {
		ev_timer_stop(job->loop, &job->wait);
		job_next_batch(job);
	}
}

void job_request_pause(struct job *job, int pause)
{
	if (job->pause_requested == pause)
		return;
	job->pause_requested = pause;
	log_info("%s requested", pause ? "pause" : "resume");
	if (pause && job->waiting && (job->state == JOB_RUNNING || job->state == JOB_THROTTLED)) {
		ev_timer_stop(job->loop, &job->wait);
		job_next_batch(job);
	} else if (!pause && job->state == JOB_PAUSED && !db_busy(job->db)) {
		job_write_state(job, "running", NULL);
	}
}

int job_reload(struct job *job, const struct config *cfg, char *err, size_t errlen)
{
	char hash[17];

	config_hash(cfg, hash);
	if (strcmp(hash, job->hash) != 0 || strcmp(cfg->job, job->cfg->job) != 0 ||
	    cfg->driver != job->cfg->driver) {
		snprintf(err, errlen,
			 "job, driver, table, key, set or where changed: refused "
			 "(stop the job and start it with --reset to change them)");
		return -EINVAL;
	}
	if (job->sql) {
		char *begin = sql_begin(job->sql, cfg->batch.lock_timeout_ms,
					cfg->batch.statement_timeout_ms);

		if (!begin) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		free(job->q_begin);
		job->q_begin = begin;
	}
	job->cfg = cfg;
	batchsize_limits(&job->bs, cfg->batch.min_size, cfg->batch.max_size,
			 cfg->batch.target_time_ms);
	if (job->thr)
		throttle_reload(job->thr, cfg);
	log_set_level((enum log_level)cfg->log.level);
	log_set_json(cfg->log.format == CONFIG_LOG_JSON);
	return 0;
}

void job_set_hook(struct job *job, job_state_hook hook, void *arg)
{
	job->hook = hook;
	job->hook_arg = arg;
}

void job_set_batch_size(struct job *job, int64_t size)
{
	batchsize_init(&job->bs, size, job->cfg->batch.min_size, job->cfg->batch.max_size,
		       job->cfg->batch.target_time_ms);
	log_info("batch size set to %" PRId64, job->bs.size);
}

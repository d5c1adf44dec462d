/* throttle.c - health signals to a decision: may the next batch run? */
#include "backfilld/throttle.h"
#include "backfilld/config.h"
#include "backfilld/db.h"
#include "backfilld/log.h"
#include "backfilld/sql.h"

#include <errno.h>
#include <ev.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#define RECONNECT_MIN 0.2
#define RECONNECT_MAX 10.0
#define ERRLEN 1100 /* a driver message and some words around it */

/* One of the throttle's connections: to the primary (heartbeat writer, probe) or
 * to a replica. Each reconnects by itself with a backoff. */
struct tconn {
	struct throttle *t;
	struct db *db;
	char name[160]; /* where, for messages: host:port */
	int up, connecting, busy;
	double retry_at, backoff;
	char error[ERRLEN]; /* why it is down or the last read failed; "" if fine */
	/* heartbeat statements: the writer's CREATE and upsert, a replica's read;
	 * built once (tconn_statements) */
	char *create, *stmt;
	int ready; /* heartbeat table created (writer) */
	/* replicas: the last heartbeat read */
	int have_value;
	int64_t hb_us;
	int step;	/* probe: which signal is being sampled */
	int locks_only; /* probe: this round samples lock waits alone */
};

struct throttle {
	struct ev_loop *loop;
	const struct config *cfg;
	char job[128];
	throttle_changed cb;
	void *arg;
	char own_session[32]; /* the batch connection's id, as the lock sample's parameter */
	int running;
	enum db_dialect dialect;

	struct tconn writer, probe;
	int probe_rounds; /* full rounds of the probe's samples done */
	int ready_told;	  /* the callback has heard that the first round is in */
	struct tconn *replicas;
	size_t nreplicas;
	ev_timer hb_timer, check_timer, locks_timer;

	/* the probe's last samples; *_err non-empty when the sample failed */
	int64_t lock_waits;
	int64_t behind_us; /* of those, waiting on the daemon's batch; -1 unknown */
	int locks_known;
	/* when a sample last saw sessions behind the batch (or the start: contended
	 * until shown otherwise) */
	double behind_seen;
	int behind_ever;    /* a sample has seen a session behind the batch */
	int quiet;	    /* lock samples in a row that saw no other session running */
	int quiet_ended;    /* they ended the start's presumption early */
	double quiet_since; /* when the first of them was read */
	double trx_read_at; /* MySQL: when a read of InnoDB's lock views last ended */
	double batch_since; /* when the batch in flight began; 0 between batches */
	char locks_err[ERRLEN];
	int64_t active;
	int active_known;
	char active_err[ERRLEN];
	double query_value;
	int query_known;
	char query_err[ERRLEN];
	double fallback_ms;
	int fallback_known;
	char fallback_src[160];
	char fallback_err[ERRLEN];

	/* the decision */
	char reasons[THROTTLE_MAX_REASONS][ERRLEN + 200];
	char reason_keys[THROTTLE_MAX_REASONS][200]; /* what, not how much: for the log */
	int reason_kind[THROTTLE_MAX_REASONS];
	size_t nreasons;
	int engaged;
	double engaged_since;
	double last_decision;
	double seconds[THROTTLE_NKINDS];
	double lag_ms;
	char lag_src[200];
};

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The daemon's own clock, as written into the heartbeat and compared on reading:
 * one clock, so no skew between hosts enters the lag. */
static int64_t wall_us(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

const char *throttle_kind_name(enum throttle_kind k)
{
	static const char *const names[] = { "replication_lag", "lock_waits", "active_sessions",
					     "query", "window" };

	return k < THROTTLE_NKINDS ? names[k] : "unknown";
}

int throttle_in_window(int start_min, int end_min, int m)
{
	if (start_min == end_min)
		return 1;
	if (start_min < end_min)
		return m >= start_min && m < end_min;
	return m >= start_min || m < end_min; /* crosses midnight */
}

static int lag_enabled(const struct throttle *t)
{
	return t->cfg->throttle.max_replication_lag_ms > 0;
}

static int probe_needed(const struct throttle *t)
{
	const struct config *c = t->cfg;

	return c->throttle.max_lock_waits > 0 || c->throttle.max_active > 0 ||
	       (c->throttle.query && *c->throttle.query) || (lag_enabled(t) && t->nreplicas == 0);
}

/* --- decision ------------------------------------------------------------------ */

/* A reason: key names what holds (kind and where), the text says how much. A new
 * number alone is no new decision: the log shows each change of keys once. */
static void add_reason(struct throttle *t, enum throttle_kind k, const char *key, const char *fmt,
		       ...) __attribute__((format(printf, 4, 5)));
static void add_reason(struct throttle *t, enum throttle_kind k, const char *key, const char *fmt,
		       ...)
{
	va_list ap;

	if (t->nreasons == THROTTLE_MAX_REASONS)
		return;
	snprintf(t->reason_keys[t->nreasons], sizeof(t->reason_keys[0]), "%s:%s",
		 throttle_kind_name(k), key);
	va_start(ap, fmt);
	vsnprintf(t->reasons[t->nreasons], sizeof(t->reasons[0]), fmt, ap);
	va_end(ap);
	t->reason_kind[t->nreasons++] = (int)k;
}

static void fmt_seconds(double ms, char *buf, size_t len)
{
	snprintf(buf, len, "%.2fs", ms / 1000.0);
}

/* Adds the time since the last decision to seconds[], once for each kind of
 * reason that held since then. */
static void add_held(const struct throttle *t, double now, double *seconds)
{
	int counted[THROTTLE_NKINDS] = { 0 };

	if (t->last_decision <= 0 || !t->engaged)
		return;
	for (size_t i = 0; i < t->nreasons; i++)
		if (!counted[t->reason_kind[i]]++)
			seconds[t->reason_kind[i]] += now - t->last_decision;
}

static void decide(struct throttle *t)
{
	const struct config *c = t->cfg;
	char before[THROTTLE_MAX_REASONS * (ERRLEN + 210)] = "", after[sizeof(before)] = "";
	double now = mono_now();
	int was = t->engaged, newly_ready;
	size_t o = 0;

	/* time accounting for what held until now */
	add_held(t, now, t->seconds);
	t->last_decision = now;
	for (size_t i = 0; i < t->nreasons && o < sizeof(before); i++)
		o += (size_t)snprintf(before + o, sizeof(before) - o, "%s; ", t->reason_keys[i]);
	t->nreasons = 0;
	t->lag_ms = -1;
	t->lag_src[0] = '\0';

	if (c->throttle.window && *c->throttle.window) {
		time_t wall = time(NULL);
		struct tm tm;

		localtime_r(&wall, &tm);
		if (!throttle_in_window(c->throttle.window_start_min, c->throttle.window_end_min,
					tm.tm_hour * 60 + tm.tm_min))
			add_reason(t, THROTTLE_WINDOW, "", "outside window %s", c->throttle.window);
	}
	if (lag_enabled(t)) {
		double max = (double)c->throttle.max_replication_lag_ms, worst = -1;
		const char *worst_name = NULL;
		char a[32], b[32];
		int64_t now_us = wall_us();

		for (size_t i = 0; i < t->nreplicas; i++) {
			struct tconn *r = &t->replicas[i];
			double lag;

			char key[200];

			if (!r->up) {
				snprintf(key, sizeof(key), "%s unreachable%s", r->name,
					 r->error[0] ? "" : " yet");
				if (r->error[0])
					add_reason(t, THROTTLE_LAG, key,
						   "replica %s unreachable: %s", r->name, r->error);
				else
					add_reason(t, THROTTLE_LAG, key, "replica %s: connecting",
						   r->name);
				continue;
			}
			if (!r->have_value) {
				snprintf(key, sizeof(key), "%s unread", r->name);
				add_reason(t, THROTTLE_LAG, key, "replica %s: %s", r->name,
					   r->error[0] ? r->error : "no heartbeat read yet");
				continue;
			}
			lag = (double)(now_us - r->hb_us) / 1000.0;
			if (lag < 0)
				lag = 0;
			if (lag > worst) {
				worst = lag;
				worst_name = r->name;
			}
		}
		if (t->nreplicas == 0) {
			if (t->fallback_err[0])
				add_reason(t, THROTTLE_LAG, "unknown",
					   "replication_lag unknown: %s", t->fallback_err);
			else if (t->fallback_known) {
				worst = t->fallback_ms;
				worst_name = t->fallback_src;
			}
		}
		if (worst >= 0) {
			t->lag_ms = worst;
			snprintf(t->lag_src, sizeof(t->lag_src), "%s%s",
				 t->nreplicas ? "heartbeat on " : "", worst_name);
			if (worst > max) {
				fmt_seconds(worst, a, sizeof(a));
				fmt_seconds(max, b, sizeof(b));
				add_reason(t, THROTTLE_LAG, worst_name,
					   "replication_lag %s > %s on %s", a, b, worst_name);
			}
		}
	}
	if (c->throttle.max_lock_waits > 0) {
		if (t->locks_err[0])
			add_reason(t, THROTTLE_LOCKS, "unknown", "lock_waits unknown: %s",
				   t->locks_err);
		else if (t->locks_known && t->lock_waits > c->throttle.max_lock_waits &&
			 t->behind_us >= 0)
			add_reason(t, THROTTLE_LOCKS, "",
				   "lock_waits %" PRId64 " > %" PRId64 " (%" PRId64
				   " behind backfilld)",
				   t->lock_waits, c->throttle.max_lock_waits, t->behind_us);
		else if (t->locks_known && t->lock_waits > c->throttle.max_lock_waits)
			add_reason(t, THROTTLE_LOCKS, "", "lock_waits %" PRId64 " > %" PRId64,
				   t->lock_waits, c->throttle.max_lock_waits);
	}
	if (c->throttle.max_active > 0) {
		if (t->active_err[0])
			add_reason(t, THROTTLE_ACTIVE, "unknown", "active_sessions unknown: %s",
				   t->active_err);
		else if (t->active_known && t->active > c->throttle.max_active)
			add_reason(t, THROTTLE_ACTIVE, "", "active_sessions %" PRId64 " > %" PRId64,
				   t->active, c->throttle.max_active);
	}
	if (c->throttle.query && *c->throttle.query) {
		if (t->query_err[0])
			add_reason(t, THROTTLE_QUERY, "failed", "throttle.query failed: %s",
				   t->query_err);
		else if (t->query_known && t->query_value > c->throttle.query_max)
			add_reason(t, THROTTLE_QUERY, "", "throttle.query %g > %g", t->query_value,
				   c->throttle.query_max);
	}
	if ((t->probe.error[0] && !t->probe.up) && probe_needed(t))
		add_reason(t, THROTTLE_LOCKS, "probe", "primary probe unreachable: %s",
			   t->probe.error);

	o = 0;
	for (size_t i = 0; i < t->nreasons && o < sizeof(after); i++)
		o += (size_t)snprintf(after + o, sizeof(after) - o, "%s; ", t->reason_keys[i]);
	t->engaged = t->nreasons > 0;
	if (t->engaged && !was)
		t->engaged_since = now;
	newly_ready = !t->ready_told && throttle_ready(t);
	t->ready_told |= newly_ready;
	if (strcmp(before, after) == 0 && !newly_ready)
		return;
	if (strcmp(before, after) == 0) {
		/* the first samples are in and hold nothing back: no change to log */
	} else if (t->engaged) {
		char text[sizeof(before)];

		throttle_reasons_text(t, text, sizeof(text));
		log_warn("throttled: %s", text);
	} else {
		log_info("throttle released after %.1fs", now - t->engaged_since);
	}
	if (t->cb)
		t->cb(t, t->engaged, t->arg);
}

/* --- connections ------------------------------------------------------------------ */

static void tconn_down(struct tconn *c, const char *why)
{
	struct throttle *t = c->t;

	if (c->up || !c->error[0] || strcmp(c->error, why) != 0)
		log_warn("throttle: %s %s: %s; reconnecting",
			 c == &t->writer  ? "heartbeat writer on"
			 : c == &t->probe ? "probe on"
					  : "replica",
			 c->name, why);
	snprintf(c->error, sizeof(c->error), "%s", why);
	db_close(c->db);
	c->up = c->connecting = c->busy = 0;
	c->ready = 0;
	c->backoff = c->backoff <= 0 ? RECONNECT_MIN : c->backoff * 2;
	if (c->backoff > RECONNECT_MAX)
		c->backoff = RECONNECT_MAX;
	c->retry_at = mono_now() + c->backoff;
}

static void tconn_connected(const struct db_result *res, void *arg);

static void tconn_connect(struct tconn *c)
{
	if (c->up || c->connecting || mono_now() < c->retry_at)
		return;
	c->connecting = 1;
	if (db_connect(c->db, tconn_connected, c) < 0)
		c->connecting = 0;
}

/* The heartbeat statements this connection sends, quoted for it and built once;
 * the probe sends none. */
static int tconn_statements(struct tconn *c)
{
	struct throttle *t = c->t;
	char *table;

	if (c->stmt || c == &t->probe)
		return 0;
	table = sql_quoted_name(c->db, t->cfg->checkpoint_table.schema, SQL_HEARTBEAT_TABLE);
	if (table && c == &t->writer) {
		c->create = sql_heartbeat_create(t->dialect, table);
		c->stmt = sql_heartbeat_write(t->dialect, table);
	} else if (table) {
		c->stmt = sql_heartbeat_read(t->dialect, table);
	}
	free(table);
	if (!c->stmt || (c == &t->writer && !c->create)) {
		free(c->create);
		free(c->stmt);
		c->create = c->stmt = NULL;
		return -ENOMEM;
	}
	return 0;
}

static void replica_read(struct tconn *c);
static void probe_next(struct tconn *c);
static void writer_beat(struct tconn *c);

static void tconn_connected(const struct db_result *res, void *arg)
{
	struct tconn *c = arg;
	struct throttle *t = c->t;

	c->connecting = 0;
	if (res->error != DB_OK) {
		tconn_down(c, res->message);
		decide(t);
		return;
	}
	if (c->error[0])
		log_info("throttle: %s reconnected", c->name);
	c->up = 1;
	c->error[0] = '\0';
	c->backoff = 0;
	if (tconn_statements(c) < 0) {
		tconn_down(c, "out of memory");
		return;
	}
	if (c == &t->writer)
		writer_beat(c);
	else if (c == &t->probe)
		probe_next(c);
	else
		replica_read(c);
}

/* --- the heartbeat writer ---------------------------------------------------------------- */

static void writer_done(const struct db_result *res, void *arg)
{
	struct tconn *c = arg;

	c->busy = 0;
	if (res->error == DB_ERR_CONNECTION) {
		tconn_down(c, res->message);
		return;
	}
	if (res->error != DB_OK) {
		/* replicas will see the heartbeat age, and throttle: say why */
		if (strcmp(c->error, res->message) != 0)
			log_warn("throttle: cannot write the heartbeat on %s: %s", c->name,
				 res->message);
		snprintf(c->error, sizeof(c->error), "%s", res->message);
		return;
	}
	c->error[0] = '\0';
	if (!c->ready) {
		c->ready = 1;
		writer_beat(c);
	}
}

static void writer_beat(struct tconn *c)
{
	struct throttle *t = c->t;
	char us[32];
	const char *params[2] = { t->job, us };

	if (!c->up || c->busy)
		return;
	snprintf(us, sizeof(us), "%" PRId64, wall_us());
	c->busy = 1;
	if (db_query(c->db, c->ready ? c->stmt : c->create, c->ready ? 2 : 0, params, writer_done,
		     c) < 0)
		c->busy = 0;
}

/* --- replicas -------------------------------------------------------------------------------- */

static void replica_done(const struct db_result *res, void *arg)
{
	struct tconn *c = arg;

	c->busy = 0;
	if (res->error == DB_ERR_CONNECTION) {
		tconn_down(c, res->message);
	} else if (res->error != DB_OK) {
		/* e.g. the heartbeat table not replicated yet: no reading, fail closed */
		snprintf(c->error, sizeof(c->error), "cannot read the heartbeat: %s", res->message);
	} else if (res->nrows < 1 || !db_value(res, 0, 0)) {
		snprintf(c->error, sizeof(c->error), "no heartbeat replicated yet");
	} else {
		c->hb_us = strtoll(db_value(res, 0, 0), NULL, 10);
		c->have_value = 1;
		c->error[0] = '\0';
	}
	decide(c->t);
}

static void replica_read(struct tconn *c)
{
	const char *params[1] = { c->t->job };

	if (!c->up || c->busy)
		return;
	c->busy = 1;
	if (db_query(c->db, c->stmt, 1, params, replica_done, c) < 0)
		c->busy = 0;
}

/* --- the probe: one sample per signal and interval ---------------------------------------------- */

enum probe_step { PROBE_LOCKS, PROBE_ACTIVE, PROBE_QUERY, PROBE_LAG, PROBE_DONE };

/* The start's presumption of contention ends early when nobody could wait on the
 * batches: THROTTLE_QUIET_SAMPLES lock samples in a row, over THROTTLE_QUIET_TIME
 * at least (the batches' samples come faster than the probe's), saw nobody
 * waiting and no other session running a statement in the job's database (on
 * MariaDB, nor one without a default database, which may write to any). Where
 * anything runs, the presumption lasts its full THROTTLE_CONTENDED_START seconds.
 * others: the sample's count of other running sessions (NULL where the server's
 * lock query has none). */
static void start_quiet(struct throttle *t, const char *others)
{
	double now = mono_now();

	if (t->behind_ever || now - t->behind_seen >= THROTTLE_CONTENDED_HOLD)
		return; /* not the start's presumption */
	if (!others || t->lock_waits != 0 || strtoll(others, NULL, 10) != 0) {
		t->quiet = 0;
		return;
	}
	if (t->quiet++ == 0)
		t->quiet_since = now;
	if (t->quiet >= THROTTLE_QUIET_SAMPLES && now - t->quiet_since >= THROTTLE_QUIET_TIME) {
		t->behind_seen = now - THROTTLE_CONTENDED_HOLD;
		t->quiet_ended = 1;
	}
}

/* InnoDB fills INNODB_TRX and INNODB_LOCK_WAITS from a cache that it refreshes only
 * once nobody has read it for THROTTLE_TRX_VIEWS_IDLE: reads closer together than
 * that see the old snapshot and keep it old, however long they go on. The lock
 * sample and the batches' counts are spaced so that each reads a fresh one (our
 * clock's "ended" is after the server's, so the gap measured here is the smaller).
 * PostgreSQL's views are live. */
static int trx_views_fresh(const struct throttle *t)
{
	return t->dialect != DB_DIALECT_MYSQL ||
	       mono_now() - t->trx_read_at > THROTTLE_TRX_VIEWS_IDLE;
}

/* On MySQL the probe leaves the lock views to the batch in flight, whose sample
 * before its commit would otherwise find them read too recently; for the first
 * THROTTLE_BATCH_SAMPLES_ALONE seconds of a batch only (the max_lock_waits pause
 * waits that long at most). */
static int probe_samples_locks(const struct throttle *t)
{
	double now = mono_now();

	if (t->dialect == DB_DIALECT_MYSQL && t->batch_since > 0 &&
	    now - t->batch_since < THROTTLE_BATCH_SAMPLES_ALONE)
		return 0;
	return trx_views_fresh(t);
}

/* A lock sample (sql_lock_waits) read: by the probe, or by a batch before its
 * commit. Returns the sessions waiting behind the batch; -1 when not known. */
static int64_t lock_sample(struct throttle *t, const struct db_result *res)
{
	const char *v = db_value(res, 0, 0), *b = db_value(res, 0, 1);

	t->trx_read_at = mono_now();
	t->locks_known = res->error == DB_OK && v;
	if (!t->locks_known)
		return -1;
	t->lock_waits = strtoll(v, NULL, 10);
	t->behind_us = b ? strtoll(b, NULL, 10) : -1;
	if (t->behind_us > 0) {
		t->behind_seen = mono_now();
		t->behind_ever = 1;
	}
	start_quiet(t, db_value(res, 0, 2));
	return t->behind_us;
}

static void probe_done(const struct db_result *res, void *arg)
{
	struct tconn *c = arg;
	struct throttle *t = c->t;
	const char *v = db_value(res, 0, 0);
	const char *why = NULL; /* the read worked but gave no usable value */
	char *err = NULL, whybuf[64];

	c->busy = 0;
	if (res->error == DB_ERR_CONNECTION) {
		tconn_down(c, res->message);
		decide(t);
		return;
	}
	switch (c->step) {
	case PROBE_LOCKS:
		err = t->locks_err;
		lock_sample(t, res);
		break;
	case PROBE_ACTIVE:
		err = t->active_err;
		t->active_known = res->error == DB_OK && v;
		if (t->active_known)
			t->active = strtoll(v, NULL, 10);
		break;
	case PROBE_QUERY: {
		char *end = NULL;

		err = t->query_err;
		t->query_known = 0;
		if (res->error != DB_OK)
			break;
		if (!v) {
			why = "no number returned";
			break;
		}
		t->query_value = strtod(v, &end);
		t->query_known = end && end != v;
		if (!t->query_known) {
			snprintf(whybuf, sizeof(whybuf), "not a number: \"%.40s\"", v);
			why = whybuf;
		}
		break;
	}
	case PROBE_LAG:
		err = t->fallback_err;
		t->fallback_known = 0;
		if (res->error != DB_OK)
			break;
		if (t->dialect == DB_DIALECT_POSTGRES) {
			long n = v ? strtol(v, NULL, 10) : 0;

			if (n > 0) {
				t->fallback_ms = strtod(db_value(res, 0, 1), NULL);
				snprintf(t->fallback_src, sizeof(t->fallback_src),
					 "pg_stat_replication (%s bytes behind)",
					 db_value(res, 0, 2));
				t->fallback_known = 1;
			}
		} else if (res->nrows > 0) {
			/* SHOW REPLICA STATUS of MySQL 8.0.22 and later: Seconds_Behind_Source */
			const char *name = "Seconds_Behind_Source";
			int col = db_column(res, name);
			const char *sbm;

			if (col < 0) {
				name = "Seconds_Behind_Master";
				col = db_column(res, name);
			}
			sbm = col >= 0 ? db_value(res, 0, col) : NULL;
			if (!sbm) {
				/* NULL with the SQL thread stopped: not "no lag" */
				snprintf(whybuf, sizeof(whybuf),
					 "%s is NULL (replication stopped?)", name);
				why = whybuf;
				break;
			}
			t->fallback_ms = strtod(sbm, NULL) * 1000.0;
			snprintf(t->fallback_src, sizeof(t->fallback_src), "%s", name);
			t->fallback_known = 1;
		}
		break;
	}
	if (err)
		snprintf(err, ERRLEN, "%s", res->error != DB_OK ? res->message : why ? why : "");
	c->step++;
	probe_next(c);
}

static void probe_next(struct tconn *c)
{
	struct throttle *t = c->t;
	const struct config *cfg = t->cfg;
	const char *params[1] = { t->own_session };

	if (!c->up || c->busy)
		return;
	if (c->locks_only && c->step > PROBE_LOCKS)
		c->step = PROBE_DONE;
	for (; c->step < PROBE_DONE; c->step++) {
		const char *sql = NULL;
		int n = 0;

		switch (c->step) {
		case PROBE_LOCKS:
			/* a sample too soon after the last read would see its snapshot: the
			 * last sample's values stand until the next round */
			if (cfg->throttle.max_lock_waits > 0 && probe_samples_locks(t))
				sql = sql_lock_waits(t->dialect, db_server_version(c->db)), n = 1;
			break;
		case PROBE_ACTIVE:
			if (cfg->throttle.max_active > 0)
				sql = sql_active(t->dialect), n = 1;
			break;
		case PROBE_QUERY:
			if (cfg->throttle.query && *cfg->throttle.query)
				sql = cfg->throttle.query;
			break;
		case PROBE_LAG:
			if (lag_enabled(t) && t->nreplicas == 0)
				sql = sql_lag_fallback(t->dialect, db_server_version(c->db));
			break;
		}
		if (!sql)
			continue;
		c->busy = 1;
		if (db_query(c->db, sql, n, params, probe_done, c) < 0)
			c->busy = 0;
		return;
	}
	if (!c->locks_only)
		t->probe_rounds++;
	decide(t);
}

/* --- timers ------------------------------------------------------------------------------------ */

static void hb_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct throttle *t = w->data;

	if (!t->writer.up)
		tconn_connect(&t->writer);
	else
		writer_beat(&t->writer);
	/* read back as often as written: a lag read once per check_interval would let
	 * the batches run on for up to a second past the limit */
	for (size_t i = 0; i < t->nreplicas; i++)
		replica_read(&t->replicas[i]);
}

static void check_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct throttle *t = w->data;

	for (size_t i = 0; i < t->nreplicas; i++) {
		if (!t->replicas[i].up)
			tconn_connect(&t->replicas[i]);
		else
			replica_read(&t->replicas[i]);
	}
	if (probe_needed(t)) {
		if (!t->probe.up) {
			tconn_connect(&t->probe);
		} else if (!t->probe.busy) {
			t->probe.step = 0;
			t->probe.locks_only = 0;
			probe_next(&t->probe);
		}
	}
	decide(t);
	w->repeat = (double)t->cfg->throttle.check_interval_ms / 1000.0;
	ev_timer_again(loop, w);
}

/* Lock waits are sampled more often than the rest: a session waits on a batch for
 * at most as long as the batch takes, so a sample a second would miss most waits
 * on short batches (and the size would grow back into them). */
static void locks_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct throttle *t = w->data;

	if (t->cfg->throttle.max_lock_waits <= 0 || !t->probe.up || t->probe.busy)
		return;
	t->probe.step = PROBE_LOCKS;
	t->probe.locks_only = 1;
	probe_next(&t->probe);
}

static double hb_interval(const struct config *cfg)
{
	double iv = (double)cfg->throttle.max_replication_lag_ms / 5000.0;

	return iv < 0.1 ? 0.1 : iv > 1.0 ? 1.0 : iv;
}

/* --- public ---------------------------------------------------------------------------------- */

static struct db *new_db(struct throttle *t, const struct config_conn *conn, const char *what)
{
	char app[200];

	if (t->cfg->driver == CONFIG_DRIVER_MYSQL)
		return db_new_mysql(t->loop, conn);
	snprintf(app, sizeof(app), "backfilld %s %s", t->job, what);
	return db_new_postgres(t->loop, conn, app);
}

static void tconn_init(struct tconn *c, struct throttle *t, struct db *db, const char *name)
{
	c->t = t;
	c->db = db;
	snprintf(c->name, sizeof(c->name), "%s", name);
}

struct throttle *throttle_new(struct ev_loop *loop, const struct config *cfg, const char *job,
			      throttle_changed cb, void *arg)
{
	struct throttle *t = calloc(1, sizeof(*t));
	int pg = cfg->driver == CONFIG_DRIVER_POSTGRES;
	char name[160];

	if (!t)
		return NULL;
	t->loop = loop;
	t->cfg = cfg;
	t->cb = cb;
	t->arg = arg;
	t->dialect = pg ? DB_DIALECT_POSTGRES : DB_DIALECT_MYSQL;
	t->lag_ms = -1;
	snprintf(t->job, sizeof(t->job), "%s", job);
	config_conn_name(&cfg->db, cfg->driver, "primary", name, sizeof(name));
	tconn_init(&t->writer, t, new_db(t, &cfg->db, "heartbeat"), name);
	tconn_init(&t->probe, t, new_db(t, &cfg->db, "probe"), name);
	if (!t->writer.db || !t->probe.db)
		goto out_free;
	t->nreplicas = cfg->throttle.nreplicas;
	if (t->nreplicas) {
		t->replicas = calloc(t->nreplicas, sizeof(*t->replicas));
		if (!t->replicas)
			goto out_free;
	}
	for (size_t i = 0; i < t->nreplicas; i++) {
		char fallback[32];

		snprintf(fallback, sizeof(fallback), "replica %zu", i + 1);
		config_conn_name(&cfg->throttle.replicas[i].conn, cfg->driver, fallback, name,
				 sizeof(name));
		tconn_init(&t->replicas[i], t, new_db(t, &cfg->throttle.replicas[i].conn, "lag"),
			   name);
		if (!t->replicas[i].db)
			goto out_free;
	}
	ev_init(&t->hb_timer, hb_cb);
	t->hb_timer.data = t;
	ev_init(&t->check_timer, check_cb);
	t->check_timer.data = t;
	ev_timer_init(&t->locks_timer, locks_cb, THROTTLE_LOCKS_INTERVAL, THROTTLE_LOCKS_INTERVAL);
	t->locks_timer.data = t;
	return t;
out_free:
	throttle_free(t);
	return NULL;
}

static void tconn_free(struct tconn *c)
{
	db_free(c->db);
	free(c->create);
	free(c->stmt);
	memset(c, 0, sizeof(*c));
}

void throttle_free(struct throttle *t)
{
	if (!t)
		return;
	throttle_stop(t);
	tconn_free(&t->writer);
	tconn_free(&t->probe);
	for (size_t i = 0; t->replicas && i < t->nreplicas; i++)
		tconn_free(&t->replicas[i]);
	free(t->replicas);
	free(t);
}

void throttle_start(struct throttle *t, long own_session)
{
	snprintf(t->own_session, sizeof(t->own_session), "%ld", own_session);
	if (t->running)
		return;
	t->running = 1;
	t->probe_rounds = 0; /* no batch before the probe's first samples (throttle_ready) */
	t->ready_told = 0;
	/* contended until the samples have shown nobody waiting for a while */
	t->behind_seen = mono_now() - (THROTTLE_CONTENDED_HOLD - THROTTLE_CONTENDED_START);
	t->quiet = 0;
	t->quiet_ended = 0;
	ev_timer_start(t->loop, &t->locks_timer);
	if (lag_enabled(t) && t->nreplicas > 0) {
		double iv = hb_interval(t->cfg);

		ev_timer_set(&t->hb_timer, 0., iv);
		ev_timer_start(t->loop, &t->hb_timer);
	}
	/* the first samples right away; a replica's first read follows its connect */
	ev_timer_set(&t->check_timer, 0., (double)t->cfg->throttle.check_interval_ms / 1000.0);
	ev_timer_start(t->loop, &t->check_timer);
	/* decided before the first batch: a replica not read yet holds it back */
	decide(t);
}

void throttle_stop(struct throttle *t)
{
	if (!t->running)
		return;
	t->running = 0;
	ev_timer_stop(t->loop, &t->hb_timer);
	ev_timer_stop(t->loop, &t->check_timer);
	ev_timer_stop(t->loop, &t->locks_timer);
	db_close(t->writer.db);
	db_close(t->probe.db);
	t->writer.up = t->probe.up = t->writer.busy = t->probe.busy = 0;
	t->writer.connecting = t->probe.connecting = 0;
	for (size_t i = 0; i < t->nreplicas; i++) {
		db_close(t->replicas[i].db);
		t->replicas[i].up = t->replicas[i].busy = t->replicas[i].connecting = 0;
	}
}

void throttle_reload(struct throttle *t, const struct config *cfg)
{
	t->cfg = cfg;
	if (!t->running)
		return;
	if (ev_is_active(&t->hb_timer)) {
		t->hb_timer.repeat = hb_interval(cfg);
		ev_timer_again(t->loop, &t->hb_timer);
	}
	/* new limits take effect now, not at the next sample */
	decide(t);
}

int throttle_ready(const struct throttle *t)
{
	/* an unreachable probe is a reason (fail closed), so ready too */
	return !t->running || !probe_needed(t) || t->probe_rounds > 0 ||
	       (t->probe.error[0] && !t->probe.up);
}

int throttle_engaged(const struct throttle *t)
{
	return t->engaged;
}

void throttle_reasons_text(const struct throttle *t, char *buf, size_t len)
{
	size_t o = 0;

	if (len)
		buf[0] = '\0';
	for (size_t i = 0; i < t->nreasons && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? "; " : "", t->reasons[i]);
}

void throttle_report(const struct throttle *t, struct throttle_report *r)
{
	memset(r, 0, sizeof(*r));
	for (size_t i = 0; i < t->nreasons; i++)
		r->reasons[r->nreasons++] = t->reasons[i];
	r->lag_ms = t->lag_ms;
	r->lag_source = t->lag_ms >= 0 ? t->lag_src : NULL;
	r->lock_waits = t->cfg->throttle.max_lock_waits > 0 && t->locks_known ? t->lock_waits : -1;
	for (int k = 0; k < THROTTLE_NKINDS; k++)
		r->seconds[k] = t->seconds[k];
	add_held(t, mono_now(), r->seconds);
}

int throttle_contended(const struct throttle *t)
{
	if (t->cfg->throttle.max_lock_waits <= 0 || (t->locks_known && t->behind_us < 0))
		return -1;
	return mono_now() - t->behind_seen < THROTTLE_CONTENDED_HOLD;
}

int throttle_waits_seen(const struct throttle *t)
{
	return t->behind_ever;
}

int throttle_start_quiet(const struct throttle *t)
{
	return t->quiet_ended;
}

void throttle_batch_running(struct throttle *t, int running)
{
	if (!running)
		t->batch_since = 0;
	else if (t->batch_since <= 0)
		t->batch_since = mono_now();
}

const char *throttle_batch_sample_sql(const struct throttle *t, const struct db *db,
				      const char *params[1])
{
	if (!t->running || t->cfg->throttle.max_lock_waits <= 0 || !trx_views_fresh(t))
		return NULL;
	params[0] = t->own_session;
	return sql_lock_waits(t->dialect, db_server_version(db));
}

int64_t throttle_batch_sample(struct throttle *t, const struct db_result *res)
{
	if (!t->running)
		return -1;
	t->locks_err[0] = '\0'; /* called on a sample read; a failed one is the job's */
	return lock_sample(t, res);
}

double throttle_lag_ms(const struct throttle *t)
{
	return lag_enabled(t) ? t->lag_ms : -1;
}

int throttle_lag_near(const struct throttle *t)
{
	double lag = throttle_lag_ms(t);

	return lag >= 0 && lag >= (double)t->cfg->throttle.max_replication_lag_ms / 2.0;
}

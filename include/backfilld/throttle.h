/* throttle.h - health signals to a decision: may the next batch run?
 *
 * Sampled on timers and connections of its own, never inside a batch:
 *  - replication lag by heartbeat: a row on the primary holding the daemon's own
 *    clock, rewritten every 100 ms to 1 s and read back on every replica, so
 *    lag = own clock now - value read (no clock skew between hosts). The worst
 *    replica counts; one that cannot be reached or read throttles ("fail closed")
 *    while the throttle keeps reconnecting to it. Without replicas configured:
 *    pg_stat_replication on a PostgreSQL primary, SHOW SLAVE STATUS on a MySQL
 *    server that is itself a replica;
 *  - lock waits (sessions waiting on locks, but the daemon's own);
 *  - active client sessions (pg_stat_activity / the process list);
 *  - a custom query's number, and a time window. */
#ifndef BACKFILLD_THROTTLE_H
#define BACKFILLD_THROTTLE_H

#include <stddef.h>
#include <stdint.h>

struct ev_loop;
struct config;
struct db;
struct db_result;
struct throttle;

/* The kinds of reason, for time accounting and metrics. */
enum throttle_kind {
	THROTTLE_LAG,
	THROTTLE_LOCKS,
	THROTTLE_ACTIVE,
	THROTTLE_QUERY,
	THROTTLE_WINDOW,
	THROTTLE_NKINDS,
};

const char *throttle_kind_name(enum throttle_kind k);

#define THROTTLE_MAX_REASONS 8

/* Called whenever the decision changes (engaged or released, or new reasons). */
typedef void (*throttle_changed)(struct throttle *t, int engaged, void *arg);

/* A throttle for cfg's throttle.* (borrowed: follow reloads with throttle_reload).
 * job names the heartbeat row. NULL on allocation failure. */
struct throttle *throttle_new(struct ev_loop *loop, const struct config *cfg, const char *job,
			      throttle_changed cb, void *arg);
void throttle_free(struct throttle *t);

/* Starts sampling. own_session: the batch connection's server-side id, left out of
 * lock waits and active sessions (call again after a reconnect). */
void throttle_start(struct throttle *t, long own_session);
void throttle_stop(struct throttle *t);
void throttle_reload(struct throttle *t, const struct config *cfg);

/* 1 while the next batch must wait. */
int throttle_engaged(const struct throttle *t);

/* 1 once the primary's probe has taken its first round of samples since
 * throttle_start (or needs none, or cannot connect, which throttle_engaged counts):
 * until then no batch may start, since nothing tells whether it may. The callback
 * is called when it becomes 1. */
int throttle_ready(const struct throttle *t);

/* What status reports: the active reasons (valid until the next loop iteration),
 * the worst lag and where it was measured (ms < 0: not measured), lock waits
 * (< 0: not measured), and seconds spent throttled per kind. */
struct throttle_report {
	const char *reasons[THROTTLE_MAX_REASONS];
	size_t nreasons;
	double lag_ms;
	const char *lag_source;
	int64_t lock_waits;
	double seconds[THROTTLE_NKINDS];
};
void throttle_report(const struct throttle *t, struct throttle_report *r);
/* Every reason that holds, "; "-separated ("" when none), cut to len. */
void throttle_reasons_text(const struct throttle *t, char *buf, size_t len);

/* Whether other sessions wait on the batches' locks: 1 when a lock sample (the
 * probe's, or a batch's own before its commit: throttle_batch_sample) saw one
 * waiting behind the batch within the last THROTTLE_CONTENDED_HOLD seconds, and
 * from the start until THROTTLE_CONTENDED_START seconds of samples have shown
 * nobody waiting, or until THROTTLE_QUIET_SAMPLES samples in a row over
 * THROTTLE_QUIET_TIME have shown no other session running a statement in the
 * job's database (nobody who could wait); 0 when nobody did; -1 when it cannot
 * tell (lock waits not sampled, max_lock_waits 0, or MySQL 8, which does not say
 * who waits on whom). The probe samples lock waits every THROTTLE_LOCKS_INTERVAL
 * seconds (the other signals every check_interval). */
#define THROTTLE_CONTENDED_HOLD 10.0
#define THROTTLE_CONTENDED_START 2.0
#define THROTTLE_QUIET_SAMPLES 5
#define THROTTLE_QUIET_TIME 0.45
#define THROTTLE_LOCKS_INTERVAL 0.12
/* InnoDB refreshes INNODB_TRX and INNODB_LOCK_WAITS only once they have gone unread
 * for 0.1 s (trx0i_s.cc): the daemon's reads of them keep a larger gap. */
#define THROTTLE_TRX_VIEWS_IDLE 0.102
int throttle_contended(const struct throttle *t);
/* 1 once a session has been seen waiting behind the batch (since
 * throttle_start): throttle_contended's 1 is then measured, not presumed. */
int throttle_waits_seen(const struct throttle *t);
/* Whether the start's presumption of contention ended early because no other
 * session ran a statement (THROTTLE_QUIET_SAMPLES), rather than after its full
 * THROTTLE_CONTENDED_START seconds with others running but none seen waiting. */
int throttle_start_quiet(const struct throttle *t);
/* A batch takes a lock sample of its own just before its COMMIT, while it still
 * holds every lock it took: a session blocked by a batch waits until that COMMIT,
 * so this sample sees every session the batch stalled, however short the batch
 * (the probe's samples, every THROTTLE_LOCKS_INTERVAL, miss most of those waits).
 * The statement (sql_lock_waits), with its one parameter (the batch's session, as
 * given to throttle_start) put in params; or NULL when no sample is to be taken
 * now: lock waits not sampled, or InnoDB's lock views read too recently to be
 * fresh (THROTTLE_TRX_VIEWS_IDLE). */
const char *throttle_batch_sample_sql(const struct throttle *t, const struct db *db,
				      const char *params[1]);
/* Whether a batch is in flight (from its BEGIN to the end of its COMMIT or
 * ROLLBACK): on MySQL the probe takes no lock sample for the first
 * THROTTLE_BATCH_SAMPLES_ALONE seconds of a batch, so that the batch's own finds
 * InnoDB's lock views fresh. */
#define THROTTLE_BATCH_SAMPLES_ALONE 2.0
void throttle_batch_running(struct throttle *t, int running);
/* The batch's sample read: taken as the probe's would be. Returns how many
 * sessions waited behind the batch; -1 when not known. */
int64_t throttle_batch_sample(struct throttle *t, const struct db_result *res);

/* 1 while the measured replication lag is at least half of max_replication_lag:
 * each batch adds its own apply time to the lag, so near the limit batches get
 * shorter and the lag overshoots less when the throttle engages. */
int throttle_lag_near(const struct throttle *t);
/* The worst lag measured, in ms; < 0 when not measured or lag is not throttled on. */
double throttle_lag_ms(const struct throttle *t);

/* "HH:MM-HH:MM": 1 when minute-of-day m is inside [start, end), crossing midnight
 * when end < start. */
int throttle_in_window(int start_min, int end_min, int m);

#endif

/* job.h - the batch executor: a backfill job as an explicit state machine.
 *
 *   starting -> running <-> paused -> stopping -> stopped
 *                  |  ^                        -> done | failed
 *                  v  |
 *              reconnecting
 *
 * Every transition is logged once and recorded in the checkpoint row. Each batch
 * is one transaction: bound the batch by an index range scan, UPDATE the rows in
 * (cursor, upper], advance the checkpoint row to upper, COMMIT. */
#ifndef BACKFILLD_JOB_H
#define BACKFILLD_JOB_H

#include <stddef.h>
#include <stdint.h>

struct ev_loop;
struct config;
struct job;
struct progress;

enum job_mode {
	JOB_MODE_RUN,	 /* backfill: apply set over the range */
	JOB_MODE_VERIFY, /* count pending and diverged rows, read only */
	/* the inverse: rollback.set over the forward job's range, guarded by "some set
	 * column IS NOT NULL", as job "<job>:rollback" */
	JOB_MODE_ROLLBACK,
};

enum job_state {
	JOB_STARTING,
	JOB_RUNNING,
	JOB_THROTTLED,
	JOB_PAUSED,
	JOB_STOPPING,
	JOB_RECONNECTING,
	JOB_STOPPED,
	JOB_DONE,
	JOB_FAILED,
};

struct job_options {
	enum job_mode mode;
	int reset;	/* --reset: forget a checkpoint written under another config */
	int json;	/* verify: print the count as JSON */
	int64_t sample; /* verify --sample N: list up to N keys of each kind */
};

/* The job borrows cfg: it must outlive the job or be replaced with job_reload. */
struct job *job_new(struct ev_loop *loop, const struct config *cfg, const struct job_options *opt);
void job_free(struct job *job);

/* Starts connecting; the loop then runs the job until it calls ev_break. */
int job_start(struct job *job) __attribute__((warn_unused_result));

/* Exit status once the loop has returned: 0 done/stopped, 1 runtime failure,
 * 2 configuration error found against the database, 3 verify found rows. */
int job_exit_code(const struct job *job);

/* Requests from signals and the control socket; each acts at the next batch
 * boundary, never inside a batch. */
void job_request_stop(struct job *job);
void job_request_pause(struct job *job, int pause);
/* Applies the tunables of cfg (batch.*, throttle.*, log.*); the job now borrows
 * cfg. -EINVAL and a message when cfg changes what the job's rows are. */
int job_reload(struct job *job, const struct config *cfg, char *err, size_t errlen)
	__attribute__((warn_unused_result));

enum job_state job_state(const struct job *job);

/* Called after every state transition (from the loop). */
typedef void (*job_state_hook)(struct job *job, enum job_state st, void *arg);
void job_set_hook(struct job *job, job_state_hook hook, void *arg);

/* Everything the reports show; the strings live until the job's next step. */
void job_progress(const struct job *job, struct progress *p);

/* Live tuning: the next batch has this size (clamped to min_size..max_size). */
void job_set_batch_size(struct job *job, int64_t size);
const char *job_state_name(enum job_state st);

#endif

/* daemon.c - the event loop, signals and lifecycle around one job.
 *
 * Signal watchers only record intent with the job; the job acts on it at its next
 * batch boundary. SIGHUP builds a complete new configuration, and the job takes it
 * only if it changes nothing but tunables. */
#include "backfilld/daemon.h"
#include "backfilld/config.h"
#include "backfilld/control.h"
#include "backfilld/log.h"
#include "backfilld/metrics.h"
#include "backfilld/notify.h"
#include "backfilld/progress.h"
#include "backfilld/status.h"
#include "backfilld/tune.h"

#include <errno.h>
#include <ev.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct daemon {
	struct ev_loop *loop;
	struct config *cfg;
	struct job *job;
	ev_signal sig_term, sig_int, sig_usr1, sig_usr2, sig_hup;
	ev_timer watchdog;
	ev_timer metrics_timer;
	struct status_server *status;
	int status_retry;  /* the socket was busy at start: try again once running */
	int metrics_errno; /* last textfile error logged, to log each kind once */
};

/* Status clients waiting for something: a `pause` answered once paused. */
enum { WAIT_PAUSED = 1 };

/* The loop never blocks on the database, so a loop that still turns is a live
 * daemon: ping systemd's watchdog from it. */
static void daemon_watchdog_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	notify_send("WATCHDOG=1");
}

static void daemon_write_metrics(struct daemon *d)
{
	struct progress p;
	int rc;

	if (!d->cfg->metrics.textfile)
		return;
	job_progress(d->job, &p);
	rc = metrics_write_textfile(&p, d->cfg->metrics.textfile);
	if (rc < 0 && -rc != d->metrics_errno)
		log_warn("cannot write metrics.textfile %s: %s", d->cfg->metrics.textfile,
			 strerror(-rc));
	d->metrics_errno = rc < 0 ? -rc : 0;
}

static void daemon_metrics_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct daemon *d = w->data;

	daemon_write_metrics(d);
	w->repeat = (double)d->cfg->throttle.check_interval_ms / 1000.0;
	ev_timer_again(loop, w);
}

static void daemon_request(struct status_client *c, const char *line, int privileged, void *arg);

static int daemon_listen(struct daemon *d, int quiet_if_busy)
{
	char err[512] = "";

	d->status = status_listen(d->loop, d->cfg->status.socket, d->cfg->status.mode,
				  daemon_request, d, err, sizeof(err));
	if (d->status) {
		log_info("status socket %s", d->cfg->status.socket);
		return 0;
	}
	if (quiet_if_busy && strstr(err, "in use"))
		return -EADDRINUSE;
	log_error("%s", err);
	return -1;
}

/* A pause cannot be honoured once the job stops or ends: 1 and the refusal in
 * buf; 0 while it still can. */
static int pause_refused(enum job_state st, char *buf, size_t len)
{
	if (st != JOB_STOPPING && st != JOB_STOPPED && st != JOB_DONE && st != JOB_FAILED)
		return 0;
	snprintf(buf, len, "ERR the job is %s", job_state_name(st));
	return 1;
}

/* Answers the clients that wait on the job's state. */
static void daemon_on_state(struct job *job, enum job_state st, void *arg)
{
	struct daemon *d = arg;
	char msg[128];

	if (!d->status) {
		if (st == JOB_RUNNING && d->status_retry) {
			/* we hold the job's database lock now: whoever holds the socket runs
			 * this job name against another database */
			d->status_retry = 0;
			if (daemon_listen(d, 0) < 0)
				log_warn("status socket unavailable; the job runs without one");
		}
		return;
	}
	if (st == JOB_PAUSED) {
		status_reply_deferred(d->status, WAIT_PAUSED, "OK paused");
	} else if (pause_refused(st, msg, sizeof(msg))) {
		status_reply_deferred(d->status, WAIT_PAUSED, msg);
	}
}

/* A batch value that moved to make room for one given: logged and added to the answer. */
static void daemon_moved(const struct control_request *req, char *msg, size_t cap, size_t *o,
			 const char *key, int64_t was, int64_t now)
{
	if (now == was)
		return;
	for (size_t i = 0; i < req->nset; i++)
		if (strcmp(req->set[i].key, key) == 0)
			return; /* given, so answered already */
	log_info("set %s=%" PRId64 " (status socket, to make room)", key, now);
	*o += (size_t)snprintf(msg + *o, *o < cap ? cap - *o : 0, " %s=%" PRId64, key, now);
}

static void daemon_set(struct daemon *d, struct status_client *c, const struct control_request *req)
{
	const char *keys[CONTROL_MAX_SETS], *values[CONTROL_MAX_SETS];
	char err[512], msg[2048] = "OK";
	size_t o = 2;
	int size_set = 0;
	int64_t min = d->cfg->batch.min_size, size = d->cfg->batch.size;
	int64_t max = d->cfg->batch.max_size;

	for (size_t i = 0; i < req->nset; i++) {
		keys[i] = req->set[i].key;
		values[i] = req->set[i].value;
		size_set |= strcmp(keys[i], "batch.size") == 0;
	}
	if (tune_set_many(d->cfg, keys, values, req->nset, err, sizeof(err)) < 0) {
		snprintf(msg, sizeof(msg), "ERR %s", err);
		status_reply(c, msg);
		return;
	}
	for (size_t i = 0; i < req->nset; i++) {
		log_info("set %s=%s (status socket)", keys[i], values[i]);
		o += (size_t)snprintf(msg + o, o < sizeof(msg) ? sizeof(msg) - o : 0, " %s=%s",
				      keys[i], values[i]);
	}
	/* batch values not given that made room for those given (tune_set_many) */
	daemon_moved(req, msg, sizeof(msg), &o, "batch.min_size", min, d->cfg->batch.min_size);
	daemon_moved(req, msg, sizeof(msg), &o, "batch.size", size, d->cfg->batch.size);
	daemon_moved(req, msg, sizeof(msg), &o, "batch.max_size", max, d->cfg->batch.max_size);
	size_set |= d->cfg->batch.size != size;
	if (job_reload(d->job, d->cfg, err, sizeof(err)) < 0) {
		status_reply(c, "ERR internal: the tuned configuration was refused");
		return;
	}
	if (size_set)
		job_set_batch_size(d->job, d->cfg->batch.size);
	status_reply(c, msg);
}

static void daemon_request(struct status_client *c, const char *line, int privileged, void *arg)
{
	struct daemon *d = arg;
	struct control_request req;
	struct progress p;
	char err[512], buf[8192];
	enum job_state st = job_state(d->job);

	if (control_parse(line, &req, err, sizeof(err)) < 0) {
		snprintf(buf, sizeof(buf), "ERR %s", err);
		status_reply(c, buf);
		return;
	}
	if (control_mutates(req.cmd) && !privileged) {
		status_reply(c, "ERR permission denied");
		return;
	}
	switch (req.cmd) {
	case CONTROL_STATUS:
		job_progress(d->job, &p);
		progress_format_text(&p, buf, sizeof(buf));
		status_reply(c, buf);
		return;
	case CONTROL_STATUS_JSON:
		job_progress(d->job, &p);
		progress_format_json(&p, buf, sizeof(buf));
		status_reply(c, buf);
		return;
	case CONTROL_METRICS: {
		char *m;

		job_progress(d->job, &p);
		m = metrics_format_alloc(&p, NULL);
		if (!m) {
			status_reply(c, "ERR out of memory");
			return;
		}
		status_reply(c, m);
		free(m);
		return;
	}
	case CONTROL_PAUSE:
		if (st == JOB_PAUSED) {
			status_reply(c, "OK paused");
		} else if (pause_refused(st, buf, sizeof(buf))) {
			status_reply(c, buf);
		} else {
			/* answered once the batch in flight has committed */
			status_defer(c, WAIT_PAUSED);
			job_request_pause(d->job, 1);
		}
		return;
	case CONTROL_RESUME:
		status_reply(c, st == JOB_PAUSED ? "OK resuming" : "OK not paused");
		job_request_pause(d->job, 0);
		return;
	case CONTROL_STOP:
		status_reply(c, "OK stopping after the batch in flight");
		job_request_stop(d->job);
		return;
	case CONTROL_SET: daemon_set(d, c, &req); return;
	}
	status_reply(c, "ERR unknown request");
}

/* What the loader accepted but advises against, once per load. */
static void daemon_log_warnings(const struct config *cfg)
{
	const char *at = cfg->warnings, *line;
	int n;

	while ((line = config_warning_next(&at, &n)))
		log_warn("%.*s", n, line);
}

static void daemon_reload(struct daemon *d)
{
	struct config *next = NULL;
	char err[1024];

	notify_send("RELOADING=1");
	if (config_load(d->cfg->path, &next, err, sizeof(err)) < 0 ||
	    job_reload(d->job, next, err, sizeof(err)) < 0) {
		log_error("reload refused, keeping the running configuration: %s", err);
		config_free(next);
		notify_send("READY=1");
		return;
	}
	notify_send("READY=1");
	daemon_log_warnings(next);
	config_free(d->cfg);
	d->cfg = next;
	/* the running connections keep theirs: the file's password is not needed */
	config_wipe_secrets(next);
	log_info("reloaded %s: batch size %lld..%lld, target %lld ms, sleep %lld ms, "
		 "lock_timeout %lld ms",
		 next->path, (long long)next->batch.min_size, (long long)next->batch.max_size,
		 (long long)next->batch.target_time_ms, (long long)next->batch.sleep_ms,
		 (long long)next->batch.lock_timeout_ms);
}

static void daemon_signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct daemon *d = w->data;

	switch (w->signum) {
	case SIGTERM:
	case SIGINT:
		log_info("%s received", w->signum == SIGTERM ? "SIGTERM" : "SIGINT");
		job_request_stop(d->job);
		break;
	case SIGUSR1: job_request_pause(d->job, 1); break;
	case SIGUSR2: job_request_pause(d->job, 0); break;
	case SIGHUP: daemon_reload(d); break;
	}
}

static void daemon_watch(struct daemon *d, ev_signal *w, int signum)
{
	ev_signal_init(w, daemon_signal_cb, signum);
	w->data = d;
	ev_signal_start(d->loop, w);
}

int daemon_run(struct config *cfg, const struct job_options *opt)
{
	struct daemon d = { 0 };
	int code;

	daemon_log_warnings(cfg);
	d.loop = ev_default_loop(EVFLAG_AUTO);
	if (!d.loop) {
		log_error("cannot initialise the event loop");
		config_free(cfg);
		return 1;
	}
	d.cfg = cfg;
	d.job = job_new(d.loop, cfg, opt);
	if (!d.job) {
		log_error("out of memory");
		config_free(cfg);
		return 1;
	}
	/* every connection holds its own copy of the password now */
	config_wipe_secrets(cfg);
	signal(SIGPIPE, SIG_IGN);
	daemon_watch(&d, &d.sig_term, SIGTERM);
	daemon_watch(&d, &d.sig_int, SIGINT);
	if (opt->mode != JOB_MODE_VERIFY) {
		daemon_watch(&d, &d.sig_usr1, SIGUSR1);
		daemon_watch(&d, &d.sig_usr2, SIGUSR2);
		daemon_watch(&d, &d.sig_hup, SIGHUP);
	}
	if (opt->mode != JOB_MODE_VERIFY) {
		int rc = daemon_listen(&d, 1);

		if (rc == -EADDRINUSE) {
			/* maybe this very job running here: the database lock will tell */
			d.status_retry = 1;
		} else if (rc < 0) {
			job_free(d.job);
			config_free(d.cfg);
			ev_loop_destroy(d.loop);
			return 1;
		}
		job_set_hook(d.job, daemon_on_state, &d);
		if (cfg->metrics.textfile) {
			ev_timer_init(&d.metrics_timer, daemon_metrics_cb, 0.,
				      (double)cfg->throttle.check_interval_ms / 1000.0);
			d.metrics_timer.data = &d;
			ev_timer_again(d.loop, &d.metrics_timer);
		}
	}
	if (notify_watchdog_usec() > 0) {
		double iv = (double)notify_watchdog_usec() / 2e6;

		ev_timer_init(&d.watchdog, daemon_watchdog_cb, iv, iv);
		ev_timer_start(d.loop, &d.watchdog);
	}
	if (job_start(d.job) < 0) {
		code = 1;
	} else {
		ev_run(d.loop, 0);
		code = job_exit_code(d.job);
	}
	ev_signal_stop(d.loop, &d.sig_term);
	ev_signal_stop(d.loop, &d.sig_int);
	ev_signal_stop(d.loop, &d.sig_usr1);
	ev_signal_stop(d.loop, &d.sig_usr2);
	ev_signal_stop(d.loop, &d.sig_hup);
	ev_timer_stop(d.loop, &d.watchdog);
	if (d.metrics_timer.data) {
		ev_timer_stop(d.loop, &d.metrics_timer);
		daemon_write_metrics(&d); /* the final state */
	}
	status_close(d.status);
	job_free(d.job);
	config_free(d.cfg);
	ev_loop_destroy(d.loop);
	return code;
}

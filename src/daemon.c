/* daemon.c - the event loop, signals and lifecycle around one job.
 *
 * Signal watchers only record intent with the job; the job acts on it at its next
 * batch boundary. SIGHUP builds a complete new configuration, and the job takes it
 * only if it changes nothing but tunables. */
#include "backfilld/daemon.h"
#include "backfilld/config.h"
#include "backfilld/log.h"
#include "backfilld/notify.h"

#include <ev.h>
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
};

/* The loop never blocks on the database, so a loop that still turns is a live
 * daemon: ping systemd's watchdog from it. */
static void daemon_watchdog_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	notify_send("WATCHDOG=1");
}

static void daemon_reload(struct daemon *d)
{
	struct config *next = NULL;
	char err[1024];

	notify_send("RELOADING=1");
	if (config_load(d->cfg->path, &next, err, sizeof(err)) < 0) {
		log_error("reload refused, keeping the running configuration: %s", err);
		notify_send("READY=1");
		return;
	}
	if (job_reload(d->job, next, err, sizeof(err)) < 0) {
		log_error("reload refused, keeping the running configuration: %s", err);
		config_free(next);
		notify_send("READY=1");
		return;
	}
	notify_send("READY=1");
	config_free(d->cfg);
	d->cfg = next;
	log_info("reloaded %s: batch size %lld..%lld, target %lld ms, sleep %lld ms, "
		 "lock_timeout %lld ms", next->path, (long long)next->batch.min_size,
		 (long long)next->batch.max_size, (long long)next->batch.target_time_ms,
		 (long long)next->batch.sleep_ms, (long long)next->batch.lock_timeout_ms);
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
	case SIGUSR1:
		job_request_pause(d->job, 1);
		break;
	case SIGUSR2:
		job_request_pause(d->job, 0);
		break;
	case SIGHUP:
		daemon_reload(d);
		break;
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
	signal(SIGPIPE, SIG_IGN);
	daemon_watch(&d, &d.sig_term, SIGTERM);
	daemon_watch(&d, &d.sig_int, SIGINT);
	if (opt->mode == JOB_MODE_RUN) {
		daemon_watch(&d, &d.sig_usr1, SIGUSR1);
		daemon_watch(&d, &d.sig_usr2, SIGUSR2);
		daemon_watch(&d, &d.sig_hup, SIGHUP);
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
	job_free(d.job);
	config_free(d.cfg);
	ev_loop_destroy(d.loop);
	return code;
}

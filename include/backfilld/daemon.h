/* daemon.h - the event loop, signals and lifecycle around one job. */
#ifndef BACKFILLD_DAEMON_H
#define BACKFILLD_DAEMON_H

#include "backfilld/job.h"

struct config;

/* Runs the job of cfg until it ends; takes ownership of cfg (a reload replaces it).
 * Returns the process exit status. */
int daemon_run(struct config *cfg, const struct job_options *opt);

#endif

/* tune.h - live tuning: `set KEY=VALUE` on a running job's configuration. */
#ifndef BACKFILLD_TUNE_H
#define BACKFILLD_TUNE_H

#include <stddef.h>

struct config;

/* Validates value for key (the YAML key path: batch.sleep, throttle.max_lock_waits,
 * log.level, …) with the rules of the YAML file and stores it in cfg. Only
 * tunables may be set: batch.*, throttle.* (not replicas), log.level and
 * log.progress_interval. 0, or -EINVAL with a message in err (cfg unchanged). */
int tune_set(struct config *cfg, const char *key, const char *value, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Several settings at once, all or none: each value valid, and min_size <= size <=
 * max_size holding once all are applied, in whatever order they are given. As in
 * the job file, the batch values given win and those not given make room: a
 * batch.size alone below min_size moves min_size down to it, a max_size alone
 * below the size brings the size down too. */
int tune_set_many(struct config *cfg, const char *const *keys, const char *const *values, size_t n,
		  char *err, size_t errlen) __attribute__((warn_unused_result));

#endif

/* tune.c - live tuning: `set KEY=VALUE` on a running job's configuration. */
#include "backfilld/tune.h"
#include "backfilld/config.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum tune_kind { TUNE_INT, TUNE_DURATION, TUNE_NUMBER, TUNE_STRING, TUNE_WINDOW, TUNE_LEVEL };

struct tunable {
	const char *key;
	enum tune_kind kind;
	size_t offset;	  /* of the int64_t / double / char * in struct config */
	int64_t min, max; /* TUNE_INT: the range; TUNE_DURATION: min 1 means "> 0" */
};

#define F(field) offsetof(struct config, field)

static const struct tunable tunables[] = {
	{ "batch.size", TUNE_INT, F(batch.size), 1, CONFIG_MAX_BATCH_ROWS },
	{ "batch.min_size", TUNE_INT, F(batch.min_size), 1, CONFIG_MAX_BATCH_ROWS },
	{ "batch.max_size", TUNE_INT, F(batch.max_size), 1, CONFIG_MAX_BATCH_ROWS },
	{ "batch.target_time", TUNE_DURATION, F(batch.target_time_ms), 1, 0 },
	{ "batch.contended_target_time", TUNE_DURATION, F(batch.contended_target_time_ms), 1, 0 },
	{ "batch.sleep", TUNE_DURATION, F(batch.sleep_ms), 0, 0 },
	{ "batch.lock_timeout", TUNE_DURATION, F(batch.lock_timeout_ms), 1, 0 },
	{ "batch.statement_timeout", TUNE_DURATION, F(batch.statement_timeout_ms), 1, 0 },
	{ "batch.max_retries", TUNE_INT, F(batch.max_retries), 0, CONFIG_MAX_RETRIES },
	{ "throttle.max_replication_lag", TUNE_DURATION, F(throttle.max_replication_lag_ms), 0, 0 },
	{ "throttle.max_lock_waits", TUNE_INT, F(throttle.max_lock_waits), 0, CONFIG_MAX_SESSIONS },
	{ "throttle.max_active", TUNE_INT, F(throttle.max_active), 0, CONFIG_MAX_SESSIONS },
	{ "throttle.query", TUNE_STRING, F(throttle.query), 0, 0 },
	{ "throttle.query_max", TUNE_NUMBER, F(throttle.query_max), 0, 0 },
	{ "throttle.window", TUNE_WINDOW, F(throttle.window), 0, 0 },
	{ "throttle.check_interval", TUNE_DURATION, F(throttle.check_interval_ms), 1, 0 },
	{ "log.level", TUNE_LEVEL, F(log.level), 0, 0 },
	{ "log.progress_interval", TUNE_DURATION, F(log.progress_interval_ms), 0, 0 },
};

static int parse_int(const char *s, int64_t *out)
{
	char *end;
	long long v;

	if (!*s || (*s == '0' && s[1]) || !(*s == '-' || (*s >= '0' && *s <= '9')))
		return -EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

#define TUNE_CHECK_ONLY 1 /* validate, store nothing */

static int tune_one(struct config *cfg, const char *key, const char *value, unsigned flags,
		    char *err, size_t errlen)
{
	const struct tunable *t = NULL;
	char *base = (char *)cfg;
	int64_t iv;

	for (size_t i = 0; i < sizeof(tunables) / sizeof(tunables[0]); i++)
		if (strcmp(tunables[i].key, key) == 0)
			t = &tunables[i];
	if (!t) {
		snprintf(err, errlen,
			 "%s cannot be set on a running job (tunable: batch.*, "
			 "throttle.* but replicas, log.level, log.progress_interval)",
			 key);
		return -EINVAL;
	}
	switch (t->kind) {
	case TUNE_INT:
		if (parse_int(value, &iv) < 0 || iv < t->min || iv > t->max) {
			snprintf(err, errlen, "%s: \"%s\" is not a whole number from %lld to %lld",
				 key, value, (long long)t->min, (long long)t->max);
			return -EINVAL;
		}
		if (!(flags & TUNE_CHECK_ONLY))
			*(int64_t *)(base + t->offset) = iv;
		return 0;
	case TUNE_DURATION:
		if (config_parse_duration(value, &iv) < 0 || iv > INT32_MAX) {
			snprintf(err, errlen, "%s: invalid duration \"%s\" (use ms, s, m or h)",
				 key, value);
			return -EINVAL;
		}
		if (t->min > 0 && iv == 0) {
			snprintf(err, errlen, "%s: must be greater than 0", key);
			return -EINVAL;
		}
		if (!(flags & TUNE_CHECK_ONLY))
			*(int64_t *)(base + t->offset) = iv;
		return 0;
	case TUNE_NUMBER: {
		double d;

		if (config_parse_number(value, &d) < 0) {
			snprintf(err, errlen, "%s: invalid number \"%s\"", key, value);
			return -EINVAL;
		}
		if (!(flags & TUNE_CHECK_ONLY))
			*(double *)(base + t->offset) = d;
		return 0;
	}
	case TUNE_WINDOW: {
		int start = 0, end = 0;
		char *copy;

		if (*value && config_parse_window(value, &start, &end) < 0) {
			snprintf(err, errlen, "%s: invalid window \"%s\" (use \"HH:MM-HH:MM\")",
				 key, value);
			return -EINVAL;
		}
		if (flags & TUNE_CHECK_ONLY)
			return 0;
		copy = strdup(value);
		if (!copy) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		free(cfg->throttle.window);
		cfg->throttle.window = copy;
		cfg->throttle.window_start_min = start;
		cfg->throttle.window_end_min = end;
		return 0;
	}
	case TUNE_STRING: {
		/* blanks only mean none, as in the YAML file */
		char *copy;

		if (flags & TUNE_CHECK_ONLY)
			return 0;
		copy = strdup(value[strspn(value, " \t")] ? value : "");

		if (!copy) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		free(*(char **)(base + t->offset));
		*(char **)(base + t->offset) = copy;
		return 0;
	}
	case TUNE_LEVEL: {
		enum config_log_level level;

		if (config_parse_log_level(value, &level) < 0) {
			snprintf(err, errlen, "%s: \"%s\" is not one of debug, info, warn, error",
				 key, value);
			return -EINVAL;
		}
		if (!(flags & TUNE_CHECK_ONLY))
			cfg->log.level = level;
		return 0;
	}
	}
	return -EINVAL;
}

int tune_set(struct config *cfg, const char *key, const char *value, char *err, size_t errlen)
{
	return tune_set_many(cfg, &key, &value, 1, err, errlen);
}

int tune_set_many(struct config *cfg, const char *const *keys, const char *const *values, size_t n,
		  char *err, size_t errlen)
{
	int64_t min = cfg->batch.min_size, size = cfg->batch.size, max = cfg->batch.max_size;
	bool given_min = false, given_size = false, given_max = false;
	int rc;

	/* every value valid on its own, and the batch limits consistent once all are
	 * in, whatever their order: then apply them all, or none */
	for (size_t i = 0; i < n; i++) {
		rc = tune_one(cfg, keys[i], values[i], TUNE_CHECK_ONLY, err, errlen);
		if (rc < 0)
			return rc;
		if (strcmp(keys[i], "batch.min_size") == 0)
			given_min = parse_int(values[i], &min) == 0;
		else if (strcmp(keys[i], "batch.size") == 0)
			given_size = parse_int(values[i], &size) == 0;
		else if (strcmp(keys[i], "batch.max_size") == 0)
			given_max = parse_int(values[i], &max) == 0;
	}
	config_batch_make_room(&min, &size, &max, given_min, given_size, given_max);
	if (!(min <= size && size <= max)) {
		snprintf(err, errlen,
			 "batch.min_size <= batch.size <= batch.max_size would not hold "
			 "(%lld <= %lld <= %lld); nothing set",
			 (long long)min, (long long)size, (long long)max);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		rc = tune_one(cfg, keys[i], values[i], 0, err, errlen);
		if (rc < 0)
			return rc; /* only an allocation can fail here */
	}
	cfg->batch.min_size = min;
	cfg->batch.size = size;
	cfg->batch.max_size = max;
	return 0;
}

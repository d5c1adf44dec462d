/* log.c - one line per event on stderr: text or JSON, journald priority prefixes. */
#include "backfilld/log.h"
#include "backfilld/json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static struct {
	int json;
	int journal;
	enum log_level min;
	char job[128];
} lg = { .min = LOG_LEVEL_INFO };

static const char *const level_names[] = { "debug", "info", "warn", "error" };
/* syslog priorities: debug 7, info 6, warning 4, err 3 */
static const int level_prio[] = { 7, 6, 4, 3 };

void log_setup(int json, enum log_level min, const char *job)
{
	const char *js = getenv("JOURNAL_STREAM");

	lg.json = json;
	lg.min = min;
	lg.journal = js && *js;
	snprintf(lg.job, sizeof(lg.job), "%s", job ? job : "");
}

void log_set_level(enum log_level min)
{
	lg.min = min;
}

void log_set_json(int json)
{
	lg.json = json;
}

int log_enabled(enum log_level level)
{
	return level >= lg.min;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char msg[2048], ts[40], line[4096];
	struct timeval tv;
	struct tm tm;
	size_t n = 0;
	va_list ap;

	if (level < lg.min)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + n, sizeof(ts) - n, ".%03ldZ", (long)(tv.tv_usec / 1000));

	if (lg.json) {
		struct json_buf jb;

		json_buf_init(&jb, line, sizeof(line));
		json_obj_begin(&jb);
		json_kv_str(&jb, "ts", ts);
		json_kv_str(&jb, "level", level_names[level]);
		if (lg.job[0])
			json_kv_str(&jb, "job", lg.job);
		json_kv_str(&jb, "msg", msg);
		json_obj_end(&jb);
	} else if (lg.journal) {
		/* journald timestamps lines itself */
		snprintf(line, sizeof(line), "%s", msg);
	} else {
		snprintf(line, sizeof(line), "%s %-5s %s%s%s", ts, level_names[level],
			 lg.job[0] ? lg.job : "", lg.job[0] ? ": " : "", msg);
	}
	if (lg.journal)
		fprintf(stderr, "<%d>%s\n", level_prio[level], line);
	else
		fprintf(stderr, "%s\n", line);
}

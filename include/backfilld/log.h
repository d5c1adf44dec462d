/* log.h - one line per event on stderr: text or JSON, journald priority prefixes. */
#ifndef BACKFILLD_LOG_H
#define BACKFILLD_LOG_H

enum log_level { LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR };

/* json: one JSON object per line; job: named in every line (may be NULL). When
 * JOURNAL_STREAM is set, each line starts with a syslog "<N>" priority. */
void log_setup(int json, enum log_level min, const char *job);
void log_set_level(enum log_level min);
/* Text (0) or one JSON object per line (1), from the next line on: log.format. */
void log_set_json(int json);

/* whether a line of this level would be written: to skip work done only for it */
int log_enabled(enum log_level level);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)

#endif

/* config.h - a job's YAML file parsed into one validated struct. */
#ifndef BACKFILLD_CONFIG_H
#define BACKFILLD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_MAX_KEY_PARTS 8
#define CONFIG_MAX_IDENT 63 /* bytes; PostgreSQL's NAMEDATALEN - 1 */

enum config_driver { CONFIG_DRIVER_POSTGRES, CONFIG_DRIVER_MYSQL };
enum config_log_format { CONFIG_LOG_TEXT, CONFIG_LOG_JSON };
enum config_log_level { CONFIG_LOG_DEBUG, CONFIG_LOG_INFO, CONFIG_LOG_WARN, CONFIG_LOG_ERROR };

/* Limits of the numbers that the file and live tuning (tune.c) both accept. */
#define CONFIG_MAX_BATCH_ROWS 10000000 /* batch.size, min_size, max_size */
#define CONFIG_MAX_RETRIES 1000	       /* batch.max_retries */
#define CONFIG_MAX_SESSIONS 1000000    /* throttle.max_lock_waits, max_active */

/* Where and how to connect: `dsn` for postgres, discrete keys for mysql. */
struct config_conn {
	char *dsn;	     /* postgres conninfo string or URI */
	char *host;	     /* mysql */
	int port;	     /* mysql; 0 = client default */
	char *socket;	     /* mysql */
	char *user;	     /* mysql */
	char *database;	     /* mysql */
	char *password_file; /* optional */
	char *password;	     /* resolved: password_file, else BACKFILLD_PASSWORD, else NULL */
};

/* One `column: expression` pair of `set:` or `rollback.set:`, in file order. */
struct config_assign {
	char *column;
	char *expr;
};

/* A possibly schema-qualified name: "items" or "public.items". */
struct config_qname {
	char *schema; /* NULL when not qualified */
	char *name;
};

struct config_replica {
	struct config_conn conn;
};

struct config {
	char *path; /* file it was read from */
	/* NULL, or lines "FILE:LINE:COL: message", each ending in a newline: what the
	 * loader accepted but advises against (a password file others may read) */
	char *warnings;
	char *job; /* [A-Za-z0-9_.-]{1,100} */
	enum config_driver driver;
	struct config_conn db;

	struct config_qname table;
	char *key[CONFIG_MAX_KEY_PARTS]; /* columns of the key, in order */
	size_t nkey;			 /* 1 .. CONFIG_MAX_KEY_PARTS */
	struct config_assign *set;	 /* at least one */
	size_t nset;
	/* guard as written; NULL when absent (the job then guards on every set column
	 * IS NULL, quoted by the driver) */
	char *where;

	struct {
		int64_t size, min_size, max_size; /* rows, 1 .. 10,000,000, min <= size <= max */
		int64_t target_time_ms;		  /* > 0 */
		int64_t contended_target_time_ms; /* > 0: the target while sessions wait */
		int64_t sleep_ms;		  /* >= 0 */
		int64_t lock_timeout_ms;	  /* > 0 */
		int64_t statement_timeout_ms;	  /* > 0 */
		int64_t max_retries;		  /* 0 .. 1000 */
	} batch;

	struct {
		int64_t max_replication_lag_ms; /* 0 disables */
		struct config_replica *replicas;
		size_t nreplicas;
		int64_t max_lock_waits; /* 0 disables */
		int64_t max_active;	/* 0 disables */
		char *query;		/* "" or NULL: none */
		double query_max;
		char *window; /* "" or NULL: always */
		/* minutes after midnight, parsed from window */
		int window_start_min, window_end_min;
		int64_t check_interval_ms; /* > 0 */
	} throttle;

	struct config_qname checkpoint_table; /* default backfilld_checkpoint */

	struct config_assign *rollback_set; /* default: every set column = NULL */
	size_t nrollback_set;

	struct {
		char *socket;  /* resolved default applied by the loader */
		unsigned mode; /* default 0660 */
	} status;

	struct {
		char *textfile; /* NULL when not set */
	} metrics;

	struct {
		enum config_log_format format;
		enum config_log_level level;
		int64_t progress_interval_ms; /* extension: progress line period, default 5s, 0 off */
	} log;
};

/* Walks the lines of cfg->warnings from *at (start at cfg->warnings): the next one,
 * *len bytes without its newline, or NULL after the last. */
const char *config_warning_next(const char **at, int *len);

/* The batch limits not given make room for those given, as the job file and `set`
 * both apply them: `size: 10` alone lowers min_size to 10, `max_size: 50` alone
 * brings min_size and size down to 50. Only values given together can still
 * contradict each other (min <= size <= max), which the caller checks. */
void config_batch_make_room(int64_t *min, int64_t *size, int64_t *max, bool given_min,
			    bool given_size, bool given_max);

/* Reads and validates PATH. On success returns 0 and sets *out. On failure returns
 * a negative errno-style code and writes "FILE:LINE:COL: message" (or "FILE: message"
 * where no position applies) into err. Touches no database. */
int config_load(const char *path, struct config **out, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Same, from a buffer (name is used in messages only). For tests and fuzzing. */
int config_parse(const char *name, const char *buf, size_t len, struct config **out, char *err,
		 size_t errlen) __attribute__((warn_unused_result));

/* Flags for the _flags variants. CONFIG_NO_SECRETS: read no password (file,
 * environment or credential), for the control commands that only need to find
 * a job's status socket and may run as a user who cannot read the password. */
#define CONFIG_NO_SECRETS 1u
int config_load_flags(const char *path, unsigned flags, struct config **out, char *err,
		      size_t errlen) __attribute__((warn_unused_result));
int config_parse_flags(const char *name, const char *buf, size_t len, unsigned flags,
		       struct config **out, char *err, size_t errlen)
	__attribute__((warn_unused_result));

void config_free(struct config *cfg);
/* Wipes and drops the passwords: call once every connection has made its own copy. */
void config_wipe_secrets(struct config *cfg);

/* "debug", "info", "warn" or "error": 0 and *out, or -EINVAL. */
int config_parse_log_level(const char *name, enum config_log_level *out)
	__attribute__((warn_unused_result));

/* Where conn points, for messages: host:port or the socket, never the password
 * that a conninfo string may hold; fallback when the DSN names neither. */
void config_conn_name(const struct config_conn *c, enum config_driver driver, const char *fallback,
		      char *out, size_t len);

/* "500ms", "1s", "1.5s", "2m", "1h", "0": milliseconds. 0 or -EINVAL. */
int config_parse_duration(const char *s, int64_t *ms) __attribute__((warn_unused_result));

/* 0 when s is a usable identifier (1..CONFIG_MAX_IDENT bytes, valid UTF-8, no
 * control characters); -EINVAL and a reason in err otherwise. Quotes, dots inside
 * a column name and semicolons are legal: every identifier is quoted by the driver. */
int config_check_identifier(const char *s, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* A plain decimal number ("2.5", "-1", "1e3"; no hex, inf, nan or blanks). */
int config_parse_number(const char *s, double *out) __attribute__((warn_unused_result));

/* "HH:MM-HH:MM" into minutes after midnight; crossing midnight allowed. */
int config_parse_window(const char *s, int *start_min, int *end_min)
	__attribute__((warn_unused_result));

/* Hex digest (16 chars + NUL) of what makes a job's rows what they are: table, key,
 * set and where. A checkpoint written under another hash is not resumed. */
void config_hash(const struct config *cfg, char out[17]);

#endif

/* control.h - the status socket's request language. */
#ifndef BACKFILLD_CONTROL_H
#define BACKFILLD_CONTROL_H

#include <stddef.h>

#define CONTROL_MAX_SETS 16

enum control_cmd {
	CONTROL_STATUS,
	CONTROL_STATUS_JSON,
	CONTROL_PAUSE,
	CONTROL_RESUME,
	CONTROL_STOP,
	CONTROL_SET,
	CONTROL_METRICS,
};

struct control_request {
	enum control_cmd cmd;
	size_t nset;
	struct {
		char key[64];
		char value[1024];
	} set[CONTROL_MAX_SETS];
};

/* Parses one request line: "status", "status json", "pause", "resume", "stop",
 * "metrics", "set KEY=VALUE [KEY=VALUE…]". Words are separated by blanks; case
 * matters. 0, or -EINVAL with the reason in err. */
int control_parse(const char *line, struct control_request *req, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* 1 for requests that steer the job (refused to other users' peers). */
int control_mutates(enum control_cmd cmd);

/* 1 when word names a request ("status", "pause", …): the command line sends
 * these to a running job's socket. */
int control_is_command(const char *word);

#endif

/* client.h - the control commands: status, pause, resume, stop, set, metrics. */
#ifndef BACKFILLD_CLIENT_H
#define BACKFILLD_CLIENT_H

/* Sends cmd (with args for `set`) to the daemon found from config_path (-c),
 * socket_path (-s), or, for status with neither, to every daemon whose socket is
 * in a default directory. Prints the answer; returns the exit status: 0 OK, 1 the
 * daemon said ERR or is not running, 2 usage. */
int client_run(const char *cmd, const char *config_path, const char *socket_path, int json,
	       char *const *args, int nargs);

/* The default socket directories, in the order they are searched. */
extern const char *const client_default_dirs[];

#endif

/* status.h - the status socket: a Unix stream socket served from the event loop.
 *
 * One request per connection: the client writes one line, the server hands it to
 * the handler, writes the answer and closes. Every client is non-blocking, bounded
 * in size and time, so a slow or hostile client never stalls the daemon. */
#ifndef BACKFILLD_STATUS_H
#define BACKFILLD_STATUS_H

#include <stddef.h>

#define STATUS_MAX_REQUEST 4096
#define STATUS_MAX_CLIENTS 64
#define STATUS_READ_TIMEOUT 2.0	   /* seconds to send the request line */
#define STATUS_IDLE_END 0.2	   /* a pause that ends a request sent without newline */
#define STATUS_DEFER_TIMEOUT 120.0 /* seconds a deferred answer may take */

struct ev_loop;
struct status_server;
struct status_client;

/* Called once per request line (without the newline). privileged: the peer's uid
 * (SO_PEERCRED) is 0 or the daemon's own. The handler answers with status_reply
 * now, or status_defer and a later status_reply_deferred. */
typedef void (*status_handler)(struct status_client *c, const char *line, int privileged,
			       void *arg);

/* Listens at path with the given mode. A socket file left by a crashed daemon is
 * replaced; a live one, or a path that is not a socket, is an error. NULL with err
 * filled on failure. */
struct status_server *status_listen(struct ev_loop *loop, const char *path, unsigned mode,
				    status_handler handler, void *arg, char *err, size_t errlen);
/* Closes every connection and removes the socket file. */
void status_close(struct status_server *s);

/* Sends text (a newline is added when missing) and closes the connection. */
void status_reply(struct status_client *c, const char *text);
/* Keeps the client waiting under tag until status_reply_deferred(tag). */
void status_defer(struct status_client *c, int tag);
/* Answers every client deferred under tag; returns how many. */
int status_reply_deferred(struct status_server *s, int tag, const char *text);

#endif

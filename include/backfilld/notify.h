/* notify.h - systemd's readiness protocol: datagrams to $NOTIFY_SOCKET. */
#ifndef BACKFILLD_NOTIFY_H
#define BACKFILLD_NOTIFY_H

#include <stdint.h>

/* Sends "READY=1", "STATUS=…", "STOPPING=1", … when run under systemd; a no-op
 * otherwise. 0, or a negative errno. */
int notify_send(const char *state);
int notify_sendf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The watchdog interval systemd asks for (WATCHDOG_USEC for this pid), in
 * microseconds; 0 when none. */
uint64_t notify_watchdog_usec(void);

#endif

/* status.c - the status socket: a Unix stream socket served from the event loop. */
#include "backfilld/status.h"

#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

enum client_phase { CLIENT_READING, CLIENT_DEFERRED, CLIENT_WRITING };

struct status_client {
	struct status_server *srv;
	struct status_client *next, *prev;
	int fd;
	enum client_phase phase;
	int privileged;
	int tag;
	ev_io io;
	ev_timer timer;
	ev_tstamp read_by; /* when the request must be in (STATUS_READ_TIMEOUT) */
	char in[STATUS_MAX_REQUEST + 1];
	size_t in_len;
	char *out;
	size_t out_len, out_off;
};

struct status_server {
	struct ev_loop *loop;
	int fd;
	char *path;
	ino_t ino;
	ev_io accept_io;
	status_handler handler;
	void *arg;
	struct status_client *clients;
	int nclients;
};

static void client_free(struct status_client *c)
{
	struct status_server *s = c->srv;

	ev_io_stop(s->loop, &c->io);
	ev_timer_stop(s->loop, &c->timer);
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		s->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->nclients--;
	free(c->out);
	free(c);
}

static void client_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct status_client *c = w->data;

	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (errno == EINTR)
				continue;
			break; /* the peer went away: nothing more to say */
		}
		c->out_off += (size_t)n;
	}
	client_free(c);
}

void status_reply(struct status_client *c, const char *text)
{
	struct status_server *s = c->srv;
	size_t n = strlen(text);
	int nl = n == 0 || text[n - 1] != '\n';

	ev_io_stop(s->loop, &c->io);
	ev_timer_stop(s->loop, &c->timer);
	c->out = malloc(n + 2);
	if (!c->out) {
		client_free(c);
		return;
	}
	memcpy(c->out, text, n);
	if (nl)
		c->out[n++] = '\n';
	c->out_len = n;
	c->out_off = 0;
	c->phase = CLIENT_WRITING;
	/* the answer must go out within the same bound as the request came in */
	ev_timer_set(&c->timer, STATUS_READ_TIMEOUT * 2, 0.);
	ev_timer_start(s->loop, &c->timer);
	ev_io_init(&c->io, client_write_cb, c->fd, EV_WRITE);
	c->io.data = c;
	ev_io_start(s->loop, &c->io);
}

void status_defer(struct status_client *c, int tag)
{
	struct status_server *s = c->srv;

	c->phase = CLIENT_DEFERRED;
	c->tag = tag;
	ev_io_stop(s->loop, &c->io);
	ev_timer_stop(s->loop, &c->timer);
	ev_timer_set(&c->timer, STATUS_DEFER_TIMEOUT, 0.);
	ev_timer_start(s->loop, &c->timer);
}

int status_reply_deferred(struct status_server *s, int tag, const char *text)
{
	struct status_client *c = s->clients, *next;
	int n = 0;

	for (; c; c = next) {
		next = c->next;
		if (c->phase == CLIENT_DEFERRED && c->tag == tag) {
			status_reply(c, text);
			n++;
		}
	}
	return n;
}

static void client_dispatch(struct status_client *c)
{
	char *line = c->in;
	size_t n = c->in_len;

	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	line[n] = '\0';
	if (memchr(line, '\0', n)) {
		status_reply(c, "ERR malformed request");
		return;
	}
	c->srv->handler(c, line, c->privileged, c->srv->arg);
}

static void client_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct status_client *c = w->data;

	if (c->phase == CLIENT_READING) {
		/* a client that wrote a request without its newline and waits for the
		 * answer gets it once it has paused (STATUS_IDLE_END) */
		if (c->in_len > 0)
			client_dispatch(c);
		else
			status_reply(c, "ERR timed out waiting for a request line");
		return;
	}
	if (c->phase == CLIENT_DEFERRED) {
		status_reply(c, "ERR timed out waiting for the job");
		return;
	}
	client_free(c); /* a reader that does not read its answer */
}

static void client_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct status_client *c = w->data;
	char *nl;
	ssize_t n;
	ev_tstamp left;

	n = recv(c->fd, c->in + c->in_len, STATUS_MAX_REQUEST - c->in_len, MSG_DONTWAIT);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		client_free(c);
		return;
	}
	if (n == 0) {
		/* EOF: what came is the request, if anything came */
		if (c->in_len == 0) {
			client_free(c);
			return;
		}
		client_dispatch(c);
		return;
	}
	c->in_len += (size_t)n;
	nl = memchr(c->in, '\n', c->in_len);
	if (nl) {
		c->in_len = (size_t)(nl - c->in) + 1;
		client_dispatch(c);
		return;
	}
	if (c->in_len >= STATUS_MAX_REQUEST) {
		status_reply(c, "ERR request too long");
		return;
	}
	/* no newline yet: the request ends at the newline, at EOF, or when the client
	 * pauses, and never later than read_by */
	left = c->read_by - ev_now(loop);
	ev_timer_stop(loop, &c->timer);
	ev_timer_set(&c->timer, left < STATUS_IDLE_END ? (left > 0 ? left : 0.) : STATUS_IDLE_END,
		     0.);
	ev_timer_start(loop, &c->timer);
}

static int peer_privileged(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return 0;
	return cred.uid == 0 || cred.uid == geteuid();
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct status_server *s = w->data;

	for (;;) {
		struct status_client *c;
		int fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return; /* EAGAIN, or a transient error: the next event retries */
		if (s->nclients >= STATUS_MAX_CLIENTS) {
			static const char busy[] = "ERR too many connections\n";

			(void)!send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
			close(fd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->srv = s;
		c->fd = fd;
		c->privileged = peer_privileged(fd);
		c->phase = CLIENT_READING;
		c->next = s->clients;
		if (s->clients)
			s->clients->prev = c;
		s->clients = c;
		s->nclients++;
		ev_io_init(&c->io, client_read_cb, fd, EV_READ);
		c->io.data = c;
		ev_io_start(loop, &c->io);
		ev_timer_init(&c->timer, client_timer_cb, STATUS_READ_TIMEOUT, 0.);
		c->timer.data = c;
		c->read_by = ev_now(loop) + STATUS_READ_TIMEOUT;
		ev_timer_start(loop, &c->timer);
	}
}

/* mkdir -p of path's directory. A directory we create for several users'
 * daemons (/tmp/backfilld) is sticky and world-writable, like /tmp. */
static int make_parent(const char *path, char *err, size_t errlen)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			goto out_fail;
		*p = '/';
	}
	if (mkdir(dir, 01777) == 0) {
		chmod(dir, 01777); /* past the umask */
		return 0;
	}
	if (errno == EEXIST)
		return 0;
out_fail:
	snprintf(err, errlen, "cannot create directory %s: %s", dir, strerror(errno));
	return -errno;
}

/* A socket file at path: stale (nobody accepts on it) is removed; live, or not a
 * socket at all, is left alone and refused. */
static int clear_stale(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) < 0) {
		rc = -errno;
		if (rc == -ENOENT)
			return 0;
		snprintf(err, errlen, "cannot use %s: %s", path, strerror(-rc));
		return rc;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a socket; refusing to replace it",
			 path);
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot use %s: %s", path, strerror(-rc));
		return rc;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	if (rc == 0) {
		snprintf(err, errlen,
			 "%s is in use by a running daemon (another instance of this job?)", path);
		return -EADDRINUSE;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		rc = -errno;
		snprintf(err, errlen, "cannot remove stale socket %s: %s", path, strerror(-rc));
		return rc;
	}
	return 0;
}

struct status_server *status_listen(struct ev_loop *loop, const char *path, unsigned mode,
				    status_handler handler, void *arg, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct status_server *s;
	struct stat st;
	mode_t old_umask;
	int rc;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "status socket path too long (%zu bytes, at most %zu): %s",
			 strlen(path), sizeof(sa.sun_path) - 1, path);
		return NULL;
	}
	if (make_parent(path, err, errlen) < 0)
		return NULL;
	if (clear_stale(path, err, errlen) < 0)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s || !(s->path = strdup(path))) {
		free(s);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->loop = loop;
	s->handler = handler;
	s->arg = arg;
	s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		goto out_free;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	/* bind creates the file: with no permissions for others until chmod sets the
	 * configured mode, so nobody connects in between */
	old_umask = umask(0177);
	rc = bind(s->fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old_umask);
	if (rc < 0)
		goto out_close_socket;
	if (chmod(path, mode) < 0 || stat(path, &st) < 0)
		goto out_unlink;
	s->ino = st.st_ino;
	if (listen(s->fd, 64) < 0)
		goto out_unlink;
	ev_io_init(&s->accept_io, accept_cb, s->fd, EV_READ);
	s->accept_io.data = s;
	ev_io_start(loop, &s->accept_io);
	return s;

out_unlink:
	rc = errno;
	unlink(path);
	errno = rc;
out_close_socket:
	rc = errno;
	close(s->fd);
	errno = rc;
out_free:
	snprintf(err, errlen, "cannot listen on %s: %s", path, strerror(errno));
	free(s->path);
	free(s);
	return NULL;
}

void status_close(struct status_server *s)
{
	struct stat st;

	if (!s)
		return;
	while (s->clients)
		client_free(s->clients);
	ev_io_stop(s->loop, &s->accept_io);
	close(s->fd);
	/* only our own socket: another daemon may have replaced it since */
	if (stat(s->path, &st) == 0 && st.st_ino == s->ino)
		unlink(s->path);
	free(s->path);
	free(s);
}

/* client.c - the control commands: status, pause, resume, stop, set, metrics. */
#include "backfilld/client.h"
#include "backfilld/config.h"
#include "backfilld/strbuf.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* systemd's RuntimeDirectory=backfilld, then the fallback of SPEC.md */
const char *const client_default_dirs[] = { "/run/backfilld", "/tmp/backfilld", NULL };

/* A pause waits for the batch in flight: allow for a long statement_timeout. */
#define CLIENT_TIMEOUT_MS 130000

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* One request, one answer. 0 with the answer in *out; -errno when the daemon
 * cannot be reached (ENOENT, ECONNREFUSED: not running). */
static int client_ask(const char *path, const char *request, char **out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct strbuf sb;
	double deadline = now_ms() + CLIENT_TIMEOUT_MS;
	size_t len = strlen(request);
	char buf[4096];
	int fd, rc = 0;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	if (send(fd, request, len, MSG_NOSIGNAL) != (ssize_t)len ||
	    send(fd, "\n", 1, MSG_NOSIGNAL) != 1) {
		rc = -errno;
		close(fd);
		return rc;
	}
	strbuf_init(&sb);
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int left = (int)(deadline - now_ms());
		ssize_t n;

		if (left <= 0) {
			rc = -ETIMEDOUT;
			break;
		}
		if (poll(&pfd, 1, left) < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			break;
		}
		n = recv(fd, buf, sizeof(buf) - 1, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			break;
		}
		if (n == 0)
			break;
		buf[n] = '\0';
		strbuf_add(&sb, buf);
	}
	close(fd);
	if (rc < 0) {
		strbuf_free(&sb);
		return rc;
	}
	*out = strbuf_take(&sb);
	return *out ? 0 : -ENOMEM;
}

static int exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}

/* The job's socket: as configured, else where a daemon under systemd or by hand
 * would have put it by default. */
static int socket_from_config(const char *config_path, char *out, size_t len)
{
	struct config *cfg;
	char err[1024], def[512];
	const char *base;

	if (config_load_flags(config_path, CONFIG_NO_SECRETS, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return -EINVAL;
	}
	snprintf(out, len, "%s", cfg->status.socket);
	base = strrchr(cfg->status.socket, '/');
	snprintf(def, sizeof(def), "/%s.sock", cfg->job);
	if (!exists(out) && base && strcmp(base, def) == 0) {
		for (int i = 0; client_default_dirs[i]; i++) {
			char cand[1100];

			snprintf(cand, sizeof(cand), "%s%s", client_default_dirs[i], def);
			if (exists(cand) && strlen(cand) < len) {
				snprintf(out, len, "%s", cand);
				break;
			}
		}
	}
	config_free(cfg);
	return 0;
}

static int print_answer(const char *answer)
{
	size_t n = strlen(answer);

	fputs(answer, stdout);
	if (n && answer[n - 1] != '\n')
		fputc('\n', stdout);
	return strncmp(answer, "ERR", 3) == 0 ? 1 : 0;
}

/* Whether the daemon's ERR to a `set` refuses the keys or values asked for, a usage
 * error (exit 2, nothing changed), rather than the request as such (exit 1). */
static int set_refused_value(const char *answer)
{
	static const char *const runtime[] = { "ERR permission denied", "ERR internal",
					       "ERR out of memory", "ERR timed out",
					       "ERR too many connections" };

	for (size_t i = 0; i < sizeof(runtime) / sizeof(runtime[0]); i++)
		if (strncmp(answer, runtime[i], strlen(runtime[i])) == 0)
			return 0;
	return strncmp(answer, "ERR ", 4) == 0;
}

static int not_running(const char *path, int rc)
{
	if (rc == -ENOENT || rc == -ECONNREFUSED)
		fprintf(stderr, "backfilld: no daemon is running at %s (%s)\n", path,
			strerror(-rc));
	else if (rc == -EACCES)
		fprintf(stderr, "backfilld: %s: permission denied (status.mode allows whom?)\n",
			path);
	else
		fprintf(stderr, "backfilld: cannot talk to the daemon at %s: %s\n", path,
			strerror(-rc));
	return 1;
}

/* status with neither -c nor -s: every job in the default directories */
static int status_all(const char *request)
{
	const char *dirs[4];
	const char *env = getenv("RUNTIME_DIRECTORY");
	char rt_first[1024];
	const char *rt = NULL;
	int n = 0, found = 0, failed = 0;

	/* systemd lists several directories separated by ':'; the job's socket is in
	 * the first, as the config loader puts it */
	if (env && *env) {
		snprintf(rt_first, sizeof(rt_first), "%.*s", (int)strcspn(env, ":"), env);
		rt = rt_first;
		dirs[n++] = rt;
	}
	for (int i = 0; client_default_dirs[i]; i++)
		if (!rt || strcmp(rt, client_default_dirs[i]) != 0)
			dirs[n++] = client_default_dirs[i];
	dirs[n] = NULL;
	for (int i = 0; dirs[i]; i++) {
		struct dirent **names;
		int cnt = scandir(dirs[i], &names, NULL, alphasort);

		for (int j = 0; j < cnt; j++) {
			const char *name = names[j]->d_name;
			size_t len = strlen(name);
			char path[4096], *answer = NULL;
			int rc;

			if (len > 5 && strcmp(name + len - 5, ".sock") == 0) {
				snprintf(path, sizeof(path), "%s/%s", dirs[i], name);
				if (exists(path)) {
					rc = client_ask(path, request, &answer);
					if (rc == 0) {
						if (found++ && strcmp(request, "status") == 0)
							fputc('\n', stdout);
						failed |= print_answer(answer);
						free(answer);
					}
				}
			}
			free(names[j]);
		}
		if (cnt >= 0)
			free(names);
	}
	if (!found) {
		fprintf(stderr, "backfilld: no running jobs found in %s%s%s%s%s\n", dirs[0],
			dirs[1] ? ", " : "", dirs[1] ? dirs[1] : "", dirs[2] ? ", " : "",
			dirs[2] ? dirs[2] : "");
		return 1;
	}
	return failed;
}

int client_run(const char *cmd, const char *config_path, const char *socket_path, int json,
	       char *const *args, int nargs)
{
	char path[512], *answer = NULL;
	struct strbuf req;
	int rc;

	strbuf_init(&req);
	if (strcmp(cmd, "status") == 0)
		strbuf_add(&req, json ? "status json" : "status");
	else
		strbuf_add(&req, cmd);
	if (strcmp(cmd, "set") == 0) {
		if (nargs == 0) {
			fprintf(stderr, "backfilld set: give at least one KEY=VALUE\n");
			strbuf_free(&req);
			return 2;
		}
		for (int i = 0; i < nargs; i++) {
			if (!strchr(args[i], '=') || args[i][0] == '=') {
				fprintf(stderr, "backfilld set: expected KEY=VALUE, got '%s'\n",
					args[i]);
				strbuf_free(&req);
				return 2;
			}
			strbuf_add(&req, " ");
			strbuf_add(&req, args[i]);
		}
	} else if (nargs > 0) {
		fprintf(stderr, "backfilld %s: unexpected argument '%s'\n", cmd, args[0]);
		strbuf_free(&req);
		return 2;
	}
	if (req.oom) {
		strbuf_free(&req);
		return 1;
	}
	if (socket_path) {
		snprintf(path, sizeof(path), "%s", socket_path);
	} else if (config_path) {
		if (socket_from_config(config_path, path, sizeof(path)) < 0) {
			strbuf_free(&req);
			return 2;
		}
	} else if (strcmp(cmd, "status") == 0) {
		rc = status_all(req.buf);
		strbuf_free(&req);
		return rc;
	} else {
		fprintf(stderr,
			"backfilld %s: name the job with -c JOB.yaml or its socket with -s PATH\n",
			cmd);
		strbuf_free(&req);
		return 2;
	}
	rc = client_ask(path, req.buf, &answer);
	strbuf_free(&req);
	if (rc < 0)
		return not_running(path, rc);
	rc = print_answer(answer);
	if (rc && strcmp(cmd, "set") == 0 && set_refused_value(answer))
		rc = 2;
	free(answer);
	return rc;
}

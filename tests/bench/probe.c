/* probe.c - the benchmark's own measurements, independent of the daemon's.
 *
 *   bench_probe lag postgres PRIMARY_CONNINFO REPLICA_CONNINFO INTERVAL_MS
 *   bench_probe lag mysql PRIMARY_HOST:PORT REPLICA_HOST:PORT USER DATABASE INTERVAL_MS
 *       Writes a heartbeat (this process's monotonic clock, in microseconds) into
 *       bench_heartbeat(id = 1) on the primary every INTERVAL_MS and reads it back on
 *       the replica as often; lag = now - the heartbeat the replica shows. Runs until
 *       SIGTERM or SIGINT, then prints one line:
 *           lag samples=N p50_ms=X max_ms=X interval_ms=N
 *       The resolution is the interval: a replica that is fully caught up shows an
 *       age between 0 and INTERVAL_MS. Passwords: PGPASSWORD (libpq reads it) or
 *       BENCH_MYSQL_PASSWORD; never argv.
 *
 *   bench_probe status SOCKET INTERVAL_MS [SLOWFILE]
 *       Sends "status json" to the daemon's socket every INTERVAL_MS and times each
 *       round trip (connect, request, whole answer). Waits for the socket to appear;
 *       stops on SIGTERM/SIGINT or when the daemon has gone, then prints
 *           status samples=N p50_ms=X p99_ms=X max_ms=X failures=N
 *       With SLOWFILE, each round trip over 1 ms goes there as one line, with the
 *       UTC time it started at, as the daemon's log writes it:
 *           HH:MM:SS.mmm status MS
 *
 *   bench_probe exec OUTFILE COMMAND [ARG...]
 *       Runs COMMAND, waits for it and writes its peak RSS and CPU time, from the
 *       kernel's own accounting (wait4), and the peak of its anonymous memory (heap,
 *       stacks: what it allocated itself, without the pages of shared libraries;
 *       RssAnon in /proc/PID/status, read every 10 ms) into OUTFILE:
 *           rss_kib=N anon_kib=N cpu_s=X wall_s=X
 *       Exits with COMMAND's status.
 *
 *   bench_probe io DIR OUTFILE
 *       What the machine's storage does to everyone, to set beside the foreground's
 *       slow transactions: every 20 ms a 4 KiB write and fdatasync of a file in DIR,
 *       and every 100 ms the time all tasks stalled on I/O (/proc/pressure/io,
 *       "full"). Writes one line to OUTFILE per fdatasync over 20 ms and per
 *       interval with over 20 ms fully stalled, with the UTC time as the daemon's
 *       log writes it:
 *           HH:MM:SS.mmm fsync MS
 *           HH:MM:SS.mmm io_full MS in MS
 *       Until SIGTERM or SIGINT, then prints
 *           io fsyncs=N over_50ms=N max_ms=X io_full_ms=X
 *
 * Built with the tests (CMake target bench_probe); used by tests/bench/run.sh. */
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <mysql.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void catch_stop(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop; /* no SA_RESTART: sleeps and reads end early */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* the UTC time of day as the daemon's log writes it: HH:MM:SS.mmm */
static void utc_hms(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(buf, len, "%02d:%02d:%02d.%03ld", tm.tm_hour, tm.tm_min, tm.tm_sec,
		 ts.tv_nsec / 1000000);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void die(const char *what, const char *detail)
{
	fprintf(stderr, "bench_probe: %s: %s\n", what, detail ? detail : strerror(errno));
	exit(1);
}

/* ---- samples */

struct samples {
	int64_t *v;
	size_t n, cap;
	pthread_mutex_t lock;
};

static void samples_add(struct samples *s, int64_t v)
{
	pthread_mutex_lock(&s->lock);
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 1024;
		int64_t *nv = realloc(s->v, cap * sizeof(*nv));

		if (!nv)
			die("out of memory", "");
		s->v = nv;
		s->cap = cap;
	}
	s->v[s->n++] = v;
	pthread_mutex_unlock(&s->lock);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* nearest-rank percentile of sorted samples, in milliseconds */
static double pct_ms(const struct samples *s, double p)
{
	size_t rank;

	if (s->n == 0)
		return 0;
	rank = (size_t)(p / 100.0 * (double)s->n + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > s->n)
		rank = s->n;
	return (double)s->v[rank - 1] / 1000.0;
}

/* ---- lag: a heartbeat written on the primary, read on the replica */

struct endpoint {
	int is_pg;
	const char *conninfo; /* postgres */
	char host[256];	      /* mysql */
	unsigned port;
	const char *user, *db, *password;
	PGconn *pg;
	MYSQL *my;
};

static void endpoint_parse_hostport(struct endpoint *e, const char *hp)
{
	const char *colon = strrchr(hp, ':');

	if (!colon || (size_t)(colon - hp) >= sizeof(e->host))
		die("expected HOST:PORT", hp);
	memcpy(e->host, hp, (size_t)(colon - hp));
	e->host[colon - hp] = '\0';
	e->port = (unsigned)strtoul(colon + 1, NULL, 10);
}

static void endpoint_connect(struct endpoint *e)
{
	if (e->is_pg) {
		e->pg = PQconnectdb(e->conninfo);
		if (PQstatus(e->pg) != CONNECTION_OK)
			die("connect", PQerrorMessage(e->pg));
		return;
	}
	e->my = mysql_init(NULL);
	if (!e->my ||
	    !mysql_real_connect(e->my, e->host, e->user, e->password, e->db, e->port, NULL, 0))
		die("connect", e->my ? mysql_error(e->my) : "mysql_init");
}

/* runs SQL; for a query returning one value, stores it in *out. 0 or -1. */
static int endpoint_sql(struct endpoint *e, const char *sql, int64_t *out)
{
	if (e->is_pg) {
		PGresult *r = PQexec(e->pg, sql);
		int ok = PQresultStatus(r) == PGRES_COMMAND_OK ||
			 (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1);

		if (ok && out)
			*out = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		if (!ok)
			fprintf(stderr, "bench_probe: %s: %s", sql, PQerrorMessage(e->pg));
		PQclear(r);
		return ok ? 0 : -1;
	}
	if (mysql_query(e->my, sql) != 0) {
		fprintf(stderr, "bench_probe: %s: %s\n", sql, mysql_error(e->my));
		return -1;
	}
	MYSQL_RES *res = mysql_store_result(e->my);
	if (!res)
		return mysql_field_count(e->my) == 0 ? 0 : -1;
	MYSQL_ROW row = mysql_fetch_row(res);
	int rc = row && row[0] ? 0 : -1;
	if (rc == 0 && out)
		*out = strtoll(row[0], NULL, 10);
	mysql_free_result(res);
	return rc;
}

struct lag_probe {
	struct endpoint primary, replica;
	long interval_ms;
	struct samples lag;
	int write_errors;
};

static void *heartbeat_writer(void *arg)
{
	struct lag_probe *p = arg;
	char sql[128];

	mysql_thread_init();
	while (!stop_requested) {
		snprintf(sql, sizeof(sql), "UPDATE bench_heartbeat SET ts_us = %lld WHERE id = 1",
			 (long long)now_us());
		if (endpoint_sql(&p->primary, sql, NULL) < 0)
			p->write_errors++;
		sleep_ms(p->interval_ms);
	}
	mysql_thread_end();
	return NULL;
}

static int cmd_lag(int argc, char **argv)
{
	struct lag_probe p;
	pthread_t writer;
	int64_t ts, first;
	char sql[128];

	memset(&p, 0, sizeof(p));
	pthread_mutex_init(&p.lag.lock, NULL);
	if (argc == 6 && strcmp(argv[2], "postgres") == 0) {
		p.primary.is_pg = p.replica.is_pg = 1;
		p.primary.conninfo = argv[3];
		p.replica.conninfo = argv[4];
		p.interval_ms = atol(argv[5]);
	} else if (argc == 8 && strcmp(argv[2], "mysql") == 0) {
		endpoint_parse_hostport(&p.primary, argv[3]);
		endpoint_parse_hostport(&p.replica, argv[4]);
		p.primary.user = p.replica.user = argv[5];
		p.primary.db = p.replica.db = argv[6];
		p.primary.password = p.replica.password = getenv("BENCH_MYSQL_PASSWORD");
		p.interval_ms = atol(argv[7]);
	} else {
		die("usage", "lag postgres PRIMARY REPLICA MS | lag mysql H:P H:P USER DB MS");
	}
	if (p.interval_ms < 1)
		die("interval must be at least 1 ms", argv[argc - 1]);
	if (mysql_library_init(0, NULL, NULL) != 0)
		die("mysql_library_init", "");
	endpoint_connect(&p.primary);
	endpoint_connect(&p.replica);
	/* a replica showing a heartbeat older than this one lags at least since then */
	first = now_us();
	snprintf(sql, sizeof(sql), "UPDATE bench_heartbeat SET ts_us = %lld WHERE id = 1",
		 (long long)first);
	if (endpoint_sql(&p.primary, sql, NULL) < 0)
		die("the first heartbeat failed", "is there a bench_heartbeat row with id 1?");
	if (pthread_create(&writer, NULL, heartbeat_writer, &p) != 0)
		die("pthread_create", NULL);
	while (!stop_requested) {
		if (endpoint_sql(&p.replica, "SELECT ts_us FROM bench_heartbeat WHERE id = 1",
				 &ts) == 0)
			samples_add(&p.lag, now_us() - (ts < first ? first : ts));
		sleep_ms(p.interval_ms);
	}
	pthread_join(writer, NULL);
	qsort(p.lag.v, p.lag.n, sizeof(int64_t), cmp_i64);
	printf("lag samples=%zu p50_ms=%.1f max_ms=%.1f interval_ms=%ld write_errors=%d\n", p.lag.n,
	       pct_ms(&p.lag, 50), pct_ms(&p.lag, 100), p.interval_ms, p.write_errors);
	return p.lag.n > 0 && p.write_errors == 0 ? 0 : 1;
}

/* ---- status: round trips to the daemon's socket */

/* one request; its round trip in microseconds, or -1 when the daemon is not there */
static int64_t status_round_trip(const char *path)
{
	struct sockaddr_un sa;
	char buf[8192];
	int64_t t0 = now_us();
	ssize_t n;
	size_t got = 0;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket", NULL);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    write(fd, "status json\n", 12) != 12) {
		close(fd);
		return -1;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		got += (size_t)n;
	close(fd);
	/* a complete answer is one JSON object ending in a newline */
	return n == 0 && got > 2 ? now_us() - t0 : -1;
}

static int cmd_status(int argc, char **argv)
{
	struct samples s;
	long interval_ms;
	int64_t us;
	int seen = 0, failures = 0;
	char when[32];
	FILE *slow = NULL;

	if (argc != 4 && argc != 5)
		die("usage", "status SOCKET INTERVAL_MS [SLOWFILE]");
	interval_ms = atol(argv[3]);
	if (argc == 5) {
		slow = fopen(argv[4], "w");
		if (!slow)
			die(argv[4], NULL);
	}
	memset(&s, 0, sizeof(s));
	pthread_mutex_init(&s.lock, NULL);
	while (!stop_requested) {
		utc_hms(when, sizeof(when));
		us = status_round_trip(argv[2]);
		if (us >= 0) {
			samples_add(&s, us);
			seen = 1;
			if (slow && us > 1000)
				fprintf(slow, "%s status %.2f\n", when, (double)us / 1000.0);
		} else if (seen) {
			/* the daemon has finished; one refused connect is its exit */
			if (access(argv[2], F_OK) != 0)
				break;
			failures++;
		}
		sleep_ms(interval_ms);
	}
	if (slow)
		fclose(slow);
	qsort(s.v, s.n, sizeof(int64_t), cmp_i64);
	printf("status samples=%zu p50_ms=%.3f p99_ms=%.3f max_ms=%.3f failures=%d\n", s.n,
	       pct_ms(&s, 50), pct_ms(&s, 99), pct_ms(&s, 100), failures);
	return s.n > 0 ? 0 : 1;
}

/* ---- exec: peak RSS and CPU seconds of a command, from wait4 */

/* RssAnon of a live process in KiB, or -1 */
static long rss_anon_kib(pid_t pid)
{
	char path[64], line[256];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "RssAnon: %ld", &v) == 1)
			break;
	fclose(f);
	return v;
}

static int cmd_exec(int argc, char **argv)
{
	struct rusage ru;
	int64_t t0 = now_us();
	long anon, anon_peak = 0;
	int status;
	pid_t pid, got;
	FILE *out;

	if (argc < 4)
		die("usage", "exec OUTFILE COMMAND [ARG...]");
	pid = fork();
	if (pid < 0)
		die("fork", NULL);
	if (pid == 0) {
		execvp(argv[3], argv + 3);
		fprintf(stderr, "bench_probe: %s: %s\n", argv[3], strerror(errno));
		_exit(127);
	}
	/* the harness stops the daemon with signals: they are for it, not for us */
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	for (;;) {
		got = wait4(pid, &status, WNOHANG, &ru);
		if (got == pid)
			break;
		if (got < 0 && errno != EINTR)
			die("wait4", NULL);
		anon = rss_anon_kib(pid);
		if (anon > anon_peak)
			anon_peak = anon;
		sleep_ms(10);
	}
	out = fopen(argv[2], "w");
	if (!out)
		die(argv[2], NULL);
	fprintf(out, "rss_kib=%ld anon_kib=%ld cpu_s=%.3f wall_s=%.3f\n", ru.ru_maxrss, anon_peak,
		(double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
			(double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6,
		(double)(now_us() - t0) / 1e6);
	fclose(out);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

/* ---- io: the storage's stalls, seen by a bystander */

/* the "full" total of /proc/pressure/io in microseconds, or -1 (no PSI) */
static int64_t io_full_us(void)
{
	char line[256];
	long long total = -1;
	FILE *f = fopen("/proc/pressure/io", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		const char *t = strstr(line, "total=");

		if (strncmp(line, "full", 4) == 0 && t)
			total = atoll(t + 6);
	}
	fclose(f);
	return total;
}

static int cmd_io(int argc, char **argv)
{
	char path[4096], buf[4096], when[32];
	int64_t full0, full1, psi_at, t0, dt, max_us = 0, stalled_us = 0;
	long fsyncs = 0, over50 = 0;
	FILE *out;
	int fd;

	if (argc != 4) {
		fprintf(stderr, "usage: bench_probe io DIR OUTFILE\n");
		return 2;
	}
	snprintf(path, sizeof(path), "%s/bench_probe.io", argv[2]);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		die(path, NULL);
	out = fopen(argv[3], "w");
	if (!out)
		die(argv[3], NULL);
	setvbuf(out, NULL, _IOLBF, 0);
	memset(buf, 'x', sizeof(buf));
	full0 = io_full_us();
	psi_at = now_us();
	while (!stop_requested) {
		utc_hms(when, sizeof(when));
		t0 = now_us();
		if (pwrite(fd, buf, sizeof(buf), 0) != (ssize_t)sizeof(buf) || fdatasync(fd) < 0)
			die(path, NULL);
		dt = now_us() - t0;
		fsyncs++;
		over50 += dt > 50000;
		if (dt > max_us)
			max_us = dt;
		if (dt > 20000)
			fprintf(out, "%s fsync %.1f\n", when, (double)dt / 1000.0);
		if (full0 >= 0 && now_us() - psi_at >= 100000) {
			full1 = io_full_us();
			if (full1 - full0 > 20000) {
				utc_hms(when, sizeof(when));
				fprintf(out, "%s io_full %.1f in %.1f\n", when,
					(double)(full1 - full0) / 1000.0,
					(double)(now_us() - psi_at) / 1000.0);
			}
			stalled_us += full1 - full0;
			full0 = full1;
			psi_at = now_us();
		}
		sleep_ms(20);
	}
	close(fd);
	unlink(path);
	fclose(out);
	printf("io fsyncs=%ld over_50ms=%ld max_ms=%.1f io_full_ms=%.1f\n", fsyncs, over50,
	       (double)max_us / 1000.0, (double)stalled_us / 1000.0);
	return 0;
}

int main(int argc, char **argv)
{
	catch_stop();
	if (argc >= 2 && strcmp(argv[1], "lag") == 0)
		return cmd_lag(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "status") == 0)
		return cmd_status(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "exec") == 0)
		return cmd_exec(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "io") == 0)
		return cmd_io(argc, argv);
	fprintf(stderr, "usage: bench_probe lag|status|exec|io ... (see tests/bench/probe.c)\n");
	return 2;
}

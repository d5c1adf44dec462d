/* sock_peer.c - a test peer for Unix sockets: a notify receiver and raw clients.
 *
 *   sock_peer listen-dgram PATH SECONDS   print each datagram received, one per line
 *   sock_peer ask PATH TEXT               send TEXT (no newline added), print the answer
 *   sock_peer ask-open PATH TEXT          the same, but keep the write side open (no EOF)
 *   sock_peer hold PATH SECONDS           connect, send nothing, keep it open
 *   sock_peer flood PATH BYTES            send BYTES of 'a' without a newline, print the answer
 *
 * What the integration scenarios need that bash cannot do: talk to Unix sockets. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int addr(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -1;
	memcpy(sa->sun_path, path, strlen(path));
	return 0;
}

static int stream_connect(const char *path)
{
	struct sockaddr_un sa;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	if (fd < 0 || addr(path, &sa) < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror(path);
		exit(1);
	}
	return fd;
}

static void print_answer(int fd)
{
	char buf[65536];
	ssize_t n;

	while ((n = recv(fd, buf, sizeof(buf), 0)) > 0)
		fwrite(buf, 1, (size_t)n, stdout);
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc != 4) {
		fprintf(stderr, "usage: sock_peer listen-dgram|ask|ask-open|hold|flood PATH ARG\n");
		return 2;
	}
	if (strcmp(argv[1], "listen-dgram") == 0) {
		struct sockaddr_un sa;
		time_t end = time(NULL) + atoi(argv[3]);
		int fd = socket(AF_UNIX, SOCK_DGRAM, 0);

		if (fd < 0 || addr(argv[2], &sa) < 0 ||
		    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			perror(argv[2]);
			return 1;
		}
		setvbuf(stdout, NULL, _IOLBF, 0);
		while (time(NULL) < end) {
			struct pollfd p = { .fd = fd, .events = POLLIN };
			char buf[4096];
			ssize_t n;

			if (poll(&p, 1, 200) <= 0)
				continue;
			n = recv(fd, buf, sizeof(buf) - 1, 0);
			if (n <= 0)
				continue;
			buf[n] = '\0';
			/* one datagram may carry several assignments: one per line */
			printf("%s\n", buf);
		}
		return 0;
	}
	if (strcmp(argv[1], "ask") == 0 || strcmp(argv[1], "ask-open") == 0) {
		int fd = stream_connect(argv[2]);

		if (send(fd, argv[3], strlen(argv[3]), 0) < 0)
			return 1;
		if (strcmp(argv[1], "ask") == 0)
			shutdown(fd, SHUT_WR);
		print_answer(fd);
		return 0;
	}
	if (strcmp(argv[1], "hold") == 0) {
		int fd = stream_connect(argv[2]);

		sleep((unsigned)atoi(argv[3]));
		close(fd);
		return 0;
	}
	if (strcmp(argv[1], "flood") == 0) {
		long left = atol(argv[3]);
		char chunk[8192];
		int fd = stream_connect(argv[2]);

		memset(chunk, 'a', sizeof(chunk));
		while (left > 0) {
			ssize_t n = send(fd, chunk,
					 left < (long)sizeof(chunk) ? (size_t)left : sizeof(chunk),
					 MSG_NOSIGNAL);

			if (n < 0)
				break; /* the daemon hung up on us: expected */
			left -= n;
		}
		print_answer(fd);
		return 0;
	}
	fprintf(stderr, "sock_peer: unknown mode %s\n", argv[1]);
	return 2;
}

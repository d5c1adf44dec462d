/* main.c - the command line: subcommands, options, exit codes. */
#include "backfilld/check.h"
#include "backfilld/client.h"
#include "backfilld/config.h"
#include "backfilld/control.h"
#include "backfilld/daemon.h"
#include "backfilld/driver.h"
#include "backfilld/log.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

static const char usage[] =
	"usage: backfilld run    -c JOB.yaml [--reset]   run the job until done\n"
	"       backfilld check  -c JOB.yaml [--json]    preflight: red flags and the plan\n"
	"       backfilld verify -c JOB.yaml [--json] [--sample N]\n"
	"                        count pending / diverged rows, list N keys of each\n"
	"       backfilld rollback -c JOB.yaml [--reset] the inverse job (rollback.set), batched\n"
	"       backfilld status [-c JOB.yaml | -s SOCKET] [--json]\n"
	"       backfilld pause  [-c JOB.yaml | -s SOCKET]   after the batch in flight\n"
	"       backfilld resume [-c JOB.yaml | -s SOCKET]\n"
	"       backfilld stop   [-c JOB.yaml | -s SOCKET]   graceful, as SIGTERM\n"
	"       backfilld set KEY=VALUE... [-c JOB.yaml | -s SOCKET]\n"
	"                        batch.size, batch.sleep, batch.target_time, throttle.*, ...\n"
	"       backfilld metrics [-c JOB.yaml | -s SOCKET]  Prometheus text\n"
	"       backfilld --version | --help\n"
	"\n"
	"Exit status: 0 done, 1 runtime failure, 2 usage or configuration error,\n"
	"3 verify found pending or diverged rows, or check found an error.\n";

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "reset", no_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ "socket", required_argument, NULL, 's' },
		{ "sample", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct job_options opt = { 0 };
	const char *cmd = NULL, *path = NULL, *socket_path = NULL;
	struct config *cfg = NULL;
	char err[1024];
	int c;

	if (argc >= 2 && argv[1][0] != '-') {
		cmd = argv[1];
		argv++;
		argc--;
	}
	while ((c = getopt_long(argc, argv, "c:s:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': path = optarg; break;
		case 's': socket_path = optarg; break;
		case 'r': opt.reset = 1; break;
		case 'j': opt.json = 1; break;
		case 'S': {
			char *end;

			errno = 0;
			opt.sample = strtoll(optarg, &end, 10);
			if (errno || end == optarg || *end || opt.sample < 1 ||
			    opt.sample > 100000) {
				fprintf(stderr,
					"backfilld: --sample '%s': want a count of 1 to 100000\n",
					optarg);
				return 2;
			}
			break;
		}
		case 'h': fputs(usage, stdout); return 0;
		case 'V': printf("backfilld %s\n", BACKFILLD_VERSION); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (!cmd) {
		fputs(usage, stderr);
		return 2;
	}
	if (control_is_command(cmd)) {
		if (path && socket_path) {
			fprintf(stderr, "backfilld %s: give -c or -s, not both\n", cmd);
			return 2;
		}
		if (opt.sample) {
			fprintf(stderr, "backfilld %s: --sample goes with verify\n", cmd);
			return 2;
		}
		if (opt.reset || (opt.json && strcmp(cmd, "status") != 0)) {
			fprintf(stderr, "backfilld %s: %s does not apply\n", cmd,
				opt.reset ? "--reset" : "--json");
			return 2;
		}
		return client_run(cmd, path, socket_path, opt.json, argv + optind, argc - optind);
	}
	if (optind < argc) {
		fprintf(stderr, "backfilld: unexpected argument '%s'\n%s", argv[optind], usage);
		return 2;
	}
	if (socket_path) {
		fprintf(stderr, "backfilld %s: -s goes with the control commands\n", cmd);
		return 2;
	}
	if (opt.sample && strcmp(cmd, "verify") != 0) {
		fprintf(stderr, "backfilld %s: --sample goes with verify\n", cmd);
		return 2;
	}
	if (strcmp(cmd, "run") == 0) {
		opt.mode = JOB_MODE_RUN;
		if (opt.json) {
			fprintf(stderr, "backfilld: --json goes with verify\n");
			return 2;
		}
	} else if (strcmp(cmd, "rollback") == 0) {
		opt.mode = JOB_MODE_ROLLBACK;
		if (opt.json) {
			fprintf(stderr, "backfilld: --json goes with verify\n");
			return 2;
		}
	} else if (strcmp(cmd, "check") == 0) {
		if (opt.reset) {
			fprintf(stderr, "backfilld: --reset goes with run\n");
			return 2;
		}
	} else if (strcmp(cmd, "verify") == 0) {
		opt.mode = JOB_MODE_VERIFY;
		if (opt.reset) {
			fprintf(stderr, "backfilld: --reset goes with run\n");
			return 2;
		}
	} else {
		fprintf(stderr, "backfilld: unknown command '%s'\n%s", cmd, usage);
		return 2;
	}
	if (!path) {
		fprintf(stderr, "backfilld %s: -c JOB.yaml is required\n", cmd);
		return 2;
	}
	/* the job's password is read next: no core dump of this process, and no ptrace
	 * or /proc/PID/mem and environ by the same uid (only root), as ssh-agent does */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if (config_load(path, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	log_setup(cfg->log.format == CONFIG_LOG_JSON, (enum log_level)cfg->log.level, cfg->job);
	/* the engine's driver before anything connects: a missing module or client
	 * library is reported as that, not as a failed connection */
	if (driver_load(cfg->driver, err, sizeof(err)) < 0) {
		log_error("%s", err);
		config_free(cfg);
		return 1;
	}
	if (strcmp(cmd, "check") == 0) {
		int rc = check_run(cfg, opt.json);

		config_free(cfg);
		return rc;
	}
	return daemon_run(cfg, &opt);
}

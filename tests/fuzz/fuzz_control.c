/* fuzz_control.c - the status socket's request language: one line from any local
 * client, parsed, and for `set` applied (all or nothing) to a job's settings. */
#include "fuzz.h"

#include "backfilld/config.h"
#include "backfilld/control.h"
#include "backfilld/tune.h"

static const char job[] = "job: fuzz\n"
			  "database:\n"
			  "  driver: postgres\n"
			  "  dsn: \"host=127.0.0.1 dbname=app user=backfill\"\n"
			  "table: items\n"
			  "key: id\n"
			  "set:\n"
			  "  new_status: old_status\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct control_request req;
	char *line = fuzz_cstring(data, size);
	struct config *cfg = NULL;
	char err[512];

	if (!line)
		return 0;
	if (control_parse(line, &req, err, sizeof(err)) == 0 && req.cmd == CONTROL_SET) {
		const char *keys[CONTROL_MAX_SETS], *values[CONTROL_MAX_SETS];

		if (req.nset == 0 || req.nset > CONTROL_MAX_SETS)
			abort();
		for (size_t i = 0; i < req.nset; i++) {
			keys[i] = req.set[i].key;
			values[i] = req.set[i].value;
		}
		if (config_parse_flags("fuzz.yaml", job, sizeof(job) - 1, CONFIG_NO_SECRETS, &cfg,
				       err, sizeof(err)) != 0)
			abort();
		if (tune_set_many(cfg, keys, values, req.nset, err, sizeof(err)) == 0 &&
		    (cfg->batch.min_size > cfg->batch.size ||
		     cfg->batch.size > cfg->batch.max_size))
			abort(); /* accepted settings keep min_size <= size <= max_size */
		config_free(cfg);
	}
	free(line);
	return 0;
}

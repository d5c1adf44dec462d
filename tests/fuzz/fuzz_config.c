/* fuzz_config.c - the job file parser (libyaml and every check behind it) on
 * arbitrary bytes: it must answer each input with a config or a message naming a
 * position, and never crash, leak or read out of bounds. */
#include "fuzz.h"

#include "backfilld/config.h"

#include <stdio.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *cfg = NULL;
	char err[1024];
	int rc;

	/* no secrets: an input naming a password_file must not make the target read
	 * files of the machine */
	rc = config_parse_flags("fuzz.yaml", (const char *)data, size, CONFIG_NO_SECRETS, &cfg, err,
				sizeof(err));
	if (rc == 0) {
		char hash[17];

		if (!cfg)
			abort();
		config_hash(cfg, hash);
		config_free(cfg);
	} else if (cfg || strncmp(err, "fuzz.yaml", 9) != 0) {
		/* a failure leaves nothing behind and says where */
		abort();
	}
	return 0;
}

/* fuzz_identifier.c - what names a table or a column (config_check_identifier) and
 * what the checkpoint row's cursor holds (a JSON array of key parts, read back from
 * the database). */
#include "fuzz.h"

#include "backfilld/config.h"
#include "backfilld/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstring(data, size);
	char err[256];
	char **parts = NULL;
	size_t n = 0;

	if (!s)
		return 0;
	if (config_check_identifier(s, err, sizeof(err)) == 0 && (size == 0 || strlen(s) == 0))
		abort(); /* an empty name is never usable */
	if (json_parse_array(s, &parts, &n) == 0) {
		for (size_t i = 0; i < n; i++)
			free(parts[i]);
		free(parts);
	}
	free(s);
	return 0;
}

/* fuzz_duration.c - the scalar parsers of the job file and of `set KEY=VALUE`:
 * durations, plain numbers, time windows and log levels. */
#include "fuzz.h"

#include "backfilld/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstring(data, size);
	enum config_log_level level;
	int64_t ms = -1;
	double d;
	int a = -1, b = -1;

	if (!s)
		return 0;
	if (config_parse_duration(s, &ms) == 0 && ms < 0)
		abort(); /* a duration is never negative */
	if (config_parse_number(s, &d) == 0 && d != d)
		abort(); /* never NaN */
	if (config_parse_window(s, &a, &b) == 0 && (a < 0 || a >= 1440 || b < 0 || b >= 1440))
		abort();
	if (config_parse_log_level(s, &level) == 0 && (int)level > (int)CONFIG_LOG_ERROR)
		abort();
	free(s);
	return 0;
}

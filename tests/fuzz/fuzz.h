/* fuzz.h - what the fuzz targets share: the libFuzzer entry point and a
 * NUL-terminated copy of the input (the parsers take C strings). */
#ifndef BACKFILLD_FUZZ_H
#define BACKFILLD_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* data as a C string (cut at its first NUL, as a C caller would see it); NULL when
 * out of memory. Free it. */
static inline char *fuzz_cstring(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (s) {
		memcpy(s, data, size);
		s[size] = '\0';
	}
	return s;
}

#endif

/* replay.c - runs a fuzz target's LLVMFuzzerTestOneInput once on each file or on
 * each file of each directory given: the seed corpus and the inputs of past crashes
 * kept as regressions, in ordinary builds (gcc, ASan) without libFuzzer. */
#include "fuzz.h"

#include <dirent.h>
#include <stdio.h>
#include <sys/stat.h>

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long len;

	if (!f) {
		perror(path);
		return -1;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
		fclose(f);
		return -1;
	}
	buf = malloc((size_t)len + 1);
	if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) {
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t)len);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	int n = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;
		struct dirent **list;
		int m;

		if (stat(argv[i], &st) != 0) {
			perror(argv[i]);
			return 1;
		}
		if (!S_ISDIR(st.st_mode)) {
			if (replay_file(argv[i]) < 0)
				return 1;
			n++;
			continue;
		}
		m = scandir(argv[i], &list, NULL, alphasort);
		if (m < 0) {
			perror(argv[i]);
			return 1;
		}
		for (int j = 0; j < m; j++) {
			char path[4096];

			if (list[j]->d_name[0] != '.') {
				snprintf(path, sizeof(path), "%s/%s", argv[i], list[j]->d_name);
				if (replay_file(path) < 0)
					return 1;
				n++;
			}
			free(list[j]);
		}
		free(list);
	}
	printf("replayed %d inputs\n", n);
	return n > 0 ? 0 : 1;
}

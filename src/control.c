/* control.c - the status socket's request language. */
#include "backfilld/control.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char *skip_blanks(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* Copies the next word into out; returns what follows it, or NULL when it does
 * not fit. */
static const char *next_word(const char *p, char *out, size_t cap)
{
	size_t n = 0;

	p = skip_blanks(p);
	while (*p && *p != ' ' && *p != '\t') {
		if (n + 1 >= cap)
			return NULL;
		out[n++] = *p++;
	}
	out[n] = '\0';
	return p;
}

#define TRY "(try: status, status json, pause, resume, stop, set KEY=VALUE, metrics)"

static const struct {
	const char *word;
	enum control_cmd cmd;
} words[] = {
	{ "status", CONTROL_STATUS }, { "pause", CONTROL_PAUSE }, { "resume", CONTROL_RESUME },
	{ "stop", CONTROL_STOP },     { "set", CONTROL_SET },	  { "metrics", CONTROL_METRICS },
};

int control_is_command(const char *word)
{
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcmp(word, words[i].word) == 0)
			return 1;
	return 0;
}

int control_parse(const char *line, struct control_request *req, char *err, size_t errlen)
{
	char word[1100];
	const char *p;
	size_t i;

	memset(req, 0, sizeof(*req));
	p = next_word(line, word, sizeof(word));
	if (!p || !word[0]) {
		snprintf(err, errlen, "empty or malformed request " TRY);
		return -EINVAL;
	}
	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcmp(word, words[i].word) == 0)
			break;
	if (i == sizeof(words) / sizeof(words[0])) {
		/* echo it printable: the answer goes to somebody's terminal */
		for (char *w = word; *w; w++)
			if ((unsigned char)*w < 0x20 || (unsigned char)*w >= 0x7f)
				*w = '?';
		snprintf(err, errlen, "unknown request \"%.40s\" " TRY, word);
		return -EINVAL;
	}
	req->cmd = words[i].cmd;
	if (req->cmd == CONTROL_STATUS) {
		p = next_word(p, word, sizeof(word));
		if (p && strcmp(word, "json") == 0) {
			req->cmd = CONTROL_STATUS_JSON;
			p = next_word(p, word, sizeof(word));
		}
		if (!p || word[0]) {
			snprintf(err, errlen, "status takes no argument but json");
			return -EINVAL;
		}
		return 0;
	}
	if (req->cmd != CONTROL_SET) {
		if (*skip_blanks(p)) {
			snprintf(err, errlen, "%s takes no argument", words[i].word);
			return -EINVAL;
		}
		return 0;
	}
	for (;;) {
		char *eq;
		size_t klen;

		p = next_word(p, word, sizeof(word));
		if (!p) {
			snprintf(err, errlen, "set: value too long");
			return -EINVAL;
		}
		if (!word[0])
			break;
		eq = strchr(word, '=');
		if (!eq || eq == word) {
			snprintf(err, errlen, "set: expected KEY=VALUE, got \"%.60s\"", word);
			return -EINVAL;
		}
		klen = (size_t)(eq - word);
		if (klen == 14 && strncmp(word, "throttle.query", 14) == 0 && *p) {
			/* SQL has blanks: the query is the rest of the line */
			size_t have = strlen(word);

			if (have + strlen(p) >= sizeof(word)) {
				snprintf(err, errlen, "set: value too long");
				return -EINVAL;
			}
			memcpy(word + have, p, strlen(p) + 1);
			p += strlen(p);
		}
		if (klen >= sizeof(req->set[0].key) ||
		    strlen(eq + 1) >= sizeof(req->set[0].value)) {
			snprintf(err, errlen, "set: key or value too long");
			return -EINVAL;
		}
		if (req->nset == CONTROL_MAX_SETS) {
			snprintf(err, errlen, "set: at most %d settings at once", CONTROL_MAX_SETS);
			return -EINVAL;
		}
		memcpy(req->set[req->nset].key, word, klen);
		req->set[req->nset].key[klen] = '\0';
		snprintf(req->set[req->nset].value, sizeof(req->set[0].value), "%s", eq + 1);
		req->nset++;
	}
	if (req->nset == 0) {
		snprintf(err, errlen, "set: expected KEY=VALUE");
		return -EINVAL;
	}
	return 0;
}

int control_mutates(enum control_cmd cmd)
{
	return cmd == CONTROL_PAUSE || cmd == CONTROL_RESUME || cmd == CONTROL_STOP ||
	       cmd == CONTROL_SET;
}

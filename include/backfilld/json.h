/* json.h - a small JSON writer into a caller's buffer, and a reader for key arrays. */
#ifndef BACKFILLD_JSON_H
#define BACKFILLD_JSON_H

#include <stddef.h>
#include <stdint.h>

/* Writes into a fixed buffer; on overflow the output is cut and `overflow` set, and
 * the buffer is always NUL-terminated. */
struct json_buf {
	char *buf;
	size_t cap, len;
	int need_comma, after_key, overflow;
};

void json_buf_init(struct json_buf *jb, char *buf, size_t cap);
void json_obj_begin(struct json_buf *jb);
void json_obj_end(struct json_buf *jb);
void json_arr_begin(struct json_buf *jb);
void json_arr_end(struct json_buf *jb);
void json_key(struct json_buf *jb, const char *key);
void json_str(struct json_buf *jb, const char *s); /* NULL writes null */
void json_int(struct json_buf *jb, int64_t v);
void json_double(struct json_buf *jb, double v, int decimals);
void json_null(struct json_buf *jb);
void json_bool(struct json_buf *jb, int v);
void json_raw(struct json_buf *jb, const char *text); /* a value already in JSON */

void json_kv_str(struct json_buf *jb, const char *key, const char *s);
void json_kv_int(struct json_buf *jb, const char *key, int64_t v);
void json_kv_double(struct json_buf *jb, const char *key, double v, int decimals);
void json_kv_raw(struct json_buf *jb, const char *key, const char *text);

/* Parses a flat JSON array of strings, numbers and nulls ("[4711]", "[\"eu\", 17]").
 * On success *out holds *n malloc'd strings (a number as written, a string
 * unescaped, NULL for null), freed with json_strv_free. 0 or -EINVAL. */
int json_parse_array(const char *s, char ***out, size_t *n) __attribute__((warn_unused_result));
void json_strv_free(char **v, size_t n);

/* 1 when s is exactly one JSON number. */
int json_is_number(const char *s);

/* Encodes n key parts as a JSON array; numeric[i] says whether part i is written
 * bare (when it is a valid JSON number; NaN and the like become strings) or as a string. malloc'd. */
char *json_encode_key(char *const *parts, const int *numeric, size_t n);

#endif

/* checkpoint.h - the job's row in the checkpoint table: its statements and its parse.
 *
 * The row is the job's only durable state. The batch executor advances it in the
 * same transaction as the batch's UPDATE, so it can never run ahead of or behind
 * the data. */
#ifndef BACKFILLD_CHECKPOINT_H
#define BACKFILLD_CHECKPOINT_H

#include <stdint.h>

#include "backfilld/db.h"

struct sql;

struct checkpoint_row {
	char state[16];
	char *cursor;	  /* JSON array, NULL before the first batch */
	char *high_water; /* JSON array, NULL when the range is empty */
	int64_t rows_done;
	int64_t batches_done;
	char config_hash[24];
	char *owner;
};

/* CREATE TABLE IF NOT EXISTS; no parameters. */
char *checkpoint_sql_create(const struct sql *s);
/* state, cursor, high_water, rows_done, batches_done, config_hash, owner; params: job */
char *checkpoint_sql_load(const struct sql *s);
/* params: job, high_water (JSON or NULL), config_hash, owner, batch_size */
char *checkpoint_sql_insert(const struct sql *s);
/* params: job */
char *checkpoint_sql_delete(const struct sql *s);
/* state running, owner, last_error cleared; params: owner, job */
char *checkpoint_sql_resume(const struct sql *s);
/* params: cursor (JSON), rows matched, batch_size, job */
char *checkpoint_sql_advance(const struct sql *s);
/* params: state, last_error (or NULL), throttle_reasons (or NULL), job */
char *checkpoint_sql_state(const struct sql *s);
/* state done, finished_at; params: job */
char *checkpoint_sql_finish(const struct sql *s);

/* The single-instance lock, held by the session for the whole run: one row, one
 * value, "1" when taken, "0" when another session holds it. params: lock name */
const char *checkpoint_sql_lock(enum db_dialect d);

/* Fills row from the result of checkpoint_sql_load; 0, or -ENOENT with no row. */
int checkpoint_row_parse(const struct db_result *res, struct checkpoint_row *row)
	__attribute__((warn_unused_result));
void checkpoint_row_clear(struct checkpoint_row *row);

#endif

/* checkpoint.c - the job's row in the checkpoint table: its statements and its parse. */
#include "backfilld/checkpoint.h"
#include "backfilld/sql.h"
#include "backfilld/strbuf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int pg(const struct sql *s)
{
	return s->dialect == DB_DIALECT_POSTGRES;
}

char *checkpoint_sql_create(const struct sql *s)
{
	if (pg(s))
		return sql_with_table("CREATE TABLE IF NOT EXISTS %s ("
				      " job text PRIMARY KEY,"
				      " state text NOT NULL,"
				      " \"cursor\" jsonb,"
				      " high_water jsonb,"
				      " rows_done bigint NOT NULL DEFAULT 0,"
				      " batches_done bigint NOT NULL DEFAULT 0,"
				      " config_hash text NOT NULL,"
				      " owner text,"
				      " started_at timestamptz,"
				      " updated_at timestamptz,"
				      " finished_at timestamptz,"
				      " last_error text,"
				      " batch_size bigint,"
				      " throttle_reasons text)",
				      s->ckpt);
	return sql_with_table("CREATE TABLE IF NOT EXISTS %s ("
			      " job VARCHAR(255) NOT NULL PRIMARY KEY,"
			      " state VARCHAR(16) NOT NULL,"
			      " `cursor` JSON NULL,"
			      " high_water JSON NULL,"
			      " rows_done BIGINT NOT NULL DEFAULT 0,"
			      " batches_done BIGINT NOT NULL DEFAULT 0,"
			      " config_hash VARCHAR(64) NOT NULL,"
			      " owner VARCHAR(255) NULL,"
			      " started_at DATETIME(6) NULL,"
			      " updated_at DATETIME(6) NULL,"
			      " finished_at DATETIME(6) NULL,"
			      " last_error TEXT NULL,"
			      " batch_size BIGINT NULL,"
			      " throttle_reasons TEXT NULL) ENGINE=InnoDB",
			      s->ckpt);
}

char *checkpoint_sql_load(const struct sql *s)
{
	if (pg(s))
		return sql_with_table("SELECT state, \"cursor\"::text, high_water::text, rows_done,"
				      " batches_done, config_hash, owner FROM %s WHERE job = $1",
				      s->ckpt);
	return sql_with_table(
		"SELECT state, `cursor`, high_water, rows_done, batches_done, config_hash,"
		" owner FROM %s WHERE job = ?",
		s->ckpt);
}

char *checkpoint_sql_insert(const struct sql *s)
{
	if (pg(s))
		return sql_with_table(
			"INSERT INTO %s (job, state, \"cursor\", high_water, rows_done,"
			" batches_done, config_hash, owner, started_at, updated_at, batch_size)"
			" VALUES ($1, 'running', NULL, $2::jsonb, 0, 0, $3, $4, now(), now(), $5)",
			s->ckpt);
	return sql_with_table(
		"INSERT INTO %s (job, state, `cursor`, high_water, rows_done,"
		" batches_done, config_hash, owner, started_at, updated_at, batch_size)"
		" VALUES (?, 'running', NULL, ?, 0, 0, ?, ?, NOW(6), NOW(6), ?)",
		s->ckpt);
}

char *checkpoint_sql_delete(const struct sql *s)
{
	return sql_with_table(
		pg(s) ? "DELETE FROM %s WHERE job = $1" : "DELETE FROM %s WHERE job = ?", s->ckpt);
}

char *checkpoint_sql_resume(const struct sql *s)
{
	if (pg(s))
		return sql_with_table(
			"UPDATE %s SET state = 'running', owner = $1, last_error = NULL,"
			" finished_at = NULL, updated_at = now() WHERE job = $2",
			s->ckpt);
	return sql_with_table("UPDATE %s SET state = 'running', owner = ?, last_error = NULL,"
			      " finished_at = NULL, updated_at = NOW(6) WHERE job = ?",
			      s->ckpt);
}

char *checkpoint_sql_advance(const struct sql *s)
{
	if (pg(s))
		return sql_with_table(
			"UPDATE %s SET \"cursor\" = $1::jsonb, rows_done = rows_done + $2,"
			" batches_done = batches_done + 1, batch_size = $3,"
			" updated_at = now() WHERE job = $4",
			s->ckpt);
	return sql_with_table("UPDATE %s SET `cursor` = ?, rows_done = rows_done + ?,"
			      " batches_done = batches_done + 1, batch_size = ?,"
			      " updated_at = NOW(6) WHERE job = ?",
			      s->ckpt);
}

char *checkpoint_sql_state(const struct sql *s)
{
	if (pg(s))
		return sql_with_table(
			"UPDATE %s SET state = $1, last_error = $2, throttle_reasons = $3,"
			" updated_at = now() WHERE job = $4",
			s->ckpt);
	return sql_with_table("UPDATE %s SET state = ?, last_error = ?, throttle_reasons = ?,"
			      " updated_at = NOW(6) WHERE job = ?",
			      s->ckpt);
}

char *checkpoint_sql_finish(const struct sql *s)
{
	if (pg(s))
		return sql_with_table(
			"UPDATE %s SET state = 'done', last_error = NULL, finished_at = now(),"
			" updated_at = now() WHERE job = $1",
			s->ckpt);
	return sql_with_table(
		"UPDATE %s SET state = 'done', last_error = NULL, finished_at = NOW(6),"
		" updated_at = NOW(6) WHERE job = ?",
		s->ckpt);
}

const char *checkpoint_sql_lock(enum db_dialect d)
{
	if (d == DB_DIALECT_POSTGRES)
		return "SELECT pg_try_advisory_lock(hashtextextended($1, 0))::int";
	return "SELECT GET_LOCK(?, 0)";
}

static char *dup_or_null(const char *v)
{
	return v ? strdup(v) : NULL;
}

int checkpoint_row_parse(const struct db_result *res, struct checkpoint_row *row)
{
	memset(row, 0, sizeof(*row));
	if (res->nrows < 1 || res->ncols < 7)
		return -ENOENT;
	snprintf(row->state, sizeof(row->state), "%s",
		 db_value(res, 0, 0) ? db_value(res, 0, 0) : "");
	row->cursor = dup_or_null(db_value(res, 0, 1));
	row->high_water = dup_or_null(db_value(res, 0, 2));
	row->rows_done = db_value(res, 0, 3) ? strtoll(db_value(res, 0, 3), NULL, 10) : 0;
	row->batches_done = db_value(res, 0, 4) ? strtoll(db_value(res, 0, 4), NULL, 10) : 0;
	snprintf(row->config_hash, sizeof(row->config_hash), "%s",
		 db_value(res, 0, 5) ? db_value(res, 0, 5) : "");
	row->owner = dup_or_null(db_value(res, 0, 6));
	if ((db_value(res, 0, 1) && !row->cursor) || (db_value(res, 0, 2) && !row->high_water) ||
	    (db_value(res, 0, 6) && !row->owner)) {
		checkpoint_row_clear(row);
		return -ENOMEM;
	}
	return 0;
}

void checkpoint_row_clear(struct checkpoint_row *row)
{
	free(row->cursor);
	free(row->high_water);
	free(row->owner);
	memset(row, 0, sizeof(*row));
}

/* check.h - `backfilld check`: the preflight that reports red flags and the plan. */
#ifndef BACKFILLD_CHECK_H
#define BACKFILLD_CHECK_H

struct config;

/* Connects, reads the catalog and EXPLAINs the first batch, writing nothing;
 * prints findings and the plan (text, or one JSON object with json). Returns the
 * exit status: 0 no error (warnings allowed), 3 an error found, 1 the database
 * unreachable. Wipes cfg's passwords as soon as its connections hold their own. */
int check_run(struct config *cfg, int json);

#endif

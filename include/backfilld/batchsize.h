/* batchsize.h - adaptive batch size: aim each batch at a target duration.
 *
 * Grows fast while far below the target (x2 a batch, until the first cut), then
 * gently (at most +25% a batch); cuts hard: a batch over twice the target is cut
 * in proportion. A lock or statement timeout halves the size
 * (multiplicative decrease), holds growth back for a few batches, then grows it
 * back additively, a tenth of the size it had at a time (additive increase), so
 * that the size does not flap around a lock. */
#ifndef BACKFILLD_BATCHSIZE_H
#define BACKFILLD_BATCHSIZE_H

#include <stdint.h>

#define BATCHSIZE_HOLD_AFTER_CUT 5
/* growth per batch: at most x2 while a batch takes under a quarter of the target,
 * else at most x1.25 */
#define BATCHSIZE_FAST_GROWTH 2.0
#define BATCHSIZE_GROWTH 1.25
/* once sessions have waited on the batches' locks, the target stays at most this
 * many times the contended target for the rest of the run */
#define BATCHSIZE_WAITED_FACTOR 2

struct batchsize {
	int64_t size, min, max;
	int64_t target_ms;
	int hold;	      /* successful batches left before growing again */
	int cautious;	      /* a timeout, a cut or contention seen: no more fast growth */
	int contended;	      /* sessions wait on the batches: aim at contended_ms */
	int presumed;	      /* contended only by presumption (the start of a run) */
	int64_t contended_ms; /* the target while contended (when below target_ms) */
	/* sessions have waited on the batches: the target stays at most
	 * BATCHSIZE_WAITED_FACTOR * contended_ms */
	int waited;
	/* > 0: the target stays at most this (batchsize_ramp) */
	int64_t ramp_ms;
	int64_t recover_to; /* the size before the last timeout: grown back to additively */
	int64_t step;	    /* the additive step */
};

void batchsize_init(struct batchsize *b, int64_t size, int64_t min, int64_t max, int64_t target_ms);
/* New limits from live tuning; the size is clamped into them. */
void batchsize_limits(struct batchsize *b, int64_t min, int64_t max, int64_t target_ms);
/* A committed batch took ms; full is 0 for the short last batch of the range, which
 * says nothing about the right size. */
void batchsize_success(struct batchsize *b, int full, double ms);
/* Whether batches should aim at contended_ms now: a waiting session waits as long
 * as a batch takes, so batches get shorter. seen is 1 when the contention was
 * measured (a session waited behind a batch, a replica lags), 0 when it is only
 * presumed (the start of a run, before the samples have shown nobody waiting):
 * only measured contention stops the fast growth, and while it is presumed a cut
 * does not either (at 50 ms, a commit's fsync stall alone can double a batch). */
void batchsize_contention(struct batchsize *b, int contended, int64_t contended_ms, int seen);
/* Sessions have waited on the batches' locks in this run: from now on the target
 * is at most BATCHSIZE_WAITED_FACTOR * contended_ms, also once nobody waits; on a
 * large table waits are rare, but each one lasts as long as a batch. */
void batchsize_waited(struct batchsize *b);
/* A ceiling on the target while nobody is seen waiting (0: none): after the start's
 * presumption of contention has ended with other sessions running, the target steps
 * up from contended_ms to target_ms instead of jumping there, so that waits that the
 * short batches were too short to show are caught while batches are still short. */
void batchsize_ramp(struct batchsize *b, int64_t ceiling_ms);
/* What the size aims at now: contended_ms while contended (when lower), else
 * target_ms, bounded as batchsize_waited and batchsize_ramp say. */
int64_t batchsize_target(const struct batchsize *b);
/* The batch failed on a lock or statement timeout, or as a deadlock victim. */
void batchsize_timeout(struct batchsize *b);

#endif

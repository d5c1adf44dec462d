/* batchsize.c - adaptive batch size: aim each batch at a target duration. */
#include "backfilld/batchsize.h"

static int64_t clamp(const struct batchsize *b, double v)
{
	if (v < (double)b->min)
		return b->min;
	if (v > (double)b->max)
		return b->max;
	return (int64_t)v;
}

void batchsize_init(struct batchsize *b, int64_t size, int64_t min, int64_t max, int64_t target_ms)
{
	b->min = min;
	b->max = max;
	b->target_ms = target_ms;
	b->hold = 0;
	b->cautious = 0;
	b->contended = 0;
	b->presumed = 0;
	b->contended_ms = 0;
	b->waited = 0;
	b->ramp_ms = 0;
	b->recover_to = 0;
	b->step = 0;
	b->size = clamp(b, (double)size);
}

void batchsize_limits(struct batchsize *b, int64_t min, int64_t max, int64_t target_ms)
{
	b->min = min;
	b->max = max;
	b->target_ms = target_ms;
	b->size = clamp(b, (double)b->size);
}

void batchsize_success(struct batchsize *b, int full, double ms)
{
	double target = (double)batchsize_target(b), ratio, grow, limit;

	if (ms < 1.0)
		ms = 1.0;
	ratio = target / ms;
	if (ms > 2.0 * target) {
		/* far too slow: cut to what would have met the target */
		b->size = clamp(b, (double)b->size * ratio);
		b->hold = BATCHSIZE_HOLD_AFTER_CUT;
		if (!b->presumed)
			b->cautious = 1;
		return;
	}
	if (ms > 1.2 * target) {
		b->size = clamp(b, (double)b->size * 0.8);
		return;
	}
	if (b->hold > 0) {
		b->hold--;
		return;
	}
	if (!full || ms >= 0.8 * target)
		return;
	/* far below the target the next batch may double: it still takes under half
	 * of it, and the first batches of a run reach their size in a few steps; after
	 * a timeout or a cut, only gently (like TCP's slow start before its first loss) */
	limit = !b->cautious && ms < 0.25 * target ? BATCHSIZE_FAST_GROWTH : BATCHSIZE_GROWTH;
	grow = (double)b->size * (ratio < limit ? ratio : limit) + 1.0;
	if (b->size < b->recover_to) {
		/* after a timeout: back towards the old size a step at a time */
		double next = (double)(b->size + b->step);

		b->size = clamp(b, next < grow ? next : grow);
		return;
	}
	b->recover_to = 0;
	b->size = clamp(b, grow);
}

int64_t batchsize_target(const struct batchsize *b)
{
	int64_t t = b->target_ms;

	if (b->contended_ms <= 0 || b->contended_ms >= b->target_ms)
		return b->target_ms;
	if (b->contended)
		return b->contended_ms;
	if (b->waited && b->contended_ms * BATCHSIZE_WAITED_FACTOR < t)
		t = b->contended_ms * BATCHSIZE_WAITED_FACTOR;
	if (b->ramp_ms > 0 && b->ramp_ms < t)
		t = b->ramp_ms;
	return t;
}

void batchsize_ramp(struct batchsize *b, int64_t ceiling_ms)
{
	b->ramp_ms = ceiling_ms > 0 ? ceiling_ms : 0;
}

void batchsize_contention(struct batchsize *b, int contended, int64_t contended_ms, int seen)
{
	b->contended = contended;
	b->presumed = contended && !seen;
	b->contended_ms = contended_ms;
	/* having met other sessions, it grows back gently */
	if (contended && seen)
		b->cautious = 1;
}

void batchsize_waited(struct batchsize *b)
{
	b->waited = 1;
	b->cautious = 1;
}

void batchsize_timeout(struct batchsize *b)
{
	if (b->size > b->recover_to)
		b->recover_to = b->size;
	b->step = b->recover_to / 10 > b->min ? b->recover_to / 10 : b->min;
	b->size = clamp(b, (double)b->size / 2.0);
	b->hold = BATCHSIZE_HOLD_AFTER_CUT;
	b->cautious = 1;
}

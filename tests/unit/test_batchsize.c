/* test_batchsize.c - the adaptive batch size controller. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "backfilld/batchsize.h"

static void test_grows_fast_far_below_target_then_gently(void **state)
{
	struct batchsize b;
	int64_t prev;
	int steps = 0;

	batchsize_init(&b, 1000, 100, 50000, 500);
	batchsize_success(&b, 1, 10.0); /* 50x faster than the target: doubles */
	assert_int_equal(b.size, 2001);
	/* 0.002 ms a row: from 1000 to 50000 in a few batches, never more than x2 */
	batchsize_init(&b, 1000, 100, 50000, 500);
	while (b.size < 50000 && steps < 100) {
		prev = b.size;
		batchsize_success(&b, 1, (double)b.size * 0.002);
		assert_true(b.size <= prev * 2 + 1);
		steps++;
	}
	assert_int_equal(b.size, 50000);
	assert_true(steps <= 6);
	/* at a quarter of the target or more: at most +25% a batch */
	batchsize_init(&b, 1000, 100, 50000, 500);
	prev = b.size;
	batchsize_success(&b, 1, 125.0);
	assert_int_equal(b.size, prev * 5 / 4 + 1);
	prev = b.size;
	batchsize_success(&b, 1, 300.0);
	assert_true(b.size > prev && b.size <= prev * 5 / 4 + 1);
}

static void test_settles_near_target(void **state)
{
	struct batchsize b;

	batchsize_init(&b, 1000, 100, 50000, 500);
	/* a batch takes 0.1 ms per row: the target is met at 5000 rows */
	for (int i = 0; i < 200; i++)
		batchsize_success(&b, 1, (double)b.size * 0.1);
	assert_true(b.size >= 3500 && b.size <= 6500);
}

static void test_cuts_hard_when_slow(void **state)
{
	struct batchsize b;

	batchsize_init(&b, 40000, 100, 50000, 500);
	batchsize_success(&b, 1, 4000.0); /* 8x the target */
	assert_int_equal(b.size, 5000);
	batchsize_init(&b, 10000, 100, 50000, 500);
	batchsize_success(&b, 1, 700.0); /* a little slow: gentle decrease */
	assert_int_equal(b.size, 8000);
}

static void test_timeout_halves_and_holds(void **state)
{
	struct batchsize b;

	batchsize_init(&b, 1000, 100, 50000, 500);
	batchsize_timeout(&b);
	assert_int_equal(b.size, 500);
	for (int i = 0; i < 10; i++)
		batchsize_timeout(&b);
	assert_int_equal(b.size, 100); /* never below min_size */
	/* growth held back for a few fast batches after a cut: no flapping */
	for (int i = 0; i < BATCHSIZE_HOLD_AFTER_CUT; i++) {
		batchsize_success(&b, 1, 1.0);
		assert_int_equal(b.size, 100);
	}
	batchsize_success(&b, 1, 1.0);
	assert_true(b.size > 100);
}

static void test_additive_recovery_after_timeouts(void **state)
{
	struct batchsize b;
	int64_t prev;

	batchsize_init(&b, 8000, 100, 50000, 500);
	batchsize_timeout(&b); /* 4000: back to 8000 in steps of 800 */
	assert_int_equal(b.size, 4000);
	for (int i = 0; i < BATCHSIZE_HOLD_AFTER_CUT; i++)
		batchsize_success(&b, 1, 1.0);
	assert_int_equal(b.size, 4000);
	prev = b.size;
	for (int i = 0; i < 5; i++) {
		batchsize_success(&b, 1, 1.0);
		assert_int_equal(b.size - prev, 800); /* additive, not x1.25 */
		prev = b.size;
	}
	assert_int_equal(b.size, 8000);
	/* recovered: gentle multiplicative growth again */
	batchsize_success(&b, 1, 1.0);
	assert_int_equal(b.size, 10001);
	/* a step never exceeds the +25% a batch of gentle growth */
	batchsize_init(&b, 8000, 100, 50000, 500);
	batchsize_timeout(&b);
	batchsize_timeout(&b); /* 2000, step 800 > 25% of 2000 */
	for (int i = 0; i < BATCHSIZE_HOLD_AFTER_CUT; i++)
		batchsize_success(&b, 1, 1.0);
	batchsize_success(&b, 1, 1.0);
	assert_int_equal(b.size, 2501);
}

static void test_contended_aims_at_its_own_target(void **state)
{
	struct batchsize b;

	/* 0.01 ms a row: 50000 rows take 500 ms, the target */
	batchsize_init(&b, 50000, 100, 50000, 500);
	batchsize_success(&b, 1, 500.0);
	assert_int_equal(b.size, 50000);
	/* sessions wait on the batches: aim at 50 ms, cut in proportion at once */
	batchsize_contention(&b, 1, 50, 1);
	batchsize_success(&b, 1, 500.0);
	assert_int_equal(b.size, 5000);
	for (int i = 0; i < 50; i++)
		batchsize_success(&b, 1, (double)b.size * 0.01);
	assert_true(b.size >= 3500 && b.size <= 5000);
	/* a contended target above the normal one changes nothing */
	batchsize_init(&b, 1000, 100, 50000, 500);
	batchsize_contention(&b, 1, 800, 1);
	batchsize_success(&b, 1, 700.0);
	assert_int_equal(b.size, 800); /* a little slow for 500 ms */
	/* nobody waits any more: back to the normal target, gently (after the cut) */
	batchsize_init(&b, 50000, 100, 50000, 500);
	batchsize_contention(&b, 1, 50, 1);
	batchsize_success(&b, 1, 500.0);
	batchsize_contention(&b, 0, 50, 1);
	for (int i = 0; i < BATCHSIZE_HOLD_AFTER_CUT; i++)
		batchsize_success(&b, 1, (double)b.size * 0.01);
	int64_t prev = b.size;
	batchsize_success(&b, 1, (double)b.size * 0.01);
	assert_int_equal(b.size, prev * 5 / 4 + 1);
}

static void test_presumed_contention_keeps_fast_growth(void **state)
{
	struct batchsize b;

	/* a run starts contended until shown otherwise: 0.01 ms a row, 50 ms is 5000 rows */
	batchsize_init(&b, 1000, 100, 50000, 500);
	batchsize_contention(&b, 1, 50, 0);
	assert_int_equal(batchsize_target(&b), 50);
	for (int i = 0; i < 10; i++)
		batchsize_success(&b, 1, (double)b.size * 0.01);
	assert_true(b.size >= 4000 && b.size <= 5000);
	/* the samples showed nobody waiting: back to 500 ms, doubling again */
	batchsize_contention(&b, 0, 50, 0);
	assert_int_equal(batchsize_target(&b), 500);
	int64_t prev = b.size;
	batchsize_success(&b, 1, (double)b.size * 0.01);
	assert_int_equal(b.size, prev * 2 + 1);
	/* a stall that cuts a batch while contention is only presumed: still fast after */
	batchsize_init(&b, 5000, 100, 50000, 500);
	batchsize_contention(&b, 1, 50, 0);
	batchsize_success(&b, 1, 150.0);
	assert_int_equal(b.size, 1666);
	batchsize_contention(&b, 0, 50, 0);
	for (int i = 0; i < BATCHSIZE_HOLD_AFTER_CUT; i++)
		batchsize_success(&b, 1, (double)b.size * 0.01);
	prev = b.size;
	batchsize_success(&b, 1, (double)b.size * 0.01);
	assert_int_equal(b.size, prev * 2 + 1);
	/* measured contention is different: gently after it */
	batchsize_init(&b, 1000, 100, 50000, 500);
	batchsize_contention(&b, 1, 50, 1);
	batchsize_contention(&b, 0, 50, 1);
	batchsize_success(&b, 1, 10.0);
	assert_int_equal(b.size, 1251);
}

static void test_waited_bounds_the_target_for_the_run(void **state)
{
	struct batchsize b;

	batchsize_init(&b, 1000, 100, 50000, 500);
	batchsize_contention(&b, 1, 50, 1);
	batchsize_waited(&b);
	assert_int_equal(batchsize_target(&b), 50);
	/* nobody waits any more: twice the contended target, not target_time */
	batchsize_contention(&b, 0, 50, 0);
	assert_int_equal(batchsize_target(&b), 50 * BATCHSIZE_WAITED_FACTOR);
	for (int i = 0; i < 100; i++)
		batchsize_success(&b, 1, (double)b.size * 0.01);
	assert_true(b.size >= 8000 && b.size <= 10000);
	/* a target_time below the bound stays as it is */
	batchsize_limits(&b, 100, 50000, 80);
	assert_int_equal(batchsize_target(&b), 80);
	/* without a wait the bound does not apply */
	batchsize_init(&b, 1000, 100, 50000, 500);
	batchsize_contention(&b, 0, 50, 0);
	assert_int_equal(batchsize_target(&b), 500);
}

static void test_ramp_caps_the_target_until_lifted(void **state)
{
	struct batchsize b;

	/* the start's presumption ended with others running: 100 ms, not 500 */
	batchsize_init(&b, 1000, 100, 50000, 500);
	batchsize_contention(&b, 1, 50, 0);
	batchsize_contention(&b, 0, 50, 0);
	batchsize_ramp(&b, 100);
	assert_int_equal(batchsize_target(&b), 100);
	/* 0.01 ms a row: the size settles where a batch takes about 100 ms */
	for (int i = 0; i < 100; i++)
		batchsize_success(&b, 1, (double)b.size * 0.01);
	assert_true(b.size >= 8000 && b.size <= 10000);
	/* the next step, then lifted: target_time again, and the size follows */
	batchsize_ramp(&b, 200);
	assert_int_equal(batchsize_target(&b), 200);
	batchsize_ramp(&b, 0);
	assert_int_equal(batchsize_target(&b), 500);
	for (int i = 0; i < 100; i++)
		batchsize_success(&b, 1, (double)b.size * 0.01);
	assert_true(b.size >= 40000 && b.size <= 50000);
	/* contention wins over a ramp, and a lower bound after waits stays lower */
	batchsize_ramp(&b, 400);
	batchsize_contention(&b, 1, 50, 1);
	assert_int_equal(batchsize_target(&b), 50);
	batchsize_waited(&b);
	batchsize_contention(&b, 0, 50, 0);
	assert_int_equal(batchsize_target(&b), 50 * BATCHSIZE_WAITED_FACTOR);
	/* a ceiling over target_time changes nothing */
	batchsize_init(&b, 1000, 100, 50000, 500);
	batchsize_ramp(&b, 800);
	assert_int_equal(batchsize_target(&b), 500);
}

static void test_short_last_batch_teaches_nothing(void **state)
{
	struct batchsize b;

	batchsize_init(&b, 1000, 100, 50000, 500);
	batchsize_success(&b, 0, 1.0);
	assert_int_equal(b.size, 1000);
}

static void test_limits_clamp(void **state)
{
	struct batchsize b;

	batchsize_init(&b, 1000000, 100, 50000, 500);
	assert_int_equal(b.size, 50000);
	batchsize_limits(&b, 100, 2000, 500);
	assert_int_equal(b.size, 2000);
	batchsize_limits(&b, 3000, 9000, 500);
	assert_int_equal(b.size, 3000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grows_fast_far_below_target_then_gently),
		cmocka_unit_test(test_settles_near_target),
		cmocka_unit_test(test_cuts_hard_when_slow),
		cmocka_unit_test(test_timeout_halves_and_holds),
		cmocka_unit_test(test_additive_recovery_after_timeouts),
		cmocka_unit_test(test_contended_aims_at_its_own_target),
		cmocka_unit_test(test_presumed_contention_keeps_fast_growth),
		cmocka_unit_test(test_waited_bounds_the_target_for_the_run),
		cmocka_unit_test(test_ramp_caps_the_target_until_lifted),
		cmocka_unit_test(test_short_last_batch_teaches_nothing),
		cmocka_unit_test(test_limits_clamp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

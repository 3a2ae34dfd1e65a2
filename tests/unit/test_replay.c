/* SPDX-License-Identifier: MIT */
/* Table-driven tests of the order checks (replay.c): the window (128
 * frames), strict order (RC) and monotonic order (UC). */
#include "util.h"
#include "replay.h"

#define W 128u
#define OK 0
#define DUP ENCSHIM_E_REPLAY
#define OLD ENCSHIM_E_STALE
#define GAP ENCSHIM_E_ORDER

struct step {
	uint64_t seq;
	int want;
};

struct scenario {
	enum encshim_order order;
	const char *name;
	struct step steps[16];
	size_t n;
};

#define S(...) { __VA_ARGS__ }, sizeof((struct step[]){ __VA_ARGS__ }) / sizeof(struct step)
#define WIN ENCSHIM_ORDER_WINDOW,
#define STRICT ENCSHIM_ORDER_STRICT,
#define MONO ENCSHIM_ORDER_MONOTONIC,
#define EXT ENCSHIM_ORDER_EXTERNAL,

static const struct scenario scenarios[] = {
	{ STRICT "strict: in order from 0", S({ 0, OK }, { 1, OK }, { 2, OK }, { 3, OK }) },
	{ STRICT "strict: first frame must be 0", S({ 1, GAP }, { 0, OK }, { 1, OK }) },
	{ STRICT "strict: a dropped frame", S({ 0, OK }, { 2, GAP }, { 1, OK }, { 2, OK }) },
	{ STRICT "strict: swapped frames", S({ 0, OK }, { 2, GAP }, { 1, OK }, { 3, GAP }) },
	{ STRICT "strict: replays", S({ 0, OK }, { 1, OK }, { 1, DUP }, { 0, DUP }, { 2, OK }) },
	{ STRICT "strict: top of the sequence space", S({ 0, OK }, { UINT64_MAX - 1, GAP }) },
	{ MONO "monotonic: losses allowed", S({ 3, OK }, { 4, OK }, { 9, OK }, { 10, OK }) },
	{ MONO "monotonic: never back", S({ 5, OK }, { 5, DUP }, { 4, DUP }, { 0, DUP }, { 6, OK }) },
	{ MONO "monotonic: swapped frames", S({ 0, OK }, { 2, OK }, { 1, DUP }) },
	{ EXT "external: the front end decides", S({ 5, OK }, { 5, OK }, { 0, OK }) },
	{ WIN "in order", S({ 0, OK }, { 1, OK }, { 2, OK }, { 3, OK }) },
	{ WIN "first frame has any number", S({ 1000, OK }, { 999, OK }, { 1000, DUP }) },
	{ WIN "duplicate", S({ 0, OK }, { 0, DUP }, { 1, OK }, { 0, DUP }, { 1, DUP }) },
	{ WIN "reordered inside the window", S({ 5, OK }, { 3, OK }, { 4, OK }, { 1, OK }, { 2, OK },
					     { 0, OK }, { 4, DUP }) },
	{ WIN "too old", S({ 200, OK }, { 200 - W, OLD }, { 200 - W + 1, OK }, { 0, OLD }) },
	{ WIN "edge of the window", S({ W - 1, OK }, { 0, OK }, { W, OK }, { 0, OLD }, { 1, OK },
				  { 1, DUP }) },
	{ WIN "far ahead then back inside", S({ 1, OK }, { 1u << 20, OK }, { 1, OLD },
					   { (1u << 20) - W + 1, OK }, { (1u << 20) - 1, OK },
					   { (1u << 20) - 1, DUP }) },
	{ WIN "a jump past the ring forgets old bits", S({ 0, OK }, { 197, OK }, { 192, OK },
						     { 192, DUP }) },
	{ WIN "sliding block by block forgets old bits", S({ 0, OK }, { 65, OK }, { 129, OK },
							{ 192, OK }, { 0, OLD }) },
	{ WIN "block boundaries", S({ 62, OK }, { 63, OK }, { 64, OK }, { 65, OK }, { 63, DUP },
				{ 64, DUP }, { 127, OK }, { 128, OK }, { 191, OK }, { 64, DUP },
				{ 63, OLD }) },
	{ WIN "top of the sequence space", S({ UINT64_MAX - 1, OK }, { UINT64_MAX - 2, OK },
					  { UINT64_MAX - 1, DUP }, { UINT64_MAX, OK },
					  { UINT64_MAX - W, OLD }) },
};

static void test_scenarios(void **state)
{
	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
		const struct scenario *sc = &scenarios[i];
		struct replay r;

		assert_int_equal(replay_init(&r, W), 0);
		assert_int_equal(replay_set_order(&r, sc->order), 0);
		for (size_t k = 0; k < sc->n; k++) {
			int got = replay_accept(&r, sc->steps[k].seq);

			if (got != sc->steps[k].want)
				fail_msg("%s: step %zu (seq %llu): got %d want %d", sc->name, k,
					 (unsigned long long)sc->steps[k].seq, got, sc->steps[k].want);
		}
		replay_fini(&r);
	}
}

/* Every frame of a shuffled block of W accepted once, then all refused. */
static void test_full_window_shuffle(void **state)
{
	uint64_t seqs[W];
	struct replay r;

	assert_int_equal(replay_init(&r, W), 0);
	for (uint32_t i = 0; i < W; i++)
		seqs[i] = 1000 + i;
	for (uint32_t i = W - 1; i > 0; i--) {
		uint32_t j = randombytes_uniform(i + 1);
		uint64_t t = seqs[i];

		seqs[i] = seqs[j];
		seqs[j] = t;
	}
	for (uint32_t i = 0; i < W; i++)
		assert_int_equal(replay_accept(&r, seqs[i]), OK);
	for (uint32_t i = 0; i < W; i++)
		assert_int_equal(replay_accept(&r, seqs[i]), DUP);
	replay_fini(&r);
}

static void test_window_sizes(void **state)
{
	struct replay r;

	assert_int_equal(replay_init(&r, 0), 0); /* default */
	assert_int_equal(r.window, ENCSHIM_REPLAY_WINDOW_DEFAULT);
	replay_fini(&r);
	assert_int_equal(replay_init(&r, 100), ENCSHIM_E_INVAL);   /* not a power of two */
	assert_int_equal(replay_init(&r, 64), ENCSHIM_E_INVAL);    /* below the minimum */
	assert_int_equal(replay_init(&r, 1u << 21), ENCSHIM_E_INVAL);
}

/* The order is fixed before the first frame; the window cannot return. */
static void test_set_order(void **state)
{
	struct replay r;

	assert_int_equal(replay_init(&r, W), 0);
	assert_int_equal(replay_accept(&r, 0), OK);
	assert_int_equal(replay_set_order(&r, ENCSHIM_ORDER_STRICT), ENCSHIM_E_INVAL);
	replay_fini(&r);
	assert_int_equal(replay_init(&r, W), 0);
	assert_int_equal(replay_set_order(&r, ENCSHIM_ORDER_STRICT), 0);
	assert_null(r.ring);
	assert_int_equal(replay_set_order(&r, ENCSHIM_ORDER_WINDOW), ENCSHIM_E_INVAL);
	assert_int_equal(replay_set_order(&r, (enum encshim_order)42), ENCSHIM_E_INVAL);
	replay_fini(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scenarios),
		cmocka_unit_test(test_full_window_shuffle),
		cmocka_unit_test(test_window_sizes),
		cmocka_unit_test(test_set_order),
	};

	if (encshim_init())
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}

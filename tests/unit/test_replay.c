/* SPDX-License-Identifier: MIT */
/* Table-driven tests of the replay window (replay.c), window 128. */
#include "util.h"
#include "replay.h"

#define W 128u
#define OK 0
#define DUP ENCSHIM_E_REPLAY
#define OLD ENCSHIM_E_STALE

struct step {
	uint64_t seq;
	int want;
};

struct scenario {
	const char *name;
	struct step steps[16];
	size_t n;
};

#define S(...) { __VA_ARGS__ }, sizeof((struct step[]){ __VA_ARGS__ }) / sizeof(struct step)

static const struct scenario scenarios[] = {
	{ "in order", S({ 0, OK }, { 1, OK }, { 2, OK }, { 3, OK }) },
	{ "first frame has any number", S({ 1000, OK }, { 999, OK }, { 1000, DUP }) },
	{ "duplicate", S({ 0, OK }, { 0, DUP }, { 1, OK }, { 0, DUP }, { 1, DUP }) },
	{ "reordered inside the window", S({ 5, OK }, { 3, OK }, { 4, OK }, { 1, OK }, { 2, OK },
					     { 0, OK }, { 4, DUP }) },
	{ "too old", S({ 200, OK }, { 200 - W, OLD }, { 200 - W + 1, OK }, { 0, OLD }) },
	{ "edge of the window", S({ W - 1, OK }, { 0, OK }, { W, OK }, { 0, OLD }, { 1, OK },
				  { 1, DUP }) },
	{ "far ahead then back inside", S({ 1, OK }, { 1u << 20, OK }, { 1, OLD },
					   { (1u << 20) - W + 1, OK }, { (1u << 20) - 1, OK },
					   { (1u << 20) - 1, DUP }) },
	{ "a jump past the ring forgets old bits", S({ 0, OK }, { 197, OK }, { 192, OK },
						     { 192, DUP }) },
	{ "sliding block by block forgets old bits", S({ 0, OK }, { 65, OK }, { 129, OK },
							{ 192, OK }, { 0, OLD }) },
	{ "block boundaries", S({ 62, OK }, { 63, OK }, { 64, OK }, { 65, OK }, { 63, DUP },
				{ 64, DUP }, { 127, OK }, { 128, OK }, { 191, OK }, { 64, DUP },
				{ 63, OLD }) },
	{ "top of the sequence space", S({ UINT64_MAX - 1, OK }, { UINT64_MAX - 2, OK },
					  { UINT64_MAX - 1, DUP }, { UINT64_MAX, OK },
					  { UINT64_MAX - W, OLD }) },
};

static void test_scenarios(void **state)
{
	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
		const struct scenario *sc = &scenarios[i];
		struct replay r;

		assert_int_equal(replay_init(&r, W), 0);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scenarios),
		cmocka_unit_test(test_full_window_shuffle),
		cmocka_unit_test(test_window_sizes),
	};

	if (encshim_init())
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}

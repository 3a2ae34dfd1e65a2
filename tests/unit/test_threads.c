/* SPDX-License-Identifier: MIT */
/*
 * Nonce uniqueness under concurrency: 8 threads seal through one peer
 * at once; every sequence number (and so every nonce) is distinct, they
 * cover 0..N-1 with no gap, and every frame opens exactly once.
 */
#include <pthread.h>
#include "util.h"

#define THREADS 8
#define PER_THREAD 2000
#define LEN 24

static struct duo d;
static uint8_t frames[THREADS * PER_THREAD][LEN + ENCSHIM_OVERHEAD];

static void *sealer(void *arg)
{
	uintptr_t t = (uintptr_t)arg;
	uint8_t pt[LEN];

	memset(pt, (int)t, sizeof(pt));
	for (int i = 0; i < PER_THREAD; i++)
		if (encshim_peer_seal(d.p[0], "e", 1, pt, LEN, frames[t * PER_THREAD + i]))
			return (void *)1;
	return NULL;
}

static void test_concurrent_seal(void **state)
{
	static int32_t by_seq[THREADS * PER_THREAD];
	pthread_t th[THREADS];
	uint8_t s[32], out[LEN];
	void *ret;

	randombytes_buf(s, sizeof(s));
	duo_make(&d, s, s, ENCSHIM_BACKEND_AUTO, ENCSHIM_BACKEND_AUTO);
	for (uintptr_t t = 0; t < THREADS; t++)
		assert_int_equal(pthread_create(&th[t], NULL, sealer, (void *)t), 0);
	for (int t = 0; t < THREADS; t++) {
		assert_int_equal(pthread_join(th[t], &ret), 0);
		assert_null(ret);
	}
	for (size_t i = 0; i < THREADS * PER_THREAD; i++) {
		uint32_t epoch;
		uint64_t seq;

		assert_int_equal(encshim_frame_peek(frames[i], sizeof(frames[i]), &epoch, &seq), 0);
		assert_true(seq < THREADS * PER_THREAD);
		assert_int_equal(by_seq[seq], 0); /* never twice */
		by_seq[seq] = (int32_t)i + 1;
	}
	/* all present (no gap), and each opens once, in sequence order */
	for (size_t q = 0; q < THREADS * PER_THREAD; q++) {
		uint8_t *f;

		assert_int_not_equal(by_seq[q], 0);
		f = frames[by_seq[q] - 1];
		assert_int_equal(encshim_peer_open(d.p[1], "e", 1, f, LEN + ENCSHIM_OVERHEAD, out), 0);
	}
	assert_int_equal(encshim_peer_open(d.p[1], "e", 1, frames[by_seq[THREADS * PER_THREAD - 1] - 1],
					   LEN + ENCSHIM_OVERHEAD, out),
			 ENCSHIM_E_REPLAY);
	duo_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_concurrent_seal),
	};

	if (encshim_init())
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}

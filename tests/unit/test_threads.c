/* SPDX-License-Identifier: MIT */
/*
 * Nonce uniqueness under concurrency: 8 threads seal through one peer
 * at once (AES runs outside the direction's lock); every sequence number
 * (and so every nonce) is distinct, they cover 0..N-1 with no gap, and
 * every frame opens exactly once. The same while the key changes every
 * 7 frames (sealers keep the key they reserved), and with 8 threads
 * opening at once, through every backend.
 */
#include <pthread.h>
#include "util.h"
#include "session_internal.h"

#define THREADS 8
#define PER_THREAD 2000
#define LEN 24

static struct duo d;
static uint8_t frames[THREADS * PER_THREAD][LEN + ENCSHIM_OVERHEAD];

/* The thread that sealed frame i filled its plaintext with its number. */
static int frames_owner(size_t i)
{
	return (int)(i / PER_THREAD);
}

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

/* Frame indexes by sequence number, for the openers: the first
 * ENCSHIM_REPLAY_WINDOW_DEFAULT, so that any interleaving of the
 * threads stays inside the receiver's window. */
static uint32_t opening[ENCSHIM_REPLAY_WINDOW_DEFAULT];

static void *opener(void *arg)
{
	uintptr_t t = (uintptr_t)arg;
	uint8_t out[LEN];

	for (size_t q = t; q < ENCSHIM_REPLAY_WINDOW_DEFAULT; q += THREADS) {
		size_t i = opening[q];

		if (encshim_peer_open(d.p[1], "e", 1, frames[i], LEN + ENCSHIM_OVERHEAD, out) ||
		    out[0] != frames_owner(i))
			return (void *)1;
	}
	return NULL;
}

static void run(void *(*fn)(void *))
{
	pthread_t th[THREADS];
	void *ret;

	for (uintptr_t t = 0; t < THREADS; t++)
		assert_int_equal(pthread_create(&th[t], NULL, fn, (void *)t), 0);
	for (int t = 0; t < THREADS; t++) {
		assert_int_equal(pthread_join(th[t], &ret), 0);
		assert_null(ret);
	}
}

static void concurrent_seal(enum encshim_backend b, uint64_t msgs_per_key)
{
	static int32_t by_seq[THREADS * PER_THREAD];
	pthread_t th[THREADS];
	uint8_t s[32], out[LEN];
	void *ret;

	memset(by_seq, 0, sizeof(by_seq));
	randombytes_buf(s, sizeof(s));
	duo_make(&d, s, s, b, b);
	session_test_rekey_limits(d.p[0], UINT64_MAX, msgs_per_key);
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
		assert_int_equal(epoch, seq / msgs_per_key); /* key and nonce reserved together */
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

static void test_concurrent_seal(void **state)
{
	for (enum encshim_backend b = ENCSHIM_BACKEND_OPENSSL; b <= ENCSHIM_BACKEND_IPSECMB; b++)
		if (backend_usable(b)) {
			concurrent_seal(b, ENCSHIM_REKEY_AFTER_MESSAGES);
			concurrent_seal(b, 7);
		}
}

/* 8 threads open one peer's frames at once: each opens exactly once. */
static void test_concurrent_open(void **state)
{
	uint8_t s[32], out[LEN];

	for (enum encshim_backend b = ENCSHIM_BACKEND_OPENSSL; b <= ENCSHIM_BACKEND_IPSECMB; b++) {
		if (!backend_usable(b))
			continue;
		randombytes_buf(s, sizeof(s));
		duo_make(&d, s, s, b, b);
		run(sealer);
		for (uint32_t i = 0; i < THREADS * PER_THREAD; i++) {
			uint32_t epoch;
			uint64_t seq;

			assert_int_equal(encshim_frame_peek(frames[i], sizeof(frames[i]), &epoch, &seq), 0);
			if (seq < ENCSHIM_REPLAY_WINDOW_DEFAULT)
				opening[seq] = i;
		}
		run(opener);
		for (size_t q = 0; q < ENCSHIM_REPLAY_WINDOW_DEFAULT; q += 97)
			assert_int_equal(encshim_peer_open(d.p[1], "e", 1, frames[opening[q]],
							   LEN + ENCSHIM_OVERHEAD, out),
					 ENCSHIM_E_REPLAY);
		duo_free(&d);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_concurrent_seal),
		cmocka_unit_test(test_concurrent_open),
	};

	if (encshim_init())
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}

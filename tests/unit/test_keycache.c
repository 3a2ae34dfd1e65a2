/* SPDX-License-Identifier: MIT */
/*
 * Expanded keys on demand (keycache.c): however many sessions seal, at
 * most KEYCACHE_MAX key schedules stay cached, and a session whose
 * schedule was dropped expands its key again and keeps working, across
 * a rekey too. A session itself is a few hundred bytes.
 */
#include <stdio.h>
#include "util.h"
#include "keycache.h"
#include "session_internal.h"

#define MANY (KEYCACHE_MAX + 64)

static void roundtrip(struct duo *d)
{
	uint8_t f[ENCSHIM_OVERHEAD + 4], out[4];

	assert_int_equal(encshim_peer_seal(d->p[0], "e", 1, "data", 4, f), 0);
	assert_int_equal(encshim_peer_open(d->p[1], "e", 1, f, sizeof(f), out), 0);
	assert_memory_equal(out, "data", 4);
}

static void test_bounded(void **state)
{
	static struct encshim_peer *many[MANY];
	uint8_t s[32], pub[32], f[ENCSHIM_OVERHEAD], id[8];
	struct duo d;

	randombytes_buf(s, sizeof(s));
	duo_make(&d, s, s, ENCSHIM_BACKEND_AUTO, ENCSHIM_BACKEND_AUTO);
	session_test_rekey_limits(d.p[0], UINT64_MAX, 3);
	roundtrip(&d);
	encshim_local_public_key(d.l[1], pub);
	for (size_t i = 0; i < MANY; i++) {
		memcpy(id, &i, sizeof(i));
		assert_int_equal(encshim_peer_new(&many[i], d.l[0], id, sizeof(id), pub, 0), 0);
		assert_int_equal(encshim_peer_seal(many[i], NULL, 0, NULL, 0, f), 0);
		assert_true(keycache_count() <= KEYCACHE_MAX);
	}
	for (int i = 0; i < 8; i++) /* dropped schedules come back, epochs move */
		roundtrip(&d);
	for (size_t i = 0; i < MANY; i++)
		encshim_peer_free(many[i]);
	duo_free(&d);
	assert_int_equal(keycache_count(), 0);
	print_message("session: %zu bytes of key memory each, schedules bounded at %u\n",
		      session_test_peer_bytes(), KEYCACHE_MAX);
	assert_true(session_test_peer_bytes() <= 512);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bounded),
	};

	if (encshim_init())
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}

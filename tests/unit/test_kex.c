/* SPDX-License-Identifier: MIT */
/*
 * Key negotiation: only parties holding the same job secret, in the
 * same job, agree on keys; low-order and reflected public keys are
 * refused; the secret check value tells secrets apart.
 */
#include "util.h"

static void exchange(const uint8_t *s0, const char *job0, const uint8_t *s1,
		     const char *job1, int want)
{
	struct encshim_local *l0, *l1;
	struct encshim_peer *p0, *p1;
	uint8_t pub0[32], pub1[32], fr[3 + ENCSHIM_OVERHEAD], out[3];

	assert_int_equal(encshim_local_new(&l0, s0, job0, strlen(job0), "r0", 2, 0), 0);
	assert_int_equal(encshim_local_new(&l1, s1, job1, strlen(job1), "r1", 2, 0), 0);
	encshim_local_public_key(l0, pub0);
	encshim_local_public_key(l1, pub1);
	assert_int_equal(encshim_peer_new(&p0, l0, "r1", 2, pub1, 0), 0);
	assert_int_equal(encshim_peer_new(&p1, l1, "r0", 2, pub0, 0), 0);
	assert_int_equal(encshim_peer_seal(p0, NULL, 0, "abc", 3, fr), 0);
	assert_int_equal(encshim_peer_open(p1, NULL, 0, fr, sizeof(fr), out), want);
	encshim_peer_free(p0), encshim_peer_free(p1);
	encshim_local_free(l0), encshim_local_free(l1);
}

static void test_secret_and_job_bind(void **state)
{
	uint8_t s[32], t[32];

	randombytes_buf(s, 32);
	memcpy(t, s, 32);
	exchange(s, "job", t, "job", 0);
	t[31] ^= 1; /* one bit of the job secret differs */
	exchange(s, "job", t, "job", ENCSHIM_E_AUTH);
	exchange(s, "job", s, "job2", ENCSHIM_E_AUTH); /* another job id */
}

/* A job id set after the key was published (MPI: rank 0's value) binds
 * like one given at creation; ids of two launches never interoperate. */
static void test_late_job_id(void **state)
{
	struct encshim_local *l0, *l1;
	struct encshim_peer *p0, *p1;
	uint8_t s[32], pub0[32], pub1[32], fr[ENCSHIM_OVERHEAD], out[1];

	randombytes_buf(s, 32);
	assert_int_equal(encshim_local_new(&l0, s, "?", 1, "r0", 2, 0), 0);
	assert_int_equal(encshim_local_new(&l1, s, "?", 1, "r1", 2, 0), 0);
	assert_int_equal(encshim_local_set_job(l0, "launch-A", 8), 0);
	assert_int_equal(encshim_local_set_job(l1, "launch-B", 8), 0);
	assert_int_equal(encshim_local_set_job(l1, "", 0), ENCSHIM_E_INVAL);
	encshim_local_public_key(l0, pub0);
	encshim_local_public_key(l1, pub1);
	assert_int_equal(encshim_peer_new(&p0, l0, "r1", 2, pub1, 0), 0);
	assert_int_equal(encshim_peer_new(&p1, l1, "r0", 2, pub0, 0), 0);
	assert_int_equal(encshim_peer_seal(p0, NULL, 0, NULL, 0, fr), 0);
	assert_int_equal(encshim_peer_open(p1, NULL, 0, fr, sizeof(fr), out), ENCSHIM_E_AUTH);
	encshim_peer_free(p1);
	assert_int_equal(encshim_local_set_job(l1, "launch-A", 8), 0);
	assert_int_equal(encshim_peer_new(&p1, l1, "r0", 2, pub0, 0), 0);
	assert_int_equal(encshim_peer_open(p1, NULL, 0, fr, sizeof(fr), out), 0);
	encshim_peer_free(p0), encshim_peer_free(p1);
	encshim_local_free(l0), encshim_local_free(l1);
}

/* An identity claimed by the wrong key: the transcript differs. */
static void test_identity_binds(void **state)
{
	struct encshim_local *l0, *l1;
	struct encshim_peer *p0, *p1;
	uint8_t s[32], pub0[32], pub1[32], fr[ENCSHIM_OVERHEAD], out[1];

	randombytes_buf(s, 32);
	assert_int_equal(encshim_local_new(&l0, s, "j", 1, "r0", 2, 0), 0);
	assert_int_equal(encshim_local_new(&l1, s, "j", 1, "r1", 2, 0), 0);
	encshim_local_public_key(l0, pub0);
	encshim_local_public_key(l1, pub1);
	assert_int_equal(encshim_peer_new(&p0, l0, "r1", 2, pub1, 0), 0);
	assert_int_equal(encshim_peer_new(&p1, l1, "r9", 2, pub0, 0), 0); /* thinks r0 is r9 */
	assert_int_equal(encshim_peer_seal(p0, NULL, 0, NULL, 0, fr), 0);
	assert_int_equal(encshim_peer_open(p1, NULL, 0, fr, sizeof(fr), out), ENCSHIM_E_AUTH);
	encshim_peer_free(p0), encshim_peer_free(p1);
	encshim_local_free(l0), encshim_local_free(l1);
}

static void test_bad_public_keys(void **state)
{
	struct encshim_local *l;
	struct encshim_peer *p;
	uint8_t s[32], zero[32] = { 0 }, one[32] = { 1 }, own[32];

	randombytes_buf(s, 32);
	assert_int_equal(encshim_local_new(&l, s, "j", 1, "r0", 2, 0), 0);
	/* low-order points give an all-zero DH (RFC 7748 section 6.1) */
	assert_int_equal(encshim_peer_new(&p, l, "r1", 2, zero, 0), ENCSHIM_E_PEERKEY);
	assert_null(p);
	assert_int_equal(encshim_peer_new(&p, l, "r1", 2, one, 0), ENCSHIM_E_PEERKEY);
	/* our own identity and key reflected back */
	encshim_local_public_key(l, own);
	assert_int_equal(encshim_peer_new(&p, l, "r0", 2, own, 0), ENCSHIM_E_PEERKEY);
	/* bad sizes */
	assert_int_equal(encshim_peer_new(&p, l, "", 0, own, 0), ENCSHIM_E_INVAL);
	assert_int_equal(encshim_peer_new(&p, l, "r1", 2, own, 100), ENCSHIM_E_INVAL);
	encshim_local_free(l);
}

static void test_fresh_ephemeral_keys(void **state)
{
	struct encshim_local *a, *b;
	uint8_t s[32], pa[32], pb[32], ca[32], cb[32];

	randombytes_buf(s, 32);
	assert_int_equal(encshim_local_new(&a, s, "j", 1, "r0", 2, 0), 0);
	assert_int_equal(encshim_local_new(&b, s, "j", 1, "r0", 2, 0), 0);
	encshim_local_public_key(a, pa);
	encshim_local_public_key(b, pb);
	/* a restarted process never reuses keys, hence never a nonce */
	assert_memory_not_equal(pa, pb, 32);
	encshim_local_secret_check(a, ca);
	encshim_local_secret_check(b, cb);
	assert_memory_equal(ca, cb, 32);
	encshim_local_free(b);
	s[0] ^= 1;
	assert_int_equal(encshim_local_new(&b, s, "j", 1, "r1", 2, 0), 0);
	encshim_local_secret_check(b, cb);
	assert_memory_not_equal(ca, cb, 32);
	encshim_local_free(a), encshim_local_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_secret_and_job_bind),
		cmocka_unit_test(test_identity_binds),
		cmocka_unit_test(test_late_job_id),
		cmocka_unit_test(test_bad_public_keys),
		cmocka_unit_test(test_fresh_ephemeral_keys),
	};

	if (encshim_init())
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/*
 * Frames end to end: round trips at edge sizes through every pair of
 * backends; every bit flip and every truncation refused; wrong envelope,
 * direction, job secret refused; after any failure the output holds
 * zeros, never unauthenticated plaintext; rekeying at epoch boundaries.
 */
#include "util.h"
#include "session_internal.h"

static const char ENV[] = { 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 9, 0, 0, 0, 7 };

static void secret(uint8_t s[32])
{
	randombytes_buf(s, 32);
}

static void roundtrip(enum encshim_backend b0, enum encshim_backend b1)
{
	static const size_t sizes[] = { 0, 1, 15, 16, 17, 4096, 1 << 20, 16 << 20 };
	uint8_t s[32];
	struct duo d;

	secret(s);
	duo_make(&d, s, s, b0, b1);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i];
		uint8_t *pt = malloc(n + 1), *fr = malloc(n + ENCSHIM_OVERHEAD), *out = malloc(n + 1);

		randombytes_buf(pt, n);
		/* both directions */
		for (int dir = 0; dir < 2; dir++) {
			assert_int_equal(encshim_peer_seal(d.p[dir], ENV, sizeof(ENV), pt, n, fr), 0);
			assert_int_equal(encshim_peer_open(d.p[!dir], ENV, sizeof(ENV), fr,
							   n + ENCSHIM_OVERHEAD, out), 0);
			assert_memory_equal(out, pt, n);
		}
		/* in place: pack into the frame, seal, open in place */
		memcpy(fr + ENCSHIM_HEADER_BYTES, pt, n);
		assert_int_equal(encshim_peer_seal(d.p[0], ENV, sizeof(ENV), fr + ENCSHIM_HEADER_BYTES, n, fr), 0);
		assert_int_equal(encshim_peer_open(d.p[1], ENV, sizeof(ENV), fr, n + ENCSHIM_OVERHEAD,
						   fr + ENCSHIM_HEADER_BYTES), 0);
		assert_memory_equal(fr + ENCSHIM_HEADER_BYTES, pt, n);
		free(pt), free(fr), free(out);
	}
	duo_free(&d);
}

static void test_roundtrip_interop(void **state)
{
	static const enum encshim_backend all[] = { ENCSHIM_BACKEND_IPSECMB, ENCSHIM_BACKEND_OPENSSL,
						    ENCSHIM_BACKEND_SODIUM };

	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 3; j++)
			if (backend_usable(all[i]) && backend_usable(all[j]))
				roundtrip(all[i], all[j]);
}

/* Flips each of the frame's bits in turn; a fresh frame for each flip,
 * so that only the flip (not replay) can be the reason for refusal. */
static void test_every_bit_flip(void **state)
{
	enum { N = 40, FL = N + ENCSHIM_OVERHEAD };
	uint8_t s[32], pt[N], fr[FL], out[N];
	struct duo d;

	secret(s);
	duo_make(&d, s, s, ENCSHIM_BACKEND_AUTO, ENCSHIM_BACKEND_AUTO);
	memset(pt, 'P', sizeof(pt));
	for (size_t bit = 0; bit < FL * 8; bit++) {
		int rc;

		assert_int_equal(encshim_peer_seal(d.p[0], ENV, sizeof(ENV), pt, N, fr), 0);
		fr[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		memset(out, 0xAA, sizeof(out));
		rc = encshim_peer_open(d.p[1], ENV, sizeof(ENV), fr, FL, out);
		/* version/type/reserved flips are malformed, epoch flips are
		 * not adjacent, all others fail authentication */
		assert_true(rc == ENCSHIM_E_AUTH || rc == ENCSHIM_E_MALFORMED ||
			    rc == ENCSHIM_E_EPOCH);
		if (rc == ENCSHIM_E_AUTH)
			assert_true(all_zero(out, N));
	}
	/* the receiver is unharmed: a good frame still opens */
	assert_int_equal(encshim_peer_seal(d.p[0], ENV, sizeof(ENV), pt, N, fr), 0);
	assert_int_equal(encshim_peer_open(d.p[1], ENV, sizeof(ENV), fr, FL, out), 0);
	duo_free(&d);
}

static void test_every_truncation(void **state)
{
	enum { N = 40, FL = N + ENCSHIM_OVERHEAD };
	uint8_t s[32], pt[N], fr[FL], out[N];
	struct duo d;

	secret(s);
	duo_make(&d, s, s, ENCSHIM_BACKEND_AUTO, ENCSHIM_BACKEND_AUTO);
	memset(pt, 'P', sizeof(pt));
	assert_int_equal(encshim_peer_seal(d.p[0], ENV, sizeof(ENV), pt, N, fr), 0);
	for (size_t len = 0; len < FL; len++) {
		int rc = encshim_peer_open(d.p[1], ENV, sizeof(ENV), fr, len, out);

		assert_int_equal(rc, len < ENCSHIM_OVERHEAD ? ENCSHIM_E_MALFORMED : ENCSHIM_E_AUTH);
	}
	/* and the full frame still opens afterwards (nothing consumed) */
	assert_int_equal(encshim_peer_open(d.p[1], ENV, sizeof(ENV), fr, FL, out), 0);
	duo_free(&d);
}

static void test_misrouted(void **state)
{
	uint8_t s[32], s2[32], fr[8 + ENCSHIM_OVERHEAD], out[8];
	char env2[sizeof(ENV)];
	struct duo d, other;

	secret(s);
	secret(s2);
	duo_make(&d, s, s, ENCSHIM_BACKEND_AUTO, ENCSHIM_BACKEND_AUTO);
	duo_make(&other, s2, s2, ENCSHIM_BACKEND_AUTO, ENCSHIM_BACKEND_AUTO);
	assert_int_equal(encshim_peer_seal(d.p[0], ENV, sizeof(ENV), "payload!", 8, fr), 0);
	/* another tag / communicator / source in the envelope */
	for (size_t i = 0; i < sizeof(ENV); i++) {
		memcpy(env2, ENV, sizeof(ENV));
		env2[i] ^= 1;
		memset(out, 0xAA, sizeof(out));
		assert_int_equal(encshim_peer_open(d.p[1], env2, sizeof(env2), fr, sizeof(fr), out),
				 ENCSHIM_E_AUTH);
		assert_true(all_zero(out, sizeof(out)));
	}
	assert_int_equal(encshim_peer_open(d.p[1], ENV, sizeof(ENV) - 1, fr, sizeof(fr), out),
			 ENCSHIM_E_AUTH);
	/* wrong direction: reflected back to the sender */
	assert_int_equal(encshim_peer_open(d.p[0], ENV, sizeof(ENV), fr, sizeof(fr), out),
			 ENCSHIM_E_AUTH);
	/* wrong key: a party of a job with another secret */
	assert_int_equal(encshim_peer_open(other.p[1], ENV, sizeof(ENV), fr, sizeof(fr), out),
			 ENCSHIM_E_AUTH);
	assert_true(all_zero(out, sizeof(out)));
	assert_int_equal(encshim_peer_open(d.p[1], ENV, sizeof(ENV), fr, sizeof(fr), out), 0);
	assert_memory_equal(out, "payload!", 8);
	duo_free(&d);
	duo_free(&other);
}

static uint32_t epoch_of(const uint8_t *fr)
{
	uint32_t e;
	uint64_t seq;

	assert_int_equal(encshim_frame_peek(fr, ENCSHIM_OVERHEAD + 4, &e, &seq), 0);
	return e;
}

/* Rekey by message count and by bytes, with frames of the previous
 * epoch still accepted after the switch and older ones refused. */
static void test_epochs(void **state)
{
	uint8_t s[32], fr[10][4 + ENCSHIM_OVERHEAD], out[4];
	struct duo d;

	secret(s);
	duo_make(&d, s, s, ENCSHIM_BACKEND_AUTO, ENCSHIM_BACKEND_AUTO);
	session_test_rekey_limits(d.p[0], 1000, 3); /* 3 frames per epoch */
	for (int i = 0; i < 10; i++)
		assert_int_equal(encshim_peer_seal(d.p[0], NULL, 0, "abcd", 4, fr[i]), 0);
	for (int i = 0; i < 10; i++)
		assert_int_equal(epoch_of(fr[i]), (uint32_t)(i / 3));
	assert_int_equal(encshim_peer_open(d.p[1], NULL, 0, fr[0], sizeof(fr[0]), out), 0);
	assert_int_equal(encshim_peer_open(d.p[1], NULL, 0, fr[3], sizeof(fr[3]), out), 0); /* -> 1 */
	assert_int_equal(encshim_peer_open(d.p[1], NULL, 0, fr[1], sizeof(fr[1]), out), 0); /* prev */
	assert_int_equal(encshim_peer_open(d.p[1], NULL, 0, fr[6], sizeof(fr[6]), out), 0); /* -> 2 */
	assert_int_equal(encshim_peer_open(d.p[1], NULL, 0, fr[4], sizeof(fr[4]), out), 0); /* prev */
	/* epoch 0 keys are gone once epoch 2 is current */
	assert_int_equal(encshim_peer_open(d.p[1], NULL, 0, fr[2], sizeof(fr[2]), out), ENCSHIM_E_EPOCH);
	/* a frame from the next epoch that is forged does not move the epoch */
	fr[9][ENCSHIM_HEADER_BYTES] ^= 1;
	assert_int_equal(encshim_peer_open(d.p[1], NULL, 0, fr[9], sizeof(fr[9]), out), ENCSHIM_E_AUTH);
	assert_int_equal(encshim_peer_open(d.p[1], NULL, 0, fr[5], sizeof(fr[5]), out), 0);
	/* by bytes: 10-byte budget, 4-byte frames -> 2 per epoch */
	session_test_rekey_limits(d.p[1], 10, 1000);
	for (int i = 0; i < 4; i++)
		assert_int_equal(encshim_peer_seal(d.p[1], NULL, 0, "abcd", 4, fr[i]), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(epoch_of(fr[i]), (uint32_t)(i / 2));
	duo_free(&d);
}

/* A receiver goes on in a later epoch than the next one (the frames of
 * a whole epoch never sent or lost: a covered sealed write, UD loss);
 * the skipped epoch's frames are refused after the jump, and a forged
 * frame of a later epoch moves nothing. */
static void test_epoch_jump(void **state)
{
	uint8_t s[32], fr[12][4 + ENCSHIM_OVERHEAD], out[4];
	struct duo d;

	secret(s);
	duo_make(&d, s, s, ENCSHIM_BACKEND_AUTO, ENCSHIM_BACKEND_AUTO);
	session_test_rekey_limits(d.p[0], 1000, 3); /* 3 frames per epoch */
	for (int i = 0; i < 12; i++)
		assert_int_equal(encshim_peer_seal(d.p[0], NULL, 0, "abcd", 4, fr[i]), 0);
	assert_int_equal(encshim_peer_open(d.p[1], NULL, 0, fr[0], sizeof(fr[0]), out), 0);
	/* forged, three epochs ahead: refused, the epoch stays 0 */
	fr[9][ENCSHIM_HEADER_BYTES] ^= 1;
	assert_int_equal(encshim_peer_open(d.p[1], NULL, 0, fr[9], sizeof(fr[9]), out), ENCSHIM_E_AUTH);
	fr[9][ENCSHIM_HEADER_BYTES] ^= 1;
	assert_int_equal(encshim_peer_open(d.p[1], NULL, 0, fr[1], sizeof(fr[1]), out), 0);
	/* epoch 0 -> 2 */
	assert_int_equal(encshim_peer_open(d.p[1], NULL, 0, fr[7], sizeof(fr[7]), out), 0);
	assert_memory_equal(out, "abcd", 4);
	/* epoch 1 was skipped: no key for it is kept */
	assert_int_equal(encshim_peer_open(d.p[1], NULL, 0, fr[4], sizeof(fr[4]), out), ENCSHIM_E_EPOCH);
	assert_int_equal(encshim_peer_open(d.p[1], NULL, 0, fr[8], sizeof(fr[8]), out), 0);
	/* epoch 2 -> 3: 2 is the previous one now */
	assert_int_equal(encshim_peer_open(d.p[1], NULL, 0, fr[10], sizeof(fr[10]), out), 0);
	assert_int_equal(encshim_peer_open(d.p[1], NULL, 0, fr[6], sizeof(fr[6]), out), 0);
	assert_int_not_equal(encshim_peer_open(d.p[1], NULL, 0, fr[7], sizeof(fr[7]), out), 0);
	duo_free(&d);
}

static void test_limits(void **state)
{
	uint8_t s[32], fr[64];
	char env[ENCSHIM_MAX_ENVELOPE + 1] = { 0 };
	struct duo d;

	secret(s);
	duo_make(&d, s, s, ENCSHIM_BACKEND_AUTO, ENCSHIM_BACKEND_AUTO);
	assert_int_equal(encshim_peer_seal(d.p[0], env, sizeof(env), "x", 1, fr), ENCSHIM_E_INVAL);
	assert_int_equal(encshim_peer_seal(d.p[0], NULL, 0, "x", (size_t)ENCSHIM_MAX_PLAINTEXT + 1, fr),
			 ENCSHIM_E_TOOBIG);
	duo_free(&d);
}

/* A strict (RC) direction opens frames only in the order sealed: a
 * dropped or swapped frame is refused with nothing released, and a
 * forged frame moves nothing. */
static void test_strict_order(void **state)
{
	uint8_t f[4][ENCSHIM_OVERHEAD + 8], pt[8], s[32];
	struct duo d;

	secret(s);
	duo_make(&d, s, s, ENCSHIM_BACKEND_AUTO, ENCSHIM_BACKEND_AUTO);
	assert_int_equal(encshim_peer_set_order(d.p[1], ENCSHIM_ORDER_STRICT), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(encshim_peer_seal(d.p[0], NULL, 0, "messages", 8, f[i]), 0);
	memset(pt, 0xaa, sizeof(pt));
	assert_int_equal(encshim_peer_open(d.p[1], NULL, 0, f[1], sizeof(f[1]), pt),
			 ENCSHIM_E_ORDER);
	assert_true(all_zero(pt, sizeof(pt)));
	assert_int_equal(encshim_peer_open(d.p[1], NULL, 0, f[0], sizeof(f[0]), pt), 0);
	f[2][20] ^= 1; /* forged: refused before the order check */
	assert_int_equal(encshim_peer_open(d.p[1], NULL, 0, f[2], sizeof(f[2]), pt),
			 ENCSHIM_E_AUTH);
	assert_int_equal(encshim_peer_open(d.p[1], NULL, 0, f[1], sizeof(f[1]), pt), 0);
	assert_int_equal(encshim_peer_open(d.p[1], NULL, 0, f[3], sizeof(f[3]), pt),
			 ENCSHIM_E_ORDER);
	assert_int_equal(encshim_peer_open(d.p[1], NULL, 0, f[0], sizeof(f[0]), pt),
			 ENCSHIM_E_REPLAY);
	assert_int_equal(encshim_peer_set_order(d.p[1], ENCSHIM_ORDER_MONOTONIC),
			 ENCSHIM_E_INVAL); /* fixed once frames were opened */
	duo_free(&d);
}

/* Detached frames are the contiguous frame in three places, byte for
 * byte; a derived channel has keys and sequence numbers of its own: its
 * frames open on the peer's channel of the same label only, never on the
 * parent session or another label's channel. */
static void test_detached_and_channel(void **state)
{
	enum { N = 100 };
	uint8_t s[32], pt[N], fr[N + ENCSHIM_OVERHEAD], hdr[16], ct[N], tag[16], out[N];
	struct encshim_peer *c0, *c1, *o1;
	struct duo d;

	secret(s);
	duo_make(&d, s, s, ENCSHIM_BACKEND_AUTO, ENCSHIM_BACKEND_AUTO);
	randombytes_buf(pt, sizeof(pt));
	assert_int_equal(encshim_peer_seal_detached(d.p[0], ENV, sizeof(ENV), pt, N,
						    hdr, ct, tag), 0);
	assert_int_equal(encshim_peer_open_detached(d.p[1], ENV, sizeof(ENV), hdr, ct,
						    N, tag, out), 0);
	assert_memory_equal(out, pt, N);
	memcpy(fr, hdr, 16);
	memcpy(fr + 16, ct, N);
	memcpy(fr + 16 + N, tag, 16);
	assert_int_equal(encshim_peer_open(d.p[1], ENV, sizeof(ENV), fr, sizeof(fr), out),
			 ENCSHIM_E_REPLAY); /* the same frame: already delivered */
	assert_int_equal(encshim_peer_derive(&c0, d.p[0], "ESV write", 9), 0);
	assert_int_equal(encshim_peer_derive(&c1, d.p[1], "ESV write", 9), 0);
	assert_int_equal(encshim_peer_derive(&o1, d.p[1], "ESV other", 9), 0);
	assert_int_equal(encshim_peer_seal_detached(c0, ENV, sizeof(ENV), pt, N, hdr, ct,
						    tag), 0);
	assert_int_equal(hdr[ENCSHIM_HDR_SEQ + 7], 0); /* its own sequence: 0 */
	assert_int_equal(encshim_peer_open_detached(d.p[1], ENV, sizeof(ENV), hdr, ct, N,
						    tag, out), ENCSHIM_E_AUTH);
	assert_int_equal(encshim_peer_open_detached(o1, ENV, sizeof(ENV), hdr, ct, N, tag,
						    out), ENCSHIM_E_AUTH);
	assert_int_equal(encshim_peer_open_detached(c1, ENV, sizeof(ENV), hdr, ct, N, tag,
						    out), 0);
	assert_memory_equal(out, pt, N);
	encshim_peer_free(o1);
	assert_int_equal(encshim_peer_derive(&o1, d.p[1], "", 0), ENCSHIM_E_INVAL);
	encshim_peer_free(c0);
	encshim_peer_free(c1);
	duo_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_interop),
		cmocka_unit_test(test_detached_and_channel),
		cmocka_unit_test(test_every_bit_flip),
		cmocka_unit_test(test_every_truncation),
		cmocka_unit_test(test_misrouted),
		cmocka_unit_test(test_epochs),
		cmocka_unit_test(test_epoch_jump),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_strict_order),
	};

	if (encshim_init())
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}

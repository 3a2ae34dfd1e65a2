/* SPDX-License-Identifier: MIT */
/*
 * Known answers for HKDF-SHA256 (RFC 5869 appendix A, cases 1-3) and for
 * encshim's key schedule and frame format. The schedule vectors come
 * from an independent model, tests/vectors/keyschedule.py (pyca
 * cryptography), fed the RFC 7748 section 6.1 key pairs.
 */
#include "util.h"
#include "kdf.h"
#include "keyschedule.h"
#include "session_internal.h"

static uint8_t *range(int from, int to)
{
	uint8_t *b = malloc((size_t)(to - from) + 1);

	for (int i = from; i < to; i++)
		b[i - from] = (uint8_t)i;
	return b;
}

static void hkdf_case(const uint8_t *salt, size_t saltlen, const uint8_t *ikm,
		      size_t ikmlen, const uint8_t *info, size_t infolen,
		      const char *prk_hex, const char *okm_hex)
{
	size_t okmlen;
	uint8_t prk[32], *okm = hex(okm_hex, &okmlen), *want_prk = hex(prk_hex, NULL);
	uint8_t *got = malloc(okmlen);

	encshim_hkdf_extract(prk, salt, saltlen, ikm, ikmlen);
	assert_memory_equal(prk, want_prk, 32);
	assert_int_equal(encshim_hkdf_expand(got, okmlen, prk, info, infolen), 0);
	assert_memory_equal(got, okm, okmlen);
	free(okm), free(want_prk), free(got);
}

static void test_rfc5869(void **state)
{
	uint8_t ikm[22], *salt = range(0, 13), *info = range(0xf0, 0xfa);
	uint8_t *ikm2 = range(0, 0x50), *salt2 = range(0x60, 0xb0), *info2 = range(0xb0, 0x100);
	uint8_t big[255 * 32 + 1], prk[32] = { 0 };

	memset(ikm, 0x0b, sizeof(ikm));
	hkdf_case(salt, 13, ikm, 22, info, 10,
		  "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5",
		  "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
	hkdf_case(salt2, 80, ikm2, 80, info2, 80,
		  "06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244",
		  "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
		  "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
		  "cc30c58179ec3e87c14c01d5c1f3434f1d87");
	hkdf_case(ikm, 0, ikm, 22, info, 0,
		  "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04",
		  "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8");
	/* RFC 5869 2.3: L <= 255 * HashLen */
	assert_int_equal(encshim_hkdf_expand(big, sizeof(big), prk, NULL, 0), -1);
	free(salt), free(info), free(ikm2), free(salt2), free(info2);
}

static const char A_PRIV[] = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
static const char B_PRIV[] = "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb";

static void test_schedule_kat(void **state)
{
	uint8_t s[32], pa[32], pb[32], k[32], chk[32];
	uint8_t *a = hex(A_PRIV, NULL), *b = hex(B_PRIV, NULL);
	uint8_t *r_lh = hex("05f4d6d635c16c37ee2261764912be33a6380e48467d50e9869c6504df148b5e", NULL);
	uint8_t *r_hl = hex("74f7987c4b6d21d353f881e3db3a8ec5ead3769102329df0452a05b78c4a728b", NULL);
	uint8_t *k0 = hex("074d05e515fe3b1f6cb7465ccc7522be279edd472d5bb642a1d08706566aab27", NULL);
	uint8_t *k1 = hex("2fd2853e0e1f7995c9128252094b3fc28dab598b9a73b556024ef670bc7cded5", NULL);
	uint8_t *want_chk = hex("166590e4ce1a8e996c85b9773b4995a9484c8957420308f107ba01721383067a", NULL);
	struct ks_pair pair_a, pair_b;
	struct ks_party A = { (const uint8_t *)"rank0", 5, pa }, B = { (const uint8_t *)"rank1", 5, pb };

	for (int i = 0; i < 32; i++)
		s[i] = (uint8_t)i;
	crypto_scalarmult_base(pa, a);
	crypto_scalarmult_base(pb, b);
	assert_int_equal(ks_pair_derive(&pair_a, s, (const uint8_t *)"job-42", 6, &A, a, &B), 0);
	assert_int_equal(ks_pair_derive(&pair_b, s, (const uint8_t *)"job-42", 6, &B, b, &A), 0);
	/* rank0 sorts low: its tx is L->H, and each side's tx is the other's rx */
	assert_memory_equal(pair_a.tx_root, r_lh, 32);
	assert_memory_equal(pair_a.rx_root, r_hl, 32);
	assert_memory_equal(pair_b.tx_root, r_hl, 32);
	assert_memory_equal(pair_b.rx_root, r_lh, 32);
	assert_int_equal(ks_epoch_key(k, r_lh, 0), 0);
	assert_memory_equal(k, k0, 32);
	assert_int_equal(ks_epoch_key(k, r_lh, 1), 0);
	assert_memory_equal(k, k1, 32);
	ks_secret_check(chk, s, (const uint8_t *)"job-42", 6);
	assert_memory_equal(chk, want_chk, 32);
	free(a), free(b), free(r_lh), free(r_hl), free(k0), free(k1), free(want_chk);
}

/* The whole path: session API frame == the model's frame, byte for byte. */
static void test_frame_kat(void **state)
{
	uint8_t s[32], pb[32], frame[5 + ENCSHIM_OVERHEAD], scratch[ENCSHIM_OVERHEAD];
	uint8_t *a = hex(A_PRIV, NULL), *b = hex(B_PRIV, NULL);
	uint8_t *want = hex("0101000000000000000000000000000508c84f7bdb00356811e31069f6d6b6e748db65d645", NULL);
	struct encshim_local *la, *lb;
	struct encshim_peer *p;

	for (int i = 0; i < 32; i++)
		s[i] = (uint8_t)i;
	assert_int_equal(encshim_local_new(&la, s, "job-42", 6, "rank0", 5, ENCSHIM_BACKEND_AUTO), 0);
	assert_int_equal(encshim_local_new(&lb, s, "job-42", 6, "rank1", 5, ENCSHIM_BACKEND_AUTO), 0);
	session_test_set_private(la, a);
	session_test_set_private(lb, b);
	encshim_local_public_key(lb, pb);
	assert_int_equal(encshim_peer_new(&p, la, "rank1", 5, pb, 0), 0);
	for (int i = 0; i < 5; i++) /* sequence numbers 0..4 */
		assert_int_equal(encshim_peer_seal(p, NULL, 0, NULL, 0, scratch), 0);
	assert_int_equal(encshim_peer_seal(p, "env", 3, "hello", 5, frame), 0);
	assert_memory_equal(frame, want, sizeof(frame));
	encshim_peer_free(p);
	encshim_local_free(la);
	encshim_local_free(lb);
	free(a), free(b), free(want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc5869),
		cmocka_unit_test(test_schedule_kat),
		cmocka_unit_test(test_frame_kat),
	};

	if (encshim_init())
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}

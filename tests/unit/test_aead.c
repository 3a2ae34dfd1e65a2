/* SPDX-License-Identifier: MIT */
/*
 * AES-256-GCM known answers through every backend: test cases 13-16 of
 * McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)", the
 * 256-bit-key vectors with 96-bit IVs; byte-identical output of every
 * pair of backends on random inputs (so ranks with different backends
 * interoperate); a refused open leaves zeros; ipsec-mb keys used from
 * several threads at once.
 */
#include <pthread.h>

#include "util.h"

static const enum encshim_backend all[] = { ENCSHIM_BACKEND_IPSECMB, ENCSHIM_BACKEND_OPENSSL,
					    ENCSHIM_BACKEND_SODIUM };
#define NALL (sizeof(all) / sizeof(all[0]))

struct kat {
	const char *key, *iv, *pt, *aad, *ct, *tag;
};

static const char K15[] = "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308";
static const struct kat kats[] = {
	{ "0000000000000000000000000000000000000000000000000000000000000000",
	  "000000000000000000000000", "", "", "", "530f8afbc74536b9a963b4f1c4cb738b" },
	{ "0000000000000000000000000000000000000000000000000000000000000000",
	  "000000000000000000000000", "00000000000000000000000000000000", "",
	  "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919" },
	{ K15, "cafebabefacedbaddecaf888",
	  "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
	  "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
	  "",
	  "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
	  "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
	  "b094dac5d93471bdec1a502270e3cc6c" },
	{ K15, "cafebabefacedbaddecaf888",
	  "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
	  "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
	  "feedfacedeadbeeffeedfacedeadbeefabaddad2",
	  "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
	  "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
	  "76fc6ece0f4e1768cddf8853bb2d551b" },
};

static void kat_one(enum encshim_backend b, const struct kat *k)
{
	size_t n, aadlen, ctlen;
	uint8_t *key = hex(k->key, NULL), *iv = hex(k->iv, NULL);
	uint8_t *pt = hex(k->pt, &n), *aad = hex(k->aad, &aadlen);
	uint8_t *ct = hex(k->ct, &ctlen), *tag = hex(k->tag, NULL);
	uint8_t *out = malloc(n + 1), got_tag[16];
	struct encshim_aead *a;

	assert_int_equal(encshim_aead_new(&a, b, key), 0);
	assert_int_equal(encshim_aead_seal(a, iv, aad, aadlen, pt, n, out, got_tag), 0);
	assert_memory_equal(out, ct, n);
	assert_memory_equal(got_tag, tag, 16);
	assert_int_equal(encshim_aead_open(a, iv, aad, aadlen, ct, n, out, tag), 0);
	assert_memory_equal(out, pt, n);
	tag[0] ^= 0x80;
	assert_int_equal(encshim_aead_open(a, iv, aad, aadlen, ct, n, out, tag),
			 ENCSHIM_E_AUTH);
	assert_true(all_zero(out, n));
	encshim_aead_free(a);
	free(key), free(iv), free(pt), free(aad), free(ct), free(tag), free(out);
}

static void test_kat(void **state)
{
	enum encshim_backend b = (enum encshim_backend)(intptr_t)*state;

	if (!backend_usable(b))
		skip();
	for (size_t i = 0; i < sizeof(kats) / sizeof(kats[0]); i++)
		kat_one(b, &kats[i]);
}

/* A zero-byte message from a NULL user buffer (MPI_Send(NULL, 0, ...)),
 * into a NULL one, and no AAD: GCM test case 13's tag. The frame side
 * (seal's out, open's in) is never NULL. */
static void test_null_empty(void **state)
{
	enum encshim_backend b = (enum encshim_backend)(intptr_t)*state;
	uint8_t key[32] = { 0 }, iv[12] = { 0 }, frame[1], tag[16];
	uint8_t *want = hex(kats[0].tag, NULL);
	struct encshim_aead *a;

	if (!backend_usable(b))
		skip();
	assert_int_equal(encshim_aead_new(&a, b, key), 0);
	assert_int_equal(encshim_aead_seal(a, iv, NULL, 0, NULL, 0, frame, tag), 0);
	assert_memory_equal(tag, want, 16);
	assert_int_equal(encshim_aead_open(a, iv, NULL, 0, frame, 0, NULL, tag), 0);
	tag[15] ^= 1;
	assert_int_equal(encshim_aead_open(a, iv, NULL, 0, frame, 0, NULL, tag), ENCSHIM_E_AUTH);
	encshim_aead_free(a);
	free(want);
}

/* x and y seal alike, and each opens the other's frame. */
static void same_bytes(struct encshim_aead *x, struct encshim_aead *y, size_t n)
{
	uint8_t iv[12], aad[80], t1[16], t2[16];
	uint8_t *pt = malloc(n + 1), *c1 = malloc(n + 1), *c2 = malloc(n + 1);

	randombytes_buf(pt, n);
	randombytes_buf(iv, sizeof(iv));
	randombytes_buf(aad, sizeof(aad));
	assert_int_equal(encshim_aead_seal(x, iv, aad, sizeof(aad), pt, n, c1, t1), 0);
	assert_int_equal(encshim_aead_seal(y, iv, aad, sizeof(aad), pt, n, c2, t2), 0);
	assert_memory_equal(c1, c2, n);
	assert_memory_equal(t1, t2, 16);
	assert_int_equal(encshim_aead_open(y, iv, aad, sizeof(aad), c1, n, c2, t1), 0);
	assert_memory_equal(c2, pt, n);
	assert_int_equal(encshim_aead_open(x, iv, aad, sizeof(aad), c1, n, c2, t2), 0);
	assert_memory_equal(c2, pt, n);
	free(pt), free(c1), free(c2);
}

/* Every pair of usable backends, both ways: random key, nonce, AAD;
 * sizes around block and chunk edges, then 136 random ones below 5000. */
static void test_backends_identical(void **state)
{
	static const size_t sizes[] = { 0, 1, 15, 16, 17, 4095, 4096, 65537, 1 << 20 };
	uint8_t key[32];
	int pairs = 0;

	for (size_t i = 0; i < NALL; i++) {
		for (size_t j = i + 1; j < NALL; j++) {
			struct encshim_aead *x, *y;

			if (!backend_usable(all[i]) || !backend_usable(all[j]))
				continue;
			randombytes_buf(key, sizeof(key));
			assert_int_equal(encshim_aead_new(&x, all[i], key), 0);
			assert_int_equal(encshim_aead_new(&y, all[j], key), 0);
			for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
				same_bytes(x, y, sizes[k]);
				same_bytes(y, x, sizes[k]);
			}
			for (int k = 0; k < 136; k++)
				same_bytes(k % 2 ? x : y, k % 2 ? y : x, randombytes_uniform(5001));
			encshim_aead_free(x);
			encshim_aead_free(y);
			pairs++;
		}
	}
	if (!pairs)
		skip();
}

/* A forged frame leaves zeros, also when opened in place and large. */
static void test_refused_open_zeroes(void **state)
{
	enum encshim_backend b = (enum encshim_backend)(intptr_t)*state;
	enum { N = 65536 + 7 };
	uint8_t key[32], iv[12] = { 1 }, tag[16], *buf = malloc(N);
	struct encshim_aead *a;

	if (!backend_usable(b))
		skip();
	randombytes_buf(key, sizeof(key));
	randombytes_buf(buf, N);
	assert_int_equal(encshim_aead_new(&a, b, key), 0);
	assert_int_equal(encshim_aead_seal(a, iv, "hdr", 3, buf, N, buf, tag), 0);
	buf[N / 2] ^= 4;
	assert_int_equal(encshim_aead_open(a, iv, "hdr", 3, buf, N, buf, tag), ENCSHIM_E_AUTH);
	assert_true(all_zero(buf, N));
	encshim_aead_free(a);
	free(buf);
}

/*
 * ipsec-mb shares one manager per process: keys sealed and opened on
 * several threads at once must give what a single-threaded reference
 * (libsodium or OpenSSL, own object per thread) gives.
 */
enum { THREADS = 4, ROUNDS = 300 };

static void *hammer(void *arg)
{
	enum encshim_backend ref = (enum encshim_backend)(intptr_t)arg;
	uint8_t key[32], iv[12], t1[16], t2[16];
	uint8_t *pt = malloc(20000), *c1 = malloc(20000), *c2 = malloc(20000);
	struct encshim_aead *x = NULL, *y = NULL;
	intptr_t bad = 0;

	randombytes_buf(key, sizeof(key));
	bad |= encshim_aead_new(&x, ENCSHIM_BACKEND_IPSECMB, key);
	bad |= encshim_aead_new(&y, ref, key);
	for (int r = 0; r < ROUNDS && !bad; r++) {
		size_t n = randombytes_uniform(20000);

		randombytes_buf(pt, n);
		randombytes_buf(iv, sizeof(iv));
		bad |= encshim_aead_seal(x, iv, key, 16, pt, n, c1, t1);
		bad |= encshim_aead_seal(y, iv, key, 16, pt, n, c2, t2);
		bad |= memcmp(c1, c2, n) || memcmp(t1, t2, 16);
		bad |= encshim_aead_open(x, iv, key, 16, c2, n, c1, t2);
		bad |= memcmp(c1, pt, n);
	}
	encshim_aead_free(x);
	encshim_aead_free(y);
	free(pt), free(c1), free(c2);
	return (void *)bad;
}

static void test_ipsecmb_threads(void **state)
{
	enum encshim_backend ref = backend_usable(ENCSHIM_BACKEND_SODIUM) ? ENCSHIM_BACKEND_SODIUM
									  : ENCSHIM_BACKEND_OPENSSL;
	pthread_t t[THREADS];

	if (!backend_usable(ENCSHIM_BACKEND_IPSECMB) || !backend_usable(ref))
		skip();
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, hammer, (void *)(intptr_t)ref), 0);
	for (int i = 0; i < THREADS; i++) {
		void *bad;

		assert_int_equal(pthread_join(t[i], &bad), 0);
		assert_null(bad);
	}
}

static void test_backend_choice(void **state)
{
	enum encshim_backend b;
	const char *why = NULL;

	assert_int_equal(encshim_backend_parse(NULL, &b), 0);
	assert_int_equal(b, ENCSHIM_BACKEND_AUTO);
	assert_int_equal(encshim_backend_parse("sodium", &b), 0);
	assert_int_equal(b, ENCSHIM_BACKEND_SODIUM);
	assert_int_equal(encshim_backend_parse("ipsecmb", &b), 0);
	assert_int_equal(b, ENCSHIM_BACKEND_IPSECMB);
	assert_string_equal(encshim_backend_name(b), "ipsecmb");
	assert_int_equal(encshim_backend_parse("aes", &b), ENCSHIM_E_ENV);
	assert_int_equal(encshim_backend_resolve(ENCSHIM_BACKEND_AUTO, &b, &why), 0);
	assert_non_null(why);
	/* auto takes the fastest usable: ipsec-mb, then OpenSSL */
	if (backend_usable(ENCSHIM_BACKEND_IPSECMB)) {
		assert_int_equal(b, ENCSHIM_BACKEND_IPSECMB);
		assert_non_null(strstr(why, "ipsec-mb"));
	} else {
#ifdef HAVE_OPENSSL
		assert_int_equal(b, ENCSHIM_BACKEND_OPENSSL);
#endif
	}
	/* an explicit wish that cannot be met fails, never falls back */
#ifndef HAVE_IPSEC_MB
	assert_int_equal(encshim_backend_resolve(ENCSHIM_BACKEND_IPSECMB, &b, &why),
			 ENCSHIM_E_NOBACKEND);
	assert_non_null(strstr(why, "ipsec-mb backend not built in"));
#endif
#ifndef HAVE_OPENSSL
	assert_int_equal(encshim_backend_resolve(ENCSHIM_BACKEND_OPENSSL, &b, &why),
			 ENCSHIM_E_NOBACKEND);
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_prestate(test_kat, (void *)(intptr_t)ENCSHIM_BACKEND_IPSECMB),
		cmocka_unit_test_prestate(test_kat, (void *)(intptr_t)ENCSHIM_BACKEND_OPENSSL),
		cmocka_unit_test_prestate(test_kat, (void *)(intptr_t)ENCSHIM_BACKEND_SODIUM),
		cmocka_unit_test_prestate(test_null_empty, (void *)(intptr_t)ENCSHIM_BACKEND_IPSECMB),
		cmocka_unit_test_prestate(test_null_empty, (void *)(intptr_t)ENCSHIM_BACKEND_OPENSSL),
		cmocka_unit_test_prestate(test_null_empty, (void *)(intptr_t)ENCSHIM_BACKEND_SODIUM),
		cmocka_unit_test(test_backends_identical),
		cmocka_unit_test_prestate(test_refused_open_zeroes, (void *)(intptr_t)ENCSHIM_BACKEND_IPSECMB),
		cmocka_unit_test_prestate(test_refused_open_zeroes, (void *)(intptr_t)ENCSHIM_BACKEND_OPENSSL),
		cmocka_unit_test_prestate(test_refused_open_zeroes, (void *)(intptr_t)ENCSHIM_BACKEND_SODIUM),
		cmocka_unit_test(test_ipsecmb_threads),
		cmocka_unit_test(test_backend_choice),
	};

	if (encshim_init())
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}

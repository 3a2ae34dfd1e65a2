/* SPDX-License-Identifier: MIT */
/*
 * AES-256-GCM known answers through both backends: test cases 13-16 of
 * McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)", the
 * 256-bit-key vectors with 96-bit IVs; and byte-identical output of the
 * two backends on random inputs (so ranks with different backends
 * interoperate).
 */
#include "util.h"

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

/* Random key, nonce, AAD and sizes around block and chunk edges. */
static void test_backends_identical(void **state)
{
	static const size_t sizes[] = { 0, 1, 15, 16, 17, 4095, 4096, 65537, 1 << 20 };
	uint8_t key[32], iv[12], aad[40], t1[16], t2[16];
	struct encshim_aead *o, *s;

	if (!backend_usable(ENCSHIM_BACKEND_OPENSSL) || !backend_usable(ENCSHIM_BACKEND_SODIUM))
		skip();
	randombytes_buf(key, sizeof(key));
	assert_int_equal(encshim_aead_new(&o, ENCSHIM_BACKEND_OPENSSL, key), 0);
	assert_int_equal(encshim_aead_new(&s, ENCSHIM_BACKEND_SODIUM, key), 0);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i];
		uint8_t *pt = malloc(n + 1), *c1 = malloc(n + 1), *c2 = malloc(n + 1);

		randombytes_buf(pt, n);
		randombytes_buf(iv, sizeof(iv));
		randombytes_buf(aad, sizeof(aad));
		assert_int_equal(encshim_aead_seal(o, iv, aad, sizeof(aad), pt, n, c1, t1), 0);
		assert_int_equal(encshim_aead_seal(s, iv, aad, sizeof(aad), pt, n, c2, t2), 0);
		assert_memory_equal(c1, c2, n);
		assert_memory_equal(t1, t2, 16);
		/* each opens the other's output */
		assert_int_equal(encshim_aead_open(s, iv, aad, sizeof(aad), c1, n, c2, t1), 0);
		assert_memory_equal(c2, pt, n);
		assert_int_equal(encshim_aead_open(o, iv, aad, sizeof(aad), c1, n, c2, t2), 0);
		assert_memory_equal(c2, pt, n);
		free(pt), free(c1), free(c2);
	}
	encshim_aead_free(o);
	encshim_aead_free(s);
}

static void test_backend_choice(void **state)
{
	enum encshim_backend b;
	const char *why = NULL;

	assert_int_equal(encshim_backend_parse(NULL, &b), 0);
	assert_int_equal(b, ENCSHIM_BACKEND_AUTO);
	assert_int_equal(encshim_backend_parse("sodium", &b), 0);
	assert_int_equal(b, ENCSHIM_BACKEND_SODIUM);
	assert_int_equal(encshim_backend_parse("aes", &b), ENCSHIM_E_ENV);
	assert_int_equal(encshim_backend_resolve(ENCSHIM_BACKEND_AUTO, &b, &why), 0);
	assert_non_null(why);
#ifdef HAVE_OPENSSL
	assert_int_equal(b, ENCSHIM_BACKEND_OPENSSL); /* the faster one */
#else
	/* an explicit wish that cannot be met fails, never falls back */
	assert_int_equal(encshim_backend_resolve(ENCSHIM_BACKEND_OPENSSL, &b, &why),
			 ENCSHIM_E_NOBACKEND);
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_prestate(test_kat, (void *)(intptr_t)ENCSHIM_BACKEND_OPENSSL),
		cmocka_unit_test_prestate(test_kat, (void *)(intptr_t)ENCSHIM_BACKEND_SODIUM),
		cmocka_unit_test(test_backends_identical),
		cmocka_unit_test(test_backend_choice),
	};

	if (encshim_init())
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/*
 * AES-256-GCM through Intel Multi-Buffer Crypto for IPsec (ipsec-mb).
 *
 * Its direct GCM API (IMB_AES256_GCM_PRE/ENC/DEC) calls function
 * pointers that init_mb_mgr_auto() fills in for the best code path of
 * this CPU; the functions take the expanded key and a per-call context,
 * never the manager. So one manager per process, set up once and only
 * read afterwards, serves every key on every thread: the job queue, the
 * part of a manager that is not thread safe, is never used. A manager
 * per key would cost 196 KiB and ~60 us each (measured with 1.3 here)
 * against ~0.2 us for the key expansion itself. (Each call also stores 0
 * into the library's process-wide error number, whatever the manager:
 * encshim never reads it. Its arguments pass the library's checks: key,
 * context, IV and tag never NULL, a NULL buffer only with length 0.)
 */
#include "config.h"

#include <pthread.h>
#include <sodium.h>
#include <intel-ipsec-mb.h>

#include "aead_impl.h"
#include "secmem.h"

/*
 * The library is built with struct gcm_key_data aligned to 64 bytes (its
 * header says so only under -DLINUX) and its code crashes on key data
 * aligned to less than 16: key memory (secmem.c) is 64-aligned, whole
 * cache lines, and never dumped.
 */
#define KEY_ALIGN 64
#define KEY_BYTES ((sizeof(struct gcm_key_data) + KEY_ALIGN - 1) & ~(size_t)(KEY_ALIGN - 1))

static struct {
	pthread_once_t once;
	IMB_MGR *mgr;
	IMB_ARCH arch;
} lib = { .once = PTHREAD_ONCE_INIT };

static void lib_init(void)
{
	lib.mgr = alloc_mb_mgr(0);
	if (lib.mgr)
		init_mb_mgr_auto(lib.mgr, &lib.arch);
}

static int vaes(void)
{
	const uint64_t f = IMB_FEATURE_VAES | IMB_FEATURE_VPCLMULQDQ;

	return (lib.mgr->features & f) == f;
}

static int usable(const char **why)
{
	pthread_once(&lib.once, lib_init);
	if (!lib.mgr) {
		*why = "ipsec-mb could not allocate its manager (out of memory)";
		return -1;
	}
#ifdef IMB_FEATURE_SELF_TEST_PASS
	/* Builds with self-tests (1.3 on) run them when a manager is set up. */
	if ((lib.mgr->features & IMB_FEATURE_SELF_TEST) &&
	    !(lib.mgr->features & IMB_FEATURE_SELF_TEST_PASS)) {
		*why = "ipsec-mb's own known-answer self-test failed: its library is broken here";
		return -1;
	}
#endif
	/* The code path init_mb_mgr_auto() picked. Below SSE it is the
	 * library's software AES emulation: refused, as libsodium does. */
	switch (lib.arch) {
	case IMB_ARCH_AVX512:
		*why = vaes() ? "auto: ipsec-mb's AVX-512 VAES path is the fastest usable"
			      : "auto: ipsec-mb's AVX-512 AES-NI path is the fastest usable";
		return 0;
	case IMB_ARCH_AVX2:
		*why = "auto: ipsec-mb's AVX2 AES-NI path is the fastest usable";
		return 0;
	case IMB_ARCH_AVX:
		*why = "auto: ipsec-mb's AVX AES-NI path is the fastest usable";
		return 0;
	case IMB_ARCH_SSE:
		*why = "auto: ipsec-mb's SSE AES-NI path is the fastest usable";
		return 0;
	default:
		*why = "ipsec-mb found no AES-NI and PCLMUL on this CPU";
		return -1;
	}
}

static int init(struct encshim_aead *a, const uint8_t key[32])
{
	struct gcm_key_data *kd = secmem_alloc(KEY_BYTES);

	if (!kd)
		return ENCSHIM_E_NOMEM;
	IMB_AES256_GCM_PRE(lib.mgr, key, kd); /* round keys and H powers */
	a->state = kd;
	return 0;
}

static void fini(struct encshim_aead *a)
{
	secmem_free(a->state, KEY_BYTES); /* wipes the round keys */
	a->state = NULL;
}

/* The per-call context ends holding the last keystream block and the
 * GHASH state: wiped after every message. */
static int seal(struct encshim_aead *a, const uint8_t nonce[12],
		const void *aad, size_t aadlen, const void *in, size_t len,
		void *out, uint8_t tag[16])
{
	struct gcm_context_data ctx;

	IMB_AES256_GCM_ENC(lib.mgr, a->state, &ctx, out, in, len, nonce, aad,
			   aadlen, tag, 16);
	sodium_memzero(&ctx, sizeof(ctx));
	return 0;
}

/*
 * DEC writes the plaintext before the tag is known: the caller (aead.c)
 * zeroes out when this fails. The tag is compared in constant time
 * (crypto_verify_16, what libsodium's own AEADs use: ~30 ns less per
 * message than sodium_memcmp's byte loop here); the computed tag starts as the complement of the expected one, so that a
 * call the library refused without writing it can never match.
 */
static int open_(struct encshim_aead *a, const uint8_t nonce[12],
		 const void *aad, size_t aadlen, const void *in, size_t len,
		 void *out, const uint8_t tag[16])
{
	struct gcm_context_data ctx;
	uint8_t got[16];
	int rc;

	for (int i = 0; i < 16; i++)
		got[i] = (uint8_t)~tag[i];
	IMB_AES256_GCM_DEC(lib.mgr, a->state, &ctx, out, in, len, nonce, aad,
			   aadlen, got, 16);
	rc = crypto_verify_16(got, tag) ? ENCSHIM_E_AUTH : 0;
	sodium_memzero(&ctx, sizeof(ctx));
	sodium_memzero(got, sizeof(got));
	return rc;
}

const struct encshim_aead_ops encshim_aead_ipsecmb_ops = {
	.backend = ENCSHIM_BACKEND_IPSECMB,
	.usable = usable,
	.init = init,
	.fini = fini,
	.seal = seal,
	.open = open_,
};

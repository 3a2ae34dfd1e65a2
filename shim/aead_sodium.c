/* SPDX-License-Identifier: MIT */
/* AES-256-GCM through libsodium's precomputed-state (afternm) API. */
#include "config.h"

#include <stdlib.h>
#include <sodium.h>

#include "aead_impl.h"
#include "secmem.h"

static int usable(const char **why)
{
	if (crypto_aead_aes256gcm_is_available())
		return 0;
	*why = "libsodium AES-256-GCM needs a CPU with AES-NI and PCLMUL";
	return -1;
}

static int init(struct encshim_aead *a, const uint8_t key[32])
{
	/* The expanded key and H powers: 16-byte aligned, never dumped. */
	crypto_aead_aes256gcm_state *st = secmem_alloc(sizeof(*st));

	if (!st)
		return ENCSHIM_E_NOMEM;
	if (crypto_aead_aes256gcm_beforenm(st, key) != 0) {
		secmem_free(st, sizeof(*st));
		return ENCSHIM_E_CRYPTO;
	}
	a->state = st;
	return 0;
}

static void fini(struct encshim_aead *a)
{
	secmem_free(a->state, sizeof(crypto_aead_aes256gcm_state));
	a->state = NULL;
}

static int seal(struct encshim_aead *a, const uint8_t nonce[12],
		const void *aad, size_t aadlen, const void *in, size_t len,
		void *out, uint8_t tag[16])
{
	unsigned long long taglen;

	if (crypto_aead_aes256gcm_encrypt_detached_afternm(
		    out, tag, &taglen, in, len, aad, aadlen, NULL, nonce,
		    a->state) != 0)
		return ENCSHIM_E_CRYPTO;
	return 0;
}

static int open_(struct encshim_aead *a, const uint8_t nonce[12],
		 const void *aad, size_t aadlen, const void *in, size_t len,
		 void *out, const uint8_t tag[16])
{
	/* Tag compared in constant time inside libsodium. */
	if (crypto_aead_aes256gcm_decrypt_detached_afternm(
		    out, NULL, in, len, tag, aad, aadlen, nonce, a->state) != 0)
		return ENCSHIM_E_AUTH;
	return 0;
}

const struct encshim_aead_ops encshim_aead_sodium_ops = {
	.backend = ENCSHIM_BACKEND_SODIUM,
	.usable = usable,
	.init = init,
	.fini = fini,
	.seal = seal,
	.open = open_,
};

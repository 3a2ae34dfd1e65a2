/* SPDX-License-Identifier: MIT */
/*
 * AES-256-GCM through OpenSSL EVP. The key schedule is computed once
 * per context; each message only resets the IV (EVP_*Init_ex with a
 * NULL cipher and key keeps them).
 */
#include "config.h"

#include <limits.h>
#include <stdlib.h>
#include <openssl/evp.h>

#include "aead_impl.h"

struct ossl_state {
	EVP_CIPHER_CTX *enc;
	EVP_CIPHER_CTX *dec;
};

/* EVP_*Update takes an int length: feed large buffers in 1 GiB steps. */
#define STEP ((size_t)1 << 30)

static int usable(const char **why)
{
	return 0; /* software AES in OpenSSL is constant time (vpaes) */
}

static void fini(struct encshim_aead *a)
{
	struct ossl_state *st = a->state;

	if (!st)
		return;
	EVP_CIPHER_CTX_free(st->enc); /* cleanses the key schedule */
	EVP_CIPHER_CTX_free(st->dec);
	free(st);
	a->state = NULL;
}

static int init(struct encshim_aead *a, const uint8_t key[32])
{
	struct ossl_state *st = calloc(1, sizeof(*st));

	if (!st)
		return ENCSHIM_E_NOMEM;
	a->state = st;
	st->enc = EVP_CIPHER_CTX_new();
	st->dec = EVP_CIPHER_CTX_new();
	if (!st->enc || !st->dec ||
	    EVP_EncryptInit_ex(st->enc, EVP_aes_256_gcm(), NULL, key, NULL) != 1 ||
	    EVP_DecryptInit_ex(st->dec, EVP_aes_256_gcm(), NULL, key, NULL) != 1) {
		fini(a);
		return ENCSHIM_E_CRYPTO;
	}
	return 0;
}

static int update(EVP_CIPHER_CTX *c, int enc, unsigned char *out,
		  const unsigned char *in, size_t len)
{
	while (len) {
		int n = (int)(len < STEP ? len : STEP), outl;
		int ok = enc ? EVP_EncryptUpdate(c, out, &outl, in, n)
			     : EVP_DecryptUpdate(c, out, &outl, in, n);

		if (ok != 1 || outl != n)
			return -1;
		if (out)
			out += n;
		in += n;
		len -= n;
	}
	return 0;
}

static int seal(struct encshim_aead *a, const uint8_t nonce[12],
		const void *aad, size_t aadlen, const void *in, size_t len,
		void *out, uint8_t tag[16])
{
	EVP_CIPHER_CTX *c = ((struct ossl_state *)a->state)->enc;
	unsigned char fin[16]; /* GCM's final writes nothing */
	int outl;

	if (EVP_EncryptInit_ex(c, NULL, NULL, NULL, nonce) != 1 ||
	    update(c, 1, NULL, aad, aadlen) || update(c, 1, out, in, len) ||
	    EVP_EncryptFinal_ex(c, fin, &outl) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag) != 1)
		return ENCSHIM_E_CRYPTO;
	return 0;
}

static int open_(struct encshim_aead *a, const uint8_t nonce[12],
		 const void *aad, size_t aadlen, const void *in, size_t len,
		 void *out, const uint8_t tag[16])
{
	EVP_CIPHER_CTX *c = ((struct ossl_state *)a->state)->dec;
	unsigned char fin[16];
	int outl;

	if (EVP_DecryptInit_ex(c, NULL, NULL, NULL, nonce) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, (void *)tag) != 1 ||
	    update(c, 0, NULL, aad, aadlen) || update(c, 0, out, in, len))
		return ENCSHIM_E_CRYPTO;
	/* Final compares the tag with CRYPTO_memcmp (constant time). */
	if (EVP_DecryptFinal_ex(c, fin, &outl) != 1)
		return ENCSHIM_E_AUTH;
	return 0;
}

const struct encshim_aead_ops encshim_aead_openssl_ops = {
	.backend = ENCSHIM_BACKEND_OPENSSL,
	.usable = usable,
	.init = init,
	.fini = fini,
	.seal = seal,
	.open = open_,
};

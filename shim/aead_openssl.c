/* SPDX-License-Identifier: MIT */
/*
 * AES-256-GCM through OpenSSL EVP. The key schedule is computed once
 * per context; each message only resets the IV (EVP_*Init_ex with a
 * NULL cipher and key keeps them).
 */
#include "config.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <openssl/evp.h>

#include "aead_impl.h"
#include "secmem.h"

/*
 * An EVP context changes as it works, so one context serves one message
 * at a time. A key has up to LANES contexts per direction, each behind
 * its own mutex: the first is made with the key, the others only when
 * every existing one is busy, so a key used by one thread costs one.
 */
#define LANES 4

struct lane {
	pthread_mutex_t lock;
	EVP_CIPHER_CTX *enc;
	EVP_CIPHER_CTX *dec;
};

struct ossl_state {
	uint8_t key[32];          /* to key lanes made later */
	pthread_mutex_t grow;
	_Atomic unsigned nlanes;
	struct lane lane[LANES];
};

/* EVP_*Update takes an int length: feed large buffers in 1 GiB steps. */
#define STEP ((size_t)1 << 30)

static int usable(const char **why)
{
	return 0; /* software AES in OpenSSL is constant time (vpaes) */
}

static int lane_init(struct lane *l, const uint8_t key[32])
{
	l->enc = EVP_CIPHER_CTX_new();
	l->dec = EVP_CIPHER_CTX_new();
	if (!l->enc || !l->dec ||
	    EVP_EncryptInit_ex(l->enc, EVP_aes_256_gcm(), NULL, key, NULL) != 1 ||
	    EVP_DecryptInit_ex(l->dec, EVP_aes_256_gcm(), NULL, key, NULL) != 1) {
		EVP_CIPHER_CTX_free(l->enc);
		EVP_CIPHER_CTX_free(l->dec);
		return -1;
	}
	pthread_mutex_init(&l->lock, NULL);
	return 0;
}

static void fini(struct encshim_aead *a)
{
	struct ossl_state *st = a->state;

	if (!st)
		return;
	for (unsigned i = 0; i < atomic_load(&st->nlanes); i++) {
		EVP_CIPHER_CTX_free(st->lane[i].enc); /* cleanses the schedule */
		EVP_CIPHER_CTX_free(st->lane[i].dec);
		pthread_mutex_destroy(&st->lane[i].lock);
	}
	pthread_mutex_destroy(&st->grow);
	secmem_free(st, sizeof(*st)); /* wipes the key */
	a->state = NULL;
}

static int init(struct encshim_aead *a, const uint8_t key[32])
{
	struct ossl_state *st = secmem_alloc(sizeof(*st));

	if (!st)
		return ENCSHIM_E_NOMEM;
	memcpy(st->key, key, sizeof(st->key));
	pthread_mutex_init(&st->grow, NULL);
	a->state = st;
	if (lane_init(&st->lane[0], key)) {
		fini(a);
		return ENCSHIM_E_CRYPTO;
	}
	atomic_store(&st->nlanes, 1);
	return 0;
}

/* A free lane, locked: an idle one, else a new one, else wait for one. */
static struct lane *lane_get(struct ossl_state *st)
{
	unsigned n = atomic_load(&st->nlanes), i;
	struct lane *l = NULL;

	for (i = 0; i < n; i++)
		if (pthread_mutex_trylock(&st->lane[i].lock) == 0)
			return &st->lane[i];
	pthread_mutex_lock(&st->grow);
	n = atomic_load(&st->nlanes);
	if (n < LANES && lane_init(&st->lane[n], st->key) == 0) {
		l = &st->lane[n];
		pthread_mutex_lock(&l->lock);
		atomic_store(&st->nlanes, n + 1);
	}
	pthread_mutex_unlock(&st->grow);
	if (!l) {
		l = &st->lane[(uintptr_t)pthread_self() % n];
		pthread_mutex_lock(&l->lock);
	}
	return l;
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
	struct lane *l = lane_get(a->state);
	EVP_CIPHER_CTX *c = l->enc;
	unsigned char fin[16]; /* GCM's final writes nothing */
	int outl, rc = 0;

	if (EVP_EncryptInit_ex(c, NULL, NULL, NULL, nonce) != 1 ||
	    update(c, 1, NULL, aad, aadlen) || update(c, 1, out, in, len) ||
	    EVP_EncryptFinal_ex(c, fin, &outl) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag) != 1)
		rc = ENCSHIM_E_CRYPTO;
	pthread_mutex_unlock(&l->lock);
	return rc;
}

static int open_(struct encshim_aead *a, const uint8_t nonce[12],
		 const void *aad, size_t aadlen, const void *in, size_t len,
		 void *out, const uint8_t tag[16])
{
	struct lane *l = lane_get(a->state);
	EVP_CIPHER_CTX *c = l->dec;
	unsigned char fin[16];
	int outl, rc = 0;

	if (EVP_DecryptInit_ex(c, NULL, NULL, NULL, nonce) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, (void *)tag) != 1 ||
	    update(c, 0, NULL, aad, aadlen) || update(c, 0, out, in, len))
		rc = ENCSHIM_E_CRYPTO;
	/* Final compares the tag with CRYPTO_memcmp (constant time). */
	else if (EVP_DecryptFinal_ex(c, fin, &outl) != 1)
		rc = ENCSHIM_E_AUTH;
	pthread_mutex_unlock(&l->lock);
	return rc;
}

const struct encshim_aead_ops encshim_aead_openssl_ops = {
	.backend = ENCSHIM_BACKEND_OPENSSL,
	.usable = usable,
	.init = init,
	.fini = fini,
	.seal = seal,
	.open = open_,
};

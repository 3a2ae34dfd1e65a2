/* SPDX-License-Identifier: MIT */
/* Backend interface behind encshim_aead (aead.c). */
#ifndef ENCSHIM_AEAD_IMPL_H
#define ENCSHIM_AEAD_IMPL_H

#include "encshim/aead.h"

struct encshim_aead_ops {
	enum encshim_backend backend;
	int (*usable)(const char **why);
	int (*init)(struct encshim_aead *a, const uint8_t key[32]);
	void (*fini)(struct encshim_aead *a);
	int (*seal)(struct encshim_aead *a, const uint8_t nonce[12],
		    const void *aad, size_t aadlen, const void *in, size_t len,
		    void *out, uint8_t tag[16]);
	/* May leave unauthenticated plaintext in out on failure: the
	 * caller (aead.c) wipes it. */
	int (*open)(struct encshim_aead *a, const uint8_t nonce[12],
		    const void *aad, size_t aadlen, const void *in, size_t len,
		    void *out, const uint8_t tag[16]);
};

/* seal and open may run on several threads at once with one object:
 * backends whose calls change their state (OpenSSL's contexts) keep
 * their own locks. */
struct encshim_aead {
	const struct encshim_aead_ops *ops;
	void *state; /* backend key schedule, wiped by fini */
	_Atomic unsigned holds; /* the last encshim_aead_free wipes */
};

extern const struct encshim_aead_ops encshim_aead_sodium_ops;
#ifdef HAVE_OPENSSL
extern const struct encshim_aead_ops encshim_aead_openssl_ops;
#endif
#ifdef HAVE_IPSEC_MB
extern const struct encshim_aead_ops encshim_aead_ipsecmb_ops;
#endif

#endif

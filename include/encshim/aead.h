/* SPDX-License-Identifier: MIT */
/*
 * AES-256-GCM with a key schedule computed once per key. Three backends
 * producing identical bytes: Intel Multi-Buffer Crypto for IPsec
 * (ipsec-mb), OpenSSL libcrypto EVP and libsodium.
 */
#ifndef ENCSHIM_AEAD_H
#define ENCSHIM_AEAD_H

#include <stddef.h>
#include <stdint.h>
#include "encshim/error.h"

enum encshim_backend {
	ENCSHIM_BACKEND_AUTO = 0,
	ENCSHIM_BACKEND_OPENSSL = 1,
	ENCSHIM_BACKEND_SODIUM = 2,
	ENCSHIM_BACKEND_IPSECMB = 3,
};

/* Once per process, before anything else (calls sodium_init()). */
int encshim_init(void) ENCSHIM_WUR;

const char *encshim_backend_name(enum encshim_backend b);

/* Parses "auto", "ipsecmb", "openssl" or "sodium" (NULL or "" mean auto). */
int encshim_backend_parse(const char *s, enum encshim_backend *out) ENCSHIM_WUR;

/*
 * Maps a wish to a usable backend; *why says why in a short phrase.
 * AUTO prefers ipsec-mb where it runs an AES-NI (or VAES) path, then
 * OpenSSL, then libsodium if the CPU has AES-NI and PCLMUL; *why names
 * the code path. An explicit wish that cannot be met fails, never falls
 * back.
 */
int encshim_backend_resolve(enum encshim_backend want,
			    enum encshim_backend *got,
			    const char **why) ENCSHIM_WUR;

struct encshim_aead;

int encshim_aead_new(struct encshim_aead **out, enum encshim_backend b,
		     const uint8_t key[32]) ENCSHIM_WUR;
/* Drops one hold; the last wipes the key schedule. NULL is a no-op. */
void encshim_aead_free(struct encshim_aead *a);
/* One more hold on a (it starts with one), so that a thread can seal or
 * open with a key that another thread retires meanwhile. Returns a. */
struct encshim_aead *encshim_aead_hold(struct encshim_aead *a);

/* out may equal in. Thread safe: one key seals or opens on several
 * threads at once. */
int encshim_aead_seal(struct encshim_aead *a, const uint8_t nonce[12],
		      const void *aad, size_t aadlen, const void *in,
		      size_t len, void *out, uint8_t tag[16]) ENCSHIM_WUR;
/* On failure out never holds unauthenticated plaintext: zeroed once
 * decryption has run, untouched if len was refused up front. */
int encshim_aead_open(struct encshim_aead *a, const uint8_t nonce[12],
		      const void *aad, size_t aadlen, const void *in,
		      size_t len, void *out, const uint8_t tag[16]) ENCSHIM_WUR;

#endif

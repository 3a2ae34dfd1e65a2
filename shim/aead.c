/* SPDX-License-Identifier: MIT */
/* Backend choice and the checks common to all AES-256-GCM backends. */
#include "config.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "aead_impl.h"
#include "encshim/wire.h"

int encshim_init(void)
{
	return sodium_init() < 0 ? ENCSHIM_E_CRYPTO : ENCSHIM_OK;
}

const char *encshim_backend_name(enum encshim_backend b)
{
	switch (b) {
	case ENCSHIM_BACKEND_OPENSSL:
		return "openssl";
	case ENCSHIM_BACKEND_SODIUM:
		return "sodium";
	case ENCSHIM_BACKEND_IPSECMB:
		return "ipsecmb";
	default:
		return "auto";
	}
}

int encshim_backend_parse(const char *s, enum encshim_backend *out)
{
	if (!s || !*s || !strcmp(s, "auto"))
		*out = ENCSHIM_BACKEND_AUTO;
	else if (!strcmp(s, "openssl"))
		*out = ENCSHIM_BACKEND_OPENSSL;
	else if (!strcmp(s, "sodium"))
		*out = ENCSHIM_BACKEND_SODIUM;
	else if (!strcmp(s, "ipsecmb"))
		*out = ENCSHIM_BACKEND_IPSECMB;
	else
		return ENCSHIM_E_ENV;
	return ENCSHIM_OK;
}

static const struct encshim_aead_ops *ops_of(enum encshim_backend b)
{
	switch (b) {
#ifdef HAVE_IPSEC_MB
	case ENCSHIM_BACKEND_IPSECMB:
		return &encshim_aead_ipsecmb_ops;
#endif
#ifdef HAVE_OPENSSL
	case ENCSHIM_BACKEND_OPENSSL:
		return &encshim_aead_openssl_ops;
#endif
	case ENCSHIM_BACKEND_SODIUM:
		return &encshim_aead_sodium_ops;
	default:
		return NULL;
	}
}

int encshim_backend_resolve(enum encshim_backend want,
			    enum encshim_backend *got, const char **why)
{
	/* Fastest first (aeadbench here: ipsec-mb's VAES path 2-3x
	 * OpenSSL 3.0's AES-NI path, itself 2-4x libsodium's). */
	static const struct {
		enum encshim_backend b;
		const char *absent; /* why, when not built in */
		const char *picked; /* why auto took it, unless usable() says */
	} order[] = {
		{ ENCSHIM_BACKEND_IPSECMB,
		  "ipsec-mb backend not built in (install libipsec-mb-dev and "
		  "reconfigure without --without-ipsec-mb)",
		  NULL /* its usable() names the code path it runs */ },
		{ ENCSHIM_BACKEND_OPENSSL,
		  "OpenSSL backend not built in (configured --without-openssl)",
		  "auto: OpenSSL libcrypto; ipsec-mb not built in or unusable" },
		{ ENCSHIM_BACKEND_SODIUM, NULL,
		  "auto: libsodium AES-NI path; ipsec-mb and OpenSSL not built in or unusable" },
	};
	const char *reason = "no such backend";

	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		const struct encshim_aead_ops *ops = ops_of(order[i].b);
		const char *said = NULL;

		if (want != ENCSHIM_BACKEND_AUTO && want != order[i].b)
			continue;
		if (!ops) {
			reason = order[i].absent;
			continue;
		}
		if (ops->usable(&said) == 0) {
			*got = order[i].b;
			if (why)
				*why = want != ENCSHIM_BACKEND_AUTO ? "chosen by ENCSHIM_BACKEND"
					: said ? said : order[i].picked;
			return ENCSHIM_OK;
		}
		reason = said;
	}
	if (why)
		*why = reason;
	return ENCSHIM_E_NOBACKEND;
}

int encshim_aead_new(struct encshim_aead **out, enum encshim_backend b,
		     const uint8_t key[32])
{
	struct encshim_aead *a;
	int rc;

	*out = NULL;
	rc = encshim_backend_resolve(b, &b, NULL);
	if (rc)
		return rc;
	a = calloc(1, sizeof(*a));
	if (!a)
		return ENCSHIM_E_NOMEM;
	a->ops = ops_of(b);
	atomic_init(&a->holds, 1);
	rc = a->ops->init(a, key);
	if (rc) {
		free(a);
		return rc;
	}
	*out = a;
	return ENCSHIM_OK;
}

void encshim_aead_free(struct encshim_aead *a)
{
	if (!a || atomic_fetch_sub(&a->holds, 1) != 1)
		return;
	a->ops->fini(a);
	free(a);
}

struct encshim_aead *encshim_aead_hold(struct encshim_aead *a)
{
	atomic_fetch_add(&a->holds, 1);
	return a;
}

int encshim_aead_seal(struct encshim_aead *a, const uint8_t nonce[12],
		      const void *aad, size_t aadlen, const void *in,
		      size_t len, void *out, uint8_t tag[16])
{
	if ((uint64_t)len > ENCSHIM_MAX_PLAINTEXT)
		return ENCSHIM_E_TOOBIG;
	return a->ops->seal(a, nonce, aad, aadlen, in, len, out, tag);
}

int encshim_aead_open(struct encshim_aead *a, const uint8_t nonce[12],
		      const void *aad, size_t aadlen, const void *in,
		      size_t len, void *out, const uint8_t tag[16])
{
	int rc;

	if ((uint64_t)len > ENCSHIM_MAX_PLAINTEXT)
		return ENCSHIM_E_TOOBIG; /* nothing written */
	rc = a->ops->open(a, nonce, aad, aadlen, in, len, out, tag);
	if (rc)
		sodium_memzero(out, len);
	return rc;
}

/* SPDX-License-Identifier: MIT */
/* HKDF-SHA256, RFC 5869 section 2, on libsodium's HMAC-SHA256. */
#include "config.h"

#include <string.h>
#include <sodium.h>

#include "kdf.h"

/* RFC 5869 2.2: PRK = HMAC-Hash(salt, IKM). */
void encshim_hkdf_extract(uint8_t prk[KDF_HASH_BYTES], const void *salt,
			  size_t saltlen, const void *ikm, size_t ikmlen)
{
	crypto_auth_hmacsha256_state st;

	crypto_auth_hmacsha256_init(&st, salt, saltlen);
	crypto_auth_hmacsha256_update(&st, ikm, ikmlen);
	crypto_auth_hmacsha256_final(&st, prk);
	sodium_memzero(&st, sizeof(st));
}

/* RFC 5869 2.3: T(i) = HMAC-Hash(PRK, T(i-1) | info | i). */
int encshim_hkdf_expand(uint8_t *okm, size_t okmlen,
			const uint8_t prk[KDF_HASH_BYTES], const void *info,
			size_t infolen)
{
	crypto_auth_hmacsha256_state st;
	uint8_t t[KDF_HASH_BYTES];
	size_t done = 0;
	unsigned char i;

	if (okmlen > 255 * KDF_HASH_BYTES)
		return -1;
	for (i = 1; done < okmlen; i++) {
		size_t n = okmlen - done < KDF_HASH_BYTES ? okmlen - done
							  : KDF_HASH_BYTES;

		crypto_auth_hmacsha256_init(&st, prk, KDF_HASH_BYTES);
		if (i > 1)
			crypto_auth_hmacsha256_update(&st, t, sizeof(t));
		crypto_auth_hmacsha256_update(&st, info, infolen);
		crypto_auth_hmacsha256_update(&st, &i, 1);
		crypto_auth_hmacsha256_final(&st, t);
		memcpy(okm + done, t, n);
		done += n;
	}
	sodium_memzero(&st, sizeof(st));
	sodium_memzero(t, sizeof(t));
	return 0;
}

/* SPDX-License-Identifier: MIT */
/* HKDF-SHA256 (RFC 5869) over libsodium's HMAC-SHA256. */
#ifndef ENCSHIM_KDF_H
#define ENCSHIM_KDF_H

#include <stddef.h>
#include <stdint.h>

#define KDF_HASH_BYTES 32u

void encshim_hkdf_extract(uint8_t prk[KDF_HASH_BYTES], const void *salt,
			  size_t saltlen, const void *ikm, size_t ikmlen);
/* okmlen <= 255 * 32 (RFC 5869, 2.3); returns -1 otherwise. */
int encshim_hkdf_expand(uint8_t *okm, size_t okmlen,
			const uint8_t prk[KDF_HASH_BYTES], const void *info,
			size_t infolen) __attribute__((warn_unused_result));

#endif

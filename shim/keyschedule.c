/* SPDX-License-Identifier: MIT */
/*
 * The key schedule, step by step as in docs/PROTOCOL.md "Key schedule".
 * Notation: || concatenation, u8(x) one byte, BE32(x) four bytes
 * big-endian, HKDF = HKDF-SHA256 (RFC 5869), X25519 per RFC 7748.
 *
 *   S              job secret, 32 bytes (key file)
 *   J              job identifier (front end: the MPI job id)
 *   a, A = X25519(a, 9)          our ephemeral pair, fresh per process
 *   id_A, id_B     identities (front end: the rank's process name)
 *   (L, H)         the two parties ordered so that
 *                  u8(|id_L|) || id_L || A_L  <  u8(|id_H|) || id_H || A_H
 *   DH  = X25519(a, B)                          (reject all-zero, 7748 s6.1)
 *   T   = SHA-256("encshim v1 transcript" || u8(|J|) || J ||
 *                 u8(|id_L|) || id_L || A_L || u8(|id_H|) || id_H || A_H)
 *   PRK = HKDF-Extract(salt = S, IKM = DH)
 *   R_LH = HKDF-Expand(PRK, "encshim v1 L->H" || T, 32)
 *   R_HL = HKDF-Expand(PRK, "encshim v1 H->L" || T, 32)
 *   K(R, e) = HKDF-Expand(R, "encshim v1 epoch" || BE32(e), 32)
 *   C   = HKDF-Expand(HKDF-Extract(S, "encshim v1 check"), J, 32)
 */
#include "config.h"

#include <string.h>
#include <sodium.h>

#include "kdf.h"
#include "keyschedule.h"
#include "encshim/error.h"

static const char L_TRANSCRIPT[] = "encshim v1 transcript";
static const char L_LH[] = "encshim v1 L->H";
static const char L_HL[] = "encshim v1 H->L";
static const char L_EPOCH[] = "encshim v1 epoch";
static const char L_CHECK[] = "encshim v1 check";
static const char L_CHANNEL[] = "encshim v1 channel";

/* u8(|id|) || id || pub, the sort key and transcript item of a party. */
static size_t party_bytes(uint8_t *buf, const struct ks_party *p)
{
	buf[0] = (uint8_t)p->idlen;
	memcpy(buf + 1, p->id, p->idlen);
	memcpy(buf + 1 + p->idlen, p->pub, ENCSHIM_PUBKEY_BYTES);
	return 1 + p->idlen + ENCSHIM_PUBKEY_BYTES;
}

static int order(uint8_t *lo, size_t *lolen, uint8_t *hi, size_t *hilen,
		 const struct ks_party *self, const struct ks_party *peer,
		 int *self_is_low)
{
	uint8_t a[1 + ENCSHIM_MAX_IDENTITY + ENCSHIM_PUBKEY_BYTES];
	uint8_t b[sizeof(a)];
	size_t na = party_bytes(a, self), nb = party_bytes(b, peer);
	size_t n = na < nb ? na : nb;
	int c = memcmp(a, b, n);

	if (c == 0)
		c = (na > nb) - (na < nb);
	if (c == 0)
		return ENCSHIM_E_PEERKEY; /* a reflected copy of ourselves */
	*self_is_low = c < 0;
	memcpy(lo, c < 0 ? a : b, c < 0 ? na : nb);
	*lolen = c < 0 ? na : nb;
	memcpy(hi, c < 0 ? b : a, c < 0 ? nb : na);
	*hilen = c < 0 ? nb : na;
	return 0;
}

int ks_pair_derive(struct ks_pair *out, const uint8_t secret[32],
		   const uint8_t *job, size_t joblen, const struct ks_party *self,
		   const uint8_t self_priv[32], const struct ks_party *peer)
{
	uint8_t lo[1 + ENCSHIM_MAX_IDENTITY + ENCSHIM_PUBKEY_BYTES];
	uint8_t hi[sizeof(lo)];
	uint8_t dh[32], t[crypto_hash_sha256_BYTES], prk[KDF_HASH_BYTES];
	uint8_t info[sizeof(L_LH) - 1 + sizeof(t)];
	crypto_hash_sha256_state h;
	size_t lolen, hilen;
	uint8_t jl = (uint8_t)joblen;
	int self_is_low, rc;

	rc = order(lo, &lolen, hi, &hilen, self, peer, &self_is_low);
	if (rc)
		goto out;
	if (crypto_scalarmult(dh, self_priv, peer->pub) != 0) {
		rc = ENCSHIM_E_PEERKEY; /* low-order point: all-zero DH */
		goto out;
	}
	crypto_hash_sha256_init(&h);
	crypto_hash_sha256_update(&h, (const uint8_t *)L_TRANSCRIPT,
				  sizeof(L_TRANSCRIPT) - 1);
	crypto_hash_sha256_update(&h, &jl, 1);
	crypto_hash_sha256_update(&h, job, joblen);
	crypto_hash_sha256_update(&h, lo, lolen);
	crypto_hash_sha256_update(&h, hi, hilen);
	crypto_hash_sha256_final(&h, t);

	encshim_hkdf_extract(prk, secret, 32, dh, sizeof(dh));
	memcpy(info + sizeof(L_LH) - 1, t, sizeof(t));
	memcpy(info, L_LH, sizeof(L_LH) - 1);
	rc = encshim_hkdf_expand(self_is_low ? out->tx_root : out->rx_root, 32,
				 prk, info, sizeof(info));
	memcpy(info, L_HL, sizeof(L_HL) - 1);
	rc |= encshim_hkdf_expand(self_is_low ? out->rx_root : out->tx_root, 32,
				  prk, info, sizeof(info));
	rc = rc ? ENCSHIM_E_CRYPTO : 0;
out:
	sodium_memzero(dh, sizeof(dh));
	sodium_memzero(prk, sizeof(prk));
	sodium_memzero(&h, sizeof(h));
	if (rc)
		sodium_memzero(out, sizeof(*out));
	return rc;
}

int ks_epoch_key(uint8_t key[ENCSHIM_KEY_BYTES],
		 const uint8_t root[ENCSHIM_KEY_BYTES], uint32_t epoch)
{
	uint8_t info[sizeof(L_EPOCH) - 1 + 4];

	memcpy(info, L_EPOCH, sizeof(L_EPOCH) - 1);
	info[sizeof(L_EPOCH) - 1] = (uint8_t)(epoch >> 24);
	info[sizeof(L_EPOCH)] = (uint8_t)(epoch >> 16);
	info[sizeof(L_EPOCH) + 1] = (uint8_t)(epoch >> 8);
	info[sizeof(L_EPOCH) + 2] = (uint8_t)epoch;
	return encshim_hkdf_expand(key, ENCSHIM_KEY_BYTES, root, info,
				   sizeof(info))
		       ? ENCSHIM_E_CRYPTO
		       : 0;
}

/* A direction root of a sub-channel: its own keys, so its own nonces. */
int ks_channel_root(uint8_t out[ENCSHIM_KEY_BYTES],
		    const uint8_t root[ENCSHIM_KEY_BYTES], const void *label,
		    size_t labellen)
{
	uint8_t info[sizeof(L_CHANNEL) - 1 + ENCSHIM_MAX_CHANNEL_LABEL];

	if (!labellen || labellen > ENCSHIM_MAX_CHANNEL_LABEL)
		return ENCSHIM_E_INVAL;
	memcpy(info, L_CHANNEL, sizeof(L_CHANNEL) - 1);
	memcpy(info + sizeof(L_CHANNEL) - 1, label, labellen);
	return encshim_hkdf_expand(out, ENCSHIM_KEY_BYTES, root, info,
				   sizeof(L_CHANNEL) - 1 + labellen)
		       ? ENCSHIM_E_CRYPTO
		       : 0;
}

void ks_secret_check(uint8_t out[32], const uint8_t secret[32],
		     const uint8_t *job, size_t joblen)
{
	uint8_t prk[KDF_HASH_BYTES];

	encshim_hkdf_extract(prk, secret, 32, L_CHECK, sizeof(L_CHECK) - 1);
	/* 32 <= 255 * 32: cannot fail */
	(void)!encshim_hkdf_expand(out, 32, prk, job, joblen);
	sodium_memzero(prk, sizeof(prk));
}

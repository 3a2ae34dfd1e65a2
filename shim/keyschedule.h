/* SPDX-License-Identifier: MIT */
#ifndef ENCSHIM_KEYSCHEDULE_H
#define ENCSHIM_KEYSCHEDULE_H

#include <stddef.h>
#include <stdint.h>
#include "encshim/wire.h"

/* One side of a pair: identity and X25519 public key. */
struct ks_party {
	const uint8_t *id;
	size_t idlen;
	const uint8_t *pub;
};

/* Per-direction root keys of one pair, from our point of view. */
struct ks_pair {
	uint8_t tx_root[ENCSHIM_KEY_BYTES];
	uint8_t rx_root[ENCSHIM_KEY_BYTES];
};

int ks_pair_derive(struct ks_pair *out, const uint8_t secret[32],
		   const uint8_t *job, size_t joblen, const struct ks_party *self,
		   const uint8_t self_priv[32], const struct ks_party *peer)
	__attribute__((warn_unused_result));

int ks_epoch_key(uint8_t key[ENCSHIM_KEY_BYTES],
		 const uint8_t root[ENCSHIM_KEY_BYTES], uint32_t epoch)
	__attribute__((warn_unused_result));

int ks_channel_root(uint8_t out[ENCSHIM_KEY_BYTES],
		    const uint8_t root[ENCSHIM_KEY_BYTES], const void *label,
		    size_t labellen) __attribute__((warn_unused_result));

void ks_secret_check(uint8_t out[32], const uint8_t secret[32],
		     const uint8_t *job, size_t joblen);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * Expanded AES keys on demand. A session keeps its 32-byte epoch keys in
 * key slots; the expanded key schedule of a slot (up to 1 KiB: ipsec-mb's
 * VAES path precomputes 48 powers of GHASH's H) is made when the slot is
 * used and kept only for the KEYCACHE_MAX most recently used slots of
 * the process. Memory per peer therefore does not grow with the
 * schedule: a job talking to 16k peers keeps 16k small sessions and at
 * most KEYCACHE_MAX schedules (docs/PROTOCOL.md section 4).
 *
 * Locking: a slot's key is its owner's (the session direction's lock);
 * its cached schedule and place in the cache belong to the cache's lock.
 */
#ifndef ENCSHIM_KEYCACHE_H
#define ENCSHIM_KEYCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "encshim/aead.h"
#include "encshim/wire.h"

#define KEYCACHE_MAX 1024u

struct keyslot {
	uint8_t key[ENCSHIM_KEY_BYTES];
	enum encshim_backend backend;
	bool set;
	struct encshim_aead *aead;   /* cached schedule, or NULL */
	struct keyslot *prev, *next; /* most recently used first */
};

/* Gives the slot a key (dropping the schedule of its last one). */
void keyslot_set(struct keyslot *ks, enum encshim_backend b,
		 const uint8_t key[ENCSHIM_KEY_BYTES]);
/* As keyslot_set, with the schedule already made for that key (taken). */
void keyslot_set_expanded(struct keyslot *ks, enum encshim_backend b,
			  const uint8_t key[ENCSHIM_KEY_BYTES],
			  struct encshim_aead *a);
/* A hold on the slot's schedule, made now if it is not cached. */
int keyslot_hold(struct keyslot *ks, struct encshim_aead **out)
	__attribute__((warn_unused_result));
/* Drops the schedule and wipes the key. */
void keyslot_clear(struct keyslot *ks);
/* Schedules cached now (for tests). */
size_t keycache_count(void);

#endif

/* SPDX-License-Identifier: MIT */
/* For unit tests only: epoch boundaries in a few frames, fixed key pairs. */
#ifndef ENCSHIM_SESSION_INTERNAL_H
#define ENCSHIM_SESSION_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

struct encshim_local;
struct encshim_peer;

void session_test_rekey_limits(struct encshim_peer *p, uint64_t bytes,
			       uint64_t msgs);
/* sizeof(struct encshim_peer): what a session costs in key memory. */
size_t session_test_peer_bytes(void);
/* Replaces the ephemeral key pair, for known-answer tests. */
void session_test_set_private(struct encshim_local *l, const uint8_t priv[32]);

#endif

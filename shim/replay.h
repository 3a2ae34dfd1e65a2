/* SPDX-License-Identifier: MIT */
/* Sliding anti-replay window over 64-bit sequence numbers (RFC 6479). */
#ifndef ENCSHIM_REPLAY_H
#define ENCSHIM_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#include "encshim/session.h"

struct replay {
	enum encshim_order order;
	uint64_t last;     /* highest sequence number accepted */
	int any;           /* whether anything was accepted yet */
	uint32_t window;   /* frames behind last still accepted once */
	uint32_t nblocks;  /* window / 64 + 1 ring slots */
	uint64_t *ring;
};

/* window: power of two in [ENCSHIM_REPLAY_WINDOW_MIN, _MAX]. */
int replay_init(struct replay *r, size_t window)
	__attribute__((warn_unused_result));
void replay_fini(struct replay *r);
/* Switches to another order (session.h) before the first frame. */
int replay_set_order(struct replay *r, enum encshim_order order)
	__attribute__((warn_unused_result));

/* Records seq if the order allows it. Returns 0, ENCSHIM_E_REPLAY (seen,
 * or not after `last` in the strict and monotonic orders), ENCSHIM_E_STALE
 * (seq <= last - window) or ENCSHIM_E_ORDER (strict: a gap before seq).
 * Call only on authentic frames: it moves the state. */
int replay_accept(struct replay *r, uint64_t seq)
	__attribute__((warn_unused_result));

#endif

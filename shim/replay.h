/* SPDX-License-Identifier: MIT */
/* Sliding anti-replay window over 64-bit sequence numbers (RFC 6479). */
#ifndef ENCSHIM_REPLAY_H
#define ENCSHIM_REPLAY_H

#include <stddef.h>
#include <stdint.h>

struct replay {
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

/* Records seq if new. Returns 0, ENCSHIM_E_REPLAY (seen) or
 * ENCSHIM_E_STALE (seq <= last - window). Call only on authentic
 * frames: it moves the window. */
int replay_accept(struct replay *r, uint64_t seq)
	__attribute__((warn_unused_result));

#endif

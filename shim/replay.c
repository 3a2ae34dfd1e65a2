/* SPDX-License-Identifier: MIT */
/*
 * Order checks of a receive direction (PROTOCOL.md section 6).
 *
 * Window: RFC 6479 style, a ring of 64-bit blocks; sliding forward
 * clears whole blocks, so the cost is O(1) per frame however far the
 * window jumps. One extra block keeps a full `window` of frames behind
 * `last` addressable while its own block is partly filled.
 * Strict and monotonic orders need only `last`; external, nothing.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "replay.h"
#include "encshim/error.h"
#include "encshim/wire.h"

int replay_init(struct replay *r, size_t window)
{
	memset(r, 0, sizeof(*r));
	r->order = ENCSHIM_ORDER_WINDOW;
	if (window == 0)
		window = ENCSHIM_REPLAY_WINDOW_DEFAULT;
	if (window < ENCSHIM_REPLAY_WINDOW_MIN ||
	    window > ENCSHIM_REPLAY_WINDOW_MAX || (window & (window - 1)))
		return ENCSHIM_E_INVAL;
	r->window = (uint32_t)window;
	r->nblocks = (uint32_t)(window / 64 + 1);
	r->ring = calloc(r->nblocks, sizeof(*r->ring));
	return r->ring ? 0 : ENCSHIM_E_NOMEM;
}

void replay_fini(struct replay *r)
{
	free(r->ring);
	r->ring = NULL;
}

int replay_set_order(struct replay *r, enum encshim_order order)
{
	if (r->any)
		return ENCSHIM_E_INVAL; /* only before the first frame */
	switch (order) {
	case ENCSHIM_ORDER_WINDOW:
		if (!r->ring)
			return ENCSHIM_E_INVAL; /* its ring is gone */
		break;
	case ENCSHIM_ORDER_STRICT:
	case ENCSHIM_ORDER_MONOTONIC:
	case ENCSHIM_ORDER_EXTERNAL:
		replay_fini(r); /* these keep no bitmap */
		break;
	default:
		return ENCSHIM_E_INVAL;
	}
	r->order = order;
	return 0;
}

static void slide_to(struct replay *r, uint64_t seq)
{
	uint64_t from = r->last >> 6, to = seq >> 6, b;

	if (!r->any || to - from >= r->nblocks) {
		memset(r->ring, 0, r->nblocks * sizeof(*r->ring));
	} else {
		for (b = from + 1; b <= to; b++)
			r->ring[b % r->nblocks] = 0;
	}
	r->last = seq;
	r->any = 1;
}

/* RC: the transport is reliable and ordered, so the frame after `last`
 * is the only one that can come; anything else is an attack. */
static int accept_strict(struct replay *r, uint64_t seq)
{
	uint64_t want = r->any ? r->last + 1 : 0;

	if (seq < want)
		return ENCSHIM_E_REPLAY;
	if (seq > want)
		return ENCSHIM_E_ORDER;
	r->last = seq;
	r->any = 1;
	return 0;
}

/* UC: frames may be lost, never delivered twice or late. */
static int accept_monotonic(struct replay *r, uint64_t seq)
{
	if (r->any && seq <= r->last)
		return ENCSHIM_E_REPLAY;
	r->last = seq;
	r->any = 1;
	return 0;
}

static int accept_window(struct replay *r, uint64_t seq)
{
	uint64_t *word, bit = UINT64_C(1) << (seq & 63);

	if (!r->any || seq > r->last)
		slide_to(r, seq);
	else if (r->last - seq >= r->window)
		return ENCSHIM_E_STALE;
	word = &r->ring[(seq >> 6) % r->nblocks];
	if (*word & bit)
		return ENCSHIM_E_REPLAY;
	*word |= bit;
	return 0;
}

int replay_accept(struct replay *r, uint64_t seq)
{
	switch (r->order) {
	case ENCSHIM_ORDER_STRICT:
		return accept_strict(r, seq);
	case ENCSHIM_ORDER_MONOTONIC:
		return accept_monotonic(r, seq);
	case ENCSHIM_ORDER_EXTERNAL:
		return 0; /* the front end orders and de-duplicates */
	default:
		return accept_window(r, seq);
	}
}

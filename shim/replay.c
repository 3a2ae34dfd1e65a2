/* SPDX-License-Identifier: MIT */
/*
 * RFC 6479 style window: a ring of 64-bit blocks; sliding forward
 * clears whole blocks, so the cost is O(1) per frame however far the
 * window jumps. One extra block keeps a full `window` of frames behind
 * `last` addressable while its own block is partly filled.
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

int replay_accept(struct replay *r, uint64_t seq)
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

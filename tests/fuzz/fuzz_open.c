/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: arbitrary bytes as a frame (first byte picks the
 * envelope length). Opening must never crash, never succeed for a frame
 * the peer did not seal, and leave the output zeroed on failure.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "encshim.h"

static struct encshim_peer *rx;

static void setup(void)
{
	struct encshim_local *a, *b;
	uint8_t s[32] = { 7 }, pa[32];

	if (encshim_init() || encshim_local_new(&a, s, "fz", 2, "a", 1, 0) ||
	    encshim_local_new(&b, s, "fz", 2, "b", 1, 0))
		abort();
	encshim_local_public_key(a, pa);
	if (encshim_peer_new(&rx, b, "a", 1, pa, 0))
		abort();
	encshim_local_free(a); /* the sender's private key is gone: no forgery possible */
	encshim_local_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t envlen;
	uint8_t *out;
	int rc;

	if (!rx)
		setup();
	if (size < 1)
		return 0;
	envlen = data[0] % (ENCSHIM_MAX_ENVELOPE + 1);
	if (size - 1 < envlen)
		return 0;
	out = malloc(size + 1);
	memset(out, 0xAA, size + 1);
	rc = encshim_peer_open(rx, data + 1, envlen, data + 1 + envlen, size - 1 - envlen, out);
	if (rc == 0)
		abort(); /* a forgery */
	if (size - 1 - envlen >= ENCSHIM_OVERHEAD &&
	    rc != ENCSHIM_E_MALFORMED && rc != ENCSHIM_E_EPOCH &&
	    !sodium_is_zero(out, size - 1 - envlen - ENCSHIM_OVERHEAD))
		abort(); /* unauthenticated bytes left in the output */
	free(out);
	return 0;
}

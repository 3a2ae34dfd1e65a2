/* SPDX-License-Identifier: MIT */
/* Helpers shared by the unit tests. */
#ifndef ENCSHIM_TEST_UTIL_H
#define ENCSHIM_TEST_UTIL_H

#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "encshim.h"

/* Decodes hex into a fresh buffer; *len gets its size. */
static inline uint8_t *hex(const char *h, size_t *len)
{
	size_t n = strlen(h) / 2, got;
	uint8_t *b = malloc(n ? n : 1);

	assert_non_null(b);
	assert_int_equal(sodium_hex2bin(b, n, h, strlen(h), NULL, &got, NULL), 0);
	assert_int_equal(got, n);
	if (len)
		*len = n;
	return b;
}

static inline int backend_usable(enum encshim_backend b)
{
	enum encshim_backend got;

	return encshim_backend_resolve(b, &got, NULL) == 0;
}

/* Two parties of one job sharing `secret`, each with a peer object for
 * the other. */
struct duo {
	struct encshim_local *l[2];
	struct encshim_peer *p[2];
};

static inline void duo_make(struct duo *d, const uint8_t *secret0,
			    const uint8_t *secret1, enum encshim_backend b0,
			    enum encshim_backend b1)
{
	uint8_t pub0[32], pub1[32];

	assert_int_equal(encshim_local_new(&d->l[0], secret0, "job", 3, "rank0", 5, b0), 0);
	assert_int_equal(encshim_local_new(&d->l[1], secret1, "job", 3, "rank1", 5, b1), 0);
	encshim_local_public_key(d->l[0], pub0);
	encshim_local_public_key(d->l[1], pub1);
	assert_int_equal(encshim_peer_new(&d->p[0], d->l[0], "rank1", 5, pub1, 0), 0);
	assert_int_equal(encshim_peer_new(&d->p[1], d->l[1], "rank0", 5, pub0, 0), 0);
}

static inline void duo_free(struct duo *d)
{
	for (int i = 0; i < 2; i++) {
		encshim_peer_free(d->p[i]);
		encshim_local_free(d->l[i]);
	}
}

static inline int all_zero(const uint8_t *b, size_t n)
{
	return sodium_is_zero(b, n);
}

#endif

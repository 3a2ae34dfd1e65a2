/* SPDX-License-Identifier: MIT */
/*
 * Memory for key material: pages excluded from core dumps
 * (MADV_DONTDUMP), locked in RAM where RLIMIT_MEMLOCK allows, wiped on
 * free. Small blocks share pages (a slab per size class), so a peer's
 * keys cost bytes, not the three pages of a sodium_malloc allocation.
 */
#ifndef ENCSHIM_SECMEM_H
#define ENCSHIM_SECMEM_H

#include <stddef.h>

/* Zeroed, 64-byte aligned; NULL when out of memory. */
void *secmem_alloc(size_t len) __attribute__((malloc));
/* Wipes len bytes (the size given to secmem_alloc), then recycles. */
void secmem_free(void *p, size_t len);

#endif

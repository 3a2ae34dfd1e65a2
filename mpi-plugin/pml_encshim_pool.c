/* SPDX-License-Identifier: MIT */
/*
 * Staging buffers for frames. ob1 and ucx register the memory they send
 * from and receive into, and cache the registration by address; a fresh
 * malloc per message would miss that cache every time (and pay page
 * faults on large buffers). Buffers therefore come back here and are
 * reused by size class: four classes per power of two (256, 320, 384,
 * 448, 512, ...), so a buffer wastes at most a quarter of its size. Up
 * to pml_encshim_pool_max_bytes stay cached; the rest go back to libc.
 */
#include "pml_encshim.h"

#include <pthread.h>
#include <stdlib.h>


#define POOL_CLASSES 104 /* the last one holds 7 GiB */
#define POOL_ALIGN 64

struct free_buf {
	struct free_buf *next;
};

static struct free_buf *free_lists[POOL_CLASSES];
static size_t cached_bytes;
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;

static size_t class_size(unsigned c)
{
	return (size_t)(4u + c % 4u) << (6u + c / 4u);
}

/* Smallest class that holds len; POOL_CLASSES if none does. */
static unsigned class_of(size_t len)
{
	unsigned c = 0;

	while (c < POOL_CLASSES && class_size(c) < len)
		c++;
	return c;
}

void *encshim_pool_get(size_t len, size_t *cap)
{
	unsigned c = class_of(len);
	struct free_buf *b = NULL;
	void *fresh = NULL;

	if (c >= POOL_CLASSES)
		return NULL;
	*cap = class_size(c);
	pthread_mutex_lock(&pool_lock);
	b = free_lists[c];
	if (NULL != b) {
		free_lists[c] = b->next;
		cached_bytes -= *cap;
	}
	pthread_mutex_unlock(&pool_lock);
	if (NULL != b)
		return b;
	if (0 != posix_memalign(&fresh, POOL_ALIGN, *cap))
		return NULL;
	return fresh;
}

void encshim_pool_put(void *buf, size_t cap)
{
	unsigned c = class_of(cap);
	struct free_buf *b = buf;

	if (NULL == buf)
		return;
	pthread_mutex_lock(&pool_lock);
	if (c < POOL_CLASSES && class_size(c) == cap &&
	    cached_bytes + cap <= encshim_param.pool_max) {
		b->next = free_lists[c];
		free_lists[c] = b;
		cached_bytes += cap;
		b = NULL;
	}
	pthread_mutex_unlock(&pool_lock);
	free(b);
}

void encshim_pool_fini(void)
{
	unsigned c;

	pthread_mutex_lock(&pool_lock);
	for (c = 0; c < POOL_CLASSES; c++) {
		while (NULL != free_lists[c]) {
			struct free_buf *b = free_lists[c];

			free_lists[c] = b->next;
			free(b);
		}
	}
	cached_bytes = 0;
	pthread_mutex_unlock(&pool_lock);
}

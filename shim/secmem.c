/* SPDX-License-Identifier: MIT */
/*
 * Key memory (secmem.h). Blocks of 64 << k bytes (k < NCLASS) come from
 * 64 KiB chunks mapped privately, marked MADV_DONTDUMP and mlocked best
 * effort; larger blocks get pages of their own. Freed blocks are wiped
 * and kept on a free list per class: chunks are never unmapped, so a
 * block once handed out stays non-dumpable for the life of the process.
 */
#include "config.h"

#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>
#include <sodium.h>

#include "secmem.h"

#define BLOCK_MIN 64u
#define NCLASS 5u             /* 64 .. 1024 bytes */
#define CHUNK (64u * 1024u)

struct free_block {
	struct free_block *next;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct free_block *free_list[NCLASS];

static void *map_keys(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (MAP_FAILED == p)
		return NULL;
	/* Keys must never reach a core file; if the kernel cannot promise
	 * that, refuse the memory rather than hold keys in it. */
	if (madvise(p, len, MADV_DONTDUMP) != 0) {
		munmap(p, len);
		return NULL;
	}
	(void)mlock(p, len); /* keeps keys out of swap where the limit allows */
	return p;
}

static int class_of(size_t len, size_t *size)
{
	for (unsigned k = 0; k < NCLASS; k++) {
		*size = (size_t)BLOCK_MIN << k;
		if (len <= *size)
			return (int)k;
	}
	return -1;
}

static size_t pages_for(size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	return (len + page - 1) / page * page;
}

/* Cuts a fresh chunk into blocks of class k; called with the lock held. */
static int refill(unsigned k, size_t size)
{
	uint8_t *chunk = map_keys(CHUNK);

	if (!chunk)
		return -1;
	for (size_t off = 0; off + size <= CHUNK; off += size) {
		struct free_block *b = (struct free_block *)(chunk + off);

		b->next = free_list[k];
		free_list[k] = b;
	}
	return 0;
}

void *secmem_alloc(size_t len)
{
	struct free_block *b = NULL;
	size_t size;
	int k = class_of(len, &size);

	if (k < 0)
		return map_keys(pages_for(len)); /* fresh pages are zero */
	pthread_mutex_lock(&lock);
	if (free_list[k] || refill((unsigned)k, size) == 0) {
		b = free_list[k];
		free_list[k] = b->next;
		b->next = NULL; /* the rest of a block is zero (wiped on free) */
	}
	pthread_mutex_unlock(&lock);
	return b;
}

void secmem_free(void *p, size_t len)
{
	struct free_block *b = p;
	size_t size;
	int k = class_of(len, &size);

	if (!p)
		return;
	if (k < 0) {
		sodium_memzero(p, len);
		munmap(p, pages_for(len));
		return;
	}
	sodium_memzero(p, size);
	pthread_mutex_lock(&lock);
	b->next = free_list[k];
	free_list[k] = b;
	pthread_mutex_unlock(&lock);
}

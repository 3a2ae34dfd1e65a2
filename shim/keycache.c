/* SPDX-License-Identifier: MIT */
/* Expanded AES keys on demand, least recently used dropped (keycache.h). */
#include "config.h"

#include <pthread.h>
#include <string.h>
#include <sodium.h>

#include "keycache.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct keyslot *head, *tail;
static size_t count;

/* The list operations run with the lock held. */
static void unlink_slot(struct keyslot *ks)
{
	if (ks->prev)
		ks->prev->next = ks->next;
	else
		head = ks->next;
	if (ks->next)
		ks->next->prev = ks->prev;
	else
		tail = ks->prev;
	ks->prev = ks->next = NULL;
}

static void link_first(struct keyslot *ks)
{
	ks->prev = NULL;
	ks->next = head;
	if (head)
		head->prev = ks;
	else
		tail = ks;
	head = ks;
}

/* The slot's schedule, out of the cache; the caller frees it unlocked. */
static struct encshim_aead *take(struct keyslot *ks)
{
	struct encshim_aead *a = ks->aead;

	if (a) {
		unlink_slot(ks);
		ks->aead = NULL;
		count--;
	}
	return a;
}

/* Caches a for ks; returns the schedule evicted to stay in bounds. */
static struct encshim_aead *put(struct keyslot *ks, struct encshim_aead *a)
{
	ks->aead = a;
	link_first(ks);
	if (++count <= KEYCACHE_MAX)
		return NULL;
	return take(tail); /* never ks: it is first, and MAX >= 1 */
}

static void drop(struct keyslot *ks)
{
	struct encshim_aead *a;

	pthread_mutex_lock(&lock);
	a = take(ks);
	pthread_mutex_unlock(&lock);
	encshim_aead_free(a); /* holders keep theirs */
}

void keyslot_set(struct keyslot *ks, enum encshim_backend b,
		 const uint8_t key[ENCSHIM_KEY_BYTES])
{
	drop(ks);
	memcpy(ks->key, key, ENCSHIM_KEY_BYTES);
	ks->backend = b;
	ks->set = true;
}

void keyslot_set_expanded(struct keyslot *ks, enum encshim_backend b,
			  const uint8_t key[ENCSHIM_KEY_BYTES],
			  struct encshim_aead *a)
{
	struct encshim_aead *evicted;

	keyslot_set(ks, b, key);
	pthread_mutex_lock(&lock);
	evicted = put(ks, a);
	pthread_mutex_unlock(&lock);
	encshim_aead_free(evicted);
}

int keyslot_hold(struct keyslot *ks, struct encshim_aead **out)
{
	struct encshim_aead *fresh = NULL, *evicted = NULL;
	int rc;

	pthread_mutex_lock(&lock);
	if (!ks->aead) {
		/* Expanding takes a while: not under the process-wide lock. */
		pthread_mutex_unlock(&lock);
		rc = encshim_aead_new(&fresh, ks->backend, ks->key);
		if (rc)
			return rc;
		pthread_mutex_lock(&lock);
		if (!ks->aead) {
			evicted = put(ks, fresh);
			fresh = NULL;
		}
	} else if (ks != head) {
		unlink_slot(ks);
		link_first(ks);
	}
	*out = encshim_aead_hold(ks->aead);
	pthread_mutex_unlock(&lock);
	encshim_aead_free(fresh);
	encshim_aead_free(evicted);
	return 0;
}

void keyslot_clear(struct keyslot *ks)
{
	drop(ks);
	sodium_memzero(ks->key, sizeof(ks->key));
	ks->set = false;
}

size_t keycache_count(void)
{
	size_t n;

	pthread_mutex_lock(&lock);
	n = count;
	pthread_mutex_unlock(&lock);
	return n;
}

/* SPDX-License-Identifier: MIT */
/*
 * Shadow pools: registered regions of fixed-size slots that carry sealed
 * frames between the application's buffers and the wire.
 * Everything runs under esv_lock.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "esv.h"

static void region_free(struct esv_region *r)
{
	if (r->mr)
		esv_real.dereg_mr(r->mr);
	if (r->mem) {
		sodium_memzero(r->mem, r->slot_size * r->nslots);
		free(r->mem);
	}
	free(r->slots);
	free(r);
}

static struct esv_region *region_new(struct esv_pool *p, size_t slot_size,
				     size_t nslots)
{
	struct esv_region *r = calloc(1, sizeof(*r));
	size_t total = slot_size * nslots;

	if (!r)
		return NULL;
	r->pool = p;
	r->slot_size = slot_size;
	r->nslots = nslots;
	r->slots = calloc(r->nslots, sizeof(*r->slots));
	if (!r->slots || posix_memalign((void **)&r->mem, 4096, total)) {
		free(r->slots);
		free(r);
		return NULL;
	}
	memset(r->mem, 0, total);
	r->mr = esv_real.reg_mr(p->pd, r->mem, total, IBV_ACCESS_LOCAL_WRITE);
	if (!r->mr) {
		esv_log("cannot register %zu bytes of shadow buffers: %s",
			total, strerror(errno));
		r->mr = NULL;
		region_free(r);
		return NULL;
	}
	for (size_t i = r->nslots; i-- > 0;) {
		r->slots[i].tag = ESV_TAG_SHADOW;
		r->slots[i].region = r;
		r->slots[i].buf = r->mem + i * slot_size;
		r->slots[i].next_free = r->free;
		r->free = &r->slots[i];
	}
	return r;
}

void esv_pool_init(struct esv_pool *p, struct ibv_pd *pd, size_t nslots)
{
	memset(p, 0, sizeof(*p));
	p->pd = pd;
	p->nslots = nslots ? nslots : 1;
}

/* A slot of at least need bytes. Registers a region only when no region
 * has a free slot that large: at set-up, when the application's message
 * size grows, or when a queue is over-posted. */
struct esv_shadow *esv_pool_get(struct esv_pool *p, size_t need)
{
	struct esv_region *r;
	struct esv_shadow *s;

	if (need < ESV_MIN_SLOT)
		need = ESV_MIN_SLOT;
	need = (need + 63) & ~(size_t)63;
	for (r = p->regions; r; r = r->next)
		if (!r->retired && !r->own && r->slot_size >= need && r->free)
			goto take;
	if (need > p->want)
		p->want = need;
	r = region_new(p, p->want, p->nslots);
	if (!r)
		return NULL;
	/* Smaller regions are retired and freed when their slots return. */
	for (struct esv_region **pp = &p->regions; *pp;) {
		struct esv_region *o = *pp;

		if (!o->own && o->slot_size < p->want) {
			o->retired = 1;
			if (!o->in_use) {
				*pp = o->next;
				region_free(o);
				continue;
			}
		}
		pp = &o->next;
	}
	r->next = p->regions;
	p->regions = r;
take:
	s = r->free;
	r->free = s->next_free;
	s->next_free = NULL;
	s->owner_qp = NULL;
	s->posted = 1;
	r->in_use++;
	return s;
}

/* A slot of at least need bytes in a region of its own (one slot): for a
 * message too large to size every slot of the pool by (a 64 MiB RDMA
 * WRITE would otherwise make a region of a queue depth of 64 MiB slots).
 * The smallest idle one that fits is reused, else one is registered; idle
 * ones are kept up to ESV_OWN_KEEP_BYTES (esv_pool_put). The pool's slot
 * size is not changed. */
struct esv_shadow *esv_pool_get_own(struct esv_pool *p, size_t need)
{
	struct esv_region *r = NULL;
	struct esv_shadow *s;

	need = (need + 63) & ~(size_t)63;
	for (struct esv_region *o = p->regions; o; o = o->next)
		if (o->own && o->free && o->slot_size >= need &&
		    (!r || o->slot_size < r->slot_size))
			r = o;
	if (r) {
		p->own_idle -= r->slot_size;
	} else {
		r = region_new(p, need, 1);
		if (!r)
			return NULL;
		r->own = 1;
		r->next = p->regions;
		p->regions = r;
	}
	s = r->free;
	r->free = NULL;
	s->next_free = NULL;
	s->owner_qp = NULL;
	s->posted = 1;
	r->in_use = 1;
	return s;
}

/* A slot that is not taken (esv_pool_reclaim returned it at RESET) is
 * left alone: putting it twice would give it to two receives
 * (test_attack4_reset_cqe_double_put). */
void esv_pool_put(struct esv_shadow *s)
{
	struct esv_region *r = s->region;
	struct esv_pool *p = r->pool;

	if (!s->posted)
		return;
	s->posted = 0;
	if (s->dirty)
		sodium_memzero(s->buf, s->dirty);
	s->dirty = 0;

	s->next_free = r->free;
	r->free = s;
	r->in_use--;
	if (r->own && p->own_idle + r->slot_size <= ESV_OWN_KEEP_BYTES) {
		p->own_idle += r->slot_size; /* kept for the next long write */
		return;
	}
	if ((r->retired || r->own) && !r->in_use) {
		for (struct esv_region **pp = &p->regions; *pp; pp = &(*pp)->next)
			if (*pp == r) {
				*pp = r->next;
				break;
			}
		region_free(r);
	}
}

/* Every slot back to free (after RESET, when the hardware forgot them). */
void esv_pool_reclaim(struct esv_pool *p)
{
	for (struct esv_region **pp = &p->regions; *pp;) {
		struct esv_region *r = *pp;

		if (r->retired || r->own) {
			*pp = r->next;
			region_free(r);
			continue;
		}
		pp = &r->next;
		r->free = NULL;
		for (size_t i = r->nslots; i-- > 0;) {
			if (r->slots[i].dirty)
				sodium_memzero(r->slots[i].buf, r->slots[i].dirty);
			r->slots[i].dirty = 0;
			r->slots[i].posted = 0;
			r->slots[i].next_free = r->free;
			r->free = &r->slots[i];
		}
		r->in_use = 0;
	}
	p->own_idle = 0;
}

void esv_pool_destroy(struct esv_pool *p)
{
	while (p->regions) {
		struct esv_region *r = p->regions;

		p->regions = r->next;
		region_free(r);
	}
}

/* SPDX-License-Identifier: MIT */
/* Registry of shimmed objects: contexts, QPs (by pointer and by number),
 * CQs, SRQs. Callers hold esv_lock. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "esv.h"

#define NB 1024u

static struct esv_ctx *ctxs;
static struct esv_qp *qp_by_ptr[NB], *qp_by_num[NB];
static struct esv_cq *cq_by_ptr[NB];
static struct esv_srq *srq_by_ptr[NB];

static unsigned hp(const void *p)
{
	uintptr_t x = (uintptr_t)p;

	x ^= x >> 17;
	x *= 0x9E3779B97F4A7C15ull;
	return (unsigned)(x >> 40) % NB;
}

static unsigned hn(const struct esv_ctx *ec, uint32_t qpn)
{
	return (hp(ec) ^ (qpn * 2654435761u)) % NB;
}

struct esv_ctx *esv_ctx_add(struct ibv_context *ctx)
{
	struct esv_ctx *ec = esv_ctx_find(ctx);

	if (ec)
		return ec;
	ec = calloc(1, sizeof(*ec));
	if (!ec)
		return NULL;
	ec->ctx = ctx;
	ec->orig = ctx->ops;
	ec->next = ctxs;
	ctxs = ec;
	return ec;
}

struct esv_ctx *esv_ctx_find(struct ibv_context *ctx)
{
	for (struct esv_ctx *ec = ctxs; ec; ec = ec->next)
		if (ec->ctx == ctx)
			return ec;
	return NULL;
}

void esv_ctx_del(struct ibv_context *ctx)
{
	for (struct esv_ctx **p = &ctxs; *p; p = &(*p)->next)
		if ((*p)->ctx == ctx) {
			struct esv_ctx *ec = *p;

			*p = ec->next;
			free(ec);
			return;
		}
}

void esv_qp_insert(struct esv_qp *q)
{
	unsigned a = hp(q->qp), b = hn(q->ec, q->qpn);

	q->hnext = qp_by_ptr[a];
	qp_by_ptr[a] = q;
	q->nnext = qp_by_num[b];
	qp_by_num[b] = q;
}

void esv_qp_remove(struct esv_qp *q)
{
	struct esv_qp **p;

	for (p = &qp_by_ptr[hp(q->qp)]; *p; p = &(*p)->hnext)
		if (*p == q) {
			*p = q->hnext;
			break;
		}
	for (p = &qp_by_num[hn(q->ec, q->qpn)]; *p; p = &(*p)->nnext)
		if (*p == q) {
			*p = q->nnext;
			break;
		}
}

struct esv_qp *esv_qp_find(struct ibv_qp *qp)
{
	for (struct esv_qp *q = qp_by_ptr[hp(qp)]; q; q = q->hnext)
		if (q->qp == qp)
			return q;
	return NULL;
}

struct esv_qp *esv_qp_by_num(struct esv_ctx *ec, uint32_t qpn)
{
	for (struct esv_qp *q = qp_by_num[hn(ec, qpn)]; q; q = q->nnext)
		if (q->ec == ec && q->qpn == qpn)
			return q;
	return NULL;
}

/* Iterates over all QPs: start with *bucket = 0, prev = NULL. */
struct esv_qp *esv_qp_iter(unsigned *bucket, struct esv_qp *prev)
{
	if (prev && prev->hnext)
		return prev->hnext;
	if (prev)
		(*bucket)++;
	for (; *bucket < NB; (*bucket)++)
		if (qp_by_ptr[*bucket])
			return qp_by_ptr[*bucket];
	return NULL;
}

void esv_cq_insert(struct esv_cq *c)
{
	unsigned a = hp(c->cq);

	c->hnext = cq_by_ptr[a];
	cq_by_ptr[a] = c;
}

void esv_cq_remove(struct esv_cq *c)
{
	for (struct esv_cq **p = &cq_by_ptr[hp(c->cq)]; *p; p = &(*p)->hnext)
		if (*p == c) {
			*p = c->hnext;
			return;
		}
}

struct esv_cq *esv_cq_find(struct ibv_cq *cq)
{
	for (struct esv_cq *c = cq_by_ptr[hp(cq)]; c; c = c->hnext)
		if (c->cq == cq)
			return c;
	return NULL;
}

void esv_srq_insert(struct esv_srq *s)
{
	unsigned a = hp(s->srq);

	s->hnext = srq_by_ptr[a];
	srq_by_ptr[a] = s;
}

void esv_srq_remove(struct esv_srq *s)
{
	for (struct esv_srq **p = &srq_by_ptr[hp(s->srq)]; *p; p = &(*p)->hnext)
		if (*p == s) {
			*p = s->hnext;
			return;
		}
}

struct esv_srq *esv_srq_find(struct ibv_srq *srq)
{
	for (struct esv_srq *s = srq_by_ptr[hp(srq)]; s; s = s->hnext)
		if (s->srq == srq)
			return s;
	return NULL;
}

/* Address handles: the destination address of each AH the application
 * created (an ibv_ah does not expose it), to find a UD send's peer. */
struct esv_ah {
	struct ibv_ah *ah;
	uint8_t addr[16];
	int sgid_index; /* -1: the path is not global */
	struct esv_ah *hnext;
};
static struct esv_ah *ah_by_ptr[NB];

int esv_ah_created(struct ibv_ah *ah, const struct ibv_ah_attr *attr)
{
	struct esv_ah *a = calloc(1, sizeof(*a));
	unsigned h = hp(ah);

	if (!a)
		return -1;
	a->ah = ah;
	a->sgid_index = -1;
	if (attr->is_global) {
		memcpy(a->addr, attr->grh.dgid.raw, 16);
		a->sgid_index = attr->grh.sgid_index;
	} else {
		a->addr[14] = (uint8_t)(attr->dlid >> 8);
		a->addr[15] = (uint8_t)attr->dlid;
	}
	a->hnext = ah_by_ptr[h];
	ah_by_ptr[h] = a;
	return 0;
}

void esv_ah_destroyed(struct ibv_ah *ah)
{
	for (struct esv_ah **p = &ah_by_ptr[hp(ah)]; *p; p = &(*p)->hnext)
		if ((*p)->ah == ah) {
			struct esv_ah *a = *p;

			*p = a->hnext;
			free(a);
			return;
		}
}

int esv_ah_addr(struct ibv_ah *ah, uint8_t addr[16], int *sgid_index)
{
	for (struct esv_ah *a = ah_by_ptr[hp(ah)]; a; a = a->hnext)
		if (a->ah == ah) {
			memcpy(addr, a->addr, 16);
			*sgid_index = a->sgid_index;
			return 0;
		}
	return -1;
}

/* SPDX-License-Identifier: MIT */
/*
 * The receive side: the application's receive FIFO, one shadow posted per
 * application receive, and opening a completed shadow into the FIFO's head.
 * Everything runs under esv_lock.
 *
 * Receives are decoupled from the application's: for every receive the
 * application posts, the shim posts one shadow buffer (application length
 * + ESV_OVERHEAD) and queues the application's WR in a FIFO; a message
 * that completes in a shadow is opened into the FIFO's head. RC receive
 * queues are FIFOs, so message i still lands in receive i, and the number
 * of posted receives equals the application's (plus one, consumed by the
 * peer's HELLO), so an RNR still happens where it would without the shim.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "esv.h"

int esv_rq_init(struct esv_rq *rq, struct ibv_pd *pd, unsigned cap,
		unsigned max_sge, unsigned shadow_slots)
{
	memset(rq, 0, sizeof(*rq));
	rq->cap = cap ? cap : 1;
	rq->max_sge = max_sge ? max_sge : 1;
	rq->ring = calloc(rq->cap, sizeof(*rq->ring));
	rq->sges = calloc((size_t)rq->cap * rq->max_sge, sizeof(*rq->sges));
	if (!rq->ring || !rq->sges) {
		free(rq->ring);
		free(rq->sges);
		return -1;
	}
	for (unsigned i = 0; i < rq->cap; i++)
		rq->ring[i].sge = rq->sges + (size_t)i * rq->max_sge;
	esv_pool_init(&rq->pool, pd, shadow_slots);
	return 0;
}

void esv_rq_fini(struct esv_rq *rq)
{
	esv_pool_destroy(&rq->pool);
	free(rq->ring);
	free(rq->sges);
}

struct esv_rwr *esv_rq_pop(struct esv_rq *rq)
{
	struct esv_rwr *r;

	if (!rq->count)
		return NULL;
	r = &rq->ring[rq->head];
	rq->head = (rq->head + 1) % rq->cap;
	rq->count--;
	return r;
}

/* Posts shadow s as one receive, the whole slot: to srq if given, else
 * to q's receive queue; s then belongs to q (NULL for an SRQ's). On
 * failure s is back in its pool. */
int esv_post_shadow(struct esv_qp *q, struct esv_srq *srq,
		    struct esv_shadow *s)
{
	struct ibv_recv_wr w, *bad = NULL;
	struct ibv_sge sg;
	int rc;

	s->owner_qp = q;
	sg.addr = (uintptr_t)s->buf;
	sg.length = (uint32_t)s->region->slot_size;
	sg.lkey = s->region->mr->lkey;
	memset(&w, 0, sizeof(w));
	w.wr_id = (uintptr_t)s;
	w.sg_list = &sg;
	w.num_sge = 1;
	rc = srq ? srq->ec->orig.post_srq_recv(srq->srq, &w, &bad)
		 : q->ec->orig.post_recv(q->qp, &w, &bad);
	if (rc)
		esv_pool_put(s);
	return rc;
}

/* Posts one shadow receive of the application's receive w: to the
 * QP q's receive queue, or to srq when the QP uses one (q is NULL then). */
static int post_one_recv(struct esv_qp *q, struct esv_srq *srq,
			 struct esv_rq *rq, struct ibv_recv_wr *w)
{
	struct esv_shadow *s;
	struct esv_rwr *r;
	size_t len;
	int rc;

	if (w->num_sge < 0 || (unsigned)w->num_sge > rq->max_sge)
		return EINVAL;
	if (rq->count == rq->cap)
		return ENOMEM;
	len = esv_sge_total(w->sg_list, w->num_sge);
	if (len > rq->maxlen)
		rq->maxlen = len;
	/* RC (and SRQs, which serve RC): room for write descriptors. */
	s = esv_pool_get(&rq->pool, rq->maxlen + ESV_OVERHEAD +
					    (!q || q->type == IBV_QPT_RC
						     ? ESV_WDESC_ROOM : 0));
	if (!s)
		return ENOMEM;
	rc = esv_post_shadow(q, srq, s);
	if (rc)
		return rc;
	r = &rq->ring[(rq->head + rq->count) % rq->cap];
	r->wr_id = w->wr_id;
	r->num_sge = w->num_sge;
	memcpy(r->sge, w->sg_list, (size_t)w->num_sge * sizeof(*r->sge));
	rq->count++;
	return 0;
}

int esv_post_recv(struct ibv_qp *qp, struct ibv_recv_wr *wr,
		  struct ibv_recv_wr **bad_wr)
{
	struct esv_qp *q;
	int rc = 0;

	pthread_mutex_lock(&esv_lock);
	q = esv_qp_find(qp);
	if (!q || q->srq) {
		rc = q ? EINVAL : EPERM;
		*bad_wr = wr;
		goto out;
	}
	for (; wr; wr = wr->next) {
		rc = post_one_recv(q, NULL, &q->rq, wr);
		if (rc) {
			*bad_wr = wr;
			break;
		}
	}
out:
	pthread_mutex_unlock(&esv_lock);
	return rc;
}

int esv_post_srq_recv(struct ibv_srq *srq, struct ibv_recv_wr *wr,
		      struct ibv_recv_wr **bad_wr)
{
	struct esv_srq *s;
	int rc = 0;

	pthread_mutex_lock(&esv_lock);
	s = esv_srq_find(srq);
	if (!s) {
		rc = EPERM;
		*bad_wr = wr;
		goto out;
	}
	for (; wr; wr = wr->next) {
		rc = post_one_recv(NULL, s, &s->rq, wr);
		if (rc) {
			*bad_wr = wr;
			break;
		}
	}
out:
	pthread_mutex_unlock(&esv_lock);
	return rc;
}

/* Copies len bytes into an application receive's SGEs from byte off on. */
void esv_scatter_at(const struct esv_rwr *r, size_t off, const uint8_t *src,
		    size_t len)
{
	for (int i = 0; i < r->num_sge && len; i++) {
		size_t l = r->sge[i].length, k;

		if (off >= l) {
			off -= l;
			continue;
		}
		k = l - off < len ? l - off : len;
		memcpy((uint8_t *)(uintptr_t)r->sge[i].addr + off, src, k);
		src += k;
		len -= k;
		off = 0;
	}
}

/* Restores SEND_WITH_IMM (or WRITE_WITH_IMM) from the opened inner
 * header. */
void esv_set_imm(struct ibv_wc *wc, const uint8_t *inner)
{
	if (inner[0] == ESV_KIND_SEND_IMM || inner[0] == ESV_KIND_WRITE_IMM) {
		wc->wc_flags |= IBV_WC_WITH_IMM;
		memcpy(&wc->imm_data, inner + 4, 4);
	} else {
		wc->wc_flags &= ~(unsigned)IBV_WC_WITH_IMM;
	}
}

/* The opened inner header of an RC/UC frame with plen bytes after it
 * (payload and descriptors):
 * a known kind; on RC the descriptors of sealed writes (write.c) fit,
 * and a WRITE_WITH_IMM carries no payload. */
static int inner_check(const struct esv_qp *q, const uint8_t *pt, size_t plen)
{
	unsigned nd = pt[1], fl = pt[2];

	if (pt[0] != ESV_KIND_SEND && pt[0] != ESV_KIND_SEND_IMM &&
	    pt[0] != ESV_KIND_WRITE_IMM)
		return ENCSHIM_E_MALFORMED;
	if (pt[3] || (q->type != IBV_QPT_RC && (pt[0] == ESV_KIND_WRITE_IMM ||
						 nd || fl)))
		return ENCSHIM_E_MALFORMED;
	if (nd > ENCSHIM_VERBS_WDESC_MAX ||
	    (fl & ~(ENCSHIM_VERBS_WFLAG_OWN | ENCSHIM_VERBS_WFLAG_LOST)) ||
	    ((fl & ENCSHIM_VERBS_WFLAG_OWN) &&
	     (pt[0] != ESV_KIND_WRITE_IMM || !nd)) ||
	    (size_t)nd * ENCSHIM_VERBS_WDESC_BYTES > plen ||
	    (pt[0] == ESV_KIND_WRITE_IMM &&
	     plen != (size_t)nd * ENCSHIM_VERBS_WDESC_BYTES))
		return ENCSHIM_E_MALFORMED;
	return 0;
}

/* Opens a message that completed in shadow s into the head of the FIFO.
 * Returns 1 if wc is to be delivered (rewritten), 0 if swallowed. */
int esv_on_recv(struct esv_qp *q, struct esv_shadow *s, struct ibv_wc *wc)
{
	struct esv_rq *rq = esv_rq_of(q);
	uint8_t env[16], *pt;
	struct esv_rwr *r;
	size_t envlen, n, have, nd = 0;
	uint32_t own = 0;
	char why[400];
	int rc;

	if (q->type == IBV_QPT_UD)
		return esv_ud_recv(q, s, wc);
	if (wc->status != IBV_WC_SUCCESS) {
		esv_pool_put(s);
		if (q->hs == ESV_HS_INIT && wc->status != IBV_WC_WR_FLUSH_ERR) {
			__atomic_add_fetch(&esv_stats.handshake_failures, 1,
					   __ATOMIC_RELAXED);
			snprintf(why, sizeof(why),
				 "the receive for the peer's HELLO failed (status "
				 "%d): the peer's first message is not an encshim "
				 "HELLO, the peer runs without the encshim verbs "
				 "preload (start both sides with `encshim preload` "
				 "or LD_PRELOAD=libencshim-verbs.so); nothing was "
				 "delivered", (int)wc->status);
			esv_qp_fail(q, why);
		}
		r = esv_rq_pop(rq);
		if (!r)
			return 0; /* the unused HELLO shadow, flushed */
		wc->wr_id = r->wr_id;
		wc->byte_len = 0;
		return 1;
	}
	if (wc->opcode == IBV_WC_RECV_RDMA_WITH_IMM) {
		/* RDMA WRITE with immediate: no payload, its immediate in
		 * clear. Delivered only where one-sided is allowed; otherwise
		 * the QP's access flags should have stopped it, and an
		 * unauthenticated completion fails the QP like any other
		 * (test_attack_rc_write_imm_unsealed). */
		esv_pool_put(s);
		if (!esv_cfg.allow_one_sided) {
			__atomic_add_fetch(&esv_stats.auth_failures, 1,
					   __ATOMIC_RELAXED);
			esv_qp_fail(q, "an RDMA WRITE with immediate arrived while "
				    "one-sided operations are refused (set "
				    "ENCSHIM_VERBS_ALLOW_ONE_SIDED=1 on both sides "
				    "to use them, in clear); nothing was delivered");
		}
		r = esv_rq_pop(rq);
		if (!r)
			return 0;
		wc->wr_id = r->wr_id;
		if (!esv_cfg.allow_one_sided) {
			wc->status = IBV_WC_GENERAL_ERR;
			wc->vendor_err = 0xe5e5;
			wc->wc_flags &= ~(unsigned)IBV_WC_WITH_IMM;
			wc->imm_data = 0;
			wc->byte_len = 0;
		}
		return 1;
	}
	if (q->hs == ESV_HS_INIT) {
		esv_hello_rc(q, s->buf, wc->byte_len);
		sodium_memzero(s->buf, wc->byte_len < s->region->slot_size
					       ? wc->byte_len : s->region->slot_size);
		esv_pool_put(s);
		return 0;
	}
	if (q->hs != ESV_HS_DONE) {
		/* Failed connection: nothing is ever delivered. */
		sodium_memzero(s->buf, s->region->slot_size);
		esv_pool_put(s);
		r = esv_rq_pop(rq);
		if (!r)
			return 0;
		wc->wr_id = r->wr_id;
		wc->status = IBV_WC_GENERAL_ERR;
		wc->byte_len = 0;
		return 1;
	}
	envlen = esv_make_env(env, q->type, q->dest_qpn, q->qpn);
	r = esv_rq_pop(rq);
	pt = s->buf + ENCSHIM_HEADER_BYTES;
	rc = wc->byte_len < ESV_OVERHEAD
		     ? ENCSHIM_E_MALFORMED
		     : encshim_peer_open(q->peer, env, envlen, s->buf,
					 wc->byte_len, pt);
	n = wc->byte_len >= ESV_OVERHEAD ? wc->byte_len - ESV_OVERHEAD : 0;
	if (!rc) {
		rc = inner_check(q, pt, n);
		nd = rc ? 0 : (size_t)pt[1] * ENCSHIM_VERBS_WDESC_BYTES;
		n -= nd;
	}
	if (rc) {
		__atomic_add_fetch(&esv_stats.auth_failures, 1, __ATOMIC_RELAXED);
		snprintf(why, sizeof(why),
			 "a message of %u bytes was refused: %s",
			 wc->byte_len, encshim_strerror(rc));
	} else if ((pt[1] || pt[2]) &&
		   esv_write_open(q, pt, pt + ESV_INNER_BYTES + n, &own, why,
				  sizeof(why))) {
		rc = ENCSHIM_E_AUTH;
	}
	have = r ? esv_sge_total(r->sge, r->num_sge) : 0;
	if (rc) {
		sodium_memzero(s->buf, s->region->slot_size);
		esv_pool_put(s);
		if (r) {
			wc->wr_id = r->wr_id;
			wc->status = IBV_WC_GENERAL_ERR;
			wc->vendor_err = 0xe5e5;
			wc->byte_len = 0;
		}
		esv_qp_fail(q, why);
		return r != NULL;
	}
	if (!r || n > have) {
		sodium_memzero(s->buf, s->region->slot_size);
		esv_pool_put(s);
		if (!r) {
			esv_qp_fail(q, "a message arrived with no receive posted");
			return 0;
		}
		wc->wr_id = r->wr_id;
		wc->status = IBV_WC_LOC_LEN_ERR;
		wc->byte_len = 0;
		esv_qp_fail(q, "a message is larger than the posted receive");
		return 1;
	}
	esv_scatter_at(r, 0, pt + ESV_INNER_BYTES, n);
	wc->wr_id = r->wr_id;
	wc->byte_len = (uint32_t)n;
	wc->opcode = IBV_WC_RECV;
	if (pt[0] == ESV_KIND_WRITE_IMM) {
		wc->opcode = IBV_WC_RECV_RDMA_WITH_IMM;
		wc->byte_len = own;
	}
	esv_set_imm(wc, pt);
	sodium_memzero(s->buf, n + nd + ESV_OVERHEAD);
	esv_pool_put(s);
	__atomic_add_fetch(&esv_stats.opened_msgs, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&esv_stats.opened_bytes, n, __ATOMIC_RELAXED);
	return 1;
}

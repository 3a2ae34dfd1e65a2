/* SPDX-License-Identifier: MIT */
/*
 * Life cycle of shimmed QPs and SRQs: creation, state changes (RESET
 * forgets the session, INIT posts the HELLO receive, RTS answers a HELLO),
 * failing a QP closed, destruction.
 * Everything runs under esv_lock.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "esv.h"

int esv_qp_created(struct ibv_qp *qp, struct ibv_pd *pd,
		   const struct ibv_qp_cap *asked, struct ibv_qp_init_attr *ia)
{
	struct esv_qp *q = calloc(1, sizeof(*q));
	unsigned cap;

	if (!q)
		return -1;
	q->qp = qp;
	q->ec = esv_ctx_find(qp->context);
	q->qpn = qp->qp_num;
	q->type = qp->qp_type;
	q->sq_sig_all = ia->sq_sig_all;
	q->scq = ia->send_cq ? esv_cq_find(ia->send_cq) : NULL;
	q->rcq = ia->recv_cq ? esv_cq_find(ia->recv_cq) : NULL;
	q->srq = ia->srq ? esv_srq_find(ia->srq) : NULL;
	q->pd = pd;
	q->port = 1;
	cap = ia->cap.max_send_wr ? ia->cap.max_send_wr : 1;
	q->cap = cap;
	q->max_sge = ia->cap.max_send_sge ? ia->cap.max_send_sge : 1;
	q->ring = calloc(cap, sizeof(*q->ring));
	q->ring_sges = calloc((size_t)cap * q->max_sge, sizeof(*q->ring_sges));
	if (q->type == IBV_QPT_UD)
		q->held = calloc(cap, sizeof(*q->held));
	if (!q->ec || !q->ring || !q->ring_sges || (ia->srq && !q->srq) ||
	    (q->type == IBV_QPT_UD && !q->held))
		goto fail;
	for (unsigned i = 0; i < cap; i++)
		q->ring[i].sge = q->ring_sges + (size_t)i * q->max_sge;
	esv_pool_init(&q->spool, pd, cap);
	if (!q->srq && esv_rq_init(&q->rq, pd, ia->cap.max_recv_wr,
				   ia->cap.max_recv_sge, ia->cap.max_recv_wr))
		goto fail;
	if (q->type == IBV_QPT_UD && esv_ud_init(q)) {
		if (!q->srq)
			esv_rq_fini(&q->rq);
		goto fail;
	}
	(void)asked;
	esv_qp_insert(q);
	return 0;
fail:
	free(q->ring);
	free(q->ring_sges);
	free(q->held);
	free(q);
	return -1;
}

/* The QP's completions that the shim pulled early go with its work
 * (esv_cq_forget). */
static void qp_forget_stashed(struct esv_qp *q)
{
	if (q->scq)
		esv_cq_forget(q->scq, q->qpn);
	if (q->rcq && q->rcq != q->scq)
		esv_cq_forget(q->rcq, q->qpn);
}

static void qp_reset_session(struct esv_qp *q)
{
	if (q->peer)
		encshim_peer_free(q->peer);
	if (q->local)
		encshim_local_free(q->local);
	q->peer = NULL;
	q->local = NULL;
	esv_write_reset(q);
	q->held_head = q->held_count = 0; /* their shadows: esv_pool_reclaim */
	esv_udpeers_free(q);
	q->hello_sent = q->peer_hello = q->reply_owed = 0;
	sodium_memzero(q->conn_id, sizeof(q->conn_id));
}

void esv_qp_flush_to_cq(struct esv_qp *q)
{
	for (unsigned i = q->nposted; i < q->count; i++) {
		struct esv_swr *e = &q->ring[(q->head + i) % q->cap];
		struct ibv_wc wc;

		if (e->kind == ESV_SWR_HELLO)
			continue;
		memset(&wc, 0, sizeof(wc));
		wc.wr_id = e->app_wr_id;
		wc.status = IBV_WC_WR_FLUSH_ERR;
		wc.opcode = e->kind == ESV_SWR_WRITE ||
				    e->wr.opcode == IBV_WR_RDMA_WRITE_WITH_IMM
			    ? IBV_WC_RDMA_WRITE : IBV_WC_SEND;
		wc.qp_num = q->qpn;
		/* A WRITE_WITH_IMM is two entries: its descriptor's reports it. */
		if (q->scq && !(e->kind == ESV_SWR_WRITE &&
				e->wr.opcode == IBV_WR_RDMA_WRITE_WITH_IMM))
			esv_cq_stash(q->scq, &wc);
		if (e->sh)
			esv_pool_put(e->sh);
		e->sh = NULL;
		e->tag = 0;
	}
	q->count = q->nposted;
	for (; q->held_count; q->held_count--) {
		struct esv_swr *h = &q->held[q->held_head];
		struct ibv_wc wc;

		memset(&wc, 0, sizeof(wc));
		wc.wr_id = h->app_wr_id;
		wc.status = IBV_WC_WR_FLUSH_ERR;
		wc.opcode = IBV_WC_SEND;
		wc.qp_num = q->qpn;
		if (q->scq)
			esv_cq_stash(q->scq, &wc);
		esv_pool_put(h->sh);
		h->up->held--;
		q->held_head = (q->held_head + 1) % q->cap;
	}
}

/* Fail closed: the QP goes to the error state (outstanding work flushes
 * with errors), nothing more is sealed or delivered on it. */
void esv_qp_fail(struct esv_qp *q, const char *why)
{
	struct ibv_qp_attr a;

	if (q->hs == ESV_HS_FAILED)
		return;
	esv_log("QP %u (peer QP %u): %s; the QP is moved to the error state",
		q->qpn, q->dest_qpn, why);
	q->hs = ESV_HS_FAILED;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_ERR;
	if (esv_real.modify_qp(q->qp, &a, IBV_QP_STATE))
		esv_log("QP %u: moving to the error state failed", q->qpn);
	esv_qp_flush_to_cq(q);
}

void esv_post_extra_shadow(struct esv_qp *q)
{
	struct esv_rq *rq = esv_rq_of(q);
	struct esv_shadow *s = esv_pool_get(&rq->pool, ESV_MIN_SLOT);

	if (!s)
		esv_qp_fail(q, "no shadow buffer for the peer's HELLO");
	else if (esv_post_shadow(q, q->srq, s))
		esv_qp_fail(q, "cannot post the receive for the peer's HELLO");
}

void esv_qp_modified(struct ibv_qp *qp, const struct ibv_qp_attr *attr, int mask)
{
	struct esv_qp *q = esv_qp_find(qp);

	if (!q)
		return;
	if ((mask & IBV_QP_PORT))
		q->port = attr->port_num;
	if ((mask & IBV_QP_AV)) {
		q->global = attr->ah_attr.is_global;
		q->sgid_index = q->global ? attr->ah_attr.grh.sgid_index : 0;
		memset(q->dgid, 0, sizeof(q->dgid));
		if (q->global)
			memcpy(q->dgid, attr->ah_attr.grh.dgid.raw, 16);
		q->dlid = q->global ? 0 : attr->ah_attr.dlid;
	}
	if ((mask & IBV_QP_DEST_QPN))
		q->dest_qpn = attr->dest_qp_num;
	if ((mask & IBV_QP_RQ_PSN))
		q->rq_psn = attr->rq_psn;
	if ((mask & IBV_QP_QKEY))
		q->qkey = attr->qkey;
	if (!(mask & IBV_QP_STATE))
		return;
	q->state = attr->qp_state;
	switch (attr->qp_state) {
	case IBV_QPS_RESET:
		/* The hardware forgot every posted WR: so do we. */
		qp_reset_session(q);
		qp_forget_stashed(q);
		q->shim_rts = 0;
		q->head = q->count = q->nposted = 0;
		esv_pool_reclaim(&q->spool);
		if (!q->srq) {
			q->rq.head = q->rq.count = 0;
			esv_pool_reclaim(&q->rq.pool);
		}
		q->hs = ESV_HS_NONE;
		break;
	case IBV_QPS_INIT:
		/* RC/UC: one receive for the peer's HELLO. UD needs none: a
		 * HELLO lands in any shadow, which goes straight back. */
		if (q->hs == ESV_HS_NONE) {
			q->hs = ESV_HS_INIT;
			if (q->type != IBV_QPT_UD)
				esv_post_extra_shadow(q);
		}
		break;
	case IBV_QPS_RTR:
		esv_progress_kick(); /* a write target may never poll */
		break;
	case IBV_QPS_RTS:
		if (q->reply_owed && !q->hello_sent) {
			q->reply_owed = 0;
			if (esv_hello_send(q))
				esv_qp_fail(q, "cannot answer the peer's HELLO");
			else
				esv_flush_pending(q);
		}
		break;
	case IBV_QPS_ERR:
		esv_qp_flush_to_cq(q);
		break;
	default:
		break;
	}
}

void esv_qp_destroyed(struct ibv_qp *qp)
{
	struct esv_qp *q = esv_qp_find(qp);

	if (!q)
		return;
	esv_qp_remove(q);
	qp_forget_stashed(q);
	esv_qpx_free(q);
	qp_reset_session(q);
	esv_ud_fini(q);
	esv_pool_destroy(&q->spool);
	if (!q->srq)
		esv_rq_fini(&q->rq);
	free(q->ring);
	free(q->ring_sges);
	free(q->held);
	free(q);
}

int esv_srq_created(struct ibv_srq *srq, struct ibv_pd *pd, uint32_t max_wr,
		    uint32_t max_sge)
{
	struct esv_srq *s = calloc(1, sizeof(*s));

	if (!s)
		return -1;
	s->srq = srq;
	s->ec = esv_ctx_find(srq->context);
	if (!s->ec || esv_rq_init(&s->rq, pd, max_wr, max_sge, max_wr + ESV_EXTRA_SRQ)) {
		free(s);
		return -1;
	}
	esv_srq_insert(s);
	return 0;
}

void esv_srq_destroyed(struct ibv_srq *srq)
{
	struct esv_srq *s = esv_srq_find(srq);

	if (!s)
		return;
	esv_srq_remove(s);
	esv_rq_fini(&s->rq);
	free(s);
}

/* SPDX-License-Identifier: MIT */
/*
 * The send side: a ring of entries in posting order, sealing on post, one-
 * sided operations refused (or passed in clear, opt-in), send completions.
 * Everything runs under esv_lock.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "esv.h"

struct esv_swr *esv_swr_alloc(struct esv_qp *q)
{
	struct esv_swr *e;

	if (q->count == q->cap)
		return NULL;
	e = &q->ring[(q->head + q->count) % q->cap];
	q->count++;
	e->tag = ESV_TAG_SEND;
	e->kind = 0;
	e->posted = 0;
	e->signaled = 0;
	e->quiet = 0;
	e->sh = NULL;
	e->ptlen = 0;
	e->up = NULL;
	memset(&e->wr, 0, sizeof(e->wr));
	return e;
}

/* Drops the newest entry (a post that failed before reaching the wire). */
void esv_swr_unalloc(struct esv_qp *q, struct esv_swr *e)
{
	if (e->sh)
		esv_pool_put(e->sh);
	e->sh = NULL;
	e->tag = 0;
	q->count--;
}

/* A completion for e: e and every earlier entry are done (RC/UD send
 * queues complete in order; unsignaled entries complete implicitly). */
void esv_swr_release_upto(struct esv_qp *q, struct esv_swr *e)
{
	while (q->nposted) {
		struct esv_swr *c = &q->ring[q->head];

		if (c->sh)
			esv_pool_put(c->sh);
		c->sh = NULL;
		c->tag = 0;
		q->head = (q->head + 1) % q->cap;
		q->count--;
		q->nposted--;
		if (c == e)
			break;
	}
}

int esv_swr_post(struct esv_qp *q, struct esv_swr *e)
{
	struct ibv_send_wr w, *bad = NULL;
	struct ibv_sge sg;
	int rc;

	if (e->kind == ESV_SWR_CLEAR) {
		w = e->wr;
		w.sg_list = e->sge;
	} else {
		memset(&w, 0, sizeof(w));
		sg.addr = (uintptr_t)e->sh->buf;
		sg.length = e->kind == ESV_SWR_APP
				    ? (uint32_t)(e->ptlen + ENCSHIM_OVERHEAD)
				    : (uint32_t)e->ptlen; /* HELLO, write */
		sg.lkey = e->sh->region->mr->lkey;
		w.sg_list = &sg;
		w.num_sge = sg.length ? 1 : 0;
		w.opcode = e->kind == ESV_SWR_WRITE ? IBV_WR_RDMA_WRITE
						    : IBV_WR_SEND;
		w.send_flags = e->wr.send_flags;
		w.wr = e->wr.wr;
	}
	w.next = NULL;
	w.wr_id = (uintptr_t)e;
	w.send_flags &= ~(unsigned)(IBV_SEND_INLINE | IBV_SEND_SIGNALED);
	if (e->signaled)
		w.send_flags |= IBV_SEND_SIGNALED;
	rc = q->ec->orig.post_send(q->qp, &w, &bad);
	if (!rc) {
		e->posted = 1;
		q->nposted++;
	}
	return rc;
}

/* A ring slot for the application's send w of len payload bytes, with
 * the inner header (kind, immediate data) and the payload copied into its
 * shadow, where it is sealed in place; the slot holds plaintext until
 * then (dirty: wiped on reuse). Of w's flags only `flags` pass on. The
 * caller sets the transport's part of e->wr. NULL: out of slots or
 * shadows. */
struct esv_swr *esv_swr_app(struct esv_qp *q, const struct ibv_send_wr *w,
			    size_t len, unsigned flags)
{
	struct esv_swr *e = esv_swr_alloc(q);
	uint8_t *p;

	if (!e)
		return NULL;
	e->kind = ESV_SWR_APP;
	e->app_wr_id = w->wr_id;
	e->signaled = q->sq_sig_all || (w->send_flags & IBV_SEND_SIGNALED);
	e->wr.send_flags = w->send_flags & flags;
	e->ptlen = ESV_INNER_BYTES + len;
	/* RC: room for the descriptors of sealed writes (write.c). */
	e->sh = esv_pool_get(&q->spool, len + ESV_OVERHEAD +
					(q->type == IBV_QPT_RC ? ESV_WDESC_ROOM : 0));
	if (!e->sh) {
		esv_swr_unalloc(q, e);
		return NULL;
	}
	p = e->sh->buf + ENCSHIM_HEADER_BYTES;
	memset(p, 0, ESV_INNER_BYTES);
	p[0] = w->opcode == IBV_WR_SEND_WITH_IMM	   ? ESV_KIND_SEND_IMM
	       : w->opcode == IBV_WR_RDMA_WRITE_WITH_IMM ? ESV_KIND_WRITE_IMM
							 : ESV_KIND_SEND;
	if (p[0] != ESV_KIND_SEND)
		memcpy(p + 4, &w->imm_data, 4);
	p += ESV_INNER_BYTES;
	for (int i = 0; i < w->num_sge; i++) {
		memcpy(p, (const void *)(uintptr_t)w->sg_list[i].addr,
		       w->sg_list[i].length);
		p += w->sg_list[i].length;
	}
	e->sh->dirty = ENCSHIM_HEADER_BYTES + e->ptlen;
	return e;
}

int esv_swr_seal(struct esv_qp *q, struct esv_swr *e)
{
	uint8_t env[16];
	size_t envlen = esv_make_env(env, q->type, q->qpn,
				     e->up ? e->up->qpn : q->dest_qpn);
	int rc;

	if (q->type == IBV_QPT_RC) /* the writes sealed before it */
		e->ptlen += esv_write_attach(q, e->sh->buf + ENCSHIM_HEADER_BYTES,
					     e->sh->buf + ENCSHIM_HEADER_BYTES +
						     e->ptlen);
	rc = encshim_peer_seal(e->up ? e->up->peer : q->peer, env, envlen,
				   e->sh->buf + ENCSHIM_HEADER_BYTES, e->ptlen,
				   e->sh->buf);

	if (rc) {
		esv_log("sealing on QP %u failed: %s", q->qpn, encshim_strerror(rc));
		return EIO;
	}
	e->sh->dirty = 0; /* sealed in place: ciphertext only */
	__atomic_add_fetch(&esv_stats.sealed_msgs, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&esv_stats.sealed_bytes, e->ptlen - ESV_INNER_BYTES,
			   __ATOMIC_RELAXED);
	return 0;
}

/* RC/UC keys exist: seal and post what the application queued meanwhile
 * (UD queues in the held FIFO instead: esv_ud_flush_held). */
void esv_flush_pending(struct esv_qp *q)
{
	while (q->nposted < q->count) {
		struct esv_swr *e = &q->ring[(q->head + q->nposted) % q->cap];
		int rc = 0;

		if (e->kind == ESV_SWR_APP)
			rc = esv_swr_seal(q, e);
		else if (e->kind == ESV_SWR_WRITE)
			rc = esv_write_seal(q, e, NULL);
		if (!rc)
			rc = esv_swr_post(q, e);
		if (rc) {
			esv_qp_fail(q, "posting a queued send failed");
			return;
		}
	}
}

int esv_deny(struct esv_qp *q, enum ibv_wr_opcode op)
{
	static unsigned warned[32];
	unsigned k = (unsigned)op & 31u;

	__atomic_add_fetch(&esv_stats.denied_ops, 1, __ATOMIC_RELAXED);
	if (!warned[k]++)
		esv_log("refused %s on QP %u: %s. Use SEND/RECV or, on RC, "
			"RDMA WRITE (sealed), or set "
			"ENCSHIM_VERBS_ALLOW_ONE_SIDED=1 to let RDMA "
			"READ/WRITE/atomics through IN CLEAR",
			esv_opcode_name(op), q->qpn,
			op == IBV_WR_RDMA_WRITE || op == IBV_WR_RDMA_WRITE_WITH_IMM
				? "encshim seals RDMA WRITE on RC only (UC may "
				  "lose a write that its descriptor then names)"
				: "RDMA READ, atomics and special operations "
				  "hand remote memory out without the owner's "
				  "shim and cannot be sealed");
	return EPERM;
}

static int is_one_sided(enum ibv_wr_opcode op)
{
	return op == IBV_WR_RDMA_WRITE || op == IBV_WR_RDMA_WRITE_WITH_IMM ||
	       op == IBV_WR_RDMA_READ || op == IBV_WR_ATOMIC_CMP_AND_SWP ||
	       op == IBV_WR_ATOMIC_FETCH_AND_ADD;
}

static int post_one_send(struct esv_qp *q, struct ibv_send_wr *w)
{
	struct esv_swr *e;
	size_t len;
	int rc;

	if (w->opcode == IBV_WR_SEND || w->opcode == IBV_WR_SEND_WITH_IMM) {
		if (w->num_sge < 0 || (unsigned)w->num_sge > q->max_sge)
			return EINVAL;
		len = esv_sge_total(w->sg_list, w->num_sge);
		if (len > ENCSHIM_MAX_PLAINTEXT - ESV_INNER_BYTES)
			return EINVAL;
		if (!q->hello_sent && q->hs == ESV_HS_INIT) {
			rc = esv_hello_send(q);
			if (rc)
				return rc;
		}
		e = esv_swr_app(q, w, len, IBV_SEND_SOLICITED | IBV_SEND_FENCE);
		if (!e)
			return ENOMEM;
		e->wr.wr = w->wr;
		if (q->hs != ESV_HS_DONE || q->nposted + 1 != q->count)
			return 0; /* queued until the peer's HELLO arrives */
		rc = esv_swr_seal(q, e);
		if (!rc)
			rc = esv_swr_post(q, e);
		if (rc)
			esv_swr_unalloc(q, e);
		return rc;
	}
	if ((w->opcode == IBV_WR_RDMA_WRITE ||
	     w->opcode == IBV_WR_RDMA_WRITE_WITH_IMM) &&
	    q->type == IBV_QPT_RC && !esv_cfg.allow_one_sided)
		return esv_write_post(q, w);
	if (is_one_sided(w->opcode) && esv_cfg.allow_one_sided) {
		if (w->num_sge < 0 || (unsigned)w->num_sge > q->max_sge)
			return EINVAL;
		e = esv_swr_alloc(q);
		if (!e)
			return ENOMEM;
		e->kind = ESV_SWR_CLEAR;
		e->app_wr_id = w->wr_id;
		e->signaled = q->sq_sig_all || (w->send_flags & IBV_SEND_SIGNALED);
		e->wr = *w;
		memcpy(e->sge, w->sg_list, (size_t)w->num_sge * sizeof(*e->sge));
		__atomic_add_fetch(&esv_stats.clear_one_sided, 1, __ATOMIC_RELAXED);
		if (q->nposted + 1 != q->count)
			return 0; /* behind queued sends: keeps the order */
		rc = esv_swr_post(q, e);
		if (rc)
			esv_swr_unalloc(q, e);
		return rc;
	}
	return esv_deny(q, w->opcode);
}

int esv_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr,
		  struct ibv_send_wr **bad_wr)
{
	struct esv_qp *q;
	int rc = 0;

	pthread_mutex_lock(&esv_lock);
	q = esv_qp_find(qp);
	if (!q) {
		rc = EPERM;
		esv_log("post_send on a QP the shim did not create: refused");
		*bad_wr = wr;
		goto out;
	}
	for (; wr; wr = wr->next) {
		if (q->hs == ESV_HS_FAILED)
			rc = EIO;
		else if (q->state != IBV_QPS_RTS)
			rc = EINVAL;
		else if (q->type == IBV_QPT_UD)
			rc = esv_ud_post_send(q, wr);
		else
			rc = post_one_send(q, wr);
		if (rc) {
			*bad_wr = wr;
			break;
		}
	}
out:
	pthread_mutex_unlock(&esv_lock);
	return rc;
}

int esv_on_send(struct esv_qp *q, struct esv_swr *e, struct ibv_wc *wc)
{
	uint8_t kind = e->kind;
	uint64_t app = e->app_wr_id;
	enum ibv_wr_opcode op = e->wr.opcode;
	int quiet = e->quiet;

	/* The write of a WRITE_WITH_IMM completes only with an error: that
	 * is the application's completion, its descriptor's is not. */
	if (kind == ESV_SWR_WRITE && op == IBV_WR_RDMA_WRITE_WITH_IMM)
		q->ring[(unsigned)(e - q->ring + 1) % q->cap].quiet = 1;
	esv_swr_release_upto(q, e);
	if (q->held_count)
		esv_ud_flush_held(q); /* the ring had been full */
	if (kind == ESV_SWR_HELLO) {
		if (wc->status != IBV_WC_SUCCESS && wc->status != IBV_WC_WR_FLUSH_ERR)
			esv_qp_fail(q, "the HELLO could not be delivered (is the peer QP ready?)");
		return 0;
	}
	if (quiet)
		return 0;
	wc->wr_id = app;
	if (op == IBV_WR_RDMA_WRITE_WITH_IMM) /* went as write + SEND */
		wc->opcode = IBV_WC_RDMA_WRITE;
	return 1;
}

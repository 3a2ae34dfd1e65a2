/* SPDX-License-Identifier: MIT */
/*
 * The extended work request API (ibv_wr_start ... ibv_wr_complete) of a
 * QP created with send_ops_flags: the shim replaces the provider's
 * builders in the ibv_qp_ex with its own, which collect the batch as
 * ibv_send_wr and hand it to the sealing send path at ibv_wr_complete.
 * Nothing built through them reaches the provider's queue unsealed.
 * Locking: ibv_wr_start takes esv_lock, ibv_wr_complete/abort release it
 * (the application already serialises a QP's batch, rdma-core's rule).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "esv.h"

struct esv_qpx {
	struct ibv_send_wr *wr;  /* cap entries */
	struct ibv_sge *sge;     /* cap * max_sge */
	void **inl;              /* copies of inline data, one per WR */
	unsigned cap, max_sge, n;
	int err;                 /* first error of the batch: refused at complete */
	enum ibv_wr_opcode bad_op;
	int open;                /* between wr_start and wr_complete/abort */
};

static struct esv_qp *qp_of(struct ibv_qp_ex *x)
{
	return esv_qp_find(&x->qp_base);
}

static void batch_clear(struct esv_qpx *b)
{
	for (unsigned i = 0; i < b->n; i++) {
		free(b->inl[i]);
		b->inl[i] = NULL;
	}
	b->n = 0;
	b->err = 0;
}

static struct ibv_send_wr *cur(struct ibv_qp_ex *x)
{
	struct esv_qp *q = qp_of(x);

	if (!q || !q->x->n)
		return NULL;
	return &q->x->wr[q->x->n - 1];
}

static void fail(struct ibv_qp_ex *x, int err, enum ibv_wr_opcode op)
{
	struct esv_qp *q = qp_of(x);

	if (q && !q->x->err) {
		q->x->err = err;
		q->x->bad_op = op;
	}
}

static struct ibv_send_wr *add(struct ibv_qp_ex *x, enum ibv_wr_opcode op)
{
	struct esv_qp *q = qp_of(x);
	struct esv_qpx *b;
	struct ibv_send_wr *w;

	if (!q)
		return NULL;
	b = q->x;
	if (b->n == b->cap) {
		fail(x, ENOMEM, op);
		return NULL;
	}
	w = &b->wr[b->n];
	memset(w, 0, sizeof(*w));
	w->wr_id = x->wr_id;
	w->send_flags = x->wr_flags;
	w->opcode = op;
	w->sg_list = &b->sge[(size_t)b->n * b->max_sge];
	b->n++;
	return w;
}

static void b_send(struct ibv_qp_ex *x)
{
	add(x, IBV_WR_SEND);
}

static void b_send_imm(struct ibv_qp_ex *x, __be32 imm)
{
	struct ibv_send_wr *w = add(x, IBV_WR_SEND_WITH_IMM);

	if (w)
		w->imm_data = imm;
}

static void b_write(struct ibv_qp_ex *x, uint32_t rkey, uint64_t raddr)
{
	struct ibv_send_wr *w = add(x, IBV_WR_RDMA_WRITE);

	if (w) {
		w->wr.rdma.rkey = rkey;
		w->wr.rdma.remote_addr = raddr;
	}
}

static void b_write_imm(struct ibv_qp_ex *x, uint32_t rkey, uint64_t raddr,
			__be32 imm)
{
	struct ibv_send_wr *w = add(x, IBV_WR_RDMA_WRITE_WITH_IMM);

	if (w) {
		w->wr.rdma.rkey = rkey;
		w->wr.rdma.remote_addr = raddr;
		w->imm_data = imm;
	}
}

static void b_ud_addr(struct ibv_qp_ex *x, struct ibv_ah *ah, uint32_t qpn,
		      uint32_t qkey)
{
	struct ibv_send_wr *w = cur(x);

	if (w) {
		w->wr.ud.ah = ah;
		w->wr.ud.remote_qpn = qpn;
		w->wr.ud.remote_qkey = qkey;
	}
}

static void b_sge(struct ibv_qp_ex *x, uint32_t lkey, uint64_t addr,
		  uint32_t len)
{
	struct ibv_send_wr *w = cur(x);

	if (w) {
		w->sg_list[0].lkey = lkey;
		w->sg_list[0].addr = addr;
		w->sg_list[0].length = len;
		w->num_sge = 1;
	}
}

static void b_sge_list(struct ibv_qp_ex *x, size_t n, const struct ibv_sge *sg)
{
	struct ibv_send_wr *w = cur(x);
	struct esv_qp *q = qp_of(x);

	if (!w)
		return;
	if (n > q->x->max_sge) {
		fail(x, EINVAL, w->opcode);
		return;
	}
	memcpy(w->sg_list, sg, n * sizeof(*sg));
	w->num_sge = (int)n;
}

/* Inline data may be reused once the call returns: copied now, sealed
 * (and freed) at ibv_wr_complete. */
static void b_inline_list(struct ibv_qp_ex *x, size_t n,
			  const struct ibv_data_buf *bufs)
{
	struct ibv_send_wr *w = cur(x);
	struct esv_qp *q = qp_of(x);
	size_t len = 0, off = 0;
	uint8_t *c;

	if (!w)
		return;
	for (size_t i = 0; i < n; i++)
		len += bufs[i].length;
	c = malloc(len ? len : 1);
	if (!c) {
		fail(x, ENOMEM, w->opcode);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		memcpy(c + off, bufs[i].addr, bufs[i].length);
		off += bufs[i].length;
	}
	free(q->x->inl[q->x->n - 1]);
	q->x->inl[q->x->n - 1] = c;
	w->sg_list[0].addr = (uintptr_t)c;
	w->sg_list[0].length = (uint32_t)len;
	w->sg_list[0].lkey = 0;
	w->num_sge = 1;
	w->send_flags |= IBV_SEND_INLINE;
}

static void b_inline(struct ibv_qp_ex *x, void *addr, size_t len)
{
	struct ibv_data_buf b = { .addr = addr, .length = len };

	b_inline_list(x, 1, &b);
}

/* What cannot be sealed: the batch is refused at ibv_wr_complete. */
static void r_read(struct ibv_qp_ex *x, uint32_t rkey, uint64_t raddr)
{
	fail(x, EPERM, IBV_WR_RDMA_READ);
}

static void r_cas(struct ibv_qp_ex *x, uint32_t rkey, uint64_t raddr,
		  uint64_t cmp, uint64_t swp)
{
	fail(x, EPERM, IBV_WR_ATOMIC_CMP_AND_SWP);
}

static void r_faa(struct ibv_qp_ex *x, uint32_t rkey, uint64_t raddr,
		  uint64_t add_)
{
	fail(x, EPERM, IBV_WR_ATOMIC_FETCH_AND_ADD);
}

static void r_bind_mw(struct ibv_qp_ex *x, struct ibv_mw *mw, uint32_t rkey,
		      const struct ibv_mw_bind_info *bi)
{
	fail(x, EPERM, IBV_WR_BIND_MW);
}

static void r_local_inv(struct ibv_qp_ex *x, uint32_t rkey)
{
	fail(x, EPERM, IBV_WR_LOCAL_INV);
}

static void r_send_inv(struct ibv_qp_ex *x, uint32_t rkey)
{
	fail(x, EPERM, IBV_WR_SEND_WITH_INV);
}

static void r_tso(struct ibv_qp_ex *x, void *hdr, uint16_t hsz, uint16_t mss)
{
	fail(x, EPERM, IBV_WR_TSO);
}

static void r_xrc(struct ibv_qp_ex *x, uint32_t srqn)
{
	fail(x, EPERM, IBV_WR_SEND);
}

static void r_atomic_write(struct ibv_qp_ex *x, uint32_t rkey, uint64_t raddr,
			   const void *v)
{
	fail(x, EPERM, IBV_WR_ATOMIC_WRITE);
}

/* The lock is held from wr_start to wr_complete/abort, as a provider
 * holds its QP's. A second wr_start before either restarts the batch
 * (as rxe and mlx5 do) without taking the lock again: the one unlock at
 * the end must release it. */
static void b_start(struct ibv_qp_ex *x)
{
	struct esv_qp *q;

	pthread_mutex_lock(&esv_lock);
	q = qp_of(x);
	if (!q)
		return;
	if (q->x->open)
		pthread_mutex_unlock(&esv_lock);
	q->x->open = 1;
	batch_clear(q->x);
}

static void b_abort(struct ibv_qp_ex *x)
{
	struct esv_qp *q = qp_of(x);

	if (q) {
		batch_clear(q->x);
		q->x->open = 0;
	}
	pthread_mutex_unlock(&esv_lock);
}

/* Posts the batch through the sealing path, as one ibv_post_send list;
 * on an error the WRs before the failing one are posted (as with
 * ibv_post_send and bad_wr), none after it. */
static int b_complete(struct ibv_qp_ex *x)
{
	struct esv_qp *q = qp_of(x);
	struct ibv_send_wr *bad = NULL;
	struct esv_qpx *b;
	int rc;

	if (!q) {
		pthread_mutex_unlock(&esv_lock);
		return EINVAL;
	}
	b = q->x;
	rc = b->err;
	if (rc == EPERM)
		esv_deny(q, b->bad_op);
	if (!rc && b->n) {
		for (unsigned i = 0; i + 1 < b->n; i++)
			b->wr[i].next = &b->wr[i + 1];
		b->wr[b->n - 1].next = NULL;
		rc = esv_post_send(&x->qp_base, b->wr, &bad);
	}
	batch_clear(b);
	b->open = 0;
	pthread_mutex_unlock(&esv_lock);
	return rc;
}

/* qp was made with send_ops_flags (rdma-core: its ibv_qp_ex starts at the
 * ibv_qp): every builder becomes the shim's. */
int esv_qpx_patch(struct ibv_qp *qp)
{
	struct ibv_qp_ex *x = (struct ibv_qp_ex *)qp;
	struct esv_qp *q = esv_qp_find(qp);
	struct esv_qpx *b = calloc(1, sizeof(*b));

	if (!q || !b)
		goto fail;
	b->cap = q->cap;
	b->max_sge = q->max_sge;
	b->wr = calloc(b->cap, sizeof(*b->wr));
	b->sge = calloc((size_t)b->cap * b->max_sge, sizeof(*b->sge));
	b->inl = calloc(b->cap, sizeof(*b->inl));
	if (!b->wr || !b->sge || !b->inl)
		goto fail;
	q->x = b;
	x->wr_send = b_send;
	x->wr_send_imm = b_send_imm;
	x->wr_rdma_write = b_write;
	x->wr_rdma_write_imm = b_write_imm;
	x->wr_set_ud_addr = b_ud_addr;
	x->wr_set_sge = b_sge;
	x->wr_set_sge_list = b_sge_list;
	x->wr_set_inline_data = b_inline;
	x->wr_set_inline_data_list = b_inline_list;
	x->wr_start = b_start;
	x->wr_complete = b_complete;
	x->wr_abort = b_abort;
	x->wr_rdma_read = r_read;
	x->wr_atomic_cmp_swp = r_cas;
	x->wr_atomic_fetch_add = r_faa;
	x->wr_bind_mw = r_bind_mw;
	x->wr_local_inv = r_local_inv;
	x->wr_send_inv = r_send_inv;
	x->wr_send_tso = r_tso;
	x->wr_set_xrc_srqn = r_xrc;
	x->wr_atomic_write = r_atomic_write;
	return 0;
fail:
	if (b) {
		free(b->wr);
		free(b->sge);
		free(b->inl);
	}
	free(b);
	return -1;
}

void esv_qpx_free(struct esv_qp *q)
{
	if (!q->x)
		return;
	batch_clear(q->x);
	free(q->x->wr);
	free(q->x->sge);
	free(q->x->inl);
	free(q->x);
	q->x = NULL;
}

/* SPDX-License-Identifier: MIT */
/*
 * The extended verbs API through the shim: QPs made with send_ops_flags
 * (ibv_wr_start ... ibv_wr_complete) and CQs made with ibv_create_cq_ex
 * (ibv_start_poll ... ibv_end_poll, ibv_wc_read_*), over the fake provider
 * of test_verbs.c (included). Sealed like ibv_post_send / ibv_poll_cq.
 */
#define main esv_test_verbs_main
int esv_test_verbs_main(void);
#include "test_verbs.c"
#undef main

static struct ibv_qp *fx_create_qp_ex(struct ibv_context *c,
				      struct ibv_qp_init_attr_ex *ax)
{
	return f_create_qp(ax->pd, (struct ibv_qp_init_attr *)ax);
}

static struct ibv_cq_ex *fx_create_cq_ex(struct ibv_context *c,
					 struct ibv_cq_init_attr_ex *a)
{
	struct fcq *q = (struct fcq *)f_create_cq(c, (int)a->cqe, a->cq_context,
						   a->channel, 0);

	return &q->cqx;
}

static struct ibv_context *fx_open_device(struct ibv_device *d)
{
	struct ibv_context *c = f_open_device(d);

	fctx->create_qp_ex = fx_create_qp_ex;
	fctx->create_cq_ex = fx_create_cq_ex;
	return c;
}

struct xpair {
	struct ibv_context *ctx;
	struct ibv_cq_ex *cq[2];
	struct ibv_qp *qp[2];
	struct ibv_qp_ex *x[2];
};

static void xpair_new(struct xpair *p)
{
	struct esv_real ex = fake;
	struct ibv_cq_init_attr_ex ca;
	struct ibv_qp_init_attr_ex ax;

	ex.open_device = fx_open_device;
	esv_test_install(&ex);
	memset(p, 0, sizeof(*p));
	p->ctx = ibv_open_device(NULL);
	assert_non_null(p->ctx);
	for (int i = 0; i < 2; i++) {
		memset(&ca, 0, sizeof(ca));
		ca.cqe = 64;
		ca.wc_flags = IBV_WC_STANDARD_FLAGS;
		p->cq[i] = ibv_create_cq_ex(p->ctx, &ca);
		assert_non_null(p->cq[i]);
		memset(&ax, 0, sizeof(ax));
		ax.send_cq = ax.recv_cq = ibv_cq_ex_to_cq(p->cq[i]);
		ax.qp_type = IBV_QPT_RC;
		ax.cap.max_send_wr = ax.cap.max_recv_wr = 16;
		ax.cap.max_send_sge = ax.cap.max_recv_sge = 4;
		ax.pd = &fpd;
		ax.comp_mask = IBV_QP_INIT_ATTR_PD | IBV_QP_INIT_ATTR_SEND_OPS_FLAGS;
		ax.send_ops_flags = IBV_QP_EX_WITH_SEND | IBV_QP_EX_WITH_SEND_WITH_IMM |
				    IBV_QP_EX_WITH_RDMA_WRITE |
				    IBV_QP_EX_WITH_RDMA_WRITE_WITH_IMM |
				    IBV_QP_EX_WITH_RDMA_READ;
		p->qp[i] = ibv_create_qp_ex(p->ctx, &ax);
		assert_non_null(p->qp[i]);
		assert_non_null(esv_qp_find(p->qp[i]));
		/* rdma-core's ibv_qp_to_qp_ex: the ibv_qp_ex starts at the QP */
		p->x[i] = (struct ibv_qp_ex *)p->qp[i];
	}
	((struct fqp *)p->qp[0])->peer = (struct fqp *)p->qp[1];
	((struct fqp *)p->qp[1])->peer = (struct fqp *)p->qp[0];
	connect_qp(p->qp[0], p->qp[1]->qp_num);
	connect_qp(p->qp[1], p->qp[0]->qp_num);
}

static void xpair_free(struct xpair *p)
{
	for (int i = 0; i < 2; i++) {
		assert_int_equal(ibv_destroy_qp(p->qp[i]), 0);
		assert_int_equal(ibv_destroy_cq(ibv_cq_ex_to_cq(p->cq[i])), 0);
	}
	assert_int_equal(ibv_close_device(p->ctx), 0);
	for (int i = 0; i < nwire; i++)
		free(wire[i].data);
	nwire = 0;
	esv_test_install(&fake);
}

struct xwc {
	uint64_t wr_id;
	enum ibv_wc_status status;
	enum ibv_wc_opcode opcode;
	uint32_t byte_len, imm, flags, qp_num;
};

/* Polls cq the extended way until n completions (or 50 rounds). */
static int xpoll(struct ibv_cq_ex *cq, struct xwc *out, int n)
{
	struct ibv_poll_cq_attr attr = { .comp_mask = 0 };
	int got = 0;

	for (int round = 0; round < 50 && got < n; round++) {
		int rc = ibv_start_poll(cq, &attr);

		if (rc == ENOENT)
			continue;
		assert_int_equal(rc, 0);
		do {
			out[got].wr_id = cq->wr_id;
			out[got].status = cq->status;
			out[got].opcode = ibv_wc_read_opcode(cq);
			out[got].byte_len = ibv_wc_read_byte_len(cq);
			out[got].flags = ibv_wc_read_wc_flags(cq);
			out[got].imm = ntohl(ibv_wc_read_imm_data(cq));
			out[got].qp_num = ibv_wc_read_qp_num(cq);
			got++;
		} while (got < n && ibv_next_poll(cq) == 0);
		ibv_end_poll(cq);
	}
	return got;
}

/* One batch of ibv_wr_*: SEND with an SGE, RDMA_WRITE_WITH_IMM, SEND_WITH_IMM
 * with inline data (the buffer reused right after the call): sealed, in
 * order; both sides poll with ibv_start_poll and read what ibv_poll_cq
 * would give. */
static void test_ex_batch_sealed(void **state)
{
	struct xpair p;
	struct xwc wc[8];
	char r[3][64], inl[32];
	uint8_t *mem = NULL;
	struct ibv_mr *mr;

	xpair_new(&p);
	assert_int_equal(posix_memalign((void **)&mem, 4096, 4096), 0);
	memset(mem, 0, 4096);
	mr = ibv_reg_mr(&fpd, mem, 4096, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);
	assert_non_null(mr);
	memset(r, 0, sizeof(r));
	for (int i = 0; i < 3; i++)
		assert_int_equal(post_recv(p.qp[1], 10 + (uint64_t)i, r[i], 64), 0);
	ibv_wr_start(p.x[0]);
	p.x[0]->wr_id = 1;
	p.x[0]->wr_flags = IBV_SEND_SIGNALED;
	ibv_wr_send(p.x[0]);
	ibv_wr_set_sge(p.x[0], 1, (uintptr_t)marker, sizeof(marker));
	p.x[0]->wr_id = 2;
	ibv_wr_rdma_write_imm(p.x[0], mr->rkey, (uintptr_t)mem + 64, htonl(0xabc));
	ibv_wr_set_sge(p.x[0], 1, (uintptr_t)marker, sizeof(marker));
	p.x[0]->wr_id = 3;
	ibv_wr_send_imm(p.x[0], htonl(0xdef));
	memcpy(inl, marker, sizeof(inl));
	ibv_wr_set_inline_data(p.x[0], inl, sizeof(inl));
	memset(inl, 'z', sizeof(inl));
	assert_int_equal(ibv_wr_complete(p.x[0]), 0);
	assert_int_equal(xpoll(p.cq[1], wc, 1), 0); /* B takes the HELLO */
	assert_int_equal(xpoll(p.cq[0], wc, 3), 3);
	assert_int_equal(wc[0].wr_id, 1);
	assert_int_equal(wc[0].opcode, IBV_WC_SEND);
	assert_int_equal(wc[1].wr_id, 2);
	assert_int_equal(wc[1].opcode, IBV_WC_RDMA_WRITE);
	assert_int_equal(wc[2].wr_id, 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(wc[i].status, IBV_WC_SUCCESS);
	assert_int_equal(xpoll(p.cq[1], wc, 3), 3);
	assert_int_equal(wc[0].wr_id, 10);
	assert_int_equal(wc[0].opcode, IBV_WC_RECV);
	assert_int_equal(wc[0].byte_len, sizeof(marker));
	assert_string_equal(r[0], marker);
	assert_int_equal(wc[1].wr_id, 11);
	assert_int_equal(wc[1].opcode, IBV_WC_RECV_RDMA_WITH_IMM);
	assert_int_equal(wc[1].imm, 0xabc);
	assert_int_equal(wc[1].byte_len, sizeof(marker));
	assert_memory_equal(mem + 64, marker, sizeof(marker));
	assert_int_equal(wc[2].wr_id, 12);
	assert_int_equal(wc[2].opcode, IBV_WC_RECV);
	assert_true(wc[2].flags & IBV_WC_WITH_IMM);
	assert_int_equal(wc[2].imm, 0xdef);
	assert_int_equal(wc[2].byte_len, sizeof(inl));
	assert_memory_equal(r[2], marker, sizeof(inl));
	assert_int_equal(wc[2].qp_num, p.qp[1]->qp_num);
	assert_false(wire_has(marker, 16));
	assert_int_equal(ibv_dereg_mr(mr), 0);
	free(mem);
	xpair_free(&p);
}

/* RDMA READ and atomics built with ibv_wr_* are refused at
 * ibv_wr_complete (EPERM), nothing of the batch is posted; ibv_wr_abort
 * drops a batch; the QP still works afterwards. */
static void test_ex_refused(void **state)
{
	struct xpair p;
	struct xwc wc[4];
	char r[64], buf[8];
	uint64_t before = esv_stats.denied_ops;

	xpair_new(&p);
	ibv_wr_start(p.x[0]);
	p.x[0]->wr_id = 1;
	p.x[0]->wr_flags = IBV_SEND_SIGNALED;
	ibv_wr_send(p.x[0]);
	ibv_wr_set_sge(p.x[0], 1, (uintptr_t)marker, 8);
	ibv_wr_rdma_read(p.x[0], 0x5000, 0x1000);
	ibv_wr_set_sge(p.x[0], 1, (uintptr_t)buf, sizeof(buf));
	assert_int_equal(ibv_wr_complete(p.x[0]), EPERM);
	ibv_wr_start(p.x[0]);
	ibv_wr_atomic_fetch_add(p.x[0], 0x5000, 0x1000, 1);
	assert_int_equal(ibv_wr_complete(p.x[0]), EPERM);
	assert_int_equal(esv_stats.denied_ops, before + 2);
	assert_int_equal(nwire, 0);
	ibv_wr_start(p.x[0]);
	ibv_wr_send(p.x[0]);
	ibv_wr_set_sge(p.x[0], 1, (uintptr_t)marker, 8);
	ibv_wr_abort(p.x[0]);
	assert_int_equal(nwire, 0);
	assert_int_equal(post_recv(p.qp[1], 7, r, sizeof(r)), 0);
	ibv_wr_start(p.x[0]);
	p.x[0]->wr_id = 4;
	p.x[0]->wr_flags = IBV_SEND_SIGNALED;
	ibv_wr_send(p.x[0]);
	ibv_wr_set_sge(p.x[0], 1, (uintptr_t)"ok", 3);
	assert_int_equal(ibv_wr_complete(p.x[0]), 0);
	assert_int_equal(xpoll(p.cq[1], wc, 1), 0);
	assert_int_equal(xpoll(p.cq[0], wc, 1), 1);
	assert_int_equal(wc[0].wr_id, 4);
	assert_int_equal(xpoll(p.cq[1], wc, 1), 1);
	assert_int_equal(wc[0].status, IBV_WC_SUCCESS);
	assert_string_equal(r, "ok");
	xpair_free(&p);
}

/* A tampered frame polled the extended way: an error completion, as with
 * ibv_poll_cq; nothing delivered. */
static void test_ex_tamper(void **state)
{
	struct xpair p;
	struct xwc wc[4];
	char r[256];

	xpair_new(&p);
	memset(r, 0, sizeof(r));
	assert_int_equal(post_recv(p.qp[1], 5, r, sizeof(r)), 0);
	tamper_len = sizeof(marker) + ESV_OVERHEAD;
	tamper_at = 20;
	ibv_wr_start(p.x[0]);
	p.x[0]->wr_id = 1;
	p.x[0]->wr_flags = IBV_SEND_SIGNALED;
	ibv_wr_send(p.x[0]);
	ibv_wr_set_sge(p.x[0], 1, (uintptr_t)marker, sizeof(marker));
	assert_int_equal(ibv_wr_complete(p.x[0]), 0);
	assert_int_equal(xpoll(p.cq[1], wc, 1), 0);
	assert_int_equal(xpoll(p.cq[0], wc, 1), 1);
	assert_int_equal(xpoll(p.cq[1], wc, 1), 1);
	assert_int_equal(wc[0].wr_id, 5);
	assert_int_equal(wc[0].status, IBV_WC_GENERAL_ERR);
	assert_null(memmem(r, sizeof(r), "ENCSHIM", 7));
	xpair_free(&p);
}

/* Accessors the shim cannot answer (timestamps, flow tag...) refuse the
 * CQ at creation. */
static void test_ex_cq_flags_refused(void **state)
{
	struct esv_real ex = fake;
	struct ibv_cq_init_attr_ex ca;
	struct ibv_context *ctx;

	ex.open_device = fx_open_device;
	esv_test_install(&ex);
	ctx = ibv_open_device(NULL);
	memset(&ca, 0, sizeof(ca));
	ca.cqe = 4;
	ca.wc_flags = IBV_WC_STANDARD_FLAGS | IBV_WC_EX_WITH_COMPLETION_TIMESTAMP;
	errno = 0;
	assert_null(ibv_create_cq_ex(ctx, &ca));
	assert_int_equal(errno, EOPNOTSUPP);
	assert_int_equal(ibv_close_device(ctx), 0);
	esv_test_install(&fake);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ex_batch_sealed),
		cmocka_unit_test(test_ex_refused),
		cmocka_unit_test(test_ex_tamper),
		cmocka_unit_test(test_ex_cq_flags_refused),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

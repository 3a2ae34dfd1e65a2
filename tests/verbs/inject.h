/* SPDX-License-Identifier: MIT */
/*
 * The attacker's injections shared by test_attack.c and test_attack2.c,
 * over the fake provider of test_verbs.c (included before this file).
 */
#ifndef ESV_TEST_INJECT_H
#define ESV_TEST_INJECT_H

/* Injects a datagram into QP to as if sent by QP src_qpn from the GID
 * ending in src_gid to the GID ending in dst_gid: an attacker who writes
 * both GRH addresses. */
static void inject_ud_grh(struct udhost *to, uint32_t src_qpn, uint8_t src_gid,
			  uint8_t dst_gid, const void *buf, size_t len)
{
	struct fqp *t = (struct fqp *)to->qp;
	struct fmsg d = { .len = 0 };

	d.len = ESV_GRH_BYTES + len;
	d.data = calloc(1, d.len);
	d.data[0] = 0x60;
	d.data[8 + 15] = src_gid;
	d.data[24 + 15] = dst_gid;
	memcpy(d.data + ESV_GRH_BYTES, buf, len);
	deliver_from(t, d, src_qpn, 1);
}

/* A completion as the hardware reports an RDMA WRITE with immediate that
 * landed in the shadow at the head of qp's receive queue. */
static void inject_write_imm(struct ibv_qp *qp, uint32_t imm)
{
	struct fqp *q = (struct fqp *)qp;
	struct ibv_wc wc;

	assert_true(q->rq_count > 0);
	memset(&wc, 0, sizeof(wc));
	wc.wr_id = q->rq[q->rq_head].wr_id;
	q->rq_head = (q->rq_head + 1) % MAXQ;
	q->rq_count--;
	wc.qp_num = qp->qp_num;
	wc.src_qp = q->peer ? q->peer->qp.qp_num : 0;
	wc.opcode = IBV_WC_RECV_RDMA_WITH_IMM;
	wc.wc_flags = IBV_WC_WITH_IMM;
	wc.imm_data = htonl(imm);
	cq_push(qp->recv_cq, &wc);
}

#endif

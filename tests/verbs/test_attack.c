/* SPDX-License-Identifier: MIT */
/*
 * Attacks on the verbs interposer by an on-path attacker who rewrites what
 * encshim does not seal (GRH source and destination GIDs, UD source QPN,
 * BTH opcode), drops, holds back and injects packets. Each test is one
 * attack; it passes when the attack fails. Runs over the fake provider of
 * test_verbs.c (included: its fixture, wire recorder and injectors).
 */
#define main esv_test_verbs_main
int esv_test_verbs_main(void);
#include "test_verbs.c"
#undef main

/* Injects a datagram into QP to as if sent by QP src_qpn from the GID
 * ending in src_gid to the GID ending in dst_gid: an attacker who writes
 * both GRH addresses. */
static void inject_ud_grh(struct udhost *to, uint32_t src_qpn, uint8_t src_gid,
			  uint8_t dst_gid, const void *buf, size_t len)
{
	struct fqp *t = (struct fqp *)to->qp;
	struct fmsg d;

	d.len = ESV_GRH_BYTES + len;
	d.data = calloc(1, d.len);
	d.data[0] = 0x60;
	d.data[8 + 15] = src_gid;
	d.data[24 + 15] = dst_gid;
	memcpy(d.data + ESV_GRH_BYTES, buf, len);
	deliver_from(t, d, src_qpn, 1);
}

/* Whether any completion of wc[0..n) delivered a message. */
static int any_delivered(const struct ibv_wc *wc, int n)
{
	for (int i = 0; i < n; i++)
		if (wc[i].opcode == IBV_WC_RECV && wc[i].status == IBV_WC_SUCCESS)
			return 1;
	return 0;
}

/* Reflection with equal QP numbers, GRH destination rewritten too.
 * B (QPN N, GID ::2) writes to A (QPN N, GID ::1). The attacker sends B's
 * HELLO back to B with GRH source ::1 AND GRH destination ::1: B's "from
 * myself" test (verbs/ud.c from_self) compares the two GRH addresses with
 * each other, both attacker-written, instead of comparing the source with
 * B's own GIDs. B takes its entry for A as a QP talking to itself (mirror
 * keys, confirmed at once), seals its sends to A under the mirror session,
 * and opens its own frames reflected back as A's datagrams. */
static void test_attack_ud_reflection_grh_dst(void **state)
{
	struct ibv_context *ca = ibv_open_device(NULL), *cb;
	uint8_t rb[2][ESV_GRH_BYTES + 64];
	struct udhost a, b;
	struct ibv_ah *to_a;
	struct ibv_wc wc[8];
	uint32_t base = next_qpn;
	int h, got, delivered = 0;

	make_ud(ca, &a, 1);
	cb = ibv_open_device(NULL);
	next_qpn = base;
	make_ud(cb, &b, 2);
	assert_int_equal(a.qp->qp_num, b.qp->qp_num);
	to_a = ah_to(&a);
	memset(rb, 0, sizeof(rb));
	assert_int_equal(post_recv(b.qp, 1, rb[0], sizeof(rb[0])), 0);
	assert_int_equal(post_recv(b.qp, 2, rb[1], sizeof(rb[1])), 0);
	/* A posts no receive: it never answers. */
	assert_int_equal(post_send_ud(&b, to_a, &a, 10, marker, sizeof(marker),
				      IBV_WR_SEND), 0);
	h = wire_find(b.qp->qp_num, ESV_HELLO_BYTES, 0);
	assert_true(h >= 0);
	inject_ud_grh(&b, a.qp->qp_num, 1, 1, wire[h].data, wire[h].len);
	got = poll_n(b.cq, wc, 8);
	delivered |= any_delivered(wc, got);
	for (int i = 0; i < nwire; i++)
		if (wire_src[i] == b.qp->qp_num &&
		    wire[i].len == sizeof(marker) + ESV_OVERHEAD)
			inject_ud_grh(&b, a.qp->qp_num, 1, 1, wire[i].data,
				      wire[i].len);
	got = poll_n(b.cq, wc, 8);
	delivered |= any_delivered(wc, got);
	assert_false(delivered);
	assert_null(memmem(rb, sizeof(rb), "ENCSHIM", 7));
	assert_int_equal(ibv_destroy_ah(to_a), 0);
	free_ud(&a);
	free_ud(&b);
	assert_int_equal(ibv_close_device(cb), 0);
	cleanup_wire(ca);
}

/* UD splice: the source address is bound into no key. A (QPN N, ::1) and
 * Z (QPN N too, ::3, another host) are members of the job; B (::2).
 * The attacker rewrites the GRH source of A's HELLO and of A's frames to
 * Z's address, and steers B's answer (sent to ::3) to A. B keys A's
 * session under the entry (N, ::3) and delivers A's data as Z's
 * datagram (GRH source ::3, src_qp N). Z is then locked out: its own
 * HELLO is refused as "another HELLO for a confirmed peer". */
static void test_attack_ud_splice_address(void **state)
{
	struct ibv_context *ca = ibv_open_device(NULL), *cb;
	uint8_t rb[ESV_GRH_BYTES + 64], ra[ESV_GRH_BYTES + 64];
	uint8_t rz[ESV_GRH_BYTES + 64];
	struct udhost a, b, z;
	struct ibv_ah *to_b;
	struct ibv_wc wc[8];
	struct fqp *fb;
	uint32_t base = next_qpn;
	int h, ans, f, got, saved, delivered = 0;

	make_ud(ca, &a, 1);
	cb = ibv_open_device(NULL);
	next_qpn = base;
	make_ud(cb, &z, 3);
	make_ud(cb, &b, 2);
	assert_int_equal(a.qp->qp_num, z.qp->qp_num);
	to_b = ah_to(&b);
	fb = (struct fqp *)b.qp;
	/* A's HELLO leaves while B has no receive: the attacker holds it. */
	assert_int_equal(post_send_ud(&a, to_b, &b, 10, marker, 16, IBV_WR_SEND), 0);
	h = wire_find(a.qp->qp_num, ESV_HELLO_BYTES, 0);
	assert_true(h >= 0);
	memset(rb, 0, sizeof(rb));
	assert_int_equal(post_recv(b.qp, 20, rb, sizeof(rb)), 0);
	assert_int_equal(post_recv(a.qp, 30, ra, sizeof(ra)), 0);
	assert_int_equal(post_recv(z.qp, 40, rz, sizeof(rz)), 0);
	/* ... and delivers it to B as from Z's address. */
	inject_ud(&b, a.qp->qp_num, 3, wire[h].data, wire[h].len);
	(void)poll_n(b.cq, wc, 8);
	(void)poll_n(z.cq, wc, 8); /* B's answer went to ::3: Z drops it */
	ans = wire_find(b.qp->qp_num, ESV_HELLO_MAX, 0);
	assert_true(ans >= 0);
	/* B's answer steered to A, as from B: A confirms, sends its frame;
	 * the attacker drops it on its way to B (B's queue looks empty). */
	saved = fb->rq_count;
	fb->rq_count = 0;
	inject_ud(&a, b.qp->qp_num, 2, wire[ans].data, wire[ans].len);
	(void)poll_n(a.cq, wc, 8);
	fb->rq_count = saved;
	f = wire_find(a.qp->qp_num, 16 + ESV_OVERHEAD, 0);
	assert_true(f >= 0);
	/* A's frame, source rewritten to Z's address. */
	inject_ud(&b, a.qp->qp_num, 3, wire[f].data, wire[f].len);
	got = poll_n(b.cq, wc, 8);
	delivered = any_delivered(wc, got);
	if (delivered)
		printf("# B delivered A's datagram as from QP %u at GID ::%u "
		       "(Z's address)\n", wc[0].src_qp, rb[8 + 15]);
	assert_false(delivered);
	assert_null(memmem(rb, sizeof(rb), marker, 16));
	assert_int_equal(ibv_destroy_ah(to_b), 0);
	free_ud(&a);
	free_ud(&b);
	free_ud(&z);
	assert_int_equal(ibv_close_device(cb), 0);
	cleanup_wire(ca);
}

/* Eviction of an answered stranger. A's HELLO reaches B; B answers with
 * key confirmation (A's entry at B: a stranger with a pending session).
 * Before A's first frame arrives, the attacker sends 256 HELLOs with the
 * copied check value from as many spoofed sources (within the token
 * bucket's burst): the oldest stranger, A's, is evicted. A took B's answer
 * and is confirmed for good, so it never sends a HELLO again and refuses
 * B's; B has no entry for A. Every later datagram of A is dropped at B,
 * for the life of both QPs: 256 injected packets silence a peer for good. */
static void test_attack_ud_evict_answered(void **state)
{
	struct ibv_context *ctx = ibv_open_device(NULL);
	uint8_t rb[2][ESV_GRH_BYTES + 64], ra[ESV_GRH_BYTES + 64], fh[ESV_HELLO_BYTES];
	struct udhost a, b;
	struct ibv_ah *to_b;
	struct ibv_wc wc[16];
	struct fqp *fa;
	unsigned flood = ESV_UD_MAX_STRANGERS;
	int h, ans, got, saved, delivered = 0;

	make_ud(ctx, &a, 1);
	make_ud(ctx, &b, 2);
	to_b = ah_to(&b);
	fa = (struct fqp *)a.qp;
	memset(rb, 0, sizeof(rb));
	assert_int_equal(post_recv(b.qp, 20, rb[0], sizeof(rb[0])), 0);
	assert_int_equal(post_recv(b.qp, 21, rb[1], sizeof(rb[1])), 0);
	assert_int_equal(post_recv(a.qp, 30, ra, sizeof(ra)), 0);
	/* A's HELLO reaches B; B's answer is held back by the attacker. */
	saved = fa->rq_count;
	fa->rq_count = 0;
	assert_int_equal(post_send_ud(&a, to_b, &b, 10, marker, 16, IBV_WR_SEND), 0);
	(void)poll_n(b.cq, wc, 4);
	fa->rq_count = saved;
	h = wire_find(a.qp->qp_num, ESV_HELLO_BYTES, 0);
	ans = wire_find(b.qp->qp_num, ESV_HELLO_MAX, 0);
	assert_true(h >= 0 && ans >= 0);
	/* The flood: 256 new sources, copied check value. */
	wire_quiet = 1;
	for (uint32_t i = 0; i < flood; i++) {
		uint32_t src = 0x500000u + i;

		memcpy(fh, wire[h].data, sizeof(fh));
		forge_hello(fh);
		esv_put_be32(fh + 8, src);
		inject_ud(&b, src, 7, fh, sizeof(fh));
		while (ibv_poll_cq(b.cq, 16, wc) > 0)
			;
	}
	wire_quiet = 0;
	/* B's answer now reaches A: A is confirmed, sends its data. */
	inject_ud(&a, b.qp->qp_num, 2, wire[ans].data, wire[ans].len);
	(void)poll_n(a.cq, wc, 4);
	got = poll_n(b.cq, wc, 4);
	delivered |= any_delivered(wc, got);
	/* A sends again, later: still nothing can reach B. */
	usleep((useconds_t)(ESV_UD_HELLO_RESEND * 1.1e6));
	assert_int_equal(post_send_ud(&a, to_b, &b, 11, marker + 1, 16,
				      IBV_WR_SEND), 0);
	(void)poll_n(a.cq, wc, 4);
	got = poll_n(b.cq, wc, 4);
	delivered |= any_delivered(wc, got);
	if (!delivered)
		printf("# A is confirmed towards B, B has no entry for A: "
		       "nothing of A is ever delivered\n");
	assert_true(delivered);
	assert_int_equal(ibv_destroy_ah(to_b), 0);
	free_ud(&a);
	free_ud(&b);
	cleanup_wire(ctx);
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

/* Defence in depth: with one-sided operations refused (the default), a
 * RECV_RDMA_WITH_IMM completion is still handed to the application as a
 * successful receive carrying the attacker's immediate, unauthenticated,
 * even before the peer's HELLO (verbs/recv.c esv_on_recv). The shim
 * relies only on the QP's access flags at the responder; a completion the
 * shim never asked for should fail the QP like any unauthenticated
 * message. */
static void test_attack_rc_write_imm_unsealed(void **state)
{
	struct pair p;
	char r[64];
	struct ibv_wc wc[4];
	int got, took = 0;

	make_pair(&p);
	connect_pair(&p);
	assert_int_equal(post_recv(p.qp[1], 7, r, sizeof(r)), 0);
	/* B's receive queue: the HELLO shadow, then the app's. */
	inject_write_imm(p.qp[1], 0xbadc0de);
	got = poll_n(p.cq[1], wc, 2);
	for (int i = 0; i < got; i++)
		if (wc[i].status == IBV_WC_SUCCESS && (wc[i].wc_flags & IBV_WC_WITH_IMM)) {
			printf("# delivered: wr_id %llu imm 0x%x before any HELLO\n",
			       (unsigned long long)wc[i].wr_id, ntohl(wc[i].imm_data));
			took = 1;
		}
	assert_false(took);
	free_pair(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_attack_ud_reflection_grh_dst),
		cmocka_unit_test(test_attack_ud_splice_address),
		cmocka_unit_test(test_attack_ud_evict_answered),
		cmocka_unit_test(test_attack_rc_write_imm_unsealed),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

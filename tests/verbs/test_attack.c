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
#include "inject.h"

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
	to_a = ah_to(&b, &a);
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
	to_b = ah_to(&a, &b);
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
	/* Where the identities bind the addresses, the attack stops here: B
	 * keyed A's identity at ::3, A its own at ::1, so the answer's
	 * confirmation does not open at A, which stays unconfirmed and
	 * sends nothing (no frame to steer). */
	if (f >= 0) {
		/* A's frame, source rewritten to Z's address. */
		inject_ud(&b, a.qp->qp_num, 3, wire[f].data, wire[f].len);
		got = poll_n(b.cq, wc, 8);
		delivered = any_delivered(wc, got);
	}
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
	to_b = ah_to(&a, &b);
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


/* The same root, the other way: a copied answer confirms a peer under
 * another member's name. V (QPN M, ::2) writes to P (QPN N, ::1); Z
 * (QPN N too, ::3) is another member. The attacker hands V's HELLO to Z
 * (from V's true address) and Z's answer to V as from P's address: V's
 * entry for P takes Z's session (the identities carry QPN and connection
 * id only, and Z's QPN is P's) and is confirmed. V's data for P, steered
 * to Z, is delivered to Z's application: Z reads what V sent to P. */
static void answer_other_member(int rewrite_dst)
{
	struct ibv_context *cp = ibv_open_device(NULL), *cz;
	uint8_t rv[ESV_GRH_BYTES + 64], rz[ESV_GRH_BYTES + 64];
	struct udhost v, p, z;
	struct ibv_ah *to_p;
	struct ibv_wc wc[8];
	struct fqp *fp, *fv;
	uint32_t base;
	int h, ans, f, got, saved, delivered;

	make_ud(cp, &v, 2);
	base = next_qpn;
	make_ud(cp, &p, 1);
	cz = ibv_open_device(NULL);
	next_qpn = base;
	make_ud(cz, &z, 3);
	assert_int_equal(p.qp->qp_num, z.qp->qp_num);
	to_p = ah_to(&v, &p);
	fp = (struct fqp *)p.qp;
	fv = (struct fqp *)v.qp;
	/* V's HELLO to P: P has no receive (the attacker takes it). */
	assert_int_equal(post_send_ud(&v, to_p, &p, 10, marker, 16, IBV_WR_SEND), 0);
	h = wire_find(v.qp->qp_num, ESV_HELLO_BYTES, 0);
	assert_true(h >= 0);
	memset(rz, 0, sizeof(rz));
	assert_int_equal(post_recv(z.qp, 40, rz, sizeof(rz)), 0);
	assert_int_equal(post_recv(v.qp, 50, rv, sizeof(rv)), 0);
	/* Z gets V's HELLO, addressed to QPN N; its answer to V is held. */
	saved = fv->rq_count;
	fv->rq_count = 0;
	if (rewrite_dst) /* ... with the GRH destination rewritten to P's */
		inject_ud_grh(&z, v.qp->qp_num, 2, 1, wire[h].data, wire[h].len);
	else
		inject_ud(&z, v.qp->qp_num, 2, wire[h].data, wire[h].len);
	(void)poll_n(z.cq, wc, 8);
	fv->rq_count = saved;
	ans = wire_find(z.qp->qp_num, ESV_HELLO_MAX, 0);
	if (ans < 0) { /* Z refused the HELLO: nothing to steer */
		assert_true(rewrite_dst);
		goto out;
	}
	/* Z's answer to V as from P; V's frame to P is held. */
	assert_int_equal(fp->rq_count, 0);
	inject_ud(&v, p.qp->qp_num, 1, wire[ans].data, wire[ans].len);
	(void)poll_n(v.cq, wc, 8);
	f = wire_find(v.qp->qp_num, 16 + ESV_OVERHEAD, 0);
	/* Where the identities bind the addresses, the attack stops here: Z
	 * keyed its own identity at ::3, V the peer's at ::1 (P's), so the
	 * answer's confirmation does not open at V, which stays unconfirmed
	 * and sends nothing (no frame to steer). */
	delivered = 0;
	if (f >= 0) {
		/* V's frame for P, to Z. */
		inject_ud(&z, v.qp->qp_num, 2, wire[f].data, wire[f].len);
		got = poll_n(z.cq, wc, 8);
		delivered = any_delivered(wc, got);
	}
	if (delivered)
		printf("# Z's application received what V sent to P\n");
	assert_false(delivered);
out:
	assert_null(memmem(rz, sizeof(rz), marker, 16));
	assert_int_equal(ibv_destroy_ah(to_p), 0);
	free_ud(&v);
	free_ud(&p);
	free_ud(&z);
	assert_int_equal(ibv_close_device(cz), 0);
	cleanup_wire(cp);
}

static void test_attack_ud_answer_other_member(void **state)
{
	answer_other_member(0);
}

/* The same, with the GRH destination of V's HELLO rewritten to P's
 * address on its way to Z, whose port does not hold that GID: were Z to
 * take the GRH destination as its own address, it would key as P and V
 * would confirm. Z refuses a HELLO sent to a GID that is not its port's. */
static void test_attack_ud_answer_other_member_dst(void **state)
{
	fake_gid_absent[1] = 1; /* ::1 is P's, not on Z's port */
	answer_other_member(1);
	fake_gid_absent[1] = 0;
}

/* A stream of forged HELLOs keeps the real peer out. A writes first to B
 * (B only answers: a server). The attacker, who saw one HELLO of the job
 * (the check value C is the same in all), sends a HELLO with C copied and
 * its own key from A's address just before each of A's: the forged one
 * takes the pending session, and A's, arriving within ESV_UD_HELLO_GAP of
 * it, is refused as "too many HELLOs from this source". Ten packets a
 * second pre-empt A for as long as the attacker likes (test_ud_forged_hello
 * shows one forged HELLO only, and waits out the gap before A's). */
static void test_attack_ud_forged_hello_stream(void **state)
{
	struct ibv_context *ctx = ibv_open_device(NULL);
	uint8_t rb[ESV_GRH_BYTES + 64], ra[ESV_GRH_BYTES + 64], fh[ESV_HELLO_BYTES];
	struct udhost a, b;
	struct ibv_ah *to_b;
	struct ibv_wc wc[8];
	int h, got, delivered = 0;

	make_ud(ctx, &a, 1);
	make_ud(ctx, &b, 2);
	to_b = ah_to(&a, &b);
	/* A's HELLO, seen by the attacker (B has no receive yet). */
	assert_int_equal(post_send_ud(&a, to_b, &b, 10, marker, 16, IBV_WR_SEND), 0);
	h = wire_find(a.qp->qp_num, ESV_HELLO_BYTES, 0);
	assert_true(h >= 0);
	memset(rb, 0, sizeof(rb));
	assert_int_equal(post_recv(b.qp, 20, rb, sizeof(rb)), 0);
	assert_int_equal(post_recv(a.qp, 30, ra, sizeof(ra)), 0);
	for (int round = 0; round < 3 && !delivered; round++) {
		memcpy(fh, wire[h].data, sizeof(fh));
		forge_hello(fh);
		inject_ud(&b, a.qp->qp_num, 1, fh, sizeof(fh));
		(void)poll_n(b.cq, wc, 8);
		(void)poll_n(a.cq, wc, 8);
		/* A's own HELLO (A repeats it while unanswered). */
		inject_ud(&b, a.qp->qp_num, 1, wire[h].data, wire[h].len);
		for (int i = 0; i < 3; i++) {
			got = poll_n(b.cq, wc, 8);
			delivered |= any_delivered(wc, got);
			(void)poll_n(a.cq, wc, 8);
		}
		usleep((useconds_t)(ESV_UD_HELLO_GAP * 1.2e6));
	}
	if (!delivered)
		printf("# A's HELLO refused in every round: A never keys with B\n");
	assert_true(delivered);
	assert_memory_equal(rb + ESV_GRH_BYTES, marker, 16);
	assert_int_equal(ibv_destroy_ah(to_b), 0);
	free_ud(&a);
	free_ud(&b);
	cleanup_wire(ctx);
}

/* ---------------------------------------------- attacks that held */

/* Held: the BTH opcode rewritten from SEND to SEND_WITH_IMMEDIATE with the
 * attacker's immediate. The sealed inner header says SEND: the completion
 * carries no immediate. */
static void test_held_rc_imm_injected(void **state)
{
	struct pair p;
	char r[2][64];
	struct ibv_wc wc[2];
	struct fqp *b;
	struct frecv *fr;

	keyed_pair(&p, IBV_QPT_RC, r, 2);
	hold_rc = 1;
	n_rc_held = 0;
	assert_int_equal(post_send(p.qp[0], 101, "m1", 3, IBV_WR_SEND), 0);
	hold_rc = 0;
	assert_int_equal(poll_n(p.cq[0], wc, 1), 1);
	assert_int_equal(n_rc_held, 1);
	b = (struct fqp *)p.qp[1];
	assert_true(b->rq_count > 0);
	fr = &b->rq[b->rq_head];
	memcpy((void *)(uintptr_t)fr->sge[0].addr, rc_held[0].data, rc_held[0].len);
	memset(&wc[0], 0, sizeof(wc[0]));
	wc[0].wr_id = fr->wr_id;
	wc[0].qp_num = p.qp[1]->qp_num;
	wc[0].opcode = IBV_WC_RECV;
	wc[0].wc_flags = IBV_WC_WITH_IMM;
	wc[0].imm_data = htonl(0xbadc0de);
	wc[0].byte_len = (uint32_t)rc_held[0].len;
	b->rq_head = (b->rq_head + 1) % MAXQ;
	b->rq_count--;
	free(rc_held[0].data);
	cq_push(p.qp[1]->recv_cq, &wc[0]);
	assert_int_equal(poll_n(p.cq[1], wc, 1), 1);
	assert_int_equal(wc[0].status, IBV_WC_SUCCESS);
	assert_string_equal(r[1], "m1");
	assert_false(wc[0].wc_flags & IBV_WC_WITH_IMM);
	free_pair(&p);
}

/* Held: connection 1's HELLO replayed into connection 2 of the same QP
 * numbers (after RESET), then connection 1's frame. B keys with the old
 * public key and a fresh key pair of its own: nothing of connection 1
 * opens, and nothing is delivered. */
static void test_held_rc_hello_replay_reconnect(void **state)
{
	struct pair p;
	char r[2][64];
	struct ibv_wc wc[4];
	struct ibv_qp_attr a;
	struct fmsg oh = { .len = 0 }, of = { .len = 0 };
	int got;

	keyed_pair(&p, IBV_QPT_RC, r, 1);
	assert_int_equal(wire[0].len, ESV_HELLO_BYTES);
	oh.len = wire[0].len;
	oh.data = malloc(oh.len);
	memcpy(oh.data, wire[0].data, oh.len);
	of.len = wire[2].len;
	of.data = malloc(of.len);
	memcpy(of.data, wire[2].data, of.len);
	for (int i = 0; i < 2; i++) {
		memset(&a, 0, sizeof(a));
		a.qp_state = IBV_QPS_RESET;
		assert_int_equal(ibv_modify_qp(p.qp[i], &a, IBV_QP_STATE), 0);
		((struct fqp *)p.qp[i])->rq_count = 0;
		((struct fqp *)p.qp[i])->w_count = 0;
	}
	connect_pair(&p);
	memset(r, 0, sizeof(r));
	assert_int_equal(post_recv(p.qp[1], 7, r[0], 64), 0);
	assert_int_equal(post_recv(p.qp[1], 8, r[1], 64), 0);
	deliver((struct fqp *)p.qp[1], oh);
	deliver((struct fqp *)p.qp[1], of);
	got = poll_n(p.cq[1], wc, 4);
	assert_false(any_delivered(wc, got));
	(void)poll_n(p.cq[0], wc, 4);
	got = poll_n(p.cq[1], wc, 4);
	assert_false(any_delivered(wc, got));
	assert_int_equal(r[0][0], 0);
	assert_int_equal(r[1][0], 0);
	assert_no_nonce_twice(p.qp[1]->qp_num);
	free_pair(&p);
}

/* The extended QP API: a context whose provider offers create_qp_ex. */
static struct ibv_qp *my_create_qp_ex(struct ibv_context *c,
				      struct ibv_qp_init_attr_ex *ax)
{
	return f_create_qp(ax->pd, (struct ibv_qp_init_attr *)ax);
}

static struct ibv_context *f_open_device_ex(struct ibv_device *d)
{
	struct ibv_context *c = f_open_device(d);

	fctx->create_qp_ex = my_create_qp_ex;
	return c;
}

/* Held: a QP made with ibv_create_qp_ex asking for the ibv_wr_* API
 * (send_ops_flags) gets the shim's builders, every one of them, so
 * ibv_wr_rdma_write / ibv_wr_send can never run in clear through a
 * shimmed QP (test_ex shows they seal); other extended attributes are
 * still refused. */
static void test_held_qp_ex_shimmed(void **state)
{
	struct esv_real ex = fake;
	struct ibv_context *ctx;
	struct ibv_cq *cq;
	struct ibv_qp_init_attr_ex ax;
	struct ibv_qp_ex *x;
	struct ibv_qp *qp;

	ex.open_device = f_open_device_ex;
	esv_test_install(&ex);
	ctx = ibv_open_device(NULL);
	assert_non_null(ctx);
	cq = ibv_create_cq(ctx, 16, NULL, NULL, 0);
	assert_non_null(cq);
	memset(&ax, 0, sizeof(ax));
	ax.send_cq = ax.recv_cq = cq;
	ax.qp_type = IBV_QPT_RC;
	ax.cap.max_send_wr = ax.cap.max_recv_wr = 4;
	ax.cap.max_send_sge = ax.cap.max_recv_sge = 1;
	ax.pd = &fpd;
	ax.comp_mask = IBV_QP_INIT_ATTR_PD | IBV_QP_INIT_ATTR_SEND_OPS_FLAGS;
	ax.send_ops_flags = IBV_QP_EX_WITH_RDMA_WRITE | IBV_QP_EX_WITH_SEND;
	qp = ibv_create_qp_ex(ctx, &ax);
	assert_non_null(qp);
	assert_non_null(esv_qp_find(qp));
	x = (struct ibv_qp_ex *)qp; /* the fake provider left them NULL */
	assert_non_null(x->wr_start);
	assert_non_null(x->wr_complete);
	assert_non_null(x->wr_send);
	assert_non_null(x->wr_rdma_write);
	assert_non_null(x->wr_rdma_read);
	assert_non_null(x->wr_atomic_fetch_add);
	assert_int_equal(ibv_destroy_qp(qp), 0);
	ax.comp_mask |= IBV_QP_INIT_ATTR_CREATE_FLAGS;
	errno = 0;
	assert_null(ibv_create_qp_ex(ctx, &ax));
	assert_int_equal(errno, EOPNOTSUPP);
	/* PD only: goes through the shim like ibv_create_qp. */
	ax.comp_mask = IBV_QP_INIT_ATTR_PD;
	qp = ibv_create_qp_ex(ctx, &ax);
	assert_non_null(qp);
	assert_non_null(esv_qp_find(qp));
	assert_int_equal(ibv_destroy_qp(qp), 0);
	assert_int_equal(ibv_destroy_cq(cq), 0);
	assert_int_equal(ibv_close_device(ctx), 0);
	esv_test_install(&fake);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_attack_ud_reflection_grh_dst),
		cmocka_unit_test(test_attack_ud_splice_address),
		cmocka_unit_test(test_attack_ud_evict_answered),
		cmocka_unit_test(test_attack_rc_write_imm_unsealed),
		cmocka_unit_test(test_attack_ud_answer_other_member),
		cmocka_unit_test(test_attack_ud_answer_other_member_dst),
		cmocka_unit_test(test_attack_ud_forged_hello_stream),
		cmocka_unit_test(test_held_rc_imm_injected),
		cmocka_unit_test(test_held_rc_hello_replay_reconnect),
		cmocka_unit_test(test_held_qp_ex_shimmed),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

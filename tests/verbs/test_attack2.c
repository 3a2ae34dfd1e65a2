/* SPDX-License-Identifier: MIT */
/*
 * Second red team of the verbs interposer: attacks on the fixes of
 * PROTOCOL section 10 (addresses bound in UD identities, HELLO v3, up to
 * ESV_UD_CANDIDATES pending sessions per source confirmed by the first
 * frame that opens, answered strangers kept, RECV_RDMA_WITH_IMM refused,
 * reflection only for a QP's own sends to itself). Each test is one
 * attack; it passes when the attack fails. Runs over the fake provider of
 * test_verbs.c (included).
 */
#define main esv_test_verbs_main
int esv_test_verbs_main(void);
#include "test_verbs.c"
#undef main
#include "inject.h"

/* Delivered completions of wc[0..n), and whether the buffer holds mark. */
static int n_delivered(const struct ibv_wc *wc, int n)
{
	int k = 0;

	for (int i = 0; i < n; i++)
		k += wc[i].opcode == IBV_WC_RECV && wc[i].status == IBV_WC_SUCCESS;
	return k;
}

/* Polls both hosts a bounded number of rounds; counts what each delivered. */
static void pump(struct udhost *a, struct udhost *b, int *da, int *db)
{
	struct ibv_wc wc[16];
	int got;

	for (int round = 0; round < 6; round++) {
		got = ibv_poll_cq(a->cq, 16, wc);
		*da += n_delivered(wc, got > 0 ? got : 0);
		got = ibv_poll_cq(b->cq, 16, wc);
		*db += n_delivered(wc, got > 0 ? got : 0);
	}
}

/* Crossed HELLOs: both ends of a UD pair write first, at the same time
 * (all-to-all traffic does; an attacker who only delays a packet forces
 * it). No attacker rewrites anything. A's HELLO reaches B and B's HELLO
 * reaches A before either end has answered: each end gives the other's
 * HELLO a pending session (cand_new) and answers it. Then each end takes
 * the other's answer (ud_answer), which confirms its entry under the
 * session of ITS OWN key pair with the other's candidate key, and drops
 * its candidates (drop_keys). A seals under (LA, LcB), B opens under
 * (LB, LcA): every datagram each way fails authentication, for the life
 * of both QPs (confirmed entries refuse any new HELLO). */
static void test_attack2_ud_crossed_hellos(void **state)
{
	struct ibv_context *ctx = ibv_open_device(NULL);
	uint8_t ra[2][ESV_GRH_BYTES + 64], rb[2][ESV_GRH_BYTES + 64];
	struct udhost a, b;
	struct ibv_ah *to_a, *to_b;
	int da = 0, db = 0;

	make_ud(ctx, &a, 1);
	make_ud(ctx, &b, 2);
	to_b = ah_to(&a, &b);
	to_a = ah_to(&b, &a);
	memset(ra, 0, sizeof(ra));
	memset(rb, 0, sizeof(rb));
	for (int i = 0; i < 2; i++) {
		assert_int_equal(post_recv(a.qp, 30 + i, ra[i], sizeof(ra[i])), 0);
		assert_int_equal(post_recv(b.qp, 20 + i, rb[i], sizeof(rb[i])), 0);
	}
	/* Both HELLOs are in flight before either end polls. */
	assert_int_equal(post_send_ud(&a, to_b, &b, 10, marker, 16, IBV_WR_SEND), 0);
	assert_int_equal(post_send_ud(&b, to_a, &a, 11, marker, 16, IBV_WR_SEND), 0);
	pump(&a, &b, &da, &db);
	/* Later sends: still nothing either way. */
	assert_int_equal(post_send_ud(&a, to_b, &b, 12, marker + 2, 16, IBV_WR_SEND), 0);
	assert_int_equal(post_send_ud(&b, to_a, &a, 13, marker + 3, 16, IBV_WR_SEND), 0);
	pump(&a, &b, &da, &db);
	if (!da || !db)
		printf("# crossed HELLOs: A delivered %d, B delivered %d of 2 each: "
		       "both confirmed under different sessions\n", da, db);
	assert_no_nonce_twice(a.qp->qp_num);
	assert_no_nonce_twice(b.qp->qp_num);
	assert_true(da > 0 && db > 0);
	assert_int_equal(ibv_destroy_ah(to_a), 0);
	assert_int_equal(ibv_destroy_ah(to_b), 0);
	free_ud(&a);
	free_ud(&b);
	cleanup_wire(ctx);
}

/* Failed completions (an application receive that got GENERAL_ERR). */
static int n_failed(const struct ibv_wc *wc, int n)
{
	int k = 0;

	for (int i = 0; i < n; i++)
		k += wc[i].status == IBV_WC_GENERAL_ERR;
	return k;
}

/* Polls both hosts a bounded number of rounds; counts what each
 * delivered and how many application receives failed. */
static void pump_failed(struct udhost *a, struct udhost *b, int d[2], int f[2])
{
	struct ibv_wc wc[16];
	int got;

	for (int round = 0; round < 6; round++) {
		got = ibv_poll_cq(a->cq, 16, wc);
		d[0] += n_delivered(wc, got > 0 ? got : 0);
		f[0] += n_failed(wc, got > 0 ? got : 0);
		got = ibv_poll_cq(b->cq, 16, wc);
		d[1] += n_delivered(wc, got > 0 ? got : 0);
		f[1] += n_failed(wc, got > 0 ? got : 0);
	}
}

/* A (::1, the lower end) answers B's HELLO before it ever sent to B; that
 * answer is delayed (UD may reorder it; an attacker may hold it). A then
 * sends to B: its own HELLO asks, B (the higher end, its HELLO out)
 * answers it (lose_reply: that answer is lost), then A's late answer
 * arrives at B (lose_reply: 1.5 ESV_UD_HELLO_GAP later). Each end must key
 * one session: both deliver, no application receive fails, no nonce
 * repeats. */
static void crossed_late_answer(int lose_reply)
{
	struct ibv_context *ctx = ibv_open_device(NULL);
	uint8_t ra[3][ESV_GRH_BYTES + 64], rb[3][ESV_GRH_BYTES + 64];
	struct udhost a, b;
	struct ibv_ah *to_a, *to_b;
	struct ibv_wc wc[16];
	struct fqp *fa, *fb;
	int ans, saved, d[2] = { 0, 0 }, f[2] = { 0, 0 };

	make_ud(ctx, &a, 1);
	make_ud(ctx, &b, 2);
	to_b = ah_to(&a, &b);
	to_a = ah_to(&b, &a);
	fa = (struct fqp *)a.qp;
	fb = (struct fqp *)b.qp;
	memset(ra, 0, sizeof(ra));
	memset(rb, 0, sizeof(rb));
	for (int i = 0; i < 3; i++) {
		assert_int_equal(post_recv(a.qp, 30 + i, ra[i], sizeof(ra[i])), 0);
		assert_int_equal(post_recv(b.qp, 20 + i, rb[i], sizeof(rb[i])), 0);
	}
	/* B asks A; A answers, and the answer does not reach B now. */
	assert_int_equal(post_send_ud(&b, to_a, &a, 11, marker + 1, 16, IBV_WR_SEND), 0);
	saved = fb->rq_count;
	fb->rq_count = 0;
	(void)poll_n(a.cq, wc, 4);
	fb->rq_count = saved;
	ans = wire_find(a.qp->qp_num, ESV_HELLO_MAX, 0);
	assert_true(ans >= 0);
	/* A sends to B: its HELLO asks; B answers it. */
	assert_int_equal(post_send_ud(&a, to_b, &b, 10, marker, 16, IBV_WR_SEND), 0);
	saved = fa->rq_count;
	if (lose_reply)
		fa->rq_count = 0;
	(void)poll_n(b.cq, wc, 4);
	fa->rq_count = saved;
	if (lose_reply)
		usleep((useconds_t)(ESV_UD_HELLO_GAP * 1.5e6));
	/* A's late answer reaches B. */
	inject_ud(&b, a.qp->qp_num, 1, wire[ans].data, wire[ans].len);
	pump_failed(&a, &b, d, f);
	/* Later sends, each way. */
	assert_int_equal(post_send_ud(&a, to_b, &b, 12, marker + 2, 16, IBV_WR_SEND), 0);
	assert_int_equal(post_send_ud(&b, to_a, &a, 13, marker + 3, 16, IBV_WR_SEND), 0);
	pump_failed(&a, &b, d, f);
	if (d[0] != 2 || d[1] != 2 || f[0] || f[1])
		printf("# crossed after a late answer: A delivered %d (%d failed), "
		       "B delivered %d (%d failed) of 2 each\n", d[0], f[0], d[1], f[1]);
	assert_no_nonce_twice(a.qp->qp_num);
	assert_no_nonce_twice(b.qp->qp_num);
	assert_int_equal(d[0], 2);
	assert_int_equal(d[1], 2);
	assert_int_equal(f[0], 0);
	assert_int_equal(f[1], 0);
	assert_memory_equal(ra[0] + ESV_GRH_BYTES, marker + 1, 16);
	assert_memory_equal(rb[0] + ESV_GRH_BYTES, marker, 16);
	assert_int_equal(ibv_destroy_ah(to_a), 0);
	assert_int_equal(ibv_destroy_ah(to_b), 0);
	free_ud(&a);
	free_ud(&b);
	cleanup_wire(ctx);
}

/* Before: B took A's late answer (B's pair, A's pending pair) while A
 * took B's answer (A's pair, B's pending pair): two sessions, every
 * datagram each way failed, for the life of both QPs. */
static void test_attack2_ud_crossed_late_answer(void **state)
{
	crossed_late_answer(0);
}

/* Held (before too: B took the late answer and A, which had no answer,
 * took B's frames under its pending session): B's answer to A's HELLO is
 * lost as well; B, refusing A's late answer, answers A's HELLO again, and
 * A takes that. */
static void test_held2_ud_crossed_late_answer_reply_lost(void **state)
{
	crossed_late_answer(1);
}

/* Held: A's real HELLO is the LAST of 4 pending sessions (3 forged
 * HELLOs with the copied check value from A's address first). A's frame
 * is tried under the 3 forged sessions first, in place: each failed try
 * wipes what it wrote and the next starts from the copy. A's frame opens
 * under its own session only, is delivered once and intact (no partially
 * decrypted or wiped bytes), its replay is refused, the forged sessions
 * are gone (a second frame under no candidate is not tried), and no
 * nonce repeats. */
static void test_held2_ud_real_hello_last_of_four(void **state)
{
	struct ibv_context *ctx = ibv_open_device(NULL);
	uint8_t rb[3][ESV_GRH_BYTES + 64], ra[ESV_GRH_BYTES + 64], fh[ESV_HELLO_BYTES];
	struct udhost a, b;
	struct ibv_ah *to_b;
	struct ibv_wc wc[16];
	struct fqp *fb;
	int h, f, got, saved, delivered = 0;

	make_ud(ctx, &a, 1);
	make_ud(ctx, &b, 2);
	to_b = ah_to(&a, &b);
	fb = (struct fqp *)b.qp;
	/* A's HELLO, taken by the attacker (B has no receive yet). */
	assert_int_equal(post_send_ud(&a, to_b, &b, 10, marker, 16, IBV_WR_SEND), 0);
	h = wire_find(a.qp->qp_num, ESV_HELLO_BYTES, 0);
	assert_true(h >= 0);
	memset(rb, 0, sizeof(rb));
	for (int i = 0; i < 3; i++)
		assert_int_equal(post_recv(b.qp, 20 + i, rb[i], sizeof(rb[i])), 0);
	assert_int_equal(post_recv(a.qp, 30, ra, sizeof(ra)), 0);
	for (int i = 0; i < (int)ESV_UD_CANDIDATES - 1; i++) {
		memcpy(fh, wire[h].data, sizeof(fh));
		forge_hello(fh);
		inject_ud(&b, a.qp->qp_num, 1, fh, sizeof(fh));
		(void)poll_n(b.cq, wc, 4);
		(void)poll_n(a.cq, wc, 4); /* the forged ones' answers fail at A */
	}
	/* A's real HELLO: the 4th session. A's frame is held back. */
	inject_ud(&b, a.qp->qp_num, 1, wire[h].data, wire[h].len);
	(void)poll_n(b.cq, wc, 4);
	saved = fb->rq_count;
	fb->rq_count = 0;
	(void)poll_n(a.cq, wc, 4);
	fb->rq_count = saved;
	f = wire_find(a.qp->qp_num, 16 + ESV_OVERHEAD, 0);
	assert_true(f >= 0);
	inject_ud(&b, a.qp->qp_num, 1, wire[f].data, wire[f].len);
	got = poll_n(b.cq, wc, 4);
	delivered = n_delivered(wc, got);
	assert_int_equal(delivered, 1);
	assert_memory_equal(rb[0] + ESV_GRH_BYTES, marker, 16);
	/* The replay: refused. */
	inject_ud(&b, a.qp->qp_num, 1, wire[f].data, wire[f].len);
	got = poll_n(b.cq, wc, 4);
	assert_int_equal(n_delivered(wc, got), 0);
	assert_null(memmem(rb[1], sizeof(rb[1]), marker, 16));
	assert_no_nonce_twice(b.qp->qp_num);
	assert_no_nonce_twice(a.qp->qp_num);
	assert_int_equal(ibv_destroy_ah(to_b), 0);
	free_ud(&a);
	free_ud(&b);
	cleanup_wire(ctx);
}

/* Held: the address binding with the GRH rewritten on both the HELLO and
 * the answer, both ways consistent. A (::1) writes to B (::2); Y (::7,
 * on the fabric, not a member) is the address the attacker claims.
 * A's HELLO arrives at B as from ::7 (B binds the peer as ::7), B's
 * answer, sent to ::7, is steered to A as from ::2 with the GRH
 * destination ::1 (A binds ::1 and ::2). The keys differ: A does not
 * confirm; A's frame (as from ::7) is not delivered at B. */
static void test_held2_ud_both_grh_rewritten(void **state)
{
	struct ibv_context *ctx = ibv_open_device(NULL);
	uint8_t rb[ESV_GRH_BYTES + 64], ra[ESV_GRH_BYTES + 64];
	struct udhost a, b, y;
	struct ibv_ah *to_b;
	struct ibv_wc wc[8];
	int h, ans, f, got, delivered = 0;

	make_ud(ctx, &a, 1);
	make_ud(ctx, &b, 2);
	make_ud(ctx, &y, 7);
	to_b = ah_to(&a, &b);
	assert_int_equal(post_send_ud(&a, to_b, &b, 10, marker, 16, IBV_WR_SEND), 0);
	h = wire_find(a.qp->qp_num, ESV_HELLO_BYTES, 0);
	assert_true(h >= 0);
	memset(rb, 0, sizeof(rb));
	assert_int_equal(post_recv(b.qp, 20, rb, sizeof(rb)), 0);
	assert_int_equal(post_recv(a.qp, 30, ra, sizeof(ra)), 0);
	inject_ud_grh(&b, a.qp->qp_num, 7, 2, wire[h].data, wire[h].len);
	(void)poll_n(b.cq, wc, 8);
	ans = wire_find(b.qp->qp_num, ESV_HELLO_MAX, 0);
	assert_true(ans >= 0);
	inject_ud_grh(&a, b.qp->qp_num, 2, 1, wire[ans].data, wire[ans].len);
	(void)poll_n(a.cq, wc, 8);
	f = wire_find(a.qp->qp_num, 16 + ESV_OVERHEAD, 0);
	if (f >= 0) {
		inject_ud_grh(&b, a.qp->qp_num, 7, 2, wire[f].data, wire[f].len);
		got = poll_n(b.cq, wc, 8);
		delivered = n_delivered(wc, got);
	}
	assert_true(f < 0);
	assert_false(delivered);
	assert_null(memmem(rb, sizeof(rb), marker, 16));
	assert_int_equal(ibv_destroy_ah(to_b), 0);
	free_ud(&a);
	free_ud(&b);
	free_ud(&y);
	cleanup_wire(ctx);
}

/* Injects a datagram without a GRH (LID-routed): source LID slid. */
static void inject_ud_lid(struct udhost *to, uint32_t src_qpn, uint16_t slid,
			  const void *buf, size_t len)
{
	struct fqp *t = (struct fqp *)to->qp;
	struct ibv_wc wc;
	struct frecv *r;
	size_t off = 0;

	assert_true(t->rq_count > 0);
	r = &t->rq[t->rq_head];
	t->rq_head = (t->rq_head + 1) % MAXQ;
	t->rq_count--;
	memset(&wc, 0, sizeof(wc));
	wc.wr_id = r->wr_id;
	wc.qp_num = t->qp.qp_num;
	wc.src_qp = src_qpn;
	wc.slid = slid;
	wc.opcode = IBV_WC_RECV;
	/* No GRH: the first 40 bytes of the receive are undefined (zeros). */
	memset((void *)(uintptr_t)r->sge[0].addr, 0, ESV_GRH_BYTES);
	off = ESV_GRH_BYTES;
	memcpy((uint8_t *)(uintptr_t)r->sge[0].addr + off, buf, len);
	wc.byte_len = (uint32_t)(ESV_GRH_BYTES + len);
	cq_push(t->qp.recv_cq, &wc);
}

/* Held: the GRH stripped (LID-routed delivery). A sent over a global AH
 * and bound GIDs; B, receiving A's HELLO without a GRH, binds A's source
 * LID and its own port LID instead: the keys differ, B's answer does not
 * confirm at A, nothing is delivered. The fake port's LID is 0, which is
 * also what a RoCE port reports: B binds ::0 for both ends then. */
static void test_held2_ud_grh_stripped_lid(void **state)
{
	struct ibv_context *ctx = ibv_open_device(NULL);
	uint8_t rb[ESV_GRH_BYTES + 64], ra[ESV_GRH_BYTES + 64];
	struct udhost a, b;
	struct ibv_ah *to_b;
	struct ibv_wc wc[8];
	int h, ans, f, got, delivered = 0;

	make_ud(ctx, &a, 1);
	make_ud(ctx, &b, 2);
	to_b = ah_to(&a, &b);
	assert_int_equal(post_send_ud(&a, to_b, &b, 10, marker, 16, IBV_WR_SEND), 0);
	h = wire_find(a.qp->qp_num, ESV_HELLO_BYTES, 0);
	assert_true(h >= 0);
	memset(rb, 0, sizeof(rb));
	assert_int_equal(post_recv(b.qp, 20, rb, sizeof(rb)), 0);
	assert_int_equal(post_recv(a.qp, 30, ra, sizeof(ra)), 0);
	inject_ud_lid(&b, a.qp->qp_num, 1, wire[h].data, wire[h].len);
	(void)poll_n(b.cq, wc, 8);
	ans = wire_find(b.qp->qp_num, ESV_HELLO_MAX, 0);
	if (ans >= 0) {
		inject_ud(&a, b.qp->qp_num, 2, wire[ans].data, wire[ans].len);
		(void)poll_n(a.cq, wc, 8);
	}
	f = wire_find(a.qp->qp_num, 16 + ESV_OVERHEAD, 0);
	if (f >= 0) {
		assert_int_equal(post_recv(b.qp, 21, rb, sizeof(rb)), 0);
		inject_ud_lid(&b, a.qp->qp_num, 1, wire[f].data, wire[f].len);
		got = poll_n(b.cq, wc, 8);
		delivered = n_delivered(wc, got);
	}
	assert_true(f < 0);
	assert_false(delivered);
	assert_int_equal(ibv_destroy_ah(to_b), 0);
	free_ud(&a);
	free_ud(&b);
	cleanup_wire(ctx);
}

/* Held: a confirmed peer's frames moved to another address. A and B are
 * keyed; A's captured frame, replayed from ::9 (same QPN), then A's
 * HELLO replayed from ::9 (a new stranger with a fresh candidate) and the
 * frame again: nothing opens under the new entry. */
static void test_held2_ud_confirmed_peer_moved(void **state)
{
	struct ibv_context *ctx = ibv_open_device(NULL);
	uint8_t rb[3][ESV_GRH_BYTES + 64], ra[ESV_GRH_BYTES + 64];
	struct udhost a, b;
	struct ibv_ah *to_b;
	struct ibv_wc wc[8];
	int h, f, got, delivered = 0;

	make_ud(ctx, &a, 1);
	make_ud(ctx, &b, 2);
	to_b = ah_to(&a, &b);
	ud_keyed(&a, &b, to_b, rb[0], ra, sizeof(ra));
	h = wire_find(a.qp->qp_num, ESV_HELLO_BYTES, 0);
	f = wire_find(a.qp->qp_num, 16 + ESV_OVERHEAD, 0);
	assert_true(h >= 0 && f >= 0);
	memset(rb[1], 0, sizeof(rb[1]));
	memset(rb[2], 0, sizeof(rb[2]));
	assert_int_equal(post_recv(b.qp, 21, rb[1], sizeof(rb[1])), 0);
	assert_int_equal(post_recv(b.qp, 22, rb[2], sizeof(rb[2])), 0);
	inject_ud(&b, a.qp->qp_num, 9, wire[f].data, wire[f].len);
	got = poll_n(b.cq, wc, 8);
	delivered += n_delivered(wc, got);
	inject_ud(&b, a.qp->qp_num, 9, wire[h].data, wire[h].len);
	(void)poll_n(b.cq, wc, 8);
	inject_ud(&b, a.qp->qp_num, 9, wire[f].data, wire[f].len);
	got = poll_n(b.cq, wc, 8);
	delivered += n_delivered(wc, got);
	assert_int_equal(delivered, 0);
	assert_null(memmem(rb[1], sizeof(rb[1]), marker, 16));
	assert_null(memmem(rb[2], sizeof(rb[2]), marker, 16));
	assert_no_nonce_twice(b.qp->qp_num);
	assert_int_equal(ibv_destroy_ah(to_b), 0);
	free_ud(&a);
	free_ud(&b);
	cleanup_wire(ctx);
}

/* Held: reflection through a QP's own self entry. B sends to itself
 * (QPN N, ::2 -> ::2), which the shim honours (a self entry). The
 * attacker reflects B's self HELLO to B from ::2 but with the GRH
 * destination ::5, and B's self frames from another address (::5): the
 * self entry alone is keyed; frames from elsewhere open nowhere. B's
 * HELLO to a real peer A reflected as from B's own address (N, ::2)
 * carries another connection id than the self entry's: refused. */
static void test_held2_ud_self_reflection(void **state)
{
	struct ibv_context *ctx = ibv_open_device(NULL);
	uint8_t rb[4][ESV_GRH_BYTES + 64];
	struct udhost a, b;
	struct ibv_ah *to_self, *to_a;
	struct ibv_wc wc[16];
	static const char self_msg[] = "B-TO-ITSELF-0000";
	int hs, ha, fs, got, d = 0;

	make_ud(ctx, &a, 1);
	make_ud(ctx, &b, 2);
	to_self = ah_to(&b, &b);
	to_a = ah_to(&b, &a);
	memset(rb, 0, sizeof(rb));
	/* B's self send, its HELLO lost (B has no receive yet). */
	assert_int_equal(post_send_ud(&b, to_self, &b, 10, self_msg, 16, IBV_WR_SEND), 0);
	hs = wire_find(b.qp->qp_num, ESV_HELLO_BYTES, 0);
	assert_true(hs >= 0);
	/* B's HELLO to A, lost too (A has no receive). */
	assert_int_equal(post_send_ud(&b, to_a, &a, 11, marker, 16, IBV_WR_SEND), 0);
	ha = wire_find(b.qp->qp_num, ESV_HELLO_BYTES, 1);
	assert_true(ha >= 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(post_recv(b.qp, 20 + i, rb[i], sizeof(rb[i])), 0);
	/* B's HELLO to A reflected as from B's own (N, ::2): refused. */
	inject_ud(&b, b.qp->qp_num, 2, wire[ha].data, wire[ha].len);
	got = poll_n(b.cq, wc, 8);
	d += n_delivered(wc, got);
	/* The self HELLO with a rewritten destination: B keys its self
	 * entry (it is B's own), and its self frame goes out. */
	inject_ud_grh(&b, b.qp->qp_num, 2, 5, wire[hs].data, wire[hs].len);
	got = poll_n(b.cq, wc, 8);
	d += n_delivered(wc, got); /* B's own datagram to itself: fine */
	fs = wire_find(b.qp->qp_num, 16 + ESV_OVERHEAD, 0);
	if (fs >= 0) {
		int before = d;

		/* The self frame reflected from elsewhere: nowhere to open. */
		inject_ud(&b, b.qp->qp_num, 5, wire[fs].data, wire[fs].len);
		inject_ud(&b, a.qp->qp_num, 1, wire[fs].data, wire[fs].len);
		got = poll_n(b.cq, wc, 8);
		d += n_delivered(wc, got);
		assert_int_equal(d, before);
	}
	/* Nothing for A was delivered at B. */
	for (int i = 0; i < 4; i++)
		assert_null(memmem(rb[i], sizeof(rb[i]), marker, 16));
	assert_no_nonce_twice(b.qp->qp_num);
	assert_int_equal(ibv_destroy_ah(to_self), 0);
	assert_int_equal(ibv_destroy_ah(to_a), 0);
	free_ud(&a);
	free_ud(&b);
	cleanup_wire(ctx);
}

/* Held: RECV_RDMA_WITH_IMM on an established RC connection, between two
 * sealed messages. The write-with-immediate's receive fails
 * (GENERAL_ERR, no immediate), the QP fails, and the next genuine frame
 * is not delivered either (nothing after an unauthenticated completion),
 * and the receive buffers hold nothing. */
static void test_held2_rc_write_imm_established(void **state)
{
	struct pair p;
	char r[3][64];
	struct ibv_wc wc[8];
	int got, ok = 0;

	keyed_pair(&p, IBV_QPT_RC, r, 1);
	memset(r, 0, sizeof(r));
	assert_int_equal(post_recv(p.qp[1], 8, r[1], 64), 0);
	assert_int_equal(post_recv(p.qp[1], 9, r[2], 64), 0);
	inject_write_imm(p.qp[1], 0xbadc0de);
	got = poll_n(p.cq[1], wc, 1);
	assert_int_equal(got, 1);
	assert_int_equal(wc[0].status, IBV_WC_GENERAL_ERR);
	assert_false(wc[0].wc_flags & IBV_WC_WITH_IMM);
	assert_int_equal(wc[0].imm_data, 0);
	(void)post_send(p.qp[0], 102, "m2", 3, IBV_WR_SEND);
	for (int i = 0; i < 3; i++) {
		got = ibv_poll_cq(p.cq[1], 8, wc);
		for (int k = 0; k < got; k++)
			ok |= wc[k].status == IBV_WC_SUCCESS && wc[k].opcode == IBV_WC_RECV;
		(void)ibv_poll_cq(p.cq[0], 8, wc);
	}
	assert_false(ok);
	assert_int_equal(r[1][0], 0);
	assert_int_equal(r[2][0], 0);
	free_pair(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_attack2_ud_crossed_hellos),
		cmocka_unit_test(test_attack2_ud_crossed_late_answer),
		cmocka_unit_test(test_held2_ud_crossed_late_answer_reply_lost),
		cmocka_unit_test(test_held2_ud_real_hello_last_of_four),
		cmocka_unit_test(test_held2_ud_both_grh_rewritten),
		cmocka_unit_test(test_held2_ud_grh_stripped_lid),
		cmocka_unit_test(test_held2_ud_confirmed_peer_moved),
		cmocka_unit_test(test_held2_ud_self_reflection),
		cmocka_unit_test(test_held2_rc_write_imm_established),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

/* SPDX-License-Identifier: MIT */
/*
 * Third red team of the verbs interposer: sealed RC RDMA WRITE through
 * shadow MRs (PROTOCOL section 10, "Sealed writes"), the wrapped extended
 * API (qpex.c, cqex.c) and registrations that bypass the shadow. Each
 * test_attack3_* is one attack and FAILS while the attack works; each
 * test_held3_* shows an attack that is stopped. Runs over the fake
 * provider of test_verbs.c (included).
 */
#define main esv_test_verbs_main
int esv_test_verbs_main(void);
#include "test_verbs.c"
#undef main

/* Core test hook (shim/session_internal.h): lowers a peer's rekey limits. */
void session_test_rekey_limits(struct encshim_peer *p, uint64_t bytes,
			       uint64_t msgs);

#include "wpair.h"

/* The attacker's own RDMA WRITE (its own QP, straight to the provider)
 * of len bytes of buf to raddr with rkey, which it read on the wire. */
static void attacker_write(struct ibv_qp *qp, const void *buf, uint32_t len,
			   uint64_t raddr, uint32_t rkey)
{
	struct ibv_sge sg = { (uintptr_t)buf, len, 1 };
	struct ibv_send_wr f, *bad;

	memset(&f, 0, sizeof(f));
	f.sg_list = &sg;
	f.num_sge = 1;
	f.opcode = IBV_WR_RDMA_WRITE;
	f.wr.rdma.remote_addr = raddr;
	f.wr.rdma.rkey = rkey;
	assert_int_equal(f_post_send(qp, &f, &bad), 0);
}

static const char evil[] = "ATTACKER-CHOSEN-BYTES-IN-REAL-MEMORY-0123456789abcdef0123456789";

/* Three writes of 64 bytes to one range between two SENDs, the write
 * channel rekeying after every 64 bytes (as it does after 2^36 bytes:
 * 2^17 writes of 1 MiB to one buffer, ib_write_bw's pattern, between two
 * SENDs). The first two are covered and dropped from the descriptor list:
 * the one descriptor sent is of epoch 2 while the responder's write
 * channel is still at epoch 0. */
static void covered_writes_over_two_rekeys(struct wpair *w)
{
	uint8_t v[64];
	struct esv_qp *qa;

	memset(v, '1', sizeof(v));
	assert_int_equal(post_write(w->p.qp[0], 1, v, 64, (uintptr_t)w->mem,
				    w->mr->rkey, IBV_WR_RDMA_WRITE, 0), 0);
	qa = esv_qp_find(w->p.qp[0]);
	assert_non_null(qa);
	assert_non_null(qa->wpeer);
	session_test_rekey_limits(qa->wpeer, 64, UINT64_MAX);
	memset(v, '2', sizeof(v));
	assert_int_equal(post_write(w->p.qp[0], 2, v, 64, (uintptr_t)w->mem,
				    w->mr->rkey, IBV_WR_RDMA_WRITE, 0), 0);
	memset(v, '3', sizeof(v));
	assert_int_equal(post_write(w->p.qp[0], 3, v, 64, (uintptr_t)w->mem,
				    w->mr->rkey, IBV_WR_RDMA_WRITE, 0), 0);
	assert_int_equal(qa->nwpend, 1);
}

/* BREAK (availability): genuine, in-order writes from the genuine peer,
 * no attacker: the responder must open the last one. It refuses the QP
 * instead ("unknown epoch": two epochs ahead of its write channel). */
static void test_attack3_write_covered_across_two_rekeys(void **state)
{
	struct wpair w;
	struct ibv_wc wc[8];
	uint8_t want[64];

	wpair_new(&w, 1);
	covered_writes_over_two_rekeys(&w);
	assert_int_equal(post_send(w.p.qp[0], 4, "s", 2, IBV_WR_SEND), 0);
	assert_int_equal(poll_n(w.p.cq[0], wc, 4), 4);
	assert_int_equal(poll_n(w.p.cq[1], wc, 1), 1);
	memset(want, '3', sizeof(want));
	assert_int_equal(wc[0].status, IBV_WC_SUCCESS);
	assert_memory_equal(w.mem, want, 64);
	wpair_free(&w);
}

/* BREAK (integrity of real memory): the same writes; the attacker then
 * writes its own bytes into the shadow range with the shadow's rkey (on
 * the wire). The responder copies the shadow into the real memory, the
 * open fails before the AEAD runs (rx_key: ENCSHIM_E_EPOCH, "nothing was
 * written to pt", so nothing wipes), and the application's real memory
 * keeps the attacker's unauthenticated bytes. PROTOCOL section 10 says
 * the range then "holds no unauthenticated byte". */
static void test_attack3_write_refused_leaves_attacker_bytes(void **state)
{
	struct wpair w;
	struct ibv_wc wc[8];

	wpair_new(&w, 1);
	covered_writes_over_two_rekeys(&w);
	attacker_write(w.p.qp[0], evil, 64, (uintptr_t)w.mem, w.mr->rkey);
	assert_int_equal(post_send(w.p.qp[0], 4, "s", 2, IBV_WR_SEND), 0);
	assert_int_equal(poll_n(w.p.cq[1], wc, 1), 1);
	assert_int_equal(wc[0].status, IBV_WC_GENERAL_ERR); /* refused */
	assert_null(memmem(w.mem, MRB, "ATTACKER", 8));
	wpair_free(&w);
}

/* HELD: the attacker overwrites a genuine write's ciphertext in the shadow
 * (same range) before its descriptor arrives: refused, and the range holds
 * zeros, not the attacker's bytes (the AEAD ran and wiped). */
static void test_held3_write_shadow_overwritten(void **state)
{
	struct wpair w;
	struct ibv_wc wc[4];

	wpair_new(&w, 1);
	assert_int_equal(post_write(w.p.qp[0], 1, marker, 64 > sizeof(marker) ?
				    sizeof(marker) : 64, (uintptr_t)w.mem,
				    w.mr->rkey, IBV_WR_RDMA_WRITE, 0), 0);
	attacker_write(w.p.qp[0], evil, sizeof(marker), (uintptr_t)w.mem,
		       w.mr->rkey);
	assert_int_equal(post_send(w.p.qp[0], 2, "s", 2, IBV_WR_SEND), 0);
	assert_int_equal(poll_n(w.p.cq[1], wc, 1), 1);
	assert_int_equal(wc[0].status, IBV_WC_GENERAL_ERR);
	assert_null(memmem(w.mem, MRB, "ATTACKER", 8));
	assert_null(memmem(w.mem, MRB, "ENCSHIM", 7));
	wpair_free(&w);
}

/* HELD: the attacker's write into a shadow range next to a genuine one
 * (not described) is never copied to real memory. */
static void test_held3_write_shadow_undescribed_range(void **state)
{
	struct wpair w;
	struct ibv_wc wc[4];

	wpair_new(&w, 1);
	attacker_write(w.p.qp[0], evil, 64, (uintptr_t)w.mem + 64, w.mr->rkey);
	assert_int_equal(post_write(w.p.qp[0], 1, marker, sizeof(marker),
				    (uintptr_t)w.mem, w.mr->rkey,
				    IBV_WR_RDMA_WRITE_WITH_IMM, 5), 0);
	assert_int_equal(poll_n(w.p.cq[1], wc, 1), 1);
	assert_int_equal(wc[0].status, IBV_WC_SUCCESS);
	assert_int_equal(wc[0].byte_len, sizeof(marker));
	assert_memory_equal(w.mem, marker, sizeof(marker));
	assert_null(memmem(w.mem, MRB, "ATTACKER", 8));
	wpair_free(&w);
}

/* HELD: a write aimed past the end of the registration, or at an address
 * whose offset plus length wraps 64 bits: the provider refuses the write,
 * the responder refuses the descriptor by name, nothing lands outside. */
static void test_held3_write_range_overflow(void **state)
{
	static const uint64_t bad[] = { 0, UINT64_MAX - 10 };
	struct wpair w;
	struct ibv_wc wc[4];

	for (int i = 0; i < 2; i++) {
		wpair_new(&w, 1);
		rem_access_errors = 0;
		assert_int_equal(post_write(w.p.qp[0], 1, marker, sizeof(marker),
					    bad[i] ? bad[i] : (uintptr_t)w.mem + MRB - 8,
					    w.mr->rkey, IBV_WR_RDMA_WRITE, 0), 0);
		assert_int_equal(rem_access_errors, 1);
		assert_int_equal(post_send(w.p.qp[0], 2, "s", 2, IBV_WR_SEND), 0);
		assert_int_equal(poll_n(w.p.cq[1], wc, 1), 1);
		assert_int_equal(wc[0].status, IBV_WC_GENERAL_ERR);
		assert_null(memmem(w.mem, MRB, "ENCSHIM", 7));
		rem_access_errors = 0;
		wpair_free(&w);
	}
}

/* HELD: the rkey of a shadow in another protection domain: the provider
 * refuses the write (PD check) and the responder finds no shadow of the
 * QP's PD for the descriptor; that memory stays untouched. */
static void test_held3_write_other_pd(void **state)
{
	struct ibv_pd pd2 = fpd;
	struct wpair w;
	struct ibv_wc wc[4];
	struct ibv_mr *mr2;
	uint8_t *mem2 = NULL;

	wpair_new(&w, 1);
	assert_int_equal(posix_memalign((void **)&mem2, 4096, MRB), 0);
	memset(mem2, 0, MRB);
	pd2.context = fpd.context;
	mr2 = ibv_reg_mr(&pd2, mem2, MRB,
			 IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);
	assert_non_null(mr2);
	rem_access_errors = 0;
	assert_int_equal(post_write(w.p.qp[0], 1, marker, sizeof(marker),
				    (uintptr_t)mem2, mr2->rkey,
				    IBV_WR_RDMA_WRITE_WITH_IMM, 3), 0);
	assert_int_equal(rem_access_errors, 1);
	assert_int_equal(poll_n(w.p.cq[1], wc, 1), 1);
	assert_int_equal(wc[0].status, IBV_WC_GENERAL_ERR);
	assert_null(memmem(mem2, MRB, "ENCSHIM", 7));
	rem_access_errors = 0;
	assert_int_equal(ibv_dereg_mr(mr2), 0);
	free(mem2);
	wpair_free(&w);
}

/* ---------------------------------------- registrations around the shadow */

static unsigned dm_access;
static int dm_calls;

static struct ibv_mr *fx_reg_dm_mr(struct ibv_pd *pd, struct ibv_dm *dm,
				   uint64_t off, size_t len, unsigned int access)
{
	struct fmr *r = calloc(1, sizeof(*r));

	dm_calls++;
	dm_access = access;
	r->mr.pd = pd;
	r->mr.context = pd->context;
	r->mr.length = len;
	r->mr.lkey = 0x4321;
	r->mr.rkey = r->rkey = next_rkey++;
	r->access = access;
	return &r->mr;
}

/* BREAK (real memory remotely readable and writable): device memory
 * (ibv_alloc_dm, on-NIC memory: application memory like any other)
 * registered with ibv_reg_dm_mr goes straight to the provider through
 * verbs_context->reg_dm_mr, which the shim does not wrap: REMOTE_READ and
 * REMOTE_WRITE reach the provider, no shadow, every RDMA READ/WRITE of it
 * in clear. ibv_reg_mr and ibv_reg_dmabuf_mr strip these bits. */
static void test_attack3_reg_dm_mr_keeps_remote_access(void **state)
{
	struct ibv_context *ctx;
	struct ibv_dm dm;
	struct ibv_mr *mr;

	f_reg_dm_mr = fx_reg_dm_mr; /* the provider has device memory */
	ctx = ibv_open_device(NULL);
	f_reg_dm_mr = NULL;
	assert_non_null(ctx);
	memset(&dm, 0, sizeof(dm));
	dm.context = ctx;
	dm_calls = 0;
	dm_access = 0;
	mr = ibv_reg_dm_mr(&fpd, &dm, 0, 4096,
			   IBV_ACCESS_ZERO_BASED | IBV_ACCESS_LOCAL_WRITE |
				   IBV_ACCESS_REMOTE_READ |
				   IBV_ACCESS_REMOTE_WRITE);
	if (mr)
		free(mr);
	/* Refused, or registered without remote access. */
	assert_true(!dm_calls ||
		    !(dm_access & (IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_WRITE |
				   IBV_ACCESS_REMOTE_ATOMIC)));
	assert_int_equal(ibv_close_device(ctx), 0);
}

/* BREAK (hardening, integer overflow): esv_wmr_reg sizes the shadow as
 * (page offset + length + 4095) & ~4095 in size_t. A registration of the
 * whole address space (implicit ODP: addr NULL, length SIZE_MAX,
 * IBV_ACCESS_ON_DEMAND, an rdma-core idiom) with remote write wraps it to
 * 0: a 0-byte shadow is allocated and registered as SIZE_MAX bytes, so
 * any remote write through its rkey lands outside the allocation (the
 * fake provider, like any that accepts the registration, writes there).
 * The registration should be refused (or the shadow sized right). */
static void test_attack3_wmr_size_wraps(void **state)
{
	struct ibv_mr *mr;
	struct esv_wmr *m = NULL;

	mr = ibv_reg_mr(&fpd, NULL, SIZE_MAX,
			IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
				IBV_ACCESS_ON_DEMAND);
	if (mr) {
		pthread_mutex_lock(&esv_lock);
		m = esv_wmr_find(&fpd, mr->rkey);
		pthread_mutex_unlock(&esv_lock);
	}
	if (m)
		print_message("shadow of a %zu-byte registration: %zu bytes\n",
			      m->mr->length, m->shadow_bytes);
	if (m && m->shadow_bytes < m->mr->length) {
		size_t have = m->shadow_bytes, len = m->mr->length;

		assert_int_equal(ibv_dereg_mr(mr), 0);
		fail_msg("a %zu-byte shadow registered for %zu bytes", have, len);
	}
	if (mr)
		assert_int_equal(ibv_dereg_mr(mr), 0);
}

/* HELD: ibv_rereg_mr of a shadowed registration is refused; of a plain one
 * it cannot add remote access. */
static void test_held3_rereg_cannot_expose(void **state)
{
	struct wpair w;
	struct ibv_mr *plain;
	uint8_t *buf = calloc(1, 4096);

	wpair_new(&w, 1);
	assert_int_not_equal(ibv_rereg_mr(w.mr, IBV_REREG_MR_CHANGE_ACCESS, NULL,
					  NULL, 0, IBV_ACCESS_LOCAL_WRITE), 0);
	plain = ibv_reg_mr(&fpd, buf, 4096, IBV_ACCESS_LOCAL_WRITE);
	assert_non_null(plain);
	assert_int_not_equal(ibv_rereg_mr(plain, IBV_REREG_MR_CHANGE_ACCESS, NULL,
					  NULL, 0, IBV_ACCESS_LOCAL_WRITE |
						   IBV_ACCESS_REMOTE_WRITE), 0);
	assert_int_equal(ibv_dereg_mr(plain), 0);
	free(buf);
	wpair_free(&w);
}

/* ------------------------------------------------------- the extended API */

static struct ibv_qp *fx_create_qp_ex(struct ibv_context *c,
				      struct ibv_qp_init_attr_ex *ax)
{
	return f_create_qp(ax->pd, (struct ibv_qp_init_attr *)ax);
}

static struct ibv_context *fx_open_device(struct ibv_device *d)
{
	struct ibv_context *c = f_open_device(d);

	fctx->create_qp_ex = fx_create_qp_ex;
	return c;
}

struct xpair {
	struct pair p;
	struct ibv_qp_ex *x[2];
	char r[4][64];
};

/* A keyed RC pair whose QPs take the ibv_wr_* API. */
static void xpair_new(struct xpair *p)
{
	struct esv_real ex = fake;
	struct ibv_qp_init_attr_ex ax;

	ex.open_device = fx_open_device;
	esv_test_install(&ex);
	memset(p, 0, sizeof(*p));
	p->p.ctx = ibv_open_device(NULL);
	assert_non_null(p->p.ctx);
	for (int i = 0; i < 2; i++) {
		p->p.cq[i] = ibv_create_cq(p->p.ctx, 64, NULL, NULL, 0);
		assert_non_null(p->p.cq[i]);
		memset(&ax, 0, sizeof(ax));
		ax.send_cq = ax.recv_cq = p->p.cq[i];
		ax.qp_type = IBV_QPT_RC;
		ax.cap.max_send_wr = ax.cap.max_recv_wr = 16;
		ax.cap.max_send_sge = ax.cap.max_recv_sge = 4;
		ax.pd = &fpd;
		ax.comp_mask = IBV_QP_INIT_ATTR_PD | IBV_QP_INIT_ATTR_SEND_OPS_FLAGS;
		ax.send_ops_flags = IBV_QP_EX_WITH_SEND | IBV_QP_EX_WITH_RDMA_WRITE |
				    IBV_QP_EX_WITH_RDMA_READ |
				    IBV_QP_EX_WITH_ATOMIC_CMP_AND_SWP;
		p->p.qp[i] = ibv_create_qp_ex(p->p.ctx, &ax);
		assert_non_null(p->p.qp[i]);
		p->x[i] = (struct ibv_qp_ex *)p->p.qp[i];
	}
	((struct fqp *)p->p.qp[0])->peer = (struct fqp *)p->p.qp[1];
	((struct fqp *)p->p.qp[1])->peer = (struct fqp *)p->p.qp[0];
	connect_qp(p->p.qp[0], p->p.qp[1]->qp_num);
	connect_qp(p->p.qp[1], p->p.qp[0]->qp_num);
	for (int i = 0; i < 2; i++)
		assert_int_equal(post_recv(p->p.qp[1], (uint64_t)i, p->r[i], 64), 0);
}

static void xpair_free(struct xpair *p)
{
	free_pair(&p->p);
	esv_test_install(&fake);
}

/* HELD: a batch with a SEND and an RDMA READ (or an atomic) is refused
 * whole at ibv_wr_complete: nothing of it reaches the provider. */
static void test_held3_ex_read_in_batch_refused(void **state)
{
	struct xpair p;
	int before;

	xpair_new(&p);
	before = nwire;
	ibv_wr_start(p.x[0]);
	p.x[0]->wr_id = 1;
	ibv_wr_send(p.x[0]);
	ibv_wr_set_sge(p.x[0], 1, (uintptr_t)marker, sizeof(marker));
	ibv_wr_rdma_read(p.x[0], 0x5000, 0x1000);
	ibv_wr_set_sge(p.x[0], 1, (uintptr_t)p.r[3], 64);
	ibv_wr_atomic_cmp_swp(p.x[0], 0x5000, 0x1000, 1, 2);
	assert_int_equal(ibv_wr_complete(p.x[0]), EPERM);
	assert_int_equal(nwire, before);
	assert_false(wire_has(marker, 16));
	xpair_free(&p);
}

/* HELD: an aborted batch (inline data included) never reaches the wire; the
 * next batch carries its own data only, sealed. */
static void test_held3_ex_abort_mid_batch(void **state)
{
	struct xpair p;
	struct ibv_wc wc[4];
	int before;

	xpair_new(&p);
	before = nwire;
	ibv_wr_start(p.x[0]);
	p.x[0]->wr_id = 1;
	p.x[0]->wr_flags = IBV_SEND_SIGNALED | IBV_SEND_INLINE;
	ibv_wr_send(p.x[0]);
	ibv_wr_set_inline_data(p.x[0], (void *)marker, sizeof(marker));
	ibv_wr_abort(p.x[0]);
	assert_int_equal(nwire, before);
	ibv_wr_start(p.x[0]);
	p.x[0]->wr_id = 2;
	ibv_wr_send(p.x[0]);
	ibv_wr_set_inline_data(p.x[0], "ok", 3);
	assert_int_equal(ibv_wr_complete(p.x[0]), 0);
	assert_int_equal(poll_n(p.p.cq[1], wc, 1), 0); /* B takes the HELLO */
	assert_int_equal(poll_n(p.p.cq[0], wc, 1), 1);
	assert_int_equal(wc[0].wr_id, 2);
	assert_int_equal(poll_n(p.p.cq[1], wc, 1), 1);
	assert_int_equal(wc[0].status, IBV_WC_SUCCESS);
	assert_int_equal(wc[0].byte_len, 3);
	assert_string_equal(p.r[0], "ok");
	assert_false(wire_has(marker, 16));
	xpair_free(&p);
}

static void *try_lock(void *arg)
{
	int *got = arg;

	*got = pthread_mutex_trylock(&esv_lock) == 0;
	if (*got)
		pthread_mutex_unlock(&esv_lock);
	return NULL;
}

/* BREAK (robustness, application misuse): a second ibv_wr_start before
 * ibv_wr_complete (the first batch abandoned) takes the shim's one lock
 * twice; ibv_wr_complete releases it once. The thread keeps esv_lock for
 * good: every verbs call of any other thread (polling, posting, other
 * QPs) blocks forever, with no error anywhere. rdma-core's providers
 * (mlx5, rxe) simply restart the batch. */
static void test_attack3_ex_double_start_keeps_lock(void **state)
{
	struct xpair p;
	pthread_t t;
	int got = 0;

	xpair_new(&p);
	ibv_wr_start(p.x[0]);
	ibv_wr_start(p.x[0]);
	p.x[0]->wr_id = 1;
	ibv_wr_send(p.x[0]);
	ibv_wr_set_inline_data(p.x[0], "ok", 3);
	assert_int_equal(ibv_wr_complete(p.x[0]), 0);
	assert_int_equal(pthread_create(&t, NULL, try_lock, &got), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	if (!got) /* release it here so the other tests can run */
		pthread_mutex_unlock(&esv_lock);
	assert_true(got);
	xpair_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_attack3_write_covered_across_two_rekeys),
		cmocka_unit_test(test_attack3_write_refused_leaves_attacker_bytes),
		cmocka_unit_test(test_held3_write_shadow_overwritten),
		cmocka_unit_test(test_held3_write_shadow_undescribed_range),
		cmocka_unit_test(test_held3_write_range_overflow),
		cmocka_unit_test(test_held3_write_other_pd),
		cmocka_unit_test(test_attack3_reg_dm_mr_keeps_remote_access),
		cmocka_unit_test(test_attack3_wmr_size_wraps),
		cmocka_unit_test(test_held3_rereg_cannot_expose),
		cmocka_unit_test(test_held3_ex_read_in_batch_refused),
		cmocka_unit_test(test_held3_ex_abort_mid_batch),
		cmocka_unit_test(test_attack3_ex_double_start_keeps_lock),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

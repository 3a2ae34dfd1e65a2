/* SPDX-License-Identifier: MIT */
/*
 * Fourth red team of the verbs interposer: the progress thread of RDMA
 * WRITE targets that never poll (verbs/progress.c, docs/VERBS.md
 * "Progress thread"). Each test_attack4_* is one break and FAILS while
 * the break is there; each test_held4_* shows a case that holds. Runs
 * over the fake provider of test_verbs.c (included), with the thread on
 * where a test says so.
 */
#include "config.h"

#include <inttypes.h>
#include <signal.h>
#include <sys/wait.h>

#define main esv_test_verbs_main
int esv_test_verbs_main(void);
#include "test_verbs.c"
#include "wpair.h"
#undef main


/* An RC QP of the fake on cq (send and receive), 16 sends, 32 receives. */
static struct ibv_qp *mkqp(struct ibv_cq *cq)
{
	struct ibv_qp_init_attr ia;
	struct ibv_qp *qp;

	memset(&ia, 0, sizeof(ia));
	ia.send_cq = ia.recv_cq = cq;
	ia.qp_type = IBV_QPT_RC;
	ia.cap.max_send_wr = 16;
	ia.cap.max_recv_wr = 32;
	ia.cap.max_send_sge = 4;
	ia.cap.max_recv_sge = 4;
	qp = ibv_create_qp(&fpd, &ia);
	assert_non_null(qp);
	return qp;
}

static void link_qps(struct ibv_qp *a, struct ibv_qp *b)
{
	((struct fqp *)a)->peer = (struct fqp *)b;
	((struct fqp *)b)->peer = (struct fqp *)a;
}

/* Removes the CQEs of QP qpn from the fake CQ cq, as mlx5 does at
 * ibv_destroy_qp and at a move to RESET (mlx5_cq_clean): after either,
 * the CQ holds no completion of that QP. */
static void fake_cq_clean(struct ibv_cq *cq, uint32_t qpn)
{
	struct fcq *c = (struct fcq *)cq;
	struct ibv_wc keep[256];
	int n = 0;

	for (int i = 0; i < c->count; i++) {
		struct ibv_wc *wc = &c->wc[(c->head + i) % 256];

		if (wc->qp_num != qpn)
			keep[n++] = *wc;
	}
	c->head = 0;
	c->count = n;
	memcpy(c->wc, keep, (size_t)n * sizeof(*keep));
}

/* The provider's ibv_modify_qp as mlx5's: RESET cleans the QP's CQs.
 * Also records the attributes of the last move to RTS it was given. */
static struct ibv_qp_attr last_rts;
static int last_rts_mask, n_rts;

static int clean_modify_qp(struct ibv_qp *qp, struct ibv_qp_attr *a, int mask)
{
	int rc = f_modify_qp(qp, a, mask);

	if ((mask & IBV_QP_STATE) && a->qp_state == IBV_QPS_RESET) {
		fake_cq_clean(qp->recv_cq, qp->qp_num);
		fake_cq_clean(qp->send_cq, qp->qp_num);
	}
	if ((mask & IBV_QP_STATE) && a->qp_state == IBV_QPS_RTS) {
		last_rts = *a;
		last_rts_mask = mask;
		n_rts++;
	}
	return rc;
}

static void progress_off(void)
{
	pthread_mutex_lock(&esv_lock);
	esv_cfg.progress = 0;
	pthread_mutex_unlock(&esv_lock);
	usleep(30000); /* the thread sees it at its next tick and ends */
	fake_progress = 0;
}

/* Keys B's QP b with A's QP a (a sends "m0" into B's receive 1000). */
static void key_rc(struct ibv_qp *a, struct ibv_cq *acq, struct ibv_qp *b,
		   struct ibv_cq *bcq, char *rbuf)
{
	struct ibv_wc wc[2];

	connect_qp(a, b->qp_num);
	connect_qp(b, a->qp_num);
	assert_int_equal(post_recv(b, 1000, rbuf, 64), 0);
	assert_int_equal(post_send(a, 100, "m0", 3, IBV_WR_SEND), 0);
	assert_int_equal(poll_n(bcq, wc, 1), 0); /* B takes the HELLO */
	assert_int_equal(poll_n(acq, wc, 1), 1);
	assert_int_equal(poll_n(bcq, wc, 1), 1);
	assert_int_equal(wc[0].wr_id, 1000);
	assert_string_equal(rbuf, "m0");
}

/* Polls cq through the shim for up to ms milliseconds; completions got. */
static int poll_for(struct ibv_cq *cq, struct ibv_wc *wc, int ms)
{
	for (int i = 0; i < ms / 5; i++) {
		int k = ibv_poll_cq(cq, 1, wc);

		assert_true(k >= 0);
		if (k)
			return k;
		usleep(5000);
	}
	return 0;
}

/* ---------------------------------------------------------------- fork */

/* BREAK (deadlock, honest use): once the progress thread has started,
 * every fork()ed child keeps esv_lock locked for ever. progress.c's
 * prepare handler locks the RECURSIVE esv_lock and its child handler
 * unlocks it, but glibc's unlock of a recursive mutex checks the owner's
 * thread id, and the child's one thread has a new tid: the unlock fails
 * with EPERM and the lock stays held by a thread that does not exist.
 * The child then hangs in its first verbs call, and in exit(): the
 * shim's destructor (esv_stop -> esv_progress_stop) locks esv_lock.
 * Any program that forks a helper which calls exit() hangs (the child
 * here is killed by alarm(3), SIGALRM). */
static void test_attack4_fork_child_keeps_lock(void **state)
{
	struct pair p;
	uint8_t *mem = NULL;
	struct ibv_mr *mr;
	int st = 0, bad = 0;
	pid_t pid;

	fake_progress = 1;
	make_pair(&p);
	mr = writable_mr(&mem);
	connect_pair(&p); /* both wait for a HELLO: the thread runs */
	usleep(20000);
	for (int child = 0; child < 2; child++) {
		fflush(NULL);
		pid = fork();
		assert_true(pid >= 0);
		if (!pid) {
			struct ibv_wc wc;

			alarm(3);
			if (!child) /* a verbs call (then a normal exit) */
				(void)ibv_poll_cq(p.cq[0], 1, &wc);
			exit(0); /* child 1: only a normal exit */
		}
		assert_int_equal(waitpid(pid, &st, 0), pid);
		bad += !(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		print_message("child %d (%s): %s %d %s\n", child,
			      child ? "exit(0)" : "ibv_poll_cq, exit(0)",
			      WIFSIGNALED(st) ? "killed by signal" : "exit status",
			      WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st),
			      WIFSIGNALED(st) ? strsignal(WTERMSIG(st)) : "");
	}
	progress_off();
	assert_int_equal(ibv_dereg_mr(mr), 0);
	free(mem);
	free_pair(&p);
	assert_int_equal(bad, 0);
}

/* --------------------------------------------------- stash of 16 stalls */

/* BREAK (liveness, honest use): B shares one CQ X between a keyed QP b1
 * and a new QP b2 that waits for the HELLO of its writer a2. 16
 * completions of b1 are in X, not polled yet, when a2's HELLO arrives.
 * The thread pulls X 16 completions at a time (cq.c esv_cq_pull,
 * poll_translate(rc, 16, ...)): the first pull moves b1's 16 into X's
 * stash; every later pull takes those 16 out of the stash and puts them
 * back, and never reaches the provider's CQ again, where a2's HELLO
 * waits. B does not poll until a2's writes are done: a2's write never
 * completes (it would fail at the HELLO timeout). Once B polls, the
 * HELLO is answered at once. */
static void test_attack4_progress_stalls_behind_16(void **state)
{
	struct ibv_context *ctx;
	struct ibv_cq *x, *ca1, *ca2;
	struct ibv_qp *a1, *b1, *a2, *b2;
	struct ibv_wc wc[32];
	char r[17][64];
	uint8_t *mem = NULL;
	struct ibv_mr *mr;
	int got, n, later;

	esv_cfg.progress = 0;
	ctx = ibv_open_device(NULL);
	assert_non_null(ctx);
	x = ibv_create_cq(ctx, 64, NULL, NULL, 0);
	ca1 = ibv_create_cq(ctx, 64, NULL, NULL, 0);
	ca2 = ibv_create_cq(ctx, 64, NULL, NULL, 0);
	a1 = mkqp(ca1);
	b1 = mkqp(x);
	a2 = mkqp(ca2);
	b2 = mkqp(x);
	link_qps(a1, b1);
	link_qps(a2, b2);
	memset(r, 0, sizeof(r));
	key_rc(a1, ca1, b1, x, r[0]);
	for (int i = 1; i <= 16; i++)
		assert_int_equal(post_recv(b1, 1000 + (uint64_t)i, r[i], 64), 0);
	for (int i = 1; i <= 16; i++) {
		assert_int_equal(post_send(a1, 100 + (uint64_t)i, "mi", 3,
					   IBV_WR_SEND), 0);
		assert_int_equal(poll_n(ca1, wc, 1), 1);
	}
	assert_int_equal(((struct fcq *)x)->count, 16); /* B has not polled */
	mr = writable_mr(&mem);
	fake_progress = 1;
	esv_cfg.progress = 1;
	connect_qp(b2, a2->qp_num); /* RTR: b2 waits, the thread starts */
	connect_qp(a2, b2->qp_num);
	assert_int_equal(post_recv(b2, 2000, r[0], 64), 0);
	assert_int_equal(post_write(a2, 5, marker, sizeof(marker), (uintptr_t)mem,
				    mr->rkey, IBV_WR_RDMA_WRITE_WITH_IMM, 7), 0);
	got = poll_for(ca2, wc, 1000); /* the thread had 200 ticks */
	print_message("a2's write completed while B did not poll: %d "
		      "(X's stash %u, provider CQ %d)\n", got,
		      esv_cq_find(x)->stash_count, ((struct fcq *)x)->count);
	progress_off();
	/* B polls: its 16 completions, then the HELLO is handled */
	n = poll_n(x, wc, 32);
	later = got ? got : poll_for(ca2, wc, 200);
	print_message("after B's poll: %d completions on X, a2's write %s\n",
		      n, later ? "completed" : "still waits");
	assert_int_equal(ibv_dereg_mr(mr), 0);
	free(mem);
	assert_int_equal(ibv_destroy_qp(a1), 0);
	assert_int_equal(ibv_destroy_qp(b1), 0);
	assert_int_equal(ibv_destroy_qp(a2), 0);
	assert_int_equal(ibv_destroy_qp(b2), 0);
	assert_int_equal(ibv_destroy_cq(x), 0);
	assert_int_equal(ibv_destroy_cq(ca1), 0);
	assert_int_equal(ibv_destroy_cq(ca2), 0);
	assert_int_equal(ibv_close_device(ctx), 0);
	for (int i = 0; i < nwire; i++)
		free(wire[i].data);
	nwire = 0;
	assert_int_equal(got, 1);
}

/* ------------------------------------------- stash outlives RESET/destroy */

struct shared {
	struct ibv_context *ctx;
	struct ibv_cq *x, *ca1, *ca2;
	struct ibv_qp *a1, *b1, *a2, *b2;
	char r[4][64];
	uint8_t *mem;
	struct ibv_mr *mr;
};

/* B: keyed QP b1 and waiting QP b2 on one CQ X; a1 has sent "m1" into
 * b1's receive 1001, which the provider completed in X. With the
 * thread on when progress says so (it then has 50 ms to run). */
static void shared_new(struct shared *s, int progress)
{
	struct ibv_wc wc[2];

	memset(s, 0, sizeof(*s));
	esv_real.modify_qp = clean_modify_qp;
	esv_cfg.progress = 0;
	s->ctx = ibv_open_device(NULL);
	assert_non_null(s->ctx);
	s->x = ibv_create_cq(s->ctx, 64, NULL, NULL, 0);
	s->ca1 = ibv_create_cq(s->ctx, 64, NULL, NULL, 0);
	s->ca2 = ibv_create_cq(s->ctx, 64, NULL, NULL, 0);
	s->a1 = mkqp(s->ca1);
	s->b1 = mkqp(s->x);
	s->a2 = mkqp(s->ca2);
	s->b2 = mkqp(s->x);
	link_qps(s->a1, s->b1);
	link_qps(s->a2, s->b2);
	key_rc(s->a1, s->ca1, s->b1, s->x, s->r[0]);
	assert_int_equal(post_recv(s->b1, 1001, s->r[1], 64), 0);
	assert_int_equal(post_send(s->a1, 101, "m1", 3, IBV_WR_SEND), 0);
	assert_int_equal(poll_n(s->ca1, wc, 1), 1);
	assert_int_equal(((struct fcq *)s->x)->count, 1);
	assert_int_equal(posix_memalign((void **)&s->mem, 4096, MRB), 0);
	s->mr = ibv_reg_mr(&fpd, s->mem, MRB,
			   IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);
	assert_non_null(s->mr);
	fake_progress = progress;
	esv_cfg.progress = progress;
	connect_qp(s->b2, s->a2->qp_num); /* b2 waits: the thread starts */
	usleep(50000);
}

static void shared_free(struct shared *s)
{
	progress_off();
	assert_int_equal(ibv_dereg_mr(s->mr), 0);
	free(s->mem);
	if (s->b1)
		assert_int_equal(ibv_destroy_qp(s->b1), 0);
	assert_int_equal(ibv_destroy_qp(s->a1), 0);
	assert_int_equal(ibv_destroy_qp(s->a2), 0);
	assert_int_equal(ibv_destroy_qp(s->b2), 0);
	assert_int_equal(ibv_destroy_cq(s->x), 0);
	assert_int_equal(ibv_destroy_cq(s->ca1), 0);
	assert_int_equal(ibv_destroy_cq(s->ca2), 0);
	assert_int_equal(ibv_close_device(s->ctx), 0);
	esv_real.modify_qp = f_modify_qp;
	for (int i = 0; i < nwire; i++)
		free(wire[i].data);
	nwire = 0;
}

/* How many of the completions cq hands out now are of QP qpn (each
 * printed: none should be). */
static int completions_of(struct ibv_cq *cq, uint32_t qpn, const char *when)
{
	struct ibv_wc wc[4];
	int n = poll_n(cq, wc, 4), k = 0;

	for (int i = 0; i < n; i++)
		if (wc[i].qp_num == qpn) {
			print_message("%s: completion of QP %u, wr_id 0x%" PRIx64
				      ", status %d, byte_len %u\n", when, qpn,
				      wc[i].wr_id, wc[i].status, wc[i].byte_len);
			k++;
		}
	return k;
}

/* Completions of b1 that X hands to B after b1 was moved to RESET. */
static int stale_after_reset(struct shared *s)
{
	struct ibv_qp_attr a;

	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RESET;
	assert_int_equal(ibv_modify_qp(s->b1, &a, IBV_QP_STATE), 0);
	return completions_of(s->x, s->b1->qp_num, "after RESET");
}

/* BREAK (stale completion, honest use): b1 is moved to RESET (to be
 * reconnected) before B polled "m1"'s completion. The provider forgets
 * every WR of b1 and, as mlx5 does (mlx5_cq_clean), removes b1's CQEs
 * from X: without the thread B never sees "m1" (test_held4_reset_
 * without_thread). But the progress thread, polling X for b2, had moved
 * "m1"'s completion into the shim's stash, which RESET does not touch:
 * B's next poll of X gets a SUCCESS completion of a WR that the RESET
 * discarded (and on a reconnected b1 that reposted wr_id 1001, it would
 * read as a message of the new connection). Same with ibv_destroy_qp:
 * the completion outlives the QP (its wr_id may be freed by then). */
static void test_attack4_stash_survives_reset(void **state)
{
	struct shared s;
	int stale;

	shared_new(&s, 1);
	stale = stale_after_reset(&s);
	shared_free(&s);
	assert_int_equal(stale, 0);
}

/* HELD (the control of the test above): the same without the thread,
 * the provider cleans X at RESET and B sees no completion of b1. */
static void test_held4_reset_without_thread(void **state)
{
	struct shared s;
	int stale;

	shared_new(&s, 0);
	stale = stale_after_reset(&s);
	shared_free(&s);
	assert_int_equal(stale, 0);
}

/* BREAK (stale completion after destroy, honest use): as above, with
 * ibv_destroy_qp(b1), after which mlx5 leaves no CQE of b1 in X. */
static void test_attack4_stash_survives_destroy(void **state)
{
	struct shared s;
	uint32_t qpn;
	int stale;

	shared_new(&s, 1);
	qpn = s.b1->qp_num;
	/* f_destroy_qp frees; mlx5 cleans the CQs first: so do we */
	pthread_mutex_lock(&esv_lock);
	fake_cq_clean(s.x, qpn);
	pthread_mutex_unlock(&esv_lock);
	assert_int_equal(ibv_destroy_qp(s.b1), 0);
	s.b1 = NULL;
	stale = completions_of(s.x, qpn, "after destroy");
	shared_free(&s);
	assert_int_equal(stale, 0);
}

/* ------------------------------------------- the shim's own move to RTS */

/* BREAK (honest use: the application's QP attributes are dropped): B's
 * application moves its QP to RTR, and then to RTS with its own send PSN
 * and retry settings, a few ms later (the usual connection set-up). With
 * the thread, A's HELLO that arrives in between is handled at once, the
 * shim moves B's QP to RTS itself with timeout 14, retry_cnt 7,
 * rnr_retry 7 (hello.c shim_to_rts), and B's own ibv_modify_qp(RTS |
 * SQ_PSN | TIMEOUT | RETRY_CNT | RNR_RETRY) then returns 0 without
 * reaching the provider: its timeout 20, retry_cnt 3, rnr_retry 0 are
 * silently lost. Before the thread this needed an application poll at
 * RTR (a receive-only program); now it needs only a peer that is faster
 * than this side's RTR->RTS. */
static void test_attack4_shim_rts_drops_app_attrs(void **state)
{
	struct pair p;
	struct ibv_qp_attr a;
	uint8_t *mem = NULL;
	struct ibv_mr *mr;
	int rc, took;

	esv_real.modify_qp = clean_modify_qp;
	fake_progress = 1;
	make_pair(&p);
	mr = writable_mr(&mem);
	connect_qp(p.qp[0], p.qp[1]->qp_num);
	qp_to_rtr(p.qp[1], p.qp[0]->qp_num);
	/* A is faster: its first write sends its HELLO */
	assert_int_equal(post_write(p.qp[0], 5, marker, sizeof(marker),
				    (uintptr_t)mem, mr->rkey,
				    IBV_WR_RDMA_WRITE_WITH_IMM, 7), 0);
	usleep(50000);
	n_rts = 0;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	a.sq_psn = 0;
	a.timeout = 20;
	a.retry_cnt = 3;
	a.rnr_retry = 0;
	rc = ibv_modify_qp(p.qp[1], &a, IBV_QP_STATE | IBV_QP_SQ_PSN |
			   IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY);
	took = n_rts == 1 && last_rts.timeout == 20 && last_rts.retry_cnt == 3 &&
	       last_rts.rnr_retry == 0;
	print_message("B's ibv_modify_qp(RTS): %d; moves to RTS the provider got "
		      "from it: %d; B's QP runs with timeout %u retry_cnt %u "
		      "rnr_retry %u\n", rc, n_rts, last_rts.timeout,
		      last_rts.retry_cnt, last_rts.rnr_retry);
	progress_off();
	esv_real.modify_qp = f_modify_qp;
	assert_int_equal(ibv_dereg_mr(mr), 0);
	free(mem);
	free_pair(&p);
	assert_int_equal(rc, 0);
	assert_true(took);
}


/* ------------------------------- CQEs a provider keeps after RESET/destroy */

/* BREAK (on a provider that keeps a QP's CQEs after ibv_destroy_qp, as the
 * fake does; mlx5 removes them; not checked on rxe): B destroys b1 with
 * "m1"'s completion still in X. translate() (cq.c) finds no QP for its
 * qp_num and hands the provider's completion over as it is: wr_id is the
 * shim's shadow slot (freed with b1's pool), byte_len the sealed length,
 * status SUCCESS: a completion the application never posted, carrying
 * unauthenticated fields. No thread. */
static void test_attack4_destroyed_qp_cqe_raw(void **state)
{
	struct shared s;
	uint32_t qpn;
	int raw;

	shared_new(&s, 0);
	esv_real.modify_qp = f_modify_qp;
	qpn = s.b1->qp_num;
	assert_int_equal(ibv_destroy_qp(s.b1), 0);
	s.b1 = NULL;
	raw = completions_of(s.x, qpn, "after destroy (posted: wr_id 1001)");
	shared_free(&s);
	assert_int_equal(raw, 0);
}

/* BREAK (same provider behaviour, after RESET): b1 is moved to RESET
 * with "m1"'s CQE still in X; the shim puts every shadow back to its pool
 * (esv_pool_reclaim), then B's poll meets the CQE and esv_on_recv puts
 * that shadow back a second time (hs NONE: the failed-connection path):
 * the pool's free list holds one slot twice. After reconnection two
 * receives get the same shadow buffer. No thread. */
static void test_attack4_reset_cqe_double_put(void **state)
{
	struct shared s;
	struct ibv_qp_attr a;
	struct ibv_wc wc[4];
	struct fqp *f;
	char r2[2][64];
	int same;

	shared_new(&s, 0);
	esv_real.modify_qp = f_modify_qp; /* keeps the CQE, as the fake does */
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RESET;
	assert_int_equal(ibv_modify_qp(s.b1, &a, IBV_QP_STATE), 0);
	(void)poll_n(s.x, wc, 4);
	f = (struct fqp *)s.b1;
	f->rq_head = f->rq_count = 0; /* the fake forgets its RQ at RESET */
	connect_qp(s.b1, s.a1->qp_num); /* INIT posts the HELLO shadow */
	assert_int_equal(post_recv(s.b1, 1, r2[0], 64), 0);
	assert_int_equal(post_recv(s.b1, 2, r2[1], 64), 0);
	assert_int_equal(f->rq_count, 3);
	same = 0;
	for (int i = 0; i < 3; i++)
		for (int j = i + 1; j < 3; j++)
			if (f->rq[i].sge[0].addr == f->rq[j].sge[0].addr)
				same++;
	print_message("receives of b1 sharing one shadow buffer: %d pair(s)\n",
		      same);
	f->rq_head = f->rq_count = 0;
	shared_free(&s);
	assert_int_equal(same, 0);
}


/* ----------------------------------------- concurrent polling: holds */

struct poller {
	struct ibv_qp *b1;
	struct ibv_cq *x;
	int n, bad, got;
	uint32_t buf[32];
};

static void *poll_x(void *arg)
{
	struct poller *p = arg;
	struct ibv_wc wc[8];

	for (int i = 0; i < 16; i++)
		assert_int_equal(post_recv(p->b1, (uint64_t)i, &p->buf[i % 32], 4), 0);
	for (int spins = 0; p->got < p->n && spins < 200000; spins++) {
		int k = ibv_poll_cq(p->x, 8, wc);

		for (int i = 0; i < k; i++) {
			uint32_t v = p->buf[wc[i].wr_id % 32];

			if (wc[i].status != IBV_WC_SUCCESS ||
			    wc[i].wr_id != (uint64_t)p->got || v != (uint32_t)p->got)
				p->bad++;
			p->got++;
			if (p->got + 15 < p->n)
				assert_int_equal(post_recv(p->b1, (uint64_t)p->got + 15,
							   &p->buf[(p->got + 15) % 32], 4), 0);
		}
		if (!k)
			usleep(100);
	}
	return NULL;
}

/* HELD: an application thread polls X (shared by keyed b1 and by b2,
 * which waits: the progress thread pulls X every 5 ms) while A sends 300
 * messages to b1: every completion arrives once, in order, with its
 * data. */
static void test_held4_concurrent_poll_in_order(void **state)
{
	struct shared s;
	struct poller p;
	struct ibv_wc wc;
	pthread_t t;
	uint32_t v[300];

	shared_new(&s, 1);
	assert_int_equal(poll_n(s.x, &wc, 1), 1); /* "m1" */
	memset(&p, 0, sizeof(p));
	p.b1 = s.b1;
	p.x = s.x;
	p.n = 300;
	assert_int_equal(pthread_create(&t, NULL, poll_x, &p), 0);
	usleep(20000);
	for (int i = 0; i < p.n; i++) {
		v[i] = (uint32_t)i;
		while (i - __atomic_load_n(&p.got, __ATOMIC_RELAXED) > 40)
			usleep(200);
		assert_int_equal(post_send(s.a1, (uint64_t)i, &v[i], 4, IBV_WR_SEND), 0);
		assert_int_equal(poll_n(s.ca1, &wc, 1), 1);
	}
	assert_int_equal(pthread_join(t, NULL), 0);
	print_message("b1: %d of %d completions, %d out of order or wrong\n",
		      p.got, p.n, p.bad);
	shared_free(&s);
	assert_int_equal(p.got, p.n);
	assert_int_equal(p.bad, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_attack4_fork_child_keeps_lock),
		cmocka_unit_test(test_attack4_progress_stalls_behind_16),
		cmocka_unit_test(test_attack4_stash_survives_reset),
		cmocka_unit_test(test_held4_reset_without_thread),
		cmocka_unit_test(test_attack4_stash_survives_destroy),
		cmocka_unit_test(test_attack4_shim_rts_drops_app_attrs),
		cmocka_unit_test(test_attack4_destroyed_qp_cqe_raw),
		cmocka_unit_test(test_attack4_reset_cqe_double_put),
		cmocka_unit_test(test_held4_concurrent_poll_in_order),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

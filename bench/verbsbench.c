/* SPDX-License-Identifier: MIT */
/*
 * verbsbench: the CPU cost of the verbs interposer's sealed RDMA WRITE,
 * per operation, on one core, over an in-process fake provider (this
 * host has no RDMA; the fake moves bytes with memcpy and completes at
 * once). One operation = the initiator's RDMA_WRITE_WITH_IMM of n bytes
 * (seal into staging, the write, the descriptor SEND) plus the
 * responder's completion (open the descriptor's frame, open the write
 * from the shadow into the application's memory) plus the send
 * completion: everything the shim does on both sides, and the fake's
 * copies. Rows: "sealed" (the default), "clear" (the same path with
 * ENCSHIM_VERBS_ALLOW_ONE_SIDED, no crypto and no shadow); the
 * difference is the cost of sealing.
 *
 * CSV on stdout: mode,bytes,reps,median_ns,p10_ns,p90_ns,gbps
 * Usage: verbsbench [-n reps] [-b backend] [size ...] (default 64 1MiB).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/stat.h>
#include <infiniband/verbs.h>

#include "../verbs/esv.h"
#include "size.h"

void esv_test_install(const struct esv_real *fake);

/* ----------------------------------------------------------- the fake */

struct bcq {
	struct ibv_cq cq;
	struct ibv_wc wc[64];
	int head, count;
};
struct brecv {
	uint64_t wr_id;
	struct ibv_sge sge;
};
struct bqp {
	struct ibv_qp qp;
	struct bqp *peer;
	struct brecv rq[64];
	int head, count;
};
struct bmr {
	struct ibv_mr mr;
	uint32_t rkey;
	uint64_t iova;
	unsigned access;
	struct bmr *next;
};
static struct verbs_context bctx;
static struct ibv_pd bpd;
static struct bmr *bmrs;
static uint32_t next_key = 0x100;

static void push(struct ibv_cq *cq, const struct ibv_wc *wc)
{
	struct bcq *c = (struct bcq *)cq;

	if (c->count == 64)
		abort(); /* the benchmark polls after every operation */
	c->wc[(c->head + c->count++) % 64] = *wc;
}

static int b_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr,
		       struct ibv_send_wr **bad)
{
	struct bqp *q = (struct bqp *)qp, *to = q->peer;

	for (; wr; wr = wr->next) {
		struct ibv_wc wc;
		uint8_t *dst = NULL;

		memset(&wc, 0, sizeof(wc));
		if (wr->opcode == IBV_WR_RDMA_WRITE ||
		    wr->opcode == IBV_WR_RDMA_WRITE_WITH_IMM) {
			for (struct bmr *m = bmrs; m; m = m->next)
				if (m->rkey == wr->wr.rdma.rkey &&
				    (m->access & IBV_ACCESS_REMOTE_WRITE))
					dst = (uint8_t *)m->mr.addr +
					      (wr->wr.rdma.remote_addr - m->iova);
			if (!dst) {
				*bad = wr;
				return EINVAL;
			}
		} else {
			struct brecv *r;

			if (!to->count) {
				*bad = wr;
				return ENOMEM; /* the benchmark posts first */
			}
			r = &to->rq[to->head];
			to->head = (to->head + 1) % 64;
			to->count--;
			dst = (uint8_t *)(uintptr_t)r->sge.addr;
			wc.wr_id = r->wr_id;
		}
		for (int i = 0; i < wr->num_sge; i++) {
			memcpy(dst, (void *)(uintptr_t)wr->sg_list[i].addr,
			       wr->sg_list[i].length);
			dst += wr->sg_list[i].length;
			wc.byte_len += wr->sg_list[i].length;
		}
		if (wr->opcode == IBV_WR_SEND ||
		    wr->opcode == IBV_WR_RDMA_WRITE_WITH_IMM) {
			if (wr->opcode == IBV_WR_RDMA_WRITE_WITH_IMM) {
				struct brecv *r = &to->rq[to->head];

				to->head = (to->head + 1) % 64;
				to->count--;
				wc.wr_id = r->wr_id;
				wc.opcode = IBV_WC_RECV_RDMA_WITH_IMM;
				wc.wc_flags = IBV_WC_WITH_IMM;
				wc.imm_data = wr->imm_data;
			}
			wc.qp_num = to->qp.qp_num;
			wc.src_qp = qp->qp_num;
			push(to->qp.recv_cq, &wc);
		}
		if (wr->send_flags & IBV_SEND_SIGNALED) {
			memset(&wc, 0, sizeof(wc));
			wc.wr_id = wr->wr_id;
			wc.qp_num = qp->qp_num;
			push(qp->send_cq, &wc);
		}
	}
	return 0;
}

static int b_post_recv(struct ibv_qp *qp, struct ibv_recv_wr *wr,
		       struct ibv_recv_wr **bad)
{
	struct bqp *q = (struct bqp *)qp;

	for (; wr; wr = wr->next) {
		struct brecv *r = &q->rq[(q->head + q->count++) % 64];

		r->wr_id = wr->wr_id;
		r->sge = wr->sg_list[0];
	}
	return 0;
}

static int b_poll_cq(struct ibv_cq *cq, int n, struct ibv_wc *wc)
{
	struct bcq *c = (struct bcq *)cq;
	int k = 0;

	while (k < n && c->count) {
		wc[k++] = c->wc[c->head];
		c->head = (c->head + 1) % 64;
		c->count--;
	}
	return k;
}

static struct ibv_context *b_open_device(struct ibv_device *d)
{
	bctx.sz = sizeof(bctx);
	bctx.context.abi_compat = __VERBS_ABI_IS_EXTENDED;
	bctx.context.ops.post_send = b_post_send;
	bctx.context.ops.post_recv = b_post_recv;
	bctx.context.ops.poll_cq = b_poll_cq;
	bpd.context = &bctx.context;
	return &bctx.context;
}

static int b_close_device(struct ibv_context *c)
{
	return 0;
}

static struct ibv_cq *b_create_cq(struct ibv_context *ctx, int cqe, void *u,
				  struct ibv_comp_channel *ch, int v)
{
	struct bcq *c = calloc(1, sizeof(*c));

	c->cq.context = ctx;
	return &c->cq;
}

static int b_destroy_cq(struct ibv_cq *cq)
{
	free(cq);
	return 0;
}

static struct ibv_qp *b_create_qp(struct ibv_pd *pd, struct ibv_qp_init_attr *a)
{
	struct bqp *q = calloc(1, sizeof(*q));

	q->qp.context = pd->context;
	q->qp.pd = pd;
	q->qp.qp_num = next_key++;
	q->qp.qp_type = a->qp_type;
	q->qp.send_cq = a->send_cq;
	q->qp.recv_cq = a->recv_cq;
	return &q->qp;
}

static int b_modify_qp(struct ibv_qp *qp, struct ibv_qp_attr *a, int mask)
{
	if (mask & IBV_QP_STATE)
		qp->state = a->qp_state;
	return 0;
}

static int b_destroy_qp(struct ibv_qp *qp)
{
	free(qp);
	return 0;
}

static struct ibv_mr *b_reg_mr_iova2(struct ibv_pd *pd, void *addr, size_t len,
				     uint64_t iova, unsigned acc)
{
	struct bmr *m = calloc(1, sizeof(*m));

	m->mr.pd = pd;
	m->mr.addr = addr;
	m->mr.length = len;
	m->mr.rkey = m->rkey = next_key++;
	m->iova = iova;
	m->access = acc;
	m->next = bmrs;
	bmrs = m;
	return &m->mr;
}

static struct ibv_mr *b_reg_mr(struct ibv_pd *pd, void *addr, size_t len, int acc)
{
	return b_reg_mr_iova2(pd, addr, len, (uintptr_t)addr, (unsigned)acc);
}

static int b_dereg_mr(struct ibv_mr *mr)
{
	for (struct bmr **p = &bmrs; *p; p = &(*p)->next)
		if (&(*p)->mr == mr) {
			*p = (*p)->next;
			break;
		}
	free(mr);
	return 0;
}

static int b_query_port(struct ibv_context *c, uint8_t port, struct ibv_port_attr *pa)
{
	memset(pa, 0, sizeof(*pa));
	return 0;
}

static int b_query_gid(struct ibv_context *c, uint8_t port, int idx, union ibv_gid *g)
{
	memset(g, 0, sizeof(*g));
	return 0;
}

static const struct esv_real bfake = {
	.open_device = b_open_device, .close_device = b_close_device,
	.create_qp = b_create_qp, .modify_qp = b_modify_qp,
	.destroy_qp = b_destroy_qp, .create_cq = b_create_cq,
	.destroy_cq = b_destroy_cq, .reg_mr = b_reg_mr,
	.reg_mr_iova2 = b_reg_mr_iova2, .dereg_mr = b_dereg_mr,
	.query_port = b_query_port, .query_gid = b_query_gid,
};

/* ------------------------------------------------------------ the run */

struct side {
	struct ibv_cq *cq;
	struct ibv_qp *qp;
};

static void die(const char *what)
{
	fprintf(stderr, "verbsbench: %s\n", what);
	exit(1);
}

static void connect_qp(struct ibv_qp *qp, uint32_t dest)
{
	struct ibv_qp_attr a;

	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_INIT;
	a.port_num = 1;
	if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_PORT))
		die("INIT");
	a.qp_state = IBV_QPS_RTR;
	a.dest_qp_num = dest;
	if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_DEST_QPN))
		die("RTR");
	a.qp_state = IBV_QPS_RTS;
	if (ibv_modify_qp(qp, &a, IBV_QP_STATE))
		die("RTS");
}

static int poll1(struct ibv_cq *cq, struct ibv_wc *wc)
{
	for (int i = 0; i < 100; i++) {
		int k = ibv_poll_cq(cq, 1, wc);

		if (k)
			return k;
	}
	return 0;
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* One mode, one size: reps operations timed in batches of `per`. */
static void run(const char *mode, struct side *s, uint8_t *src, uint8_t *mem,
		struct ibv_mr *mr, size_t n, int reps)
{
	enum { BATCHES = 31 };
	double t[BATCHES];
	int per = reps / BATCHES > 0 ? reps / BATCHES : 1;
	char rbuf[16];

	for (int b = -1; b < BATCHES; b++) { /* batch -1 warms up */
		double t0 = now_ns();

		for (int i = 0; i < per; i++) {
			struct ibv_sge sg = { (uintptr_t)src, (uint32_t)n, 1 };
			struct ibv_send_wr w, *bad;
			struct ibv_sge rs = { (uintptr_t)rbuf, sizeof(rbuf), 1 };
			struct ibv_recv_wr r = { .sg_list = &rs, .num_sge = 1 }, *rbad;
			struct ibv_wc wc;

			if (ibv_post_recv(s[1].qp, &r, &rbad))
				die("post_recv");
			memset(&w, 0, sizeof(w));
			w.sg_list = &sg;
			w.num_sge = 1;
			w.opcode = IBV_WR_RDMA_WRITE_WITH_IMM;
			w.send_flags = IBV_SEND_SIGNALED;
			w.imm_data = htonl((uint32_t)i);
			w.wr.rdma.remote_addr = (uintptr_t)mem;
			w.wr.rdma.rkey = mr->rkey;
			if (ibv_post_send(s[0].qp, &w, &bad))
				die("post_send");
			if (poll1(s[1].cq, &wc) != 1 || wc.status ||
			    wc.opcode != IBV_WC_RECV_RDMA_WITH_IMM)
				die("no write completion at the responder");
			if (poll1(s[0].cq, &wc) != 1 || wc.status)
				die("no send completion");
		}
		if (b >= 0)
			t[b] = (now_ns() - t0) / per;
	}
	if (memcmp(mem, src, n))
		die("the responder's memory does not hold the data");
	qsort(t, BATCHES, sizeof(t[0]), cmp);
	printf("%s,%zu,%d,%.0f,%.0f,%.0f,%.3f\n", mode, n, per * BATCHES,
	       t[BATCHES / 2], t[BATCHES / 10], t[BATCHES - 1 - BATCHES / 10],
	       (double)n / t[BATCHES / 2]);
}

/* One SEND, polled on both sides until it is through: the HELLOs. */
static void handshake(struct side *s)
{
	char b[8] = "hello";
	struct ibv_sge sg = { (uintptr_t)b, sizeof(b), 1 };
	struct ibv_recv_wr r = { .sg_list = &sg, .num_sge = 1 }, *rbad;
	struct ibv_send_wr w, *bad;
	struct ibv_wc wc;
	int got[2] = { 0, 0 };

	memset(&w, 0, sizeof(w));
	w.sg_list = &sg;
	w.num_sge = 1;
	w.opcode = IBV_WR_SEND;
	w.send_flags = IBV_SEND_SIGNALED;
	if (ibv_post_recv(s[1].qp, &r, &rbad) || ibv_post_send(s[0].qp, &w, &bad))
		die("handshake post");
	for (int i = 0; i < 100 && !(got[0] && got[1]); i++)
		for (int k = 0; k < 2; k++)
			if (ibv_poll_cq(s[k].cq, 1, &wc) == 1) {
				if (wc.status)
					die("handshake failed");
				got[k] = 1;
			}
	if (!got[0] || !got[1])
		die("no handshake");
}

static void mode(const char *name, int clear, size_t *sizes, int nsizes,
		 int reps)
{
	struct ibv_context *ctx;
	struct side s[2];
	size_t max = 0;
	uint8_t *src, *mem;
	struct ibv_mr *mr;

	esv_cfg.allow_one_sided = clear;
	for (int i = 0; i < nsizes; i++)
		if (sizes[i] > max)
			max = sizes[i];
	ctx = ibv_open_device(NULL);
	for (int i = 0; i < 2; i++) {
		struct ibv_qp_init_attr ia;

		memset(&ia, 0, sizeof(ia));
		s[i].cq = ibv_create_cq(ctx, 64, NULL, NULL, 0);
		ia.send_cq = ia.recv_cq = s[i].cq;
		ia.qp_type = IBV_QPT_RC;
		ia.cap.max_send_wr = ia.cap.max_recv_wr = 16;
		ia.cap.max_send_sge = ia.cap.max_recv_sge = 1;
		s[i].qp = ibv_create_qp(&bpd, &ia);
		if (!s[i].cq || !s[i].qp)
			die("cannot create the queues (key file?)");
	}
	((struct bqp *)s[0].qp)->peer = (struct bqp *)s[1].qp;
	((struct bqp *)s[1].qp)->peer = (struct bqp *)s[0].qp;
	connect_qp(s[0].qp, s[1].qp->qp_num);
	connect_qp(s[1].qp, s[0].qp->qp_num);
	handshake(s);
	if (posix_memalign((void **)&src, 4096, max) ||
	    posix_memalign((void **)&mem, 4096, max))
		die("out of memory");
	for (size_t i = 0; i < max; i++)
		src[i] = (uint8_t)(i * 131 + 7);
	memset(mem, 0, max);
	mr = ibv_reg_mr(&bpd, mem, max, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);
	if (!mr)
		die("ibv_reg_mr");
	for (int i = 0; i < nsizes; i++)
		run(name, s, src, mem, mr, sizes[i],
		    sizes[i] >= (1u << 20) ? reps / 64 + 31 : reps);
	ibv_dereg_mr(mr);
	for (int i = 0; i < 2; i++) {
		ibv_destroy_qp(s[i].qp);
		ibv_destroy_cq(s[i].cq);
	}
	ibv_close_device(ctx);
	free(src);
	free(mem);
}

int main(int argc, char **argv)
{
	char key[64];
	size_t sizes[16] = { 64, 1u << 20 };
	int nsizes = 2, reps = 31000, c;
	FILE *f;

	while ((c = getopt(argc, argv, "n:")) != -1) {
		if (c == 'n')
			reps = atoi(optarg);
		else
			die("usage: verbsbench [-n reps] [size ...]");
	}
	if (optind < argc)
		nsizes = 0;
	for (; optind < argc && nsizes < 16; optind++)
		if (bench_parse_size(argv[optind], &sizes[nsizes++]) || !sizes[nsizes - 1])
			die("bad size");
	snprintf(key, sizeof(key), "/tmp/verbsbench-%d.key", (int)getpid());
	f = fopen(key, "w");
	if (!f)
		die("cannot write a key file in /tmp");
	fprintf(f, "encshim-secret-v1:");
	for (int i = 0; i < 32; i++)
		fprintf(f, "%02x", (unsigned)(uint8_t)(i * 11 + 3));
	fprintf(f, "\n");
	fclose(f);
	chmod(key, 0600);
	setenv("ENCSHIM_KEY_FILE", key, 1);
	esv_test_install(&bfake);
	printf("mode,bytes,reps,median_ns,p10_ns,p90_ns,gbps\n");
	mode("sealed", 0, sizes, nsizes, reps);
	mode("clear", 1, sizes, nsizes, reps);
	unlink(key);
	return 0;
}

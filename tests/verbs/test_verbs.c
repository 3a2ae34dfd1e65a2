/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the verbs interposer (verbs/) against an in-process FAKE
 * provider: a fake ibv_context whose ops table connects pairs of fake RC
 * QPs through a loopback "wire" in memory. A mock is used here only
 * because this host has no RDMA at all; the same code runs over real
 * soft-RoCE in tests/verbs/guest (make check, qemu). The fake keeps the
 * RC rules that matter: receive queues are FIFOs, a message with no
 * receive posted waits (RNR with infinite retry), a message larger than
 * the receive fails with LOC_LEN_ERR, the error state flushes receives.
 * UD QPs are connected by QP number: a datagram goes to the QP named in
 * the WR (itself included), arrives behind a 40-byte GRH carrying the
 * sender's GID, and is dropped when no receive is posted.
 * RDMA WRITE lands in the registration its rkey names, only if that one
 * has remote write access and the range fits (else the writer's QP gets
 * IBV_WC_REM_ACCESS_ERR), in order with the QP's messages.
 * Every message that crosses the wire is recorded, so tests can check
 * that no plaintext ever crosses it, and can tamper with it.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <sodium.h>
#include <arpa/inet.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <infiniband/verbs.h>

#include "../../verbs/esv.h"

void esv_test_install(const struct esv_real *fake);
int mlx5dv_init_obj(void *obj, uint64_t obj_type);
void *mlx5dv_open_device(void *device, void *attr);

/* ------------------------------------------------------------ the fake */

#define MAXQ 64
struct fmsg {
	uint8_t *data;
	size_t len;
	int write;        /* an RDMA WRITE to raddr with rkey */
	uint64_t raddr, wr_id;
	uint32_t rkey;
};
struct frecv {
	uint64_t wr_id;
	int n;
	struct ibv_sge sge[4];
};
struct fcq {
	union { /* ibv_create_cq_ex: the extended CQ starts like an ibv_cq */
		struct ibv_cq cq;
		struct ibv_cq_ex cqx;
	};
	struct ibv_wc wc[256];
	int head, count;
};
struct fqp {
	union { /* send_ops_flags: rdma-core's ibv_qp_ex starts at the ibv_qp */
		struct ibv_qp qp;
		struct ibv_qp_ex qpx;
	};
	struct fqp *peer;
	struct frecv rq[MAXQ];
	int rq_head, rq_count;
	struct fmsg wait[MAXQ]; /* arrived, no receive posted (RNR) */
	int w_head, w_count;
	uint8_t gid[16];        /* UD: the address datagrams come from */
};
struct fah {
	struct ibv_ah ah;
	uint8_t dgid[16];
};
static struct fqp *fqps[MAXQ]; /* UD: every QP, by creation */
static int nfqps;

static struct verbs_context *fctx;
static struct ibv_pd fpd;
static uint32_t next_qpn = 0x100;
static unsigned last_reg_access;
static int modify_err_count;
/* The wire: every message, in order. */
static struct fmsg wire[1024];
static uint32_t wire_src[1024]; /* the sending QP of each */
static int wire_quiet;          /* while set, nothing is recorded */
static int nwire;
static int tamper_at = -1; /* flip this byte of the next message of tamper_len bytes */
static size_t tamper_len;
static uint8_t tamper_xor = 1; /* with these bits */
/* RC/UC: while set, messages are kept here instead of delivered, so that
 * a test can drop or reorder them (an attacker rewriting PSNs). */
static int hold_rc;
static struct fmsg rc_held[8];
static int n_rc_held;

static void cq_push(struct ibv_cq *cq, const struct ibv_wc *wc)
{
	struct fcq *c = (struct fcq *)cq;

	assert_true(c->count < 256);
	c->wc[(c->head + c->count) % 256] = *wc;
	c->count++;
}

static void deliver_from(struct fqp *to, struct fmsg m, uint32_t src_qp, int grh)
{
	struct frecv *r;
	struct ibv_wc wc;
	size_t have = 0, off = 0;

	if (!to->rq_count) {
		if (grh) { /* UD: no receive, the datagram is lost */
			free(m.data);
			return;
		}
		assert_true(to->w_count < MAXQ);
		to->wait[(to->w_head + to->w_count++) % MAXQ] = m;
		return;
	}
	r = &to->rq[to->rq_head];
	to->rq_head = (to->rq_head + 1) % MAXQ;
	to->rq_count--;
	for (int i = 0; i < r->n; i++)
		have += r->sge[i].length;
	memset(&wc, 0, sizeof(wc));
	wc.wr_id = r->wr_id;
	wc.qp_num = to->qp.qp_num;
	wc.src_qp = src_qp;
	wc.opcode = IBV_WC_RECV;
	wc.wc_flags = grh ? IBV_WC_GRH : 0;
	if (m.len > have) {
		wc.status = IBV_WC_LOC_LEN_ERR;
	} else {
		for (int i = 0; i < r->n && off < m.len; i++) {
			size_t k = m.len - off < r->sge[i].length ? m.len - off
								  : r->sge[i].length;
			memcpy((void *)(uintptr_t)r->sge[i].addr, m.data + off, k);
			off += k;
		}
		wc.byte_len = (uint32_t)m.len;
	}
	cq_push(to->qp.recv_cq, &wc);
	free(m.data);
}

/* Registrations, for RDMA WRITE. */
struct fmr {
	struct ibv_mr mr;
	uint32_t rkey;   /* the "hardware's": mr.rkey is the caller's to see */
	uint64_t iova;
	unsigned access;
};
static struct fmr *fmrs[256];
static int nfmrs;
static uint32_t next_rkey = 0x5000;
static int rem_access_errors; /* writes the fake refused */

static struct fmr *fmr_by_rkey(uint32_t rkey)
{
	for (int i = 0; i < nfmrs; i++)
		if (fmrs[i]->rkey == rkey)
			return fmrs[i];
	return NULL;
}

static void apply_write(struct fqp *to, struct fmsg m)
{
	struct fmr *r = fmr_by_rkey(m.rkey);

	if (r && (r->access & IBV_ACCESS_REMOTE_WRITE) &&
	    r->mr.pd == to->qp.pd && m.raddr >= r->iova &&
	    m.len <= r->mr.length && m.raddr - r->iova <= r->mr.length - m.len) {
		memcpy((uint8_t *)r->mr.addr + (m.raddr - r->iova), m.data, m.len);
	} else {
		struct ibv_wc wc;

		rem_access_errors++;
		memset(&wc, 0, sizeof(wc));
		wc.wr_id = m.wr_id;
		wc.status = IBV_WC_REM_ACCESS_ERR;
		wc.opcode = IBV_WC_RDMA_WRITE;
		wc.qp_num = to->peer->qp.qp_num;
		cq_push(to->peer->qp.send_cq, &wc);
	}
	free(m.data);
}

static void deliver(struct fqp *to, struct fmsg m)
{
	if (m.write && !to->w_count)
		apply_write(to, m);
	else if (m.write) /* behind a message waiting for a receive */
		to->wait[(to->w_head + to->w_count++) % MAXQ] = m;
	else
		deliver_from(to, m, to->peer->qp.qp_num, 0);
}

/* A UD datagram from q: GRH (IPv6 version, source GID at 8, destination
 * at 24) || payload, to the QP numbered in the WR. */
static void deliver_ud(struct fqp *q, const struct ibv_send_wr *wr, struct fmsg m)
{
	struct fah *ah = (struct fah *)wr->wr.ud.ah;
	struct fmsg d = { .len = 0 };

	for (int i = 0; i < nfqps; i++) {
		struct fqp *to = fqps[i];

		if (to->qp.qp_num != wr->wr.ud.remote_qpn ||
		    memcmp(to->gid, ah->dgid, 16))
			continue;
		d.len = ESV_GRH_BYTES + m.len;
		d.data = calloc(1, d.len);
		d.data[0] = 0x60;
		memcpy(d.data + 8, q->gid, 16);
		memcpy(d.data + 24, ah->dgid, 16);
		memcpy(d.data + ESV_GRH_BYTES, m.data, m.len);
		deliver_from(to, d, q->qp.qp_num, 1);
	}
	free(m.data);
}

static int f_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr,
		       struct ibv_send_wr **bad)
{
	struct fqp *q = (struct fqp *)qp;

	for (; wr; wr = wr->next) {
		struct fmsg m;
		size_t len = 0;

		if (qp->state != IBV_QPS_RTS) {
			*bad = wr;
			return EINVAL;
		}
		for (int i = 0; i < wr->num_sge; i++)
			len += wr->sg_list[i].length;
		m.data = malloc(len ? len : 1);
		m.len = len;
		m.write = wr->opcode == IBV_WR_RDMA_WRITE ||
			  wr->opcode == IBV_WR_RDMA_WRITE_WITH_IMM;
		m.raddr = wr->wr.rdma.remote_addr;
		m.rkey = wr->wr.rdma.rkey;
		m.wr_id = wr->wr_id;
		len = 0;
		for (int i = 0; i < wr->num_sge; i++) {
			memcpy(m.data + len, (void *)(uintptr_t)wr->sg_list[i].addr,
			       wr->sg_list[i].length);
			len += wr->sg_list[i].length;
		}
		if (tamper_at >= 0 && m.len == tamper_len) {
			m.data[tamper_at] ^= tamper_xor;
			tamper_at = -1;
			tamper_xor = 1;
		}
		if (!wire_quiet) {
			assert_true(nwire < 1024);
			wire[nwire].data = malloc(m.len ? m.len : 1);
			memcpy(wire[nwire].data, m.data, m.len);
			wire_src[nwire] = qp->qp_num;
			wire[nwire++].len = m.len;
		}
		if (wr->send_flags & IBV_SEND_SIGNALED) {
			struct ibv_wc wc;

			memset(&wc, 0, sizeof(wc));
			wc.wr_id = wr->wr_id;
			wc.opcode = m.write ? IBV_WC_RDMA_WRITE : IBV_WC_SEND;
			wc.qp_num = qp->qp_num;
			cq_push(qp->send_cq, &wc);
		}
		if (qp->qp_type == IBV_QPT_UD)
			deliver_ud(q, wr, m);
		else if (hold_rc && n_rc_held < 8)
			rc_held[n_rc_held++] = m;
		else if (q->peer)
			deliver(q->peer, m);
		else
			free(m.data);
	}
	return 0;
}

static int f_post_recv(struct ibv_qp *qp, struct ibv_recv_wr *wr,
		       struct ibv_recv_wr **bad)
{
	struct fqp *q = (struct fqp *)qp;

	for (; wr; wr = wr->next) {
		struct frecv *r;

		if (q->rq_count == MAXQ || wr->num_sge > 4) {
			*bad = wr;
			return ENOMEM;
		}
		r = &q->rq[(q->rq_head + q->rq_count++) % MAXQ];
		r->wr_id = wr->wr_id;
		r->n = wr->num_sge;
		memcpy(r->sge, wr->sg_list, (size_t)wr->num_sge * sizeof(*r->sge));
		if (q->w_count) {
			struct fmsg m = q->wait[q->w_head];

			q->w_head = (q->w_head + 1) % MAXQ;
			q->w_count--;
			deliver(q, m);
		}
		while (q->w_count && q->wait[q->w_head].write) {
			struct fmsg m = q->wait[q->w_head];

			q->w_head = (q->w_head + 1) % MAXQ;
			q->w_count--;
			apply_write(q, m);
		}
	}
	return 0;
}

static int f_poll_cq(struct ibv_cq *cq, int n, struct ibv_wc *wc)
{
	struct fcq *c = (struct fcq *)cq;
	int k = 0;

	while (k < n && c->count) {
		wc[k++] = c->wc[c->head];
		c->head = (c->head + 1) % 256;
		c->count--;
	}
	return k;
}

/* Device memory registration of the next contexts opened (NULL: none),
 * set at open time as a provider does. */
static struct ibv_mr *(*f_reg_dm_mr)(struct ibv_pd *, struct ibv_dm *,
				     uint64_t, size_t, unsigned int);

static struct ibv_context *f_open_device(struct ibv_device *d)
{
	fctx = calloc(1, sizeof(*fctx));
	fctx->sz = sizeof(*fctx);
	fctx->reg_dm_mr = f_reg_dm_mr;
	fctx->context.abi_compat = __VERBS_ABI_IS_EXTENDED;
	fctx->context.ops.post_send = f_post_send;
	fctx->context.ops.post_recv = f_post_recv;
	fctx->context.ops.poll_cq = f_poll_cq;
	fpd.context = &fctx->context;
	return &fctx->context;
}

static struct ibv_context *f_import_device(int cmd_fd)
{
	return cmd_fd >= 0 ? f_open_device(NULL) : NULL;
}

static int f_close_device(struct ibv_context *c)
{
	if (fctx && c == &fctx->context)
		fctx = NULL;
	free((char *)c - offsetof(struct verbs_context, context));
	return 0;
}

static struct ibv_cq *f_create_cq(struct ibv_context *ctx, int cqe, void *u,
				  struct ibv_comp_channel *ch, int v)
{
	struct fcq *c = calloc(1, sizeof(*c));

	c->cq.context = ctx;
	c->cq.channel = ch;
	c->cq.cq_context = u;
	return &c->cq;
}

static int f_destroy_cq(struct ibv_cq *cq)
{
	free(cq);
	return 0;
}

static struct ibv_qp *f_create_qp(struct ibv_pd *pd, struct ibv_qp_init_attr *a)
{
	struct fqp *q = calloc(1, sizeof(*q));

	q->qp.context = pd->context;
	q->qp.pd = pd;
	q->qp.qp_num = next_qpn++;
	q->qp.qp_type = a->qp_type;
	q->qp.send_cq = a->send_cq;
	q->qp.recv_cq = a->recv_cq;
	q->qp.state = IBV_QPS_RESET;
	assert_true(nfqps < MAXQ);
	fqps[nfqps++] = q;
	return &q->qp;
}

static int f_modify_qp(struct ibv_qp *qp, struct ibv_qp_attr *a, int mask)
{
	struct fqp *q = (struct fqp *)qp;

	if (mask & IBV_QP_STATE)
		qp->state = a->qp_state;
	if ((mask & IBV_QP_STATE) && a->qp_state == IBV_QPS_ERR) {
		modify_err_count++;
		while (q->rq_count) {
			struct ibv_wc wc;

			memset(&wc, 0, sizeof(wc));
			wc.wr_id = q->rq[q->rq_head].wr_id;
			wc.status = IBV_WC_WR_FLUSH_ERR;
			wc.qp_num = qp->qp_num;
			cq_push(qp->recv_cq, &wc);
			q->rq_head = (q->rq_head + 1) % MAXQ;
			q->rq_count--;
		}
	}
	return 0;
}

static int f_destroy_qp(struct ibv_qp *qp)
{
	for (int i = 0; i < nfqps; i++)
		if (&fqps[i]->qp == qp)
			fqps[i] = fqps[--nfqps];
	free(qp);
	return 0;
}

static struct ibv_ah *f_create_ah(struct ibv_pd *pd, struct ibv_ah_attr *attr)
{
	struct fah *a = calloc(1, sizeof(*a));

	a->ah.pd = pd;
	a->ah.context = pd->context;
	memcpy(a->dgid, attr->grh.dgid.raw, 16);
	return &a->ah;
}

/* The answer's address: the GRH's source GID. */
static struct ibv_ah *f_create_ah_from_wc(struct ibv_pd *pd, struct ibv_wc *wc,
					  struct ibv_grh *grh, uint8_t port)
{
	struct ibv_ah_attr attr;

	memset(&attr, 0, sizeof(attr));
	attr.is_global = 1;
	memcpy(attr.grh.dgid.raw, grh->sgid.raw, 16);
	attr.grh.sgid_index = grh->dgid.raw[15]; /* as ibv_init_ah_from_wc */
	return f_create_ah(pd, &attr);
}

static int f_destroy_ah(struct ibv_ah *ah)
{
	free(ah);
	return 0;
}

/* Channel events: the fake raises none; a non-blocking read of the
 * channel's eventfd says so (EAGAIN), as libibverbs would. */
static int real_events, real_acks;
static struct ibv_cq *fake_event_cq; /* the CQ a "hardware" event names */
static int f_get_cq_event(struct ibv_comp_channel *ch, struct ibv_cq **cq, void **ctx)
{
	uint64_t v;

	if (read(ch->fd, &v, sizeof(v)) != sizeof(v))
		return -1;
	real_events++;
	*cq = fake_event_cq;
	*ctx = fake_event_cq ? fake_event_cq->cq_context : NULL;
	return 0;
}

static void f_ack_cq_events(struct ibv_cq *cq, unsigned n)
{
	real_acks += (int)n;
}

static struct ibv_mr *f_reg_mr_iova2(struct ibv_pd *pd, void *addr, size_t len,
				     uint64_t iova, unsigned acc)
{
	struct fmr *r;

	/* As rxe and hardware: an iova keeps its address's page offset. */
	if ((iova & 4095) != ((uintptr_t)addr & 4095)) {
		errno = EINVAL;
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	r->mr.pd = pd;
	r->mr.addr = addr;
	r->mr.length = len;
	r->mr.lkey = 0x1234;
	r->mr.rkey = r->rkey = next_rkey++;
	r->iova = iova;
	r->access = acc;
	last_reg_access = acc;
	assert_true(nfmrs < 256);
	fmrs[nfmrs++] = r;
	return &r->mr;
}

static struct ibv_mr *f_reg_mr(struct ibv_pd *pd, void *addr, size_t len, int acc)
{
	return f_reg_mr_iova2(pd, addr, len, (uintptr_t)addr, (unsigned)acc);
}

static int f_dereg_mr(struct ibv_mr *mr)
{
	for (int i = 0; i < nfmrs; i++)
		if (&fmrs[i]->mr == mr)
			fmrs[i] = fmrs[--nfmrs];
	free(mr);
	return 0;
}

/* The fake port's GID table: index i holds the GID ending in i (every
 * fake host's GID is one of them; a host sends from the index of its own
 * GID, see ah_to). */
static uint8_t fake_gid_absent[256]; /* a test may take GIDs off the port */
static int f_query_gid(struct ibv_context *c, uint8_t port, int idx, union ibv_gid *g)
{
	if (idx >= 0 && idx < 256 && fake_gid_absent[idx])
		return EINVAL;
	memset(g, 0, sizeof(*g));
	g->raw[15] = (uint8_t)idx;
	return 0;
}

static int f_query_port(struct ibv_context *c, uint8_t port, struct ibv_port_attr *pa)
{
	memset(pa, 0, sizeof(*pa));
	pa->gid_tbl_len = 256;
	return 0;
}

static const struct esv_real fake = {
	.open_device = f_open_device,
	.close_device = f_close_device,
	.import_device = f_import_device,
	.create_qp = f_create_qp,
	.modify_qp = f_modify_qp,
	.destroy_qp = f_destroy_qp,
	.create_cq = f_create_cq,
	.destroy_cq = f_destroy_cq,
	.reg_mr = f_reg_mr,
	.reg_mr_iova2 = f_reg_mr_iova2,
	.dereg_mr = f_dereg_mr,
	.query_gid = f_query_gid,
	.query_port = f_query_port,
	.create_ah = f_create_ah,
	.create_ah_from_wc = f_create_ah_from_wc,
	.destroy_ah = f_destroy_ah,
	.get_cq_event = f_get_cq_event,
	.ack_cq_events = f_ack_cq_events,
};

/* ------------------------------------------------------------- fixture */

struct pair {
	struct ibv_context *ctx;
	struct ibv_cq *cq[2];
	struct ibv_qp *qp[2];
};

static char keyfile[64];

static void write_key(const char *path, int variant)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fprintf(f, "encshim-secret-v1:");
	for (int i = 0; i < 32; i++)
		fprintf(f, "%02x", (unsigned)(i * 7 + variant));
	fprintf(f, "\n");
	fclose(f);
	assert_int_equal(chmod(path, 0600), 0);
}

static void reload_config(void)
{
	esv_cfg.loaded = 0;
	esv_cfg.allow_one_sided = 0;
}

/* RESET -> INIT -> RTR towards dest: the QP receives, sends nothing yet. */
static void qp_to_rtr(struct ibv_qp *qp, uint32_t dest)
{
	struct ibv_qp_attr a;

	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_INIT;
	a.port_num = 1;
	assert_int_equal(ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_PORT), 0);
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	a.dest_qp_num = dest;
	assert_int_equal(ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_DEST_QPN), 0);
}

static void connect_qp(struct ibv_qp *qp, uint32_t dest)
{
	struct ibv_qp_attr a;

	qp_to_rtr(qp, dest);
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	assert_int_equal(ibv_modify_qp(qp, &a, IBV_QP_STATE), 0);
}

/* The progress thread (verbs/progress.c) polls on its own schedule: off
 * in the fake's tests, which order every step, but the one about it. */
static int fake_progress;

static void make_pair_type(struct pair *p, enum ibv_qp_type type)
{
	struct ibv_qp_init_attr ia;

	esv_cfg.progress = fake_progress;
	memset(p, 0, sizeof(*p));
	p->ctx = ibv_open_device(NULL);
	assert_non_null(p->ctx);
	for (int i = 0; i < 2; i++) {
		p->cq[i] = ibv_create_cq(p->ctx, 64, NULL, NULL, 0);
		assert_non_null(p->cq[i]);
		memset(&ia, 0, sizeof(ia));
		ia.send_cq = ia.recv_cq = p->cq[i];
		ia.qp_type = type;
		ia.cap.max_send_wr = 16;
		ia.cap.max_recv_wr = 16;
		ia.cap.max_send_sge = 4;
		ia.cap.max_recv_sge = 4;
		p->qp[i] = ibv_create_qp(&fpd, &ia);
		assert_non_null(p->qp[i]);
		assert_int_equal(ia.cap.max_send_wr, 16);
		assert_int_equal(ia.cap.max_recv_wr, 16);
	}
	((struct fqp *)p->qp[0])->peer = (struct fqp *)p->qp[1];
	((struct fqp *)p->qp[1])->peer = (struct fqp *)p->qp[0];
}

static void make_pair(struct pair *p)
{
	make_pair_type(p, IBV_QPT_RC);
}

/* Connects qp to QP dest at the address of GID index dgid_idx, from our
 * GID index sgid_idx (the fake's GID of index i ends in byte i). */
static void connect_qp_av(struct ibv_qp *qp, uint32_t dest, uint8_t sgid_idx,
			  uint8_t dgid_idx)
{
	struct ibv_qp_attr a;

	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_INIT;
	a.port_num = 1;
	assert_int_equal(ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_PORT), 0);
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	a.dest_qp_num = dest;
	a.ah_attr.is_global = 1;
	a.ah_attr.grh.sgid_index = sgid_idx;
	a.ah_attr.grh.dgid.raw[15] = dgid_idx;
	a.ah_attr.port_num = 1;
	assert_int_equal(ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_DEST_QPN |
				       IBV_QP_AV), 0);
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	assert_int_equal(ibv_modify_qp(qp, &a, IBV_QP_STATE), 0);
}

static void connect_pair(struct pair *p)
{
	connect_qp(p->qp[0], p->qp[1]->qp_num);
	connect_qp(p->qp[1], p->qp[0]->qp_num);
}

static void free_pair(struct pair *p)
{
	for (int i = 0; i < 2; i++) {
		assert_int_equal(ibv_destroy_qp(p->qp[i]), 0);
		assert_int_equal(ibv_destroy_cq(p->cq[i]), 0);
	}
	assert_int_equal(ibv_close_device(p->ctx), 0);
	for (int i = 0; i < nwire; i++)
		free(wire[i].data);
	nwire = 0;
}

static int setup(void **state)
{
	snprintf(keyfile, sizeof(keyfile), "/tmp/esv-test-%d.key", (int)getpid());
	write_key(keyfile, 0);
	setenv("ENCSHIM_KEY_FILE", keyfile, 1);
	esv_test_install(&fake);
	reload_config();
	return 0;
}

static int teardown(void **state)
{
	unlink(keyfile);
	return 0;
}

static int post_recv(struct ibv_qp *qp, uint64_t id, void *buf, uint32_t len)
{
	struct ibv_sge sg = { .addr = (uintptr_t)buf, .length = len, .lkey = 1 };
	struct ibv_recv_wr w = { .wr_id = id, .sg_list = &sg, .num_sge = 1 }, *bad;

	return ibv_post_recv(qp, &w, &bad);
}

static int post_send(struct ibv_qp *qp, uint64_t id, const void *buf, uint32_t len,
		     enum ibv_wr_opcode op)
{
	struct ibv_sge sg = { .addr = (uintptr_t)buf, .length = len, .lkey = 1 };
	struct ibv_send_wr w, *bad = NULL;

	memset(&w, 0, sizeof(w));
	w.wr_id = id;
	w.sg_list = &sg;
	w.num_sge = 1;
	w.opcode = op;
	w.send_flags = IBV_SEND_SIGNALED;
	return ibv_post_send(qp, &w, &bad);
}

/* Polls until n completions arrive (the fake delivers synchronously, so a
 * few rounds suffice). */
static int poll_n(struct ibv_cq *cq, struct ibv_wc *wc, int n)
{
	int got = 0;

	for (int round = 0; round < 50 && got < n; round++) {
		int k = ibv_poll_cq(cq, n - got, wc + got);

		assert_true(k >= 0);
		got += k;
	}
	return got;
}

static int wire_has(const void *needle, size_t len)
{
	for (int i = 0; i < nwire; i++)
		if (wire[i].len >= len && memmem(wire[i].data, wire[i].len, needle, len))
			return 1;
	return 0;
}

static const char marker[] = "ENCSHIM-PLAINTEXT-MARKER-0123456789";

/* --------------------------------------------------------------- tests */

/* SEND/RECV both ways: data, wr_id and byte_len as without the shim;
 * HELLOs are invisible to the application; no plaintext on the wire. */
static void test_roundtrip(void **state)
{
	struct pair p;
	char rbuf[2][256], sbuf[64];
	struct ibv_wc wc[4];

	make_pair(&p);
	connect_pair(&p);
	memset(rbuf, 0, sizeof(rbuf));
	assert_int_equal(post_recv(p.qp[0], 100, rbuf[0], sizeof(rbuf[0])), 0);
	assert_int_equal(post_recv(p.qp[1], 200, rbuf[1], sizeof(rbuf[1])), 0);
	memcpy(sbuf, marker, sizeof(marker));
	assert_int_equal(post_send(p.qp[0], 7, sbuf, sizeof(marker), IBV_WR_SEND), 0);
	/* Queued until B answers A's HELLO: nothing but the HELLO so far. */
	assert_int_equal(nwire, 1);
	assert_int_equal(wire[0].len, ESV_HELLO_BYTES);
	assert_int_equal(poll_n(p.cq[1], wc, 1), 0); /* B consumes the HELLO */
	assert_int_equal(poll_n(p.cq[0], wc, 1), 1); /* A: keys, sends; its completion */
	assert_int_equal(wc[0].status, IBV_WC_SUCCESS);
	assert_int_equal(wc[0].wr_id, 7);
	assert_int_equal(wc[0].opcode, IBV_WC_SEND);
	assert_int_equal(poll_n(p.cq[1], wc, 1), 1);
	assert_int_equal(wc[0].status, IBV_WC_SUCCESS);
	assert_int_equal(wc[0].wr_id, 200);
	assert_int_equal(wc[0].byte_len, sizeof(marker));
	assert_false(wc[0].wc_flags & IBV_WC_WITH_IMM);
	assert_string_equal(rbuf[1], marker);
	/* And back. */
	assert_int_equal(post_send(p.qp[1], 8, sbuf, 10, IBV_WR_SEND), 0);
	assert_int_equal(poll_n(p.cq[0], wc, 1), 1);
	assert_int_equal(wc[0].wr_id, 100);
	assert_int_equal(wc[0].byte_len, 10);
	assert_memory_equal(rbuf[0], marker, 10);
	assert_int_equal(poll_n(p.cq[1], wc, 1), 1);
	assert_int_equal(wc[0].wr_id, 8);
	assert_false(wire_has(marker, 16));
	assert_int_equal(wire[2].len, sizeof(marker) + ESV_OVERHEAD);
	free_pair(&p);
}

/* SEND_WITH_IMM from three SGEs into two receive SGEs: immediate data
 * travels inside the sealed frame and comes back in the completion. */
static void test_imm_and_sges(void **state)
{
	struct pair p;
	char a[5] = "ABCDE", b[3] = "fgh", c[4] = "IJKL", r1[6], r2[32];
	struct ibv_sge sg[3] = {
		{ (uintptr_t)a, 5, 1 }, { (uintptr_t)b, 3, 1 }, { (uintptr_t)c, 4, 1 } };
	struct ibv_sge rs[2] = { { (uintptr_t)r1, 6, 1 }, { (uintptr_t)r2, 32, 1 } };
	struct ibv_recv_wr rw = { .wr_id = 9, .sg_list = rs, .num_sge = 2 }, *rbad;
	struct ibv_send_wr sw, *sbad;
	struct ibv_wc wc[2];

	make_pair(&p);
	connect_pair(&p);
	assert_int_equal(ibv_post_recv(p.qp[1], &rw, &rbad), 0);
	memset(&sw, 0, sizeof(sw));
	sw.wr_id = 3;
	sw.sg_list = sg;
	sw.num_sge = 3;
	sw.opcode = IBV_WR_SEND_WITH_IMM;
	sw.imm_data = htonl(0xdeadbeef);
	sw.send_flags = IBV_SEND_INLINE; /* unsignaled, inline */
	assert_int_equal(ibv_post_send(p.qp[0], &sw, &sbad), 0);
	assert_int_equal(poll_n(p.cq[1], wc, 1), 0);
	assert_int_equal(poll_n(p.cq[0], wc, 1), 0); /* unsignaled: nothing */
	assert_int_equal(poll_n(p.cq[1], wc, 1), 1);
	assert_int_equal(wc[0].wr_id, 9);
	assert_int_equal(wc[0].byte_len, 12);
	assert_true(wc[0].wc_flags & IBV_WC_WITH_IMM);
	assert_int_equal(ntohl(wc[0].imm_data), 0xdeadbeef);
	assert_memory_equal(r1, "ABCDEf", 6);
	assert_memory_equal(r2, "ghIJKL", 6);
	free_pair(&p);
}

/* Messages queued before the keys exist keep their order. */
static void test_order_before_keys(void **state)
{
	struct pair p;
	uint32_t v[8], r[8];
	struct ibv_wc wc[8];

	make_pair(&p);
	connect_pair(&p);
	for (int i = 0; i < 8; i++)
		assert_int_equal(post_recv(p.qp[1], 50 + (uint64_t)i, &r[i], 4), 0);
	for (int i = 0; i < 8; i++) {
		v[i] = 0x1000u + (uint32_t)i;
		assert_int_equal(post_send(p.qp[0], (uint64_t)i, &v[i], 4, IBV_WR_SEND), 0);
	}
	assert_int_equal(poll_n(p.cq[1], wc, 8), 0);
	assert_int_equal(poll_n(p.cq[0], wc, 8), 8);
	for (int i = 0; i < 8; i++)
		assert_int_equal(wc[i].wr_id, (uint64_t)i);
	assert_int_equal(poll_n(p.cq[1], wc, 8), 8);
	for (int i = 0; i < 8; i++) {
		assert_int_equal(wc[i].wr_id, 50 + (uint64_t)i);
		assert_int_equal(r[i], 0x1000u + (uint32_t)i);
	}
	free_pair(&p);
}

/* Flow control: the shim posts exactly one receive per application
 * receive (plus one for the HELLO), so with no receive posted a message
 * waits (RNR) instead of being buffered by the shim. */
static void test_rnr_preserved(void **state)
{
	struct pair p;
	char r[64], s[8] = "rnr";
	struct ibv_wc wc[2];
	struct fqp *b;

	make_pair(&p);
	connect_pair(&p);
	b = (struct fqp *)p.qp[1];
	assert_int_equal(b->rq_count, 1); /* only the HELLO shadow */
	assert_int_equal(post_send(p.qp[0], 1, s, 4, IBV_WR_SEND), 0);
	assert_int_equal(poll_n(p.cq[1], wc, 1), 0);
	assert_int_equal(poll_n(p.cq[0], wc, 1), 1);
	assert_int_equal(b->w_count, 1); /* the data waits: no receive */
	assert_int_equal(post_recv(p.qp[1], 77, r, sizeof(r)), 0);
	assert_int_equal(poll_n(p.cq[1], wc, 1), 1);
	assert_int_equal(wc[0].wr_id, 77);
	assert_string_equal(r, "rnr");
	free_pair(&p);
}

/* One flipped bit on the wire: an error completion, no data delivered,
 * the QP moved to the error state, counted as an auth failure. */
static void test_tamper(void **state)
{
	struct pair p;
	char r[256], s[200];
	struct ibv_wc wc[4];
	uint64_t before = esv_stats.auth_failures;

	make_pair(&p);
	connect_pair(&p);
	memset(r, 0, sizeof(r));
	memset(s, 'x', sizeof(s));
	assert_int_equal(post_recv(p.qp[1], 5, r, sizeof(r)), 0);
	assert_int_equal(post_recv(p.qp[1], 6, r, sizeof(r)), 0);
	tamper_len = sizeof(s) + ESV_OVERHEAD;
	tamper_at = 120;
	assert_int_equal(post_send(p.qp[0], 1, s, sizeof(s), IBV_WR_SEND), 0);
	assert_int_equal(poll_n(p.cq[1], wc, 1), 0);
	assert_int_equal(poll_n(p.cq[0], wc, 1), 1);
	modify_err_count = 0;
	assert_int_equal(poll_n(p.cq[1], wc, 2), 2);
	assert_int_equal(wc[0].wr_id, 5);
	assert_int_equal(wc[0].status, IBV_WC_GENERAL_ERR);
	assert_int_equal(wc[1].wr_id, 6);
	assert_int_equal(wc[1].status, IBV_WC_WR_FLUSH_ERR);
	for (size_t i = 0; i < sizeof(r); i++)
		assert_int_equal(r[i], 0);
	assert_int_equal(modify_err_count, 1);
	assert_int_equal(esv_stats.auth_failures, before + 1);
	assert_int_equal(post_send(p.qp[1], 2, s, 4, IBV_WR_SEND), EIO);
	free_pair(&p);
}

/* A peer without the shim (its first message is application data): the
 * message is never delivered and the QP fails. */
static void test_peer_without_shim(void **state)
{
	struct pair p;
	char r[256];
	struct ibv_wc wc[2];
	struct ibv_qp *raw;

	make_pair(&p);
	connect_pair(&p);
	memset(r, 0, sizeof(r));
	assert_int_equal(post_recv(p.qp[1], 5, r, sizeof(r)), 0);
	/* Bypass the shim on A: post with the provider's own function. */
	raw = p.qp[0];
	{
		struct ibv_sge sg = { (uintptr_t)marker, sizeof(marker), 1 };
		struct ibv_send_wr w, *bad;

		memset(&w, 0, sizeof(w));
		w.sg_list = &sg;
		w.num_sge = 1;
		w.opcode = IBV_WR_SEND;
		assert_int_equal(f_post_send(raw, &w, &bad), 0);
	}
	assert_int_equal(poll_n(p.cq[1], wc, 2), 1);
	assert_int_equal(wc[0].wr_id, 5);
	assert_int_equal(wc[0].status, IBV_WC_WR_FLUSH_ERR);
	assert_null(memmem(r, sizeof(r), "ENCSHIM", 7));
	free_pair(&p);
}

/* Another job secret: the HELLO's check value differs, the QP fails
 * before any data is sealed. */
static void test_other_secret(void **state)
{
	struct pair p;
	struct ibv_wc wc[2];
	char r[64];
	uint64_t before = esv_stats.handshake_failures;

	make_pair(&p);
	connect_pair(&p);
	assert_int_equal(post_recv(p.qp[1], 5, r, sizeof(r)), 0);
	/* The check value (HELLO bytes 80..111) as another secret gives. */
	tamper_len = ESV_HELLO_BYTES;
	tamper_at = 90;
	assert_int_equal(post_send(p.qp[0], 1, marker, sizeof(marker), IBV_WR_SEND), 0);
	assert_int_equal(poll_n(p.cq[1], wc, 2), 1);
	assert_int_equal(wc[0].wr_id, 5);
	assert_int_equal(wc[0].status, IBV_WC_WR_FLUSH_ERR);
	assert_int_equal(esv_stats.handshake_failures, before + 1);
	assert_int_equal(post_send(p.qp[1], 2, r, 4, IBV_WR_SEND), EIO);
	assert_false(wire_has(marker, 16));
	free_pair(&p);
}

/* What cannot be sealed: RDMA READ and atomics (RC), RDMA WRITE on UC,
 * refused with EPERM, bad_wr naming the WR; registrations lose remote
 * read and atomic access, and remote write goes to a shadow (its rkey is
 * the one the application sees; the real memory has no remote access). */
static void test_one_sided_refused(void **state)
{
	static const enum ibv_wr_opcode ops[] = {
		IBV_WR_RDMA_READ, IBV_WR_ATOMIC_CMP_AND_SWP,
		IBV_WR_ATOMIC_FETCH_AND_ADD, IBV_WR_RDMA_WRITE,
		IBV_WR_RDMA_WRITE_WITH_IMM,
	};
	struct pair p, u;
	char buf[16];
	struct ibv_mr *mr;
	struct fmr *real;
	uint64_t before = esv_stats.denied_ops;

	make_pair(&p);
	connect_pair(&p);
	make_pair_type(&u, IBV_QPT_UC);
	connect_pair(&u);
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		struct ibv_sge sg = { (uintptr_t)buf, 8, 1 };
		struct ibv_send_wr w, *bad = NULL;
		struct ibv_qp *qp = i < 3 ? p.qp[0] : u.qp[0];

		memset(&w, 0, sizeof(w));
		w.sg_list = &sg;
		w.num_sge = 1;
		w.opcode = ops[i];
		assert_int_equal(ibv_post_send(qp, &w, &bad), EPERM);
		assert_ptr_equal(bad, &w);
	}
	assert_int_equal(esv_stats.denied_ops, before + 5);
	assert_int_equal(nwire, 0);
	mr = ibv_reg_mr(&fpd, buf, sizeof(buf),
			IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
				IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC);
	assert_non_null(mr);
	real = (struct fmr *)mr;
	assert_int_equal(real->access, IBV_ACCESS_LOCAL_WRITE);
	assert_int_not_equal(real->rkey, mr->rkey);
	assert_non_null(fmr_by_rkey(mr->rkey));
	assert_ptr_not_equal(fmr_by_rkey(mr->rkey), real);
	assert_int_equal(fmr_by_rkey(mr->rkey)->access,
			 IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);
	assert_int_equal(ibv_dereg_mr(mr), 0);
	free_pair(&u);
	free_pair(&p);
}

/* With the opt-in, one-sided operations pass through (in clear). */
static void test_one_sided_opt_in(void **state)
{
	struct pair p;
	char buf[16] = "clear";
	struct ibv_sge sg = { (uintptr_t)buf, 8, 1 };
	struct ibv_send_wr w, *bad = NULL;
	struct ibv_mr *mr;

	esv_cfg.allow_one_sided = 1;
	make_pair(&p);
	connect_pair(&p);
	memset(&w, 0, sizeof(w));
	w.wr_id = 42;
	w.sg_list = &sg;
	w.num_sge = 1;
	w.opcode = IBV_WR_RDMA_WRITE;
	w.send_flags = IBV_SEND_SIGNALED;
	((struct fqp *)p.qp[0])->peer = NULL; /* a write needs no receive */
	assert_int_equal(ibv_post_send(p.qp[0], &w, &bad), 0);
	{
		struct ibv_wc wc;

		assert_int_equal(poll_n(p.cq[0], &wc, 1), 1);
		assert_int_equal(wc.wr_id, 42);
	}
	mr = ibv_reg_mr(&fpd, buf, sizeof(buf), IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);
	assert_int_equal(last_reg_access, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);
	assert_int_equal(f_dereg_mr(mr), 0);
	esv_cfg.allow_one_sided = 0;
	free_pair(&p);
}

/* No job secret: the first QP creation fails, nothing can carry data. */
static void test_key_missing(void **state)
{
	struct ibv_context *ctx;
	struct ibv_cq *cq;
	struct ibv_qp_init_attr ia;

	setenv("ENCSHIM_KEY_FILE", "/nonexistent/encshim.key", 1);
	reload_config();
	ctx = ibv_open_device(NULL);
	cq = ibv_create_cq(ctx, 4, NULL, NULL, 0);
	memset(&ia, 0, sizeof(ia));
	ia.send_cq = ia.recv_cq = cq;
	ia.qp_type = IBV_QPT_RC;
	ia.cap.max_send_wr = ia.cap.max_recv_wr = 1;
	errno = 0;
	assert_null(ibv_create_qp(&fpd, &ia));
	assert_int_equal(errno, EACCES);
	assert_int_equal(ibv_destroy_cq(cq), 0);
	assert_int_equal(ibv_close_device(ctx), 0);
	setenv("ENCSHIM_KEY_FILE", keyfile, 1);
	reload_config();
}

/* QP types the shim does not seal (raw packet, XRC) are refused: never in
 * clear. */
static void test_raw_refused(void **state)
{
	struct ibv_context *ctx = ibv_open_device(NULL);
	struct ibv_cq *cq = ibv_create_cq(ctx, 4, NULL, NULL, 0);
	struct ibv_qp_init_attr ia;

	memset(&ia, 0, sizeof(ia));
	ia.send_cq = ia.recv_cq = cq;
	ia.qp_type = IBV_QPT_RAW_PACKET;
	ia.cap.max_send_wr = ia.cap.max_recv_wr = 1;
	assert_null(ibv_create_qp(&fpd, &ia));
	assert_int_equal(errno, EOPNOTSUPP);
	assert_int_equal(ibv_destroy_cq(cq), 0);
	assert_int_equal(ibv_close_device(ctx), 0);
}

/* Direct verbs are refused. */
static void test_mlx5dv_refused(void **state)
{
	assert_int_equal(mlx5dv_init_obj(NULL, 0), EPERM);
}

/* Every context constructor of rdma-core 44 is covered: an imported
 * context (ibv_import_device) is patched like an opened one, so its QPs
 * are sealed; mlx5dv_open_device is refused. */
static void test_import_device_patched(void **state)
{
	struct ibv_context *ctx = ibv_import_device(3);
	struct ibv_qp_init_attr ia;
	struct ibv_cq *cq;
	struct ibv_qp *qp;

	assert_non_null(ctx);
	assert_ptr_equal(ctx->ops.post_send, esv_post_send);
	assert_ptr_equal(ctx->ops.post_recv, esv_post_recv);
	assert_ptr_equal(ctx->ops.poll_cq, esv_poll_cq);
	cq = ibv_create_cq(ctx, 4, NULL, NULL, 0);
	memset(&ia, 0, sizeof(ia));
	ia.send_cq = ia.recv_cq = cq;
	ia.qp_type = IBV_QPT_RC;
	ia.cap.max_send_wr = ia.cap.max_recv_wr = 1;
	qp = ibv_create_qp(&fpd, &ia);
	assert_non_null(qp);
	assert_non_null(esv_qp_find(qp));
	assert_int_equal(ibv_destroy_qp(qp), 0);
	assert_int_equal(ibv_destroy_cq(cq), 0);
	assert_int_equal(ibv_close_device(ctx), 0);
	errno = 0;
	assert_null(mlx5dv_open_device(NULL, NULL));
	assert_int_equal(errno, EPERM);
}

/* Reconnecting a QP (RESET, INIT, RTR, RTS: same QP number) gives a new
 * connection id and new keys: the old connection's frames do not open. */
static void test_reconnect_fresh_keys(void **state)
{
	struct pair p;
	char r[64], s[16] = "first";
	struct ibv_wc wc[2];
	struct fmsg old = { .len = 0 };
	struct ibv_qp_attr a;

	make_pair(&p);
	connect_pair(&p);
	assert_int_equal(post_recv(p.qp[1], 1, r, sizeof(r)), 0);
	assert_int_equal(post_send(p.qp[0], 1, s, 6, IBV_WR_SEND), 0);
	(void)poll_n(p.cq[1], wc, 1);
	assert_int_equal(poll_n(p.cq[0], wc, 1), 1);
	assert_int_equal(poll_n(p.cq[1], wc, 1), 1);
	old.len = wire[2].len; /* A's first data frame */
	old.data = malloc(old.len);
	memcpy(old.data, wire[2].data, old.len);
	for (int i = 0; i < 2; i++) {
		memset(&a, 0, sizeof(a));
		a.qp_state = IBV_QPS_RESET;
		assert_int_equal(ibv_modify_qp(p.qp[i], &a, IBV_QP_STATE), 0);
		((struct fqp *)p.qp[i])->rq_count = 0;
		((struct fqp *)p.qp[i])->w_count = 0;
	}
	connect_pair(&p);
	assert_int_equal(post_recv(p.qp[1], 2, r, sizeof(r)), 0);
	assert_int_equal(post_send(p.qp[0], 2, "second", 7, IBV_WR_SEND), 0);
	(void)poll_n(p.cq[1], wc, 1);
	assert_int_equal(poll_n(p.cq[0], wc, 1), 1);
	assert_int_equal(poll_n(p.cq[1], wc, 1), 1);
	assert_string_equal(r, "second");
	/* Replay the old connection's frame into the new one. */
	memset(r, 0, sizeof(r));
	assert_int_equal(post_recv(p.qp[1], 3, r, sizeof(r)), 0);
	deliver((struct fqp *)p.qp[1], old);
	assert_int_equal(poll_n(p.cq[1], wc, 1), 1);
	assert_int_equal(wc[0].wr_id, 3);
	assert_int_equal(wc[0].status, IBV_WC_GENERAL_ERR);
	assert_int_equal(r[0], 0);
	free_pair(&p);
}

/* Keys A and B on a connection and delivers one message A -> B into
 * receive 1 of B (of n posted, each of 64 bytes at r[i]). */
static void keyed_pair(struct pair *p, enum ibv_qp_type type, char r[][64], int n)
{
	struct ibv_wc wc[2];

	make_pair_type(p, type);
	connect_pair(p);
	memset(r, 0, (size_t)n * 64);
	for (int i = 0; i < n; i++)
		assert_int_equal(post_recv(p->qp[1], 1 + (uint64_t)i, r[i], 64), 0);
	assert_int_equal(post_send(p->qp[0], 100, "m0", 3, IBV_WR_SEND), 0);
	assert_int_equal(poll_n(p->cq[1], wc, 1), 0); /* B takes the HELLO */
	assert_int_equal(poll_n(p->cq[0], wc, 1), 1);
	assert_int_equal(poll_n(p->cq[1], wc, 1), 1);
	assert_int_equal(wc[0].status, IBV_WC_SUCCESS);
	assert_string_equal(r[0], "m0");
}

/* Sends "m1", "m2" from A, kept off the wire (rc_held[0], rc_held[1]). */
static void send_two_held(struct pair *p)
{
	struct ibv_wc wc[2];

	hold_rc = 1;
	n_rc_held = 0;
	assert_int_equal(post_send(p->qp[0], 101, "m1", 3, IBV_WR_SEND), 0);
	assert_int_equal(post_send(p->qp[0], 102, "m2", 3, IBV_WR_SEND), 0);
	hold_rc = 0;
	assert_int_equal(poll_n(p->cq[0], wc, 2), 2);
	assert_int_equal(n_rc_held, 2);
}

/* RC delivers exactly the sent sequence: an attacker who rewrites PSNs
 * to drop m1 (or to swap m1 and m2) gets m2 refused, nothing delivered,
 * the QP in the error state. */
static void test_rc_order_strict(void **state)
{
	struct pair p;
	char r[3][64];
	struct ibv_wc wc[3];
	uint64_t before = esv_stats.auth_failures;

	keyed_pair(&p, IBV_QPT_RC, r, 3);
	send_two_held(&p);
	deliver((struct fqp *)p.qp[1], rc_held[1]); /* m2 where m1 belongs */
	free(rc_held[0].data);
	assert_int_equal(poll_n(p.cq[1], wc, 2), 2);
	assert_int_equal(wc[0].wr_id, 2);
	assert_int_equal(wc[0].status, IBV_WC_GENERAL_ERR);
	assert_int_equal(wc[1].status, IBV_WC_WR_FLUSH_ERR);
	assert_int_equal(r[1][0], 0);
	assert_int_equal(esv_stats.auth_failures, before + 1);
	assert_int_equal(post_send(p.qp[1], 9, "x", 1, IBV_WR_SEND), EIO);
	free_pair(&p);
}

/* UC may lose a message but never goes back: m2 after a lost m1 is
 * delivered, m1 arriving after m2 is refused. */
static void test_uc_order_monotonic(void **state)
{
	struct pair p;
	char r[3][64];
	struct ibv_wc wc[3];

	keyed_pair(&p, IBV_QPT_UC, r, 3);
	send_two_held(&p);
	deliver((struct fqp *)p.qp[1], rc_held[1]);
	assert_int_equal(poll_n(p.cq[1], wc, 1), 1);
	assert_int_equal(wc[0].status, IBV_WC_SUCCESS);
	assert_string_equal(r[1], "m2");
	deliver((struct fqp *)p.qp[1], rc_held[0]);
	assert_int_equal(poll_n(p.cq[1], wc, 1), 1);
	assert_int_equal(wc[0].wr_id, 3);
	assert_int_equal(wc[0].status, IBV_WC_GENERAL_ERR);
	assert_int_equal(r[2][0], 0);
	free_pair(&p);
}

/* Connections A-B and C-D on two hosts whose QP numbers line up (C has
 * A's number, D has B's). An attacker splices C into B: B, connected to
 * A, must refuse C's HELLO and deliver nothing of C. */
static void test_rc_splice(void **state)
{
	struct pair ab, cd;
	char r[64], rc_[64];
	struct ibv_wc wc[2];
	uint32_t base = next_qpn;

	make_pair(&ab);
	next_qpn = base; /* another device: the same QP numbers again */
	make_pair(&cd);
	assert_int_equal(cd.qp[0]->qp_num, ab.qp[0]->qp_num);
	assert_int_equal(cd.qp[1]->qp_num, ab.qp[1]->qp_num);
	connect_qp_av(ab.qp[0], ab.qp[1]->qp_num, 1, 2);
	connect_qp_av(ab.qp[1], ab.qp[0]->qp_num, 2, 1);
	connect_qp_av(cd.qp[0], cd.qp[1]->qp_num, 3, 4);
	connect_qp_av(cd.qp[1], cd.qp[0]->qp_num, 4, 3);
	((struct fqp *)cd.qp[0])->peer = (struct fqp *)ab.qp[1];
	((struct fqp *)ab.qp[1])->peer = (struct fqp *)cd.qp[0];
	memset(r, 0, sizeof(r));
	assert_int_equal(post_recv(ab.qp[1], 5, r, sizeof(r)), 0);
	assert_int_equal(post_recv(cd.qp[0], 6, rc_, sizeof(rc_)), 0);
	assert_int_equal(post_send(cd.qp[0], 1, marker, sizeof(marker), IBV_WR_SEND), 0);
	(void)poll_n(ab.qp[1]->recv_cq, wc, 2);
	(void)poll_n(cd.qp[0]->send_cq, wc, 2);
	(void)poll_n(ab.qp[1]->recv_cq, wc, 2);
	assert_null(memmem(r, sizeof(r), "ENCSHIM", 7));
	assert_int_equal(post_send(ab.qp[1], 2, "x", 1, IBV_WR_SEND), EIO);
	free_pair(&cd);
	free_pair(&ab);
}

/* The same splice with the HELLOs' GIDs rewritten to the ones each side
 * expects: the keys bind the addresses each QP was connected to, so C's
 * frames do not open at B. */
static void test_rc_splice_rewritten_gids(void **state)
{
	struct pair ab, cd;
	char r[64], rc_[64];
	struct ibv_wc wc[2];
	uint32_t base = next_qpn;

	make_pair(&ab);
	next_qpn = base;
	make_pair(&cd);
	connect_qp_av(ab.qp[0], ab.qp[1]->qp_num, 1, 2);
	connect_qp_av(ab.qp[1], ab.qp[0]->qp_num, 2, 1);
	connect_qp_av(cd.qp[0], cd.qp[1]->qp_num, 3, 4);
	connect_qp_av(cd.qp[1], cd.qp[0]->qp_num, 4, 3);
	((struct fqp *)cd.qp[0])->peer = (struct fqp *)ab.qp[1];
	((struct fqp *)ab.qp[1])->peer = (struct fqp *)cd.qp[0];
	memset(r, 0, sizeof(r));
	assert_int_equal(post_recv(ab.qp[1], 5, r, sizeof(r)), 0);
	assert_int_equal(post_recv(cd.qp[0], 6, rc_, sizeof(rc_)), 0);
	tamper_len = ESV_HELLO_BYTES; /* C's GID (index 3) becomes A's (1) */
	tamper_at = 47;
	tamper_xor = 3 ^ 1;
	assert_int_equal(post_send(cd.qp[0], 1, marker, sizeof(marker), IBV_WR_SEND), 0);
	tamper_len = ESV_HELLO_BYTES; /* B's answer: its GID (2) becomes D's (4) */
	tamper_at = 47;
	tamper_xor = 2 ^ 4;
	(void)poll_n(ab.qp[1]->recv_cq, wc, 2);
	(void)poll_n(cd.qp[0]->send_cq, wc, 2);
	assert_int_equal(poll_n(ab.qp[1]->recv_cq, wc, 2), 1);
	assert_int_equal(wc[0].wr_id, 5);
	assert_int_equal(wc[0].status, IBV_WC_GENERAL_ERR);
	assert_null(memmem(r, sizeof(r), "ENCSHIM", 7));
	free_pair(&cd);
	free_pair(&ab);
}

/* The job secret is not left in an ordinary global once queues exist. */
static void test_secret_not_global(void **state)
{
	struct pair p;

	make_pair(&p);
	assert_true(sodium_is_zero(esv_cfg.secret, sizeof(esv_cfg.secret)));
	free_pair(&p);
}

/* ------------------------------------------------------------------ UD */

struct udhost {
	struct ibv_cq *cq;
	struct ibv_qp *qp;
};

static void make_ud(struct ibv_context *ctx, struct udhost *h, uint8_t gid_last)
{
	struct ibv_qp_init_attr ia;
	struct ibv_qp_attr a;

	h->cq = ibv_create_cq(ctx, 64, NULL, NULL, 0);
	assert_non_null(h->cq);
	memset(&ia, 0, sizeof(ia));
	ia.send_cq = ia.recv_cq = h->cq;
	ia.qp_type = IBV_QPT_UD;
	ia.cap.max_send_wr = 16;
	ia.cap.max_recv_wr = 16;
	ia.cap.max_send_sge = 2;
	ia.cap.max_recv_sge = 2;
	h->qp = ibv_create_qp(&fpd, &ia);
	assert_non_null(h->qp);
	((struct fqp *)h->qp)->gid[15] = gid_last;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_INIT;
	a.port_num = 1;
	a.qkey = 0x11111111;
	assert_int_equal(ibv_modify_qp(h->qp, &a, IBV_QP_STATE | IBV_QP_PORT |
				       IBV_QP_QKEY), 0);
	a.qp_state = IBV_QPS_RTR;
	assert_int_equal(ibv_modify_qp(h->qp, &a, IBV_QP_STATE), 0);
	a.qp_state = IBV_QPS_RTS;
	assert_int_equal(ibv_modify_qp(h->qp, &a, IBV_QP_STATE), 0);
}

static void free_ud(struct udhost *h)
{
	assert_int_equal(ibv_destroy_qp(h->qp), 0);
	assert_int_equal(ibv_destroy_cq(h->cq), 0);
}

/* An AH from host from (its GID's index as the source GID index) to h. */
static struct ibv_ah *ah_to(struct udhost *from, struct udhost *h)
{
	struct ibv_ah_attr attr;
	struct ibv_ah *ah;

	memset(&attr, 0, sizeof(attr));
	attr.is_global = 1;
	attr.grh.sgid_index = ((struct fqp *)from->qp)->gid[15];
	memcpy(attr.grh.dgid.raw, ((struct fqp *)h->qp)->gid, 16);
	ah = ibv_create_ah(&fpd, &attr);
	assert_non_null(ah);
	return ah;
}

static int post_send_ud(struct udhost *from, struct ibv_ah *ah, struct udhost *to,
			uint64_t id, const void *buf, uint32_t len, enum ibv_wr_opcode op)
{
	struct ibv_sge sg = { .addr = (uintptr_t)buf, .length = len, .lkey = 1 };
	struct ibv_send_wr w, *bad = NULL;

	memset(&w, 0, sizeof(w));
	w.wr_id = id;
	w.sg_list = &sg;
	w.num_sge = 1;
	w.opcode = op;
	w.send_flags = IBV_SEND_SIGNALED;
	w.imm_data = htonl(0x01020304);
	w.wr.ud.ah = ah;
	w.wr.ud.remote_qpn = to->qp->qp_num;
	w.wr.ud.remote_qkey = 0x11111111;
	return ibv_post_send(from->qp, &w, &bad);
}

static void cleanup_wire(struct ibv_context *ctx)
{
	assert_int_equal(ibv_close_device(ctx), 0);
	for (int i = 0; i < nwire; i++)
		free(wire[i].data);
	nwire = 0;
}

/* UD both ways: HELLO asking for an answer, the answer, then one sealed
 * datagram per send; the receiver sees GRH || plaintext, byte_len
 * 40 + length, the immediate restored, the sender's GID in the GRH. */
static void test_ud_sealed(void **state)
{
	struct ibv_context *ctx = ibv_open_device(NULL);
	struct udhost a, b;
	struct ibv_ah *to_b, *to_a;
	uint8_t rb[ESV_GRH_BYTES + 64], ra[ESV_GRH_BYTES + 64];
	struct ibv_wc wc[2];

	make_ud(ctx, &a, 1);
	make_ud(ctx, &b, 2);
	to_b = ah_to(&a, &b);
	to_a = ah_to(&b, &a);
	memset(rb, 0, sizeof(rb));
	assert_int_equal(post_recv(b.qp, 20, rb, sizeof(rb)), 0);
	/* UD drops what finds no receive: the answer lands in A's. */
	assert_int_equal(post_recv(a.qp, 30, ra, sizeof(ra)), 0);
	assert_int_equal(post_send_ud(&a, to_b, &b, 10, marker, sizeof(marker),
				      IBV_WR_SEND_WITH_IMM), 0);
	assert_int_equal(nwire, 1); /* the HELLO only: no keys yet */
	assert_int_equal(wire[0].len, ESV_HELLO_BYTES);
	assert_int_equal(wire[0].data[6], 0); /* asks for an answer */
	assert_int_equal(poll_n(b.cq, wc, 1), 0); /* B answers */
	assert_int_equal(wire[1].len, ESV_HELLO_BYTES + ENCSHIM_OVERHEAD);
	assert_int_equal(wire[1].data[6], 1);
	assert_int_equal(poll_n(a.cq, wc, 1), 1); /* A: keys, sends */
	assert_int_equal(wc[0].wr_id, 10);
	assert_int_equal(wc[0].status, IBV_WC_SUCCESS);
	assert_int_equal(poll_n(b.cq, wc, 1), 1);
	assert_int_equal(wc[0].wr_id, 20);
	assert_int_equal(wc[0].status, IBV_WC_SUCCESS);
	assert_int_equal(wc[0].byte_len, ESV_GRH_BYTES + sizeof(marker));
	assert_true(wc[0].wc_flags & IBV_WC_WITH_IMM);
	assert_int_equal(ntohl(wc[0].imm_data), 0x01020304);
	assert_int_equal(wc[0].src_qp, a.qp->qp_num);
	assert_int_equal(rb[8 + 15], 1); /* GRH: A's GID */
	assert_memory_equal(rb + ESV_GRH_BYTES, marker, sizeof(marker));
	assert_int_equal(wire[2].len, sizeof(marker) + ESV_OVERHEAD);
	/* And back: B has A's keys already, no more HELLOs. */
	assert_int_equal(post_send_ud(&b, to_a, &a, 40, marker, 12, IBV_WR_SEND), 0);
	assert_int_equal(nwire, 4);
	assert_int_equal(poll_n(b.cq, wc, 1), 1);
	assert_int_equal(wc[0].wr_id, 40);
	assert_int_equal(poll_n(a.cq, wc, 1), 1);
	assert_int_equal(wc[0].wr_id, 30);
	assert_int_equal(wc[0].byte_len, ESV_GRH_BYTES + 12);
	assert_false(wc[0].wc_flags & IBV_WC_WITH_IMM);
	assert_memory_equal(ra + ESV_GRH_BYTES, marker, 12);
	assert_false(wire_has(marker, 12));
	assert_int_equal(ibv_destroy_ah(to_a), 0);
	assert_int_equal(ibv_destroy_ah(to_b), 0);
	free_ud(&a);
	free_ud(&b);
	cleanup_wire(ctx);
}

/* A UD QP sending to itself (UCX does) gets its own HELLO back and keys
 * of the mirror identity: both datagrams open, in order, none in clear. */
static void test_ud_self(void **state)
{
	struct ibv_context *ctx = ibv_open_device(NULL);
	struct udhost a;
	struct ibv_ah *self;
	uint8_t r[2][ESV_GRH_BYTES + 64];
	struct ibv_wc wc[4];
	int got, recvs = 0;

	make_ud(ctx, &a, 1);
	self = ah_to(&a, &a);
	assert_int_equal(post_recv(a.qp, 1, r[0], sizeof(r[0])), 0);
	assert_int_equal(post_recv(a.qp, 2, r[1], sizeof(r[1])), 0);
	assert_int_equal(post_send_ud(&a, self, &a, 5, marker, 20, IBV_WR_SEND), 0);
	assert_int_equal(post_send_ud(&a, self, &a, 6, marker + 1, 20, IBV_WR_SEND), 0);
	got = poll_n(a.cq, wc, 4);
	assert_int_equal(got, 4);
	for (int i = 0; i < got; i++) {
		assert_int_equal(wc[i].status, IBV_WC_SUCCESS);
		if (wc[i].opcode == IBV_WC_RECV)
			assert_int_equal(wc[i].wr_id, (uint64_t)++recvs);
	}
	assert_int_equal(recvs, 2);
	assert_memory_equal(r[0] + ESV_GRH_BYTES, marker, 20);
	assert_memory_equal(r[1] + ESV_GRH_BYTES, marker + 1, 20);
	assert_false(wire_has(marker + 1, 16));
	assert_int_equal(ibv_destroy_ah(self), 0);
	free_ud(&a);
	cleanup_wire(ctx);
}

/* A datagram from a sender without keys (no preload) is never delivered:
 * the receive completes with GENERAL_ERR (vendor_err 0xe5e5), zeroed; the
 * QP stays up for its other peers. */
static void test_ud_unkeyed_sender(void **state)
{
	struct ibv_context *ctx = ibv_open_device(NULL);
	struct udhost a, b;
	struct ibv_ah *to_b;
	uint8_t rb[ESV_GRH_BYTES + 64], ra[ESV_GRH_BYTES + 64];
	struct ibv_sge sg = { (uintptr_t)marker, sizeof(marker), 1 };
	struct ibv_send_wr w, *bad;
	struct ibv_wc wc[2];

	make_ud(ctx, &a, 1);
	make_ud(ctx, &b, 2);
	to_b = ah_to(&a, &b);
	memset(rb, 0, sizeof(rb));
	assert_int_equal(post_recv(b.qp, 7, rb, sizeof(rb)), 0);
	assert_int_equal(post_recv(a.qp, 1, ra, sizeof(ra)), 0);
	memset(&w, 0, sizeof(w));
	w.sg_list = &sg;
	w.num_sge = 1;
	w.opcode = IBV_WR_SEND;
	w.wr.ud.ah = to_b;
	w.wr.ud.remote_qpn = b.qp->qp_num;
	assert_int_equal(f_post_send(a.qp, &w, &bad), 0); /* bypasses the shim */
	assert_int_equal(poll_n(b.cq, wc, 1), 1);
	assert_int_equal(wc[0].wr_id, 7);
	assert_int_equal(wc[0].status, IBV_WC_GENERAL_ERR);
	assert_int_equal(wc[0].vendor_err, 0xe5e5);
	assert_null(memmem(rb, sizeof(rb), "ENCSHIM", 7));
	/* The same sender, now through the shim: delivered. */
	assert_int_equal(post_recv(b.qp, 8, rb, sizeof(rb)), 0);
	assert_int_equal(post_send_ud(&a, to_b, &b, 9, marker, 16, IBV_WR_SEND), 0);
	(void)poll_n(b.cq, wc, 1);
	assert_int_equal(poll_n(a.cq, wc, 1), 1);
	assert_int_equal(wc[0].wr_id, 9);
	assert_int_equal(poll_n(b.cq, wc, 1), 1);
	assert_int_equal(wc[0].wr_id, 8);
	assert_int_equal(wc[0].status, IBV_WC_SUCCESS);
	assert_memory_equal(rb + ESV_GRH_BYTES, marker, 16);
	assert_int_equal(ibv_destroy_ah(to_b), 0);
	free_ud(&a);
	free_ud(&b);
	cleanup_wire(ctx);
}

/* Sends raw bytes below the shim: what an attacker on the wire injects. */
static void raw_send_ud(struct udhost *from, struct ibv_ah *ah, struct udhost *to,
			const void *buf, uint32_t len)
{
	struct ibv_sge sg = { (uintptr_t)buf, len, 1 };
	struct ibv_send_wr w, *bad;

	memset(&w, 0, sizeof(w));
	w.sg_list = &sg;
	w.num_sge = 1;
	w.opcode = IBV_WR_SEND;
	w.wr.ud.ah = ah;
	w.wr.ud.remote_qpn = to->qp->qp_num;
	assert_int_equal(f_post_send(from->qp, &w, &bad), 0);
}

/* A keyed UD peer's second, different HELLO is dropped. Taking it would
 * start a fresh replay window, and the first HELLO replayed after it
 * would let the first session's frames be delivered a second time. */
static void test_ud_hello_replay(void **state)
{
	struct ibv_context *ctx = ibv_open_device(NULL);
	uint8_t rb[ESV_GRH_BYTES + 64], ra[ESV_GRH_BYTES + 64];
	uint8_t h1[ESV_HELLO_BYTES], h2[ESV_HELLO_BYTES], f1[16 + ESV_OVERHEAD];
	struct udhost a, b;
	struct ibv_ah *to_b;
	struct ibv_wc wc[2];

	make_ud(ctx, &a, 1);
	make_ud(ctx, &b, 2);
	to_b = ah_to(&a, &b);
	assert_int_equal(post_recv(b.qp, 20, rb, sizeof(rb)), 0);
	assert_int_equal(post_recv(a.qp, 30, ra, sizeof(ra)), 0);
	assert_int_equal(post_send_ud(&a, to_b, &b, 10, marker, 16, IBV_WR_SEND), 0);
	assert_int_equal(poll_n(b.cq, wc, 1), 0); /* B answers the HELLO */
	assert_int_equal(poll_n(a.cq, wc, 1), 1);
	assert_int_equal(poll_n(b.cq, wc, 1), 1);
	assert_int_equal(wc[0].status, IBV_WC_SUCCESS);
	assert_int_equal(wire[0].len, sizeof(h1));
	assert_int_equal(wire[2].len, sizeof(f1));
	memcpy(h1, wire[0].data, sizeof(h1));
	memcpy(f1, wire[2].data, sizeof(f1));
	memcpy(h2, h1, sizeof(h2));
	h2[16] ^= 1; /* another connection id: other keys */
	assert_int_equal(post_recv(b.qp, 21, rb, sizeof(rb)), 0);
	/* B polls after each: the fake drops datagrams that find no
	 * receive, and the shim re-posts a HELLO's receive as it polls */
	raw_send_ud(&a, to_b, &b, h2, sizeof(h2));
	assert_int_equal(poll_n(b.cq, wc, 1), 0);
	raw_send_ud(&a, to_b, &b, h1, sizeof(h1));
	assert_int_equal(poll_n(b.cq, wc, 1), 0);
	raw_send_ud(&a, to_b, &b, f1, sizeof(f1));
	assert_int_equal(poll_n(b.cq, wc, 1), 1);
	assert_int_equal(wc[0].wr_id, 21);
	assert_int_equal(wc[0].status, IBV_WC_GENERAL_ERR); /* a replay */
	assert_int_equal(ibv_destroy_ah(to_b), 0);
	free_ud(&a);
	free_ud(&b);
	cleanup_wire(ctx);
}

/* Injects a datagram into QP to as if QP src_qpn at the GID ending in
 * src_gid sent it: an attacker who writes any source address. */
static void inject_ud(struct udhost *to, uint32_t src_qpn, uint8_t src_gid,
		      const void *buf, size_t len)
{
	struct fqp *t = (struct fqp *)to->qp;
	struct fmsg d = { .len = 0 };

	d.len = ESV_GRH_BYTES + len;
	d.data = calloc(1, d.len);
	d.data[0] = 0x60;
	d.data[8 + 15] = src_gid;
	memcpy(d.data + 24, t->gid, 16);
	memcpy(d.data + ESV_GRH_BYTES, buf, len);
	deliver_from(t, d, src_qpn, 1);
}

/* Index of the n-th wire message from QP src of length len (-1: none). */
static int wire_find(uint32_t src, size_t len, int n)
{
	for (int i = 0; i < nwire; i++)
		if (wire_src[i] == src && wire[i].len == len && !n--)
			return i;
	return -1;
}

/* No two frames that QP src put on the wire share a nonce (header). */
static void assert_no_nonce_twice(uint32_t src)
{
	for (int i = 0; i < nwire; i++)
		for (int j = i + 1; j < nwire; j++)
			if (wire_src[i] == src && wire_src[j] == src &&
			    wire[i].len >= ESV_OVERHEAD && wire[j].len >= ESV_OVERHEAD &&
			    wire[i].data[0] == 1 && wire[j].data[0] == 1)
				assert_memory_not_equal(wire[i].data, wire[j].data,
							ENCSHIM_HEADER_BYTES);
}

/* Keys A -> B with one datagram (marker, 16 bytes) delivered into rb. */
static void ud_keyed(struct udhost *a, struct udhost *b, struct ibv_ah *to_b,
		     uint8_t *rb, uint8_t *ra, size_t rlen)
{
	struct ibv_wc wc[2];

	assert_int_equal(post_recv(b->qp, 20, rb, (uint32_t)rlen), 0);
	assert_int_equal(post_recv(a->qp, 30, ra, (uint32_t)rlen), 0);
	assert_int_equal(post_send_ud(a, to_b, b, 10, marker, 16, IBV_WR_SEND), 0);
	assert_int_equal(poll_n(b->cq, wc, 1), 0); /* B answers the HELLO */
	assert_int_equal(poll_n(a->cq, wc, 1), 1); /* A: confirmed, sent */
	assert_int_equal(poll_n(b->cq, wc, 1), 1);
	assert_int_equal(wc[0].status, IBV_WC_SUCCESS);
}

/* Item 1: A's HELLO replayed from a spoofed address (GID ...:9). Then
 * (replay_frame) A's captured frame from there: not delivered a second
 * time; and B's application answers the spoofed address: it never seals
 * under a nonce already used (before: a second session with the same
 * keys, sequence from 0 again). */
static void ud_spoofed(int replay_frame)
{
	struct ibv_context *ctx = ibv_open_device(NULL);
	uint8_t rb[ESV_GRH_BYTES + 64], ra[ESV_GRH_BYTES + 64];
	struct udhost a, b;
	struct ibv_ah *to_b, *to_a, *to_spoof;
	struct ibv_ah_attr attr;
	struct ibv_wc wc[4];
	int h, f;

	make_ud(ctx, &a, 1);
	make_ud(ctx, &b, 2);
	to_b = ah_to(&a, &b);
	to_a = ah_to(&b, &a);
	ud_keyed(&a, &b, to_b, rb, ra, sizeof(rb));
	h = wire_find(a.qp->qp_num, ESV_HELLO_BYTES, 0);
	f = wire_find(a.qp->qp_num, 16 + ESV_OVERHEAD, 0);
	assert_true(h >= 0 && f >= 0);
	/* B answers A once: its first frame under the session with A. */
	assert_int_equal(post_recv(a.qp, 31, ra, sizeof(ra)), 0);
	assert_int_equal(post_send_ud(&b, to_a, &a, 11, "reply-to-a", 10, IBV_WR_SEND), 0);
	(void)poll_n(a.cq, wc, 2);
	(void)poll_n(b.cq, wc, 2);
	/* The attacker: A's HELLO, then A's frame, from GID ...:9. */
	memset(rb, 0, sizeof(rb));
	assert_int_equal(post_recv(b.qp, 21, rb, sizeof(rb)), 0);
	inject_ud(&b, a.qp->qp_num, 9, wire[h].data, wire[h].len);
	(void)poll_n(b.cq, wc, 1);
	if (replay_frame) {
		inject_ud(&b, a.qp->qp_num, 9, wire[f].data, wire[f].len);
		assert_int_equal(poll_n(b.cq, wc, 1), 1);
		assert_int_equal(wc[0].wr_id, 21);
		assert_int_equal(wc[0].status, IBV_WC_GENERAL_ERR);
		assert_null(memmem(rb, sizeof(rb), "ENCSHIM", 7));
	}
	/* B's application answers the address it saw. */
	memset(&attr, 0, sizeof(attr));
	attr.is_global = 1;
	attr.grh.dgid.raw[15] = 9;
	to_spoof = ibv_create_ah(&fpd, &attr);
	assert_non_null(to_spoof);
	assert_int_equal(post_send_ud(&b, to_spoof, &a, 12, "reply-to-9", 10,
				      IBV_WR_SEND), 0);
	(void)poll_n(b.cq, wc, 2);
	assert_no_nonce_twice(b.qp->qp_num);
	assert_int_equal(ibv_destroy_ah(to_spoof), 0);
	assert_int_equal(ibv_destroy_ah(to_a), 0);
	assert_int_equal(ibv_destroy_ah(to_b), 0);
	free_ud(&a);
	free_ud(&b);
	cleanup_wire(ctx);
}

static void test_ud_spoofed_replay(void **state)
{
	ud_spoofed(1);
}

static void test_ud_spoofed_answer(void **state)
{
	ud_spoofed(0);
}

/* Item 2: A and B have the same QP number (two hosts). B's HELLO to A,
 * reflected back to B as from A, must not key anything, and B's own
 * frames reflected back must never be delivered to B. */
static void test_ud_reflection(void **state)
{
	struct ibv_context *ca = ibv_open_device(NULL), *cb;
	uint8_t rb[2][ESV_GRH_BYTES + 64];
	struct udhost a, b;
	struct ibv_ah *to_a;
	struct ibv_wc wc[4];
	uint32_t base = next_qpn;
	int h, got;

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
	inject_ud(&b, a.qp->qp_num, 1, wire[h].data, wire[h].len);
	(void)poll_n(b.cq, wc, 4);
	/* Whatever B sealed, reflected back to B as from A. */
	for (int i = 0; i < nwire; i++)
		if (wire_src[i] == b.qp->qp_num &&
		    wire[i].len == sizeof(marker) + ESV_OVERHEAD)
			inject_ud(&b, a.qp->qp_num, 1, wire[i].data, wire[i].len);
	got = poll_n(b.cq, wc, 4);
	for (int i = 0; i < got; i++)
		assert_false(wc[i].opcode == IBV_WC_RECV &&
			     wc[i].status == IBV_WC_SUCCESS);
	assert_null(memmem(rb, sizeof(rb), "ENCSHIM", 7));
	assert_int_equal(ibv_destroy_ah(to_a), 0);
	free_ud(&a);
	free_ud(&b);
	assert_int_equal(ibv_close_device(cb), 0);
	cleanup_wire(ca);
}

/* A HELLO as A's, with the check value copied but the attacker's public
 * key. */
static void forge_hello(uint8_t *h)
{
	uint8_t sk[32];

	randombytes_buf(sk, sizeof(sk));
	crypto_scalarmult_base(h + 48, sk);
	randombytes_buf(h + 16, 16);
}

/* Item 5: a forged HELLO (copied check value, the attacker's key) that
 * reaches B before A's does not pre-empt A: A's HELLO, repeated, still
 * keys, and A's data is delivered. */
static void test_ud_forged_hello(void **state)
{
	struct ibv_context *ctx = ibv_open_device(NULL);
	uint8_t rb[ESV_GRH_BYTES + 64], ra[ESV_GRH_BYTES + 64], fh[ESV_HELLO_BYTES];
	struct udhost a, b;
	struct ibv_ah *to_b;
	struct ibv_wc wc[4];
	int h, got, delivered = 0;

	make_ud(ctx, &a, 1);
	make_ud(ctx, &b, 2);
	to_b = ah_to(&a, &b);
	/* A's HELLO goes out while B has no receive: lost (or held back by
	 * the attacker), but seen. */
	assert_int_equal(post_send_ud(&a, to_b, &b, 10, marker, 16, IBV_WR_SEND), 0);
	h = wire_find(a.qp->qp_num, ESV_HELLO_BYTES, 0);
	assert_true(h >= 0);
	memcpy(fh, wire[h].data, sizeof(fh));
	forge_hello(fh);
	memset(rb, 0, sizeof(rb));
	assert_int_equal(post_recv(b.qp, 20, rb, sizeof(rb)), 0);
	assert_int_equal(post_recv(a.qp, 30, ra, sizeof(ra)), 0);
	inject_ud(&b, a.qp->qp_num, 1, fh, sizeof(fh));
	(void)poll_n(b.cq, wc, 4);
	(void)poll_n(a.cq, wc, 4);
	/* A's own HELLO, repeated later (A repeats it while unanswered). */
	usleep((useconds_t)(ESV_UD_HELLO_GAP * 1.2e6));
	inject_ud(&b, a.qp->qp_num, 1, wire[h].data, wire[h].len);
	for (int round = 0; round < 4; round++) {
		got = poll_n(b.cq, wc, 4);
		for (int i = 0; i < got; i++)
			if (wc[i].wr_id == 20 && wc[i].status == IBV_WC_SUCCESS)
				delivered = 1;
		(void)poll_n(a.cq, wc, 4);
	}
	assert_true(delivered);
	assert_memory_equal(rb + ESV_GRH_BYTES, marker, 16);
	assert_int_equal(ibv_destroy_ah(to_b), 0);
	free_ud(&a);
	free_ud(&b);
	cleanup_wire(ctx);
}

static long rss_kb(void)
{
	long pages = 0, res = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	assert_non_null(f);
	assert_int_equal(fscanf(f, "%ld %ld", &pages, &res), 2);
	fclose(f);
	return res * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Item 5: 20,000 HELLOs with a valid (copied) check value from as many
 * spoofed sources: B's memory stays bounded, and the real peer still
 * keys and delivers afterwards. */
static void test_ud_hello_flood(void **state)
{
	struct ibv_context *ctx = ibv_open_device(NULL);
	uint8_t rb[ESV_GRH_BYTES + 64], ra[ESV_GRH_BYTES + 64], fh[ESV_HELLO_BYTES];
	struct udhost a, b;
	struct ibv_ah *to_b;
	struct ibv_wc wc[16];
	struct timespec t0, t1;
	double saved = esv_cfg.hello_timeout;
	long before, after;
	int h;

	esv_cfg.hello_timeout = 3600; /* A waits through the flood, however slow */
	make_ud(ctx, &a, 1);
	make_ud(ctx, &b, 2);
	to_b = ah_to(&a, &b);
	assert_int_equal(post_send_ud(&a, to_b, &b, 10, marker, 16, IBV_WR_SEND), 0);
	h = wire_find(a.qp->qp_num, ESV_HELLO_BYTES, 0);
	assert_true(h >= 0);
	for (int i = 0; i < 8; i++)
		assert_int_equal(post_recv(b.qp, 100 + (uint64_t)i, rb, sizeof(rb)), 0);
	before = rss_kb();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	wire_quiet = 1;
	for (uint32_t i = 0; i < 20000; i++) {
		memcpy(fh, wire[h].data, sizeof(fh));
		forge_hello(fh);
		{
			uint32_t src = htonl(0x400000u + i);

			memcpy(fh + 8, &src, 4);
		}
		inject_ud(&b, 0x400000u + i, (uint8_t)(16 + i % 200), fh, sizeof(fh));
		while (ibv_poll_cq(b.cq, 16, wc) > 0)
			;
	}
	wire_quiet = 0;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	after = rss_kb();
	printf("# 20000 spoofed HELLOs: %.2f s, resident memory +%ld KiB\n",
	       (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9,
	       after - before);
	assert_true(after - before < 32 * 1024);
	/* The flood's strangers were answered: each keeps its slot for
	 * hello_timeout (test_attack_ud_evict_answered), then may go. A's
	 * deadline was set before, at 3600 s: it still waits. */
	esv_cfg.hello_timeout = 0.1;
	/* The real peer: its HELLO (repeated a moment later), then its data. */
	usleep((useconds_t)(ESV_UD_HELLO_GAP * 1.2e6));
	memset(rb, 0, sizeof(rb));
	assert_int_equal(post_recv(a.qp, 30, ra, sizeof(ra)), 0);
	inject_ud(&b, a.qp->qp_num, 1, wire[h].data, wire[h].len);
	{
		int delivered = 0;

		for (int round = 0; round < 4 && !delivered; round++) {
			int got = ibv_poll_cq(b.cq, 16, wc);

			for (int i = 0; i < got; i++)
				if (wc[i].status == IBV_WC_SUCCESS &&
				    wc[i].opcode == IBV_WC_RECV)
					delivered = 1;
			(void)poll_n(a.cq, wc, 1);
		}
		if (!delivered) {
			int got = poll_n(b.cq, wc, 1);

			delivered = got == 1 && wc[0].status == IBV_WC_SUCCESS;
		}
		assert_true(delivered);
	}
	assert_memory_equal(rb + ESV_GRH_BYTES, marker, 16);
	assert_int_equal(ibv_destroy_ah(to_b), 0);
	free_ud(&a);
	free_ud(&b);
	cleanup_wire(ctx);
	esv_cfg.hello_timeout = saved;
}

/* Whether the marker is anywhere in the shadow regions of qp's sends. */
static int spool_has_marker(struct ibv_qp *qp)
{
	struct esv_qp *q = esv_qp_find(qp);

	for (struct esv_region *r = q->spool.regions; r; r = r->next)
		if (memmem(r->mem, r->slot_size * r->nslots, marker, 16))
			return 1;
	return 0;
}

/* Staging buffers that held plaintext are wiped before they go back to
 * their pool: queued RC sends flushed by a failing QP, held UD sends
 * dropped by a RESET. */
static void test_staging_wiped(void **state)
{
	struct pair p;
	struct ibv_context *ctx;
	struct udhost a, b;
	struct ibv_ah *to_b;
	struct ibv_qp_attr at;
	struct ibv_wc wc[4];

	make_pair(&p);
	connect_pair(&p);
	/* Queued behind the HELLO (B never answers), then the QP fails. */
	assert_int_equal(post_send(p.qp[0], 1, marker, sizeof(marker), IBV_WR_SEND), 0);
	memset(&at, 0, sizeof(at));
	at.qp_state = IBV_QPS_ERR;
	assert_int_equal(ibv_modify_qp(p.qp[0], &at, IBV_QP_STATE), 0);
	(void)poll_n(p.cq[0], wc, 2);
	assert_false(spool_has_marker(p.qp[0]));
	free_pair(&p);

	ctx = ibv_open_device(NULL);
	make_ud(ctx, &a, 1);
	make_ud(ctx, &b, 2);
	to_b = ah_to(&a, &b);
	/* Held (B posts no receive: no answer), then A is reset. */
	assert_int_equal(post_send_ud(&a, to_b, &b, 1, marker, sizeof(marker),
				      IBV_WR_SEND), 0);
	memset(&at, 0, sizeof(at));
	at.qp_state = IBV_QPS_RESET;
	assert_int_equal(ibv_modify_qp(a.qp, &at, IBV_QP_STATE), 0);
	assert_false(spool_has_marker(a.qp));
	assert_int_equal(ibv_destroy_ah(to_b), 0);
	free_ud(&a);
	free_ud(&b);
	cleanup_wire(ctx);
}

static int hellos_to(uint32_t qpn)
{
	int n = 0;

	for (int i = 0; i < nwire; i++)
		if (wire[i].len == ESV_HELLO_BYTES && !memcmp(wire[i].data, "ESVH", 4) &&
		    ntohl(*(uint32_t *)(wire[i].data + 12)) == qpn)
			n++;
	return n;
}

/* Sends to a UD peer that has not answered yet wait without holding back
 * sends to a peer that has; a later send repeats the unanswered HELLO
 * after ESV_UD_HELLO_RESEND, and the held sends then go out in order. */
static void test_ud_no_head_of_line(void **state)
{
	struct ibv_context *ctx = ibv_open_device(NULL);
	struct udhost a, b, c;
	struct ibv_ah *to_b, *to_c;
	uint8_t ra[2][ESV_GRH_BYTES + 64], rb[ESV_GRH_BYTES + 64];
	uint8_t rc[2][ESV_GRH_BYTES + 64];
	struct ibv_wc wc[4];
	int got;

	make_ud(ctx, &a, 1);
	make_ud(ctx, &b, 2);
	make_ud(ctx, &c, 3);
	to_b = ah_to(&a, &b);
	to_c = ah_to(&a, &c);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(post_recv(a.qp, 1, ra[i], sizeof(ra[i])), 0);
		assert_int_equal(post_recv(c.qp, 60 + i, rc[i], sizeof(rc[i])), 0);
	}
	assert_int_equal(post_recv(b.qp, 50, rb, sizeof(rb)), 0);
	/* C does not answer while nobody polls it. */
	assert_int_equal(post_send_ud(&a, to_c, &c, 1, "to-c-1", 7, IBV_WR_SEND), 0);
	assert_int_equal(post_send_ud(&a, to_b, &b, 2, "to-b", 5, IBV_WR_SEND), 0);
	assert_int_equal(poll_n(b.cq, wc, 1), 0); /* B answers */
	assert_int_equal(poll_n(a.cq, wc, 1), 1); /* the send to B went out */
	assert_int_equal(wc[0].wr_id, 2);
	assert_int_equal(poll_n(b.cq, wc, 1), 1);
	assert_int_equal(wc[0].wr_id, 50);
	assert_memory_equal(rb + ESV_GRH_BYTES, "to-b", 5);
	/* C's HELLO (in C's receive queue) is repeated by a later send. */
	assert_int_equal(hellos_to(c.qp->qp_num), 1);
	assert_int_equal(post_send_ud(&a, to_c, &c, 3, "to-c-2", 7, IBV_WR_SEND), 0);
	assert_int_equal(hellos_to(c.qp->qp_num), 1);
	usleep((useconds_t)(ESV_UD_HELLO_RESEND * 1e6) + 50000);
	assert_int_equal(post_send_ud(&a, to_c, &c, 4, "to-c-3", 7, IBV_WR_SEND), 0);
	assert_int_equal(hellos_to(c.qp->qp_num), 2);
	assert_int_equal(poll_n(c.cq, wc, 2), 0); /* C answers both */
	got = poll_n(a.cq, wc, 4);
	assert_int_equal(got, 3);
	assert_int_equal(wc[0].wr_id, 1); /* in order */
	assert_int_equal(wc[1].wr_id, 3);
	assert_int_equal(wc[2].wr_id, 4);
	got = poll_n(c.cq, wc, 4);
	assert_int_equal(got, 2); /* two receives posted: the third is lost */
	assert_int_equal(wc[0].wr_id, 60);
	assert_memory_equal(rc[0] + ESV_GRH_BYTES, "to-c-1", 7);
	assert_memory_equal(rc[1] + ESV_GRH_BYTES, "to-c-2", 7);
	assert_int_equal(ibv_destroy_ah(to_b), 0);
	assert_int_equal(ibv_destroy_ah(to_c), 0);
	free_ud(&a);
	free_ud(&b);
	free_ud(&c);
	cleanup_wire(ctx);
}

/* ------------------------------------------------- completion channels */

/* Completions the shim makes (here: the flushes of a QP whose peer never
 * answered) are announced by ONE software event on a non-blocking channel;
 * the next ibv_get_cq_event says EAGAIN at once instead of announcing them
 * again (UCX's pre_arm drains events until EAGAIN from its async thread),
 * and acknowledging the software event does not reach libibverbs. */
static void test_channel_soft_event_once(void **state)
{
	struct ibv_context *ctx = ibv_open_device(NULL);
	struct ibv_comp_channel ch = { .context = ctx };
	struct ibv_qp_init_attr ia;
	struct ibv_cq *scq, *rcq, *ev = NULL;
	struct ibv_qp *qp;
	struct ibv_wc wc[2];
	void *evctx = NULL;
	double saved = esv_cfg.hello_timeout;
	char buf[16] = "x";

	ch.fd = eventfd(0, EFD_NONBLOCK);
	assert_true(ch.fd >= 0);
	scq = ibv_create_cq(ctx, 16, &ch, &ch, 0);
	rcq = ibv_create_cq(ctx, 16, NULL, NULL, 0);
	memset(&ia, 0, sizeof(ia));
	ia.send_cq = scq;
	ia.recv_cq = rcq;
	ia.qp_type = IBV_QPT_RC;
	ia.cap.max_send_wr = ia.cap.max_recv_wr = 4;
	ia.cap.max_send_sge = ia.cap.max_recv_sge = 1;
	qp = ibv_create_qp(&fpd, &ia);
	assert_non_null(qp);
	connect_qp(qp, 0x999); /* nobody there: no HELLO will come */
	esv_cfg.hello_timeout = 1e-6;
	assert_int_equal(post_send(qp, 77, buf, 1, IBV_WR_SEND), 0);
	usleep(1000);
	real_events = real_acks = 0;
	assert_int_equal(ibv_get_cq_event(&ch, &ev, &evctx), 0);
	assert_ptr_equal(ev, scq);
	assert_ptr_equal(evctx, &ch);
	assert_int_equal(ibv_get_cq_event(&ch, &ev, &evctx), -1);
	assert_int_equal(errno, EAGAIN);
	ibv_ack_cq_events(scq, 1);
	assert_int_equal(real_events, 0);
	assert_int_equal(real_acks, 0);
	assert_int_equal(ibv_poll_cq(scq, 2, wc), 1);
	assert_int_equal(wc[0].wr_id, 77);
	assert_int_equal(wc[0].status, IBV_WC_WR_FLUSH_ERR);
	esv_cfg.hello_timeout = saved;
	assert_int_equal(ibv_destroy_qp(qp), 0);
	assert_int_equal(ibv_destroy_cq(scq), 0);
	assert_int_equal(ibv_destroy_cq(rcq), 0);
	close(ch.fd);
	cleanup_wire(ctx);
}

/* A QP waiting for its peer's HELLO makes a blocking channel wait in
 * 10 ms steps; a non-blocking one (UCX's) must answer EAGAIN at once. */
static void test_channel_nonblocking_no_wait(void **state)
{
	struct ibv_context *ctx = ibv_open_device(NULL);
	struct ibv_comp_channel ch = { .context = ctx };
	struct ibv_qp_init_attr ia;
	struct ibv_cq *cq, *ev = NULL;
	struct ibv_qp *qp;
	void *evctx = NULL;
	struct timespec t0, t1;
	char buf[4] = "x";

	ch.fd = eventfd(0, EFD_NONBLOCK);
	assert_true(ch.fd >= 0);
	cq = ibv_create_cq(ctx, 16, NULL, &ch, 0);
	memset(&ia, 0, sizeof(ia));
	ia.send_cq = ia.recv_cq = cq;
	ia.qp_type = IBV_QPT_RC;
	ia.cap.max_send_wr = ia.cap.max_recv_wr = 4;
	ia.cap.max_send_sge = ia.cap.max_recv_sge = 1;
	qp = ibv_create_qp(&fpd, &ia);
	assert_non_null(qp);
	connect_qp(qp, 0x999); /* nobody there: the HELLO stays unanswered */
	assert_int_equal(post_send(qp, 1, buf, 1, IBV_WR_SEND), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(ibv_get_cq_event(&ch, &ev, &evctx), -1);
	assert_int_equal(errno, EAGAIN);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(t1.tv_sec - t0.tv_sec < 2);
	assert_int_equal(ibv_destroy_qp(qp), 0);
	assert_int_equal(ibv_destroy_cq(cq), 0);
	close(ch.fd);
	cleanup_wire(ctx);
}

/* The application sleeps on its send CQ's channel while the peer's HELLO
 * arrives on the receive CQ: the wait polls the handshake forward, the
 * queued send goes out sealed, and the hardware event is passed on. */
static void test_channel_progress_while_waiting(void **state)
{
	struct ibv_context *ctx = ibv_open_device(NULL);
	struct ibv_comp_channel ch = { .context = ctx };
	struct ibv_qp_init_attr ia;
	struct ibv_cq *cq[3], *ev = NULL;
	struct ibv_qp *qp[2];
	struct ibv_wc wc[2];
	void *evctx = NULL;
	char r[64];
	uint64_t one = 1;

	ch.fd = eventfd(0, 0); /* blocking, as ibv_rc_pingpong -e */
	assert_true(ch.fd >= 0);
	cq[0] = ibv_create_cq(ctx, 16, NULL, &ch, 0); /* A's send CQ */
	cq[1] = ibv_create_cq(ctx, 16, NULL, NULL, 0); /* A's receive CQ */
	cq[2] = ibv_create_cq(ctx, 16, NULL, NULL, 0); /* B's */
	for (int i = 0; i < 2; i++) {
		memset(&ia, 0, sizeof(ia));
		ia.send_cq = cq[i ? 2 : 0];
		ia.recv_cq = cq[i ? 2 : 1];
		ia.qp_type = IBV_QPT_RC;
		ia.cap.max_send_wr = ia.cap.max_recv_wr = 4;
		ia.cap.max_send_sge = ia.cap.max_recv_sge = 1;
		qp[i] = ibv_create_qp(&fpd, &ia);
		assert_non_null(qp[i]);
	}
	((struct fqp *)qp[0])->peer = (struct fqp *)qp[1];
	((struct fqp *)qp[1])->peer = (struct fqp *)qp[0];
	connect_qp(qp[0], qp[1]->qp_num);
	connect_qp(qp[1], qp[0]->qp_num);
	assert_int_equal(post_recv(qp[1], 3, r, sizeof(r)), 0);
	assert_int_equal(post_send(qp[0], 4, marker, sizeof(marker), IBV_WR_SEND), 0);
	assert_int_equal(poll_n(cq[2], wc, 1), 0); /* B answers A's HELLO */
	assert_int_equal(nwire, 2);
	/* The "hardware" will announce A's send completion. */
	assert_int_equal(write(ch.fd, &one, sizeof(one)), (ssize_t)sizeof(one));
	real_events = 0;
	fake_event_cq = cq[0];
	assert_int_equal(ibv_get_cq_event(&ch, &ev, &evctx), 0);
	assert_ptr_equal(ev, cq[0]);
	assert_int_equal(real_events, 1);
	assert_int_equal(nwire, 3); /* the queued send went out, sealed */
	assert_int_equal(poll_n(cq[0], wc, 1), 1);
	assert_int_equal(wc[0].wr_id, 4);
	ibv_ack_cq_events(cq[0], 1);
	assert_int_equal(poll_n(cq[2], wc, 1), 1);
	assert_int_equal(wc[0].wr_id, 3);
	assert_string_equal(r, marker);
	assert_false(wire_has(marker, 16));
	fake_event_cq = NULL;
	for (int i = 0; i < 2; i++)
		assert_int_equal(ibv_destroy_qp(qp[i]), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(ibv_destroy_cq(cq[i]), 0);
	close(ch.fd);
	cleanup_wire(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_imm_and_sges),
		cmocka_unit_test(test_order_before_keys),
		cmocka_unit_test(test_rnr_preserved),
		cmocka_unit_test(test_tamper),
		cmocka_unit_test(test_peer_without_shim),
		cmocka_unit_test(test_other_secret),
		cmocka_unit_test(test_one_sided_refused),
		cmocka_unit_test(test_one_sided_opt_in),
		cmocka_unit_test(test_key_missing),
		cmocka_unit_test(test_raw_refused),
		cmocka_unit_test(test_mlx5dv_refused),
		cmocka_unit_test(test_import_device_patched),
		cmocka_unit_test(test_reconnect_fresh_keys),
		cmocka_unit_test(test_rc_order_strict),
		cmocka_unit_test(test_uc_order_monotonic),
		cmocka_unit_test(test_rc_splice),
		cmocka_unit_test(test_rc_splice_rewritten_gids),
		cmocka_unit_test(test_secret_not_global),
		cmocka_unit_test(test_ud_sealed),
		cmocka_unit_test(test_ud_self),
		cmocka_unit_test(test_ud_unkeyed_sender),
		cmocka_unit_test(test_ud_hello_replay),
		cmocka_unit_test(test_ud_spoofed_replay),
		cmocka_unit_test(test_ud_spoofed_answer),
		cmocka_unit_test(test_ud_reflection),
		cmocka_unit_test(test_ud_forged_hello),
		cmocka_unit_test(test_ud_hello_flood),
		cmocka_unit_test(test_staging_wiped),
		cmocka_unit_test(test_ud_no_head_of_line),
		cmocka_unit_test(test_channel_soft_event_once),
		cmocka_unit_test(test_channel_nonblocking_no_wait),
		cmocka_unit_test(test_channel_progress_while_waiting),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the receive path of the verbs interposer (verbs/), RC
 * and UD, over an in-process fake provider. A victim QP and a peer QP,
 * both under the shim, exchange real HELLOs and sealed frames; the input is
 * a program of operations that an attacker on the wire performs on that
 * traffic: deliver in order, out of order, twice, with a byte flipped,
 * inject raw bytes, inject HELLOs carrying a VALID check value from any
 * source (QPN, GID) with fields taken from the input, and application sends
 * and polls on both sides.
 *
 * Oracle (abort on violation): every message the victim's application
 * receives is one the peer's application sent, with its exact contents;
 * on RC in exactly the sent order (each one the next), on UD each at most
 * once. Plus ASan/UBSan on everything the shim does.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sodium.h>
#include <infiniband/verbs.h>

#include "esv.h"

void esv_test_install(const struct esv_real *fake);

/* ------------------------------------------------------------ the fake */

#define NRQ 32
#define NWIRE 64
struct fq {
	struct ibv_qp qp;
	uint8_t gid;               /* last byte of its GID */
	struct {
		uint64_t wr_id;
		struct ibv_sge sge;
	} rq[NRQ];
	int rh, rn;
};
struct fcq {
	struct ibv_cq cq;
	struct ibv_wc wc[512];
	int h, n;
};
struct fah {
	struct ibv_ah ah;
	uint8_t dgid;
};
struct fmsg {
	struct fq *from;
	uint32_t dst_qpn;
	uint8_t dgid;
	uint8_t *d;
	size_t len;
};

static struct verbs_context fctx;
static struct ibv_pd fpd;
static struct fq *fqs[4];
static int nfq;
static uint32_t next_qpn = 0x40;
static struct fmsg wire[NWIRE];
static int nwire;

static void cq_push(struct ibv_cq *cq, const struct ibv_wc *wc)
{
	struct fcq *c = (struct fcq *)cq;

	if (c->n == 512)
		abort(); /* the harness polls often enough */
	c->wc[(c->h + c->n++) % 512] = *wc;
}

static int f_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr,
		       struct ibv_send_wr **bad)
{
	for (; wr; wr = wr->next) {
		struct fmsg m = { .from = (struct fq *)qp };
		size_t off = 0;

		if (qp->state != IBV_QPS_RTS) {
			*bad = wr;
			return EINVAL;
		}
		for (int i = 0; i < wr->num_sge; i++)
			m.len += wr->sg_list[i].length;
		m.d = malloc(m.len + 1);
		for (int i = 0; i < wr->num_sge; i++) {
			memcpy(m.d + off, (void *)(uintptr_t)wr->sg_list[i].addr,
			       wr->sg_list[i].length);
			off += wr->sg_list[i].length;
		}
		if (qp->qp_type == IBV_QPT_UD) {
			m.dst_qpn = wr->wr.ud.remote_qpn;
			m.dgid = ((struct fah *)wr->wr.ud.ah)->dgid;
		}
		if (nwire < NWIRE)
			wire[nwire++] = m;
		else
			free(m.d);
		if (wr->send_flags & IBV_SEND_SIGNALED) {
			struct ibv_wc wc = { .wr_id = wr->wr_id, .opcode = IBV_WC_SEND,
					     .qp_num = qp->qp_num };

			cq_push(qp->send_cq, &wc);
		}
	}
	return 0;
}

static int f_post_recv(struct ibv_qp *qp, struct ibv_recv_wr *wr,
		       struct ibv_recv_wr **bad)
{
	struct fq *q = (struct fq *)qp;

	for (; wr; wr = wr->next) {
		if (q->rn == NRQ || wr->num_sge != 1) {
			*bad = wr;
			return ENOMEM;
		}
		q->rq[(q->rh + q->rn) % NRQ].wr_id = wr->wr_id;
		q->rq[(q->rh + q->rn) % NRQ].sge = wr->sg_list[0];
		q->rn++;
	}
	return 0;
}

static int f_poll_cq(struct ibv_cq *cq, int n, struct ibv_wc *wc)
{
	struct fcq *c = (struct fcq *)cq;
	int k = 0;

	while (k < n && c->n) {
		wc[k++] = c->wc[c->h];
		c->h = (c->h + 1) % 512;
		c->n--;
	}
	return k;
}

/* Delivers d (len bytes) into to's next receive, as sent by QP src from
 * the GID ending in sgid (UD: behind a GRH). No receive: lost. */
static void deliver(struct fq *to, const uint8_t *d, size_t len, uint32_t src,
		    uint8_t sgid)
{
	struct ibv_wc wc = { .qp_num = to->qp.qp_num, .src_qp = src,
			     .opcode = IBV_WC_RECV };
	int ud = to->qp.qp_type == IBV_QPT_UD;
	size_t total = len + (ud ? ESV_GRH_BYTES : 0);
	uint8_t *buf;

	if (!to->rn || to->qp.state < IBV_QPS_RTR)
		return;
	wc.wr_id = to->rq[to->rh].wr_id;
	buf = (uint8_t *)(uintptr_t)to->rq[to->rh].sge.addr;
	if (total > to->rq[to->rh].sge.length) {
		wc.status = IBV_WC_LOC_LEN_ERR;
	} else {
		if (ud) {
			memset(buf, 0, ESV_GRH_BYTES);
			buf[0] = 0x60;
			buf[8 + 15] = sgid;
			buf[24 + 15] = to->gid;
			wc.wc_flags = IBV_WC_GRH;
		}
		memcpy(buf + (ud ? ESV_GRH_BYTES : 0), d, len);
		wc.byte_len = (uint32_t)total;
	}
	to->rh = (to->rh + 1) % NRQ;
	to->rn--;
	cq_push(to->qp.recv_cq, &wc);
}

static struct ibv_context *f_open_device(struct ibv_device *d)
{
	(void)d;
	fctx.sz = sizeof(fctx);
	fctx.context.abi_compat = __VERBS_ABI_IS_EXTENDED;
	fctx.context.ops.post_send = f_post_send;
	fctx.context.ops.post_recv = f_post_recv;
	fctx.context.ops.poll_cq = f_poll_cq;
	fpd.context = &fctx.context;
	return &fctx.context;
}

static struct ibv_cq *f_create_cq(struct ibv_context *ctx, int cqe, void *u,
				  struct ibv_comp_channel *ch, int v)
{
	struct fcq *c = calloc(1, sizeof(*c));

	(void)cqe;
	(void)ch;
	(void)v;
	c->cq.context = ctx;
	c->cq.cq_context = u;
	return &c->cq;
}

static struct ibv_qp *f_create_qp(struct ibv_pd *pd, struct ibv_qp_init_attr *a)
{
	struct fq *q = calloc(1, sizeof(*q));

	q->qp.context = pd->context;
	q->qp.pd = pd;
	q->qp.qp_num = next_qpn++;
	q->qp.qp_type = a->qp_type;
	q->qp.send_cq = a->send_cq;
	q->qp.recv_cq = a->recv_cq;
	q->qp.state = IBV_QPS_RESET;
	q->gid = (uint8_t)(nfq + 1);
	fqs[nfq++] = q;
	return &q->qp;
}

static int f_modify_qp(struct ibv_qp *qp, struct ibv_qp_attr *a, int mask)
{
	struct fq *q = (struct fq *)qp;

	if (!(mask & IBV_QP_STATE))
		return 0;
	qp->state = a->qp_state;
	if (a->qp_state == IBV_QPS_RESET)
		q->rn = 0;
	for (; a->qp_state == IBV_QPS_ERR && q->rn; q->rn--) {
		struct ibv_wc wc = { .wr_id = q->rq[q->rh].wr_id, .qp_num = qp->qp_num,
				     .status = IBV_WC_WR_FLUSH_ERR };

		q->rh = (q->rh + 1) % NRQ;
		cq_push(qp->recv_cq, &wc);
	}
	return 0;
}

static struct ibv_mr *f_reg_mr(struct ibv_pd *pd, void *addr, size_t len, int acc)
{
	struct ibv_mr *mr = calloc(1, sizeof(*mr));

	(void)acc;
	mr->pd = pd;
	mr->addr = addr;
	mr->length = len;
	return mr;
}

static int f_dereg_mr(struct ibv_mr *mr)
{
	free(mr);
	return 0;
}

static int f_query_gid(struct ibv_context *c, uint8_t port, int idx, union ibv_gid *g)
{
	(void)c;
	(void)port;
	memset(g, 0, sizeof(*g));
	g->raw[15] = (uint8_t)idx;
	return 0;
}

static int f_query_port(struct ibv_context *c, uint8_t port, struct ibv_port_attr *pa)
{
	(void)c;
	(void)port;
	memset(pa, 0, sizeof(*pa));
	pa->gid_tbl_len = 256;
	return 0;
}

static struct ibv_ah *f_create_ah(struct ibv_pd *pd, struct ibv_ah_attr *attr)
{
	struct fah *a = calloc(1, sizeof(*a));

	a->ah.pd = pd;
	a->ah.context = pd->context;
	a->dgid = attr->grh.dgid.raw[15];
	return &a->ah;
}

static struct ibv_ah *f_create_ah_from_wc(struct ibv_pd *pd, struct ibv_wc *wc,
					  struct ibv_grh *grh, uint8_t port)
{
	struct ibv_ah_attr attr;

	(void)wc;
	(void)port;
	memset(&attr, 0, sizeof(attr));
	attr.is_global = 1;
	attr.grh.dgid.raw[15] = grh->sgid.raw[15];
	attr.grh.sgid_index = grh->dgid.raw[15];
	return f_create_ah(pd, &attr);
}

static int f_destroy_ah(struct ibv_ah *ah)
{
	free(ah);
	return 0;
}

static const struct esv_real fake = {
	.open_device = f_open_device,
	.create_qp = f_create_qp,
	.modify_qp = f_modify_qp,
	.create_cq = f_create_cq,
	.reg_mr = f_reg_mr,
	.dereg_mr = f_dereg_mr,
	.query_gid = f_query_gid,
	.query_port = f_query_port,
	.create_ah = f_create_ah,
	.create_ah_from_wc = f_create_ah_from_wc,
	.destroy_ah = f_destroy_ah,
};

/* ------------------------------------------------------------- harness */

#define MSG 40
struct side {
	struct ibv_cq *cq;
	struct ibv_qp *qp;
	struct fq *f;
	uint8_t rbuf[16][ESV_GRH_BYTES + MSG + 8];
	unsigned next_rbuf;
};
static struct side rc[2], ud[2]; /* [0] victim, [1] peer */
static struct ibv_ah *ud_ah[2];    /* to the victim, to the peer */
static uint8_t check[ENCSHIM_CHECK_BYTES];
static uint8_t sent[256][MSG];
static uint8_t sent_len[256];
static unsigned nsent, next_rc, delivered_ud[256];

static void make_side(struct side *s, enum ibv_qp_type t)
{
	struct ibv_qp_init_attr ia;

	memset(&ia, 0, sizeof(ia));
	s->cq = ibv_create_cq(&fctx.context, 256, NULL, NULL, 0);
	ia.send_cq = ia.recv_cq = s->cq;
	ia.qp_type = t;
	ia.cap.max_send_wr = 16;
	ia.cap.max_recv_wr = 16;
	ia.cap.max_send_sge = ia.cap.max_recv_sge = 1;
	s->qp = ibv_create_qp(&fpd, &ia);
	if (!s->qp)
		abort();
	s->f = (struct fq *)s->qp;
}

static void setup(void)
{
	static char path[64];
	struct encshim_local *l;
	struct ibv_ah_attr attr;
	FILE *f;

	snprintf(path, sizeof(path), "/tmp/encshim-fuzz-key.%ld", (long)getpid());
	f = fopen(path, "w");
	if (!f)
		abort();
	fprintf(f, "encshim-secret-v1:");
	for (int i = 0; i < 32; i++)
		fprintf(f, "%02x", (unsigned)(i * 5 + 3));
	fprintf(f, "\n");
	if (fclose(f) || chmod(path, 0600))
		abort();
	setenv("ENCSHIM_KEY_FILE", path, 1);
	esv_test_install(&fake);
	if (!ibv_open_device(NULL))
		abort();
	for (int i = 0; i < 2; i++) {
		make_side(&rc[i], IBV_QPT_RC);
		make_side(&ud[i], IBV_QPT_UD);
	}
	for (int i = 0; i < 2; i++) {
		memset(&attr, 0, sizeof(attr));
		attr.is_global = 1;
		attr.grh.dgid.raw[15] = ud[i].f->gid;
		attr.grh.sgid_index = ud[1 - i].f->gid; /* the sender's GID */
		ud_ah[i] = ibv_create_ah(&fpd, &attr);
	}
	/* The check value C every HELLO of this job carries (it is public). */
	if (esv_local_new(&l, (const uint8_t *)"x", 1))
		abort();
	encshim_local_secret_check(l, check);
	encshim_local_free(l);
	unlink(path);
}

static void to_state(struct side *s, enum ibv_qp_state st, int mask,
		     struct ibv_qp_attr *a)
{
	a->qp_state = st;
	if (ibv_modify_qp(s->qp, a, mask | IBV_QP_STATE))
		abort();
}

static void post_recv(struct side *s)
{
	struct ibv_sge sg = { .length = sizeof(s->rbuf[0]) };
	struct ibv_recv_wr w = { .sg_list = &sg, .num_sge = 1 }, *bad;

	sg.addr = (uintptr_t)s->rbuf[s->next_rbuf % 16];
	w.wr_id = s->next_rbuf++ % 16;
	(void)ibv_post_recv(s->qp, &w, &bad);
}

/* Fresh connections: RESET, then INIT, RTR, RTS, 8 receives each. */
static void reconnect(void)
{
	struct ibv_qp_attr a;

	for (int i = 0; i < nwire; i++)
		free(wire[i].d);
	nwire = 0;
	for (int i = 0; i < 2; i++) {
		memset(&a, 0, sizeof(a));
		to_state(&rc[i], IBV_QPS_RESET, 0, &a);
		to_state(&ud[i], IBV_QPS_RESET, 0, &a);
		a.port_num = 1;
		to_state(&rc[i], IBV_QPS_INIT, IBV_QP_PORT, &a);
		a.qkey = 0x1111;
		to_state(&ud[i], IBV_QPS_INIT, IBV_QP_PORT | IBV_QP_QKEY, &a);
		to_state(&ud[i], IBV_QPS_RTR, 0, &a);
		to_state(&ud[i], IBV_QPS_RTS, 0, &a);
		memset(&a, 0, sizeof(a));
		a.dest_qp_num = rc[!i].qp->qp_num;
		a.ah_attr.is_global = 1;
		a.ah_attr.grh.sgid_index = rc[i].f->gid;
		a.ah_attr.grh.dgid.raw[15] = rc[!i].f->gid;
		to_state(&rc[i], IBV_QPS_RTR, IBV_QP_DEST_QPN | IBV_QP_AV, &a);
		memset(&a, 0, sizeof(a));
		to_state(&rc[i], IBV_QPS_RTS, 0, &a);
		for (int k = 0; k < 8; k++) {
			post_recv(&rc[i]);
			post_recv(&ud[i]);
		}
	}
	nsent = next_rc = 0;
	memset(delivered_ud, 0, sizeof(delivered_ud));
}

/* The victim's application got message wc: the oracle. */
static void check_delivery(struct side *s, int is_ud, const struct ibv_wc *wc)
{
	const uint8_t *m = s->rbuf[wc->wr_id % 16] + (is_ud ? ESV_GRH_BYTES : 0);
	size_t len = wc->byte_len - (is_ud ? ESV_GRH_BYTES : 0);
	unsigned k;

	if (wc->status != IBV_WC_SUCCESS || wc->opcode != IBV_WC_RECV)
		return;
	if (len < 1)
		abort();
	k = m[0];
	if (k >= nsent || len != sent_len[k] || memcmp(m, sent[k], len))
		abort(); /* never sent: a forgery */
	if (!is_ud && k != next_rc++)
		abort(); /* RC: out of order, lost or twice */
	if (is_ud && delivered_ud[k]++)
		abort(); /* UD: twice */
}

static void poll_all(void)
{
	struct ibv_wc wc[16];
	int n;

	for (int i = 0; i < 2; i++) {
		while ((n = ibv_poll_cq(rc[i].cq, 16, wc)) > 0)
			for (int j = 0; j < n; j++) {
				if (!i)
					check_delivery(&rc[0], 0, &wc[j]);
				if (wc[j].opcode & IBV_WC_RECV)
					post_recv(&rc[i]);
			}
		while ((n = ibv_poll_cq(ud[i].cq, 16, wc)) > 0)
			for (int j = 0; j < n; j++) {
				if (!i)
					check_delivery(&ud[0], 1, &wc[j]);
				if (wc[j].opcode & IBV_WC_RECV)
					post_recv(&ud[i]);
			}
	}
}

/* An application send on side s: message number nsent (its first byte)
 * when from the peer, then filler from the input. */
static void app_send(struct side *s, int is_ud, int to_victim,
		     const uint8_t **p, const uint8_t *end)
{
	struct ibv_sge sg;
	struct ibv_send_wr w, *bad;
	uint8_t msg[MSG];
	size_t len = 1 + (*p < end ? **p % (MSG - 1) : 0);

	if (*p < end)
		(*p)++;
	if (nsent == 256)
		return;
	memset(msg, 0xA5, sizeof(msg));
	msg[0] = (uint8_t)nsent;
	for (size_t i = 1; i < len && *p < end; i++)
		msg[i] = *(*p)++;
	memset(&w, 0, sizeof(w));
	sg.addr = (uintptr_t)msg;
	sg.length = (uint32_t)len;
	w.sg_list = &sg;
	w.num_sge = 1;
	w.opcode = IBV_WR_SEND;
	w.send_flags = IBV_SEND_SIGNALED;
	if (is_ud) {
		w.wr.ud.ah = ud_ah[to_victim ? 0 : 1];
		w.wr.ud.remote_qpn = ud[to_victim ? 0 : 1].qp->qp_num;
		w.wr.ud.remote_qkey = 0x1111;
	}
	if (ibv_post_send(s->qp, &w, &bad) || !to_victim)
		return;
	memcpy(sent[nsent], msg, len);
	sent_len[nsent++] = (uint8_t)len;
}

/* Puts wire message m on its way (RC: to the other side; UD: to the QP
 * and GID it names), from its sender's own address. */
static void forward(const struct fmsg *m, const uint8_t *d)
{
	for (int i = 0; i < 2; i++) {
		if (m->from == rc[!i].f)
			deliver(rc[i].f, d, m->len, m->from->qp.qp_num, m->from->gid);
		if (m->from->qp.qp_type == IBV_QPT_UD && m->dst_qpn == ud[i].qp->qp_num &&
		    m->dgid == ud[i].f->gid)
			deliver(ud[i].f, d, m->len, m->from->qp.qp_num, m->from->gid);
	}
}

static uint8_t next(const uint8_t **p, const uint8_t *end)
{
	return *p < end ? *(*p)++ : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *end = data + size;
	int is_ud;

	if (!rc[0].qp)
		setup();
	if (size < 1)
		return 0;
	is_ud = next(&p, end) & 1;
	reconnect();
	for (int steps = 0; p < end && steps < 64; steps++) {
		struct side *v = is_ud ? &ud[0] : &rc[0], *pe = is_ud ? &ud[1] : &rc[1];
		uint8_t op = next(&p, end), buf[ESV_HELLO_MAX + 8];
		int k = nwire ? next(&p, end) % nwire : -1;
		size_t len;

		switch (op % 8) {
		case 0: /* the peer's application sends to the victim */
			app_send(pe, is_ud, 1, &p, end);
			break;
		case 1: /* in order */
			k = nwire ? 0 : -1;
			/* fall through */
		case 2: /* any one, honestly: reordered */
			if (k < 0)
				break;
			forward(&wire[k], wire[k].d);
			free(wire[k].d);
			wire[k] = wire[--nwire];
			break;
		case 3: /* a copy of one (replayed, reflected, misrouted) to the
			 * victim from any source, with one byte changed or not */
			if (k < 0 || !wire[k].len)
				break;
			len = wire[k].len < sizeof(buf) ? wire[k].len : sizeof(buf);
			memcpy(buf, wire[k].d, len);
			if (next(&p, end) & 1)
				buf[next(&p, end) % len] ^= next(&p, end) | 1;
			deliver(v->f, buf, len, (next(&p, end) & 1) ? v->qp->qp_num
								     : pe->qp->qp_num,
				next(&p, end) % 5);
			break;
		case 4: /* raw bytes to the victim, from the peer or a spoofed source */
			len = next(&p, end) % sizeof(buf);
			for (size_t i = 0; i < len; i++)
				buf[i] = next(&p, end);
			deliver(v->f, buf, len, (next(&p, end) & 1) ? v->qp->qp_num
								     : pe->qp->qp_num,
				next(&p, end) % 5);
			break;
		case 5: /* a HELLO with a valid check value and fields from the
			 * input (or a captured one), from any source */
			memset(buf, 0, sizeof(buf));
			if (k >= 0 && !memcmp(wire[k].d, ESV_HELLO_MAGIC, 4))
				memcpy(buf, wire[k].d, wire[k].len < sizeof(buf)
							     ? wire[k].len : sizeof(buf));
			memcpy(buf, ESV_HELLO_MAGIC, 4);
			buf[4] = ESV_HELLO_VERSION;
			buf[5] = (uint8_t)v->qp->qp_type;
			buf[6] = next(&p, end) & 1;
			esv_put_be32(buf + 8, (next(&p, end) & 1) ? v->qp->qp_num
								  : pe->qp->qp_num);
			esv_put_be32(buf + 12, v->qp->qp_num);
			for (int i = 16; i < 80 && p < end; i += 4)
				if (next(&p, end) & 1)
					buf[i + next(&p, end) % 4] = next(&p, end);
			memcpy(buf + 80, check, sizeof(check));
			deliver(v->f, buf, buf[6] && is_ud ? ESV_HELLO_MAX : ESV_HELLO_BYTES,
				esv_get_be32(buf + 8), next(&p, end) % 5);
			break;
		case 6: /* the victim's application sends */
			app_send(v, is_ud, 0, &p, end);
			break;
		default:
			break;
		}
		poll_all();
	}
	poll_all();
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * The data path of the verbs interposer: shadow pools, the send ring, the
 * application receive FIFO, the in-band HELLO handshake, sealing on post
 * and opening on poll. Everything runs under esv_lock.
 *
 * Receives are decoupled from the application's: for every receive the
 * application posts, the shim posts one shadow buffer (application length
 * + ESV_OVERHEAD) and queues the application's WR in a FIFO; a message
 * that completes in a shadow is opened into the FIFO's head. RC receive
 * queues are FIFOs, so message i still lands in receive i, and the number
 * of posted receives equals the application's (plus one, consumed by the
 * peer's HELLO), so an RNR still happens where it would without the shim.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sodium.h>

#include "esv.h"

struct esv_stats esv_stats;
pthread_mutex_t esv_lock;

void esv_lock_init(void)
{
	pthread_mutexattr_t a;

	pthread_mutexattr_init(&a);
	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&esv_lock, &a);
	pthread_mutexattr_destroy(&a);
}

void esv_log(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	n = snprintf(buf, sizeof(buf), "encshim-verbs[%d]: ", (int)getpid());
	va_start(ap, fmt);
	vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	strcat(buf, "\n");
	fputs(buf, stderr);
}

const char *esv_opcode_name(enum ibv_wr_opcode op)
{
	switch (op) {
	case IBV_WR_RDMA_WRITE: return "RDMA_WRITE";
	case IBV_WR_RDMA_WRITE_WITH_IMM: return "RDMA_WRITE_WITH_IMM";
	case IBV_WR_SEND: return "SEND";
	case IBV_WR_SEND_WITH_IMM: return "SEND_WITH_IMM";
	case IBV_WR_RDMA_READ: return "RDMA_READ";
	case IBV_WR_ATOMIC_CMP_AND_SWP: return "ATOMIC_CMP_AND_SWP";
	case IBV_WR_ATOMIC_FETCH_AND_ADD: return "ATOMIC_FETCH_AND_ADD";
	case IBV_WR_LOCAL_INV: return "LOCAL_INV";
	case IBV_WR_BIND_MW: return "BIND_MW";
	case IBV_WR_SEND_WITH_INV: return "SEND_WITH_INV";
	case IBV_WR_TSO: return "TSO";
	default: return "(unknown opcode)";
	}
}

/* ---------------------------------------------------------------- pools */

static void region_free(struct esv_region *r)
{
	if (r->mr)
		esv_real.dereg_mr(r->mr);
	if (r->mem) {
		sodium_memzero(r->mem, r->slot_size * r->nslots);
		free(r->mem);
	}
	free(r->slots);
	free(r);
}

static struct esv_region *region_new(struct esv_pool *p, size_t slot_size)
{
	struct esv_region *r = calloc(1, sizeof(*r));
	size_t total = slot_size * p->nslots;

	if (!r)
		return NULL;
	r->pool = p;
	r->slot_size = slot_size;
	r->nslots = p->nslots;
	r->slots = calloc(r->nslots, sizeof(*r->slots));
	if (!r->slots || posix_memalign((void **)&r->mem, 4096, total)) {
		free(r->slots);
		free(r);
		return NULL;
	}
	memset(r->mem, 0, total);
	r->mr = esv_real.reg_mr(p->pd, r->mem, total, IBV_ACCESS_LOCAL_WRITE);
	if (!r->mr) {
		esv_log("cannot register %zu bytes of shadow buffers: %s",
			total, strerror(errno));
		r->mr = NULL;
		region_free(r);
		return NULL;
	}
	for (size_t i = r->nslots; i-- > 0;) {
		r->slots[i].tag = ESV_TAG_SHADOW;
		r->slots[i].region = r;
		r->slots[i].buf = r->mem + i * slot_size;
		r->slots[i].next_free = r->free;
		r->free = &r->slots[i];
	}
	return r;
}

static void pool_init(struct esv_pool *p, struct ibv_pd *pd, size_t nslots)
{
	memset(p, 0, sizeof(*p));
	p->pd = pd;
	p->nslots = nslots ? nslots : 1;
}

/* A slot of at least need bytes. Registers a region only when no region
 * has a free slot that large: at set-up, when the application's message
 * size grows, or when a queue is over-posted. */
static struct esv_shadow *pool_get(struct esv_pool *p, size_t need)
{
	struct esv_region *r;
	struct esv_shadow *s;

	if (need < ESV_MIN_SLOT)
		need = ESV_MIN_SLOT;
	need = (need + 63) & ~(size_t)63;
	for (r = p->regions; r; r = r->next)
		if (!r->retired && r->slot_size >= need && r->free)
			goto take;
	if (need > p->want)
		p->want = need;
	r = region_new(p, p->want);
	if (!r)
		return NULL;
	/* Smaller regions are retired and freed when their slots return. */
	for (struct esv_region **pp = &p->regions; *pp;) {
		struct esv_region *o = *pp;

		if (o->slot_size < p->want) {
			o->retired = 1;
			if (!o->in_use) {
				*pp = o->next;
				region_free(o);
				continue;
			}
		}
		pp = &o->next;
	}
	r->next = p->regions;
	p->regions = r;
take:
	s = r->free;
	r->free = s->next_free;
	s->next_free = NULL;
	s->owner_qp = NULL;
	r->in_use++;
	return s;
}

static void pool_put(struct esv_shadow *s)
{
	struct esv_region *r = s->region;
	struct esv_pool *p = r->pool;

	s->next_free = r->free;
	r->free = s;
	r->in_use--;
	if (r->retired && !r->in_use) {
		for (struct esv_region **pp = &p->regions; *pp; pp = &(*pp)->next)
			if (*pp == r) {
				*pp = r->next;
				break;
			}
		region_free(r);
	}
}

/* Every slot back to free (after RESET, when the hardware forgot them). */
static void pool_reclaim(struct esv_pool *p)
{
	for (struct esv_region *r = p->regions; r; r = r->next) {
		r->free = NULL;
		for (size_t i = r->nslots; i-- > 0;) {
			r->slots[i].next_free = r->free;
			r->free = &r->slots[i];
		}
		r->in_use = 0;
	}
}

static void pool_destroy(struct esv_pool *p)
{
	while (p->regions) {
		struct esv_region *r = p->regions;

		p->regions = r->next;
		region_free(r);
	}
}

/* ------------------------------------------------------------- helpers */

static size_t sge_total(const struct ibv_sge *sg, int n)
{
	size_t t = 0;

	for (int i = 0; i < n; i++)
		t += sg[i].length;
	return t;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* Envelope (authenticated, not sent): label, QP type, sender and
 * receiver QP numbers. */
static size_t make_env(uint8_t env[16], enum ibv_qp_type t, uint32_t src,
		       uint32_t dst)
{
	memcpy(env, "ESV1", 4);
	env[4] = (uint8_t)t;
	put_be32(env + 5, src);
	put_be32(env + 9, dst);
	return 13;
}

/* Identity of one end of a connection: QP type, QPN, GID, connection id. */
static size_t make_identity(uint8_t id[64], enum ibv_qp_type t, uint32_t qpn,
			    const uint8_t gid[16], const uint8_t connid[16])
{
	id[0] = 'Q';
	id[1] = (uint8_t)t;
	put_be32(id + 2, qpn);
	memcpy(id + 6, gid, 16);
	memcpy(id + 22, connid, ESV_CONNID_BYTES);
	return 22 + ESV_CONNID_BYTES;
}

static struct esv_rq *rq_of(struct esv_qp *q)
{
	return q->srq ? &q->srq->rq : &q->rq;
}

static int rq_init(struct esv_rq *rq, struct ibv_pd *pd, unsigned cap,
		   unsigned max_sge, unsigned shadow_slots)
{
	memset(rq, 0, sizeof(*rq));
	rq->cap = cap ? cap : 1;
	rq->max_sge = max_sge ? max_sge : 1;
	rq->ring = calloc(rq->cap, sizeof(*rq->ring));
	rq->sges = calloc((size_t)rq->cap * rq->max_sge, sizeof(*rq->sges));
	if (!rq->ring || !rq->sges) {
		free(rq->ring);
		free(rq->sges);
		return -1;
	}
	for (unsigned i = 0; i < rq->cap; i++)
		rq->ring[i].sge = rq->sges + (size_t)i * rq->max_sge;
	pool_init(&rq->pool, pd, shadow_slots);
	return 0;
}

static void rq_fini(struct esv_rq *rq)
{
	pool_destroy(&rq->pool);
	free(rq->ring);
	free(rq->sges);
}

static struct esv_rwr *rq_pop(struct esv_rq *rq)
{
	struct esv_rwr *r;

	if (!rq->count)
		return NULL;
	r = &rq->ring[rq->head];
	rq->head = (rq->head + 1) % rq->cap;
	rq->count--;
	return r;
}

/* Stash of completions to hand out at the next poll of a CQ. */
static void stash_push(struct esv_cq *c, const struct ibv_wc *wc)
{
	if (c->stash_count == c->stash_cap) {
		unsigned ncap = c->stash_cap ? c->stash_cap * 2 : 64;
		struct ibv_wc *n = malloc(ncap * sizeof(*n));

		if (!n) {
			esv_log("out of memory: a completion is lost");
			return;
		}
		for (unsigned i = 0; i < c->stash_count; i++)
			n[i] = c->stash[(c->stash_head + i) % c->stash_cap];
		free(c->stash);
		c->stash = n;
		c->stash_cap = ncap;
		c->stash_head = 0;
	}
	/* One software event per fill of an empty stash, as the hardware
	 * raises one per arming: announcing a non-empty stash at every
	 * ibv_get_cq_event would never let a caller that drains events
	 * until EAGAIN (UCX's uct_ib_iface_pre_arm) return. */
	if (!c->stash_count)
		c->soft_due = 1;
	c->stash[(c->stash_head + c->stash_count) % c->stash_cap] = *wc;
	c->stash_count++;
}

/* ------------------------------------------------------------ send ring */

static struct esv_swr *swr_alloc(struct esv_qp *q)
{
	struct esv_swr *e;

	if (q->count == q->cap)
		return NULL;
	e = &q->ring[(q->head + q->count) % q->cap];
	q->count++;
	e->tag = ESV_TAG_SEND;
	e->kind = 0;
	e->posted = 0;
	e->signaled = 0;
	e->sh = NULL;
	e->ptlen = 0;
	e->up = NULL;
	memset(&e->wr, 0, sizeof(e->wr));
	return e;
}

/* Drops the newest entry (a post that failed before reaching the wire). */
static void swr_unalloc(struct esv_qp *q, struct esv_swr *e)
{
	if (e->sh)
		pool_put(e->sh);
	e->sh = NULL;
	e->tag = 0;
	q->count--;
}

/* A completion for e: e and every earlier entry are done (RC/UD send
 * queues complete in order; unsignaled entries complete implicitly). */
static void swr_release_upto(struct esv_qp *q, struct esv_swr *e)
{
	while (q->nposted) {
		struct esv_swr *c = &q->ring[q->head];

		if (c->sh)
			pool_put(c->sh);
		c->sh = NULL;
		c->tag = 0;
		q->head = (q->head + 1) % q->cap;
		q->count--;
		q->nposted--;
		if (c == e)
			break;
	}
}

static int swr_post(struct esv_qp *q, struct esv_swr *e)
{
	struct ibv_send_wr w, *bad = NULL;
	struct ibv_sge sg;
	int rc;

	if (e->kind == ESV_SWR_CLEAR) {
		w = e->wr;
		w.sg_list = e->sge;
	} else {
		memset(&w, 0, sizeof(w));
		sg.addr = (uintptr_t)e->sh->buf;
		sg.length = e->kind == ESV_SWR_HELLO
				    ? ESV_HELLO_BYTES
				    : (uint32_t)(e->ptlen + ENCSHIM_OVERHEAD);
		sg.lkey = e->sh->region->mr->lkey;
		w.sg_list = &sg;
		w.num_sge = 1;
		w.opcode = IBV_WR_SEND;
		w.send_flags = e->wr.send_flags;
		w.wr = e->wr.wr;
	}
	w.next = NULL;
	w.wr_id = (uintptr_t)e;
	w.send_flags &= ~(unsigned)(IBV_SEND_INLINE | IBV_SEND_SIGNALED);
	if (e->signaled)
		w.send_flags |= IBV_SEND_SIGNALED;
	rc = q->ec->orig.post_send(q->qp, &w, &bad);
	if (!rc) {
		e->posted = 1;
		q->nposted++;
	}
	return rc;
}

static int swr_seal(struct esv_qp *q, struct esv_swr *e)
{
	uint8_t env[16];
	size_t envlen = make_env(env, q->type, q->qpn,
				 e->up ? e->up->qpn : q->dest_qpn);
	int rc = encshim_peer_seal(e->up ? e->up->peer : q->peer, env, envlen,
				   e->sh->buf + ENCSHIM_HEADER_BYTES, e->ptlen,
				   e->sh->buf);

	if (rc) {
		esv_log("sealing on QP %u failed: %s", q->qpn, encshim_strerror(rc));
		return EIO;
	}
	__atomic_add_fetch(&esv_stats.sealed_msgs, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&esv_stats.sealed_bytes, e->ptlen - ESV_INNER_BYTES,
			   __ATOMIC_RELAXED);
	return 0;
}

/* ------------------------------------------------------------ handshake */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int ensure_local(struct esv_qp *q)
{
	union ibv_gid gid;
	uint8_t id[64];
	size_t idlen;
	int rc;

	if (q->local)
		return 0;
	/* A UD QP sends through many address handles, each with its own
	 * source GID: its identity carries no GID (zeros). */
	memset(&gid, 0, sizeof(gid));
	if (q->type != IBV_QPT_UD && esv_real.query_gid &&
	    esv_real.query_gid(q->ec->ctx, q->port, q->sgid_index, &gid))
		memset(&gid, 0, sizeof(gid));
	memcpy(q->gid, gid.raw, 16);
	randombytes_buf(q->conn_id, sizeof(q->conn_id));
	idlen = make_identity(id, q->type, q->qpn, q->gid, q->conn_id);
	rc = encshim_local_new(&q->local, esv_cfg.secret,
			       esv_cfg.job_id, esv_cfg.job_id_len, id, idlen,
			       esv_cfg.backend);
	if (rc) {
		esv_log("QP %u: cannot start a session: %s", q->qpn,
			encshim_strerror(rc));
		return -1;
	}
	return 0;
}

static void flush_pending_to_cq(struct esv_qp *q)
{
	for (unsigned i = q->nposted; i < q->count; i++) {
		struct esv_swr *e = &q->ring[(q->head + i) % q->cap];
		struct ibv_wc wc;

		if (e->kind == ESV_SWR_HELLO)
			continue;
		memset(&wc, 0, sizeof(wc));
		wc.wr_id = e->app_wr_id;
		wc.status = IBV_WC_WR_FLUSH_ERR;
		wc.opcode = IBV_WC_SEND;
		wc.qp_num = q->qpn;
		if (q->scq)
			stash_push(q->scq, &wc);
		if (e->sh)
			pool_put(e->sh);
		e->sh = NULL;
		e->tag = 0;
	}
	q->count = q->nposted;
	for (; q->held_count; q->held_count--) {
		struct esv_swr *h = &q->held[q->held_head];
		struct ibv_wc wc;

		memset(&wc, 0, sizeof(wc));
		wc.wr_id = h->app_wr_id;
		wc.status = IBV_WC_WR_FLUSH_ERR;
		wc.opcode = IBV_WC_SEND;
		wc.qp_num = q->qpn;
		if (q->scq)
			stash_push(q->scq, &wc);
		pool_put(h->sh);
		h->up->held--;
		q->held_head = (q->held_head + 1) % q->cap;
	}
}

/* Fail closed: the QP goes to the error state (outstanding work flushes
 * with errors), nothing more is sealed or delivered on it. */
static void qp_fail(struct esv_qp *q, const char *why)
{
	struct ibv_qp_attr a;

	if (q->hs == ESV_HS_FAILED)
		return;
	esv_log("QP %u (peer QP %u): %s; the QP is moved to the error state",
		q->qpn, q->dest_qpn, why);
	q->hs = ESV_HS_FAILED;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_ERR;
	if (esv_real.modify_qp(q->qp, &a, IBV_QP_STATE))
		esv_log("QP %u: moving to the error state failed", q->qpn);
	flush_pending_to_cq(q);
}

/* Posts our HELLO: on RC/UC to the connected peer; on UD to peer up
 * through address handle ah with Q_Key qkey, as an answer (flag 1: do not
 * answer it) or asking for one. Posted at once: on RC it is the first
 * message, on UD the ring holds no unposted sends (they wait in the held
 * FIFO). */
static int hello_out(struct esv_qp *q, struct esv_udpeer *up, int answer,
		     struct ibv_ah *ah, uint32_t qkey)
{
	struct esv_swr *e;
	uint8_t *h;
	int rc;

	if (ensure_local(q))
		return EIO;
	e = swr_alloc(q);
	if (!e)
		return ENOMEM;
	e->kind = ESV_SWR_HELLO;
	e->sh = pool_get(&q->spool, ESV_HELLO_BYTES);
	if (!e->sh) {
		swr_unalloc(q, e);
		return ENOMEM;
	}
	h = e->sh->buf;
	memset(h, 0, ESV_HELLO_BYTES);
	memcpy(h, ESV_HELLO_MAGIC, 4);
	h[4] = ESV_HELLO_VERSION;
	h[5] = (uint8_t)q->type;
	h[6] = (uint8_t)(answer ? 1 : 0);
	put_be32(h + 8, q->qpn);
	put_be32(h + 12, up ? up->qpn : q->dest_qpn);
	memcpy(h + 16, q->conn_id, 16);
	memcpy(h + 32, q->gid, 16);
	encshim_local_public_key(q->local, h + 48);
	encshim_local_secret_check(q->local, h + 80);
	put_be32(h + 112, up ? q->qkey : q->rq_psn);
	e->signaled = q->sq_sig_all;
	if (up) {
		e->up = up;
		e->wr.wr.ud.ah = ah;
		e->wr.wr.ud.remote_qpn = up->qpn;
		e->wr.wr.ud.remote_qkey = qkey;
		up->hello_at = now_s();
	}
	rc = swr_post(q, e);
	if (rc) {
		swr_unalloc(q, e);
		esv_log("QP %u: posting the HELLO failed: %s", q->qpn, strerror(rc));
		return rc;
	}
	if (!up) {
		q->hello_sent = 1;
		q->hello_deadline = now_s() + esv_cfg.hello_timeout;
	}
	return 0;
}

static int send_hello(struct esv_qp *q)
{
	return hello_out(q, NULL, 0, NULL, 0);
}

/* RC/UC keys exist: seal and post what the application queued meanwhile
 * (UD queues in the held FIFO instead: ud_flush_held). */
static void flush_pending(struct esv_qp *q)
{
	while (q->nposted < q->count) {
		struct esv_swr *e = &q->ring[(q->head + q->nposted) % q->cap];
		int rc = 0;

		if (e->kind == ESV_SWR_APP)
			rc = swr_seal(q, e);
		if (!rc)
			rc = swr_post(q, e);
		if (rc) {
			qp_fail(q, "posting a queued send failed");
			return;
		}
	}
}

/* A receive-only application (perftest's ib_send_bw server) may leave its
 * QP at RTR for ever; the shim must still answer the peer's HELLO, so it
 * moves the QP to RTS itself, with the send PSN the peer expects (carried
 * in the peer's HELLO) and the usual retry settings. */
static void shim_to_rts(struct esv_qp *q, uint32_t sq_psn)
{
	struct ibv_qp_attr a;

	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	a.sq_psn = sq_psn & 0xffffffu;
	a.timeout = 14;
	a.retry_cnt = 7;
	a.rnr_retry = 7;
	a.max_rd_atomic = 1;
	if (esv_real.modify_qp(q->qp, &a, IBV_QP_STATE | IBV_QP_SQ_PSN |
				       IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
				       IBV_QP_RNR_RETRY | IBV_QP_MAX_QP_RD_ATOMIC)) {
		esv_log("QP %u: cannot move to RTS to answer the peer's HELLO", q->qpn);
		return;
	}
	q->state = IBV_QPS_RTS;
	q->shim_rts = 1;
}

static int handle_hello(struct esv_qp *q, const uint8_t *h, size_t len)
{
	uint8_t check[ENCSHIM_CHECK_BYTES], id[64];
	uint32_t src, dst;
	size_t idlen;
	int rc;

	if (len != ESV_HELLO_BYTES || memcmp(h, ESV_HELLO_MAGIC, 4)) {
		__atomic_add_fetch(&esv_stats.handshake_failures, 1, __ATOMIC_RELAXED);
		qp_fail(q, "the peer's first message is not an encshim HELLO: "
			   "the peer runs without the encshim verbs preload "
			   "(start both sides with `encshim preload` or "
			   "LD_PRELOAD=libencshim-verbs.so); nothing was delivered");
		return -1;
	}
	if (h[4] != ESV_HELLO_VERSION || h[5] != (uint8_t)q->type || h[6] || h[7] ||
	    get_be32(h + 116)) {
		qp_fail(q, "the peer's HELLO has another version or QP type");
		return -1;
	}
	src = get_be32(h + 8);
	dst = get_be32(h + 12);
	if (src != q->dest_qpn || dst != q->qpn) {
		char why[160];

		snprintf(why, sizeof(why),
			 "HELLO from QP %u to QP %u arrived on QP %u connected "
			 "to QP %u", src, dst, q->qpn, q->dest_qpn);
		qp_fail(q, why);
		return -1;
	}
	if (ensure_local(q))
		return -1;
	encshim_local_secret_check(q->local, check);
	if (sodium_memcmp(check, h + 80, sizeof(check))) {
		__atomic_add_fetch(&esv_stats.handshake_failures, 1, __ATOMIC_RELAXED);
		qp_fail(q, "the peer holds another job secret (or job id): "
			   "give both sides the same ENCSHIM_KEY_FILE "
			   "(and ENCSHIM_JOB_ID)");
		return -1;
	}
	idlen = make_identity(id, q->type, src, h + 32, h + 16);
	rc = encshim_peer_new(&q->peer, q->local, id, idlen, h + 48, 0);
	if (rc) {
		char why[256];

		snprintf(why, sizeof(why), "key agreement failed: %s",
			 encshim_strerror(rc));
		qp_fail(q, why);
		return -1;
	}
	q->peer_hello = 1;
	q->hs = ESV_HS_DONE;
	__atomic_add_fetch(&esv_stats.handshakes, 1, __ATOMIC_RELAXED);
	if (!q->hello_sent && q->state == IBV_QPS_RTR)
		shim_to_rts(q, get_be32(h + 112));
	if (!q->hello_sent) {
		if (q->state == IBV_QPS_RTS) {
			if (send_hello(q)) {
				qp_fail(q, "cannot answer the peer's HELLO");
				return -1;
			}
		} else {
			q->reply_owed = 1;
		}
	}
	if (q->hello_sent)
		flush_pending(q);
	return 0;
}

/* Copies len bytes into an application receive's SGEs from byte off on. */
static void scatter_at(const struct esv_rwr *r, size_t off, const uint8_t *src,
		       size_t len)
{
	for (int i = 0; i < r->num_sge && len; i++) {
		size_t l = r->sge[i].length, k;

		if (off >= l) {
			off -= l;
			continue;
		}
		k = l - off < len ? l - off : len;
		memcpy((uint8_t *)(uintptr_t)r->sge[i].addr + off, src, k);
		src += k;
		len -= k;
		off = 0;
	}
}

/* Restores SEND_WITH_IMM from the opened inner header. */
static void set_imm(struct ibv_wc *wc, const uint8_t *inner)
{
	if (inner[0] == ESV_KIND_SEND_IMM) {
		wc->wc_flags |= IBV_WC_WITH_IMM;
		memcpy(&wc->imm_data, inner + 4, 4);
	} else {
		wc->wc_flags &= ~(unsigned)IBV_WC_WITH_IMM;
	}
}

/* ------------------------------------------------------------------ UD */

/* UD has no connection: each (remote QPN, address) a QP sends to or hears
 * from is a peer with its own HELLO exchange and keys. A HELLO asks for an
 * answer (flag 0) or is one (flag 1); sends to a peer without keys wait in
 * the send ring, in order, until its HELLO arrives. */

static int deny(struct esv_qp *q, enum ibv_wr_opcode op);
static void post_extra_shadow(struct esv_qp *q);

static struct esv_udpeer *udpeer_get(struct esv_qp *q, uint32_t qpn,
				     const uint8_t addr[16])
{
	struct esv_udpeer *up;

	for (up = q->udpeers; up; up = up->next)
		if (up->qpn == qpn && !memcmp(up->addr, addr, 16))
			return up;
	up = calloc(1, sizeof(*up));
	if (!up)
		return NULL;
	up->qpn = qpn;
	memcpy(up->addr, addr, 16);
	up->next = q->udpeers;
	q->udpeers = up;
	return up;
}

static void udpeers_free(struct esv_qp *q)
{
	while (q->udpeers) {
		struct esv_udpeer *up = q->udpeers;

		q->udpeers = up->next;
		if (up->peer)
			encshim_peer_free(up->peer);
		if (up->rx)
			encshim_peer_free(up->rx);
		if (up->mirror)
			encshim_local_free(up->mirror);
		if (up->ah)
			esv_real.destroy_ah(up->ah);
		free(up);
	}
}

/* The QP waits while any peer it asked has not answered: hello_sent and
 * hello_deadline drive the same progress and timeout as on RC. */
static void ud_update_waiting(struct esv_qp *q)
{
	q->hello_sent = 0;
	for (struct esv_udpeer *up = q->udpeers; up; up = up->next)
		if (up->hello_sent && !up->peer &&
		    (!q->hello_sent || up->deadline < q->hello_deadline)) {
			q->hello_sent = 1;
			q->hello_deadline = up->deadline;
		}
}

/* Source address of a UD receive: the GRH's source GID, or on RoCEv2 over
 * IPv4 (no IPv6 version nibble) the IPv4 header in the GRH's last 20
 * bytes, as an IPv4-mapped GID; the LID without a GRH. */
static void ud_source(const struct ibv_wc *wc, const uint8_t *grh, uint8_t addr[16])
{
	memset(addr, 0, 16);
	if (!(wc->wc_flags & IBV_WC_GRH)) {
		addr[14] = (uint8_t)(wc->slid >> 8);
		addr[15] = (uint8_t)wc->slid;
	} else if ((grh[0] >> 4) == 6) {
		memcpy(addr, grh + 8, 16);
	} else {
		addr[10] = addr[11] = 0xff;
		memcpy(addr + 12, grh + 20 + 12, 4);
	}
}

/* Seals and posts a UD send entry of the ring; 0 or an errno. */
static int ud_seal_post(struct esv_qp *q, struct esv_swr *e)
{
	int rc = swr_seal(q, e);

	return rc ? rc : swr_post(q, e);
}

/* Moves the held sends whose peer has keys now into the ring and posts
 * them, in their order; the others stay held, in theirs. When the ring
 * is full the rest waits for the next send completion. */
static void ud_flush_held(struct esv_qp *q)
{
	unsigned n = q->held_count, kept = 0;
	int full = 0, failed = 0;

	for (unsigned i = 0; i < n; i++) {
		struct esv_swr h = q->held[(q->held_head + i) % q->cap];
		struct esv_swr *e = NULL;

		if (h.up->peer && !full && !failed) {
			e = swr_alloc(q);
			full = !e;
		}
		if (e) {
			e->kind = h.kind;
			e->up = h.up;
			e->app_wr_id = h.app_wr_id;
			e->signaled = h.signaled;
			e->wr = h.wr;
			e->ptlen = h.ptlen;
			e->sh = h.sh;
			if (!ud_seal_post(q, e)) {
				h.up->held--;
				continue;
			}
			e->sh = NULL; /* stays with the held copy, flushed below */
			swr_unalloc(q, e);
			failed = 1;
		}
		q->held[(q->held_head + kept++) % q->cap] = h;
	}
	q->held_count = kept;
	if (failed)
		qp_fail(q, "posting a held UD send failed");
}

/* A send to a peer without keys (or behind held sends to it) waits in
 * the held FIFO; its payload is already in its shadow. */
static int ud_hold(struct esv_qp *q, const struct esv_swr *e)
{
	if (q->held_count == q->cap)
		return ENOMEM;
	q->held[(q->held_head + q->held_count++) % q->cap] = *e;
	e->up->held++;
	return 0;
}

/* The first send to a peer asks for its HELLO; while the answer is
 * missing, a later send repeats the HELLO now and then (UD may lose it;
 * the peer answers a repeat with the same keys). */
static int ud_ask_hello(struct esv_qp *q, struct esv_udpeer *up,
			const struct ibv_send_wr *w)
{
	int rc;

	if (up->peer || (up->hello_sent &&
			 now_s() - up->hello_at < ESV_UD_HELLO_RESEND))
		return 0;
	rc = hello_out(q, up, 0, w->wr.ud.ah, w->wr.ud.remote_qkey);
	if (rc || up->hello_sent)
		return rc;
	up->hello_sent = 1;
	up->deadline = now_s() + esv_cfg.hello_timeout;
	ud_update_waiting(q);
	return 0;
}

static int post_one_send_ud(struct esv_qp *q, struct ibv_send_wr *w)
{
	struct esv_udpeer *up;
	struct esv_swr *e;
	uint8_t addr[16], *p;
	size_t len;
	int rc;

	if (w->opcode != IBV_WR_SEND && w->opcode != IBV_WR_SEND_WITH_IMM)
		return deny(q, w->opcode);
	if (w->num_sge < 0 || (unsigned)w->num_sge > q->max_sge)
		return EINVAL;
	len = sge_total(w->sg_list, w->num_sge);
	if (len > ENCSHIM_MAX_PLAINTEXT - ESV_INNER_BYTES)
		return EINVAL;
	if (esv_ah_addr(w->wr.ud.ah, addr)) {
		esv_log("UD send on QP %u through an address handle not created "
			"with ibv_create_ah under the shim: refused", q->qpn);
		return EINVAL;
	}
	up = udpeer_get(q, w->wr.ud.remote_qpn, addr);
	if (!up)
		return ENOMEM;
	rc = ud_ask_hello(q, up, w);
	if (rc)
		return rc;
	e = swr_alloc(q);
	if (!e)
		return ENOMEM;
	e->kind = ESV_SWR_APP;
	e->up = up;
	e->app_wr_id = w->wr_id;
	e->signaled = q->sq_sig_all || (w->send_flags & IBV_SEND_SIGNALED);
	e->wr.send_flags = w->send_flags & IBV_SEND_SOLICITED;
	e->wr.wr.ud = w->wr.ud;
	e->ptlen = ESV_INNER_BYTES + len;
	e->sh = pool_get(&q->spool, len + ESV_OVERHEAD);
	if (!e->sh) {
		swr_unalloc(q, e);
		return ENOMEM;
	}
	p = e->sh->buf + ENCSHIM_HEADER_BYTES;
	memset(p, 0, ESV_INNER_BYTES);
	p[0] = w->opcode == IBV_WR_SEND_WITH_IMM ? ESV_KIND_SEND_IMM : ESV_KIND_SEND;
	if (w->opcode == IBV_WR_SEND_WITH_IMM)
		memcpy(p + 4, &w->imm_data, 4);
	p += ESV_INNER_BYTES;
	for (int i = 0; i < w->num_sge; i++) {
		memcpy(p, (const void *)(uintptr_t)w->sg_list[i].addr,
		       w->sg_list[i].length);
		p += w->sg_list[i].length;
	}
	if (!up->peer || up->held) {
		/* Until this peer's HELLO arrives: out of the ring, which
		 * holds posted entries only. */
		rc = ud_hold(q, e);
		if (!rc)
			e->sh = NULL; /* the held copy owns the shadow now */
		swr_unalloc(q, e);
		return rc;
	}
	rc = ud_seal_post(q, e);
	if (rc)
		swr_unalloc(q, e);
	return rc;
}

/* A UD QP that sends to itself (UCX does) gets its own HELLO back. Its
 * keys are those of a pair (the QP, a mirror identity of it: 'M' instead
 * of 'Q', its own key pair): it seals as the QP towards the mirror and
 * opens as the mirror, so each direction keeps its own key and sequence. */
static int ud_self_keys(struct esv_qp *q, struct esv_udpeer *up)
{
	uint8_t id[64], mid[64], pub[32], mpub[32];
	size_t idlen = make_identity(id, q->type, q->qpn, q->gid, q->conn_id);
	int rc;

	memcpy(mid, id, idlen);
	mid[0] = 'M';
	rc = encshim_local_new(&up->mirror, esv_cfg.secret, esv_cfg.job_id,
			       esv_cfg.job_id_len, mid, idlen, esv_cfg.backend);
	if (rc)
		return rc;
	encshim_local_public_key(q->local, pub);
	encshim_local_public_key(up->mirror, mpub);
	rc = encshim_peer_new(&up->peer, q->local, mid, idlen, mpub, 0);
	if (!rc)
		rc = encshim_peer_new(&up->rx, up->mirror, id, idlen, pub, 0);
	memcpy(up->conn_id, q->conn_id, ESV_CONNID_BYTES);
	memcpy(up->pub, pub, 32);
	return rc;
}

/* A HELLO on a UD QP. A bad one is dropped with a line on stderr: on UD
 * anyone may send, and one sender must not stop the QP for the others;
 * that sender gets no keys, so nothing of it is ever delivered. */
static void ud_hello(struct esv_qp *q, const struct ibv_wc *wc,
		     const uint8_t *grh, const uint8_t *h, size_t len)
{
	uint8_t check[ENCSHIM_CHECK_BYTES], id[64], addr[16];
	struct esv_udpeer *up;
	size_t idlen;
	int rc;

	if (len != ESV_HELLO_BYTES || h[4] != ESV_HELLO_VERSION ||
	    h[5] != (uint8_t)q->type || (h[6] & ~1u) || h[7] ||
	    get_be32(h + 116) || get_be32(h + 8) != wc->src_qp ||
	    get_be32(h + 12) != q->qpn) {
		esv_log("UD QP %u: a malformed or misaddressed HELLO from QP %u "
			"was dropped", q->qpn, wc->src_qp);
		return;
	}
	if (ensure_local(q))
		return;
	encshim_local_secret_check(q->local, check);
	if (sodium_memcmp(check, h + 80, sizeof(check))) {
		__atomic_add_fetch(&esv_stats.handshake_failures, 1, __ATOMIC_RELAXED);
		esv_log("UD QP %u: QP %u holds another job secret (or job id): "
			"its HELLO was dropped, nothing of it will be delivered",
			q->qpn, wc->src_qp);
		return;
	}
	ud_source(wc, grh, addr);
	up = udpeer_get(q, wc->src_qp, addr);
	if (!up)
		return;
	if (wc->src_qp == q->qpn && !memcmp(h + 16, q->conn_id, ESV_CONNID_BYTES)) {
		if (!up->peer && (rc = ud_self_keys(q, up)) != 0)
			esv_log("UD QP %u: keys to itself failed: %s", q->qpn,
				encshim_strerror(rc));
		ud_update_waiting(q);
		ud_flush_held(q);
		return;
	}
	/* The same HELLO again (an answer, or a repeat) keeps the keys and
	 * so the sequence numbers. Another HELLO from a keyed peer is
	 * refused: taking it would start a fresh replay window, and a
	 * replayed earlier HELLO would then let that earlier session's
	 * frames be delivered again. A peer that reset its QP under the
	 * same QP number reaches us again once this QP is reset. */
	if (up->peer && (memcmp(up->conn_id, h + 16, ESV_CONNID_BYTES) ||
			 memcmp(up->pub, h + 48, 32))) {
		__atomic_add_fetch(&esv_stats.handshake_failures, 1, __ATOMIC_RELAXED);
		esv_log("UD QP %u: a second, different HELLO from QP %u was "
			"dropped (a replay, or the peer reset its QP: reset this "
			"QP to talk to it again)", q->qpn, wc->src_qp);
		return;
	}
	if (!up->peer) {
		idlen = make_identity(id, q->type, wc->src_qp, h + 32, h + 16);
		rc = encshim_peer_new(&up->peer, q->local, id, idlen, h + 48, 0);
		if (rc) {
			esv_log("UD QP %u: key agreement with QP %u failed: %s",
				q->qpn, wc->src_qp, encshim_strerror(rc));
			up->peer = NULL;
			return;
		}
		memcpy(up->conn_id, h + 16, ESV_CONNID_BYTES);
		memcpy(up->pub, h + 48, 32);
		__atomic_add_fetch(&esv_stats.handshakes, 1, __ATOMIC_RELAXED);
	}
	up->qkey = get_be32(h + 112);
	ud_update_waiting(q);
	if (!(h[6] & 1u)) {
		if (!up->ah)
			up->ah = esv_real.create_ah_from_wc(
				q->pd, (struct ibv_wc *)wc, (struct ibv_grh *)grh,
				q->port);
		if (!up->ah || hello_out(q, up, 1, up->ah, up->qkey))
			esv_log("UD QP %u: cannot answer the HELLO of QP %u",
				q->qpn, wc->src_qp);
	}
	ud_flush_held(q);
}

/* A receive on a UD QP: shadow = GRH (40) || HELLO or frame. HELLOs and
 * datagrams nobody posted a receive for are not the application's: the
 * shadow goes back to the receive queue and nothing is consumed. */
static int on_recv_ud(struct esv_qp *q, struct esv_shadow *s, struct ibv_wc *wc)
{
	struct esv_rq *rq = rq_of(q);
	const uint8_t *grh = s->buf, *f = s->buf + ESV_GRH_BYTES;
	uint8_t env[16], addr[16], *pt = s->buf + ESV_GRH_BYTES + ENCSHIM_HEADER_BYTES;
	struct esv_udpeer *up = NULL;
	size_t flen = wc->byte_len > ESV_GRH_BYTES ? wc->byte_len - ESV_GRH_BYTES : 0;
	size_t envlen, n;
	struct esv_rwr *r;
	int rc;

	if (wc->status != IBV_WC_SUCCESS) {
		/* A flush, or a datagram larger than the receive: the
		 * application's receive gets the error, as without the shim. */
		pool_put(s);
		r = rq_pop(rq);
		if (!r)
			return 0;
		wc->wr_id = r->wr_id;
		wc->byte_len = 0;
		return 1;
	}
	if (flen >= 4 && !memcmp(f, ESV_HELLO_MAGIC, 4)) {
		uint8_t h[ESV_GRH_BYTES + ESV_HELLO_BYTES];

		/* The shadow goes back to the receive queue before the HELLO
		 * is handled: handling it posts the sends queued for that
		 * peer, and a QP talking to itself needs the receive. */
		memcpy(h, s->buf, ESV_GRH_BYTES +
		       (flen < ESV_HELLO_BYTES ? flen : ESV_HELLO_BYTES));
		sodium_memzero(s->buf, s->region->slot_size);
		pool_put(s);
		post_extra_shadow(q);
		ud_hello(q, wc, h, h + ESV_GRH_BYTES, flen);
		sodium_memzero(h, sizeof(h));
		return 0;
	}
	r = rq_pop(rq);
	if (!r) {
		sodium_memzero(s->buf, s->region->slot_size);
		pool_put(s);
		post_extra_shadow(q);
		return 0; /* no receive posted: UD drops it */
	}
	ud_source(wc, grh, addr);
	for (up = q->udpeers; up; up = up->next)
		if (up->qpn == wc->src_qp && !memcmp(up->addr, addr, 16))
			break;
	envlen = make_env(env, q->type, wc->src_qp, q->qpn);
	if (!up || !up->peer)
		rc = ENCSHIM_E_AUTH;
	else if (flen < ESV_OVERHEAD)
		rc = ENCSHIM_E_MALFORMED;
	else
		rc = encshim_peer_open(up->rx ? up->rx : up->peer, env, envlen,
				       f, flen, pt);
	if (!rc && ((pt[0] != ESV_KIND_SEND && pt[0] != ESV_KIND_SEND_IMM) ||
		    pt[1] || pt[2] || pt[3]))
		rc = ENCSHIM_E_MALFORMED;
	n = flen >= ESV_OVERHEAD ? flen - ESV_OVERHEAD : 0;
	wc->wr_id = r->wr_id;
	if (!rc && ESV_GRH_BYTES + n > sge_total(r->sge, r->num_sge)) {
		wc->status = IBV_WC_LOC_LEN_ERR;
		wc->byte_len = 0;
	} else if (rc) {
		__atomic_add_fetch(&esv_stats.auth_failures, 1, __ATOMIC_RELAXED);
		esv_log("UD QP %u: a datagram of %zu bytes from QP %u was dropped: "
			"%s", q->qpn, flen, wc->src_qp,
			up && up->peer ? encshim_strerror(rc)
				       : "no HELLO from that sender (no keys)");
		wc->status = IBV_WC_GENERAL_ERR;
		wc->vendor_err = 0xe5e5;
		wc->byte_len = 0;
	} else {
		/* The application's buffer starts with the GRH, as without
		 * the shim, then the plaintext. */
		scatter_at(r, 0, grh, ESV_GRH_BYTES);
		scatter_at(r, ESV_GRH_BYTES, pt + ESV_INNER_BYTES, n);
		wc->byte_len = (uint32_t)(ESV_GRH_BYTES + n);
		wc->opcode = IBV_WC_RECV;
		set_imm(wc, pt);
		__atomic_add_fetch(&esv_stats.opened_msgs, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&esv_stats.opened_bytes, n, __ATOMIC_RELAXED);
	}
	sodium_memzero(s->buf, s->region->slot_size);
	pool_put(s);
	return 1;
}

/* --------------------------------------------------------- object hooks */

int esv_qp_created(struct ibv_qp *qp, struct ibv_pd *pd,
		   const struct ibv_qp_cap *asked, struct ibv_qp_init_attr *ia)
{
	struct esv_qp *q = calloc(1, sizeof(*q));
	unsigned cap;

	if (!q)
		return -1;
	q->qp = qp;
	q->ec = esv_ctx_find(qp->context);
	q->qpn = qp->qp_num;
	q->type = qp->qp_type;
	q->sq_sig_all = ia->sq_sig_all;
	q->scq = ia->send_cq ? esv_cq_find(ia->send_cq) : NULL;
	q->rcq = ia->recv_cq ? esv_cq_find(ia->recv_cq) : NULL;
	q->srq = ia->srq ? esv_srq_find(ia->srq) : NULL;
	q->pd = pd;
	q->port = 1;
	cap = ia->cap.max_send_wr ? ia->cap.max_send_wr : 1;
	q->cap = cap;
	q->max_sge = ia->cap.max_send_sge ? ia->cap.max_send_sge : 1;
	q->ring = calloc(cap, sizeof(*q->ring));
	q->ring_sges = calloc((size_t)cap * q->max_sge, sizeof(*q->ring_sges));
	if (q->type == IBV_QPT_UD)
		q->held = calloc(cap, sizeof(*q->held));
	if (!q->ec || !q->ring || !q->ring_sges || (ia->srq && !q->srq) ||
	    (q->type == IBV_QPT_UD && !q->held))
		goto fail;
	for (unsigned i = 0; i < cap; i++)
		q->ring[i].sge = q->ring_sges + (size_t)i * q->max_sge;
	pool_init(&q->spool, pd, cap);
	if (!q->srq && rq_init(&q->rq, pd, ia->cap.max_recv_wr,
			       ia->cap.max_recv_sge, ia->cap.max_recv_wr))
		goto fail;
	(void)asked;
	esv_qp_insert(q);
	return 0;
fail:
	free(q->ring);
	free(q->ring_sges);
	free(q->held);
	free(q);
	return -1;
}

static void qp_reset_session(struct esv_qp *q)
{
	if (q->peer)
		encshim_peer_free(q->peer);
	if (q->local)
		encshim_local_free(q->local);
	q->peer = NULL;
	q->local = NULL;
	q->held_head = q->held_count = 0; /* their shadows: pool_reclaim */
	udpeers_free(q);
	q->hello_sent = q->peer_hello = q->reply_owed = 0;
	sodium_memzero(q->conn_id, sizeof(q->conn_id));
}

static void post_extra_shadow(struct esv_qp *q)
{
	struct esv_rq *rq = rq_of(q);
	struct esv_shadow *s = pool_get(&rq->pool, ESV_MIN_SLOT);
	struct ibv_recv_wr w, *bad = NULL;
	struct ibv_sge sg;
	int rc;

	if (!s) {
		qp_fail(q, "no shadow buffer for the peer's HELLO");
		return;
	}
	s->owner_qp = q;
	sg.addr = (uintptr_t)s->buf;
	sg.length = (uint32_t)s->region->slot_size;
	sg.lkey = s->region->mr->lkey;
	memset(&w, 0, sizeof(w));
	w.wr_id = (uintptr_t)s;
	w.sg_list = &sg;
	w.num_sge = 1;
	rc = q->srq ? q->ec->orig.post_srq_recv(q->srq->srq, &w, &bad)
		    : q->ec->orig.post_recv(q->qp, &w, &bad);
	if (rc) {
		pool_put(s);
		qp_fail(q, "cannot post the receive for the peer's HELLO");
	}
}

void esv_qp_modified(struct ibv_qp *qp, const struct ibv_qp_attr *attr, int mask)
{
	struct esv_qp *q = esv_qp_find(qp);

	if (!q)
		return;
	if ((mask & IBV_QP_PORT))
		q->port = attr->port_num;
	if ((mask & IBV_QP_AV))
		q->sgid_index = attr->ah_attr.is_global ? attr->ah_attr.grh.sgid_index : 0;
	if ((mask & IBV_QP_DEST_QPN))
		q->dest_qpn = attr->dest_qp_num;
	if ((mask & IBV_QP_RQ_PSN))
		q->rq_psn = attr->rq_psn;
	if ((mask & IBV_QP_QKEY))
		q->qkey = attr->qkey;
	if (!(mask & IBV_QP_STATE))
		return;
	q->state = attr->qp_state;
	switch (attr->qp_state) {
	case IBV_QPS_RESET:
		/* The hardware forgot every posted WR: so do we. */
		qp_reset_session(q);
		q->shim_rts = 0;
		q->head = q->count = q->nposted = 0;
		pool_reclaim(&q->spool);
		if (!q->srq) {
			q->rq.head = q->rq.count = 0;
			pool_reclaim(&q->rq.pool);
		}
		q->hs = ESV_HS_NONE;
		break;
	case IBV_QPS_INIT:
		/* RC/UC: one receive for the peer's HELLO. UD needs none: a
		 * HELLO lands in any shadow, which goes straight back. */
		if (q->hs == ESV_HS_NONE) {
			q->hs = ESV_HS_INIT;
			if (q->type != IBV_QPT_UD)
				post_extra_shadow(q);
		}
		break;
	case IBV_QPS_RTS:
		if (q->reply_owed && !q->hello_sent) {
			q->reply_owed = 0;
			if (send_hello(q))
				qp_fail(q, "cannot answer the peer's HELLO");
			else
				flush_pending(q);
		}
		break;
	case IBV_QPS_ERR:
		flush_pending_to_cq(q);
		break;
	default:
		break;
	}
}

void esv_qp_destroyed(struct ibv_qp *qp)
{
	struct esv_qp *q = esv_qp_find(qp);

	if (!q)
		return;
	esv_qp_remove(q);
	qp_reset_session(q);
	pool_destroy(&q->spool);
	if (!q->srq)
		rq_fini(&q->rq);
	free(q->ring);
	free(q->ring_sges);
	free(q->held);
	free(q);
}

int esv_cq_created(struct ibv_cq *cq)
{
	struct esv_cq *c = calloc(1, sizeof(*c));

	if (!c)
		return -1;
	c->cq = cq;
	c->ec = esv_ctx_find(cq->context);
	esv_cq_insert(c);
	return 0;
}

void esv_cq_destroyed(struct ibv_cq *cq)
{
	struct esv_cq *c = esv_cq_find(cq);
	unsigned b = 0;

	if (!c)
		return;
	for (struct esv_qp *q = esv_qp_iter(&b, NULL); q; q = esv_qp_iter(&b, q)) {
		if (q->scq == c)
			q->scq = NULL;
		if (q->rcq == c)
			q->rcq = NULL;
	}
	esv_cq_remove(c);
	free(c->stash);
	free(c);
}

int esv_srq_created(struct ibv_srq *srq, struct ibv_pd *pd, uint32_t max_wr,
		    uint32_t max_sge)
{
	struct esv_srq *s = calloc(1, sizeof(*s));

	if (!s)
		return -1;
	s->srq = srq;
	s->ec = esv_ctx_find(srq->context);
	if (!s->ec || rq_init(&s->rq, pd, max_wr, max_sge, max_wr + ESV_EXTRA_SRQ)) {
		free(s);
		return -1;
	}
	esv_srq_insert(s);
	return 0;
}

void esv_srq_destroyed(struct ibv_srq *srq)
{
	struct esv_srq *s = esv_srq_find(srq);

	if (!s)
		return;
	esv_srq_remove(s);
	rq_fini(&s->rq);
	free(s);
}

/* ------------------------------------------------------------ data path */

static int deny(struct esv_qp *q, enum ibv_wr_opcode op)
{
	static unsigned warned[32];
	unsigned k = (unsigned)op & 31u;

	__atomic_add_fetch(&esv_stats.denied_ops, 1, __ATOMIC_RELAXED);
	if (!warned[k]++)
		esv_log("refused %s on QP %u: one-sided and special operations "
			"bypass the receiver and cannot be encrypted by encshim. "
			"Use two-sided SEND/RECV, or set "
			"ENCSHIM_VERBS_ALLOW_ONE_SIDED=1 to let RDMA "
			"READ/WRITE/atomics through IN CLEAR",
			esv_opcode_name(op), q->qpn);
	return EPERM;
}

static int is_one_sided(enum ibv_wr_opcode op)
{
	return op == IBV_WR_RDMA_WRITE || op == IBV_WR_RDMA_WRITE_WITH_IMM ||
	       op == IBV_WR_RDMA_READ || op == IBV_WR_ATOMIC_CMP_AND_SWP ||
	       op == IBV_WR_ATOMIC_FETCH_AND_ADD;
}

static int post_one_send(struct esv_qp *q, struct ibv_send_wr *w)
{
	struct esv_swr *e;
	size_t len;
	uint8_t *p;
	int rc;

	if (w->opcode == IBV_WR_SEND || w->opcode == IBV_WR_SEND_WITH_IMM) {
		if (w->num_sge < 0 || (unsigned)w->num_sge > q->max_sge)
			return EINVAL;
		len = sge_total(w->sg_list, w->num_sge);
		if (len > ENCSHIM_MAX_PLAINTEXT - ESV_INNER_BYTES)
			return EINVAL;
		if (!q->hello_sent && q->hs == ESV_HS_INIT) {
			rc = send_hello(q);
			if (rc)
				return rc;
		}
		e = swr_alloc(q);
		if (!e)
			return ENOMEM;
		e->kind = ESV_SWR_APP;
		e->app_wr_id = w->wr_id;
		e->signaled = q->sq_sig_all || (w->send_flags & IBV_SEND_SIGNALED);
		e->wr.send_flags = w->send_flags & (IBV_SEND_SOLICITED | IBV_SEND_FENCE);
		e->wr.wr = w->wr;
		e->ptlen = ESV_INNER_BYTES + len;
		e->sh = pool_get(&q->spool, len + ESV_OVERHEAD);
		if (!e->sh) {
			swr_unalloc(q, e);
			return ENOMEM;
		}
		p = e->sh->buf + ENCSHIM_HEADER_BYTES;
		memset(p, 0, ESV_INNER_BYTES);
		p[0] = w->opcode == IBV_WR_SEND_WITH_IMM ? ESV_KIND_SEND_IMM
							 : ESV_KIND_SEND;
		if (w->opcode == IBV_WR_SEND_WITH_IMM)
			memcpy(p + 4, &w->imm_data, 4);
		p += ESV_INNER_BYTES;
		for (int i = 0; i < w->num_sge; i++) {
			memcpy(p, (const void *)(uintptr_t)w->sg_list[i].addr,
			       w->sg_list[i].length);
			p += w->sg_list[i].length;
		}
		if (q->hs != ESV_HS_DONE || q->nposted + 1 != q->count)
			return 0; /* queued until the peer's HELLO arrives */
		rc = swr_seal(q, e);
		if (!rc)
			rc = swr_post(q, e);
		if (rc)
			swr_unalloc(q, e);
		return rc;
	}
	if (is_one_sided(w->opcode) && esv_cfg.allow_one_sided) {
		if (w->num_sge < 0 || (unsigned)w->num_sge > q->max_sge)
			return EINVAL;
		e = swr_alloc(q);
		if (!e)
			return ENOMEM;
		e->kind = ESV_SWR_CLEAR;
		e->app_wr_id = w->wr_id;
		e->signaled = q->sq_sig_all || (w->send_flags & IBV_SEND_SIGNALED);
		e->wr = *w;
		memcpy(e->sge, w->sg_list, (size_t)w->num_sge * sizeof(*e->sge));
		__atomic_add_fetch(&esv_stats.clear_one_sided, 1, __ATOMIC_RELAXED);
		if (q->nposted + 1 != q->count)
			return 0; /* behind queued sends: keeps the order */
		rc = swr_post(q, e);
		if (rc)
			swr_unalloc(q, e);
		return rc;
	}
	return deny(q, w->opcode);
}

int esv_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr,
		  struct ibv_send_wr **bad_wr);
int esv_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr,
		  struct ibv_send_wr **bad_wr)
{
	struct esv_qp *q;
	int rc = 0;

	pthread_mutex_lock(&esv_lock);
	q = esv_qp_find(qp);
	if (!q) {
		rc = EPERM;
		esv_log("post_send on a QP the shim did not create: refused");
		*bad_wr = wr;
		goto out;
	}
	for (; wr; wr = wr->next) {
		if (q->hs == ESV_HS_FAILED)
			rc = EIO;
		else if (q->state != IBV_QPS_RTS)
			rc = EINVAL;
		else if (q->type == IBV_QPT_UD)
			rc = post_one_send_ud(q, wr);
		else
			rc = post_one_send(q, wr);
		if (rc) {
			*bad_wr = wr;
			break;
		}
	}
out:
	pthread_mutex_unlock(&esv_lock);
	return rc;
}

/* Posts one shadow receive of the application's receive w: to the
 * QP q's receive queue, or to srq when the QP uses one (q is NULL then). */
static int post_one_recv(struct esv_qp *q, struct esv_srq *srq,
			 struct esv_rq *rq, struct ibv_recv_wr *w)
{
	struct ibv_recv_wr sw, *bad = NULL;
	struct esv_shadow *s;
	struct esv_rwr *r;
	struct ibv_sge sg;
	size_t len;
	int rc;

	if (w->num_sge < 0 || (unsigned)w->num_sge > rq->max_sge)
		return EINVAL;
	if (rq->count == rq->cap)
		return ENOMEM;
	len = sge_total(w->sg_list, w->num_sge);
	if (len > rq->maxlen)
		rq->maxlen = len;
	s = pool_get(&rq->pool, rq->maxlen + ESV_OVERHEAD);
	if (!s)
		return ENOMEM;
	s->owner_qp = q;
	sg.addr = (uintptr_t)s->buf;
	sg.length = (uint32_t)s->region->slot_size;
	sg.lkey = s->region->mr->lkey;
	memset(&sw, 0, sizeof(sw));
	sw.wr_id = (uintptr_t)s;
	sw.sg_list = &sg;
	sw.num_sge = 1;
	rc = srq ? srq->ec->orig.post_srq_recv(srq->srq, &sw, &bad)
		 : q->ec->orig.post_recv(q->qp, &sw, &bad);
	if (rc) {
		pool_put(s);
		return rc;
	}
	r = &rq->ring[(rq->head + rq->count) % rq->cap];
	r->wr_id = w->wr_id;
	r->num_sge = w->num_sge;
	memcpy(r->sge, w->sg_list, (size_t)w->num_sge * sizeof(*r->sge));
	rq->count++;
	return 0;
}

int esv_post_recv(struct ibv_qp *qp, struct ibv_recv_wr *wr,
		  struct ibv_recv_wr **bad_wr);
int esv_post_recv(struct ibv_qp *qp, struct ibv_recv_wr *wr,
		  struct ibv_recv_wr **bad_wr)
{
	struct esv_qp *q;
	int rc = 0;

	pthread_mutex_lock(&esv_lock);
	q = esv_qp_find(qp);
	if (!q || q->srq) {
		rc = q ? EINVAL : EPERM;
		*bad_wr = wr;
		goto out;
	}
	for (; wr; wr = wr->next) {
		rc = post_one_recv(q, NULL, &q->rq, wr);
		if (rc) {
			*bad_wr = wr;
			break;
		}
	}
out:
	pthread_mutex_unlock(&esv_lock);
	return rc;
}

int esv_post_srq_recv(struct ibv_srq *srq, struct ibv_recv_wr *wr,
		      struct ibv_recv_wr **bad_wr);
int esv_post_srq_recv(struct ibv_srq *srq, struct ibv_recv_wr *wr,
		      struct ibv_recv_wr **bad_wr)
{
	struct esv_srq *s;
	int rc = 0;

	pthread_mutex_lock(&esv_lock);
	s = esv_srq_find(srq);
	if (!s) {
		rc = EPERM;
		*bad_wr = wr;
		goto out;
	}
	for (; wr; wr = wr->next) {
		rc = post_one_recv(NULL, s, &s->rq, wr);
		if (rc) {
			*bad_wr = wr;
			break;
		}
	}
out:
	pthread_mutex_unlock(&esv_lock);
	return rc;
}

/* Opens a message that completed in shadow s into the head of the FIFO.
 * Returns 1 if wc is to be delivered (rewritten), 0 if swallowed. */
static int on_recv(struct esv_qp *q, struct esv_shadow *s, struct ibv_wc *wc)
{
	struct esv_rq *rq = rq_of(q);
	uint8_t env[16], *pt;
	struct esv_rwr *r;
	size_t envlen, n, have;
	int rc;

	if (q->type == IBV_QPT_UD)
		return on_recv_ud(q, s, wc);
	if (wc->status != IBV_WC_SUCCESS) {
		pool_put(s);
		if (q->hs == ESV_HS_INIT && wc->status != IBV_WC_WR_FLUSH_ERR) {
			char why[300];

			__atomic_add_fetch(&esv_stats.handshake_failures, 1,
					   __ATOMIC_RELAXED);
			snprintf(why, sizeof(why),
				 "the receive for the peer's HELLO failed (status "
				 "%d): the peer's first message is not an encshim "
				 "HELLO, the peer runs without the encshim verbs "
				 "preload (start both sides with `encshim preload` "
				 "or LD_PRELOAD=libencshim-verbs.so); nothing was "
				 "delivered", (int)wc->status);
			qp_fail(q, why);
		}
		r = rq_pop(rq);
		if (!r)
			return 0; /* the unused HELLO shadow, flushed */
		wc->wr_id = r->wr_id;
		wc->byte_len = 0;
		return 1;
	}
	if (wc->opcode == IBV_WC_RECV_RDMA_WITH_IMM) {
		/* RDMA WRITE with immediate (opt-in, in clear): no payload. */
		pool_put(s);
		r = rq_pop(rq);
		if (!r)
			return 0;
		wc->wr_id = r->wr_id;
		return 1;
	}
	if (q->hs == ESV_HS_INIT) {
		handle_hello(q, s->buf, wc->byte_len);
		sodium_memzero(s->buf, wc->byte_len < s->region->slot_size
					       ? wc->byte_len : s->region->slot_size);
		pool_put(s);
		return 0;
	}
	if (q->hs != ESV_HS_DONE) {
		/* Failed connection: nothing is ever delivered. */
		sodium_memzero(s->buf, s->region->slot_size);
		pool_put(s);
		r = rq_pop(rq);
		if (!r)
			return 0;
		wc->wr_id = r->wr_id;
		wc->status = IBV_WC_GENERAL_ERR;
		wc->byte_len = 0;
		return 1;
	}
	envlen = make_env(env, q->type, q->dest_qpn, q->qpn);
	r = rq_pop(rq);
	pt = s->buf + ENCSHIM_HEADER_BYTES;
	rc = wc->byte_len < ESV_OVERHEAD
		     ? ENCSHIM_E_MALFORMED
		     : encshim_peer_open(q->peer, env, envlen, s->buf,
					 wc->byte_len, pt);
	if (!rc && ((pt[0] != ESV_KIND_SEND && pt[0] != ESV_KIND_SEND_IMM) ||
		    pt[1] || pt[2] || pt[3]))
		rc = ENCSHIM_E_MALFORMED;
	n = wc->byte_len >= ESV_OVERHEAD ? wc->byte_len - ESV_OVERHEAD : 0;
	have = r ? sge_total(r->sge, r->num_sge) : 0;
	if (rc) {
		char why[300];

		__atomic_add_fetch(&esv_stats.auth_failures, 1, __ATOMIC_RELAXED);
		snprintf(why, sizeof(why),
			 "a message of %u bytes failed authentication (%s) and "
			 "was dropped", wc->byte_len, encshim_strerror(rc));
		sodium_memzero(s->buf, s->region->slot_size);
		pool_put(s);
		if (r) {
			wc->wr_id = r->wr_id;
			wc->status = IBV_WC_GENERAL_ERR;
			wc->vendor_err = 0xe5e5;
			wc->byte_len = 0;
		}
		qp_fail(q, why);
		return r != NULL;
	}
	if (!r || n > have) {
		sodium_memzero(s->buf, s->region->slot_size);
		pool_put(s);
		if (!r) {
			qp_fail(q, "a message arrived with no receive posted");
			return 0;
		}
		wc->wr_id = r->wr_id;
		wc->status = IBV_WC_LOC_LEN_ERR;
		wc->byte_len = 0;
		qp_fail(q, "a message is larger than the posted receive");
		return 1;
	}
	scatter_at(r, 0, pt + ESV_INNER_BYTES, n);
	wc->wr_id = r->wr_id;
	wc->byte_len = (uint32_t)n;
	wc->opcode = IBV_WC_RECV;
	set_imm(wc, pt);
	sodium_memzero(s->buf, wc->byte_len + ESV_OVERHEAD);
	pool_put(s);
	__atomic_add_fetch(&esv_stats.opened_msgs, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&esv_stats.opened_bytes, n, __ATOMIC_RELAXED);
	return 1;
}

static int on_send(struct esv_qp *q, struct esv_swr *e, struct ibv_wc *wc)
{
	uint8_t kind = e->kind;
	uint64_t app = e->app_wr_id;

	swr_release_upto(q, e);
	if (q->held_count)
		ud_flush_held(q); /* the ring had been full */
	if (kind == ESV_SWR_HELLO) {
		if (wc->status != IBV_WC_SUCCESS && wc->status != IBV_WC_WR_FLUSH_ERR)
			qp_fail(q, "the HELLO could not be delivered (is the peer QP ready?)");
		return 0;
	}
	wc->wr_id = app;
	return 1;
}

/* Rewrites a completion of the provider for the application: 1 deliver,
 * 0 swallow (shim-internal). */
static int translate(struct esv_cq *c, struct ibv_wc *wc)
{
	struct esv_qp *q = esv_qp_by_num(c->ec, wc->qp_num);
	uint32_t tag;

	if (!q || !wc->wr_id)
		return 1;
	tag = *(const uint32_t *)(uintptr_t)wc->wr_id;
	if (tag == ESV_TAG_SHADOW)
		return on_recv(q, (struct esv_shadow *)(uintptr_t)wc->wr_id, wc);
	if (tag == ESV_TAG_SEND)
		return on_send(q, (struct esv_swr *)(uintptr_t)wc->wr_id, wc);
	esv_log("completion with an unknown work request on QP %u: dropped", q->qpn);
	return 0;
}

/* Polls cq into wc[0..n), translating; returns the number delivered, or a
 * negative provider error if nothing was. */
static int poll_translate(struct esv_cq *c, int n, struct ibv_wc *wc)
{
	int out = 0;

	while (out < n && c->stash_count) {
		wc[out++] = c->stash[c->stash_head];
		c->stash_head = (c->stash_head + 1) % c->stash_cap;
		c->stash_count--;
	}
	while (out < n) {
		int k = c->ec->orig.poll_cq(c->cq, n - out, wc + out);
		int kept = 0;

		if (k < 0)
			return out ? out : k;
		if (!k)
			break;
		for (int i = 0; i < k; i++) {
			struct ibv_wc t = wc[out + i];

			if (translate(c, &t))
				wc[out + kept++] = t;
		}
		out += kept;
		while (out < n && c->stash_count) {
			wc[out++] = c->stash[c->stash_head];
			c->stash_head = (c->stash_head + 1) % c->stash_cap;
			c->stash_count--;
		}
	}
	return out;
}

/* A QP whose sends wait for the peer's HELLO makes progress even when the
 * application polls only its send CQ: the receive CQ is polled too, and
 * what it yields for the application is kept for the next poll there. */
static void pull_handshakes(struct esv_cq *c)
{
	unsigned b = 0;
	double now = -1;

	for (struct esv_qp *q = esv_qp_iter(&b, NULL); q; q = esv_qp_iter(&b, q)) {
		struct esv_cq *rc = q->rcq;
		struct ibv_wc tmp[16];
		int k;

		if (q->hs == ESV_HS_INIT && q->hello_sent &&
		    (q->scq == c || q->rcq == c)) {
			if (now < 0)
				now = now_s();
			if (now > q->hello_deadline) {
				char why[300];

				__atomic_add_fetch(&esv_stats.handshake_failures, 1,
						   __ATOMIC_RELAXED);
				snprintf(why, sizeof(why),
					 "no HELLO from the peer within %.0f s "
					 "(ENCSHIM_VERBS_HELLO_TIMEOUT): the peer "
					 "runs without the encshim verbs preload, "
					 "or refused this side (another job secret?)",
					 esv_cfg.hello_timeout);
				qp_fail(q, why);
				continue;
			}
		}

		if (q->scq != c || !rc || rc == c || q->hs != ESV_HS_INIT ||
		    !q->hello_sent)
			continue;
		k = poll_translate(rc, 16, tmp);
		for (int i = 0; i < k; i++)
			stash_push(rc, &tmp[i]);
	}
}

int esv_poll_cq(struct ibv_cq *cq, int n, struct ibv_wc *wc);
int esv_poll_cq(struct ibv_cq *cq, int n, struct ibv_wc *wc)
{
	struct esv_cq *c;
	int rc;

	pthread_mutex_lock(&esv_lock);
	c = esv_cq_find(cq);
	if (!c) {
		struct esv_ctx *ec = esv_ctx_find(cq->context);

		pthread_mutex_unlock(&esv_lock);
		return ec ? ec->orig.poll_cq(cq, n, wc) : -1;
	}
	pull_handshakes(c);
	rc = poll_translate(c, n, wc);
	pthread_mutex_unlock(&esv_lock);
	return rc;
}

/* The application may sleep in ibv_get_cq_event on the send CQ's channel
 * while its QP waits for the peer's HELLO on another CQ: the wrapper wakes
 * up regularly to run this. Completions the shim put in a stash (moved
 * from a receive CQ, or flushes it made) raise no hardware event: the
 * application gets a software event for that CQ instead. */
struct ibv_cq *esv_channel_progress(struct ibv_comp_channel *ch, int *busy)
{
	struct esv_cq *found = NULL;
	unsigned b = 0;

	pthread_mutex_lock(&esv_lock);
	*busy = 0;
	for (struct esv_qp *q = esv_qp_iter(&b, NULL); q; q = esv_qp_iter(&b, q)) {
		struct esv_cq *cqs[2] = { q->scq, q->rcq };

		for (int i = 0; i < 2; i++) {
			struct esv_cq *c = cqs[i];

			if (!c || c->cq->channel != ch)
				continue;
			if (q->hs == ESV_HS_INIT && q->hello_sent) {
				*busy = 1;
				pull_handshakes(c);
			}
			if (c->stash_count && c->soft_due && !found)
				found = c;
		}
	}
	if (found) {
		found->soft_due = 0;
		found->soft_events++;
	}
	pthread_mutex_unlock(&esv_lock);
	return found ? found->cq : NULL;
}

unsigned esv_cq_ack_soft(struct ibv_cq *cq, unsigned n)
{
	struct esv_cq *c;
	unsigned k = 0;

	pthread_mutex_lock(&esv_lock);
	c = esv_cq_find(cq);
	if (c) {
		k = c->soft_events < n ? c->soft_events : n;
		c->soft_events -= k;
	}
	pthread_mutex_unlock(&esv_lock);
	return k;
}

void esv_patch_context(struct esv_ctx *ec)
{
	ec->ctx->ops.post_send = esv_post_send;
	ec->ctx->ops.post_recv = esv_post_recv;
	ec->ctx->ops.post_srq_recv = esv_post_srq_recv;
	ec->ctx->ops.poll_cq = esv_poll_cq;
}

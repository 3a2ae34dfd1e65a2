/* SPDX-License-Identifier: MIT */
/*
 * Sealed RDMA WRITE on RC (docs/PROTOCOL.md section 10, "Sealed writes").
 * The initiator seals the data on the connection's write channel into a
 * registered slot and writes the ciphertext to the same remote address
 * (the responder's shadow MR, wmr.c); the header and tag, with the range,
 * form a descriptor that travels inside the next sealed SEND on the QP,
 * which RC delivers after the write. The responder opens each described
 * write from the shadow into the real memory before it delivers that
 * SEND's completion. Everything runs under esv_lock.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "esv.h"

#define WD ENCSHIM_VERBS_WDESC_BYTES

static void put_be64(uint8_t *p, uint64_t v)
{
	esv_put_be32(p, (uint32_t)(v >> 32));
	esv_put_be32(p + 4, (uint32_t)v);
}

static uint64_t get_be64(const uint8_t *p)
{
	return (uint64_t)esv_get_be32(p) << 32 | esv_get_be32(p + 4);
}

/* "ESW1" || u8(qp_type) || BE32(src) || BE32(dst) || BE64(iova) ||
 * BE32(len) || BE32(rkey): a write opens only for the range it was
 * sealed for. */
static size_t write_env(uint8_t env[ENCSHIM_VERBS_WRITE_ENV_BYTES],
			const struct esv_qp *q, uint32_t src, uint32_t dst,
			uint64_t iova, uint32_t len, uint32_t rkey)
{
	memcpy(env, ENCSHIM_VERBS_WRITE_ENV, 4);
	env[4] = (uint8_t)q->type;
	esv_put_be32(env + 5, src);
	esv_put_be32(env + 9, dst);
	put_be64(env + 13, iova);
	esv_put_be32(env + 21, len);
	esv_put_be32(env + 25, rkey);
	return ENCSHIM_VERBS_WRITE_ENV_BYTES;
}

/* The write channel of the connection's session: its own keys and
 * sequence numbers (never a nonce of the SEND stream), receive order
 * monotonic (a write that a later one covered is never described). */
static int wpeer_get(struct esv_qp *q)
{
	int rc;

	if (q->wpeer)
		return 0;
	rc = encshim_peer_derive(&q->wpeer, q->peer, ENCSHIM_VERBS_WRITE_LABEL,
				 sizeof(ENCSHIM_VERBS_WRITE_LABEL) - 1);
	if (!rc)
		rc = encshim_peer_set_order(q->wpeer, ENCSHIM_ORDER_MONOTONIC);
	if (rc) {
		encshim_peer_free(q->wpeer);
		q->wpeer = NULL;
		esv_log("QP %u: no write channel: %s", q->qpn, encshim_strerror(rc));
	}
	return rc;
}

void esv_write_reset(struct esv_qp *q)
{
	encshim_peer_free(q->wpeer);
	q->wpeer = NULL;
	free(q->wscratch); /* wiped after every use */
	q->wscratch = NULL;
	q->wscratch_cap = 0;
	q->nwpend = 0;
	q->wlost = 0;
	q->wown = 0;
}

static void gather(uint8_t *dst, const struct ibv_send_wr *w)
{
	for (int i = 0; i < w->num_sge; i++) {
		memcpy(dst, (const void *)(uintptr_t)w->sg_list[i].addr,
		       w->sg_list[i].length);
		dst += w->sg_list[i].length;
	}
}

/* Records descriptor d (sealed just now) as the newest pending one. A
 * pending write that d's range covers is dropped: its bytes in the
 * shadow are gone, as in memory without the shim. One that d overlaps
 * in part cannot be opened any more, nor can the oldest when 16 are
 * pending: the peer is told (ENCSHIM_VERBS_WFLAG_LOST) and fails. */
static void wdesc_add(struct esv_qp *q, const uint8_t *d)
{
	uint64_t a = get_be64(d), ae = a + esv_get_be32(d + 8);
	uint32_t rkey = esv_get_be32(d + 12);
	unsigned k = 0;

	for (unsigned i = 0; i < q->nwpend; i++) {
		const uint8_t *o = q->wpend[i];
		uint64_t b = get_be64(o), be = b + esv_get_be32(o + 8);

		if (esv_get_be32(o + 12) == rkey && b < ae && a < be) {
			if (b < a || be > ae)
				q->wlost = 1;
			continue;
		}
		if (k != i)
			memcpy(q->wpend[k], o, WD);
		k++;
	}
	q->nwpend = k;
	if (q->nwpend == ENCSHIM_VERBS_WDESC_MAX) {
		q->wlost = 1;
		memmove(q->wpend[0], q->wpend[1], (q->nwpend - 1) * (size_t)WD);
		q->nwpend--;
	}
	memcpy(q->wpend[q->nwpend++], d, WD);
}

/* Seals write entry e: from w's buffers when given (one SGE: straight
 * into the slot, one pass), else in place from the copy made at post. */
int esv_write_seal(struct esv_qp *q, struct esv_swr *e,
		   const struct ibv_send_wr *w)
{
	uint8_t env[ENCSHIM_VERBS_WRITE_ENV_BYTES], d[WD];
	const uint8_t *src = e->sh->buf;
	uint32_t len = (uint32_t)e->ptlen;
	int rc;

	q->wown = 0;
	if (!len)
		return 0; /* nothing lands: nothing to describe */
	if (wpeer_get(q))
		return EIO;
	if (w && w->num_sge == 1)
		src = (const uint8_t *)(uintptr_t)w->sg_list[0].addr;
	else if (w) { /* plaintext until sealed in place */
		gather(e->sh->buf, w);
		e->sh->dirty = len;
	}
	put_be64(d, e->wr.wr.rdma.remote_addr);
	esv_put_be32(d + 8, len);
	esv_put_be32(d + 12, e->wr.wr.rdma.rkey);
	write_env(env, q, q->qpn, q->dest_qpn, e->wr.wr.rdma.remote_addr, len,
		  e->wr.wr.rdma.rkey);
	rc = encshim_peer_seal_detached(q->wpeer, env, sizeof(env), src, len,
					d + 16, e->sh->buf, d + 32);
	if (!rc)
		e->sh->dirty = 0; /* ciphertext only */
	if (rc) {
		esv_log("sealing a write on QP %u failed: %s", q->qpn,
			encshim_strerror(rc));
		return EIO;
	}
	wdesc_add(q, d);
	q->wown = e->wr.opcode == IBV_WR_RDMA_WRITE_WITH_IMM;
	__atomic_add_fetch(&esv_stats.sealed_msgs, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&esv_stats.sealed_bytes, len, __ATOMIC_RELAXED);
	__atomic_add_fetch(&esv_stats.wsealed_msgs, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&esv_stats.wsealed_bytes, len, __ATOMIC_RELAXED);
	return 0;
}

/* Moves the pending descriptors behind a SEND's payload (tail) and
 * names them in its inner header; returns the bytes added. */
size_t esv_write_attach(struct esv_qp *q, uint8_t *inner, uint8_t *tail)
{
	size_t n = (size_t)q->nwpend * WD;

	memcpy(tail, q->wpend, n);
	inner[1] = (uint8_t)q->nwpend;
	inner[2] = (uint8_t)((q->wlost ? ENCSHIM_VERBS_WFLAG_LOST : 0) |
			     (q->wown && inner[0] == ESV_KIND_WRITE_IMM
				      ? ENCSHIM_VERBS_WFLAG_OWN : 0));
	q->nwpend = 0;
	q->wlost = 0;
	q->wown = 0;
	return n;
}

/* An application RDMA_WRITE or RDMA_WRITE_WITH_IMM on RC: one RDMA WRITE
 * of ciphertext, and for WITH_IMM a sealed SEND of kind WRITE_IMM that
 * carries the descriptors. Queued like a SEND until the keys exist. */
int esv_write_post(struct esv_qp *q, const struct ibv_send_wr *w)
{
	int imm = w->opcode == IBV_WR_RDMA_WRITE_WITH_IMM, now, rc;
	struct esv_swr *e, *d = NULL;
	size_t len;

	if (w->num_sge < 0 || (unsigned)w->num_sge > q->max_sge)
		return EINVAL;
	len = esv_sge_total(w->sg_list, w->num_sge);
	if (len > UINT32_MAX)
		return EINVAL;
	if (q->cap - q->count < 1u + (unsigned)imm)
		return ENOMEM;
	if (!q->hello_sent && q->hs == ESV_HS_INIT) {
		rc = esv_hello_send(q);
		if (rc)
			return rc;
	}
	now = q->hs == ESV_HS_DONE && q->nposted == q->count;
	e = esv_swr_alloc(q);
	e->kind = ESV_SWR_WRITE;
	e->app_wr_id = w->wr_id;
	e->signaled = !imm && (q->sq_sig_all || (w->send_flags & IBV_SEND_SIGNALED));
	e->wr.opcode = w->opcode;
	e->wr.wr.rdma = w->wr.rdma;
	e->wr.send_flags = w->send_flags & IBV_SEND_FENCE;
	e->ptlen = len;
	e->sh = len > ESV_WRITE_OWN_SLOT ? esv_pool_get_own(&q->spool, len)
					 : esv_pool_get(&q->spool, len);
	if (!e->sh) {
		esv_swr_unalloc(q, e);
		return ENOMEM;
	}
	if (!now) { /* plaintext until sealed: wiped if never sent */
		gather(e->sh->buf, w);
		e->sh->dirty = len;
	}
	if (imm) {
		struct ibv_send_wr dw = *w;

		dw.num_sge = 0;
		d = esv_swr_app(q, &dw, 0, IBV_SEND_SOLICITED);
		if (!d) {
			esv_swr_unalloc(q, e);
			return ENOMEM;
		}
		d->wr.opcode = IBV_WR_RDMA_WRITE_WITH_IMM;
	}
	if (!now)
		return 0;
	rc = esv_write_seal(q, e, w);
	if (!rc)
		rc = esv_swr_post(q, e);
	if (rc) {
		if (d)
			esv_swr_unalloc(q, d);
		esv_swr_unalloc(q, e);
		return rc;
	}
	if (d && (esv_swr_seal(q, d) || esv_swr_post(q, d)))
		esv_qp_fail(q, "posting the descriptor of a sealed RDMA WRITE "
			    "WITH IMMEDIATE failed");
	return 0;
}

/* Opens the writes a SEND's frame describes (inner: its opened inner
 * header; desc: its descriptors), in order, from the shadows into the
 * application's memory. 0, with *own_len the WRITE_WITH_IMM's length;
 * -1 with why said. A write that fails leaves zeros in its range (the
 * AEAD wipes what it decrypted), never unauthenticated bytes. Two passes
 * over each byte: a copy out of the shadow, the AEAD in place. */
/* q->wscratch holds at least len bytes; -1 out of memory. */
static int scratch(struct esv_qp *q, size_t len)
{
	uint8_t *p;

	if (len <= q->wscratch_cap)
		return 0;
	p = malloc(len);
	if (!p)
		return -1;
	free(q->wscratch); /* wiped after its last use */
	q->wscratch = p;
	q->wscratch_cap = len;
	return 0;
}

int esv_write_open(struct esv_qp *q, const uint8_t *inner,
		   const uint8_t *desc, uint32_t *own_len, char *why,
		   size_t whylen)
{
	unsigned n = inner[1];
	uint32_t len = 0;

	*own_len = 0;
	if (inner[2] & ENCSHIM_VERBS_WFLAG_LOST) {
		snprintf(why, whylen, "the peer made RDMA WRITEs that encshim "
			 "cannot open (more than %u ranges, or ranges that "
			 "overlap in part, written between two of its sends): "
			 "post a SEND or RDMA_WRITE_WITH_IMM after at most %u "
			 "writes, and do not overlap ranges in part; nothing "
			 "was delivered", ENCSHIM_VERBS_WDESC_MAX,
			 ENCSHIM_VERBS_WDESC_MAX);
		return -1;
	}
	if (n && wpeer_get(q)) {
		snprintf(why, whylen, "no write channel for the peer's writes");
		return -1;
	}
	for (unsigned i = 0; i < n; i++, desc += WD) {
		uint8_t env[ENCSHIM_VERBS_WRITE_ENV_BYTES];
		uint64_t iova = get_be64(desc), off;
		uint32_t rkey = esv_get_be32(desc + 12);
		struct esv_wmr *m = esv_wmr_find(q->pd, rkey);
		uint8_t *dst;
		int rc;

		len = esv_get_be32(desc + 8);
		if (!m) {
			snprintf(why, whylen, "an RDMA WRITE of %u bytes arrived "
				 "for rkey 0x%x, which is no memory registration "
				 "of this protection domain with remote write "
				 "(deregistered with writes outstanding?); "
				 "nothing was delivered", len, rkey);
			return -1;
		}
		off = iova - m->iova;
		if (iova < m->iova || len > m->mr->length ||
		    off > m->mr->length - len) {
			snprintf(why, whylen, "an RDMA WRITE of %u bytes at 0x%"
				 PRIx64 " is outside its memory registration; "
				 "nothing was delivered", len, iova);
			return -1;
		}
		/* The shadow stays remotely writable: a write racing with
		 * the opening could change the ciphertext between the
		 * AEAD's authentication and its decryption (libsodium, for
		 * one, reads it twice). So it is copied into private
		 * scratch memory and opened there in place; only plaintext
		 * that authenticated reaches the real range, which a
		 * program that watches memory may read at any time (OpenSSL
		 * and ipsec-mb write plaintext before they check the tag). */
		if (scratch(q, len)) {
			snprintf(why, whylen, "out of memory to open an RDMA "
				 "WRITE of %u bytes; nothing was delivered", len);
			return -1;
		}
		dst = (uint8_t *)m->mr->addr + off;
		memcpy(q->wscratch, m->sbuf + off, len);
		write_env(env, q, q->dest_qpn, q->qpn, iova, len, rkey);
		rc = encshim_peer_open_detached(q->wpeer, env, sizeof(env),
						desc + 16, q->wscratch, len,
						desc + 32, q->wscratch);
		if (!rc)
			memcpy(dst, q->wscratch, len);
		sodium_memzero(q->wscratch, len);
		if (q->wscratch_cap > ESV_OWN_KEEP_BYTES) {
			/* kept no larger than idle staging (pool.c) */
			free(q->wscratch);
			q->wscratch = NULL;
			q->wscratch_cap = 0;
		}
		if (rc) {
			__atomic_add_fetch(&esv_stats.auth_failures, 1,
					   __ATOMIC_RELAXED);
			snprintf(why, whylen, "an RDMA WRITE of %u bytes at 0x%"
				 PRIx64 " was refused: %s", len, iova,
				 encshim_strerror(rc));
			return -1;
		}
		__atomic_add_fetch(&esv_stats.opened_msgs, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&esv_stats.opened_bytes, len, __ATOMIC_RELAXED);
		__atomic_add_fetch(&esv_stats.wopened_msgs, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&esv_stats.wopened_bytes, len, __ATOMIC_RELAXED);
	}
	if ((inner[2] & ENCSHIM_VERBS_WFLAG_OWN) && n)
		*own_len = len;
	return 0;
}

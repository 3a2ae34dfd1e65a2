/* SPDX-License-Identifier: MIT */
/*
 * UD: one peer per remote (QPN, address), each with its own HELLO exchange
 * and keys; sends wait in a held FIFO until their peer has keys.
 * Everything runs under esv_lock.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "esv.h"

/* UD has no connection: each (remote QPN, address) a QP sends to or hears
 * from is a peer with its own HELLO exchange and keys. A HELLO asks for an
 * answer (flag 0) or is one (flag 1); sends to a peer without keys wait in
 * the send ring, in order, until its HELLO arrives. */

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

void esv_udpeers_free(struct esv_qp *q)
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
	int rc = esv_swr_seal(q, e);

	return rc ? rc : esv_swr_post(q, e);
}

/* Moves the held sends whose peer has keys now into the ring and posts
 * them, in their order; the others stay held, in theirs. When the ring
 * is full the rest waits for the next send completion. */
void esv_ud_flush_held(struct esv_qp *q)
{
	unsigned n = q->held_count, kept = 0;
	int full = 0, failed = 0;

	for (unsigned i = 0; i < n; i++) {
		struct esv_swr h = q->held[(q->held_head + i) % q->cap];
		struct esv_swr *e = NULL;

		if (h.up->peer && !full && !failed) {
			e = esv_swr_alloc(q);
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
			esv_swr_unalloc(q, e);
			failed = 1;
		}
		q->held[(q->held_head + kept++) % q->cap] = h;
	}
	q->held_count = kept;
	if (failed)
		esv_qp_fail(q, "posting a held UD send failed");
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
			 esv_now() - up->hello_at < ESV_UD_HELLO_RESEND))
		return 0;
	rc = esv_hello_out(q, up, 0, w->wr.ud.ah, w->wr.ud.remote_qkey);
	if (rc || up->hello_sent)
		return rc;
	up->hello_sent = 1;
	up->deadline = esv_now() + esv_cfg.hello_timeout;
	ud_update_waiting(q);
	return 0;
}

int esv_ud_post_send(struct esv_qp *q, struct ibv_send_wr *w)
{
	struct esv_udpeer *up;
	struct esv_swr *e;
	uint8_t addr[16], *p;
	size_t len;
	int rc;

	if (w->opcode != IBV_WR_SEND && w->opcode != IBV_WR_SEND_WITH_IMM)
		return esv_deny(q, w->opcode);
	if (w->num_sge < 0 || (unsigned)w->num_sge > q->max_sge)
		return EINVAL;
	len = esv_sge_total(w->sg_list, w->num_sge);
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
	e = esv_swr_alloc(q);
	if (!e)
		return ENOMEM;
	e->kind = ESV_SWR_APP;
	e->up = up;
	e->app_wr_id = w->wr_id;
	e->signaled = q->sq_sig_all || (w->send_flags & IBV_SEND_SIGNALED);
	e->wr.send_flags = w->send_flags & IBV_SEND_SOLICITED;
	e->wr.wr.ud = w->wr.ud;
	e->ptlen = ESV_INNER_BYTES + len;
	e->sh = esv_pool_get(&q->spool, len + ESV_OVERHEAD);
	if (!e->sh) {
		esv_swr_unalloc(q, e);
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
		esv_swr_unalloc(q, e);
		return rc;
	}
	rc = ud_seal_post(q, e);
	if (rc)
		esv_swr_unalloc(q, e);
	return rc;
}

/* A UD QP that sends to itself (UCX does) gets its own HELLO back. Its
 * keys are those of a pair (the QP, a mirror identity of it: 'M' instead
 * of 'Q', its own key pair): it seals as the QP towards the mirror and
 * opens as the mirror, so each direction keeps its own key and sequence. */
static int ud_self_keys(struct esv_qp *q, struct esv_udpeer *up)
{
	uint8_t id[64], mid[64], pub[32], mpub[32];
	size_t idlen = esv_make_identity(id, q->type, q->qpn, q->gid, 0, q->conn_id);
	int rc;

	memcpy(mid, id, idlen);
	mid[0] = 'M';
	rc = esv_local_new(&up->mirror, mid, idlen);
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
	    esv_get_be32(h + 116) || esv_get_be32(h + 8) != wc->src_qp ||
	    esv_get_be32(h + 12) != q->qpn) {
		esv_log("UD QP %u: a malformed or misaddressed HELLO from QP %u "
			"was dropped", q->qpn, wc->src_qp);
		return;
	}
	if (esv_ensure_local(q))
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
		esv_ud_flush_held(q);
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
		idlen = esv_make_identity(id, q->type, wc->src_qp, h + 32, 0, h + 16);
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
	up->qkey = esv_get_be32(h + 112);
	ud_update_waiting(q);
	if (!(h[6] & 1u)) {
		if (!up->ah)
			up->ah = esv_real.create_ah_from_wc(
				q->pd, (struct ibv_wc *)wc, (struct ibv_grh *)grh,
				q->port);
		if (!up->ah || esv_hello_out(q, up, 1, up->ah, up->qkey))
			esv_log("UD QP %u: cannot answer the HELLO of QP %u",
				q->qpn, wc->src_qp);
	}
	esv_ud_flush_held(q);
}

/* A receive on a UD QP: shadow = GRH (40) || HELLO or frame. HELLOs and
 * datagrams nobody posted a receive for are not the application's: the
 * shadow goes back to the receive queue and nothing is consumed. */
int esv_ud_recv(struct esv_qp *q, struct esv_shadow *s, struct ibv_wc *wc)
{
	struct esv_rq *rq = esv_rq_of(q);
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
		esv_pool_put(s);
		r = esv_rq_pop(rq);
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
		esv_pool_put(s);
		esv_post_extra_shadow(q);
		ud_hello(q, wc, h, h + ESV_GRH_BYTES, flen);
		sodium_memzero(h, sizeof(h));
		return 0;
	}
	r = esv_rq_pop(rq);
	if (!r) {
		sodium_memzero(s->buf, s->region->slot_size);
		esv_pool_put(s);
		esv_post_extra_shadow(q);
		return 0; /* no receive posted: UD drops it */
	}
	ud_source(wc, grh, addr);
	for (up = q->udpeers; up; up = up->next)
		if (up->qpn == wc->src_qp && !memcmp(up->addr, addr, 16))
			break;
	envlen = esv_make_env(env, q->type, wc->src_qp, q->qpn);
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
	if (!rc && ESV_GRH_BYTES + n > esv_sge_total(r->sge, r->num_sge)) {
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
		esv_scatter_at(r, 0, grh, ESV_GRH_BYTES);
		esv_scatter_at(r, ESV_GRH_BYTES, pt + ESV_INNER_BYTES, n);
		wc->byte_len = (uint32_t)(ESV_GRH_BYTES + n);
		wc->opcode = IBV_WC_RECV;
		esv_set_imm(wc, pt);
		__atomic_add_fetch(&esv_stats.opened_msgs, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&esv_stats.opened_bytes, n, __ATOMIC_RELAXED);
	}
	sodium_memzero(s->buf, s->region->slot_size);
	esv_pool_put(s);
	return 1;
}

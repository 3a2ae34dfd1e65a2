/* SPDX-License-Identifier: MIT */
/*
 * The in-band HELLO handshake of RC/UC connections (docs/PROTOCOL.md
 * section 10) and the session keys it makes.
 * Everything runs under esv_lock.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <sodium.h>

#include "esv.h"

/* The LID of the QP's port (0 when unknown: RoCE has none). */
uint16_t esv_port_lid(struct esv_qp *q)
{
	struct ibv_port_attr pa;

	memset(&pa, 0, sizeof(pa));
	if (!esv_real.query_port || esv_real.query_port(q->ec->ctx, q->port, &pa))
		return 0;
	return pa.lid;
}

/* Our end's address as the peer's QP knows it: the GID of the QP's
 * source GID index when its path is global, else the port's LID. */
static void own_address(struct esv_qp *q)
{
	union ibv_gid gid;

	memset(q->gid, 0, sizeof(q->gid));
	q->lid = 0;
	if (!q->global)
		q->lid = esv_port_lid(q);
	else if (esv_real.query_gid &&
		 !esv_real.query_gid(q->ec->ctx, q->port, q->sgid_index, &gid))
		memcpy(q->gid, gid.raw, 16);
}

int esv_ensure_local(struct esv_qp *q)
{
	uint8_t id[ESV_ID_BYTES];
	size_t idlen;
	int rc;

	if (q->local)
		return 0;
	/* A UD QP sends through many address handles, each with its own
	 * source GID: its identity carries no address (zeros). */
	if (q->type != IBV_QPT_UD)
		own_address(q);
	randombytes_buf(q->conn_id, sizeof(q->conn_id));
	idlen = esv_make_identity(id, q->type, q->qpn, q->gid, q->lid, q->conn_id);
	rc = esv_local_new(&q->local, id, idlen);
	if (rc) {
		esv_log("QP %u: cannot start a session: %s", q->qpn,
			encshim_strerror(rc));
		return -1;
	}
	return 0;
}

/* Envelope of a UD answer's key confirmation: a label and the hash of
 * the answer's 120 HELLO bytes, so the confirmation vouches for the whole
 * HELLO under keys that bind the transcript (both identities, both
 * public keys, J). */
size_t esv_confirm_env(uint8_t env[ENCSHIM_MAX_ENVELOPE], const uint8_t *hello)
{
	memcpy(env, "ESVC", 4);
	crypto_hash_sha256(env + 4, hello, ESV_HELLO_BYTES);
	return 4 + crypto_hash_sha256_BYTES;
}

/* Posts our HELLO: on RC/UC to the connected peer; on UD to peer up
 * through address handle ah with Q_Key qkey, as an answer under pending
 * session answer (flag 1: do not answer it; its key pair, followed by the
 * key confirmation) or, answer NULL, asking for one (the entry's pair). Posted
 * at once: on RC it is the first message, on UD the ring holds no
 * unposted sends (they wait in the held FIFO). */
int esv_hello_out(struct esv_qp *q, struct esv_udpeer *up,
		  const struct esv_udcand *answer, struct ibv_ah *ah, uint32_t qkey)
{
	const struct encshim_local *l;
	uint8_t env[ENCSHIM_MAX_ENVELOPE];
	size_t len = ESV_HELLO_BYTES + (answer ? ESV_CONFIRM_BYTES : 0);
	struct esv_swr *e;
	uint8_t *h;
	int rc;

	if (!up && esv_ensure_local(q))
		return EIO;
	l = answer ? answer->local : up ? up->local : q->local;
	e = esv_swr_alloc(q);
	if (!e)
		return ENOMEM;
	e->kind = ESV_SWR_HELLO;
	e->sh = esv_pool_get(&q->spool, len);
	if (!e->sh) {
		esv_swr_unalloc(q, e);
		return ENOMEM;
	}
	e->ptlen = len;
	h = e->sh->buf;
	memset(h, 0, len);
	memcpy(h, ESV_HELLO_MAGIC, 4);
	h[4] = ESV_HELLO_VERSION;
	h[5] = (uint8_t)q->type;
	h[6] = (uint8_t)(answer ? 1 : 0);
	esv_put_be32(h + 8, q->qpn);
	esv_put_be32(h + 12, up ? up->qpn : q->dest_qpn);
	memcpy(h + 16, up ? up->conn_id : q->conn_id, ESV_CONNID_BYTES);
	if (!up) {
		memcpy(h + 32, q->gid, 16);
		h[116] = (uint8_t)(q->lid >> 8);
		h[117] = (uint8_t)q->lid;
	}
	encshim_local_public_key(l, h + 48);
	encshim_local_secret_check(l, h + 80);
	esv_put_be32(h + 112, up ? q->qkey : q->rq_psn);
	if (answer &&
	    encshim_peer_seal(answer->peer, env, esv_confirm_env(env, h), NULL, 0,
			      h + ESV_HELLO_BYTES)) {
		esv_swr_unalloc(q, e);
		return EIO;
	}
	/* UD: signaled when half the ring is in flight, so that answers to
	 * many peers, unsignaled, cannot fill the ring for good (their
	 * completion releases it; the shim swallows it). */
	e->signaled = q->sq_sig_all ||
		      (up && q->nposted + 1 >= q->cap / 2);
	if (up) {
		e->up = up;
		e->wr.wr.ud.ah = ah;
		e->wr.wr.ud.remote_qpn = up->qpn;
		e->wr.wr.ud.remote_qkey = qkey;
		up->hello_at = esv_now();
	}
	rc = esv_swr_post(q, e);
	if (rc) {
		esv_swr_unalloc(q, e);
		esv_log("QP %u: posting the HELLO failed: %s", q->qpn, strerror(rc));
		return rc;
	}
	if (!up) {
		q->hello_sent = 1;
		q->hello_deadline = esv_now() + esv_cfg.hello_timeout;
	}
	return 0;
}

int esv_hello_send(struct esv_qp *q)
{
	return esv_hello_out(q, NULL, NULL, NULL, 0);
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

/* The progress thread handles a HELLO at any time, often while the
 * application is between its RTR and its RTS: moving the QP then would
 * lose the application's own RTS attributes (send PSN, timeout, retry
 * counts), which RTS->RTS cannot change (IB spec, table of QP attributes
 * per transition). So the thread leaves an RTR QP to the application for
 * ESV_RTS_GRACE_S; its RTS answers the HELLO (esv_qp_modified). A QP still
 * at RTR then belongs to a receive-only target: the thread moves it
 * (test_attack4_shim_rts_drops_app_attrs). */
void esv_hello_rts_due(struct esv_qp *q)
{
	if (!q->reply_owed || q->hello_sent || q->state != IBV_QPS_RTR ||
	    esv_now() < q->rts_due)
		return;
	shim_to_rts(q, q->rts_psn);
	if (q->state != IBV_QPS_RTS)
		return;
	q->reply_owed = 0;
	if (esv_hello_send(q))
		esv_qp_fail(q, "cannot answer the peer's HELLO");
	else
		esv_flush_pending(q);
}

/* The HELLO's sender address must be the one this QP was connected to
 * (its RTR address vector): a HELLO of another connection whose QP
 * numbers line up is refused by name (test_rc_splice). */
static int peer_address_matches(struct esv_qp *q, const uint8_t *h)
{
	char why[300], a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
	uint16_t lid = (uint16_t)(h[116] << 8 | h[117]);

	if (!memcmp(h + 32, q->dgid, 16) && lid == q->dlid)
		return 1;
	__atomic_add_fetch(&esv_stats.handshake_failures, 1, __ATOMIC_RELAXED);
	inet_ntop(AF_INET6, h + 32, a, sizeof(a));
	inet_ntop(AF_INET6, q->dgid, b, sizeof(b));
	snprintf(why, sizeof(why),
		 "HELLO from GID %s LID %u arrived on QP %u connected to GID %s "
		 "LID %u (a spliced connection, or a wrong address vector at "
		 "RTR); nothing was delivered", a, lid, q->qpn, b, q->dlid);
	esv_qp_fail(q, why);
	return 0;
}

int esv_hello_rc(struct esv_qp *q, const uint8_t *h, size_t len)
{
	uint8_t check[ENCSHIM_CHECK_BYTES], id[ESV_ID_BYTES];
	uint32_t src, dst;
	size_t idlen;
	int rc;

	if (len != ESV_HELLO_BYTES || memcmp(h, ESV_HELLO_MAGIC, 4)) {
		__atomic_add_fetch(&esv_stats.handshake_failures, 1, __ATOMIC_RELAXED);
		esv_qp_fail(q, "the peer's first message is not an encshim HELLO: "
			    "the peer runs without the encshim verbs preload "
			    "(start both sides with `encshim preload` or "
			    "LD_PRELOAD=libencshim-verbs.so); nothing was delivered");
		return -1;
	}
	if (h[4] != ESV_HELLO_VERSION || h[5] != (uint8_t)q->type || h[6] || h[7] ||
	    h[118] || h[119]) {
		esv_qp_fail(q, "the peer's HELLO has another version or QP type");
		return -1;
	}
	src = esv_get_be32(h + 8);
	dst = esv_get_be32(h + 12);
	if (src != q->dest_qpn || dst != q->qpn) {
		char why[160];

		snprintf(why, sizeof(why),
			 "HELLO from QP %u to QP %u arrived on QP %u connected "
			 "to QP %u", src, dst, q->qpn, q->dest_qpn);
		esv_qp_fail(q, why);
		return -1;
	}
	if (!peer_address_matches(q, h))
		return -1;
	if (esv_ensure_local(q))
		return -1;
	encshim_local_secret_check(q->local, check);
	if (sodium_memcmp(check, h + 80, sizeof(check))) {
		__atomic_add_fetch(&esv_stats.handshake_failures, 1, __ATOMIC_RELAXED);
		esv_qp_fail(q, "the peer holds another job secret (or job id): "
			    "give both sides the same ENCSHIM_KEY_FILE "
			    "(and ENCSHIM_JOB_ID)");
		return -1;
	}
	/* The peer's identity as this QP was connected (dest QPN, DGID or
	 * DLID), never as the HELLO claims it: a HELLO spliced in from
	 * another connection gives other keys (test_rc_splice). */
	idlen = esv_make_identity(id, q->type, q->dest_qpn, q->dgid, q->dlid,
				  h + 16);
	rc = encshim_peer_new(&q->peer, q->local, id, idlen, h + 48, 0);
	if (!rc)
		rc = encshim_peer_set_order(q->peer, q->type == IBV_QPT_RC
							     ? ENCSHIM_ORDER_STRICT
							     : ENCSHIM_ORDER_MONOTONIC);
	if (rc) {
		char why[256];

		snprintf(why, sizeof(why), "key agreement failed: %s",
			 encshim_strerror(rc));
		esv_qp_fail(q, why);
		return -1;
	}
	q->peer_hello = 1;
	q->hs = ESV_HS_DONE;
	__atomic_add_fetch(&esv_stats.handshakes, 1, __ATOMIC_RELAXED);
	if (!q->hello_sent && q->state == IBV_QPS_RTR) {
		q->rts_psn = esv_get_be32(h + 112);
		q->rts_due = esv_now() + ESV_RTS_GRACE_S;
		if (!esv_progress_pulling)
			shim_to_rts(q, q->rts_psn);
	}
	if (!q->hello_sent) {
		if (q->state == IBV_QPS_RTS) {
			if (esv_hello_send(q)) {
				esv_qp_fail(q, "cannot answer the peer's HELLO");
				return -1;
			}
		} else {
			q->reply_owed = 1;
		}
	}
	if (q->hello_sent)
		esv_flush_pending(q);
	return 0;
}

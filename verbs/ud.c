/* SPDX-License-Identifier: MIT */
/*
 * UD: one peer per remote (QPN, address), each with its own key pair,
 * HELLO exchange and keys; sends wait in a held FIFO until their peer is
 * confirmed. docs/PROTOCOL.md section 10 states the rules; in short:
 *   - every peer entry draws its own X25519 pair and connection id, and
 *     each pending session (one per distinct HELLO of a peer that wrote
 *     first, up to ESV_UD_CANDIDATES) its own pair, dropped with it, so no
 *     two sessions ever share a key and no nonce repeats, whatever HELLOs
 *     an attacker replays from whatever addresses;
 *   - an answer carries key confirmation (an empty frame sealed under the
 *     new session over the hash of the answer), and the peer that wrote
 *     first confirms with its first frame, under whichever pending session
 *     it opens: a peer is committed to only then, and copied HELLOs cannot
 *     pre-empt the real peer;
 *   - two ends that ask each other at once key one session: the lower
 *     (address, QPN) with its own HELLO out answers nothing and takes the
 *     higher end's answer (ud_defers), and the higher end takes no answer
 *     from an entry whose HELLO it answered (ud_answer), also when the
 *     lower end answered before it asked and that answer came late;
 *   - both identities bind the addresses as each side knows them (the
 *     sender: its source GID for the AH and the AH's destination; the
 *     receiver: the GRH source and its own GID the GRH was sent to), so a
 *     HELLO, answer or frame moved to another address keys nothing;
 *   - a HELLO carrying one of our own connection ids is ours: honoured only
 *     on an entry a send of ours made towards our own QPN and address (a
 *     QP sending to itself), refused otherwise (reflection);
 *   - the table is hashed, strangers are bounded (one answered within the
 *     HELLO timeout is never evicted), each source gets at most
 *     ESV_UD_CANDIDATES new sessions per ESV_UD_HELLO_GAP.
 * Everything runs under esv_lock.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "esv.h"

/* ------------------------------------------------------------- the table */

static unsigned bucket(const struct esv_udtab *t, uint32_t qpn,
		       const uint8_t addr[16])
{
	uint8_t in[20], out[crypto_shorthash_BYTES];
	uint64_t h;

	esv_put_be32(in, qpn);
	memcpy(in + 4, addr, 16);
	crypto_shorthash(out, in, sizeof(in), t->hkey);
	memcpy(&h, out, sizeof(h));
	return (unsigned)(h & (t->nb - 1));
}

int esv_ud_init(struct esv_qp *q)
{
	struct esv_udtab *t = &q->ud;

	t->nb = 64;
	t->tokens = ESV_UD_MAX_STRANGERS;
	t->tokens_at = esv_now();
	t->b = calloc(t->nb, sizeof(*t->b));
	if (!t->b)
		return -1;
	crypto_shorthash_keygen(t->hkey);
	randombytes_buf(t->cid_prefix, sizeof(t->cid_prefix));
	esv_list_init(&t->all);
	esv_list_init(&t->strangers);
	return 0;
}

static struct esv_udpeer *udpeer_find(struct esv_qp *q, uint32_t qpn,
				      const uint8_t addr[16])
{
	struct esv_udpeer *up = q->ud.b[bucket(&q->ud, qpn, addr)];

	for (; up; up = up->hnext)
		if (up->qpn == qpn && !memcmp(up->addr, addr, 16))
			return up;
	return NULL;
}

/* Doubles the buckets when chains grow past two on average. */
static void grow(struct esv_udtab *t)
{
	unsigned onb = t->nb;
	struct esv_udpeer **ob = t->b, **nbk;

	if (t->n <= 2 * t->nb || !(nbk = calloc(2 * (size_t)onb, sizeof(*nbk))))
		return;
	t->b = nbk;
	t->nb = 2 * onb;
	for (unsigned i = 0; i < onb; i++)
		while (ob[i]) {
			struct esv_udpeer *up = ob[i];
			unsigned k = bucket(t, up->qpn, up->addr);

			ob[i] = up->hnext;
			up->hnext = t->b[k];
			t->b[k] = up;
		}
	free(ob);
}

/* Our end towards one peer: a fresh key pair and connection id (any
 * earlier ones of this entry are wiped). */
static int fresh_local(struct esv_qp *q, struct esv_udpeer *up)
{
	uint8_t id[ESV_ID_BYTES];
	int rc;

	if (up->local)
		encshim_local_free(up->local);
	up->local = NULL;
	memcpy(up->conn_id, q->ud.cid_prefix, sizeof(q->ud.cid_prefix));
	randombytes_buf(up->conn_id + sizeof(q->ud.cid_prefix),
			ESV_CONNID_BYTES - sizeof(q->ud.cid_prefix));
	rc = esv_local_new(&up->local, id,
			   esv_make_identity(id, q->type, q->qpn, up->own, 0,
					     up->conn_id));
	if (rc) {
		esv_log("UD QP %u: cannot start a session: %s", q->qpn,
			encshim_strerror(rc));
		return rc;
	}
	if (!q->ud.have_check) {
		encshim_local_secret_check(up->local, q->ud.check);
		q->ud.have_check = 1;
	}
	return 0;
}

static void cand_free(struct esv_udcand *c)
{
	if (c->peer)
		encshim_peer_free(c->peer);
	if (c->local)
		encshim_local_free(c->local);
	sodium_memzero(c, sizeof(*c));
}

static void drop_keys(struct esv_udpeer *up)
{
	for (unsigned i = 0; i < ESV_UD_CANDIDATES; i++)
		cand_free(&up->cand[i]);
	if (up->peer)
		encshim_peer_free(up->peer);
	if (up->rx)
		encshim_peer_free(up->rx);
	if (up->mirror)
		encshim_local_free(up->mirror);
	up->peer = up->rx = NULL;
	up->mirror = NULL;
}

static void udpeer_free(struct esv_qp *q, struct esv_udpeer *up)
{
	struct esv_udpeer **pp = &q->ud.b[bucket(&q->ud, up->qpn, up->addr)];

	while (*pp != up)
		pp = &(*pp)->hnext;
	*pp = up->hnext;
	esv_list_del(&up->link);
	if (up->stranger) {
		esv_list_del(&up->slink);
		q->ud.nstrangers--;
	}
	q->ud.n--;
	drop_keys(up);
	if (up->local)
		encshim_local_free(up->local);
	if (up->ah)
		esv_real.destroy_ah(up->ah);
	sodium_memzero(up, sizeof(*up));
	free(up);
}

/* The oldest stranger with no send of ours waiting and no answer of ours
 * out within hello_timeout goes. An answered stranger stays: its peer may
 * have taken the answer, be confirmed for good and never send a HELLO
 * again, so dropping its entry would silence it for the life of the QP
 * (test_attack_ud_evict_answered). With none to evict, the new HELLO is
 * refused; its sender repeats it. */
static int evict_stranger(struct esv_qp *q)
{
	double now = esv_now();
	struct esv_list *l;

	for (l = q->ud.strangers.next; l != &q->ud.strangers; l = l->next) {
		struct esv_udpeer *up = esv_container_of(l, struct esv_udpeer, slink);

		if (!up->held && (!up->answered_at ||
				  now - up->answered_at >= esv_cfg.hello_timeout)) {
			udpeer_free(q, up);
			return 0;
		}
	}
	return -1;
}

/* A new entry for (qpn, addr), our end at address own, with its own key
 * pair. A stranger (its HELLO came first) counts against
 * ESV_UD_MAX_STRANGERS. */
static struct esv_udpeer *udpeer_new(struct esv_qp *q, uint32_t qpn,
				     const uint8_t addr[16], const uint8_t own[16],
				     int stranger)
{
	struct esv_udpeer *up;
	unsigned k;

	if (stranger && q->ud.nstrangers >= ESV_UD_MAX_STRANGERS &&
	    evict_stranger(q))
		return NULL;
	up = calloc(1, sizeof(*up));
	if (!up)
		return NULL;
	up->qpn = qpn;
	memcpy(up->addr, addr, 16);
	memcpy(up->own, own, 16);
	up->self = !stranger && qpn == q->qpn && !memcmp(own, addr, 16);
	if (fresh_local(q, up)) {
		free(up);
		return NULL;
	}
	k = bucket(&q->ud, qpn, addr);
	up->hnext = q->ud.b[k];
	q->ud.b[k] = up;
	esv_list_add_tail(&q->ud.all, &up->link);
	esv_list_init(&up->slink);
	up->stranger = stranger;
	if (stranger) {
		esv_list_add_tail(&q->ud.strangers, &up->slink);
		q->ud.nstrangers++;
	}
	q->ud.n++;
	grow(&q->ud);
	return up;
}

void esv_udpeers_free(struct esv_qp *q)
{
	while (q->ud.b && q->ud.all.next != &q->ud.all)
		udpeer_free(q, esv_container_of(q->ud.all.next,
						struct esv_udpeer, link));
	randombytes_buf(q->ud.cid_prefix, sizeof(q->ud.cid_prefix));
	q->ud.have_check = 0; /* the job secret may have been reloaded */
}

void esv_ud_fini(struct esv_qp *q)
{
	esv_udpeers_free(q);
	free(q->ud.b);
	q->ud.b = NULL;
}

/* The QP waits while any peer it asked has not answered: hello_sent and
 * hello_deadline drive the same progress and timeout as on RC. */
static void ud_update_waiting(struct esv_qp *q)
{
	q->hello_sent = 0;
	for (struct esv_list *l = q->ud.all.next; l != &q->ud.all; l = l->next) {
		struct esv_udpeer *up = esv_container_of(l, struct esv_udpeer, link);

		if (up->hello_sent && !up->confirmed &&
		    (!q->hello_sent || up->deadline < q->hello_deadline)) {
			q->hello_sent = 1;
			q->hello_deadline = up->deadline;
		}
	}
}

/* The peer proved it holds the keys: commit, release its held sends. */
static void confirm(struct esv_qp *q, struct esv_udpeer *up)
{
	up->confirmed = 1;
	if (up->stranger) {
		esv_list_del(&up->slink);
		q->ud.nstrangers--;
		up->stranger = 0;
	}
	__atomic_add_fetch(&esv_stats.handshakes, 1, __ATOMIC_RELAXED);
	if (up->hello_sent)
		ud_update_waiting(q);
	esv_ud_flush_held(q);
}

/* ------------------------------------------------------------ addresses */

/* Source and destination address of a UD receive: the GRH's GIDs, or on
 * RoCEv2 over IPv4 (no IPv6 version nibble) the IPv4 header in the GRH's
 * last 20 bytes, as IPv4-mapped GIDs; the source LID without a GRH (no
 * destination then: zeros). */
static void ud_addrs(const struct ibv_wc *wc, const uint8_t *grh,
		     uint8_t src[16], uint8_t dst[16])
{
	memset(src, 0, 16);
	memset(dst, 0, 16);
	if (!(wc->wc_flags & IBV_WC_GRH)) {
		src[14] = (uint8_t)(wc->slid >> 8);
		src[15] = (uint8_t)wc->slid;
	} else if ((grh[0] >> 4) == 6) {
		memcpy(src, grh + 8, 16);
		memcpy(dst, grh + 24, 16);
	} else {
		src[10] = src[11] = dst[10] = dst[11] = 0xff;
		memcpy(src + 12, grh + 20 + 12, 4);
		memcpy(dst + 12, grh + 20 + 16, 4);
	}
}

/* The port's LID as a UD address (LID in the last 2 bytes). */
static void lid_addr(struct esv_qp *q, uint8_t addr[16])
{
	uint16_t lid = esv_port_lid(q);

	memset(addr, 0, 16);
	addr[14] = (uint8_t)(lid >> 8);
	addr[15] = (uint8_t)lid;
}

/* Our address towards a peer we send to: the GID at the AH's source GID
 * index (the GRH source the peer sees), or the port's LID when the AH is
 * not global. 0, or -1 when the GID cannot be read. */
static int own_addr_sending(struct esv_qp *q, int sgid_index, uint8_t own[16])
{
	union ibv_gid gid;

	if (sgid_index < 0) {
		lid_addr(q, own);
		return 0;
	}
	if (!esv_real.query_gid ||
	    esv_real.query_gid(q->ec->ctx, q->port, sgid_index, &gid))
		return -1;
	memcpy(own, gid.raw, 16);
	return 0;
}

/* Our address towards a peer whose HELLO came first: the GRH destination
 * when it is one of this port's GIDs (an attacker who rewrites it to
 * another host's address, to key as that host, is refused: only our own
 * GIDs are ours to bind), the port's LID without a GRH. 0 or -1. */
static int own_addr_receiving(struct esv_qp *q, const struct ibv_wc *wc,
			      const uint8_t dst[16], uint8_t own[16])
{
	struct ibv_port_attr pa;
	union ibv_gid gid;

	if (!(wc->wc_flags & IBV_WC_GRH)) {
		lid_addr(q, own);
		return 0;
	}
	memset(&pa, 0, sizeof(pa));
	if (!esv_real.query_port || esv_real.query_port(q->ec->ctx, q->port, &pa))
		return -1;
	for (int i = 0; i < pa.gid_tbl_len; i++) {
		if (esv_real.query_gid(q->ec->ctx, q->port, i, &gid))
			continue;
		if (!memcmp(gid.raw, dst, 16)) {
			memcpy(own, dst, 16);
			return 0;
		}
	}
	return -1;
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

		if (h.up->confirmed && !full && !failed) {
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

/* A send to a peer not confirmed yet asks for its HELLO (or its
 * confirmation); while the answer is missing, a later send repeats it now
 * and then (UD may lose it; the peer answers a repeat from the same
 * session). */
static int ud_ask_hello(struct esv_qp *q, struct esv_udpeer *up,
			const struct ibv_send_wr *w)
{
	int rc;

	if (up->confirmed || (up->hello_sent &&
			      esv_now() - up->hello_at < ESV_UD_HELLO_RESEND))
		return 0;
	rc = esv_hello_out(q, up, NULL, w->wr.ud.ah, w->wr.ud.remote_qkey);
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
	uint8_t addr[16], own[16];
	size_t len;
	int rc, sgid_index;

	if (w->opcode != IBV_WR_SEND && w->opcode != IBV_WR_SEND_WITH_IMM)
		return esv_deny(q, w->opcode);
	if (w->num_sge < 0 || (unsigned)w->num_sge > q->max_sge)
		return EINVAL;
	len = esv_sge_total(w->sg_list, w->num_sge);
	if (len > ENCSHIM_MAX_PLAINTEXT - ESV_INNER_BYTES)
		return EINVAL;
	if (esv_ah_addr(w->wr.ud.ah, addr, &sgid_index)) {
		esv_log("UD send on QP %u through an address handle not created "
			"with ibv_create_ah under the shim: refused", q->qpn);
		return EINVAL;
	}
	up = udpeer_find(q, w->wr.ud.remote_qpn, addr);
	if (!up) {
		if (own_addr_sending(q, sgid_index, own)) {
			esv_log("UD send on QP %u: cannot read the source GID at "
				"index %d of port %u: refused", q->qpn,
				sgid_index, q->port);
			return EINVAL;
		}
		up = udpeer_new(q, w->wr.ud.remote_qpn, addr, own, 0);
	}
	if (!up)
		return ENOMEM;
	rc = ud_ask_hello(q, up, w);
	if (rc)
		return rc;
	e = esv_swr_app(q, w, len, IBV_SEND_SOLICITED);
	if (!e)
		return ENOMEM;
	e->up = up;
	e->wr.wr.ud = w->wr.ud;
	if (!up->confirmed || up->held) {
		/* Until this peer is confirmed: out of the ring, which holds
		 * posted entries only. */
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
 * keys are those of a pair (the entry's identity, a mirror identity of it:
 * 'M' instead of 'Q', its own key pair): it seals as the QP towards the
 * mirror and opens as the mirror, so each direction keeps its own key and
 * sequence. */
static int ud_self_keys(struct esv_qp *q, struct esv_udpeer *up)
{
	uint8_t id[ESV_ID_BYTES], mid[ESV_ID_BYTES], pub[32], mpub[32];
	size_t idlen = esv_make_identity(id, q->type, q->qpn, up->own, 0,
					 up->conn_id);
	int rc;

	memcpy(mid, id, idlen);
	mid[0] = 'M';
	rc = esv_local_new(&up->mirror, mid, idlen);
	if (rc)
		return rc;
	encshim_local_public_key(up->local, pub);
	encshim_local_public_key(up->mirror, mpub);
	rc = encshim_peer_new(&up->peer, up->local, mid, idlen, mpub, 0);
	if (!rc)
		rc = encshim_peer_new(&up->rx, up->mirror, id, idlen, pub, 0);
	if (rc)
		drop_keys(up);
	return rc;
}

/* A session of key pair l of entry up with the peer whose HELLO is h: the
 * peer's identity at the entry's address, as this QP knows it. */
static int ud_session(struct esv_qp *q, struct esv_udpeer *up,
		      const struct encshim_local *l, const uint8_t *h,
		      struct encshim_peer **out)
{
	uint8_t id[ESV_ID_BYTES];
	size_t idlen = esv_make_identity(id, q->type, up->qpn, up->addr, 0, h + 16);

	return encshim_peer_new(out, l, id, idlen, h + 48, 0);
}

/* Opens the key confirmation after answer h under session p. */
static int confirm_opens(struct esv_qp *q, struct encshim_peer *p,
			 const uint8_t *h)
{
	uint8_t env[ENCSHIM_MAX_ENVELOPE], none[1];

	(void)q;
	return encshim_peer_open(p, env, esv_confirm_env(env, h),
				 h + ESV_HELLO_BYTES, ESV_CONFIRM_BYTES, none);
}

/* A token bucket over the key agreements that HELLOs cause on this QP (an
 * X25519 pair and a Diffie-Hellman each): a flood from many spoofed
 * sources costs a bounded share of a core. */
static int take_token(struct esv_qp *q)
{
	double now = esv_now();
	double t = q->ud.tokens + (now - q->ud.tokens_at) * ESV_UD_HELLO_RATE;

	q->ud.tokens_at = now;
	q->ud.tokens = t > ESV_UD_MAX_STRANGERS ? ESV_UD_MAX_STRANGERS : t;
	if (q->ud.tokens < 1.0)
		return 0;
	q->ud.tokens -= 1.0;
	return 1;
}

/* One line a second at most: anyone can send HELLOs to a UD QP. */
static void ud_refuse(struct esv_qp *q, const struct ibv_wc *wc, const char *why)
{
	double now = esv_now();

	__atomic_add_fetch(&esv_stats.handshake_failures, 1, __ATOMIC_RELAXED);
	if (now - q->ud.logged_at < 1.0) {
		q->ud.unlogged++;
		return;
	}
	esv_log("UD QP %u: a HELLO from QP %u was dropped: %s (and %u more "
		"since the last such line)", q->qpn, wc->src_qp, why,
		q->ud.unlogged);
	q->ud.logged_at = now;
	q->ud.unlogged = 0;
}

/* Whether our end of entry up is the lower of the pair: its own address
 * (16 bytes, as bound) compared bytewise, then the QPNs. */
static int ud_lower(const struct esv_udpeer *up, uint32_t own_qpn)
{
	int c = memcmp(up->own, up->addr, 16);

	return c < 0 || (!c && own_qpn < up->qpn);
}

/* Crossed HELLOs (both ends asked before either saw the other's): each
 * would answer the other and then take the other's answer, confirming two
 * different sessions (test_attack2_ud_crossed_hellos). A fixed tie-break
 * keeps one: the end whose own (address, QPN) is the lower does not answer
 * while its own HELLO is out and unconfirmed; it takes the higher end's
 * answer, whose pending session its first frame confirms. */
static int ud_defers(const struct esv_udpeer *up, uint32_t own_qpn)
{
	return up->hello_sent && !up->confirmed && ud_lower(up, own_qpn);
}

/* The pending session of entry up for a HELLO with connection id cid. */
static struct esv_udcand *cand_of(struct esv_udpeer *up, const uint8_t *cid)
{
	for (unsigned i = 0; i < ESV_UD_CANDIDATES; i++)
		if (up->cand[i].peer &&
		    !memcmp(up->cand[i].peer_cid, cid, ESV_CONNID_BYTES))
			return &up->cand[i];
	return NULL;
}

/* Answers the HELLO of pending (or, confirmed, the entry's) session c
 * with the peer's Q_Key qkey, at most once per ESV_UD_HELLO_GAP, through
 * the shim's AH to the peer (made from the datagram wc, grh). */
static void answer_from(struct esv_qp *q, struct esv_udpeer *up,
			struct esv_udcand *c, uint32_t qkey,
			const struct ibv_wc *wc, const uint8_t *grh)
{
	double now = esv_now();

	if (now - c->answered_at < ESV_UD_HELLO_GAP)
		return; /* a repeat: answered a moment ago */
	c->qkey = qkey;
	if (!up->ah)
		up->ah = esv_real.create_ah_from_wc(q->pd, (struct ibv_wc *)wc,
						    (struct ibv_grh *)grh, q->port);
	if (!up->ah || esv_hello_out(q, up, c, up->ah, c->qkey)) {
		esv_log("UD QP %u: cannot answer the HELLO of QP %u", q->qpn,
			wc->src_qp);
		return;
	}
	c->answered_at = up->answered_at = now;
}

/* An answer (flag 1) for entry up: taken only with a confirmation that
 * opens under a session of the entry's key pair (the one its HELLO
 * carried) with it; the peer is then confirmed, and any pending session
 * of a HELLO of the peer goes.
 * Crossed after an early answer: the lower end may have answered our
 * HELLO before it sent, and asked since. Every HELLO and answer of one
 * entry carries its connection id; holding a pending session for a HELLO
 * with the answer's connection id, the higher end knows the lower end
 * asked after it answered, so the lower end takes our answer (it takes
 * answers, ud_defers) and confirms that pending session with its first
 * frame: taking its answer too would key the pair under two sessions
 * (test_attack2_ud_crossed_late_answer). The higher end takes no answer
 * then and answers that HELLO again instead (its answer may be lost). */
static void ud_answer(struct esv_qp *q, struct esv_udpeer *up,
		      const struct ibv_wc *wc, const uint8_t *grh,
		      const uint8_t *h, size_t len)
{
	struct encshim_peer *p = NULL;
	struct esv_udcand *c;

	/* A session that fails has sealed nothing: dropping it (and making
	 * it again later) repeats no nonce. */
	if (len != ESV_HELLO_MAX || up->confirmed || ud_session(q, up, up->local, h, &p))
		return;
	if (confirm_opens(q, p, h)) {
		encshim_peer_free(p);
		return;
	}
	if (!ud_lower(up, q->qpn) && (c = cand_of(up, h + 16))) {
		encshim_peer_free(p);
		answer_from(q, up, c, c->qkey, wc, grh);
		return;
	}
	drop_keys(up);
	up->peer = p;
	memcpy(up->peer_cid, h + 16, ESV_CONNID_BYTES);
	memcpy(up->pub, h + 48, 32);
	up->qkey = esv_get_be32(h + 112);
	confirm(q, up);
}

static int same_hello(const uint8_t *cid, const uint8_t *pub, const uint8_t *h)
{
	return !memcmp(cid, h + 16, ESV_CONNID_BYTES) && !memcmp(pub, h + 48, 32);
}

/* A new pending session of entry up for HELLO h, with a key pair of ours
 * for it alone, in a free slot or the oldest one's: a dropped session
 * takes its key pair along, so it can never be made again (its answer's
 * confirmation was sealed at sequence 0). NULL when refused. */
static struct esv_udcand *cand_new(struct esv_qp *q, struct esv_udpeer *up,
				   const struct ibv_wc *wc, const uint8_t *h,
				   double now)
{
	struct esv_udcand *c = &up->cand[0];
	uint8_t id[ESV_ID_BYTES];
	unsigned recent = 0;
	int rc, any = 0;

	for (unsigned i = 0; i < ESV_UD_CANDIDATES; i++) {
		struct esv_udcand *x = &up->cand[i];

		any |= x->peer != NULL;
		recent += x->peer && now - x->keyed_at < ESV_UD_HELLO_GAP;
		if (!x->peer ? c->peer != NULL : c->peer && x->keyed_at < c->keyed_at)
			c = x;
	}
	if (recent == ESV_UD_CANDIDATES || (any && !take_token(q))) {
		ud_refuse(q, wc, "too many HELLOs from this source");
		return NULL;
	}
	cand_free(c);
	rc = esv_local_new(&c->local, id,
			   esv_make_identity(id, q->type, q->qpn, up->own, 0,
					     up->conn_id));
	if (!rc)
		rc = ud_session(q, up, c->local, h, &c->peer);
	if (rc) {
		cand_free(c);
		ud_refuse(q, wc, encshim_strerror(rc));
		return NULL;
	}
	memcpy(c->peer_cid, h + 16, ESV_CONNID_BYTES);
	memcpy(c->pub, h + 48, 32);
	c->keyed_at = now;
	return c;
}

/* A HELLO asking for an answer (flag 0) for entry up: until the entry is
 * confirmed, each distinct one gets a pending session of its own (up to
 * ESV_UD_CANDIDATES, the oldest goes) and an answer with key confirmation;
 * the first frame that opens under one of them confirms it
 * (test_attack_ud_forged_hello_stream). A repeat is answered again from
 * its session. The lower of two crossed ends answers nothing (ud_defers). */
static void ud_ask(struct esv_qp *q, struct esv_udpeer *up, const struct ibv_wc *wc,
		   const uint8_t *grh, const uint8_t *h)
{
	double now = esv_now();
	struct esv_udcand cur, *c = NULL;

	if (ud_defers(up, q->qpn))
		return;
	if (up->confirmed) {
		if (!up->peer || !same_hello(up->peer_cid, up->pub, h)) {
			ud_refuse(q, wc, "another HELLO for a confirmed peer (a "
				  "replay, or the peer reset its QP: reset this QP "
				  "to talk to it again)");
			return;
		}
		memset(&cur, 0, sizeof(cur));
		cur.local = up->local;
		cur.peer = up->peer;
		cur.qkey = up->qkey;
		cur.answered_at = up->answered_at;
		c = &cur;
	}
	for (unsigned i = 0; !c && i < ESV_UD_CANDIDATES; i++)
		if (up->cand[i].peer && same_hello(up->cand[i].peer_cid,
						   up->cand[i].pub, h))
			c = &up->cand[i];
	if (!c && !(c = cand_new(q, up, wc, h, now)))
		return;
	answer_from(q, up, c, esv_get_be32(h + 112), wc, grh);
}

/* The first frame from an entry not confirmed: opens under one of its
 * pending sessions, which becomes the entry's (its key pair too); the
 * others go. Opening is in place and a failed open wipes what it wrote
 * (PROTOCOL section 5), so each try after the first starts from a copy
 * of the frame. 0 or the error of the last try. */
static int open_pending(struct esv_udpeer *up, const uint8_t *env, size_t envlen,
			uint8_t *f, size_t flen, uint8_t *pt)
{
	uint8_t *copy = NULL;
	int rc = ENCSHIM_E_AUTH, tried = 0;

	for (unsigned i = 0; i < ESV_UD_CANDIDATES; i++) {
		struct esv_udcand *c = &up->cand[i];

		if (!c->peer)
			continue;
		if (tried)
			memcpy(f, copy, flen);
		else if (!(copy = malloc(flen)))
			return ENCSHIM_E_NOMEM;
		else
			memcpy(copy, f, flen);
		tried = 1;
		if ((rc = encshim_peer_open(c->peer, env, envlen, f, flen, pt)))
			continue;
		if (up->local)
			encshim_local_free(up->local);
		up->local = c->local;
		up->peer = c->peer;
		memcpy(up->peer_cid, c->peer_cid, ESV_CONNID_BYTES);
		memcpy(up->pub, c->pub, 32);
		up->qkey = c->qkey;
		c->local = NULL;
		c->peer = NULL;
		for (unsigned j = 0; j < ESV_UD_CANDIDATES; j++)
			cand_free(&up->cand[j]);
		break;
	}
	free(copy);
	return rc;
}

/* A HELLO on a UD QP. A bad one is dropped with a line on stderr: on UD
 * anyone may send, and one sender must not stop the QP for the others;
 * that sender gets no confirmed keys, so nothing of it is ever delivered. */
static void ud_hello(struct esv_qp *q, const struct ibv_wc *wc,
		     const uint8_t *grh, const uint8_t *h, size_t len)
{
	uint8_t src[16], dst[16], own[16];
	struct esv_udpeer *up;
	int answer = len > 6 && (h[6] & 1u);

	if (len != (answer ? ESV_HELLO_MAX : ESV_HELLO_BYTES) ||
	    h[4] != ESV_HELLO_VERSION || h[5] != (uint8_t)q->type ||
	    (h[6] & ~1u) || h[7] || esv_get_be32(h + 116) ||
	    esv_get_be32(h + 8) != wc->src_qp || esv_get_be32(h + 12) != q->qpn ||
	    !sodium_is_zero(h + 32, 16)) {
		ud_refuse(q, wc, "malformed or misaddressed");
		return;
	}
	ud_addrs(wc, grh, src, dst);
	up = udpeer_find(q, wc->src_qp, src);
	/* One of our own connection ids: our HELLO came back. Only an entry
	 * a send of ours made towards our own QPN and address is keyed so
	 * (the GRH destination, which the sender writes, plays no part);
	 * anything else is a reflection (test_ud_reflection,
	 * test_attack_ud_reflection_grh_dst). */
	if (!memcmp(h + 16, q->ud.cid_prefix, sizeof(q->ud.cid_prefix))) {
		int rc;

		if (!up || !up->self ||
		    memcmp(h + 16, up->conn_id, ESV_CONNID_BYTES)) {
			ud_refuse(q, wc, "it carries this QP's own connection id "
				  "(a reflection)");
			return;
		}
		if (!up->peer && (rc = ud_self_keys(q, up)) != 0) {
			ud_refuse(q, wc, encshim_strerror(rc));
			return;
		}
		if (!up->confirmed)
			confirm(q, up);
		return;
	}
	if (!up && answer)
		return; /* an answer to nothing we asked */
	if (q->ud.have_check &&
	    sodium_memcmp(q->ud.check, h + 80, ENCSHIM_CHECK_BYTES)) {
		ud_refuse(q, wc, "its sender holds another job secret (or job "
			  "id); nothing of it will be delivered");
		return;
	}
	if (!up && !take_token(q)) {
		ud_refuse(q, wc, "too many HELLOs from new sources on this QP");
		return;
	}
	if (!up && own_addr_receiving(q, wc, dst, own)) {
		ud_refuse(q, wc, "its GRH destination is not a GID of this port");
		return;
	}
	if (!up && !(up = udpeer_new(q, wc->src_qp, src, own, 1))) {
		ud_refuse(q, wc, "every stranger's slot holds a peer answered "
			  "within hello_timeout (the sender will repeat it)");
		return;
	}
	if (sodium_memcmp(q->ud.check, h + 80, ENCSHIM_CHECK_BYTES)) {
		ud_refuse(q, wc, "its sender holds another job secret (or job "
			  "id); nothing of it will be delivered");
		return;
	}
	if (answer)
		ud_answer(q, up, wc, grh, h, len);
	else
		ud_ask(q, up, wc, grh, h);
}

/* A receive on a UD QP: shadow = GRH (40) || HELLO or frame. HELLOs and
 * datagrams nobody posted a receive for are not the application's: the
 * shadow goes back to the receive queue and nothing is consumed. */
int esv_ud_recv(struct esv_qp *q, struct esv_shadow *s, struct ibv_wc *wc)
{
	struct esv_rq *rq = esv_rq_of(q);
	const uint8_t *grh = s->buf, *f = s->buf + ESV_GRH_BYTES;
	uint8_t env[16], addr[16], dst[16], *pt = s->buf + ESV_GRH_BYTES + ENCSHIM_HEADER_BYTES;
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
		uint8_t h[ESV_GRH_BYTES + ESV_HELLO_MAX];

		/* The shadow goes back to the receive queue before the HELLO
		 * is handled: handling it posts the sends queued for that
		 * peer, and a QP talking to itself needs the receive. */
		memcpy(h, s->buf, ESV_GRH_BYTES +
		       (flen < ESV_HELLO_MAX ? flen : ESV_HELLO_MAX));
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
	ud_addrs(wc, grh, addr, dst);
	up = udpeer_find(q, wc->src_qp, addr);
	envlen = esv_make_env(env, q->type, wc->src_qp, q->qpn);
	if (!up)
		rc = ENCSHIM_E_AUTH;
	else if (flen < ESV_OVERHEAD)
		rc = ENCSHIM_E_MALFORMED;
	else if (!up->peer)
		rc = open_pending(up, env, envlen, s->buf + ESV_GRH_BYTES, flen, pt);
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
			up ? encshim_strerror(rc)
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
	/* The first frame that opens confirms a peer that wrote first. */
	if (!rc && !up->confirmed)
		confirm(q, up);
	return 1;
}

/* SPDX-License-Identifier: MIT */
/*
 * Pairwise sessions: frame sealing and opening (docs/PROTOCOL.md,
 * "Frames", "Nonces", "Rekeying", "Replay"). Each direction has its own
 * root key; epoch keys derive from it (keyschedule.c). A mutex per
 * direction makes sequence assignment atomic with the seal that uses it,
 * so concurrent threads never share a nonce.
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "keycache.h"
#include "keyschedule.h"
#include "replay.h"
#include "secmem.h"
#include "session_internal.h"
#include "encshim/session.h"

struct encshim_local {
	uint8_t secret[ENCSHIM_SECRET_BYTES];
	uint8_t priv[32];
	uint8_t pub[ENCSHIM_PUBKEY_BYTES];
	uint8_t job[ENCSHIM_MAX_JOB_ID];
	size_t joblen;
	uint8_t id[ENCSHIM_MAX_IDENTITY];
	size_t idlen;
	enum encshim_backend backend;
};

struct tx {
	pthread_mutex_t lock;
	uint8_t root[ENCSHIM_KEY_BYTES];
	struct keyslot key; /* of `epoch` */
	uint32_t epoch;
	uint64_t next_seq;
	uint64_t epoch_bytes, epoch_msgs;
	uint64_t limit_bytes, limit_msgs; /* wire.h; lowered only by tests */
};

struct rx {
	pthread_mutex_t lock;
	uint8_t root[ENCSHIM_KEY_BYTES];
	struct keyslot cur, prev; /* keys of epoch, epoch - 1 */
	uint32_t epoch;
	struct replay win;
};

struct encshim_peer {
	enum encshim_backend backend;
	struct tx tx;
	struct rx rx;
};

int encshim_local_new(struct encshim_local **out,
		      const uint8_t secret[ENCSHIM_SECRET_BYTES],
		      const void *job_id, size_t job_id_len,
		      const void *identity, size_t identity_len,
		      enum encshim_backend backend)
{
	struct encshim_local *l;
	int rc;

	*out = NULL;
	if (!job_id_len || job_id_len > ENCSHIM_MAX_JOB_ID || !identity_len ||
	    identity_len > ENCSHIM_MAX_IDENTITY)
		return ENCSHIM_E_INVAL;
	rc = encshim_backend_resolve(backend, &backend, NULL);
	if (rc)
		return rc;
	l = sodium_malloc(sizeof(*l)); /* guarded, mlocked where allowed */
	if (!l)
		return ENCSHIM_E_NOMEM;
	memset(l, 0, sizeof(*l));
	memcpy(l->secret, secret, ENCSHIM_SECRET_BYTES);
	memcpy(l->job, job_id, job_id_len);
	l->joblen = job_id_len;
	memcpy(l->id, identity, identity_len);
	l->idlen = identity_len;
	l->backend = backend;
	randombytes_buf(l->priv, sizeof(l->priv));
	crypto_scalarmult_base(l->pub, l->priv);
	*out = l;
	return 0;
}

int encshim_local_set_job(struct encshim_local *l, const void *job_id,
			  size_t job_id_len)
{
	if (!job_id_len || job_id_len > ENCSHIM_MAX_JOB_ID)
		return ENCSHIM_E_INVAL;
	memcpy(l->job, job_id, job_id_len);
	l->joblen = job_id_len;
	return 0;
}

void encshim_local_free(struct encshim_local *l)
{
	sodium_free(l); /* zeroes before unmapping; NULL is a no-op */
}

void encshim_local_public_key(const struct encshim_local *l,
			      uint8_t pub[ENCSHIM_PUBKEY_BYTES])
{
	memcpy(pub, l->pub, ENCSHIM_PUBKEY_BYTES);
}

enum encshim_backend encshim_local_backend(const struct encshim_local *l)
{
	return l->backend;
}

void encshim_local_secret_check(const struct encshim_local *l,
				uint8_t out[ENCSHIM_CHECK_BYTES])
{
	ks_secret_check(out, l->secret, l->job, l->joblen);
}

static int key_for_epoch(struct keyslot *ks, enum encshim_backend b,
			 const uint8_t root[ENCSHIM_KEY_BYTES], uint32_t epoch)
{
	uint8_t key[ENCSHIM_KEY_BYTES];
	int rc = ks_epoch_key(key, root, epoch);

	if (!rc)
		keyslot_set(ks, b, key);
	sodium_memzero(key, sizeof(key));
	return rc;
}

void encshim_peer_free(struct encshim_peer *p)
{
	if (!p)
		return;
	keyslot_clear(&p->tx.key);
	keyslot_clear(&p->rx.cur);
	keyslot_clear(&p->rx.prev);
	replay_fini(&p->rx.win);
	pthread_mutex_destroy(&p->tx.lock);
	pthread_mutex_destroy(&p->rx.lock);
	secmem_free(p, sizeof(*p)); /* wipes the roots */
}

int encshim_peer_set_order(struct encshim_peer *p, enum encshim_order order)
{
	int rc;

	pthread_mutex_lock(&p->rx.lock);
	rc = replay_set_order(&p->rx.win, order);
	pthread_mutex_unlock(&p->rx.lock);
	return rc;
}

int encshim_peer_new(struct encshim_peer **out,
		     const struct encshim_local *l, const void *peer_identity,
		     size_t peer_identity_len,
		     const uint8_t peer_pub[ENCSHIM_PUBKEY_BYTES],
		     size_t replay_window)
{
	struct ks_party self = { l->id, l->idlen, l->pub };
	struct ks_party peer = { peer_identity, peer_identity_len, peer_pub };
	struct ks_pair pair;
	struct encshim_peer *p;
	int rc;

	*out = NULL;
	if (!peer_identity_len || peer_identity_len > ENCSHIM_MAX_IDENTITY)
		return ENCSHIM_E_INVAL;
	p = secmem_alloc(sizeof(*p)); /* roots: never in a core dump */
	if (!p)
		return ENCSHIM_E_NOMEM;
	pthread_mutex_init(&p->tx.lock, NULL);
	pthread_mutex_init(&p->rx.lock, NULL);
	p->backend = l->backend;
	p->tx.limit_bytes = ENCSHIM_REKEY_AFTER_BYTES;
	p->tx.limit_msgs = ENCSHIM_REKEY_AFTER_MESSAGES;
	rc = replay_init(&p->rx.win, replay_window);
	if (rc)
		goto out;
	rc = ks_pair_derive(&pair, l->secret, l->job, l->joblen, &self,
			    l->priv, &peer);
	if (rc)
		goto out;
	memcpy(p->tx.root, pair.tx_root, sizeof(pair.tx_root));
	memcpy(p->rx.root, pair.rx_root, sizeof(pair.rx_root));
	rc = key_for_epoch(&p->tx.key, p->backend, p->tx.root, 0);
	if (!rc)
		rc = key_for_epoch(&p->rx.cur, p->backend, p->rx.root, 0);
out:
	sodium_memzero(&pair, sizeof(pair));
	if (rc) {
		encshim_peer_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

int encshim_peer_derive(struct encshim_peer **out,
			const struct encshim_peer *p, const void *label,
			size_t labellen)
{
	struct encshim_peer *c;
	int rc;

	*out = NULL;
	c = secmem_alloc(sizeof(*c));
	if (!c)
		return ENCSHIM_E_NOMEM;
	pthread_mutex_init(&c->tx.lock, NULL);
	pthread_mutex_init(&c->rx.lock, NULL);
	c->backend = p->backend;
	c->tx.limit_bytes = ENCSHIM_REKEY_AFTER_BYTES;
	c->tx.limit_msgs = ENCSHIM_REKEY_AFTER_MESSAGES;
	rc = replay_init(&c->rx.win, 0);
	if (!rc)
		rc = ks_channel_root(c->tx.root, p->tx.root, label, labellen);
	if (!rc)
		rc = ks_channel_root(c->rx.root, p->rx.root, label, labellen);
	if (!rc)
		rc = key_for_epoch(&c->tx.key, c->backend, c->tx.root, 0);
	if (!rc)
		rc = key_for_epoch(&c->rx.cur, c->backend, c->rx.root, 0);
	if (rc) {
		encshim_peer_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

static void be32(uint8_t *b, uint32_t v)
{
	b[0] = (uint8_t)(v >> 24);
	b[1] = (uint8_t)(v >> 16);
	b[2] = (uint8_t)(v >> 8);
	b[3] = (uint8_t)v;
}

static void be64(uint8_t *b, uint64_t v)
{
	be32(b, (uint32_t)(v >> 32));
	be32(b + 4, (uint32_t)v);
}

static uint32_t get32(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	       (uint32_t)b[2] << 8 | b[3];
}

static uint64_t get64(const uint8_t *b)
{
	return (uint64_t)get32(b) << 32 | get32(b + 4);
}

/* Nonce = BE32(epoch) || BE64(seq): header bytes 4..15 (PROTOCOL.md). */
static const uint8_t *nonce_of(const uint8_t *hdr)
{
	return hdr + ENCSHIM_HDR_EPOCH;
}

/* AAD = header || envelope. */
static size_t make_aad(uint8_t *aad, const uint8_t *hdr, const void *env,
		       size_t envlen)
{
	memcpy(aad, hdr, ENCSHIM_HEADER_BYTES);
	if (envlen)
		memcpy(aad + ENCSHIM_HEADER_BYTES, env, envlen);
	return ENCSHIM_HEADER_BYTES + envlen;
}

/* Moves tx to the next epoch before a seal that would pass a limit. */
static int tx_rekey_if_due(struct encshim_peer *p, uint64_t len)
{
	struct tx *t = &p->tx;
	int rc;

	if (t->epoch_msgs < t->limit_msgs &&
	    len <= t->limit_bytes - t->epoch_bytes)
		return 0;
	if (t->epoch == ENCSHIM_MAX_EPOCH)
		return ENCSHIM_E_EXHAUSTED;
	rc = key_for_epoch(&t->key, p->backend, t->root, t->epoch + 1);
	if (rc)
		return rc;
	t->epoch++;
	t->epoch_bytes = 0;
	t->epoch_msgs = 0;
	return 0;
}

int encshim_peer_seal_detached(struct encshim_peer *p, const void *env,
			       size_t envlen, const void *pt, size_t len,
			       uint8_t hdr[ENCSHIM_HEADER_BYTES], void *ct,
			       uint8_t tag[ENCSHIM_TAG_BYTES])
{
	uint8_t *f = hdr, aad[ENCSHIM_HEADER_BYTES + ENCSHIM_MAX_ENVELOPE];
	struct encshim_aead *key;
	struct tx *t = &p->tx;
	uint32_t epoch;
	uint64_t seq;
	size_t aadlen;
	int rc;

	if (envlen > ENCSHIM_MAX_ENVELOPE)
		return ENCSHIM_E_INVAL;
	if ((uint64_t)len > ENCSHIM_MAX_PLAINTEXT)
		return ENCSHIM_E_TOOBIG;
	/* Only the nonce is reserved under the lock: AES runs outside it,
	 * so threads sealing to one peer do not queue behind each other. */
	pthread_mutex_lock(&t->lock);
	rc = t->next_seq > ENCSHIM_MAX_SEQ ? ENCSHIM_E_EXHAUSTED
					   : tx_rekey_if_due(p, len);
	if (!rc) /* a hold: a rekey may retire the key meanwhile */
		rc = keyslot_hold(&t->key, &key);
	if (rc) {
		pthread_mutex_unlock(&t->lock);
		return rc;
	}
	epoch = t->epoch;
	seq = t->next_seq++; /* consumed even if the seal fails: never reused */
	t->epoch_msgs++;
	t->epoch_bytes += len;
	pthread_mutex_unlock(&t->lock);
	f[ENCSHIM_HDR_VERSION] = ENCSHIM_WIRE_VERSION;
	f[ENCSHIM_HDR_TYPE] = ENCSHIM_FRAME_DATA;
	f[ENCSHIM_HDR_RESERVED] = 0;
	f[ENCSHIM_HDR_RESERVED + 1] = 0;
	be32(f + ENCSHIM_HDR_EPOCH, epoch);
	be64(f + ENCSHIM_HDR_SEQ, seq);
	aadlen = make_aad(aad, f, env, envlen);
	rc = encshim_aead_seal(key, nonce_of(f), aad, aadlen, pt, len, ct, tag);
	encshim_aead_free(key);
	return rc;
}

int encshim_peer_seal(struct encshim_peer *p, const void *env, size_t envlen,
		      const void *pt, size_t len, void *frame)
{
	uint8_t *f = frame;

	return encshim_peer_seal_detached(p, env, envlen, pt, len, f,
					  f + ENCSHIM_HEADER_BYTES,
					  f + ENCSHIM_HEADER_BYTES + len);
}

static int header_peek(const uint8_t *f, uint32_t *epoch, uint64_t *seq)
{
	if (f[ENCSHIM_HDR_VERSION] != ENCSHIM_WIRE_VERSION ||
	    f[ENCSHIM_HDR_TYPE] != ENCSHIM_FRAME_DATA ||
	    f[ENCSHIM_HDR_RESERVED] || f[ENCSHIM_HDR_RESERVED + 1])
		return ENCSHIM_E_MALFORMED;
	*epoch = get32(f + ENCSHIM_HDR_EPOCH);
	*seq = get64(f + ENCSHIM_HDR_SEQ);
	return 0;
}

int encshim_frame_peek(const void *frame, size_t framelen, uint32_t *epoch,
		       uint64_t *seq)
{
	const uint8_t *f = frame;

	if (framelen < ENCSHIM_OVERHEAD ||
	    f[ENCSHIM_HDR_VERSION] != ENCSHIM_WIRE_VERSION ||
	    f[ENCSHIM_HDR_TYPE] != ENCSHIM_FRAME_DATA ||
	    f[ENCSHIM_HDR_RESERVED] || f[ENCSHIM_HDR_RESERVED + 1])
		return ENCSHIM_E_MALFORMED;
	*epoch = get32(f + ENCSHIM_HDR_EPOCH);
	*seq = get64(f + ENCSHIM_HDR_SEQ);
	return 0;
}

/*
 * The key for a frame's epoch, held for the caller: the current or
 * previous one, or a fresh key for a later epoch, installed only once a
 * frame authenticates under it (rx_commit), so forged epochs cannot
 * disturb state. A later epoch need not be the next: a sender whose
 * frames of a whole epoch were never sent or lost (a sealed write that a
 * later one covered, UD loss) goes on in a later one, and every epoch
 * key derives from the root alone. Called with the lock held.
 */
static int rx_key(struct encshim_peer *p, uint32_t epoch,
		  struct encshim_aead **key, uint8_t next[ENCSHIM_KEY_BYTES])
{
	struct rx *r = &p->rx;

	if (epoch == r->epoch)
		return keyslot_hold(&r->cur, key);
	if (r->epoch && epoch == r->epoch - 1 && r->prev.set)
		return keyslot_hold(&r->prev, key);
	if (epoch > r->epoch && epoch <= ENCSHIM_MAX_EPOCH) {
		int rc = ks_epoch_key(next, r->root, epoch);

		return rc ? rc : encshim_aead_new(key, p->backend, next);
	}
	return ENCSHIM_E_EPOCH;
}

/* After the frame authenticated: its order check, then, for the first
 * frame of a later epoch, that key becomes current (its schedule
 * cached), and the previous slot holds epoch - 1's key if that was the
 * current one, else none. Another thread may have moved the epoch since
 * rx_key: a frame of an epoch that is no longer later needs no install. */
static int rx_commit(struct encshim_peer *p, uint64_t seq, uint32_t epoch,
		     const uint8_t next[ENCSHIM_KEY_BYTES],
		     struct encshim_aead **expanded)
{
	struct rx *r = &p->rx;
	int rc = replay_accept(&r->win, seq);

	if (!rc && *expanded && epoch > r->epoch) {
		if (epoch == r->epoch + 1)
			keyslot_set(&r->prev, p->backend, r->cur.key);
		else
			keyslot_clear(&r->prev);
		keyslot_set_expanded(&r->cur, p->backend, next, *expanded);
		r->epoch = epoch;
		*expanded = NULL;
	}
	return rc;
}

int encshim_peer_open_detached(struct encshim_peer *p, const void *env,
			       size_t envlen,
			       const uint8_t hdr[ENCSHIM_HEADER_BYTES],
			       const void *ct, size_t len,
			       const uint8_t tag[ENCSHIM_TAG_BYTES], void *pt)
{
	uint8_t aad[ENCSHIM_HEADER_BYTES + ENCSHIM_MAX_ENVELOPE];
	uint8_t next[ENCSHIM_KEY_BYTES];
	const uint8_t *f = hdr;
	struct encshim_aead *key = NULL, *expanded = NULL;
	struct rx *r = &p->rx;
	size_t aadlen;
	uint32_t epoch;
	uint64_t seq;
	int rc, is_next;

	if (envlen > ENCSHIM_MAX_ENVELOPE)
		return ENCSHIM_E_INVAL;
	if ((uint64_t)len > ENCSHIM_MAX_PLAINTEXT)
		return ENCSHIM_E_MALFORMED;
	/* A header alone passes the length check of a frame of 32 bytes. */
	rc = header_peek(f, &epoch, &seq);
	if (rc)
		goto out; /* pt is wiped all the same: callers open in place */
	aadlen = make_aad(aad, f, env, envlen);
	pthread_mutex_lock(&r->lock);
	is_next = epoch != r->epoch && !(r->epoch && epoch == r->epoch - 1);
	rc = rx_key(p, epoch, &key, next);
	pthread_mutex_unlock(&r->lock);
	if (rc)
		goto out;
	/* Authenticate first (the AEAD wipes pt on failure), outside the
	 * lock ... */
	rc = encshim_aead_open(key, nonce_of(f), aad, aadlen, ct, len, pt, tag);
	if (rc)
		goto out;
	/* ... then check order, so forgeries never move the state. */
	if (is_next)
		expanded = encshim_aead_hold(key);
	pthread_mutex_lock(&r->lock);
	rc = rx_commit(p, seq, epoch, next, &expanded);
	pthread_mutex_unlock(&r->lock);
out:
	/* pt may hold a copy of the ciphertext (opened in place) or
	 * plaintext not yet checked: nothing of it survives a failure */
	if (rc)
		sodium_memzero(pt, len);
	sodium_memzero(next, sizeof(next));
	encshim_aead_free(expanded);
	encshim_aead_free(key);
	return rc;
}

int encshim_peer_open(struct encshim_peer *p, const void *env, size_t envlen,
		      const void *frame, size_t framelen, void *pt)
{
	const uint8_t *f = frame;
	uint32_t epoch;
	uint64_t seq;
	int rc = encshim_frame_peek(frame, framelen, &epoch, &seq);

	if (rc)
		return rc; /* nothing was written to pt */
	return encshim_peer_open_detached(p, env, envlen, f,
					  f + ENCSHIM_HEADER_BYTES,
					  framelen - ENCSHIM_OVERHEAD,
					  f + framelen - ENCSHIM_TAG_BYTES, pt);
}

void session_test_rekey_limits(struct encshim_peer *p, uint64_t bytes,
			       uint64_t msgs)
{
	p->tx.limit_bytes = bytes;
	p->tx.limit_msgs = msgs;
}

size_t session_test_peer_bytes(void)
{
	return sizeof(struct encshim_peer);
}

void session_test_set_private(struct encshim_local *l, const uint8_t priv[32])
{
	memcpy(l->priv, priv, sizeof(l->priv));
	crypto_scalarmult_base(l->pub, l->priv);
}

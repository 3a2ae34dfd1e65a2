/* SPDX-License-Identifier: MIT */
/*
 * Pairwise sessions. Each process makes one encshim_local (job secret,
 * ephemeral X25519 pair, identity); front ends carry its public key to
 * peers and make one encshim_peer per peer from the peer's identity and
 * public key. The peer object holds both directions and seals/opens
 * frames (docs/PROTOCOL.md, "Frames").
 */
#ifndef ENCSHIM_SESSION_H
#define ENCSHIM_SESSION_H

#include <stddef.h>
#include <stdint.h>
#include "encshim/aead.h"
#include "encshim/error.h"
#include "encshim/wire.h"

struct encshim_local;
struct encshim_peer;

/* job_id and identity: 1..64 opaque bytes each, chosen by the front end
 * (for MPI: the job's namespace and the rank). Copies the secret. */
int encshim_local_new(struct encshim_local **out,
		      const uint8_t secret[ENCSHIM_SECRET_BYTES],
		      const void *job_id, size_t job_id_len,
		      const void *identity, size_t identity_len,
		      enum encshim_backend backend) ENCSHIM_WUR;
/* Replaces the job id, for front ends that learn it only after they
 * published the public key (MPI: a value drawn by rank 0). Call before
 * any encshim_peer_new and encshim_local_secret_check on l. */
int encshim_local_set_job(struct encshim_local *l, const void *job_id,
			  size_t job_id_len) ENCSHIM_WUR;
/* Wipes the secret and the ephemeral private key. */
void encshim_local_free(struct encshim_local *l);
void encshim_local_public_key(const struct encshim_local *l,
			      uint8_t pub[ENCSHIM_PUBKEY_BYTES]);
enum encshim_backend encshim_local_backend(const struct encshim_local *l);

/*
 * A value that all processes with the same job secret and job id share,
 * and that reveals nothing about the secret (a PRF output). Front ends
 * publish it beside the public key so that a rank with another secret
 * is named at start-up instead of failing at its first message. Only a
 * diagnostic: authentication does not rely on it.
 */
#define ENCSHIM_CHECK_BYTES 32u
void encshim_local_secret_check(const struct encshim_local *l,
				uint8_t out[ENCSHIM_CHECK_BYTES]);

/* How a receive direction orders frames (docs/PROTOCOL.md section 6). */
enum encshim_order {
	ENCSHIM_ORDER_WINDOW,    /* RFC 6479 window: any order inside it, once */
	ENCSHIM_ORDER_STRICT,    /* seq == last + 1, from 0: reliable, ordered (RC) */
	ENCSHIM_ORDER_MONOTONIC, /* seq > last: may lose, never goes back (UC) */
	ENCSHIM_ORDER_EXTERNAL,  /* the front end orders and de-duplicates (MPI) */
};

/* replay_window: frames, a power of two in [MIN, MAX] of wire.h, or 0
 * for the default; the order is ENCSHIM_ORDER_WINDOW until
 * encshim_peer_set_order. Thread safe: seal and open may run on any
 * thread. */
int encshim_peer_new(struct encshim_peer **out,
		     const struct encshim_local *l,
		     const void *peer_identity, size_t peer_identity_len,
		     const uint8_t peer_pub[ENCSHIM_PUBKEY_BYTES],
		     size_t replay_window) ENCSHIM_WUR;
void encshim_peer_free(struct encshim_peer *p);
/* Picks the receive order; only before the first frame is opened. */
int encshim_peer_set_order(struct encshim_peer *p,
			   enum encshim_order order) ENCSHIM_WUR;

/*
 * Seals len bytes of pt into frame (len + ENCSHIM_OVERHEAD bytes). The
 * envelope (<= ENCSHIM_MAX_ENVELOPE bytes, e.g. MPI source, destination,
 * context and tag) is authenticated, not sent. pt may equal
 * frame + ENCSHIM_HEADER_BYTES (in place).
 */
int encshim_peer_seal(struct encshim_peer *p, const void *env, size_t envlen,
		      const void *pt, size_t len, void *frame) ENCSHIM_WUR;

/*
 * Authenticates, then checks replay, then releases the plaintext
 * (framelen - ENCSHIM_OVERHEAD bytes) into pt, which may equal
 * frame + ENCSHIM_HEADER_BYTES. On failure pt never holds plaintext:
 * zeroed once decryption has run, untouched if the frame was refused
 * before (malformed, unknown epoch).
 */
int encshim_peer_open(struct encshim_peer *p, const void *env, size_t envlen,
		      const void *frame, size_t framelen,
		      void *pt) ENCSHIM_WUR;

/*
 * The same with the frame in three places: header (16 bytes), ciphertext
 * (len bytes) and tag (16 bytes), so that a front end can move the
 * ciphertext by one path and header and tag by another (verbs: RDMA
 * WRITE and its descriptor). Nonces and order as above; ct may equal pt.
 */
int encshim_peer_seal_detached(struct encshim_peer *p, const void *env,
			       size_t envlen, const void *pt, size_t len,
			       uint8_t hdr[ENCSHIM_HEADER_BYTES], void *ct,
			       uint8_t tag[ENCSHIM_TAG_BYTES]) ENCSHIM_WUR;
int encshim_peer_open_detached(struct encshim_peer *p, const void *env,
			       size_t envlen,
			       const uint8_t hdr[ENCSHIM_HEADER_BYTES],
			       const void *ct, size_t len,
			       const uint8_t tag[ENCSHIM_TAG_BYTES],
			       void *pt) ENCSHIM_WUR;

/*
 * A sub-channel of p: each direction's root is
 * HKDF-Expand(root of p, "encshim v1 channel" || label, 32), so it has
 * keys, sequence numbers and replay state of its own and never shares a
 * nonce with p or with another label's channel. Both ends derive it with
 * the same label. Receive order ENCSHIM_ORDER_WINDOW until set.
 * label: 1..ENCSHIM_MAX_CHANNEL_LABEL bytes.
 */
int encshim_peer_derive(struct encshim_peer **out,
			const struct encshim_peer *p, const void *label,
			size_t labellen) ENCSHIM_WUR;

/* Reads sequence/epoch fields of a frame without authenticating them:
 * for diagnostics only. */
int encshim_frame_peek(const void *frame, size_t framelen, uint32_t *epoch,
		       uint64_t *seq) ENCSHIM_WUR;

#endif

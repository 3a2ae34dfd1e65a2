/* SPDX-License-Identifier: MIT */
/*
 * Every wire constant and limit of encshim in one place.
 * docs/PROTOCOL.md describes each of them; change both together.
 */
#ifndef ENCSHIM_WIRE_H
#define ENCSHIM_WIRE_H

#include <stdint.h>

/* Frame: header(16) || ciphertext(len) || tag(16). */
#define ENCSHIM_WIRE_VERSION 1u
#define ENCSHIM_FRAME_DATA 1u
#define ENCSHIM_HEADER_BYTES 16u
#define ENCSHIM_TAG_BYTES 16u
#define ENCSHIM_OVERHEAD (ENCSHIM_HEADER_BYTES + ENCSHIM_TAG_BYTES)

/* Header field offsets (all integers big-endian). */
#define ENCSHIM_HDR_VERSION 0  /* u8  */
#define ENCSHIM_HDR_TYPE 1     /* u8  */
#define ENCSHIM_HDR_RESERVED 2 /* u16, must be zero */
#define ENCSHIM_HDR_EPOCH 4    /* u32 */
#define ENCSHIM_HDR_SEQ 8      /* u64 */

/* AES-256-GCM (NIST SP 800-38D) sizes. */
#define ENCSHIM_KEY_BYTES 32u
#define ENCSHIM_NONCE_BYTES 12u /* BE32(epoch) || BE64(seq) */

/* SP 800-38D 5.2.1.1: len(P) <= 2^39 - 256 bits per invocation. */
#define ENCSHIM_MAX_PLAINTEXT ((UINT64_C(1) << 36) - 32)

/*
 * Rekey: a direction moves to the next epoch key before a seal that
 * would exceed either limit. 2^36 bytes (2^32 blocks) plus 2^28
 * messages keep the AES-GCM confidentiality and integrity advantages
 * below 2^-60 per key (draft-irtf-cfrg-aead-limits, section 5.1).
 */
#define ENCSHIM_REKEY_AFTER_BYTES (UINT64_C(1) << 36)
#define ENCSHIM_REKEY_AFTER_MESSAGES (UINT64_C(1) << 28)
#define ENCSHIM_MAX_EPOCH UINT32_C(0xffffffff)
#define ENCSHIM_MAX_SEQ UINT64_C(0xfffffffffffffffe)

/* Key negotiation (X25519, RFC 7748). */
#define ENCSHIM_PUBKEY_BYTES 32u
#define ENCSHIM_SECRET_BYTES 32u
#define ENCSHIM_MAX_IDENTITY 64u
#define ENCSHIM_MAX_JOB_ID 64u
#define ENCSHIM_MAX_ENVELOPE 64u
/* Sub-channel of a session (encshim_peer_derive): label length. */
#define ENCSHIM_MAX_CHANNEL_LABEL 16u

/* Replay window in frames (RFC 6479 bitmap); power of two. */
#define ENCSHIM_REPLAY_WINDOW_DEFAULT 8192u
#define ENCSHIM_REPLAY_WINDOW_MIN 128u
#define ENCSHIM_REPLAY_WINDOW_MAX (1u << 20)

/*
 * MPI front end (docs/PROTOCOL.md section 11). A message travels as
 * stream(16) || frame: stream = BE64(n) || BE32(delta) || BE32(prev tag),
 * n the message's place in its (sender, receiver, communicator, tag
 * class) stream, delta = n - the place of the previous message with the
 * same tag (0: none known), prev tag the tag of place n - 1. They are in
 * clear for the receiver's order audit and authenticated as part of the
 * envelope: "ESM2" || BE32(src) || BE32(dst) || comm id(16) ||
 * BE32(tag) || stream(16).
 */
#define ENCSHIM_MPI_STREAM_BYTES 16u
#define ENCSHIM_MPI_OVERHEAD (ENCSHIM_MPI_STREAM_BYTES + ENCSHIM_OVERHEAD)
#define ENCSHIM_MPI_COMM_ID_BYTES 16u
#define ENCSHIM_MPI_ENV_BYTES 48u
/* Every MPI AAD (envelope, head, chunk) starts label(4) || BE32(src) ||
 * BE32(dst) || comm id(16) || BE32(tag). */
#define ENCSHIM_MPI_AAD_PREFIX_BYTES 32u
#define ENCSHIM_MPI_ENV_LABEL "ESM2"
#define ENCSHIM_MPI_COMM_LABEL "encshim v1 comm"
/*
 * Chunked messages (MPI framing v3, docs/PROTOCOL.md section 11,
 * "Chunks"): a message of a negative (collective) tag longer than
 * pml_encshim_chunk_threshold travels as a head, stream(16) || desc(16)
 * || core frame with no plaintext (64 bytes), on its own tag, then K core
 * frames of at most chunk size bytes of plaintext on the lane tag of its
 * place n. The head sets the top bit of n in its stream field; desc =
 * BE64(length) || BE32(chunk size) || BE32(0). Head AAD: "ESH3" ||
 * BE32(src) || BE32(dst) || comm id(16) || BE32(tag) || stream(16) ||
 * desc(16). Chunk i's AAD: "ESC3" || BE32(src) || BE32(dst) || comm
 * id(16) || BE32(tag) || BE64(n) || BE64(length) || BE32(chunk size) ||
 * BE32(i) || BE32(i == K - 1).
 */
#define ENCSHIM_MPI_CHUNKED 0x80u /* in the stream field's first byte */
#define ENCSHIM_MPI_DESC_BYTES 16u
#define ENCSHIM_MPI_HEAD_BYTES \
	(ENCSHIM_MPI_STREAM_BYTES + ENCSHIM_MPI_DESC_BYTES + ENCSHIM_OVERHEAD)
#define ENCSHIM_MPI_HEAD_LABEL "ESH3"
#define ENCSHIM_MPI_HEAD_AAD_BYTES 64u
#define ENCSHIM_MPI_CHUNK_LABEL "ESC3"
#define ENCSHIM_MPI_CHUNK_AAD_BYTES 60u
/*
 * Local-clear frames (pml_encshim_local clear, docs/PROTOCOL.md section
 * 11, "Local-clear frames"): between two ranks of one node that proved
 * it by reading each other's token file, a message travels as stream(16)
 * || token(16) || plaintext || zero(16), the size and layout of a sealed
 * frame; the token is the receiver's, the flag is set in the stream
 * field's first byte. Never chunked.
 */
#define ENCSHIM_MPI_CLEAR 0x40u /* in the stream field's first byte */
#define ENCSHIM_MPI_TOKEN_BYTES 16u
/* Chunk sizes a head may name (pml_encshim_chunk_bytes is clamped). */
#define ENCSHIM_MPI_CHUNK_MIN 4096u
#define ENCSHIM_MPI_CHUNK_MAX (64u << 20)
/* Lane of place n: ENCSHIM_MPI_LANE_TAG_BASE + n mod ENCSHIM_MPI_LANES.
 * Below every tag Open MPI 4.1's collectives use except hcoll's (not
 * built here), never matched by MPI_ANY_TAG; pml/ucx keeps 24 bits of a
 * tag, 0x800000-0x8fffff here: bit 23 set, so MPI_ANY_TAG does not match
 * them there either. */
#define ENCSHIM_MPI_LANE_TAG_BASE (INT32_MIN + 0x800000)
#define ENCSHIM_MPI_LANES (1u << 20)

/* Messages one receiver may take from one stream past an earlier one
 * that is still unreceived, in runs of consecutive places. */
#define ENCSHIM_MPI_AHEAD_MAX 65536u

/*
 * Verbs sealed RDMA WRITE (docs/PROTOCOL.md section 10, "Sealed writes").
 * The inner header of a sealed SEND is u8(kind) || u8(descriptors) ||
 * u8(flags) || u8(0) || imm(4); descriptors follow the payload, each
 * BE64(iova) || BE32(length) || BE32(rkey) || write header(16) || tag(16).
 * A write's ciphertext is sealed on the channel ENCSHIM_VERBS_WRITE_LABEL
 * of the connection's session with the envelope "ESW1" || u8(qp_type) ||
 * BE32(sender QPN) || BE32(receiver QPN) || BE64(iova) || BE32(length) ||
 * BE32(rkey).
 */
#define ENCSHIM_VERBS_KIND_SEND 1u
#define ENCSHIM_VERBS_KIND_SEND_IMM 2u
#define ENCSHIM_VERBS_KIND_WRITE_IMM 3u
#define ENCSHIM_VERBS_WDESC_BYTES 48u
#define ENCSHIM_VERBS_WDESC_MAX 16u
#define ENCSHIM_VERBS_WFLAG_OWN 0x01u  /* last descriptor: the WRITE_WITH_IMM's */
#define ENCSHIM_VERBS_WFLAG_LOST 0x02u /* earlier writes could not be described */
#define ENCSHIM_VERBS_WRITE_LABEL "ESV write"
#define ENCSHIM_VERBS_WRITE_ENV "ESW1"
#define ENCSHIM_VERBS_WRITE_ENV_BYTES 29u

/* Job secret file: one line, this prefix then 64 lowercase hex digits. */
#define ENCSHIM_KEYFILE_PREFIX "encshim-secret-v1:"
#define ENCSHIM_KEYFILE_DEFAULT ".encshim/job.key" /* under $HOME */

#endif

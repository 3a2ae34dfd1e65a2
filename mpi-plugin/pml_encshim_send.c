/* SPDX-License-Identifier: MIT */
/*
 * Send side: every message leaves as one frame of MPI_BYTEs:
 * stream(16) || header(16) || ciphertext || tag(16).
 *
 * The frame's place in its stream is taken, sealed into the envelope and
 * handed to the wrapped PML under the stream's lock, so the PML sends
 * the stream's frames in the order of their places (also when several
 * threads send to one peer). With several threads, blocking sends are
 * posted the same way and waited for outside the lock: a blocked send
 * must not hold up another thread's next one, which the receiver may
 * need first.
 *
 * Contiguous data is sealed straight from the user's buffer into the
 * frame; other layouts are packed into the frame's ciphertext slot and
 * sealed in place, so either way the data is touched once by the CPU
 * before the PML moves the frame.
 *
 * To a local-clear peer (pml_encshim_local clear, pml_encshim_clear.c)
 * the frame has the same size and layout but carries the plaintext:
 * stream(16, clear flag set) || the peer's token(16) || plaintext ||
 * zero(16). It takes its place in the stream exactly like a sealed one,
 * so the receiver's order audit is the same; it is never chunked.
 *
 * Buffered mode: MPI_Buffer_attach sizes the user's area for the
 * plaintext plus MPI_BSEND_OVERHEAD (128 bytes) per message; the frame
 * (48 bytes more) is carved from that same area, so MPI_Buffer_detach
 * still waits for it and a full area still fails with MPI_ERR_BUFFER.
 * The frame is then our private copy, sent in standard mode, and the
 * user's request is complete at once, as buffered mode promises.
 */
#include "pml_encshim.h"

#include <string.h>

#include "ompi/constants.h"
#include "ompi/mca/pml/base/pml_base_bsend.h"
#include "opal/datatype/opal_convertor.h"
#include "opal/threads/threads.h"

#include <sodium.h>

struct sealed {
	uint8_t *frame;
	size_t cap, len;
	enum encshim_frame_owner owner;
};

static void sealed_release(struct sealed *s)
{
	if (NULL == s->frame)
		return;
	if (ENCSHIM_FRAME_BSEND == s->owner)
		(void)mca_pml_base_bsend_request_free(s->frame);
	else
		encshim_pool_put(s->frame, s->cap);
	s->frame = NULL;
}

static int frame_alloc(struct sealed *s, size_t len, bool buffered)
{
	s->len = len + ENCSHIM_MPI_OVERHEAD;
	if (buffered) {
		s->owner = ENCSHIM_FRAME_BSEND;
		s->cap = s->len;
		s->frame = mca_pml_base_bsend_request_alloc_buf(s->len);
		return NULL == s->frame ? OMPI_ERR_BUFFER : OMPI_SUCCESS;
	}
	s->owner = ENCSHIM_FRAME_POOL;
	s->frame = encshim_pool_get(s->len, &s->cap);
	return NULL == s->frame ? OMPI_ERR_OUT_OF_RESOURCE : OMPI_SUCCESS;
}

/* Points *pt at the plaintext: the user's bytes, or packed into the frame. */
static int plaintext_of(opal_convertor_t *conv, struct sealed *s,
			size_t len, const void **pt)
{
	struct iovec iov;
	uint32_t iov_count = 1;
	size_t max_data = len;

	if (!opal_convertor_need_buffers(conv)) {
		void *p = NULL;

		opal_convertor_get_current_pointer(conv, &p);
		*pt = p;
		return OMPI_SUCCESS;
	}
	iov.iov_base = s->frame + ENCSHIM_MPI_STREAM_BYTES + ENCSHIM_HEADER_BYTES;
	iov.iov_len = len;
	if (opal_convertor_pack(conv, &iov, &iov_count, &max_data) < 0 ||
	    max_data != len)
		return OMPI_ERROR;
	*pt = iov.iov_base;
	return OMPI_SUCCESS;
}

static mca_pml_base_send_mode_t wire_mode(mca_pml_base_send_mode_t mode)
{
	return MCA_PML_BASE_SEND_BUFFERED == mode ? MCA_PML_BASE_SEND_STANDARD
						  : mode;
}

/* Packs (if needed) into a new frame; the plaintext stays unsealed. */
static int frame_prepare(const void *buf, size_t count, ompi_datatype_t *dtype,
			 bool buffered, struct sealed *s, const void **pt)
{
	opal_convertor_t conv;
	size_t len = 0;
	int rc;

	s->frame = NULL;
	OBJ_CONSTRUCT(&conv, opal_convertor_t);
	rc = opal_convertor_copy_and_prepare_for_send(
		ompi_mpi_local_convertor, &dtype->super, count, buf, 0, &conv);
	if (OPAL_SUCCESS == rc) {
		opal_convertor_get_packed_size(&conv, &len);
		rc = frame_alloc(s, len, buffered);
	}
	if (OMPI_SUCCESS == rc)
		rc = plaintext_of(&conv, s, len, pt);
	OBJ_DESTRUCT(&conv);
	if (OMPI_SUCCESS != rc)
		sealed_release(s);
	return rc;
}

_Static_assert(ENCSHIM_MPI_TOKEN_BYTES == ENCSHIM_HEADER_BYTES &&
	       ENCSHIM_MPI_CLEAR != ENCSHIM_MPI_CHUNKED,
	       "a local-clear frame has the layout of a sealed one");

/* docs/PROTOCOL.md section 11, "Local-clear frames". */
static void clear_frame(const uint8_t token[ENCSHIM_MPI_TOKEN_BYTES],
			const void *pt,
			const uint8_t stream[ENCSHIM_MPI_STREAM_BYTES],
			struct sealed *s)
{
	size_t len = s->len - ENCSHIM_MPI_OVERHEAD;
	uint8_t *body = s->frame + ENCSHIM_MPI_STREAM_BYTES + ENCSHIM_HEADER_BYTES;

	memcpy(s->frame, stream, ENCSHIM_MPI_STREAM_BYTES);
	s->frame[0] |= ENCSHIM_MPI_CLEAR;
	memcpy(s->frame + ENCSHIM_MPI_STREAM_BYTES, token,
	       ENCSHIM_MPI_TOKEN_BYTES);
	if (len > 0 && pt != body)
		memcpy(body, pt, len);
	memset(body + len, 0, ENCSHIM_TAG_BYTES);
	atomic_fetch_add(&encshim_stats.clear_sent_msgs, 1);
	atomic_fetch_add(&encshim_stats.clear_sent_bytes, len);
}

static int seal_frame(struct encshim_comm *c, int dst, int tag,
		      ompi_communicator_t *comm, const void *pt,
		      const uint8_t stream[ENCSHIM_MPI_STREAM_BYTES],
		      struct sealed *s)
{
	const uint8_t *token = encshim_peer_clear(comm, dst);
	struct encshim_peer *peer;
	uint8_t env[ENCSHIM_MPI_ENV_BYTES];
	size_t len = s->len - ENCSHIM_MPI_OVERHEAD;
	int rc;

	if (NULL != token) {
		clear_frame(token, pt, stream, s);
		return OMPI_SUCCESS;
	}
	peer = encshim_peer_get(comm, dst, true);
	if (NULL == peer)
		return OMPI_ERR_UNREACH;
	memcpy(s->frame, stream, ENCSHIM_MPI_STREAM_BYTES);
	encshim_envelope(env, c, encshim_my_vpid(), encshim_vpid_of(comm, dst),
			 tag, stream);
	rc = encshim_peer_seal(peer, env, sizeof(env), pt, len,
			       s->frame + ENCSHIM_MPI_STREAM_BYTES);
	if (ENCSHIM_OK != rc) {
		encshim_log("cannot seal a message to rank %u: %s",
			    (unsigned)encshim_vpid_of(comm, dst),
			    encshim_strerror(rc));
		return OMPI_ERROR;
	}
	atomic_fetch_add(&encshim_stats.sealed_msgs, 1);
	atomic_fetch_add(&encshim_stats.sealed_bytes, len);
	return OMPI_SUCCESS;
}

/* Seals the message into s and hands it to the PML's isend (or, with
 * inner NULL, its blocking send), in stream order. On failure s holds no
 * frame. */
static int seal_and_post(const void *buf, size_t count, ompi_datatype_t *dtype,
			 int dst, int tag, mca_pml_base_send_mode_t mode,
			 ompi_communicator_t *comm, struct sealed *s,
			 ompi_request_t **inner)
{
	struct encshim_comm *c = encshim_comm_of(comm);
	uint8_t stream[ENCSHIM_MPI_STREAM_BYTES];
	struct encshim_tx_ticket t;
	const void *pt = NULL;
	int rc;

	if (NULL == c)
		return OMPI_ERR_BAD_PARAM;
	rc = frame_prepare(buf, count, dtype, MCA_PML_BASE_SEND_BUFFERED == mode,
			   s, &pt);
	if (OMPI_SUCCESS != rc)
		return rc;
	rc = encshim_tx_begin(c, dst, tag, &t, stream);
	if (OMPI_SUCCESS == rc) {
		bool handed = false;

		rc = seal_frame(c, dst, tag, comm, pt, stream, s);
		if (OMPI_SUCCESS == rc && NULL == inner) {
			handed = true; /* a failed blocking send may be half out */
			rc = encshim_inner.pml_send(s->frame, s->len, MPI_BYTE,
						    dst, tag, mode, comm);
		} else if (OMPI_SUCCESS == rc) {
			rc = encshim_inner.pml_isend(s->frame, s->len, MPI_BYTE,
						     dst, tag, wire_mode(mode),
						     comm, inner);
			handed = OMPI_SUCCESS == rc;
		}
		encshim_tx_end(c, &t, handed);
	}
	if (OMPI_SUCCESS != rc) {
		/* packed plaintext that was never sealed must not go back
		 * to the pool */
		if (pt == s->frame + ENCSHIM_MPI_STREAM_BYTES + ENCSHIM_HEADER_BYTES)
			sodium_memzero(s->frame, s->len);
		if (NULL != inner)
			*inner = NULL;
		sealed_release(s);
	}
	return rc;
}

/* Chunked (never to a local-clear peer: its messages go whole). */
static bool chunked(int tag, mca_pml_base_send_mode_t mode, size_t count,
		    ompi_datatype_t *dtype, int dst, ompi_communicator_t *comm,
		    size_t *len)
{
	return encshim_chunk_wants(tag, mode, count, dtype, len) &&
	       NULL == encshim_peer_clear(comm, dst);
}

int encshim_send_post(encshim_request_t *r)
{
	struct sealed s;
	size_t len;
	int rc;

	if (!r->super.req_persistent &&
	    chunked(r->tag, r->mode, r->count, r->dtype, r->peer, r->comm, &len))
		return encshim_chunk_send(r, len);
	rc = seal_and_post(r->buf, r->count, r->dtype, r->peer, r->tag,
			   r->mode, r->comm, &s, &r->inner);
	if (OMPI_SUCCESS != rc)
		return rc;
	r->frame = s.frame;
	r->frame_cap = s.cap;
	r->owner = s.owner;
	encshim_request_watch(r);
	return OMPI_SUCCESS;
}

/* Buffered mode: a request nobody waits for carries the frame; it is
 * released when the PML is done with it. */
int encshim_bsend_detached(const void *buf, size_t count,
			   ompi_datatype_t *dtype, int dst, int tag,
			   ompi_communicator_t *comm)
{
	encshim_request_t *r = encshim_request_new(
		ENCSHIM_REQ_SEND, false, (void *)buf, count, dtype, dst, tag,
		MCA_PML_BASE_SEND_BUFFERED, comm);
	ompi_request_t *req = &r->super;
	int rc;

	if (NULL == r)
		return OMPI_ERR_OUT_OF_RESOURCE;
	rc = encshim_send_post(r);
	if (OMPI_SUCCESS != rc) {
		encshim_request_drop(r);
		return rc;
	}
	return ompi_request_free(&req);
}

int encshim_isend(const void *buf, size_t count, ompi_datatype_t *dtype,
		  int dst, int tag, mca_pml_base_send_mode_t mode,
		  ompi_communicator_t *comm, ompi_request_t **request)
{
	encshim_request_t *r;
	int rc;

	if (MPI_PROC_NULL == dst) /* no message at all */
		return encshim_inner.pml_isend(buf, count, dtype, dst, tag,
					       mode, comm, request);
	if (MCA_PML_BASE_SEND_BUFFERED == mode) {
		rc = encshim_bsend_detached(buf, count, dtype, dst, tag, comm);
		if (OMPI_SUCCESS == rc)
			*request = &ompi_request_empty;
		return rc;
	}
	r = encshim_request_new(ENCSHIM_REQ_SEND, false, (void *)buf, count,
				dtype, dst, tag, mode, comm);
	if (NULL == r)
		return OMPI_ERR_OUT_OF_RESOURCE;
	rc = encshim_send_post(r);
	if (OMPI_SUCCESS != rc) {
		encshim_request_drop(r);
		return rc;
	}
	*request = &r->super;
	return OMPI_SUCCESS;
}

int encshim_send(const void *buf, size_t count, ompi_datatype_t *dtype,
		 int dst, int tag, mca_pml_base_send_mode_t mode,
		 ompi_communicator_t *comm)
{
	ompi_request_t *inner = NULL;
	struct sealed s;
	size_t len;
	int rc;

	if (MPI_PROC_NULL == dst)
		return encshim_inner.pml_send(buf, count, dtype, dst, tag, mode,
					      comm);
	if (MCA_PML_BASE_SEND_BUFFERED == mode)
		return encshim_bsend_detached(buf, count, dtype, dst, tag, comm);
	if (chunked(tag, mode, count, dtype, dst, comm, &len)) {
		/* completes from progress */
		rc = encshim_isend(buf, count, dtype, dst, tag, mode, comm,
				   &inner);
		if (OMPI_SUCCESS != rc)
			return rc;
		ompi_request_wait_completion(inner);
		rc = inner->req_status.MPI_ERROR;
		(void)ompi_request_free(&inner);
		return rc;
	}
	if (!opal_using_threads()) {
		/* one thread: nobody waits on the stream's lock (it is not
		 * taken), so the PML's own blocking send may run inside */
		rc = seal_and_post(buf, count, dtype, dst, tag, mode, comm, &s,
				   NULL);
		if (OMPI_SUCCESS == rc)
			sealed_release(&s);
		return rc;
	}
	rc = seal_and_post(buf, count, dtype, dst, tag, mode, comm, &s, &inner);
	if (OMPI_SUCCESS != rc)
		return rc;
	ompi_request_wait_completion(inner);
	rc = inner->req_status.MPI_ERROR;
	(void)ompi_request_free(&inner);
	sealed_release(&s);
	return rc;
}

/* SPDX-License-Identifier: MIT */
/*
 * Receive side. A receive takes its place in the communicator's posting
 * order (pml_encshim_comm.c) and posts the PML's receive of MPI_BYTEs
 * into a staging frame sized for the user's buffer plus the 48 bytes of
 * framing, so a longer message is truncated by the PML itself and
 * reported as MPI_ERR_TRUNCATE (and never opened). When the frame has
 * arrived, the matched source and tag and the frame's stream field name
 * the envelope, and the frame is authenticated and decrypted: straight
 * into the user's buffer when it is contiguous, else in the staging
 * frame. Then the order audit checks that MPI's matching rules allow
 * this receive to take this message; only then is it delivered (the
 * staging plaintext unpacked). A frame that fails either check is never
 * delivered: plaintext already written to the user's buffer is zeroed,
 * the request completes with MPI_ERR_OTHER, and stderr names the peer
 * and the cause.
 */
#include "pml_encshim.h"

#include <string.h>

#include "ompi/constants.h"
#include "opal/datatype/opal_convertor.h"

#include <sodium.h>

/* Bytes of plaintext the user's buffer holds. */
static int capacity_of(size_t count, ompi_datatype_t *dtype, size_t *cap)
{
	size_t unit = 0;

	(void)ompi_datatype_type_size(dtype, &unit);
	if (0 != count && unit > (SIZE_MAX - ENCSHIM_MPI_OVERHEAD) / count)
		return OMPI_ERR_BAD_PARAM;
	*cap = unit * count;
	return OMPI_SUCCESS;
}

static int post_inner(encshim_request_t *r, size_t len,
		      struct ompi_message_t **message)
{
	struct encshim_comm *c = r->ecomm;
	int rc;

	if (NULL != message) {
		/* the matched probe took its place when it was posted */
		r->posted = encshim_mprobe_take(*message);
		if (NULL == r->posted)
			return OMPI_ERR_BAD_PARAM;
		return encshim_inner.pml_imrecv(r->frame, len, MPI_BYTE,
						message, &r->inner);
	}
	r->posted = &r->post;
	rc = encshim_post_begin(c, r->posted, r->peer, r->tag);
	if (OMPI_SUCCESS != rc) {
		r->posted = NULL;
		return rc;
	}
	rc = encshim_inner.pml_irecv(r->frame, len, MPI_BYTE, r->peer, r->tag,
				     r->comm, &r->inner);
	encshim_post_end(c);
	return rc;
}

/* The posting r held ends; a matched probe's record is freed. */
static void posted_done(encshim_request_t *r)
{
	if (NULL != r->posted && r->posted != &r->post)
		free(r->posted);
	r->posted = NULL;
}

int encshim_recv_post(encshim_request_t *r, struct ompi_message_t **message)
{
	size_t cap = 0, len;
	int rc = capacity_of(r->count, r->dtype, &cap);

	if (OMPI_SUCCESS != rc)
		return rc;
	r->ecomm = encshim_comm_of(r->comm);
	if (NULL == r->ecomm)
		return OMPI_ERR_BAD_PARAM;
	len = encshim_chunk_recv_len(cap, r->tag);
	r->owner = ENCSHIM_FRAME_POOL;
	r->frame = encshim_pool_get(len, &r->frame_cap);
	if (NULL == r->frame)
		return OMPI_ERR_OUT_OF_RESOURCE;
	rc = post_inner(r, len, message);
	if (OMPI_SUCCESS != rc) {
		if (NULL != r->posted)
			encshim_post_withdraw(r->ecomm, r->posted);
		posted_done(r);
		r->inner = NULL;
		encshim_frame_release(r);
		return rc;
	}
	encshim_request_watch(r);
	return OMPI_SUCCESS;
}

/* Where decryption puts the plaintext: the user's buffer if contiguous
 * (*direct), else in place in the staging frame. */
struct opening {
	opal_convertor_t conv;
	void *direct;
	uint8_t *inplace;
	size_t ptlen;
};

static int open_frame(encshim_request_t *r, struct encshim_peer *peer,
		      const uint8_t env[ENCSHIM_MPI_ENV_BYTES], size_t framelen,
		      struct opening *o)
{
	const uint8_t *core = r->frame + ENCSHIM_MPI_STREAM_BYTES;

	o->ptlen = framelen - ENCSHIM_MPI_OVERHEAD;
	o->inplace = r->frame + ENCSHIM_MPI_STREAM_BYTES + ENCSHIM_HEADER_BYTES;
	o->direct = NULL;
	if (OPAL_SUCCESS != opal_convertor_copy_and_prepare_for_recv(
				    ompi_mpi_local_convertor, &r->dtype->super,
				    r->count, r->buf, 0, &o->conv))
		return ENCSHIM_E_INVAL;
	if (!opal_convertor_need_buffers(&o->conv))
		opal_convertor_get_current_pointer(&o->conv, &o->direct);
	return encshim_peer_open(peer, env, ENCSHIM_MPI_ENV_BYTES, core,
				 framelen - ENCSHIM_MPI_STREAM_BYTES,
				 NULL != o->direct ? o->direct : o->inplace);
}

/* Unpacks staged plaintext into the user's buffer. */
static int deliver(struct opening *o)
{
	struct iovec iov = { .iov_base = o->inplace, .iov_len = o->ptlen };
	uint32_t iov_count = 1;
	size_t max_data = o->ptlen;

	if (NULL != o->direct)
		return OMPI_SUCCESS;
	if (opal_convertor_unpack(&o->conv, &iov, &iov_count, &max_data) < 0 ||
	    max_data != o->ptlen)
		return OMPI_ERROR;
	return OMPI_SUCCESS;
}

/* Plaintext must not outlive the receive: in the user's buffer if
 * refused, in the staging frame always (it goes back to the pool). */
static void wipe(struct opening *o, bool refused)
{
	if (NULL == o->direct)
		sodium_memzero(o->inplace, o->ptlen);
	else if (refused)
		sodium_memzero(o->direct, o->ptlen);
}

int encshim_recv_refuse(encshim_request_t *r, uint32_t src, const char *why)
{
	ompi_status_public_t *st = &r->super.req_status;

	atomic_fetch_add(&encshim_stats.auth_failures, 1);
	encshim_log("message from rank %u (communicator %u, tag %d) refused, "
		    "not delivered: %s", (unsigned)src,
		    ompi_comm_get_cid(r->comm), st->MPI_TAG, why);
	st->_ucount = 0;
	st->MPI_ERROR = MPI_ERR_OTHER;
	return MPI_ERR_OTHER;
}

/* Authenticates, audits, delivers. */
static int receive_frame(encshim_request_t *r, size_t framelen)
{
	const ompi_status_public_t *in = &r->inner->req_status;
	uint32_t src = encshim_vpid_of(r->comm, in->MPI_SOURCE);
	uint8_t env[ENCSHIM_MPI_ENV_BYTES];
	struct encshim_peer *peer;
	struct opening o;
	const char *why = NULL;
	int rc;

	if (framelen < ENCSHIM_MPI_OVERHEAD)
		return encshim_recv_refuse(r, src, encshim_strerror(ENCSHIM_E_MALFORMED));
	peer = encshim_peer_get(r->comm, in->MPI_SOURCE, false);
	if (NULL == peer)
		return encshim_recv_refuse(r, src, encshim_strerror(ENCSHIM_E_PEERKEY));
	encshim_envelope(env, r->ecomm, src, encshim_my_vpid(), in->MPI_TAG,
			 r->frame);
	OBJ_CONSTRUCT(&o.conv, opal_convertor_t);
	rc = open_frame(r, peer, env, framelen, &o);
	if (ENCSHIM_OK != rc) {
		OBJ_DESTRUCT(&o.conv);
		return encshim_recv_refuse(r, src, encshim_strerror(rc));
	}
	if (OMPI_SUCCESS != encshim_audit(r->ecomm, r->posted, in->MPI_SOURCE,
					  in->MPI_TAG, r->frame, &why))
		rc = ENCSHIM_E_INVAL;
	else if (OMPI_SUCCESS != deliver(&o))
		why = encshim_strerror(rc = ENCSHIM_E_INVAL);
	wipe(&o, ENCSHIM_OK != rc);
	OBJ_DESTRUCT(&o.conv);
	if (ENCSHIM_OK != rc)
		return encshim_recv_refuse(r, src, why);
	r->super.req_status._ucount = o.ptlen;
	atomic_fetch_add(&encshim_stats.opened_msgs, 1);
	atomic_fetch_add(&encshim_stats.opened_bytes, o.ptlen);
	return MPI_SUCCESS;
}

/* A frame (or a chunked message's head) arrived whole. */
static int finish_frame(encshim_request_t *r, size_t framelen, size_t cap,
			struct encshim_train **rx)
{
	bool head = encshim_chunk_is_head(r->frame, framelen);
	int rc;

	if (!head && framelen > cap + ENCSHIM_MPI_OVERHEAD) {
		/* the PML took it whole only because a head must fit every
		 * receive of a negative tag (encshim_chunk_recv_len) */
		encshim_audit_truncated(r->ecomm, r->posted);
		return r->super.req_status.MPI_ERROR = MPI_ERR_TRUNCATE;
	}
	rc = head ? encshim_chunk_head(r, framelen, cap, rx)
		  : receive_frame(r, framelen);
	if (MPI_SUCCESS != rc && MPI_ERR_TRUNCATE != rc)
		encshim_post_withdraw(r->ecomm, r->posted);
	return rc;
}

int encshim_recv_finish(encshim_request_t *r, bool *deferred)
{
	const ompi_status_public_t *in = &r->inner->req_status;
	ompi_status_public_t *st = &r->super.req_status;
	struct encshim_train *rx = NULL;
	size_t cap = 0;
	int rc;

	st->MPI_SOURCE = in->MPI_SOURCE;
	st->MPI_TAG = in->MPI_TAG;
	st->MPI_ERROR = in->MPI_ERROR;
	st->_cancelled = in->_cancelled;
	st->_ucount = 0;
	if (in->_cancelled || MPI_SUCCESS != in->MPI_ERROR) {
		/* cancelled, or truncated: nothing opened */
		if (!in->_cancelled && MPI_ERR_TRUNCATE == in->MPI_ERROR)
			encshim_audit_truncated(r->ecomm, r->posted);
		else
			encshim_post_withdraw(r->ecomm, r->posted);
		rc = in->MPI_ERROR;
	} else {
		(void)capacity_of(r->count, r->dtype, &cap);
		rc = finish_frame(r, in->_ucount, cap, &rx);
	}
	posted_done(r);
	encshim_frame_release(r);
	if (NULL != rx) {
		/* last: from here the chunks may complete r at any time */
		*deferred = true;
		encshim_chunk_start(rx);
	}
	return rc;
}

/* ---- entry points ---- */

static int post_new(void *buf, size_t count, ompi_datatype_t *dtype, int src,
		    int tag, ompi_communicator_t *comm,
		    struct ompi_message_t **message, encshim_request_t **out)
{
	encshim_request_t *r = encshim_request_new(ENCSHIM_REQ_RECV, false,
						   buf, count, dtype, src, tag,
						   MCA_PML_BASE_SEND_STANDARD,
						   comm);
	int rc;

	if (NULL == r)
		return OMPI_ERR_OUT_OF_RESOURCE;
	rc = encshim_recv_post(r, message);
	if (OMPI_SUCCESS != rc) {
		encshim_request_drop(r);
		return rc;
	}
	*out = r;
	return OMPI_SUCCESS;
}

/* Waits for r, hands its status to the caller and frees it. */
static int wait_and_free(encshim_request_t *r, ompi_status_public_t *status)
{
	ompi_request_t *req = &r->super;
	int rc;

	ompi_request_wait_completion(req);
	rc = req->req_status.MPI_ERROR;
	if (MPI_STATUS_IGNORE != status)
		*status = req->req_status;
	(void)ompi_request_free(&req);
	return rc;
}

int encshim_irecv(void *buf, size_t count, ompi_datatype_t *dtype, int src,
		  int tag, ompi_communicator_t *comm, ompi_request_t **request)
{
	encshim_request_t *r = NULL;
	int rc;

	if (MPI_PROC_NULL == src)
		return encshim_inner.pml_irecv(buf, count, dtype, src, tag, comm,
					       request);
	rc = post_new(buf, count, dtype, src, tag, comm, NULL, &r);
	if (OMPI_SUCCESS == rc)
		*request = &r->super;
	return rc;
}

int encshim_recv(void *buf, size_t count, ompi_datatype_t *dtype, int src,
		 int tag, ompi_communicator_t *comm,
		 ompi_status_public_t *status)
{
	encshim_request_t *r = NULL;
	int rc;

	if (MPI_PROC_NULL == src)
		return encshim_inner.pml_recv(buf, count, dtype, src, tag, comm,
					      status);
	rc = post_new(buf, count, dtype, src, tag, comm, NULL, &r);
	if (OMPI_SUCCESS != rc)
		return rc;
	return wait_and_free(r, status);
}

int encshim_imrecv(void *buf, size_t count, ompi_datatype_t *dtype,
		   struct ompi_message_t **message, ompi_request_t **request)
{
	encshim_request_t *r = NULL;
	int rc = post_new(buf, count, dtype, (*message)->peer, MPI_ANY_TAG,
			  (*message)->comm, message, &r);

	if (OMPI_SUCCESS == rc)
		*request = &r->super;
	return rc;
}

int encshim_mrecv(void *buf, size_t count, ompi_datatype_t *dtype,
		  struct ompi_message_t **message,
		  ompi_status_public_t *status)
{
	encshim_request_t *r = NULL;
	int rc = post_new(buf, count, dtype, (*message)->peer, MPI_ANY_TAG,
			  (*message)->comm, message, &r);

	if (OMPI_SUCCESS != rc)
		return rc;
	return wait_and_free(r, status);
}

/* SPDX-License-Identifier: MIT */
/*
 * Receive side. A receive posts the PML's receive of MPI_BYTEs into a
 * staging frame sized for the user's buffer plus the 32 bytes of
 * framing, so a longer message is truncated by the PML itself and
 * reported as MPI_ERR_TRUNCATE (and never opened). When the frame has
 * arrived, the matched source and tag name the envelope, the frame is
 * authenticated and only then released: straight into the user's
 * buffer when it is contiguous, else opened in the staging frame and
 * unpacked. A frame that fails is never delivered: the user's buffer is
 * left as it was, or zeroed where decryption into it ran, the request
 * completes with MPI_ERR_OTHER, and stderr names the peer and the cause.
 */
#include "pml_encshim.h"

#include "ompi/constants.h"
#include "opal/datatype/opal_convertor.h"

/* Bytes of plaintext the user's buffer holds. */
static int capacity_of(size_t count, ompi_datatype_t *dtype, size_t *cap)
{
	size_t unit = 0;

	(void)ompi_datatype_type_size(dtype, &unit);
	if (0 != count && unit > (SIZE_MAX - ENCSHIM_OVERHEAD) / count)
		return OMPI_ERR_BAD_PARAM;
	*cap = unit * count;
	return OMPI_SUCCESS;
}

int encshim_recv_post(encshim_request_t *r, struct ompi_message_t **message)
{
	size_t cap = 0, len;
	int rc = capacity_of(r->count, r->dtype, &cap);

	if (OMPI_SUCCESS != rc)
		return rc;
	len = cap + ENCSHIM_OVERHEAD;
	r->owner = ENCSHIM_FRAME_POOL;
	r->frame = encshim_pool_get(len, &r->frame_cap);
	if (NULL == r->frame)
		return OMPI_ERR_OUT_OF_RESOURCE;
	if (NULL != message)
		rc = encshim_inner.pml_imrecv(r->frame, len, MPI_BYTE, message,
					      &r->inner);
	else
		rc = encshim_inner.pml_irecv(r->frame, len, MPI_BYTE, r->peer,
					     r->tag, r->comm, &r->inner);
	if (OMPI_SUCCESS != rc) {
		r->inner = NULL;
		encshim_frame_release(r);
		return rc;
	}
	encshim_request_watch(r);
	return OMPI_SUCCESS;
}

/* Authenticates the frame and writes the plaintext to the user. */
static int open_frame(encshim_request_t *r, struct encshim_peer *peer,
		      const uint8_t env[ENCSHIM_ENV_BYTES], size_t framelen)
{
	size_t ptlen = framelen - ENCSHIM_OVERHEAD, max_data = ptlen;
	uint8_t *inplace = r->frame + ENCSHIM_HEADER_BYTES;
	opal_convertor_t conv;
	struct iovec iov = { .iov_base = inplace, .iov_len = ptlen };
	uint32_t iov_count = 1;
	void *direct = NULL;
	int rc;

	OBJ_CONSTRUCT(&conv, opal_convertor_t);
	if (OPAL_SUCCESS != opal_convertor_copy_and_prepare_for_recv(
				    ompi_mpi_local_convertor, &r->dtype->super,
				    r->count, r->buf, 0, &conv)) {
		OBJ_DESTRUCT(&conv);
		return ENCSHIM_E_INVAL;
	}
	if (!opal_convertor_need_buffers(&conv)) {
		opal_convertor_get_current_pointer(&conv, &direct);
		rc = encshim_peer_open(peer, env, ENCSHIM_ENV_BYTES, r->frame,
				       framelen, direct);
	} else {
		rc = encshim_peer_open(peer, env, ENCSHIM_ENV_BYTES, r->frame,
				       framelen, inplace);
		if (ENCSHIM_OK == rc &&
		    (opal_convertor_unpack(&conv, &iov, &iov_count,
					   &max_data) < 0 ||
		     max_data != ptlen))
			rc = ENCSHIM_E_INVAL;
	}
	OBJ_DESTRUCT(&conv);
	return rc;
}

static int refuse(encshim_request_t *r, uint32_t src, int why)
{
	ompi_status_public_t *st = &r->super.req_status;

	atomic_fetch_add(&encshim_stats.auth_failures, 1);
	encshim_log("message from rank %u (communicator %u, tag %d) refused, "
		    "not delivered: %s", (unsigned)src,
		    ompi_comm_get_cid(r->comm), st->MPI_TAG,
		    encshim_strerror(why));
	st->_ucount = 0;
	st->MPI_ERROR = MPI_ERR_OTHER;
	return MPI_ERR_OTHER;
}

int encshim_recv_finish(encshim_request_t *r)
{
	const ompi_status_public_t *in = &r->inner->req_status;
	ompi_status_public_t *st = &r->super.req_status;
	uint8_t env[ENCSHIM_ENV_BYTES];
	struct encshim_peer *peer;
	uint32_t src = UINT32_MAX;
	size_t framelen = in->_ucount;
	int rc = MPI_SUCCESS;

	st->MPI_SOURCE = in->MPI_SOURCE;
	st->MPI_TAG = in->MPI_TAG;
	st->MPI_ERROR = in->MPI_ERROR;
	st->_cancelled = in->_cancelled;
	st->_ucount = 0;
	if (in->_cancelled || MPI_SUCCESS != in->MPI_ERROR) {
		rc = in->MPI_ERROR; /* cancelled, or truncated: nothing opened */
		goto out;
	}
	src = encshim_vpid_of(r->comm, in->MPI_SOURCE);
	if (framelen < ENCSHIM_OVERHEAD) {
		rc = refuse(r, src, ENCSHIM_E_MALFORMED);
		goto out;
	}
	peer = encshim_peer_get(r->comm, in->MPI_SOURCE, false);
	if (NULL == peer) {
		rc = refuse(r, src, ENCSHIM_E_PEERKEY);
		goto out;
	}
	encshim_envelope(env, src, encshim_my_vpid(),
			 ompi_comm_get_cid(r->comm), in->MPI_TAG);
	rc = open_frame(r, peer, env, framelen);
	if (ENCSHIM_OK != rc) {
		rc = refuse(r, src, rc);
		goto out;
	}
	st->_ucount = framelen - ENCSHIM_OVERHEAD;
	atomic_fetch_add(&encshim_stats.opened_msgs, 1);
	atomic_fetch_add(&encshim_stats.opened_bytes, st->_ucount);
out:
	encshim_frame_release(r);
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

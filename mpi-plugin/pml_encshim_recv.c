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
 *
 * A frame with the clear flag (pml_encshim_local clear) is checked before
 * anything else is done with it: accepted only if this rank runs clear,
 * its source is a peer we ourselves found local-clear (its token file),
 * and it carries our own token; then audited like any frame and copied
 * out. Anything else is refused like a frame that does not authenticate.
 */
#include "pml_encshim.h"

#include <stdio.h>
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

static int post_inner(encshim_request_t *r, size_t len)
{
	struct encshim_comm *c = r->ecomm;
	int rc;

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

int encshim_recv_post(encshim_request_t *r)
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
	rc = post_inner(r, len);
	if (OMPI_SUCCESS != rc) {
		if (NULL != r->posted)
			encshim_post_withdraw(r->ecomm, r->posted);
		r->posted = NULL;
		r->inner = NULL;
		encshim_frame_release(r);
		return rc;
	}
	encshim_request_watch(r);
	return OMPI_SUCCESS;
}

/* Our handles are objects of Open MPI's message class, not taken from
 * its free list: that list's inline code needs 16-byte atomics that a
 * component built without -mcx16 cannot link. */
static void message_free(struct ompi_message_t *m)
{
	if (MPI_UNDEFINED != m->m_f_to_c_index)
		(void)opal_pointer_array_set_item(&ompi_message_f_to_c_table,
						  m->m_f_to_c_index, NULL);
	OBJ_RELEASE(m);
}

int encshim_recv_stage(encshim_request_t *r, struct ompi_message_t *inner,
		       size_t framelen, struct ompi_message_t **message)
{
	struct ompi_message_t *m = OBJ_NEW(ompi_message_t);
	int peer = inner->peer, rc;

	if (NULL == m)
		return OMPI_ERR_OUT_OF_RESOURCE;
	r->owner = ENCSHIM_FRAME_POOL;
	r->frame = encshim_pool_get(framelen, &r->frame_cap);
	if (NULL == r->frame) {
		message_free(m);
		return OMPI_ERR_OUT_OF_RESOURCE;
	}
	rc = encshim_inner.pml_imrecv(r->frame, framelen, MPI_BYTE, &inner,
				      &r->inner);
	if (OMPI_SUCCESS != rc) {
		r->inner = NULL;
		encshim_frame_release(r);
		message_free(m);
		return rc;
	}
	m->comm = r->comm;
	m->peer = peer;
	m->count = framelen >= ENCSHIM_MPI_OVERHEAD
			   ? framelen - ENCSHIM_MPI_OVERHEAD
			   : 0;
	m->req_ptr = r;
	*message = m;
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
	if (r->staged) /* kept in the frame for MPI_Mrecv */
		return encshim_peer_open(peer, env, ENCSHIM_MPI_ENV_BYTES, core,
					 framelen - ENCSHIM_MPI_STREAM_BYTES,
					 o->inplace);
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

/* NULL if the clear frame of r (from comm rank rank, world rank src) may
 * be delivered, else why not (in buf). docs/PROTOCOL.md section 11,
 * "Local-clear frames". */
static const char *clear_refusal(encshim_request_t *r, int rank, uint32_t src,
				 size_t framelen, char *buf, size_t len)
{
	const uint8_t *mine = encshim_clear_mine(), *f = r->frame;

	if (NULL == mine) {
		(void)snprintf(buf, len, "clear frame refused: "
			       "pml_encshim_local is not clear on this rank (or "
			       "its token file could not be made), so only "
			       "sealed frames are accepted; a clear frame here is "
			       "forged (or rank %u runs clear while this rank "
			       "seals: give every rank the same "
			       "pml_encshim_local)", (unsigned)src);
		return buf;
	}
	if (!encshim_peer_clear_rx(r->comm, rank)) {
		(void)snprintf(buf, len, "clear frame refused: rank %u is not "
			       "a local-clear peer here (Open MPI does not place "
			       "it on this node, or its token file was not found "
			       "in %s): a forged frame, or rank %u and this rank "
			       "were given different pml_encshim_local_dir",
			       (unsigned)src, encshim_clear_dir(),
			       (unsigned)src);
		return buf;
	}
	if (0 != sodium_memcmp(f + ENCSHIM_MPI_STREAM_BYTES, mine,
			       ENCSHIM_MPI_TOKEN_BYTES))
		return "clear frame refused: wrong token (forged: only "
		       "processes of this uid on this node can read it)";
	if (!sodium_is_zero(f + framelen - ENCSHIM_TAG_BYTES, ENCSHIM_TAG_BYTES))
		return encshim_strerror(ENCSHIM_E_MALFORMED);
	return NULL;
}

/* Copies the checked clear frame's plaintext out (contiguous: memcpy,
 * else unpack); a matched probe's stays in the frame for MPI_Mrecv. */
static int clear_deliver(encshim_request_t *r, size_t ptlen)
{
	struct opening o;
	int rc = OMPI_SUCCESS;

	if (r->staged)
		return OMPI_SUCCESS;
	o.ptlen = ptlen;
	o.inplace = r->frame + ENCSHIM_MPI_STREAM_BYTES + ENCSHIM_HEADER_BYTES;
	o.direct = NULL;
	OBJ_CONSTRUCT(&o.conv, opal_convertor_t);
	if (OPAL_SUCCESS != opal_convertor_copy_and_prepare_for_recv(
				    ompi_mpi_local_convertor, &r->dtype->super,
				    r->count, r->buf, 0, &o.conv))
		rc = OMPI_ERROR;
	else if (!opal_convertor_need_buffers(&o.conv)) {
		opal_convertor_get_current_pointer(&o.conv, &o.direct);
		if (ptlen > 0)
			memcpy(o.direct, o.inplace, ptlen);
	} else
		rc = deliver(&o);
	OBJ_DESTRUCT(&o.conv);
	return rc;
}

/* A frame with the clear flag: checked, audited, delivered. The staging
 * frame is not wiped: the same plaintext crossed the node in the PML's
 * own buffers. */
static int receive_clear(encshim_request_t *r, size_t framelen, uint32_t src)
{
	const ompi_status_public_t *in = &r->inner->req_status;
	uint8_t stream[ENCSHIM_MPI_STREAM_BYTES];
	size_t ptlen = framelen - ENCSHIM_MPI_OVERHEAD;
	const char *why;
	char buf[400];
	bool held = false;

	why = clear_refusal(r, in->MPI_SOURCE, src, framelen, buf, sizeof(buf));
	if (NULL != why)
		return encshim_recv_refuse(r, src, why);
	memcpy(stream, r->frame, sizeof(stream));
	stream[0] &= (uint8_t)~ENCSHIM_MPI_CLEAR;
	if (OMPI_SUCCESS != encshim_audit(r->ecomm, r->posted, in->MPI_SOURCE,
					  in->MPI_TAG, stream, r, &held, &why))
		return encshim_recv_refuse(r, src, why);
	if (OMPI_SUCCESS != clear_deliver(r, ptlen))
		return encshim_recv_refuse(r, src,
					   encshim_strerror(ENCSHIM_E_INVAL));
	r->super.req_status._ucount = ptlen;
	if (!held)
		atomic_store(&r->hold, ENCSHIM_HOLD_NONE);
	atomic_fetch_add(&encshim_stats.clear_received_msgs, 1);
	atomic_fetch_add(&encshim_stats.clear_received_bytes, ptlen);
	return MPI_SUCCESS;
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
	bool held = false;
	int rc;

	if (framelen < ENCSHIM_MPI_OVERHEAD)
		return encshim_recv_refuse(r, src, encshim_strerror(ENCSHIM_E_MALFORMED));
	if (0 != (r->frame[0] & ENCSHIM_MPI_CLEAR))
		return receive_clear(r, framelen, src);
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
					  in->MPI_TAG, r->frame, r, &held, &why))
		rc = ENCSHIM_E_INVAL;
	else if (!r->staged && OMPI_SUCCESS != deliver(&o))
		why = encshim_strerror(rc = ENCSHIM_E_INVAL);
	if (!r->staged || ENCSHIM_OK != rc)
		wipe(&o, ENCSHIM_OK != rc);
	OBJ_DESTRUCT(&o.conv);
	if (ENCSHIM_OK != rc)
		return encshim_recv_refuse(r, src, why);
	r->super.req_status._ucount = o.ptlen;
	if (!held)
		atomic_store(&r->hold, ENCSHIM_HOLD_NONE);
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

	if (head && r->staged) {
		/* only collectives' messages are chunked, and no matched
		 * probe is ever posted for their negative tags */
		rc = encshim_recv_refuse(r, encshim_vpid_of(r->comm,
				r->inner->req_status.MPI_SOURCE),
			"a chunked message was taken by a matched probe "
			"(MPI_Improbe/MPI_Mprobe), which cannot hold it: set "
			"pml_encshim_chunk_threshold 0 on the sender");
		encshim_post_withdraw(r->ecomm, r->posted);
		return rc;
	}
	if (!head && !r->staged && framelen > cap + ENCSHIM_MPI_OVERHEAD) {
		/* the PML took it whole only because a head must fit every
		 * receive of a negative tag (encshim_chunk_recv_len) */
		encshim_audit_truncated(r->ecomm, r->posted,
					r->inner->req_status.MPI_SOURCE,
					r->inner->req_status.MPI_TAG);
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
	/* a held receive stays FINISHING until its completion path ends */
	atomic_store(&r->hold, ENCSHIM_HOLD_FINISHING);
	if (in->_cancelled || MPI_SUCCESS != in->MPI_ERROR) {
		/* cancelled, or truncated: nothing opened */
		atomic_store(&r->hold, ENCSHIM_HOLD_NONE);
		if (!in->_cancelled && MPI_ERR_TRUNCATE == in->MPI_ERROR)
			encshim_audit_truncated(r->ecomm, r->posted,
						in->MPI_SOURCE, in->MPI_TAG);
		else
			encshim_post_withdraw(r->ecomm, r->posted);
		rc = in->MPI_ERROR;
	} else {
		(void)capacity_of(r->count, r->dtype, &cap);
		rc = finish_frame(r, in->_ucount, cap, &rx);
		if (MPI_SUCCESS != rc)
			atomic_store(&r->hold, ENCSHIM_HOLD_NONE);
	}
	r->posted = NULL;
	/* a matched probe's plaintext waits in its frame for MPI_Mrecv */
	if (!r->staged || MPI_SUCCESS != rc)
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
		    int tag, ompi_communicator_t *comm, encshim_request_t **out)
{
	encshim_request_t *r = encshim_request_new(ENCSHIM_REQ_RECV, false,
						   buf, count, dtype, src, tag,
						   MCA_PML_BASE_SEND_STANDARD,
						   comm);
	int rc;

	if (NULL == r)
		return OMPI_ERR_OUT_OF_RESOURCE;
	rc = encshim_recv_post(r);
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
	rc = post_new(buf, count, dtype, src, tag, comm, &r);
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
	rc = post_new(buf, count, dtype, src, tag, comm, &r);
	if (OMPI_SUCCESS != rc)
		return rc;
	return wait_and_free(r, status);
}

/* Copies a matched probe's plaintext out of its frame into the user's
 * buffer (MPI_ERR_TRUNCATE, copying nothing, if it does not fit), then
 * wipes it. */
static void unstage(encshim_request_t *r, void *buf, size_t count,
		    ompi_datatype_t *dtype, ompi_status_public_t *st)
{
	uint8_t *pt = r->frame + ENCSHIM_MPI_STREAM_BYTES + ENCSHIM_HEADER_BYTES;
	size_t len = st->_ucount, cap = 0, max_data = len;
	struct iovec iov = { .iov_base = pt, .iov_len = len };
	uint32_t iov_count = 1;
	opal_convertor_t conv;

	if (MPI_SUCCESS != st->MPI_ERROR)
		return;
	if (OMPI_SUCCESS != capacity_of(count, dtype, &cap) || len > cap) {
		st->MPI_ERROR = MPI_ERR_TRUNCATE;
		st->_ucount = 0;
	} else {
		OBJ_CONSTRUCT(&conv, opal_convertor_t);
		if (OPAL_SUCCESS != opal_convertor_copy_and_prepare_for_recv(
					    ompi_mpi_local_convertor,
					    &dtype->super, count, buf, 0,
					    &conv) ||
		    opal_convertor_unpack(&conv, &iov, &iov_count,
					  &max_data) < 0 ||
		    max_data != len) {
			st->MPI_ERROR = MPI_ERR_OTHER;
			st->_ucount = 0;
		}
		OBJ_DESTRUCT(&conv);
	}
	sodium_memzero(pt, len);
}

/* A matched probe received its message when it matched (MPI_Improbe):
 * wait until the frame has arrived and passed its checks, then copy it
 * out. */
int encshim_mrecv(void *buf, size_t count, ompi_datatype_t *dtype,
		  struct ompi_message_t **message,
		  ompi_status_public_t *status)
{
	encshim_request_t *r = (*message)->req_ptr;
	ompi_request_t *req = &r->super;
	ompi_status_public_t st;

	ompi_request_wait_completion(req);
	st = req->req_status;
	unstage(r, buf, count, dtype, &st);
	encshim_frame_release(r);
	(void)ompi_request_free(&req);
	message_free(*message);
	*message = MPI_MESSAGE_NULL;
	if (MPI_STATUS_IGNORE != status)
		*status = st;
	return st.MPI_ERROR;
}

/* MPI_Imrecv: a request whose "inner" is the matched probe's own; when
 * that completes, encshim_recv_unstage copies the plaintext out. */
int encshim_imrecv(void *buf, size_t count, ompi_datatype_t *dtype,
		   struct ompi_message_t **message, ompi_request_t **request)
{
	encshim_request_t *s = (*message)->req_ptr, *o;

	o = encshim_request_new(ENCSHIM_REQ_RECV, false, buf, count, dtype,
				(*message)->peer, MPI_ANY_TAG,
				MCA_PML_BASE_SEND_STANDARD, (*message)->comm);
	if (NULL == o)
		return OMPI_ERR_OUT_OF_RESOURCE;
	o->unstage = true;
	o->inner = &s->super; /* freed with o */
	message_free(*message);
	*message = MPI_MESSAGE_NULL;
	encshim_request_watch(o);
	*request = &o->super;
	return OMPI_SUCCESS;
}

void encshim_recv_unstage(encshim_request_t *o)
{
	encshim_request_t *s = (encshim_request_t *)o->inner;
	ompi_status_public_t st = s->super.req_status;

	unstage(s, o->buf, o->count, o->dtype, &st);
	encshim_frame_release(s);
	o->super.req_status = st;
}

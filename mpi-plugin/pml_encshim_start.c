/* SPDX-License-Identifier: MIT */
/*
 * Persistent requests. MPI_Start and MPI_Startall call req_start of the
 * request directly, not the PML table (pitfall 2), so the requests made
 * by *_init are ours and own req_start: every start seals the current
 * contents of the buffer anew (fresh sequence number, so a fresh nonce)
 * or posts a fresh staging receive.
 */
#include "pml_encshim.h"

#include "ompi/constants.h"

static int make(enum encshim_req_kind kind, void *buf, size_t count,
		ompi_datatype_t *dtype, int peer, int tag,
		mca_pml_base_send_mode_t mode, ompi_communicator_t *comm,
		ompi_request_t **request)
{
	encshim_request_t *r = encshim_request_new(kind, true, buf, count,
						   dtype, peer, tag, mode,
						   comm);

	if (NULL == r)
		return OMPI_ERR_OUT_OF_RESOURCE;
	*request = &r->super;
	return OMPI_SUCCESS;
}

int encshim_isend_init(const void *buf, size_t count, ompi_datatype_t *dtype,
		       int dst, int tag, mca_pml_base_send_mode_t mode,
		       ompi_communicator_t *comm, ompi_request_t **request)
{
	return make(ENCSHIM_REQ_SEND, (void *)buf, count, dtype, dst, tag, mode,
		    comm, request);
}

int encshim_irecv_init(void *buf, size_t count, ompi_datatype_t *dtype,
		       int src, int tag, ompi_communicator_t *comm,
		       ompi_request_t **request)
{
	return make(ENCSHIM_REQ_RECV, buf, count, dtype, src, tag,
		    MCA_PML_BASE_SEND_STANDARD, comm, request);
}

static int start_one(encshim_request_t *r)
{
	int rc;

	encshim_request_rearm(r);
	if (MPI_PROC_NULL == r->peer) {
		encshim_request_complete_now(r, MPI_SUCCESS);
		return OMPI_SUCCESS;
	}
	if (ENCSHIM_REQ_SEND == r->kind &&
	    MCA_PML_BASE_SEND_BUFFERED == r->mode) {
		rc = encshim_bsend_detached(r->buf, r->count, r->dtype, r->peer,
					    r->tag, r->comm);
		encshim_request_complete_now(r, rc);
		return rc;
	}
	rc = ENCSHIM_REQ_SEND == r->kind ? encshim_send_post(r)
					 : encshim_recv_post(r);
	if (OMPI_SUCCESS != rc)
		encshim_request_complete_now(r, rc);
	return rc;
}

int encshim_start_persistent(size_t count, ompi_request_t **requests)
{
	size_t i;
	int rc = OMPI_SUCCESS;

	for (i = 0; i < count; i++) {
		encshim_request_t *r = (encshim_request_t *)requests[i];

		if (NULL == r || r->super.req_start != encshim_start_persistent)
			continue;
		encshim_request_forget_inner(r);
		if (OMPI_SUCCESS != start_one(r))
			rc = OMPI_ERROR;
	}
	return rc;
}

/* The table's pml_start: requests of the PML table are all ours. */
int encshim_start(size_t count, ompi_request_t **requests)
{
	size_t i;
	int rc = OMPI_SUCCESS;

	for (i = 0; i < count; i++) {
		if (NULL == requests[i] || NULL == requests[i]->req_start)
			continue;
		if (OMPI_SUCCESS != requests[i]->req_start(1, &requests[i]))
			rc = OMPI_ERROR;
	}
	return rc;
}

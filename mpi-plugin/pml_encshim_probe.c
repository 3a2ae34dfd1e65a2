/* SPDX-License-Identifier: MIT */
/*
 * Probes see the frame the PML holds; the user must see the message.
 * Each frame is exactly ENCSHIM_MPI_OVERHEAD bytes longer than its
 * plaintext, so the count is corrected here.
 *
 * MPI_Probe/MPI_Iprobe take nothing, but name the message a receive of
 * their pattern would take next: they are numbered in the posting order
 * like receives, and a report is kept for the receive that follows (the
 * order audit checks the probe's choice too, pml_encshim_order.c).
 * MPI_Mprobe/MPI_Improbe do take a message: they are receives, numbered
 * when posted like MPI_Irecv, that receive the frame at once (below).
 * Blocking probes are series of nonblocking ones, each
 * numbered: holding the posting order while blocked would stall every
 * other thread's receives on the communicator.
 */
#include "pml_encshim.h"

#include <stdlib.h>

#include "ompi/constants.h"
#include "opal/runtime/opal_progress.h"

static void plaintext_count(int rc, int matched, ompi_status_public_t *status)
{
	if (OMPI_SUCCESS != rc || !matched || MPI_STATUS_IGNORE == status)
		return;
	status->_ucount = status->_ucount >= ENCSHIM_MPI_OVERHEAD
				  ? status->_ucount - ENCSHIM_MPI_OVERHEAD
				  : 0;
}

int encshim_iprobe(int src, int tag, ompi_communicator_t *comm, int *matched,
		   ompi_status_public_t *status)
{
	struct encshim_comm *c = encshim_comm_of(comm);
	ompi_status_public_t own, *st = MPI_STATUS_IGNORE == status ? &own
								    : status;
	struct encshim_post probe;
	int rc;

	*matched = 0;
	if (NULL == c)
		return OMPI_ERR_BAD_PARAM;
	encshim_probe_begin(c, &probe, src, tag);
	rc = encshim_inner.pml_iprobe(src, tag, comm, matched, st);
	if (OMPI_SUCCESS == rc && *matched)
		encshim_probe_keep(c, &probe, st->MPI_SOURCE, st->MPI_TAG);
	encshim_post_end(c);
	plaintext_count(rc, *matched, st);
	return rc;
}

int encshim_probe(int src, int tag, ompi_communicator_t *comm,
		  ompi_status_public_t *status)
{
	int matched = 0, rc;

	while (OMPI_SUCCESS == (rc = encshim_iprobe(src, tag, comm, &matched,
						    status)) &&
	       !matched)
		opal_progress();
	return rc;
}

/* ---- matched probes ---- */

/* A matched probe takes its message: numbered when posted like
 * MPI_Irecv, it receives the frame at once into staging, where it is
 * checked and opened when it arrives, as any receive's; the handle
 * returned is ours, and MPI_Mrecv/MPI_Imrecv copies the plaintext out
 * (pml_encshim_recv.c). So no message is ever held unreceived by a
 * handle while later receives of its stream complete (step 7). */
int encshim_improbe(int src, int tag, ompi_communicator_t *comm,
		    int *matched, struct ompi_message_t **message,
		    ompi_status_public_t *status)
{
	ompi_status_public_t own, *st = MPI_STATUS_IGNORE == status ? &own
								    : status;
	struct ompi_message_t *inner = NULL;
	encshim_request_t *r;
	int rc;

	*matched = 0;
	r = encshim_request_new(ENCSHIM_REQ_RECV, false, NULL, 0, MPI_BYTE, src,
				tag, MCA_PML_BASE_SEND_STANDARD, comm);
	if (NULL == r)
		return OMPI_ERR_OUT_OF_RESOURCE;
	r->staged = true;
	r->ecomm = encshim_comm_of(comm);
	if (NULL == r->ecomm) {
		encshim_request_drop(r);
		return OMPI_ERR_BAD_PARAM;
	}
	r->posted = &r->post;
	rc = encshim_post_begin(r->ecomm, r->posted, src, tag);
	if (OMPI_SUCCESS != rc) {
		encshim_request_drop(r);
		return rc;
	}
	rc = encshim_inner.pml_improbe(src, tag, comm, matched, &inner, st);
	encshim_post_end(r->ecomm);
	if (OMPI_SUCCESS == rc && *matched)
		rc = encshim_recv_stage(r, inner, st->_ucount, message);
	if (OMPI_SUCCESS != rc || !*matched) {
		encshim_post_withdraw(r->ecomm, r->posted);
		r->posted = NULL;
		encshim_request_drop(r);
		if (OMPI_SUCCESS != rc)
			*matched = 0;
		return rc;
	}
	plaintext_count(rc, *matched, st);
	return rc;
}

int encshim_mprobe(int src, int tag, ompi_communicator_t *comm,
		   struct ompi_message_t **message,
		   ompi_status_public_t *status)
{
	int matched = 0, rc;

	while (OMPI_SUCCESS == (rc = encshim_improbe(src, tag, comm, &matched,
						     message, status)) &&
	       !matched)
		opal_progress();
	return rc;
}

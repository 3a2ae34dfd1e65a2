/* SPDX-License-Identifier: MIT */
/*
 * Probes see the frame the PML holds; the user must see the message.
 * Each frame is exactly ENCSHIM_OVERHEAD bytes longer than its
 * plaintext, so the count is corrected here (what a probe reports is not
 * yet authenticated: the receive that follows is what checks it).
 */
#include "pml_encshim.h"

#include "ompi/constants.h"

static void plaintext_count(int rc, int matched, ompi_status_public_t *status)
{
	if (OMPI_SUCCESS != rc || !matched || MPI_STATUS_IGNORE == status)
		return;
	status->_ucount = status->_ucount >= ENCSHIM_OVERHEAD
				  ? status->_ucount - ENCSHIM_OVERHEAD
				  : 0;
}

int encshim_iprobe(int src, int tag, ompi_communicator_t *comm, int *matched,
		   ompi_status_public_t *status)
{
	int rc = encshim_inner.pml_iprobe(src, tag, comm, matched, status);

	plaintext_count(rc, *matched, status);
	return rc;
}

int encshim_probe(int src, int tag, ompi_communicator_t *comm,
		  ompi_status_public_t *status)
{
	int rc = encshim_inner.pml_probe(src, tag, comm, status);

	plaintext_count(rc, 1, status);
	return rc;
}

int encshim_improbe(int src, int tag, ompi_communicator_t *comm,
		    int *matched, struct ompi_message_t **message,
		    ompi_status_public_t *status)
{
	int rc = encshim_inner.pml_improbe(src, tag, comm, matched, message,
					   status);

	plaintext_count(rc, *matched, status);
	return rc;
}

int encshim_mprobe(int src, int tag, ompi_communicator_t *comm,
		   struct ompi_message_t **message,
		   ompi_status_public_t *status)
{
	int rc = encshim_inner.pml_mprobe(src, tag, comm, message, status);

	plaintext_count(rc, 1, status);
	return rc;
}

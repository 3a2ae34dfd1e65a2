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
 * MPI_Mprobe/MPI_Improbe do take a message: they are receives for the
 * order audit, numbered when posted like MPI_Irecv; the record waits,
 * keyed by the message handle, for the MPI_Mrecv/MPI_Imrecv that opens
 * the frame. Blocking probes are series of nonblocking ones, each
 * numbered: holding the posting order while blocked would stall every
 * other thread's receives on the communicator.
 */
#include "pml_encshim.h"

#include <pthread.h>
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

/* ---- matched probes: message handle -> posting ---- */

struct kept {
	struct kept *next;
	struct ompi_message_t *message;
	struct encshim_post *post;
};

static struct kept *kept_head;
static pthread_mutex_t kept_lock = PTHREAD_MUTEX_INITIALIZER;

static bool keep(struct ompi_message_t *message, struct encshim_post *post)
{
	struct kept *k = malloc(sizeof(*k));

	if (NULL == k)
		return false;
	k->message = message;
	k->post = post;
	pthread_mutex_lock(&kept_lock);
	k->next = kept_head;
	kept_head = k;
	pthread_mutex_unlock(&kept_lock);
	return true;
}

struct encshim_post *encshim_mprobe_take(struct ompi_message_t *message)
{
	struct kept **pp, *k = NULL;
	struct encshim_post *post = NULL;

	pthread_mutex_lock(&kept_lock);
	for (pp = &kept_head; NULL != *pp; pp = &(*pp)->next) {
		if ((*pp)->message == message) {
			k = *pp;
			*pp = k->next;
			break;
		}
	}
	pthread_mutex_unlock(&kept_lock);
	if (NULL != k) {
		post = k->post;
		free(k);
	}
	return post;
}

/* Posts the probe in the communicator's order; keeps the posting if a
 * message was matched, else withdraws it. */
int encshim_improbe(int src, int tag, ompi_communicator_t *comm,
		    int *matched, struct ompi_message_t **message,
		    ompi_status_public_t *status)
{
	struct encshim_comm *c = encshim_comm_of(comm);
	struct encshim_post *post = calloc(1, sizeof(*post));
	int rc;

	*matched = 0;
	if (NULL == c || NULL == post) {
		free(post);
		return NULL == c ? OMPI_ERR_BAD_PARAM : OMPI_ERR_OUT_OF_RESOURCE;
	}
	rc = encshim_post_begin(c, post, src, tag);
	if (OMPI_SUCCESS == rc) {
		rc = encshim_inner.pml_improbe(src, tag, comm, matched, message,
					       status);
		encshim_post_end(c);
	}
	if (OMPI_SUCCESS == rc && *matched) {
		if (keep(*message, post))
			post = NULL;
		else
			rc = OMPI_ERR_OUT_OF_RESOURCE;
	}
	if (NULL != post) {
		encshim_post_withdraw(c, post);
		free(post);
	}
	plaintext_count(rc, *matched, status);
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

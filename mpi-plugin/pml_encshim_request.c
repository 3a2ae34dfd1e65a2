/* SPDX-License-Identifier: MIT */
/*
 * The requests users see, and how they complete.
 *
 * Each user request (outer) owns one request of the wrapped PML (inner)
 * per activation. When the inner completes, its completion callback
 * opens or releases the frame and completes the outer. Three hazards
 * shape this file, each seen on Open MPI 4.1:
 *
 * - Sends that finish at once may return shared, already completed
 *   requests (ompi_request_empty, ucx's completed_send_req): nothing may
 *   be attached to them, so a complete inner is handled on the spot.
 * - Under MPI_THREAD_MULTIPLE another thread can complete the inner
 *   between its creation and our ompi_request_set_callback(), and the
 *   callback is then lost (or, rarely, run twice). Inners are therefore
 *   also put on a watch list that our progress function polls, and
 *   `claimed` makes sure each completion is handled exactly once.
 * - ucx reuses req_complete_cb_data of recycled requests for its own
 *   bookkeeping: the callback clears it before anything else.
 *
 * A user may free an outer that is still active (MPI_Request_free after
 * MPI_Isend; osc pt2pt frees requests inside their callbacks). `life`
 * decides who releases it: the user if it already completed, else the
 * completion path, which parks it in the graveyard until its inner is
 * marked complete too; the graveyard is emptied from progress.
 */
#include "pml_encshim.h"

#include <pthread.h>
#include <sched.h>

#include "ompi/constants.h"
#include "ompi/mca/pml/base/pml_base_bsend.h"
#include "opal/threads/threads.h"

/*
 * ACTIVE: the PML's request is in flight. COMPLETING: ompi_request_complete
 * of the user's request is running. DONE: completed; whoever frees it
 * releases it. ORPHAN: freed by the user before DONE; the completion path
 * releases it (through the graveyard).
 */
enum { LIFE_ACTIVE, LIFE_COMPLETING, LIFE_DONE, LIFE_ORPHAN };

struct req_list {
	pthread_mutex_t lock;
	encshim_request_t *head;
	_Atomic int nonempty;
};

static struct req_list watch = { PTHREAD_MUTEX_INITIALIZER, NULL, 0 };
static struct req_list grave = { PTHREAD_MUTEX_INITIALIZER, NULL, 0 };

static void req_construct(encshim_request_t *r)
{
	r->inner = NULL;
	r->frame = NULL;
	r->frame_cap = 0;
	r->dtype = NULL;
	r->comm = NULL;
	r->ecomm = NULL;
	r->posted = NULL;
	r->staged = false;
	r->unstage = false;
	r->post.bounds = NULL;
	r->post.listed = false;
	r->watch_next = r->grave_next = NULL;
	r->watched = false;
	atomic_init(&r->hold, ENCSHIM_HOLD_NONE);
	atomic_init(&r->claimed, 0);
	atomic_init(&r->life, LIFE_DONE);
}

static void req_destruct(encshim_request_t *r)
{
	if (NULL != r->dtype)
		OBJ_RELEASE(r->dtype);
	if (NULL != r->comm)
		OBJ_RELEASE(r->comm);
}

OBJ_CLASS_INSTANCE(encshim_request_t, ompi_request_t, req_construct,
		   req_destruct);

void encshim_frame_release(encshim_request_t *r)
{
	if (NULL == r->frame)
		return;
	if (ENCSHIM_FRAME_BSEND == r->owner)
		(void)mca_pml_base_bsend_request_free(r->frame);
	else
		encshim_pool_put(r->frame, r->frame_cap);
	r->frame = NULL;
	r->frame_cap = 0;
}

/* ---- watch list (only used when several threads may call MPI) ---- */

static void watch_add(encshim_request_t *r)
{
	pthread_mutex_lock(&watch.lock);
	if (!r->watched) {
		r->watch_next = watch.head;
		watch.head = r;
		r->watched = true;
	}
	atomic_store(&watch.nonempty, 1);
	pthread_mutex_unlock(&watch.lock);
}

static void watch_remove(encshim_request_t *r)
{
	encshim_request_t **pp;

	pthread_mutex_lock(&watch.lock);
	for (pp = &watch.head; r->watched && NULL != *pp;
	     pp = &(*pp)->watch_next) {
		if (*pp == r) {
			*pp = r->watch_next;
			r->watched = false;
			break;
		}
	}
	atomic_store(&watch.nonempty, NULL != watch.head);
	pthread_mutex_unlock(&watch.lock);
}

/* ---- release ---- */

void encshim_request_forget_inner(encshim_request_t *r)
{
	/* A persistent request may be restarted as soon as it is seen
	 * complete: let that completion finish first. */
	while (LIFE_COMPLETING == atomic_load(&r->life))
		sched_yield();
	/* off the watch list: it must never see a stale inner */
	if (r->watched)
		watch_remove(r);
	if (NULL == r->inner)
		return;
	/* The completion path marks the inner complete right after our
	 * callback returns; freeing it earlier would let the PML recycle
	 * it under that write. The window is a few instructions. */
	while (!REQUEST_COMPLETE(r->inner)) {
		opal_atomic_rmb();
		sched_yield();
	}
	(void)ompi_request_free(&r->inner);
	r->inner = NULL;
}

static void release(encshim_request_t *r)
{
	encshim_request_forget_inner(r);
	encshim_frame_release(r);
	OMPI_REQUEST_FINI(&r->super);
	OBJ_RELEASE(r);
}

static void bury(encshim_request_t *r)
{
	pthread_mutex_lock(&grave.lock);
	r->grave_next = grave.head;
	grave.head = r;
	atomic_store(&grave.nonempty, 1);
	pthread_mutex_unlock(&grave.lock);
}

/* Releases the buried requests whose inner has completed. */
static void grave_drain(bool wait)
{
	encshim_request_t *ready = NULL, **pp, *r;

	if (!atomic_load(&grave.nonempty))
		return;
	if (wait)
		pthread_mutex_lock(&grave.lock);
	else if (0 != pthread_mutex_trylock(&grave.lock))
		return;
	for (pp = &grave.head; NULL != (r = *pp);) {
		if (wait || NULL == r->inner || REQUEST_COMPLETE(r->inner)) {
			*pp = r->grave_next;
			r->grave_next = ready;
			ready = r;
		} else {
			pp = &r->grave_next;
		}
	}
	atomic_store(&grave.nonempty, NULL != grave.head);
	pthread_mutex_unlock(&grave.lock);
	while (NULL != (r = ready)) {
		ready = r->grave_next;
		release(r);
	}
}

/* ---- completion ---- */

static bool claim(encshim_request_t *r)
{
	return 0 == atomic_exchange(&r->claimed, 1);
}

/*
 * Completes the user's request. Completing may run a callback that frees
 * it (osc pt2pt does): r stays valid until `life` says who releases it.
 */
static void complete_outer(encshim_request_t *r)
{
	int expected = LIFE_ACTIVE;

	if (!atomic_compare_exchange_strong(&r->life, &expected,
					    LIFE_COMPLETING)) {
		/* freed while active: nobody waits, but callbacks may */
		(void)ompi_request_complete(&r->super, true);
		bury(r);
		return;
	}
	(void)ompi_request_complete(&r->super, true);
	expected = LIFE_COMPLETING;
	if (!atomic_compare_exchange_strong(&r->life, &expected, LIFE_DONE))
		bury(r); /* freed during completion */
}

/* Runs once per activation, after the inner completed. */
static void finish(encshim_request_t *r)
{
	ompi_status_public_t *in = &r->inner->req_status;

	if (ENCSHIM_REQ_SEND == r->kind) {
		r->super.req_status.MPI_ERROR = in->MPI_ERROR;
		r->super.req_status._cancelled = in->_cancelled;
		encshim_frame_release(r);
	} else if (r->unstage) {
		encshim_recv_unstage(r);
	} else {
		bool deferred = false;

		(void)encshim_recv_finish(r, &deferred);
		if (!deferred)
			encshim_request_end(r);
		return; /* else its chunks end it */
	}
	complete_outer(r);
}

void encshim_request_end(encshim_request_t *r)
{
	int held = ENCSHIM_HOLD_FINISHING;

	/* held by the order audit: its release completes r */
	if (atomic_compare_exchange_strong(&r->hold, &held,
					   ENCSHIM_HOLD_WAITING))
		return;
	atomic_store(&r->hold, ENCSHIM_HOLD_NONE);
	complete_outer(r);
}

void encshim_request_release(void *owner)
{
	encshim_request_t *r = owner;
	int finishing = ENCSHIM_HOLD_FINISHING;

	/* still in its own completion path: that completes it */
	if (atomic_compare_exchange_strong(&r->hold, &finishing,
					   ENCSHIM_HOLD_EARLY))
		return;
	atomic_store(&r->hold, ENCSHIM_HOLD_NONE);
	complete_outer(r);
}

static int inner_done(ompi_request_t *inner)
{
	encshim_request_t *r = inner->req_complete_cb_data;

	inner->req_complete_cb_data = NULL; /* pitfall 3: ucx reuses it */
	if (NULL != r && claim(r))
		finish(r);
	return 0;
}

void encshim_request_watch(encshim_request_t *r)
{
	if (REQUEST_COMPLETE(r->inner)) {
		if (claim(r))
			finish(r);
		return;
	}
	if (opal_using_threads())
		watch_add(r);
	(void)ompi_request_set_callback(r->inner, inner_done, r);
}

/* Handles watched inners whose callback was lost to a race, and
 * forgets those whose callback ran. */
static void watch_poll(void)
{
	encshim_request_t *mine = NULL, **pp, *r;

	if (!atomic_load(&watch.nonempty) ||
	    0 != pthread_mutex_trylock(&watch.lock))
		return;
	for (pp = &watch.head; NULL != (r = *pp);) {
		bool ours = false;

		if (!atomic_load(&r->claimed)) {
			if (!REQUEST_COMPLETE(r->inner)) {
				pp = &r->watch_next;
				continue;
			}
			ours = claim(r);
		}
		*pp = r->watch_next;
		r->watched = false;
		if (ours) {
			r->watch_next = mine;
			mine = r;
		}
	}
	atomic_store(&watch.nonempty, NULL != watch.head);
	pthread_mutex_unlock(&watch.lock);
	while (NULL != (r = mine)) {
		mine = r->watch_next;
		finish(r);
	}
}

int encshim_progress(void)
{
	watch_poll();
	encshim_chunk_progress();
	grave_drain(false);
	return 0;
}

void encshim_request_fini(void)
{
	grave_drain(true);
}

/* ---- the outer request's MPI entry points ---- */

static int req_free(ompi_request_t **rptr)
{
	encshim_request_t *r = (encshim_request_t *)*rptr;
	int life = atomic_load(&r->life);

	*rptr = MPI_REQUEST_NULL;
	while (LIFE_DONE != life) {
		/* active or completing: the completion path releases it */
		if (atomic_compare_exchange_weak(&r->life, &life, LIFE_ORPHAN))
			return OMPI_SUCCESS;
	}
	release(r);
	return OMPI_SUCCESS;
}

static int req_cancel(ompi_request_t *req, int complete)
{
	encshim_request_t *r = (encshim_request_t *)req;

	if (NULL == r->inner || NULL == r->inner->req_cancel ||
	    REQUEST_COMPLETE(&r->super))
		return OMPI_SUCCESS;
	return r->inner->req_cancel(r->inner, complete);
}

void encshim_request_rearm(encshim_request_t *r)
{
	r->super.req_complete = REQUEST_PENDING;
	r->super.req_state = OMPI_REQUEST_ACTIVE;
	r->super.req_status.MPI_SOURCE = MPI_ANY_SOURCE;
	r->super.req_status.MPI_TAG = MPI_ANY_TAG;
	r->super.req_status.MPI_ERROR = OMPI_SUCCESS;
	r->super.req_status._cancelled = 0;
	r->super.req_status._ucount = 0;
	atomic_store(&r->claimed, 0);
	atomic_store(&r->life, LIFE_ACTIVE);
}

encshim_request_t *encshim_request_new(enum encshim_req_kind kind,
				       bool persistent, void *buf,
				       size_t count, ompi_datatype_t *dtype,
				       int peer, int tag,
				       mca_pml_base_send_mode_t mode,
				       ompi_communicator_t *comm)
{
	encshim_request_t *r = OBJ_NEW(encshim_request_t);

	if (NULL == r)
		return NULL;
	grave_drain(false);
	OMPI_REQUEST_INIT(&r->super, persistent);
	r->super.req_type = OMPI_REQUEST_PML;
	r->super.req_mpi_object.comm = comm;
	r->super.req_free = req_free;
	r->super.req_cancel = req_cancel;
	r->super.req_start = persistent ? encshim_start_persistent : NULL;
	r->kind = kind;
	r->owner = ENCSHIM_FRAME_POOL;
	r->buf = buf;
	r->count = count;
	r->dtype = dtype;
	OBJ_RETAIN(dtype);
	r->comm = comm;
	OBJ_RETAIN(comm);
	r->peer = peer;
	r->tag = tag;
	r->mode = mode;
	if (!persistent)
		encshim_request_rearm(r);
	return r;
}

/* Drops a request that never reached the PML (set-up failed). */
void encshim_request_drop(encshim_request_t *r)
{
	atomic_store(&r->life, LIFE_DONE);
	release(r);
}

/* Completes an activation that needs no PML request (MPI_PROC_NULL,
 * buffered mode, or a failed start). */
void encshim_request_complete_now(encshim_request_t *r, int err)
{
	r->super.req_status.MPI_ERROR = err;
	if (MPI_PROC_NULL == r->peer) {
		r->super.req_status.MPI_SOURCE = MPI_PROC_NULL;
		r->super.req_status.MPI_TAG = MPI_ANY_TAG;
	}
	atomic_store(&r->claimed, 1);
	complete_outer(r);
}

/* SPDX-License-Identifier: MIT */
/*
 * One mutex per window around every call of the osc module table, so
 * that osc pt2pt, which declines MPI_THREAD_MULTIPLE because concurrent
 * calls on one window break it (open-mpi/ompi#2614), only ever sees one
 * call per window at a time, as under MPI_THREAD_SERIALIZED.
 *
 * The module stays pt2pt's (its code finds its state through
 * win->w_osc_module, also from progress callbacks): only the function
 * pointers at its head are replaced, with the originals kept beside the
 * mutex, as ompi/mca/osc/monitoring does. Each window's state is found
 * by the window's address, which stays valid until the window's free
 * has returned (a module's address could be reused by a window created
 * in another thread before our free had removed it). The mutex is
 * recursive because pt2pt may call back into its own table.
 *
 * The holder of a window's mutex waits inside pt2pt, which keeps driving
 * opal_progress, so the traffic of every window moves on while other
 * threads wait for the mutex. MPI_Win_wait is the exception: it would
 * hold the mutex until other processes complete their access epochs, so
 * it polls MPI_Win_test instead and lets the window's other users in
 * between polls.
 */
#include "osc_encshim.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "ompi/constants.h"
#include "ompi/mca/rte/rte.h"
#include "opal/class/opal_hash_table.h"
#include "opal/threads/mutex.h"

struct serial {
	pthread_mutex_t lock;         /* recursive */
	ompi_osc_base_module_t inner; /* pt2pt's functions */
};

/* window address -> struct serial */
static opal_hash_table_t windows;
static opal_mutex_t windows_lock;

static uint64_t key_of(struct ompi_win_t *win)
{
	return (uint64_t)(uintptr_t)win;
}

static struct serial *serial_enter(struct ompi_win_t *win)
{
	void *s = NULL;

	opal_mutex_lock(&windows_lock);
	(void)opal_hash_table_get_value_uint64(&windows, key_of(win), &s);
	opal_mutex_unlock(&windows_lock);
	if (NULL == s) /* a table of ours on a module we never wrapped */
		ompi_rte_abort(1, "encshim: osc window without its lock");
	(void)pthread_mutex_lock(&((struct serial *)s)->lock);
	return s;
}

static void serial_leave(struct serial *s)
{
	(void)pthread_mutex_unlock(&s->lock);
}

/* static int serial_FN(PARAMS): FN of the inner module under the lock.
 * Every PARAMS list ends with the window, named win. */
#define SERIAL(fn, params, args)                                          \
	static int serial_##fn params                                     \
	{                                                                 \
		struct serial *s = serial_enter(win);                     \
		int rc = s->inner.osc_##fn args;                          \
		serial_leave(s);                                          \
		return rc;                                                \
	}

typedef struct ompi_datatype_t dt_t;
typedef struct ompi_op_t op_t;
typedef struct ompi_request_t req_t;

SERIAL(win_attach, (struct ompi_win_t *win, void *base, size_t len),
       (win, base, len))
SERIAL(win_detach, (struct ompi_win_t *win, const void *base), (win, base))
SERIAL(put,
       (const void *o, int oc, dt_t *odt, int t, ptrdiff_t td, int tc,
	dt_t *tdt, struct ompi_win_t *win),
       (o, oc, odt, t, td, tc, tdt, win))
SERIAL(get,
       (void *o, int oc, dt_t *odt, int t, ptrdiff_t td, int tc, dt_t *tdt,
	struct ompi_win_t *win),
       (o, oc, odt, t, td, tc, tdt, win))
SERIAL(accumulate,
       (const void *o, int oc, dt_t *odt, int t, ptrdiff_t td, int tc,
	dt_t *tdt, op_t *op, struct ompi_win_t *win),
       (o, oc, odt, t, td, tc, tdt, op, win))
SERIAL(compare_and_swap,
       (const void *o, const void *c, void *r, dt_t *dt, int t, ptrdiff_t td,
	struct ompi_win_t *win),
       (o, c, r, dt, t, td, win))
SERIAL(fetch_and_op,
       (const void *o, void *r, dt_t *dt, int t, ptrdiff_t td, op_t *op,
	struct ompi_win_t *win),
       (o, r, dt, t, td, op, win))
SERIAL(get_accumulate,
       (const void *o, int oc, dt_t *odt, void *r, int rc_, dt_t *rdt, int t,
	ptrdiff_t td, int tc, dt_t *tdt, op_t *op, struct ompi_win_t *win),
       (o, oc, odt, r, rc_, rdt, t, td, tc, tdt, op, win))
SERIAL(rput,
       (const void *o, int oc, dt_t *odt, int t, ptrdiff_t td, int tc,
	dt_t *tdt, struct ompi_win_t *win, req_t **req),
       (o, oc, odt, t, td, tc, tdt, win, req))
SERIAL(rget,
       (void *o, int oc, dt_t *odt, int t, ptrdiff_t td, int tc, dt_t *tdt,
	struct ompi_win_t *win, req_t **req),
       (o, oc, odt, t, td, tc, tdt, win, req))
SERIAL(raccumulate,
       (const void *o, int oc, dt_t *odt, int t, ptrdiff_t td, int tc,
	dt_t *tdt, op_t *op, struct ompi_win_t *win, req_t **req),
       (o, oc, odt, t, td, tc, tdt, op, win, req))
SERIAL(rget_accumulate,
       (const void *o, int oc, dt_t *odt, void *r, int rc_, dt_t *rdt, int t,
	ptrdiff_t td, int tc, dt_t *tdt, op_t *op, struct ompi_win_t *win,
	req_t **req),
       (o, oc, odt, r, rc_, rdt, t, td, tc, tdt, op, win, req))
SERIAL(fence, (int assert, struct ompi_win_t *win), (assert, win))
SERIAL(start, (struct ompi_group_t *g, int assert, struct ompi_win_t *win),
       (g, assert, win))
SERIAL(complete, (struct ompi_win_t *win), (win))
SERIAL(post, (struct ompi_group_t *g, int assert, struct ompi_win_t *win),
       (g, assert, win))
SERIAL(test, (struct ompi_win_t *win, int *flag), (win, flag))
SERIAL(lock, (int type, int t, int assert, struct ompi_win_t *win),
       (type, t, assert, win))
SERIAL(unlock, (int t, struct ompi_win_t *win), (t, win))
SERIAL(lock_all, (int assert, struct ompi_win_t *win), (assert, win))
SERIAL(unlock_all, (struct ompi_win_t *win), (win))
SERIAL(sync, (struct ompi_win_t *win), (win))
SERIAL(flush, (int t, struct ompi_win_t *win), (t, win))
SERIAL(flush_all, (struct ompi_win_t *win), (win))
SERIAL(flush_local, (int t, struct ompi_win_t *win), (t, win))
SERIAL(flush_local_all, (struct ompi_win_t *win), (win))

/* MPI_Win_wait as a loop of MPI_Win_test (which drives progress): see
 * the top of the file. */
static int serial_wait(struct ompi_win_t *win)
{
	int flag = 0, rc;

	do
		rc = serial_test(win, &flag);
	while (OMPI_SUCCESS == rc && !flag);
	return rc;
}

/* Collective and the window's last call: the state goes with it. */
static int serial_free(struct ompi_win_t *win)
{
	uint64_t key = key_of(win);
	struct serial *s = serial_enter(win);
	int rc = s->inner.osc_free(win);

	serial_leave(s);
	if (OMPI_SUCCESS != rc)
		return rc;
	opal_mutex_lock(&windows_lock);
	(void)opal_hash_table_remove_value_uint64(&windows, key);
	opal_mutex_unlock(&windows_lock);
	(void)pthread_mutex_destroy(&s->lock);
	free(s);
	return OMPI_SUCCESS;
}

static const ompi_osc_base_module_t serial_table = {
	.osc_win_attach = serial_win_attach,
	.osc_win_detach = serial_win_detach,
	.osc_free = serial_free,
	.osc_put = serial_put,
	.osc_get = serial_get,
	.osc_accumulate = serial_accumulate,
	.osc_compare_and_swap = serial_compare_and_swap,
	.osc_fetch_and_op = serial_fetch_and_op,
	.osc_get_accumulate = serial_get_accumulate,
	.osc_rput = serial_rput,
	.osc_rget = serial_rget,
	.osc_raccumulate = serial_raccumulate,
	.osc_rget_accumulate = serial_rget_accumulate,
	.osc_fence = serial_fence,
	.osc_start = serial_start,
	.osc_complete = serial_complete,
	.osc_post = serial_post,
	.osc_wait = serial_wait,
	.osc_test = serial_test,
	.osc_lock = serial_lock,
	.osc_unlock = serial_unlock,
	.osc_lock_all = serial_lock_all,
	.osc_unlock_all = serial_unlock_all,
	.osc_sync = serial_sync,
	.osc_flush = serial_flush,
	.osc_flush_all = serial_flush_all,
	.osc_flush_local = serial_flush_local,
	.osc_flush_local_all = serial_flush_local_all,
};

/* pt2pt has no shared-memory query; any other NULL entry would mean a
 * module this table does not fit. */
static bool table_complete(const ompi_osc_base_module_t *m)
{
	return m->osc_win_attach && m->osc_win_detach && m->osc_free &&
	       m->osc_put && m->osc_get && m->osc_accumulate &&
	       m->osc_compare_and_swap && m->osc_fetch_and_op &&
	       m->osc_get_accumulate && m->osc_rput && m->osc_rget &&
	       m->osc_raccumulate && m->osc_rget_accumulate && m->osc_fence &&
	       m->osc_start && m->osc_complete && m->osc_post && m->osc_wait &&
	       m->osc_test && m->osc_lock && m->osc_unlock &&
	       m->osc_lock_all && m->osc_unlock_all && m->osc_sync &&
	       m->osc_flush && m->osc_flush_all && m->osc_flush_local &&
	       m->osc_flush_local_all;
}

int encshim_osc_serialise(struct ompi_win_t *win)
{
	ompi_osc_base_module_t *module = win->w_osc_module;
	pthread_mutexattr_t attr;
	struct serial *s;
	int rc;

	if (!table_complete(module))
		return OMPI_ERR_NOT_SUPPORTED;
	s = calloc(1, sizeof(*s));
	if (NULL == s)
		return OMPI_ERR_OUT_OF_RESOURCE;
	s->inner = *module;
	(void)pthread_mutexattr_init(&attr);
	(void)pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	rc = pthread_mutex_init(&s->lock, &attr);
	(void)pthread_mutexattr_destroy(&attr);
	if (0 != rc) {
		free(s);
		return OMPI_ERR_OUT_OF_RESOURCE;
	}
	opal_mutex_lock(&windows_lock);
	rc = opal_hash_table_set_value_uint64(&windows, key_of(win), s);
	opal_mutex_unlock(&windows_lock);
	if (OPAL_SUCCESS != rc) {
		(void)pthread_mutex_destroy(&s->lock);
		free(s);
		return rc;
	}
	*module = serial_table;
	module->osc_win_shared_query = s->inner.osc_win_shared_query;
	return OMPI_SUCCESS;
}

int encshim_osc_serial_init(void)
{
	OBJ_CONSTRUCT(&windows_lock, opal_mutex_t);
	OBJ_CONSTRUCT(&windows, opal_hash_table_t);
	return opal_hash_table_init(&windows, 16);
}

void encshim_osc_serial_fini(void)
{
	OBJ_DESTRUCT(&windows);
	OBJ_DESTRUCT(&windows_lock);
}

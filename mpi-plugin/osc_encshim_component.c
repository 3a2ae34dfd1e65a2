/* SPDX-License-Identifier: MIT */
/*
 * osc/encshim component: pt2pt's windows under MPI_THREAD_MULTIPLE.
 *
 * pt2pt learns the thread level from its init (called by
 * ompi_osc_base_find_available with enable_mpi_threads) and then fails
 * every window it is asked to create under MPI_THREAD_MULTIPLE. When the
 * osc framework opens us (before any init runs), we change two entries
 * of pt2pt's component: its init is told "no MPI threads", which only
 * lifts that refusal, and its query declines under MPI_THREAD_MULTIPLE,
 * so that its windows are only made through our select, which wraps
 * them (osc_encshim_serial.c). Below MPI_THREAD_MULTIPLE we decline and
 * pt2pt or sm is selected as usual. Windows of one node under
 * MPI_THREAD_MULTIPLE still go to sm when it accepts them (priority 100
 * against our 50): sm moves no bytes off the node.
 */
#include "osc_encshim.h"

#include <string.h>

#include "ompi/constants.h"
#include "ompi/mca/osc/base/base.h"
#include "ompi/runtime/mpiruntime.h"
#include "opal/mca/base/mca_base_component_repository.h"
#include "opal/util/output.h"

#define ENCSHIM_OSC_PRIORITY 50 /* above pt2pt (10), below sm (100) */

/* pt2pt's own entries, called through ours. */
static ompi_osc_base_component_init_fn_t pt2pt_init;
static ompi_osc_base_component_query_fn_t pt2pt_query;
static ompi_osc_base_component_select_fn_t pt2pt_select;

static ompi_osc_base_component_t *find_pt2pt(void)
{
	mca_base_component_list_item_t *cli;

	OPAL_LIST_FOREACH (cli, &ompi_osc_base_framework.framework_components,
			   mca_base_component_list_item_t) {
		if (0 == strcmp(cli->cli_component->mca_component_name, "pt2pt"))
			return (ompi_osc_base_component_t *)cli->cli_component;
	}
	return NULL;
}

static int pt2pt_init_serialised(bool enable_progress_threads,
				 bool enable_mpi_threads)
{
	(void)enable_mpi_threads;
	return pt2pt_init(enable_progress_threads, false);
}

static int pt2pt_query_unless_multiple(struct ompi_win_t *win, void **base,
				       size_t size, int disp_unit,
				       struct ompi_communicator_t *comm,
				       struct opal_info_t *info, int flavor)
{
	if (ompi_mpi_thread_multiple)
		return -1; /* only through component_select below */
	return pt2pt_query(win, base, size, disp_unit, comm, info, flavor);
}

static int component_open(void)
{
	ompi_osc_base_component_t *p = find_pt2pt();

	if (NULL == p || pt2pt_init_serialised == p->osc_init)
		return OMPI_SUCCESS;
	/* pt2pt's component now points into our .so: never unload it. */
	if (OPAL_SUCCESS != mca_base_component_repository_retain_component(
				    "osc", ENCSHIM_OSC_NAME))
		return OMPI_ERROR;
	pt2pt_init = p->osc_init;
	pt2pt_query = p->osc_query;
	pt2pt_select = p->osc_select;
	p->osc_init = pt2pt_init_serialised;
	p->osc_query = pt2pt_query_unless_multiple;
	return OMPI_SUCCESS;
}

static int component_init(bool enable_progress_threads,
			  bool enable_mpi_threads)
{
	(void)enable_progress_threads;
	(void)enable_mpi_threads;
	return encshim_osc_serial_init();
}

static int component_finalize(void)
{
	encshim_osc_serial_fini();
	return OMPI_SUCCESS;
}

static int component_query(struct ompi_win_t *win, void **base, size_t size,
			   int disp_unit, struct ompi_communicator_t *comm,
			   struct opal_info_t *info, int flavor)
{
	static bool told;

	(void)win, (void)base, (void)size, (void)disp_unit, (void)comm;
	(void)info;
	if (!ompi_mpi_thread_multiple || MPI_WIN_FLAVOR_SHARED == flavor)
		return -1;
	if (NULL != pt2pt_select && NULL != find_pt2pt())
		return ENCSHIM_OSC_PRIORITY;
	if (!told)
		opal_output(0, "encshim: windows under MPI_THREAD_MULTIPLE go "
			       "through osc pt2pt, which is not loaded: add "
			       "pt2pt to the osc list (--mca osc "
			       "encshim,sm,pt2pt, as encshim mpirun sets)");
	told = true;
	return -1;
}

static int component_select(struct ompi_win_t *win, void **base, size_t size,
			    int disp_unit, struct ompi_communicator_t *comm,
			    struct opal_info_t *info, int flavor, int *model)
{
	int rc = pt2pt_select(win, base, size, disp_unit, comm, info, flavor,
			      model);

	if (OMPI_SUCCESS != rc)
		return rc;
	rc = encshim_osc_serialise(win);
	if (OMPI_SUCCESS != rc)
		(void)win->w_osc_module->osc_free(win);
	return rc;
}

ompi_osc_base_component_t mca_osc_encshim_component = {
	.osc_version = {
		OMPI_OSC_BASE_VERSION_3_0_0,
		.mca_component_name = ENCSHIM_OSC_NAME,
		MCA_BASE_MAKE_VERSION(component, 0, 1, 0),
		.mca_open_component = component_open,
	},
	.osc_data = { MCA_BASE_METADATA_PARAM_NONE },
	.osc_init = component_init,
	.osc_query = component_query,
	.osc_select = component_select,
	.osc_finalize = component_finalize,
};

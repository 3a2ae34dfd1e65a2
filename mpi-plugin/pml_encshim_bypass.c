/* SPDX-License-Identifier: MIT */
/*
 * Components that move message data without calling the PML would carry
 * it unsealed: coll sm and coll han's sm sub-modules (shared memory
 * collectives), coll hcoll and coll portals4 (their own transports), osc
 * rdma, osc ucx and osc portals4 (one-sided through BTL RDMA, UCX or
 * Portals). Those not installed have no parameter and are skipped.
 * By the time the PML is selected the coll and osc frameworks are open
 * and their parameters registered, and none of them has run yet. A
 * component left at its default is switched off (priority -1: never
 * queried); one the user asked for ends the job, naming the parameter,
 * because silently overriding an explicit setting would surprise more
 * than a clear refusal.
 */
#include "pml_encshim.h"

#include "ompi/constants.h"
#include "ompi/mca/rte/rte.h"
#include "opal/mca/base/mca_base_var.h"

struct bypass {
	const char *framework, *component, *param;
};

/* Priority parameters of components that bypass the PML. */
static const struct bypass bypass_priorities[] = {
	{ "coll", "sm", "priority" },
	{ "coll", "han", "priority" },
	{ "coll", "hcoll", "priority" },
	{ "coll", "portals4", "priority" },
	{ "osc", "rdma", "priority" },
	{ "osc", "ucx", "priority" },
	{ "osc", "portals4", "priority" },
};

static void refuse(const struct bypass *b)
{
	encshim_log("refusing to run: --mca %s_%s_%s was set, and %s/%s moves "
		    "data without the PML, so it would go unencrypted. Remove "
		    "that setting (encshim turns %s/%s off by itself).",
		    b->framework, b->component, b->param, b->framework,
		    b->component, b->framework, b->component);
	ompi_rte_abort(1, "encshim: a component that bypasses encryption was "
			  "requested (see the line above)");
}

static void guard_one(const struct bypass *b)
{
	int idx = mca_base_var_find("ompi", b->framework, b->component,
				    b->param);
	mca_base_var_source_t source;
	const int *value = NULL;

	if (idx < 0)
		return; /* component not opened: cannot be selected */
	if (OPAL_SUCCESS != mca_base_var_get_value(idx, &value, &source,
						   NULL) ||
	    NULL == value)
		refuse(b);
	if (MCA_BASE_VAR_SOURCE_DEFAULT != source && *value >= 0)
		refuse(b);
	/* These variables are registered read-only, so set_value refuses
	 * them; the component reads this storage when it is queried. */
	*(int *)value = -1;
}

void encshim_bypass_guard(void)
{
	size_t i;

	for (i = 0; i < sizeof(bypass_priorities) / sizeof(*bypass_priorities);
	     i++)
		guard_one(&bypass_priorities[i]);
}

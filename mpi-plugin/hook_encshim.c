/* SPDX-License-Identifier: MIT */
/*
 * hook/encshim: the fail-closed check at the end of MPI_Init.
 *
 * pml/encshim can only protect traffic if Open MPI opens it. A user who
 * names a PML (--mca pml ob1, OMPI_MCA_pml=ucx) restricts the PML
 * framework to that list, the wrapper is never loaded, and messages
 * would go out in clear. The hook framework is opened for every MPI
 * process regardless, so this component checks, before MPI_Init returns
 * and before the application can send anything, that the wrapper is in
 * place whenever pml_encshim_enable asks for encryption.
 *
 * Open MPI's pml/monitoring (pml_monitoring_enable) wraps the selected
 * PML the way pml/encshim does; when both are on, they nest in the order
 * the framework closes them, and the selected component may then be
 * monitoring with encshim inside it. That is accepted when the PML that
 * monitoring saved and forwards every call to is encshim.
 */
#include "ompi_config.h"

#include <dlfcn.h>
#include <string.h>

#include "ompi/constants.h"
#include "ompi/mca/hook/hook.h"
#include "ompi/mca/pml/base/base.h"
#include "ompi/mca/rte/rte.h"
#include "opal/mca/base/mca_base_var.h"

OMPI_MODULE_DECLSPEC extern const ompi_hook_base_component_1_0_0_t
	mca_hook_encshim_component;

static bool hook_enable;

/* The value of pml_encshim_enable, whether or not pml/encshim was opened
 * (if it was not, the variable is registered here, which reads the same
 * command line, environment and parameter files). */
static bool encryption_required(void)
{
	int idx = mca_base_var_find("ompi", "pml", "encshim", "enable");
	const bool *value = NULL;

	if (idx < 0)
		idx = mca_base_var_register(
			"ompi", "pml", "encshim", "enable",
			"Seal every MPI message with AES-256-GCM (see pml "
			"encshim)",
			MCA_BASE_VAR_TYPE_BOOL, NULL, 0, 0, OPAL_INFO_LVL_1,
			MCA_BASE_VAR_SCOPE_READONLY, &hook_enable);
	if (idx < 0 ||
	    OPAL_SUCCESS != mca_base_var_get_value(idx, &value, NULL, NULL))
		return true; /* cannot tell: assume it was asked for */
	return *value;
}

/* The PML that pml/monitoring forwards to, or NULL if it cannot be told:
 * monitoring (4.1) keeps it in its global pml_selected_component, and
 * Open MPI loads components into the global symbol namespace. */
static const char *monitored_pml(void)
{
	const mca_pml_base_component_t *inner =
		dlsym(RTLD_DEFAULT, "pml_selected_component");

	return NULL != inner ? inner->pmlm_version.mca_component_name : NULL;
}

/* The PML list that was set (--mca pml, OMPI_MCA_pml, a parameter
 * file), or NULL if none restricts the PMLs to a list: Open MPI's
 * default, or an exclusion list such as Debian's "^ucx". */
static const char *user_pml_list(void)
{
	int idx = mca_base_var_find("ompi", "pml", NULL, NULL);
	mca_base_var_source_t source;
	char *const *value = NULL;

	if (idx < 0 ||
	    OPAL_SUCCESS != mca_base_var_get_value(idx, &value, &source,
						   NULL) ||
	    NULL == value || NULL == *value || '^' == (*value)[0] ||
	    MCA_BASE_VAR_SOURCE_DEFAULT == source)
		return NULL;
	return *value;
}

static void refuse_monitoring(const char *inner)
{
	ompi_rte_abort(
		1,
		"encshim: refusing to run unencrypted: pml_encshim_enable=1 but "
		"pml/monitoring (pml_monitoring_enable) forwards to the PML "
		"'%s', not to the encshim wrapper. Check that "
		"mca_component_path includes the encshim component directory "
		"and that no PML list (--mca pml, OMPI_MCA_pml) leaves encshim "
		"out; or run without pml_monitoring_enable (encshim counts "
		"messages itself: --mca pml_encshim_verbose 1).",
		NULL != inner ? inner : "(unknown)");
}

static void check_pml(int argc, char **argv, int requested, int *provided)
{
	const char *pml = mca_pml_base_selected_component.pmlm_version
				  .mca_component_name;
	const char *list;

	if (!encryption_required() || 0 == strcmp(pml, "encshim"))
		return;
	if (0 == strcmp(pml, "monitoring")) {
		const char *inner = monitored_pml();

		if (NULL != inner && 0 == strcmp(inner, "encshim"))
			return;
		refuse_monitoring(inner);
	}
	list = user_pml_list();
	if (NULL != list)
		ompi_rte_abort(
			1,
			"encshim: refusing to run unencrypted: "
			"pml_encshim_enable=1 but the PML '%s' runs without the "
			"encshim wrapper. The PML list '%s' (--mca pml, or "
			"OMPI_MCA_pml) keeps pml/encshim from loading: remove "
			"that setting (encshim wraps whichever PML Open MPI "
			"picks), or add encshim to the list (--mca pml "
			"%s,encshim).",
			pml, list, list);
	ompi_rte_abort(
		1,
		"encshim: refusing to run unencrypted: pml_encshim_enable=1 but "
		"the PML '%s' runs without the encshim wrapper, and no PML list "
		"was set: pml/encshim was not loaded. Check that "
		"mca_component_path includes the encshim component directory "
		"on every node.",
		pml);
}

const ompi_hook_base_component_1_0_0_t mca_hook_encshim_component = {
	.hookm_version = {
		OMPI_HOOK_BASE_VERSION_1_0_0,
		.mca_component_name = "encshim",
		MCA_BASE_MAKE_VERSION(component, 0, 1, 0),
	},
	.hookm_data = { MCA_BASE_METADATA_PARAM_NONE },
	.hookm_mpi_init_bottom = check_pml,
};

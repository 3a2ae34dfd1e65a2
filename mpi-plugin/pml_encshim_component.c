/* SPDX-License-Identifier: MIT */
/*
 * Component life cycle: parameters, counters, and the interposition.
 *
 * Open MPI selects one PML by priority. This component takes part with a
 * priority that never wins; after the winner is chosen the framework
 * closes the losers, and our close is where we slip in: keep our .so
 * loaded, save the winner, put our function table in mca_pml. At
 * MPI_Finalize the framework calls our finalize (we replaced the
 * selected component) and we hand control back to the winner.
 */
#include "pml_encshim.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ompi/constants.h"
#include "ompi/mca/pml/base/base.h"
#include "ompi/mca/rte/rte.h"
#include "opal/mca/base/mca_base_component_repository.h"
#include "opal/mca/base/mca_base_pvar.h"
#include "opal/runtime/opal_progress.h"

struct encshim_params encshim_param = {
	.enable = false,
	.verbose = 0,
	.backend = NULL,
	.pool_max = (size_t)1 << 30,
	.chunk_bytes = (size_t)1 << 20,
	.chunk_threshold = 0, /* off: see docs/MPI.md, "Cost" */
	.chunk_window = 0,
	.local = NULL,
	.local_dir = NULL,
};
struct encshim_counters encshim_stats;
mca_pml_base_module_t encshim_inner;
static mca_pml_base_component_2_0_0_t inner_component;
static bool initialized, installed;

static mca_pml_base_module_t encshim_module = {
	.pml_add_procs = encshim_add_procs,
	.pml_del_procs = encshim_del_procs,
	.pml_enable = encshim_enable,
	.pml_progress = NULL, /* the inner one is copied in at install */
	.pml_add_comm = encshim_add_comm,
	.pml_del_comm = encshim_del_comm,
	.pml_irecv_init = encshim_irecv_init,
	.pml_irecv = encshim_irecv,
	.pml_recv = encshim_recv,
	.pml_isend_init = encshim_isend_init,
	.pml_isend = encshim_isend,
	.pml_send = encshim_send,
	.pml_iprobe = encshim_iprobe,
	.pml_probe = encshim_probe,
	.pml_start = encshim_start,
	.pml_improbe = encshim_improbe,
	.pml_mprobe = encshim_mprobe,
	.pml_imrecv = encshim_imrecv,
	.pml_mrecv = encshim_mrecv,
	.pml_dump = encshim_dump,
	.pml_ft_event = NULL,
	.pml_max_contextid = 0,
	.pml_max_tag = 0,
	.pml_flags = 0,
};

void encshim_log(const char *fmt, ...)
{
	char line[1024];
	int n = snprintf(line, sizeof(line), "encshim: rank %u: ",
			 (unsigned)encshim_my_vpid());
	va_list ap;

	va_start(ap, fmt);
	if (n > 0 && (size_t)n < sizeof(line))
		n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line) - 1)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	/* One write so that lines of concurrent ranks do not interleave. */
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return;
}

/* ---- MPI_T performance variables ---- */

static int read_counter(const struct mca_base_pvar_t *pvar, void *value,
			void *obj)
{
	const _Atomic unsigned long long *c = pvar->ctx;

	*(unsigned long long *)value = atomic_load(c);
	return OMPI_SUCCESS;
}

static void register_pvar(const char *name, const char *desc,
			  _Atomic unsigned long long *c)
{
	(void)mca_base_component_pvar_register(
		&mca_pml_encshim_component.pmlm_version, name, desc,
		OPAL_INFO_LVL_4, MCA_BASE_PVAR_CLASS_COUNTER,
		MCA_BASE_VAR_TYPE_UNSIGNED_LONG_LONG, NULL,
		MCA_BASE_VAR_BIND_NO_OBJECT,
		MCA_BASE_PVAR_FLAG_READONLY | MCA_BASE_PVAR_FLAG_CONTINUOUS,
		read_counter, NULL, NULL, (void *)c);
}

/* ---- parameters ---- */

static void register_param(const char *name, const char *desc,
			   mca_base_var_type_t type, int level, void *storage)
{
	(void)mca_base_component_var_register(
		&mca_pml_encshim_component.pmlm_version, name, desc, type, NULL,
		0, 0, level, MCA_BASE_VAR_SCOPE_READONLY, storage);
}

int encshim_register_vars(void)
{
	register_param("enable",
		       "Seal every MPI message with AES-256-GCM (1) or stay out "
		       "of the way (0). When 1, MPI_Init aborts instead of "
		       "running unencrypted (set by 'encshim mpirun')",
		       MCA_BASE_VAR_TYPE_BOOL, OPAL_INFO_LVL_1,
		       &encshim_param.enable);
	register_param("verbose",
		       "1: print one line of counters per rank at MPI_Finalize; "
		       "2: also the job id each rank binds its keys to",
		       MCA_BASE_VAR_TYPE_INT, OPAL_INFO_LVL_2,
		       &encshim_param.verbose);
	register_param("backend",
		       "AES-256-GCM implementation: auto, ipsecmb, openssl or sodium "
		       "(default: $ENCSHIM_BACKEND, else auto)",
		       MCA_BASE_VAR_TYPE_STRING, OPAL_INFO_LVL_5,
		       &encshim_param.backend);
	register_param("pool_max_bytes",
		       "Bytes of staging buffers kept for reuse (so that the "
		       "registration caches of ob1/ucx keep hitting)",
		       MCA_BASE_VAR_TYPE_SIZE_T, OPAL_INFO_LVL_5,
		       &encshim_param.pool_max);
	register_param("chunk_bytes",
		       "Plaintext bytes per chunk frame of a chunked message "
		       "(clamped to 4 KiB-64 MiB); the sender seals chunk k+1 "
		       "while the PML moves chunk k and the receiver opens each "
		       "chunk as it lands",
		       MCA_BASE_VAR_TYPE_SIZE_T, OPAL_INFO_LVL_5,
		       &encshim_param.chunk_bytes);
	register_param("chunk_threshold",
		       "Collective messages longer than this many bytes travel "
		       "as chunk frames (0: never, the default: no setting was "
		       "faster on the 2-core machine measured; point-to-point "
		       "messages of the application are always one frame)",
		       MCA_BASE_VAR_TYPE_SIZE_T, OPAL_INFO_LVL_5,
		       &encshim_param.chunk_threshold);
	register_param("chunk_window",
		       "Frames of one chunked message a sender keeps in flight "
		       "(head included; 0: all); the next chunk is sealed and "
		       "handed to the PML from progress when one completes",
		       MCA_BASE_VAR_TYPE_UNSIGNED_INT, OPAL_INFO_LVL_5,
		       &encshim_param.chunk_window);
	register_param("local",
		       "seal (default): every message is sealed. clear: messages "
		       "between two ranks of one node travel as plaintext "
		       "through the wrapped PML, if Open MPI places the peer on "
		       "this node, its token file is in pml_encshim_local_dir "
		       "(launcher data alone never suffices) AND pml ob1 reaches "
		       "it through btl vader only; everything else stays "
		       "sealed (docs/PROTOCOL.md sections 1 and 11)",
		       MCA_BASE_VAR_TYPE_STRING, OPAL_INFO_LVL_3,
		       &encshim_param.local);
	register_param("local_dir",
		       "Node-local tmpfs where pml_encshim_local clear keeps each "
		       "rank's token file (mode 0600, removed at MPI_Finalize); "
		       "default /dev/shm. Not a tmpfs: every message is sealed",
		       MCA_BASE_VAR_TYPE_STRING, OPAL_INFO_LVL_5,
		       &encshim_param.local_dir);

	register_pvar("messages_sealed", "Messages sealed by this process",
		      &encshim_stats.sealed_msgs);
	register_pvar("bytes_sealed", "Plaintext bytes sealed by this process",
		      &encshim_stats.sealed_bytes);
	register_pvar("messages_opened",
		      "Messages authenticated and delivered by this process",
		      &encshim_stats.opened_msgs);
	register_pvar("bytes_opened",
		      "Plaintext bytes authenticated and delivered",
		      &encshim_stats.opened_bytes);
	register_pvar("auth_failures",
		      "Frames refused: forged, tampered, replayed, out of "
		      "MPI order, dropped or malformed",
		      &encshim_stats.auth_failures);
	register_pvar("messages_chunked_sent",
		      "Messages sealed as chunk frames (pml_encshim_chunk_threshold)",
		      &encshim_stats.chunked_sent);
	register_pvar("messages_chunked_received",
		      "Chunked messages authenticated and delivered",
		      &encshim_stats.chunked_received);
	register_pvar("messages_clear_sent",
		      "Messages sent as local-clear frames (pml_encshim_local "
		      "clear, peer on this node)",
		      &encshim_stats.clear_sent_msgs);
	register_pvar("bytes_clear_sent", "Plaintext bytes sent as local-clear "
		      "frames", &encshim_stats.clear_sent_bytes);
	register_pvar("messages_clear_received",
		      "Local-clear frames checked (token, order) and delivered",
		      &encshim_stats.clear_received_msgs);
	register_pvar("bytes_clear_received",
		      "Plaintext bytes delivered from local-clear frames",
		      &encshim_stats.clear_received_bytes);
	return OMPI_SUCCESS;
}

/* ---- selection ---- */

static mca_pml_base_module_t *component_init(int *priority,
					     bool enable_progress_threads,
					     bool enable_mpi_threads)
{
	int rc;

	if (!encshim_param.enable)
		return NULL;
	/* Key problems end the job here: carrying on unencrypted would be
	 * the silent alternative. */
	rc = encshim_keys_init();
	if (OMPI_SUCCESS != rc)
		ompi_rte_abort(1, "encshim: cannot start encrypted MPI (see the "
				  "line above); the job is stopped");
	*priority = -1; /* never the winner: we wrap the winner */
	initialized = true;
	return &encshim_module;
}

/* Copies the winner into encshim_inner and installs our table. */
const char *encshim_inner_name(void)
{
	return inner_component.pmlm_version.mca_component_name;
}

static int encshim_install(void)
{
	if (0 == strcmp(mca_pml_base_selected_component.pmlm_version
				.mca_component_name, ENCSHIM_PML_NAME))
		ompi_rte_abort(1, "encshim: no PML to wrap was selected");
	if (OPAL_SUCCESS != mca_base_component_repository_retain_component(
				    "pml", ENCSHIM_PML_NAME))
		ompi_rte_abort(1, "encshim: cannot keep pml/encshim loaded");

	encshim_bypass_guard();

	inner_component = mca_pml_base_selected_component;
	encshim_inner = mca_pml;
	encshim_module.pml_progress = encshim_inner.pml_progress;
	encshim_module.pml_max_contextid = encshim_inner.pml_max_contextid;
	/* Tags are bound into the frame, so the whole range stays usable. */
	encshim_module.pml_max_tag = encshim_inner.pml_max_tag;
	encshim_module.pml_flags = encshim_inner.pml_flags;
	mca_pml_base_selected_component = mca_pml_encshim_component;
	mca_pml = encshim_module;
	(void)opal_progress_register(encshim_progress);
	installed = true;
	return OMPI_SUCCESS;
}

/*
 * Without an explicit pml list, Open MPI only tries the PMLs named in
 * mca_pml_base_pml (ob1, ucx, cm): add ourselves so that our init runs.
 */
static int component_open(void)
{
	if (encshim_param.enable)
		opal_pointer_array_add(&mca_pml_base_pml, strdup(ENCSHIM_PML_NAME));
	return OMPI_SUCCESS;
}

/* Runs for the losers after selection (us included): install then. If
 * our init never ran, the hook component stops the job at MPI_Init. */
static int component_close(void)
{
	if (!initialized || installed)
		return OMPI_SUCCESS;
	return encshim_install();
}

static void print_summary(void)
{
	encshim_log("sealed %llu msgs %llu bytes, opened %llu msgs %llu "
		    "bytes, auth failures %llu, chunked sent %llu received "
		    "%llu, clear sent %llu msgs %llu bytes, clear received %llu "
		    "msgs %llu bytes, local-clear peers %llu",
		    atomic_load(&encshim_stats.sealed_msgs),
		    atomic_load(&encshim_stats.sealed_bytes),
		    atomic_load(&encshim_stats.opened_msgs),
		    atomic_load(&encshim_stats.opened_bytes),
		    atomic_load(&encshim_stats.auth_failures),
		    atomic_load(&encshim_stats.chunked_sent),
		    atomic_load(&encshim_stats.chunked_received),
		    atomic_load(&encshim_stats.clear_sent_msgs),
		    atomic_load(&encshim_stats.clear_sent_bytes),
		    atomic_load(&encshim_stats.clear_received_msgs),
		    atomic_load(&encshim_stats.clear_received_bytes),
		    atomic_load(&encshim_stats.clear_peers));
}

/* Called once as a loser during selection (nothing to do yet) and once
 * at MPI_Finalize through mca_pml_base_selected_component. */
static int component_finalize(void)
{
	if (!installed)
		return OMPI_SUCCESS;
	if (encshim_param.verbose > 0)
		print_summary();
	(void)opal_progress_unregister(encshim_progress);
	encshim_request_fini();
	mca_pml_base_selected_component = inner_component;
	mca_pml = encshim_inner;
	installed = false;
	encshim_keys_fini();
	encshim_comms_fini();
	encshim_pool_fini();
	if (NULL != inner_component.pmlm_finalize)
		return inner_component.pmlm_finalize();
	return OMPI_SUCCESS;
}

mca_pml_base_component_2_0_0_t mca_pml_encshim_component = {
	.pmlm_version = {
		MCA_PML_BASE_VERSION_2_0_0,
		.mca_component_name = ENCSHIM_PML_NAME,
		MCA_BASE_MAKE_VERSION(component, 0, 1, 0),
		.mca_open_component = component_open,
		.mca_close_component = component_close,
		.mca_register_component_params = encshim_register_vars,
	},
	.pmlm_data = { MCA_BASE_METADATA_PARAM_NONE },
	.pmlm_init = component_init,
	.pmlm_finalize = component_finalize,
};

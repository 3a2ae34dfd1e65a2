/* SPDX-License-Identifier: MIT */
/* Management calls carry no message data: passed to the wrapped PML. */
#include "pml_encshim.h"

/* Runs after the modex fence of MPI_Init, before any message. */
int encshim_add_procs(struct ompi_proc_t **procs, size_t nprocs)
{
	int rc = encshim_keys_bind_job();

	if (OMPI_SUCCESS != rc)
		return rc;
	return encshim_inner.pml_add_procs(procs, nprocs);
}

int encshim_del_procs(struct ompi_proc_t **procs, size_t nprocs)
{
	return encshim_inner.pml_del_procs(procs, nprocs);
}

int encshim_enable(bool enable)
{
	if (enable)
		(void)encshim_register_vars();
	return encshim_inner.pml_enable(enable);
}

int encshim_add_comm(ompi_communicator_t *comm)
{
	return encshim_inner.pml_add_comm(comm);
}

int encshim_del_comm(ompi_communicator_t *comm)
{
	return encshim_inner.pml_del_comm(comm);
}

int encshim_dump(ompi_communicator_t *comm, int verbose)
{
	return encshim_inner.pml_dump(comm, verbose);
}

/* SPDX-License-Identifier: MIT */
/*
 * The job identifier J (docs/PROTOCOL.md section 11). Open MPI's jobid
 * is 16 bits of a hash of the host name and mpirun's pid plus a
 * counter: two launches can share it (pid namespaces, pid reuse), and
 * with one secret per user their ranks would derive keys for each
 * other. So J = BE32(jobid) || N, where N is ENCSHIM_MPI_NONCE_BYTES
 * random bytes that rank 0 of MPI_COMM_WORLD draws at MPI_Init and
 * publishes in the modex; every rank reads it after the modex fence,
 * before its first session is derived.
 */
#include "pml_encshim.h"

#include <stdlib.h>
#include <string.h>

#include "ompi/mca/rte/rte.h"
#include "opal/mca/pmix/pmix.h"

#include <sodium.h>

#define NONCE_KEY "pml.encshim.job_nonce"

int encshim_job_publish(void)
{
	uint8_t nonce[ENCSHIM_MPI_NONCE_BYTES];
	int rc;

	if (0 != OMPI_PROC_MY_NAME->vpid)
		return OMPI_SUCCESS;
	randombytes_buf(nonce, sizeof(nonce));
	OPAL_MODEX_SEND_STRING(rc, OPAL_PMIX_GLOBAL, NONCE_KEY, nonce,
			       sizeof(nonce));
	if (OPAL_SUCCESS != rc)
		encshim_log("cannot publish the job nonce in the modex (%d)", rc);
	return OPAL_SUCCESS == rc ? OMPI_SUCCESS : OMPI_ERROR;
}

int encshim_job_id(uint8_t job[ENCSHIM_MPI_JOB_BYTES])
{
	opal_process_name_t rank0 = *OMPI_PROC_MY_NAME;
	uint8_t *nonce = NULL;
	size_t size = 0;
	uint32_t jobid = OMPI_PROC_MY_NAME->jobid;
	int rc;

	rank0.vpid = 0;
	OPAL_MODEX_RECV_STRING(rc, NONCE_KEY, &rank0, (void **)&nonce, &size);
	if (OPAL_SUCCESS != rc || NULL == nonce ||
	    ENCSHIM_MPI_NONCE_BYTES != size) {
		encshim_log("rank 0 published no job nonce: it runs without "
			    "this version of encshim (start every rank with "
			    "'encshim mpirun' and the same encshim install)");
		free(nonce);
		return OMPI_ERROR;
	}
	job[0] = (uint8_t)(jobid >> 24);
	job[1] = (uint8_t)(jobid >> 16);
	job[2] = (uint8_t)(jobid >> 8);
	job[3] = (uint8_t)jobid;
	memcpy(job + 4, nonce, ENCSHIM_MPI_NONCE_BYTES);
	free(nonce);
	return OMPI_SUCCESS;
}

/* SPDX-License-Identifier: MIT */
/*
 * Reads encshim's MPI_T counters around a known exchange: 10 messages
 * of 1000 bytes each way between ranks 0 and 1. Prints "pvars: ok".
 * "pvars clear" (under pml_encshim_local clear, one node): the bytes go
 * as local-clear frames, none sealed.
 */
#include <mpi.h>
#include <stdio.h>
#include <string.h>

/* Counter handles report what was counted since they were allocated. */
static MPI_T_pvar_handle counter(MPI_T_pvar_session s, const char *name)
{
	MPI_T_pvar_handle h = MPI_T_PVAR_HANDLE_NULL;
	int idx, count;

	if (MPI_SUCCESS != MPI_T_pvar_get_index(name, MPI_T_PVAR_CLASS_COUNTER,
						&idx) ||
	    MPI_SUCCESS != MPI_T_pvar_handle_alloc(s, idx, NULL, &h, &count))
		fprintf(stderr, "pvars: %s not found\n", name);
	return h;
}

static unsigned long long value(MPI_T_pvar_session s, MPI_T_pvar_handle h)
{
	unsigned long long v = ~0ULL;

	if (MPI_T_PVAR_HANDLE_NULL != h)
		MPI_T_pvar_read(s, h, &v);
	return v;
}

int main(int argc, char **argv)
{
	char buf[1000];
	int rank, provided, ok = 1, all;
	unsigned long long sealed, opened, failed, csent = 0, crecv = 0;
	unsigned long long want_sealed = 10000, want_clear = 0;
	MPI_T_pvar_handle hs, ho, hf, hcs = MPI_T_PVAR_HANDLE_NULL, hcr = MPI_T_PVAR_HANDLE_NULL;
	MPI_T_pvar_session s;

	MPI_T_init_thread(MPI_THREAD_SINGLE, &provided);
	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_T_pvar_session_create(&s);
	memset(buf, rank, sizeof(buf));
	MPI_Barrier(MPI_COMM_WORLD);
	hs = counter(s, "pml_encshim_bytes_sealed");
	ho = counter(s, "pml_encshim_bytes_opened");
	hf = counter(s, "pml_encshim_auth_failures");
	if (argc > 1 && !strcmp(argv[1], "clear")) {
		hcs = counter(s, "pml_encshim_bytes_clear_sent");
		hcr = counter(s, "pml_encshim_bytes_clear_received");
		want_sealed = 0;
		want_clear = 10000;
	}
	for (int i = 0; i < 10 && rank < 2; i++)
		MPI_Sendrecv_replace(buf, sizeof(buf), MPI_BYTE, 1 - rank, 3,
				     1 - rank, 3, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
	sealed = value(s, hs);
	opened = value(s, ho);
	failed = value(s, hf);
	if (want_clear) {
		csent = value(s, hcs);
		crecv = value(s, hcr);
	}
	if (rank < 2 && (sealed != want_sealed || opened != want_sealed ||
			 failed != 0 || csent != want_clear ||
			 crecv != want_clear)) {
		fprintf(stderr, "pvars: rank %d: sealed %llu opened %llu "
			"failures %llu clear sent %llu received %llu\n", rank,
			sealed, opened, failed, csent, crecv);
		ok = 0;
	}
	MPI_T_pvar_session_free(&s);
	MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
	if (rank == 0)
		printf(all ? "pvars: ok\n" : "pvars: FAILED\n");
	/* MPI_T_finalize after MPI_Finalize crashes Open MPI 4.1.4 (in
	 * btl tcp's close), with or without encshim. */
	MPI_T_finalize();
	MPI_Finalize();
	return all ? 0 : 1;
}

/* SPDX-License-Identifier: MIT */
/*
 * Memory per peer contacted (review item 9). Each rank first exchanges
 * with nobody but its neighbours (warm-up: pools, first communicator
 * state), then sends one small message to every other rank and receives
 * one from each. It prints the heap bytes (mallinfo2: malloc'd and still
 * in use) and resident bytes that the second phase added, per peer
 * contacted, as rank 0 saw them. Run once with and once without encshim:
 * the difference is encshim's share. Usage: peermem; prints
 * "peermem: peers P heap_per_peer H rss_per_peer R".
 */
#include <malloc.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long rss_bytes(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmRSS:", 6))
			kb = atol(line + 6);
	if (f)
		fclose(f);
	return kb * 1024;
}

static void exchange(int rank, int size, int dist)
{
	char out = 1, *in = calloc((size_t)size, 1);
	MPI_Request *rq = calloc(2 * (size_t)size, sizeof(*rq));
	int n = 0;

	for (int p = 0; p < size; p++) {
		int d = (p - rank + size) % size;

		if (p == rank || (dist && d != 1 && d != size - 1))
			continue;
		MPI_Irecv(&in[p], 1, MPI_CHAR, p, 3, MPI_COMM_WORLD, &rq[n++]);
		MPI_Isend(&out, 1, MPI_CHAR, p, 3, MPI_COMM_WORLD, &rq[n++]);
	}
	MPI_Waitall(n, rq, MPI_STATUSES_IGNORE);
	free(rq);
	free(in);
}

int main(int argc, char **argv)
{
	int rank, size;
	size_t heap0;
	long rss0;

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	exchange(rank, size, 1); /* neighbours only; no collective: it would
				  * touch other peers */
	heap0 = mallinfo2().uordblks;
	rss0 = rss_bytes();
	exchange(rank, size, 0); /* everybody */
	if (rank == 0) {
		int peers = size - 3; /* new in phase 2 */
		long heap = (long)mallinfo2().uordblks - (long)heap0;

		printf("peermem: peers %d heap_per_peer %ld rss_per_peer %ld\n",
		       peers, peers > 0 ? heap / peers : 0,
		       peers > 0 ? (rss_bytes() - rss0) / peers : 0);
	}
	MPI_Barrier(MPI_COMM_WORLD);
	MPI_Finalize();
	return 0;
}

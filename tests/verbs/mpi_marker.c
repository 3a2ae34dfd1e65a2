/* SPDX-License-Identifier: MIT */
/*
 * Wire-proof program for the soft-RoCE guest suite (2 ranks): every
 * buffer it sends is the ASCII marker repeated, so a capture shows the
 * marker wherever the job's data crosses the wire in clear. It runs
 * point-to-point exchanges (eager and rendezvous sizes) and an allreduce,
 * checks every received byte, and prints "mpi_marker: ok" on each rank
 * when all matched; exits non-zero otherwise. An argument BYTES adds one
 * allreduce of that size (the guest's rendezvous group: 64 MiB).
 */
#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MARKER "ENCSHIM-MPI-MARKER-5d41402abc4b2a76"

static int rank, failures;

static void fill_marker(unsigned char *b, size_t n)
{
	size_t m = sizeof(MARKER) - 1;

	for (size_t i = 0; i < n; i++)
		b[i] = (unsigned char)MARKER[i % m];
}

static void check_marker(const unsigned char *b, size_t n, const char *what)
{
	size_t m = sizeof(MARKER) - 1;

	for (size_t i = 0; i < n; i++)
		if (b[i] != (unsigned char)MARKER[i % m]) {
			fprintf(stderr, "mpi_marker: rank %d: %s of %zu bytes "
				"differs at byte %zu\n", rank, what, n, i);
			failures++;
			return;
		}
}

/* Rank 0 sends n bytes, rank 1 checks them and sends them back. */
static void ping_pong(size_t n)
{
	unsigned char *b = malloc(n);
	int peer = 1 - rank;

	if (!b)
		MPI_Abort(MPI_COMM_WORLD, 2);
	if (rank == 0) {
		fill_marker(b, n);
		MPI_Send(b, (int)n, MPI_BYTE, peer, 1, MPI_COMM_WORLD);
		memset(b, 0, n);
		MPI_Recv(b, (int)n, MPI_BYTE, peer, 2, MPI_COMM_WORLD,
			 MPI_STATUS_IGNORE);
		check_marker(b, n, "reply");
	} else {
		MPI_Recv(b, (int)n, MPI_BYTE, peer, 1, MPI_COMM_WORLD,
			 MPI_STATUS_IGNORE);
		check_marker(b, n, "message");
		MPI_Send(b, (int)n, MPI_BYTE, peer, 2, MPI_COMM_WORLD);
	}
	free(b);
}

/* Both ranks contribute the marker; its bitwise OR with itself is the
 * marker again, so the result is checkable and on the wire in clear
 * without encryption. */
static void allreduce(size_t n)
{
	unsigned char *in = malloc(n), *out = calloc(1, n);

	if (!in || !out)
		MPI_Abort(MPI_COMM_WORLD, 2);
	fill_marker(in, n);
	MPI_Allreduce(in, out, (int)n, MPI_UNSIGNED_CHAR, MPI_BOR,
		      MPI_COMM_WORLD);
	check_marker(out, n, "allreduce result");
	free(in);
	free(out);
}

int main(int argc, char **argv)
{
	static const size_t sizes[] = { 64, 4096, 65536, 1 << 20 };
	size_t big = argc > 1 ? strtoull(argv[1], NULL, 0) : 0;
	int size;

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	if (size != 2) {
		if (rank == 0)
			fprintf(stderr, "mpi_marker: run with 2 ranks\n");
		MPI_Finalize();
		return 2;
	}
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		ping_pong(sizes[i]);
		allreduce(sizes[i]);
	}
	if (big > 0 && big <= INT_MAX)
		allreduce(big);
	MPI_Allreduce(MPI_IN_PLACE, &failures, 1, MPI_INT, MPI_SUM,
		      MPI_COMM_WORLD);
	if (!failures)
		printf("mpi_marker: ok rank %d\n", rank);
	MPI_Finalize();
	return failures ? 1 : 0;
}

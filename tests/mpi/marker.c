/* SPDX-License-Identifier: MIT */
/*
 * Rank 0 sends N messages of S bytes filled with a known marker string
 * to rank 1 (and 1 answers each), then both run an allreduce on marker
 * bytes; received data is checked byte for byte. Prints "marker: ok";
 * "marker: CORRUPTED" if wrong data was ever delivered.
 * Usage: marker [N] [S] [same-tag]   (same-tag: every message uses tag 0)
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char MARK[] = "ENCSHIM-PLAINTEXT-MARKER-7f3a9c";

static void fill(char *b, int len)
{
	for (int i = 0; i < len; i++)
		b[i] = MARK[i % (int)(sizeof(MARK) - 1)];
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 20, len = argc > 2 ? atoi(argv[2]) : 4096;
	int same_tag = argc > 3 && !strcmp(argv[3], "same-tag");
	int rank, bad = 0, allbad = 0;
	char *want = malloc((size_t)len), *buf = malloc((size_t)len);
	unsigned char *v, *sum;

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	fill(want, len);
	for (int i = 0; i < n && rank < 2; i++) {
		int tag = same_tag ? 0 : i;

		if (rank == 0) {
			MPI_Send(want, len, MPI_CHAR, 1, tag, MPI_COMM_WORLD);
			MPI_Recv(buf, len, MPI_CHAR, 1, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
		} else {
			memset(buf, 0, (size_t)len);
			MPI_Recv(buf, len, MPI_CHAR, 0, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
			MPI_Send(buf, len, MPI_CHAR, 0, tag, MPI_COMM_WORLD);
		}
		if (memcmp(buf, want, (size_t)len)) {
			fprintf(stderr, "marker: rank %d: CORRUPTED data delivered\n", rank);
			bad = 1;
		}
	}
	/* a collective on marker bytes: max of equal values is the value */
	v = malloc((size_t)len);
	sum = malloc((size_t)len);
	memcpy(v, want, (size_t)len);
	MPI_Allreduce(v, sum, len, MPI_UNSIGNED_CHAR, MPI_MAX, MPI_COMM_WORLD);
	if (memcmp(sum, want, (size_t)len)) {
		fprintf(stderr, "marker: rank %d: CORRUPTED allreduce\n", rank);
		bad = 1;
	}
	MPI_Allreduce(&bad, &allbad, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
	if (rank == 0)
		printf(allbad ? "marker: CORRUPTED\n" : "marker: ok\n");
	MPI_Finalize();
	return allbad;
}

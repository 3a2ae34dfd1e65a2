/* SPDX-License-Identifier: MIT */
/*
 * Collectives, blocking and nonblocking, on MPI_COMM_WORLD, a dup, a
 * split and an intercommunicator; each result is compared with the
 * value computed locally from the known inputs. Prints "coll: ok".
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int wrank, failures;

#define CHECK(cond, ...)                                                      \
	do {                                                                  \
		if (!(cond)) {                                                \
			fprintf(stderr, "coll: rank %d: FAIL line %d: ",     \
				wrank, __LINE__);                             \
			fprintf(stderr, __VA_ARGS__);                         \
			fputc('\n', stderr);                                  \
			failures++;                                           \
		}                                                             \
	} while (0)

static int val(int r, int i)
{
	return r * 7 + i % 1000;
}

static void check_sum(const int *got, int n, int size, const char *what)
{
	for (int i = 0; i < n; i++) {
		int want = 0;

		for (int r = 0; r < size; r++)
			want += val(r, i);
		if (got[i] != want) {
			CHECK(0, "%s n=%d elem %d got %d want %d", what, n, i, got[i], want);
			return;
		}
	}
}

static void run(MPI_Comm comm, const char *name, int n, int nonblocking)
{
	int rank, size, i, r;
	int *in, *out, *all;
	MPI_Request req;

	MPI_Comm_rank(comm, &rank);
	MPI_Comm_size(comm, &size);
	in = malloc(sizeof(int) * (size_t)n * (size_t)size);
	out = malloc(sizeof(int) * (size_t)n * (size_t)size);
	all = malloc(sizeof(int) * (size_t)n * (size_t)size);
	for (i = 0; i < n * size; i++)
		in[i] = val(rank, i % n);

	/* allreduce */
	if (nonblocking) {
		MPI_Iallreduce(in, out, n, MPI_INT, MPI_SUM, comm, &req);
		MPI_Wait(&req, MPI_STATUS_IGNORE);
	} else {
		MPI_Allreduce(in, out, n, MPI_INT, MPI_SUM, comm);
	}
	check_sum(out, n, size, name);

	/* bcast from the last rank */
	for (i = 0; i < n; i++)
		out[i] = rank == size - 1 ? val(size - 1, i) : -1;
	if (nonblocking) {
		MPI_Ibcast(out, n, MPI_INT, size - 1, comm, &req);
		MPI_Wait(&req, MPI_STATUS_IGNORE);
	} else {
		MPI_Bcast(out, n, MPI_INT, size - 1, comm);
	}
	for (i = 0; i < n; i++)
		if (out[i] != val(size - 1, i)) {
			CHECK(0, "%s bcast elem %d", name, i);
			break;
		}

	/* reduce to 0 */
	if (nonblocking) {
		MPI_Ireduce(in, out, n, MPI_INT, MPI_SUM, 0, comm, &req);
		MPI_Wait(&req, MPI_STATUS_IGNORE);
	} else {
		MPI_Reduce(in, out, n, MPI_INT, MPI_SUM, 0, comm);
	}
	if (rank == 0)
		check_sum(out, n, size, "reduce");

	/* allgather */
	if (nonblocking) {
		MPI_Iallgather(in, n, MPI_INT, all, n, MPI_INT, comm, &req);
		MPI_Wait(&req, MPI_STATUS_IGNORE);
	} else {
		MPI_Allgather(in, n, MPI_INT, all, n, MPI_INT, comm);
	}
	for (r = 0; r < size; r++)
		for (i = 0; i < n; i++)
			if (all[r * n + i] != val(r, i)) {
				CHECK(0, "%s allgather r %d i %d", name, r, i);
				r = size;
				break;
			}

	/* alltoall: block j of rank r is val(r, j*n + i) style marker */
	for (r = 0; r < size; r++)
		for (i = 0; i < n; i++)
			in[r * n + i] = rank * 100000 + r * 1000 + i % 1000;
	if (nonblocking) {
		MPI_Ialltoall(in, n, MPI_INT, all, n, MPI_INT, comm, &req);
		MPI_Wait(&req, MPI_STATUS_IGNORE);
	} else {
		MPI_Alltoall(in, n, MPI_INT, all, n, MPI_INT, comm);
	}
	for (r = 0; r < size; r++)
		for (i = 0; i < n; i++)
			if (all[r * n + i] != r * 100000 + rank * 1000 + i % 1000) {
				CHECK(0, "%s alltoall r %d i %d", name, r, i);
				r = size;
				break;
			}

	/* scan */
	for (i = 0; i < n; i++)
		in[i] = val(rank, i);
	MPI_Scan(in, out, n, MPI_INT, MPI_SUM, comm);
	check_sum(out, n, rank + 1, "scan");

	if (nonblocking) {
		MPI_Ibarrier(comm, &req);
		MPI_Wait(&req, MPI_STATUS_IGNORE);
	} else {
		MPI_Barrier(comm);
	}
	free(in);
	free(out);
	free(all);
}

/* Point-to-point and a collective across an intercommunicator. */
static void inter(MPI_Comm half, int color)
{
	MPI_Comm ic;
	int lrank, rsize, x, y, wsize, rleader;

	/* the split orders ranks by descending world rank: each group's
	 * leader is its highest world rank */
	MPI_Comm_size(MPI_COMM_WORLD, &wsize);
	rleader = (wsize - 1) % 2 != color ? wsize - 1 : wsize - 2;
	MPI_Intercomm_create(half, 0, MPI_COMM_WORLD, rleader, 99, &ic);
	MPI_Comm_rank(ic, &lrank);
	MPI_Comm_remote_size(ic, &rsize);
	x = wrank * 3 + 1;
	if (lrank == 0) {
		MPI_Sendrecv(&x, 1, MPI_INT, 0, 5, &y, 1, MPI_INT, 0, 5, ic,
			     MPI_STATUS_IGNORE);
		CHECK(y == rleader * 3 + 1, "intercomm p2p got %d", y);
	}
	MPI_Allreduce(&x, &y, 1, MPI_INT, MPI_SUM, ic);
	{
		int want = 0;

		for (int r = 0; r < wsize; r++)
			if (r % 2 != color)
				want += r * 3 + 1;
		CHECK(y == want, "intercomm allreduce got %d want %d", y, want);
	}
	MPI_Comm_free(&ic);
}

int main(int argc, char **argv)
{
	int sizes[] = { 1, 3, 4096, 262144 + 5 };
	MPI_Comm dup, split;
	int wsize, total = 0, s, nb;

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &wrank);
	MPI_Comm_size(MPI_COMM_WORLD, &wsize);
	MPI_Comm_dup(MPI_COMM_WORLD, &dup);
	MPI_Comm_split(MPI_COMM_WORLD, wrank % 2, -wrank, &split);
	for (s = 0; s < 4; s++)
		for (nb = 0; nb < 2; nb++) {
			run(MPI_COMM_WORLD, "world", sizes[s], nb);
			run(dup, "dup", sizes[s], nb);
			run(split, "split", sizes[s], nb);
		}
	if (wsize >= 2 && wsize % 2 == 0)
		inter(split, wrank % 2);
	MPI_Comm_free(&dup);
	MPI_Comm_free(&split);
	MPI_Allreduce(&failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
	if (wrank == 0)
		printf(total ? "coll: %d failures\n" : "coll: ok\n", total);
	MPI_Finalize();
	return total ? 1 : 0;
}

/* SPDX-License-Identifier: MIT */
/* One-sided: MPI_Put between fences on a window of 4 ints (osc pt2pt,
 * which goes through the PML). Prints "rma: ok". */
#include <mpi.h>
#include <stdio.h>
int main(int argc, char **argv) {
	int rank, size, buf[4] = {0}, v[4], ok = 1, all;
	MPI_Win win;
	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank); MPI_Comm_size(MPI_COMM_WORLD, &size);
	MPI_Win_create(buf, sizeof(buf), sizeof(int), MPI_INFO_NULL, MPI_COMM_WORLD, &win);
	for (int i = 0; i < 4; i++) v[i] = rank * 10 + i;
	MPI_Win_fence(0, win);
	MPI_Put(v, 4, MPI_INT, (rank + 1) % size, 0, 4, MPI_INT, win);
	MPI_Win_fence(0, win);
	for (int i = 0; i < 4; i++) ok &= buf[i] == ((rank + size - 1) % size) * 10 + i;
	MPI_Win_free(&win);
	MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
	if (!rank) printf(all ? "rma: ok\n" : "rma: FAILED\n");
	MPI_Finalize();
	return !all;
}

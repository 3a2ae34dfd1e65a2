/* SPDX-License-Identifier: MIT */
/*
 * Chunked collective messages (docs/PROTOCOL.md section 11, "Chunks"),
 * run by tests/mpi/chunk.sh with a small pml_encshim_chunk_threshold and
 * chunk size.
 *
 *   chunk            sizes around the threshold and chunk edges: MPI_Bcast
 *                    of bytes, MPI_Allreduce, MPI_Ibcast, MPI_Bcast of a
 *                    vector datatype (packed and unpacked chunk by chunk),
 *                    then two threads (MPI_THREAD_MULTIPLE) each running
 *                    allreduces on a communicator of its own
 *   chunk attack N M rank 0 broadcasts M messages of N bytes to rank 1
 *                    (2 ranks) under MPI_ERRORS_RETURN; the tamper tool
 *                    swaps, drops or splices their chunks
 *   chunk truncate   (2 ranks, coll basic) rank 1 takes a chunked
 *                    broadcast of 12288 bytes into 6000: MPI_ERR_TRUNCATE;
 *                    then a broadcast of the right size still arrives
 *
 * Prints "chunk: ok", or "chunk: WRONG ..." if wrong data was delivered,
 * or "chunk: error ..." if MPI reported an error.
 */
#include <mpi.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

static unsigned char byte_of(int seed, size_t i)
{
	return (unsigned char)(seed * 131 + i * 7 + (i >> 9));
}

static void wrong(const char *what, size_t n)
{
	printf("chunk: WRONG %s (%zu bytes)\n", what, n);
	failures++;
}

static void bcast_bytes(MPI_Comm comm, size_t n, int seed, int nonblocking)
{
	unsigned char *b = malloc(n ? n : 1);
	int rank, size;

	MPI_Comm_rank(comm, &rank);
	MPI_Comm_size(comm, &size);
	for (size_t i = 0; i < n; i++)
		b[i] = rank == size - 1 ? byte_of(seed, i) : 0;
	if (nonblocking) {
		MPI_Request req;

		MPI_Ibcast(b, (int)n, MPI_BYTE, size - 1, comm, &req);
		MPI_Wait(&req, MPI_STATUS_IGNORE);
	} else {
		MPI_Bcast(b, (int)n, MPI_BYTE, size - 1, comm);
	}
	for (size_t i = 0; i < n; i++)
		if (b[i] != byte_of(seed, i)) {
			wrong(nonblocking ? "ibcast" : "bcast", n);
			break;
		}
	free(b);
}

static void allreduce(MPI_Comm comm, size_t n, int seed)
{
	int *in = malloc(n * sizeof(int) + 1), *out = malloc(n * sizeof(int) + 1);
	int rank, size;

	MPI_Comm_rank(comm, &rank);
	MPI_Comm_size(comm, &size);
	for (size_t i = 0; i < n; i++)
		in[i] = (int)(i * 3) + rank + seed;
	MPI_Allreduce(in, out, (int)n, MPI_INT, MPI_SUM, comm);
	for (size_t i = 0; i < n; i++)
		if (out[i] != (int)(i * 3) * size + size * (size - 1) / 2 +
				      seed * size) {
			wrong("allreduce", n * sizeof(int));
			break;
		}
	free(in);
	free(out);
}

/* n ints, every other one of 2n: a layout that must be packed. */
static void bcast_vector(MPI_Comm comm, size_t n)
{
	int *b = calloc(2 * n + 1, sizeof(int));
	MPI_Datatype vec;
	int rank, size;

	MPI_Comm_rank(comm, &rank);
	MPI_Comm_size(comm, &size);
	MPI_Type_vector((int)n, 1, 2, MPI_INT, &vec);
	MPI_Type_commit(&vec);
	for (size_t i = 0; i < 2 * n; i++)
		b[i] = rank == size - 1 || i % 2 ? (int)i + 1 : -1;
	MPI_Bcast(b, 1, vec, size - 1, comm);
	for (size_t i = 0; i < 2 * n; i++)
		if (b[i] != (int)i + 1) {
			wrong("bcast of a vector", n * sizeof(int));
			break;
		}
	MPI_Type_free(&vec);
	free(b);
}

static void *thread_main(void *arg)
{
	MPI_Comm comm = *(MPI_Comm *)arg;

	for (int k = 0; k < 20; k++)
		allreduce(comm, (size_t)(40000 + k * 1000), k);
	return NULL;
}

static void sweep(void)
{
	/* threshold 8192, chunk 4096 (chunk.sh) */
	const size_t sizes[] = { 0,    1,     8191,  8192,   8193,
				 12288, 12289, 16383, 65539, 1048583 };
	MPI_Comm c[2];
	pthread_t th[2];

	for (size_t s = 0; s < sizeof(sizes) / sizeof(*sizes); s++) {
		bcast_bytes(MPI_COMM_WORLD, sizes[s], (int)s, 0);
		bcast_bytes(MPI_COMM_WORLD, sizes[s], (int)s + 1, 1);
		allreduce(MPI_COMM_WORLD, sizes[s] / sizeof(int) + 1, (int)s);
		bcast_vector(MPI_COMM_WORLD, sizes[s] / sizeof(int) + 1);
	}
	MPI_Comm_dup(MPI_COMM_WORLD, &c[0]);
	MPI_Comm_dup(MPI_COMM_WORLD, &c[1]);
	for (int t = 0; t < 2; t++)
		pthread_create(&th[t], NULL, thread_main, &c[t]);
	for (int t = 0; t < 2; t++)
		pthread_join(th[t], NULL);
	MPI_Comm_free(&c[0]);
	MPI_Comm_free(&c[1]);
}

static void attack(size_t n, int m)
{
	unsigned char *b = malloc(n);
	int rank;

	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
	for (int k = 0; k < m; k++) {
		int rc;

		for (size_t i = 0; i < n; i++)
			b[i] = rank == 0 ? byte_of(k, i) : 0;
		rc = MPI_Bcast(b, (int)n, MPI_BYTE, 0, MPI_COMM_WORLD);
		if (MPI_SUCCESS != rc) {
			printf("chunk: error %d in broadcast %d\n", rc, k);
			fflush(stdout);
			MPI_Abort(MPI_COMM_WORLD, 3);
		}
		for (size_t i = 0; i < n; i++)
			if (b[i] != byte_of(k, i)) {
				wrong("broadcast under attack", n);
				break;
			}
	}
	free(b);
}

static void truncate_then_right(void)
{
	unsigned char *b = malloc(12288);
	int rank, rc, cls = 0;

	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
	for (size_t i = 0; i < 12288; i++)
		b[i] = rank == 0 ? byte_of(9, i) : 0;
	rc = MPI_Bcast(b, rank == 0 ? 12288 : 6000, MPI_BYTE, 0, MPI_COMM_WORLD);
	if (1 == rank) {
		MPI_Error_class(rc, &cls);
		if (MPI_ERR_TRUNCATE != cls)
			wrong("truncation not reported", 12288);
	}
	bcast_bytes(MPI_COMM_WORLD, 12288, 10, 0);
	free(b);
}

int main(int argc, char **argv)
{
	int provided, total = 0;

	MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
	if (provided < MPI_THREAD_MULTIPLE) {
		printf("chunk: no MPI_THREAD_MULTIPLE\n");
		MPI_Abort(MPI_COMM_WORLD, 2);
	}
	if (argc == 4 && 0 == strcmp(argv[1], "attack"))
		attack((size_t)atol(argv[2]), atoi(argv[3]));
	else if (argc == 2 && 0 == strcmp(argv[1], "truncate"))
		truncate_then_right();
	else
		sweep();
	MPI_Allreduce(&failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
	if (0 == total) {
		int rank;

		MPI_Comm_rank(MPI_COMM_WORLD, &rank);
		if (0 == rank)
			printf("chunk: ok\n");
	}
	MPI_Finalize();
	return 0 != total;
}

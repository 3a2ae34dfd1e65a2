/* SPDX-License-Identifier: MIT */
/*
 * Honest jobs under pml_encshim_local clear whose token files meet the
 * life of the process (tests/mpi/local.sh):
 *   fork: rank 1 forks a child that ends with exit(), which runs the
 *         exit handlers it inherited, before the first message; then
 *         rank 1 sends to rank 0 first (rank 0's first contact with rank
 *         1 is that receive) and rank 0 answers;
 *   a2a:  every rank sends to every other one right after MPI_Init
 *         (with async_mpi_init no barrier ends MPI_Init, so a peer may
 *         not have written its token file yet);
 *   fin:  rank 1 sends to rank 0 and calls MPI_Finalize at once; rank 0
 *         receives one second later (with async_mpi_finalize no barrier
 *         starts MPI_Finalize), then finalizes.
 * Data are checked word for word. Prints "localfile: ok".
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define WORDS 64

static int word(int from, int to, int i)
{
	return from * 1000003 + to * 7919 + i;
}

static int check(const int *b, int from, int to)
{
	for (int i = 0; i < WORDS; i++)
		if (b[i] != word(from, to, i)) {
			fprintf(stderr, "localfile: rank %d: CORRUPTED data from "
				"rank %d\n", to, from);
			return 1;
		}
	return 0;
}

static void fill(int *b, int from, int to)
{
	for (int i = 0; i < WORDS; i++)
		b[i] = word(from, to, i);
}

/* A child that ends the usual way, as a library's helper process may. */
static int fork_and_exit(void)
{
	pid_t pid = fork();
	int st = 0;

	if (0 == pid)
		exit(0);
	if (pid < 0 || waitpid(pid, &st, 0) != pid) {
		perror("localfile: fork");
		return 1;
	}
	return 0;
}

static int fork_mode(int rank)
{
	int buf[WORDS], bad = 0;

	if (rank > 1)
		return 0;
	if (1 == rank) {
		bad = fork_and_exit();
		fill(buf, 1, 0);
		MPI_Send(buf, WORDS, MPI_INT, 0, 7, MPI_COMM_WORLD);
		MPI_Recv(buf, WORDS, MPI_INT, 0, 7, MPI_COMM_WORLD,
			 MPI_STATUS_IGNORE);
		return bad | check(buf, 0, 1);
	}
	MPI_Recv(buf, WORDS, MPI_INT, 1, 7, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
	bad = check(buf, 1, 0);
	fill(buf, 0, 1);
	MPI_Send(buf, WORDS, MPI_INT, 1, 7, MPI_COMM_WORLD);
	return bad;
}

static int a2a_mode(int rank, int size)
{
	int *out = malloc((size_t)size * WORDS * sizeof(int));
	int *in = malloc((size_t)size * WORDS * sizeof(int));
	MPI_Request *req = malloc((size_t)size * 2 * sizeof(MPI_Request));
	int n = 0, bad = 0;

	if (NULL == out || NULL == in || NULL == req)
		return 1;
	for (int p = 0; p < size; p++) {
		if (p == rank)
			continue;
		fill(out + p * WORDS, rank, p);
		MPI_Irecv(in + p * WORDS, WORDS, MPI_INT, p, 9, MPI_COMM_WORLD,
			  &req[n++]);
		MPI_Isend(out + p * WORDS, WORDS, MPI_INT, p, 9,
			  MPI_COMM_WORLD, &req[n++]);
	}
	MPI_Waitall(n, req, MPI_STATUSES_IGNORE);
	for (int p = 0; p < size; p++)
		if (p != rank)
			bad |= check(in + p * WORDS, p, rank);
	free(out);
	free(in);
	free(req);
	return bad;
}

/* No collective after the message: the sender may be gone when it is
 * received. */
static int fin_mode(int rank)
{
	int buf[WORDS], bad = 0;

	if (1 == rank) {
		fill(buf, 1, 0);
		MPI_Send(buf, WORDS, MPI_INT, 0, 7, MPI_COMM_WORLD);
	} else if (0 == rank) {
		sleep(1);
		MPI_Recv(buf, WORDS, MPI_INT, 1, 7, MPI_COMM_WORLD,
			 MPI_STATUS_IGNORE);
		bad = check(buf, 1, 0);
		printf(bad ? "localfile: CORRUPTED\n" : "localfile: ok\n");
	}
	MPI_Finalize();
	return bad;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "fork";
	int rank, size, bad, allbad = 0;

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	if (0 == strcmp(mode, "fin"))
		return fin_mode(rank);
	bad = 0 == strcmp(mode, "a2a") ? a2a_mode(rank, size) : fork_mode(rank);
	MPI_Allreduce(&bad, &allbad, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
	if (0 == rank)
		printf(allbad ? "localfile: CORRUPTED\n" : "localfile: ok\n");
	MPI_Finalize();
	return allbad;
}

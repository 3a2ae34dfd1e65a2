/* SPDX-License-Identifier: MIT */
/*
 * MPI_THREAD_MULTIPLE stress: T threads per rank, each with its own
 * duplicate of MPI_COMM_WORLD, exchange N messages with every other rank
 * in windows of nonblocking operations, random sizes (0..64 KiB) and
 * tags, received with MPI_ANY_SOURCE/MPI_ANY_TAG. Every message carries
 * its origin and length in its first bytes and a pattern derived from
 * them; receivers check all of it. Then each thread restarts a pair of
 * persistent requests 300 times around a ring. Prints "threads: ok".
 * Usage: threads [N] [T]
 */
#include <mpi.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WINDOW 8
#define MAXLEN 65536

static int rank, size, nmsg = 500, nthreads = 4;
static MPI_Comm comms[16];
static int failures[16];

static uint32_t mix(uint32_t x)
{
	x ^= x >> 16;
	x *= 0x7feb352dU;
	x ^= x >> 15;
	x *= 0x846ca68bU;
	return x ^ (x >> 16);
}

/* Length of message k from (src, thread) to dst: random, sometimes 0. */
static int msg_len(int src, int t, int dst, int k)
{
	uint32_t h = mix((uint32_t)(src * 1000003 + t * 10007 + dst * 101 + k));

	if (h % 16 == 0)
		return 0;
	return (int)(h % 4 == 0 ? h % MAXLEN : h % 512);
}

static void fill(unsigned char *b, int len, int src, int t, int k)
{
	for (int i = 0; i < len; i++)
		b[i] = (unsigned char)mix((uint32_t)(src * 31 + t * 7 + k * 131 + i));
}

static int tag_of(int t, int k)
{
	return (k * 7 + t) % 30000;
}

struct slot {
	unsigned char *buf;
	MPI_Request req;
};

static void check_recv(int t, const unsigned char *buf, MPI_Status *st,
		       int *seen_per_src, unsigned char *scratch)
{
	int count, src = st->MPI_SOURCE;

	MPI_Get_count(st, MPI_BYTE, &count);
	/* which k? tags are unique per k within this thread's comm window,
	 * so search the k whose tag and length match */
	for (int k = 0; k < nmsg; k++) {
		if (tag_of(t, k) != st->MPI_TAG || msg_len(src, t, rank, k) != count)
			continue;
		fill(scratch, count, src, t, k);
		if (0 == memcmp(scratch, buf, (size_t)count)) {
			seen_per_src[src]++;
			return;
		}
	}
	fprintf(stderr, "threads: rank %d thread %d: corrupt or unknown message "
		"from %d tag %d len %d\n", rank, t, src, st->MPI_TAG, count);
	failures[t]++;
}

/* Persistent requests restarted many times, concurrently in every thread:
 * a ring on the thread's communicator, new contents each round. */
static void persistent_ring(int t)
{
	int next = (rank + 1) % size, prev = (rank + size - 1) % size;
	int out[64], in[64], round, i;
	MPI_Request rq[2];

	MPI_Recv_init(in, 64, MPI_INT, prev, 31000, comms[t], &rq[0]);
	MPI_Send_init(out, 64, MPI_INT, next, 31000, comms[t], &rq[1]);
	for (round = 0; round < 300; round++) {
		for (i = 0; i < 64; i++)
			out[i] = rank * 1000000 + t * 10000 + round * 64 + i;
		MPI_Startall(2, rq);
		MPI_Waitall(2, rq, MPI_STATUSES_IGNORE);
		for (i = 0; i < 64; i++)
			if (in[i] != prev * 1000000 + t * 10000 + round * 64 + i) {
				fprintf(stderr, "threads: rank %d thread %d: persistent "
					"round %d element %d wrong\n", rank, t, round, i);
				failures[t]++;
				break;
			}
	}
	MPI_Request_free(&rq[0]);
	MPI_Request_free(&rq[1]);
}

static void *worker(void *arg)
{
	int t = (int)(intptr_t)arg, k, i, npeer = size - 1;
	struct slot rs[WINDOW], ss[WINDOW];
	unsigned char *scratch = malloc(MAXLEN);
	int *seen = calloc((size_t)size, sizeof(int));
	int total_recv = nmsg * npeer, posted = 0;

	for (i = 0; i < WINDOW; i++) {
		rs[i].buf = malloc(MAXLEN);
		ss[i].buf = malloc(MAXLEN);
	}
	/* message k goes to every other rank; window of WINDOW sends and
	 * receives at a time (receive count equals send count per window) */
	for (k = 0; k < nmsg * npeer; k += WINDOW) {
		int n = nmsg * npeer - k < WINDOW ? nmsg * npeer - k : WINDOW;
		MPI_Status st[WINDOW];
		MPI_Request rr[WINDOW], sr[WINDOW];

		for (i = 0; i < n; i++) {
			MPI_Irecv(rs[i].buf, MAXLEN, MPI_BYTE, MPI_ANY_SOURCE,
				  MPI_ANY_TAG, comms[t], &rr[i]);
			posted++;
		}
		for (i = 0; i < n; i++) {
			int idx = k + i, kk = idx / npeer;
			int dst = (rank + 1 + idx % npeer) % size;
			int len = msg_len(rank, t, dst, kk);

			fill(ss[i].buf, len, rank, t, kk);
			MPI_Isend(ss[i].buf, len, MPI_BYTE, dst, tag_of(t, kk),
				  comms[t], &sr[i]);
		}
		MPI_Waitall(n, rr, st);
		for (i = 0; i < n; i++)
			check_recv(t, rs[i].buf, &st[i], seen, scratch);
		MPI_Waitall(n, sr, MPI_STATUSES_IGNORE);
	}
	for (i = 0; i < size; i++)
		if (i != rank && seen[i] != nmsg) {
			fprintf(stderr, "threads: rank %d thread %d: %d messages "
				"from %d, want %d\n", rank, t, seen[i], i, nmsg);
			failures[t]++;
		}
	(void)total_recv;
	(void)posted;
	/* the ring's messages must not meet the wildcard receives above */
	MPI_Barrier(comms[t]);
	persistent_ring(t);
	for (i = 0; i < WINDOW; i++) {
		free(rs[i].buf);
		free(ss[i].buf);
	}
	free(scratch);
	free(seen);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t th[16];
	int provided, t, mine = 0, total = 0;

	if (argc > 1)
		nmsg = atoi(argv[1]);
	if (argc > 2)
		nthreads = atoi(argv[2]);
	if (nthreads < 1 || nthreads > 16)
		nthreads = 4;
	MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
	if (provided < MPI_THREAD_MULTIPLE) {
		fprintf(stderr, "threads: MPI_THREAD_MULTIPLE not provided\n");
		MPI_Abort(MPI_COMM_WORLD, 77);
	}
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	for (t = 0; t < nthreads; t++)
		MPI_Comm_dup(MPI_COMM_WORLD, &comms[t]);
	for (t = 0; t < nthreads; t++)
		pthread_create(&th[t], NULL, worker, (void *)(intptr_t)t);
	for (t = 0; t < nthreads; t++) {
		pthread_join(th[t], NULL);
		mine += failures[t];
	}
	for (t = 0; t < nthreads; t++)
		MPI_Comm_free(&comms[t]);
	MPI_Allreduce(&mine, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
	if (rank == 0)
		printf(total ? "threads: %d failures\n" : "threads: ok\n", total);
	MPI_Finalize();
	return total ? 1 : 0;
}

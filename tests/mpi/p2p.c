/* SPDX-License-Identifier: MIT */
/*
 * Point-to-point coverage under encshim (run with >= 2 ranks); every
 * received byte is checked against what the sender computed. Prints
 * "p2p: ok" on rank 0 when everything matched; exits non-zero otherwise.
 */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int rank, size, failures;

#define CHECK(cond, ...)                                                      \
	do {                                                                  \
		if (!(cond)) {                                                \
			fprintf(stderr, "p2p: rank %d: FAIL %s:%d: ", rank,  \
				__FILE__, __LINE__);                          \
			fprintf(stderr, __VA_ARGS__);                         \
			fputc('\n', stderr);                                  \
			failures++;                                           \
		}                                                             \
	} while (0)

static unsigned char pattern(size_t i, int seed)
{
	return (unsigned char)(i * 131u + (unsigned)seed * 7u + 1u);
}

static void fill(unsigned char *b, size_t n, int seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = pattern(i, seed);
}

static size_t first_bad(const unsigned char *b, size_t n, int seed)
{
	for (size_t i = 0; i < n; i++)
		if (b[i] != pattern(i, seed))
			return i;
	return n;
}

/* Buffered sends that are not MPI_Bsend: MPI_Ibsend and MPI_Bsend_init. */
static void buffered(size_t n)
{
	int next = (rank + 1) % size, prev = (rank + size - 1) % size;
	/* room for every message that may still be in flight: the Ibsend and
	 * the three rounds (a buffered send ends when the transport is done) */
	int bsz = 4 * ((int)n + MPI_BSEND_OVERHEAD);
	unsigned char *s = malloc(n + 1), *r = malloc(n + 1);
	void *bb = malloc((size_t)bsz), *old;
	MPI_Request sreq, rreq, preq;
	MPI_Status st;
	int count, round;

	MPI_Buffer_attach(bb, bsz);
	fill(s, n, rank + 500);
	MPI_Irecv(r, (int)n, MPI_BYTE, prev, 20, MPI_COMM_WORLD, &rreq);
	MPI_Ibsend(s, (int)n, MPI_BYTE, next, 20, MPI_COMM_WORLD, &sreq);
	MPI_Wait(&sreq, MPI_STATUS_IGNORE); /* local completion */
	memset(s, 0, n);                     /* the message is ours to keep */
	MPI_Wait(&rreq, &st);
	MPI_Get_count(&st, MPI_BYTE, &count);
	CHECK(count == (int)n && first_bad(r, n, prev + 500) == n, "ibsend %zu", n);

	MPI_Bsend_init(s, (int)n, MPI_BYTE, next, 21, MPI_COMM_WORLD, &preq);
	for (round = 0; round < 3; round++) {
		fill(s, n, rank + 600 + round);
		MPI_Irecv(r, (int)n, MPI_BYTE, prev, 21, MPI_COMM_WORLD, &rreq);
		MPI_Start(&preq);
		MPI_Wait(&preq, MPI_STATUS_IGNORE);
		MPI_Wait(&rreq, MPI_STATUS_IGNORE);
		CHECK(first_bad(r, n, prev + 600 + round) == n, "bsend_init %zu round %d",
		      n, round);
	}
	MPI_Request_free(&preq);
	MPI_Buffer_detach(&old, &bsz);
	free(old);
	free(s);
	free(r);
}

/* Ring exchange of n bytes with a given send mode, blocking. */
static void modes(size_t n)
{
	int next = (rank + 1) % size, prev = (rank + size - 1) % size;
	unsigned char *s = malloc(n + 1), *r = malloc(n + 1);
	MPI_Status st;
	int count, m;

	for (m = 0; m < 4; m++) {
		MPI_Request req;

		fill(s, n, rank * 10 + m);
		memset(r, 0, n + 1);
		MPI_Irecv(r, (int)n, MPI_BYTE, prev, m, MPI_COMM_WORLD, &req);
		MPI_Barrier(MPI_COMM_WORLD); /* ready mode needs the receive */
		switch (m) {
		case 0: MPI_Send(s, (int)n, MPI_BYTE, next, m, MPI_COMM_WORLD); break;
		case 1: MPI_Ssend(s, (int)n, MPI_BYTE, next, m, MPI_COMM_WORLD); break;
		case 2: MPI_Rsend(s, (int)n, MPI_BYTE, next, m, MPI_COMM_WORLD); break;
		case 3: {
			int bsz = (int)n + MPI_BSEND_OVERHEAD + 64;
			void *bb = malloc((size_t)bsz), *old;

			MPI_Buffer_attach(bb, bsz);
			MPI_Bsend(s, (int)n, MPI_BYTE, next, m, MPI_COMM_WORLD);
			MPI_Wait(&req, &st);
			MPI_Buffer_detach(&old, &bsz);
			free(old);
			goto check;
		}
		}
		MPI_Wait(&req, &st);
check:
		MPI_Get_count(&st, MPI_BYTE, &count);
		CHECK(count == (int)n, "mode %d size %zu count %d", m, n, count);
		CHECK(st.MPI_SOURCE == prev && st.MPI_TAG == m, "status");
		CHECK(first_bad(r, n, prev * 10 + m) == n, "mode %d size %zu data at %zu",
		      m, n, first_bad(r, n, prev * 10 + m));
		MPI_Barrier(MPI_COMM_WORLD);
	}
	free(s);
	free(r);
}

/* Expected plaintext length of the wildcard test's messages. */
static int wild_len(int src, int tag)
{
	return tag == 40 ? 100 + src : tag == 80 ? 50 + src : 0;
}

/* Receives the probed message with one of three probe/receive pairs. */
static void wild_one(int how)
{
	unsigned char in[300];
	MPI_Status st;
	MPI_Message msg;
	MPI_Request req;
	int count, rcount, flag = 0;

	memset(in, 0, sizeof(in));
	switch (how) {
	case 0:
		MPI_Probe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &st);
		MPI_Get_count(&st, MPI_BYTE, &count);
		MPI_Recv(in, sizeof(in), MPI_BYTE, st.MPI_SOURCE, st.MPI_TAG,
			 MPI_COMM_WORLD, &st);
		break;
	case 1:
		do {
			MPI_Improbe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD,
				    &flag, &msg, &st);
		} while (!flag);
		MPI_Get_count(&st, MPI_BYTE, &count);
		MPI_Mrecv(in, count, MPI_BYTE, &msg, &st);
		break;
	default:
		MPI_Mprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &msg, &st);
		MPI_Get_count(&st, MPI_BYTE, &count);
		MPI_Imrecv(in, count, MPI_BYTE, &msg, &req);
		MPI_Wait(&req, &st);
		break;
	}
	MPI_Get_count(&st, MPI_BYTE, &rcount);
	CHECK(count == wild_len(st.MPI_SOURCE, st.MPI_TAG),
	      "probe %d count %d src %d tag %d", how, count, st.MPI_SOURCE, st.MPI_TAG);
	CHECK(rcount == count, "probe %d receive count %d vs %d", how, rcount, count);
	CHECK(first_bad(in, (size_t)rcount, st.MPI_SOURCE) == (size_t)rcount,
	      "probe %d data", how);
}

/* ANY_SOURCE/ANY_TAG with probes, matched probes and zero-byte messages. */
static void wildcards(void)
{
	unsigned char buf[300];
	int i;

	if (rank != 0) {
		fill(buf, sizeof(buf), rank);
		MPI_Send(buf, wild_len(rank, 40), MPI_BYTE, 0, 40, MPI_COMM_WORLD);
		MPI_Send(buf, wild_len(rank, 80), MPI_BYTE, 0, 80, MPI_COMM_WORLD);
		MPI_Send(buf, 0, MPI_BYTE, 0, 90, MPI_COMM_WORLD);
		return;
	}
	for (i = 0; i < 3 * (size - 1); i++)
		wild_one(i % 3);
}

/* Derived datatypes: vector and struct, non-contiguous both ends. */
static void datatypes(void)
{
	int next = (rank + 1) % size, prev = (rank + size - 1) % size;
	double a[64], b[64];
	MPI_Datatype vec, st2;
	struct { int i; double d; char c; } sa[8], sb[8];
	int bl[3] = { 1, 1, 1 };
	MPI_Aint disp[3];
	MPI_Datatype types[3] = { MPI_INT, MPI_DOUBLE, MPI_CHAR };
	MPI_Status st;
	int i, count;

	MPI_Type_vector(16, 2, 4, MPI_DOUBLE, &vec);
	MPI_Type_commit(&vec);
	for (i = 0; i < 64; i++) {
		a[i] = rank * 1000 + i;
		b[i] = -1;
	}
	MPI_Sendrecv(a, 1, vec, next, 7, b, 1, vec, prev, 7, MPI_COMM_WORLD, &st);
	for (i = 0; i < 64; i++) {
		int in_vec = (i % 4) < 2;
		double want = in_vec ? prev * 1000 + i : -1;
		CHECK(b[i] == want, "vector elem %d got %g want %g", i, b[i], want);
	}
	MPI_Get_count(&st, vec, &count);
	CHECK(count == 1, "vector count %d", count);
	MPI_Type_free(&vec);

	disp[0] = (char *)&sa[0].i - (char *)&sa[0];
	disp[1] = (char *)&sa[0].d - (char *)&sa[0];
	disp[2] = (char *)&sa[0].c - (char *)&sa[0];
	MPI_Type_create_struct(3, bl, disp, types, &st2);
	{
		MPI_Datatype rs;
		MPI_Type_create_resized(st2, 0, sizeof(sa[0]), &rs);
		MPI_Type_free(&st2);
		st2 = rs;
	}
	MPI_Type_commit(&st2);
	memset(sb, 0, sizeof(sb));
	for (i = 0; i < 8; i++) {
		sa[i].i = rank * 10 + i;
		sa[i].d = rank + i / 8.0;
		sa[i].c = (char)('a' + i);
	}
	MPI_Sendrecv(sa, 8, st2, next, 8, sb, 8, st2, prev, 8, MPI_COMM_WORLD, &st);
	for (i = 0; i < 8; i++)
		CHECK(sb[i].i == prev * 10 + i && sb[i].d == prev + i / 8.0 &&
			      sb[i].c == 'a' + i, "struct elem %d", i);
	MPI_Type_free(&st2);
}

static void persistent(void)
{
	int next = (rank + 1) % size, prev = (rank + size - 1) % size;
	int s[128] = { 0 }, r[128], it, i;
	MPI_Request reqs[2];
	MPI_Status sts[2];

	MPI_Send_init(s, 128, MPI_INT, next, 11, MPI_COMM_WORLD, &reqs[0]);
	MPI_Recv_init(r, 128, MPI_INT, prev, 11, MPI_COMM_WORLD, &reqs[1]);
	for (it = 0; it < 20; it++) {
		for (i = 0; i < 128; i++)
			s[i] = rank * 100000 + it * 1000 + i;
		memset(r, 0, sizeof(r));
		MPI_Startall(2, reqs);
		MPI_Waitall(2, reqs, sts);
		for (i = 0; i < 128; i++)
			CHECK(r[i] == prev * 100000 + it * 1000 + i, "persistent it %d i %d", it, i);
	}
	MPI_Request_free(&reqs[0]);
	MPI_Request_free(&reqs[1]);
}

static void truncation_and_cancel(void)
{
	int next = (rank + 1) % size, prev = (rank + size - 1) % size;
	char big[64] = { 0 }, small[16];
	MPI_Request req;
	MPI_Status st;
	int cancelled = 0, rc, cls;

	MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
	MPI_Irecv(small, sizeof(small), MPI_CHAR, prev, 12, MPI_COMM_WORLD, &req);
	MPI_Send(big, sizeof(big), MPI_CHAR, next, 12, MPI_COMM_WORLD);
	rc = MPI_Wait(&req, &st);
	MPI_Error_class(rc == MPI_SUCCESS ? st.MPI_ERROR : rc, &cls);
	CHECK(cls == MPI_ERR_TRUNCATE, "truncation gave class %d rc %d", cls, rc);
	MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);

	MPI_Irecv(small, sizeof(small), MPI_CHAR, prev, 13, MPI_COMM_WORLD, &req);
	MPI_Cancel(&req);
	MPI_Wait(&req, &st);
	MPI_Test_cancelled(&st, &cancelled);
	CHECK(cancelled, "receive not cancelled");
	MPI_Barrier(MPI_COMM_WORLD);
}

static void large(size_t n)
{
	int next = (rank + 1) % size, prev = (rank + size - 1) % size;
	unsigned char *s = malloc(n), *r = malloc(n);
	MPI_Request rq[2];

	fill(s, n, rank + 77);
	memset(r, 0, n);
	MPI_Irecv(r, (int)n, MPI_BYTE, prev, 14, MPI_COMM_WORLD, &rq[0]);
	MPI_Isend(s, (int)n, MPI_BYTE, next, 14, MPI_COMM_WORLD, &rq[1]);
	MPI_Waitall(2, rq, MPI_STATUSES_IGNORE);
	CHECK(first_bad(r, n, prev + 77) == n, "large %zu at %zu", n, first_bad(r, n, prev + 77));
	free(s);
	free(r);
}

static void self_and_fire_and_forget(void)
{
	int a[10], b[10], i;
	MPI_Request req;

	for (i = 0; i < 10; i++)
		a[i] = rank + i;
	MPI_Isend(a, 10, MPI_INT, rank, 15, MPI_COMM_WORLD, &req);
	MPI_Request_free(&req);
	MPI_Recv(b, 10, MPI_INT, rank, 15, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
	for (i = 0; i < 10; i++)
		CHECK(b[i] == rank + i, "self");
	MPI_Sendrecv(a, 0, MPI_INT, MPI_PROC_NULL, 1, b, 0, MPI_INT, MPI_PROC_NULL, 1,
		     MPI_COMM_WORLD, MPI_STATUS_IGNORE);
}

int main(int argc, char **argv)
{
	size_t sizes[] = { 0, 1, 31, 32, 33, 4096, 65536 + 3, 1 << 20 };
	size_t big = argc > 1 ? strtoull(argv[1], NULL, 0) : (8u << 20);
	int total = 0;

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(*sizes); i++) {
		modes(sizes[i]);
		buffered(sizes[i]);
	}
	wildcards();
	MPI_Barrier(MPI_COMM_WORLD);
	datatypes();
	persistent();
	truncation_and_cancel();
	self_and_fire_and_forget();
	large(big);
	MPI_Allreduce(&failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
	if (rank == 0)
		printf(total ? "p2p: %d failures\n" : "p2p: ok\n", total);
	MPI_Finalize();
	return total ? 1 : 0;
}

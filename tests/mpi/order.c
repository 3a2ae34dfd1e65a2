/* SPDX-License-Identifier: MIT */
/*
 * Message order and communicator identity under an attacker below MPI
 * (tests/mpi/order.sh runs it with tamper.c). Two ranks; rank 0 sends,
 * rank 1 receives and checks that it got exactly what was sent, in MPI's
 * order. Prints "order: ok", or "order: WRONG ..." when wrong data was
 * delivered (what happens without encshim). Usage: order MODE, MODE one
 * of
 *   tag      2 messages, one tag, received by tag
 *   any      2 messages, two tags, received with ANY_SOURCE/ANY_TAG
 *   mprobe   as any, received with MPI_Mprobe + MPI_Mrecv
 *   bcast    a pipelined MPI_Bcast (segments on one tag)
 *   reuse    a message left unreceived on a communicator that is freed;
 *            the next one gets the same context id and group
 *   regroup  as reuse, the next one has the same context id, the ranks
 *            in the other order
 * Every message is LEN bytes, each filled with its own byte value.
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LEN 4096

static int rank;

static void wrong(const char *what, int got, int want)
{
	printf("order: WRONG %s: got %d, sent %d\n", what, got, want);
	fflush(stdout);
	MPI_Abort(MPI_COMM_WORLD, 3);
}

static void check(const unsigned char *b, int want)
{
	for (int i = 0; i < LEN; i++)
		if (b[i] != (unsigned char)want)
			wrong("message", b[i], want);
}

/* Two messages 0 -> 1; how = 0 (one tag), 1 (ANY_TAG), 2 (Mprobe). */
static void pair(int how)
{
	unsigned char b[LEN];
	MPI_Status st;
	MPI_Message msg;

	for (int i = 0; i < 2; i++) {
		int tag = how ? 10 + i : 5;

		if (rank == 0) {
			memset(b, 1 + i, LEN);
			MPI_Send(b, LEN, MPI_BYTE, 1, tag, MPI_COMM_WORLD);
			continue;
		}
		memset(b, 0, LEN);
		if (how == 0) {
			MPI_Recv(b, LEN, MPI_BYTE, 0, tag, MPI_COMM_WORLD, &st);
		} else if (how == 1) {
			MPI_Recv(b, LEN, MPI_BYTE, MPI_ANY_SOURCE, MPI_ANY_TAG,
				 MPI_COMM_WORLD, &st);
		} else {
			MPI_Mprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD,
				   &msg, &st);
			MPI_Mrecv(b, LEN, MPI_BYTE, &msg, &st);
		}
		if (st.MPI_TAG != tag)
			wrong("tag", st.MPI_TAG, tag);
		check(b, 1 + i);
	}
}

static void bcast(void)
{
	enum { SEGS = 8 };
	unsigned char *b = malloc(SEGS * LEN);

	for (int s = 0; s < SEGS; s++)
		memset(b + s * LEN, rank == 0 ? 1 + s : 0, LEN);
	MPI_Bcast(b, SEGS * LEN, MPI_BYTE, 0, MPI_COMM_WORLD);
	for (int s = 0; s < SEGS; s++)
		check(b + s * LEN, 1 + s);
	free(b);
}

/* A message on a communicator nobody receives, then the communicator is
 * freed and the next one reuses its context id. */
static void reuse(int regroup)
{
	unsigned char b[LEN];
	MPI_Comm a, c;
	int ida, idc, peer;

	MPI_Comm_dup(MPI_COMM_WORLD, &a);
	ida = MPI_Comm_c2f(a);
	if (rank == 0) {
		memset(b, 0x0d, LEN); /* never received */
		MPI_Send(b, LEN, MPI_BYTE, 1, 7, a);
	}
	MPI_Barrier(MPI_COMM_WORLD);
	MPI_Comm_free(&a);
	if (regroup)
		MPI_Comm_split(MPI_COMM_WORLD, 0, 1 - rank, &c);
	else
		MPI_Comm_dup(MPI_COMM_WORLD, &c);
	idc = MPI_Comm_c2f(c);
	if (ida != idc) {
		printf("order: SKIP the context id was not reused (%d, %d)\n",
		       ida, idc);
		MPI_Abort(MPI_COMM_WORLD, 77);
	}
	peer = regroup ? 0 : 1; /* WORLD rank 1 in c */
	if (rank == 0) {
		memset(b, 0x0e, LEN);
		MPI_Send(b, LEN, MPI_BYTE, peer, 7, c);
	} else {
		memset(b, 0, LEN);
		MPI_Recv(b, LEN, MPI_BYTE, 1 - peer, 7, c, MPI_STATUS_IGNORE);
		check(b, 0x0e);
	}
	MPI_Comm_free(&c);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "tag";

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	if (!strcmp(mode, "tag"))
		pair(0);
	else if (!strcmp(mode, "any"))
		pair(1);
	else if (!strcmp(mode, "mprobe"))
		pair(2);
	else if (!strcmp(mode, "bcast"))
		bcast();
	else if (!strcmp(mode, "reuse") || !strcmp(mode, "regroup"))
		reuse(!strcmp(mode, "regroup"));
	else
		MPI_Abort(MPI_COMM_WORLD, 2);
	MPI_Barrier(MPI_COMM_WORLD);
	if (rank == 1)
		printf("order: ok\n");
	MPI_Finalize();
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * Attacks on the order audit of pml/encshim (docs/PROTOCOL.md section 11,
 * "Order"), run by tests/mpi/attack_order.sh with tamper.c swapping the
 * first two 4096-byte messages (and their ob1 hdr_seq) while a message of
 * another size passes in between. Two ranks; rank 0 sends three messages,
 * rank 1 has posted three receives before they leave (a barrier), waits
 * for each in posting order under MPI_ERRORS_RETURN and prints what each
 * one got. "attack: WRONG ..." means a receive completed without an
 * error, before any receive was refused, holding another message than
 * MPI's order gives it: the exploit worked. Usage: attack_order MODE, MODE one of
 *   evict  A (tag 0), X (tag 4), B (tag 0); receives tag 0, tag 4, tag 0.
 *          Tags 0 and 4 share the sender's tag slot (tag & 3), so B
 *          carries delta 0 and its receive skips the same-tag check.
 *   gap    A (tag 7), D (tag 1), B (tag 2); receives tag 1, ANY_TAG,
 *          ANY_TAG. The first ANY_TAG receive must take A; B's stream
 *          field names only place n - 1 (D, which the tag-1 receive may
 *          take), not place n - 2 (A), which nothing earlier can take.
 *   probe  A (tag 7), B (tag 2), no message between; rank 1 loops
 *          MPI_Probe(0, MPI_ANY_TAG) then MPI_Recv of the source and tag
 *          the probe reported (a dispatcher by tag): the probe must
 *          report A first, and each receive is of one tag only.
 *   vanish A (tag 7), B (tag 2), S (tag 3), one receive loop as in
 *          probe until tag 3; tamper.c discards A whole (and renumbers
 *          ob1's hdr_seq): the job must not end as if A was never sent.
 * Neighbours that hold (the swap is refused):
 *   probeany  as probe, the receive of MPI_ANY_TAG (audited as ANY_TAG)
 *   persist   A, B (tag 5) by MPI_Bsend, received by one persistent
 *             receive started twice
 * The swapped messages are 4096 bytes, the middle one 1024, each filled
 * with its own letter.
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BIG 4096
#define SMALL 1024

struct msg {
	char fill;
	int tag, len;
};

/* Mode vanish: a dispatcher by tag until the stop tag (3). */
static int probe_until_stop(int rank)
{
	static char b[BIG];
	const char fill[3] = { 'A', 'B', 'S' };
	const int tag[3] = { 7, 2, 3 };
	int i, got = 0;
	char seen[4] = "";

	for (i = 0; rank == 0 && i < 3; i++) {
		memset(b, fill[i], BIG);
		MPI_Send(b, BIG, MPI_BYTE, 1, tag[i], MPI_COMM_WORLD);
	}
	while (rank == 1 && got < 3) {
		MPI_Status st;

		MPI_Probe(0, MPI_ANY_TAG, MPI_COMM_WORLD, &st);
		if (MPI_SUCCESS != MPI_Recv(b, BIG, MPI_BYTE, 0, st.MPI_TAG,
					    MPI_COMM_WORLD, &st)) {
			printf("attack: receive %d: error\n", got);
			fflush(stdout);
			return 1;
		}
		seen[got++] = b[0];
		if (3 == st.MPI_TAG)
			break;
	}
	if (rank == 1) {
		printf("attack: delivered \"%s\", sent \"ABS\"\n", seen);
		if (strcmp(seen, "ABS"))
			printf("attack: WRONG a message was lost and the job "
			       "ended without an error\n");
		fflush(stdout);
	}
	return 0;
}

/* Mode persist: Bsend twice, one persistent receive started twice. */
static int bsend_persist(int rank)
{
	static char b[BIG], att[2 * (BIG + MPI_BSEND_OVERHEAD)];
	const char fill[2] = { 'A', 'B' };
	MPI_Request req;
	int wrongs = 0;

	if (rank == 0) {
		MPI_Buffer_attach(att, sizeof(att));
		for (int i = 0; i < 2; i++) {
			memset(b, fill[i], BIG);
			MPI_Bsend(b, BIG, MPI_BYTE, 1, 5, MPI_COMM_WORLD);
		}
		return 0;
	}
	MPI_Recv_init(b, BIG, MPI_BYTE, 0, 5, MPI_COMM_WORLD, &req);
	for (int i = 0; rank == 1 && i < 2; i++) {
		MPI_Status st;

		MPI_Start(&req);
		if (MPI_SUCCESS != MPI_Wait(&req, &st)) {
			printf("attack: receive %d: error\n", i);
			fflush(stdout);
			return 1;
		}
		printf("attack: persistent receive %d: got '%c'\n", i, b[0]);
		if (b[0] != fill[i]) {
			printf("attack: WRONG persistent receive %d took another "
			       "message than '%c' without an error\n", i, fill[i]);
			wrongs++;
		}
	}
	MPI_Request_free(&req);
	fflush(stdout);
	return 0;
}

/* Mode probe: MPI_Probe(ANY_TAG), then a receive of what it reported
 * (probeany: a receive of MPI_ANY_TAG). */
static int probe_then_recv(int rank, int any)
{
	static char b[BIG];
	const char fill[2] = { 'A', 'B' };
	const int tag[2] = { 7, 2 };
	int wrongs = 0;

	if (rank == 0) {
		for (int i = 0; i < 2; i++) {
			memset(b, fill[i], BIG);
			MPI_Send(b, BIG, MPI_BYTE, 1, tag[i], MPI_COMM_WORLD);
		}
		return 0;
	}
	for (int i = 0; rank == 1 && i < 2; i++) {
		MPI_Status st;
		int rc;

		MPI_Probe(0, MPI_ANY_TAG, MPI_COMM_WORLD, &st);
		rc = MPI_Recv(b, BIG, MPI_BYTE, 0, any ? MPI_ANY_TAG : st.MPI_TAG,
			      MPI_COMM_WORLD, &st);
		if (MPI_SUCCESS != rc) {
			printf("attack: receive %d: error %d\n", i, rc);
			fflush(stdout);
			return 1;
		}
		printf("attack: probe + receive %d: got tag %d, '%c'\n", i,
		       st.MPI_TAG, b[0]);
		if (st.MPI_TAG != tag[i] || b[0] != fill[i]) {
			printf("attack: WRONG probe %d reported another message "
			       "than '%c' and its receive took it without an "
			       "error\n", i, fill[i]);
			wrongs++;
		}
	}
	if (rank == 1)
		printf("attack: %d wrong, 0 refused\n", wrongs);
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct msg evict[3] = { { 'A', 0, BIG }, { 'X', 4, SMALL },
					     { 'B', 0, BIG } };
	static const struct msg gap[3] = { { 'A', 7, BIG }, { 'D', 1, SMALL },
					   { 'B', 2, BIG } };
	/* receive i takes message want[i] in MPI's order */
	static const int evict_rtag[3] = { 0, 4, 0 }, evict_want[3] = { 0, 1, 2 };
	static const int gap_rtag[3] = { 1, MPI_ANY_TAG, MPI_ANY_TAG },
			 gap_want[3] = { 1, 0, 2 };
	const struct msg *m;
	const int *rtag, *want;
	static char buf[3][BIG];
	MPI_Request req[3];
	int rank, wrongs = 0, errors = 0;

	if (argc != 2 || (strcmp(argv[1], "evict") && strcmp(argv[1], "gap") &&
			  strcmp(argv[1], "probe") && strcmp(argv[1], "vanish") &&
			  strcmp(argv[1], "probeany") &&
			  strcmp(argv[1], "persist"))) {
		fprintf(stderr, "usage: attack_order "
				"evict|gap|probe|vanish|probeany|persist\n");
		return 2;
	}
	m = strcmp(argv[1], "evict") ? gap : evict;
	rtag = strcmp(argv[1], "evict") ? gap_rtag : evict_rtag;
	want = strcmp(argv[1], "evict") ? gap_want : evict_want;
	MPI_Init(&argc, &argv);
	MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	if (strcmp(argv[1], "evict") && strcmp(argv[1], "gap")) {
		if (!strcmp(argv[1], "vanish")	  ? probe_until_stop(rank)
		    : !strcmp(argv[1], "persist") ? bsend_persist(rank)
		    : probe_then_recv(rank, !strcmp(argv[1], "probeany")))
			MPI_Abort(MPI_COMM_WORLD, 3);
		MPI_Finalize();
		return 0;
	}
	if (rank == 1)
		for (int i = 0; i < 3; i++)
			MPI_Irecv(buf[i], BIG, MPI_BYTE, 0, rtag[i], MPI_COMM_WORLD,
				  &req[i]);
	MPI_Barrier(MPI_COMM_WORLD);
	if (rank == 0) {
		for (int i = 0; i < 3; i++) {
			memset(buf[i], m[i].fill, (size_t)m[i].len);
			MPI_Send(buf[i], m[i].len, MPI_BYTE, 1, m[i].tag,
				 MPI_COMM_WORLD);
		}
	} else if (rank == 1) {
		for (int i = 0; i < 3; i++) {
			MPI_Status st;
			const struct msg *w = &m[want[i]];
			int rc = MPI_Wait(&req[i], &st), n = -1;

			if (MPI_SUCCESS != rc) {
				printf("attack: receive %d (tag %d): error %d\n", i,
				       rtag[i], rc);
				errors++;
				continue;
			}
			MPI_Get_count(&st, MPI_BYTE, &n);
			printf("attack: receive %d (tag %d): got tag %d, %d bytes "
			       "of '%c'\n",
			       i, rtag[i], st.MPI_TAG, n, buf[i][0]);
			/* after a refusal the rest is the job's own mess */
			if ((n != w->len || buf[i][0] != w->fill ||
			     st.MPI_TAG != w->tag) && !errors) {
				printf("attack: WRONG receive %d took another "
				       "message than '%c' without an error\n",
				       i, w->fill);
				wrongs++;
			}
		}
		printf("attack: %d wrong, %d refused\n", wrongs, errors);
		fflush(stdout);
	}
	/* a refused receive left the job's state undefined: no finalize */
	if (errors)
		MPI_Abort(MPI_COMM_WORLD, 3);
	MPI_Finalize();
	return 0;
}

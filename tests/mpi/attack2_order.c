/* SPDX-License-Identifier: MIT */
/*
 * Second red team on the order audit of pml/encshim (docs/PROTOCOL.md
 * section 11, "Order"): attacks on the fixes (probe reports, the
 * MPI_ANY_TAG count). Run by tests/mpi/attack2_order.sh with tamper.c
 * below MPI. Two ranks, MPI_ERRORS_RETURN; rank 1 prints what each
 * receive got. "attack: WRONG" means a receive completed without an
 * error holding another message than MPI's order gives it;
 * "attack: job ended without any error" follows when no receive of the
 * job was refused. Usage: attack2_order MODE, MODE one of
 *   probecap  A (tag 7), B (tag 2), 4096 bytes, then 64 messages of tags
 *             100..163 (1024 bytes). Rank 1: MPI_Probe(0, MPI_ANY_TAG)
 *             (must report A), then MPI_Probe(0, t) of each of the 64
 *             tags (sizing them), then receives the first probed tag,
 *             the other one, and the 64. tamper.c swaps A and B: the
 *             64 later reports push the ANY_TAG report out of the list
 *             (the list kept 64 on ca61726, oldest went), so the receive of
 *             tag 2 is audited alone and every receive succeeds.
 *   probecap63  the same with 63 sizing probes: the report stays, the
 *             swap is refused (control: the cap is the cause).
 *   gapvanish A (tag 7, 4096), D (tag 1), B (tag 2, 4096), D2 (tag 1),
 *             B2 (tag 2, 4096) to receives posted before (barrier):
 *             tag 1, tag 1, MPI_ANY_TAG, tag 2; then rank 1 drains what
 *             is left with MPI_Iprobe(0, MPI_ANY_TAG) + MPI_Recv. MPI:
 *             D, D2, A, B, B2 drained. tamper.c discards A whole
 *             (vanish, ob1 hdr_seq renumbered): the ANY_TAG receive
 *             takes B (one untaken place below, one earlier tag-1
 *             receive pending: the count passes), the tag-2 receive
 *             takes B2 (its delta names B, taken), the drain finds
 *             nothing: A is lost, two receives hold the wrong message,
 *             the job exits 0.
 *   gaphandle X (tag 9, 64 bytes), P (tag 1, 4096), N (tag 1, 4096).
 *             Rank 1 (after all have arrived): MPI_Mprobe(0, ANY_TAG)
 *             (X, kept unreceived), a receive of tag 1 (MPI: P), then
 *             MPI_Mrecv of X. tamper.c discards P whole (vanish): the
 *             tag-1 receive takes N, whose delta names P's place, not
 *             taken, while the matched probe, posted earlier and still
 *             pending, fits tag 1 and could have taken P.
 *   probedrop A (tag 7), B (tag 2), 256 KiB each (rendezvous), sent by
 *             MPI_Isend, then C (tag 2), D (tag 7), 1024 bytes. Rank 1
 *             (after all have arrived): MPI_Probe(0, MPI_ANY_TAG) (must
 *             report A), two MPI_Irecv of the reported tag (the probed
 *             message and the next of its tag, double buffering), then
 *             two MPI_Recv of the other tag. tamper.c swaps A and B: the
 *             second Irecv takes C and completes first, while the first
 *             (B, rendezvous) is still pending between the probe and it,
 *             so the probe report is dropped unchecked (step 6).
 *   probestale  A (tag 7), B (tag 2), 4096 bytes. Rank 1 (after both
 *             arrived): an MPI_Iprobe(0, 2) loop (wait for the control
 *             message),
 *             then MPI_Probe(0, MPI_ANY_TAG) (must report A) and receives
 *             the reported tag, then the other. tamper.c swaps A and B:
 *             the ANY_TAG probe reports B, but the report kept for
 *             (0, tag 2) is the older one of the tag-2 probe (the oldest
 *             is kept), whose pattern B fits: the swap is never checked.
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BIG 4096
#define TINY 64 /* under tamper.c's 256-byte threshold: left alone */
#define SMALL 1024
#define NSIZED 64
#define BIGR (256 * 1024)

static char buf[8][BIG];

static void send_fill(char fill, int len, int tag)
{
	static char b[BIG];

	memset(b, fill, (size_t)len);
	MPI_Send(b, len, MPI_BYTE, 1, tag, MPI_COMM_WORLD);
}

static void verdict(int wrongs, int errors)
{
	printf("attack: %d wrong, %d refused\n", wrongs, errors);
	if (wrongs && !errors)
		printf("attack: job ended without any error\n");
	fflush(stdout);
}

/* Modes probecap, probecap63. */
static int probe_cap(int rank, int nsized)
{
	MPI_Status st, first;
	int errors = 0, wrongs = 0, t0, t1;

	if (rank == 0) {
		send_fill('A', BIG, 7);
		send_fill('B', BIG, 2);
		for (int i = 0; i < nsized; i++)
			send_fill('s', SMALL, 100 + i);
		return 0;
	}
	MPI_Probe(0, MPI_ANY_TAG, MPI_COMM_WORLD, &first);
	for (int i = 0; i < nsized; i++)
		MPI_Probe(0, 100 + i, MPI_COMM_WORLD, &st);
	t0 = first.MPI_TAG;
	t1 = 7 == t0 ? 2 : 7;
	printf("attack: MPI_Probe(ANY_TAG) reported tag %d (MPI: 7)\n", t0);
	for (int i = 0; i < 2; i++) {
		int rc = MPI_Recv(buf[0], BIG, MPI_BYTE, 0, i ? t1 : t0,
				  MPI_COMM_WORLD, &st);

		if (MPI_SUCCESS != rc) {
			printf("attack: receive of tag %d: error %d\n",
			       i ? t1 : t0, rc);
			errors++;
			break;
		}
		printf("attack: receive %d (tag %d): got '%c'\n", i,
		       i ? t1 : t0, buf[0][0]);
		if (0 == i && 'A' != buf[0][0]) {
			printf("attack: WRONG the probe reported B first and its "
			       "receive took it without an error\n");
			wrongs++;
		}
	}
	for (int i = 0; !errors && i < nsized; i++)
		if (MPI_SUCCESS != MPI_Recv(buf[0], SMALL, MPI_BYTE, 0, 100 + i,
					    MPI_COMM_WORLD, &st)) {
			printf("attack: receive of tag %d: error\n", 100 + i);
			errors++;
		}
	verdict(wrongs, errors);
	return errors;
}

/* Mode probestale. */
static int probe_stale(int rank)
{
	MPI_Status st;
	int errors = 0, wrongs = 0, flag = 0, t0;
	char got[3] = "";

	if (rank == 0) {
		send_fill('A', BIG, 7);
		send_fill('B', BIG, 2);
		return 0;
	}
	sleep(1);
	for (int k = 0; !flag && k < 100000; k++)
		MPI_Iprobe(0, 2, MPI_COMM_WORLD, &flag, &st);
	MPI_Probe(0, MPI_ANY_TAG, MPI_COMM_WORLD, &st);
	t0 = st.MPI_TAG;
	printf("attack: MPI_Iprobe(tag 2) %d, MPI_Probe(ANY_TAG) reported tag "
	       "%d (MPI: 7)\n", flag, t0);
	for (int i = 0; i < 2; i++) {
		int t = 0 == i ? t0 : 7 == t0 ? 2 : 7;

		if (MPI_SUCCESS != MPI_Recv(buf[i], BIG, MPI_BYTE, 0, t,
					    MPI_COMM_WORLD, &st)) {
			printf("attack: receive of tag %d: error\n", t);
			errors++;
			break;
		}
		got[i] = buf[i][0];
	}
	printf("attack: received \"%s\" (MPI: \"AB\")\n", got);
	if (!errors && strcmp(got, "AB")) {
		printf("attack: WRONG the probe reported B first and its "
		       "receive took it without an error\n");
		wrongs++;
	}
	verdict(wrongs, errors);
	return errors;
}

/* Mode probedrop. */
static int probe_drop(int rank)
{
	static char big[4][BIGR];
	MPI_Request req[2];
	MPI_Status st;
	int errors = 0, wrongs = 0, t0, t1;
	char got[5] = "";

	if (rank == 0) {
		memset(big[0], 'A', BIGR);
		memset(big[1], 'B', BIGR);
		MPI_Isend(big[0], BIGR, MPI_BYTE, 1, 7, MPI_COMM_WORLD, &req[0]);
		MPI_Isend(big[1], BIGR, MPI_BYTE, 1, 2, MPI_COMM_WORLD, &req[1]);
		send_fill('C', SMALL, 2);
		send_fill('D', SMALL, 7);
		MPI_Waitall(2, req, MPI_STATUSES_IGNORE);
		return 0;
	}
	sleep(1);
	MPI_Probe(0, MPI_ANY_TAG, MPI_COMM_WORLD, &st);
	t0 = st.MPI_TAG;
	t1 = 7 == t0 ? 2 : 7;
	printf("attack: MPI_Probe(ANY_TAG) reported tag %d (MPI: 7)\n", t0);
	for (int i = 0; i < 2; i++)
		MPI_Irecv(big[i], BIGR, MPI_BYTE, 0, t0, MPI_COMM_WORLD, &req[i]);
	for (int i = 0; i < 4; i++) {
		int rc = i < 2 ? MPI_Wait(&req[i], &st)
			       : MPI_Recv(big[i], BIGR, MPI_BYTE, 0, t1,
					  MPI_COMM_WORLD, &st);

		if (MPI_SUCCESS != rc) {
			printf("attack: receive %d: error %d\n", i, rc);
			errors++;
			continue;
		}
		got[i] = big[i][0];
	}
	printf("attack: received \"%s\" (MPI: \"ADBC\")\n", got);
	if (!errors && strcmp(got, "ADBC")) {
		printf("attack: WRONG the probe reported B first and its "
		       "receive took it without an error\n");
		wrongs++;
	}
	verdict(wrongs, errors);
	return errors;
}

/* Mode gapvanish. */
static int gap_vanish(int rank)
{
	static const int rtag[4] = { 1, 1, MPI_ANY_TAG, 2 };
	static const char want[4] = { 'D', 'E', 'A', 'B' };
	MPI_Request req[4];
	int errors = 0, wrongs = 0, drained = 0;

	if (rank == 1)
		for (int i = 0; i < 4; i++)
			MPI_Irecv(buf[i], BIG, MPI_BYTE, 0, rtag[i], MPI_COMM_WORLD,
				  &req[i]);
	MPI_Barrier(MPI_COMM_WORLD);
	if (rank == 0) {
		send_fill('A', BIG, 7);
		send_fill('D', SMALL, 1);
		send_fill('B', BIG, 2);
		send_fill('E', SMALL, 1);
		send_fill('C', BIG, 2);
		return 0;
	}
	for (int i = 0; i < 4; i++) {
		MPI_Status st;
		int rc = MPI_Wait(&req[i], &st);

		if (MPI_SUCCESS != rc) {
			printf("attack: receive %d: error %d\n", i, rc);
			errors++;
			continue;
		}
		printf("attack: receive %d (tag %d): got tag %d, '%c' (MPI: '%c')\n",
		       i, rtag[i], st.MPI_TAG, buf[i][0], want[i]);
		if (buf[i][0] != want[i] && !errors) {
			printf("attack: WRONG receive %d took another message "
			       "than '%c' without an error\n", i, want[i]);
			wrongs++;
		}
	}
	/* every message sent has long arrived: drain what is left */
	sleep(1);
	for (int k = 0; !errors && k < 8; k++) {
		MPI_Status st;
		int flag = 0;

		if (MPI_SUCCESS != MPI_Iprobe(0, MPI_ANY_TAG, MPI_COMM_WORLD,
					      &flag, &st)) {
			errors++;
			break;
		}
		if (!flag)
			break;
		if (MPI_SUCCESS != MPI_Recv(buf[4], BIG, MPI_BYTE, 0, st.MPI_TAG,
					    MPI_COMM_WORLD, &st)) {
			printf("attack: drain: error\n");
			errors++;
			break;
		}
		printf("attack: drained tag %d, '%c'\n", st.MPI_TAG, buf[4][0]);
		drained++;
	}
	printf("attack: sent \"ADBEC\", %d drained (MPI: 1, 'C')\n", drained);
	verdict(wrongs, errors);
	return errors;
}

/* Mode gaphandle. */
static int gap_handle(int rank)
{
	MPI_Message m;
	MPI_Status st;
	int errors = 0, wrongs = 0;

	MPI_Barrier(MPI_COMM_WORLD);
	if (rank == 0) {
		send_fill('X', TINY, 9);
		send_fill('P', BIG, 1);
		send_fill('N', BIG, 1);
		return 0;
	}
	sleep(1);
	MPI_Mprobe(0, MPI_ANY_TAG, MPI_COMM_WORLD, &m, &st);
	printf("attack: MPI_Mprobe(ANY_TAG) matched tag %d (MPI: 9)\n",
	       st.MPI_TAG);
	if (MPI_SUCCESS != MPI_Recv(buf[0], BIG, MPI_BYTE, 0, 1, MPI_COMM_WORLD,
				    &st)) {
		printf("attack: receive of tag 1: error\n");
		errors++;
	} else {
		printf("attack: receive of tag 1: got '%c' (MPI: 'P')\n",
		       buf[0][0]);
		if ('P' != buf[0][0]) {
			printf("attack: WRONG the tag-1 receive took N\n");
			wrongs++;
		}
	}
	if (MPI_SUCCESS != MPI_Mrecv(buf[1], BIG, MPI_BYTE, &m, &st))
		errors++;
	verdict(wrongs, errors);
	return errors;
}

int main(int argc, char **argv)
{
	int rank, errors;

	if (argc != 2 || (strcmp(argv[1], "probecap") &&
			  strcmp(argv[1], "probecap63") &&
			  strcmp(argv[1], "gapvanish") &&
			  strcmp(argv[1], "probedrop") &&
			  strcmp(argv[1], "gaphandle") &&
			  strcmp(argv[1], "probestale"))) {
		fprintf(stderr, "usage: attack2_order "
				"probecap|probecap63|gapvanish|gaphandle|probedrop|"
				"probestale\n");
		return 2;
	}
	MPI_Init(&argc, &argv);
	MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	if (!strcmp(argv[1], "gapvanish"))
		errors = gap_vanish(rank);
	else if (!strcmp(argv[1], "gaphandle"))
		errors = gap_handle(rank);
	else if (!strcmp(argv[1], "probedrop"))
		errors = probe_drop(rank);
	else if (!strcmp(argv[1], "probestale"))
		errors = probe_stale(rank);
	else
		errors = probe_cap(rank, strcmp(argv[1], "probecap") ? NSIZED - 1
								  : NSIZED);
	/* a refused receive left the job's state undefined: no finalize */
	if (errors)
		MPI_Abort(MPI_COMM_WORLD, 3);
	MPI_Finalize();
	return 0;
}

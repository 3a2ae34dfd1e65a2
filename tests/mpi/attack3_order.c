/* SPDX-License-Identifier: MIT */
/*
 * Third red team on the order audit of pml/encshim (docs/PROTOCOL.md
 * section 11, "Order", steps 6 and 7). Run by tests/mpi/attack3_order.sh,
 * with tamper.c below MPI for the attacks. Two ranks, MPI_ERRORS_RETURN;
 * rank 1 prints what it got. "attack: WRONG" means the program saw
 * another message than MPI's order gives it with no error to that call;
 * "attack: job ended without any error" follows when nothing of the job
 * was refused. Usage: attack3_order MODE, MODE one of
 *   probelate  A (tag 7, 4096 bytes, eager), B (tag 2, 256 KiB,
 *             rendezvous), sent by MPI_Isend. Rank 1 (after both have
 *             arrived) is a nonblocking dispatcher: twice
 *             MPI_Probe(0, MPI_ANY_TAG), then MPI_Irecv of the reported
 *             tag and size; then MPI_Waitall. MPI: the first probe
 *             reports A. tamper.c (swapany) puts B's rendezvous header
 *             before A, keeping each slot's hdr_seq: the first probe
 *             reports B, B's receive is still in progress when the second
 *             probe reports A and A's receive completes at once. Step 6
 *             settles the first report when B's receive completes, and by
 *             then A's place is taken (by a receive posted after the
 *             probe), so the ANY_TAG check counts no untaken place below
 *             B: the wrong report is never refused.
 *   truncvanish  T (tag 9, 100 bytes, under tamper.c's 256-byte
 *             threshold), B1, B2 (tag 2, 4096). Rank 1 (after all have
 *             arrived): MPI_Recv(0, MPI_ANY_TAG) into 16 bytes, which the
 *             program expects to fail with MPI_ERR_TRUNCATE (an honest
 *             truncation: it drops oversized notices), then
 *             MPI_Recv(0, 2): MPI gives it B1. tamper.c discards B1
 *             whole (vanish, ob1 hdr_seq renumbered): the truncated
 *             receive stays pending for ever as a phantom that fits tag
 *             2 (step 4 passes) and ntrunc > 0 turns step 7 off for every
 *             one-tag receive of the stream, so B2 is delivered to the
 *             receive of B1 without an error.
 *   truncheld the same with a 100-byte first receive (no truncation):
 *             the control, refused (step 4) or held (step 7).
 *   oob       honest (no attacker): rank 0 MPI_Isend of 1 MiB (tag 1,
 *             rendezvous), MPI_Send of 64 bytes (tag 2), then it waits
 *             outside MPI (up to OOB_WAIT seconds, default 20) for a file
 *             that rank 1 creates once its receive of the small message
 *             returns, then MPI_Wait. Rank 1: MPI_Irecv(0, 1) of the
 *             large one, MPI_Recv(0, MPI_ANY_TAG) of the small one (MPI's
 *             progress rule: this pair completes independently of other
 *             actions), creates the file, MPI_Wait. Prints how long the
 *             small receive took; "regression: WAITED" when it returned
 *             only after rank 0 gave up waiting (without encshim it
 *             returns at once): step 7 holds it until the large one is
 *             taken, which needs rank 0 in MPI.
 *   oobtag    the same with MPI_Recv(0, 1) for the small one, sent with
 *             tag 1 (the second message of its tag: step 7 waits for the
 *             first).
 *   oobchain  the same, the small one (tag 3) taken by an MPI_ANY_TAG
 *             receive posted after the large one's, and one more of
 *             tag 2, the only one of its tag, received by MPI_Recv(0, 2):
 *             it waits too, behind the held MPI_ANY_TAG receive.
 *   oobmrecv  rank 0 sends only the large one; rank 1 MPI_Mprobe(0, 1),
 *             then MPI_Imrecv, a nonblocking call: with encshim it
 *             returns only once the frame has arrived (MPI_Imrecv waits
 *             for the matched probe's staged receive), which needs rank 0
 *             in MPI.
 *   lategap   honest (vader): rank 0 sends E (tag 1000), then GAP_MSGS
 *             (default 300000) one-byte messages of tags 0..7 in turn;
 *             rank 1 receives them in order by tag, and E last (legal:
 *             E waits as an unexpected message). E's place stays untaken,
 *             so every later place is kept in runs of at most 4 receive
 *             tags: one run per 4 messages, each audit scans them all
 *             (time per message grows with the count), and past 65536
 *             runs the receive is refused ("regression: REFUSED").
 *             GAP_FIRST set: E received first (the control).
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BIG 4096
#define TINY 100 /* under tamper.c's 256-byte threshold: left alone */
#define BIGR (256 * 1024)
#define HUGE (8 * 1024 * 1024)

static char buf[4][BIGR], huge[HUGE];

static void verdict(int wrongs, int errors)
{
	printf("attack: %d wrong, %d refused\n", wrongs, errors);
	if (wrongs && !errors)
		printf("attack: job ended without any error\n");
	fflush(stdout);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void send_fill(char fill, int len, int tag)
{
	memset(buf[0], fill, (size_t)len);
	MPI_Send(buf[0], len, MPI_BYTE, 1, tag, MPI_COMM_WORLD);
}

/* Mode probemerge. */
static int probe_merge(int rank)
{
	static const char want[] = "PAN";
	MPI_Request req[3];
	MPI_Status st;
	int errors = 0, wrongs = 0, count, tag;
	char got[4] = "";

	if (rank == 0) {
		memset(huge, 'P', HUGE);
		memset(buf[1], 'A', BIG);
		memset(buf[2], 'N', BIG);
		MPI_Isend(huge, HUGE, MPI_BYTE, 1, 2, MPI_COMM_WORLD, &req[0]);
		MPI_Isend(buf[1], BIG, MPI_BYTE, 1, 7, MPI_COMM_WORLD, &req[1]);
		MPI_Isend(buf[2], BIG, MPI_BYTE, 1, 2, MPI_COMM_WORLD, &req[2]);
		MPI_Waitall(3, req, MPI_STATUSES_IGNORE);
		return 0;
	}
	sleep(1);
	for (int i = 0; i < 3; i++) {
		if (MPI_SUCCESS != MPI_Probe(0, MPI_ANY_TAG, MPI_COMM_WORLD, &st)) {
			printf("attack: probe %d: error\n", i);
			errors++;
			break;
		}
		tag = st.MPI_TAG;
		MPI_Get_count(&st, MPI_BYTE, &count);
		printf("attack: probe %d reported tag %d, %d bytes (MPI: tag %d)\n",
		       i, tag, count, 1 == i ? 7 : 2);
		MPI_Irecv(count > BIGR ? huge : buf[i + 1], count, MPI_BYTE, 0,
			  tag, MPI_COMM_WORLD, &req[i]);
	}
	for (int i = 0; !errors && i < 3; i++) {
		if (MPI_SUCCESS != MPI_Wait(&req[i], &st)) {
			printf("attack: receive %d: error\n", i);
			errors++;
			continue;
		}
		MPI_Get_count(&st, MPI_BYTE, &count);
		got[i] = count > BIGR ? huge[0] : buf[i + 1][0];
	}
	printf("attack: dispatched \"%s\" (MPI: \"%s\")\n", got, want);
	if (!errors && strcmp(got, want)) {
		printf("attack: WRONG the second MPI_Probe(ANY_TAG) reported N, "
		       "sent after A, and nothing was refused\n");
		wrongs++;
	}
	verdict(wrongs, errors);
	return errors;
}

/* Mode probelate. */
static int probe_late(int rank)
{
	MPI_Request req[2];
	MPI_Status st[2];
	int errors = 0, wrongs = 0, tags[2], count;
	char got[3] = "";

	if (rank == 0) {
		memset(buf[0], 'A', BIG);
		memset(buf[1], 'B', BIGR);
		MPI_Isend(buf[0], BIG, MPI_BYTE, 1, 7, MPI_COMM_WORLD, &req[0]);
		MPI_Isend(buf[1], BIGR, MPI_BYTE, 1, 2, MPI_COMM_WORLD, &req[1]);
		MPI_Waitall(2, req, MPI_STATUSES_IGNORE);
		return 0;
	}
	sleep(1);
	for (int i = 0; i < 2; i++) {
		if (MPI_SUCCESS != MPI_Probe(0, MPI_ANY_TAG, MPI_COMM_WORLD, &st[0])) {
			printf("attack: probe %d: error\n", i);
			errors++;
			break;
		}
		tags[i] = st[0].MPI_TAG;
		MPI_Get_count(&st[0], MPI_BYTE, &count);
		printf("attack: probe %d reported tag %d, %d bytes (MPI: tag %d)\n",
		       i, tags[i], count, i ? 2 : 7);
		MPI_Irecv(buf[2 + i], count, MPI_BYTE, 0, tags[i], MPI_COMM_WORLD,
			  &req[i]);
	}
	for (int i = 0; !errors && i < 2; i++) {
		if (MPI_SUCCESS != MPI_Wait(&req[i], &st[i])) {
			printf("attack: receive %d: error\n", i);
			errors++;
			continue;
		}
		got[i] = buf[2 + i][0];
	}
	printf("attack: dispatched \"%s\" (MPI: \"AB\")\n", got);
	if (!errors && strcmp(got, "AB")) {
		printf("attack: WRONG the first MPI_Probe(ANY_TAG) reported B, "
		       "sent after A, and nothing was refused\n");
		wrongs++;
	}
	verdict(wrongs, errors);
	return errors;
}


/* Mode truncvanish. */
static int trunc_vanish(int rank, int control)
{
	MPI_Status st;
	int errors = 0, wrongs = 0, rc, flag = 0, want = control ? MPI_SUCCESS
							      : MPI_ERR_TRUNCATE;

	if (rank == 0) {
		send_fill('T', TINY, 9);
		send_fill('P', BIG, 2);
		send_fill('N', BIG, 2);
		return 0;
	}
	sleep(1);
	rc = MPI_Recv(buf[1], control ? TINY : 16, MPI_BYTE, 0, MPI_ANY_TAG,
		      MPI_COMM_WORLD, &st);
	printf("attack: %d-byte MPI_ANY_TAG receive: %s (expected)\n",
	       control ? TINY : 16,
	       MPI_ERR_TRUNCATE == rc ? "MPI_ERR_TRUNCATE"
	       : MPI_SUCCESS == rc    ? "MPI_SUCCESS"
				      : "other error");
	if (want != rc)
		errors++;
	if (!errors && MPI_SUCCESS != MPI_Recv(buf[1], BIG, MPI_BYTE, 0, 2,
					       MPI_COMM_WORLD, &st)) {
		printf("attack: receive of tag 2: error\n");
		errors++;
	} else if (!errors) {
		printf("attack: receive of tag 2: got '%c' (MPI: 'P')\n",
		       buf[1][0]);
		if ('P' != buf[1][0]) {
			printf("attack: WRONG the tag-2 receive took N, sent "
			       "after P, without an error\n");
			wrongs++;
		}
	}
	sleep(1);
	if (!errors && MPI_SUCCESS == MPI_Iprobe(0, MPI_ANY_TAG, MPI_COMM_WORLD,
						 &flag, &st))
		printf("attack: left unreceived: %d (MPI: 1, 'N')\n", flag);
	verdict(wrongs, errors);
	return errors;
}

/* Modes oob, oobtag, oobchain, oobmrecv: honest. */
static int oob(int rank, const char *mode)
{
	const char *dir = getenv("OOB_DIR");
	int limit = getenv("OOB_WAIT") ? atoi(getenv("OOB_WAIT")) : 20;
	int chain = !strcmp(mode, "oobchain"), same = !strcmp(mode, "oobtag");
	int mrecv = !strcmp(mode, "oobmrecv");
	int rc = MPI_SUCCESS, waited = 0;
	char path[512];
	MPI_Request req[2];
	MPI_Status st;
	double t0, dt;

	snprintf(path, sizeof(path), "%s/oob-flag", dir ? dir : "/tmp");
	MPI_Barrier(MPI_COMM_WORLD); /* connected: sends leave at once */
	if (rank == 0) {
		unlink(path);
		memset(buf[0], 'L', BIGR);
		MPI_Isend(buf[0], BIGR, MPI_BYTE, 1, 1, MPI_COMM_WORLD, &req[0]);
		if (!mrecv)
			send_fill('S', 64, same ? 1 : 3);
		if (chain)
			send_fill('U', 64, 2);
		/* outside MPI: the application's own synchronisation */
		for (; waited < 10 * limit && access(path, F_OK); waited++)
			usleep(100000);
		if (access(path, F_OK))
			printf("oob: rank 0 gave up waiting after %d s\n", limit);
		unlink(path);
		fflush(stdout);
		MPI_Wait(&req[0], MPI_STATUS_IGNORE);
		return 0;
	}
	if (mrecv) {
		MPI_Message m;

		MPI_Mprobe(0, 1, MPI_COMM_WORLD, &m, &st);
		t0 = now();
		rc = MPI_Imrecv(buf[1], BIGR, MPI_BYTE, &m, &req[0]);
		dt = now() - t0;
		fclose(fopen(path, "w"));
		printf("oob: MPI_Imrecv returned %d after %.1f s\n", rc, dt);
		if (dt > limit / 2)
			printf("regression: WAITED MPI_Imrecv returned only "
			       "after rank 0 entered MPI again\n");
		rc |= MPI_Wait(&req[0], &st);
		fflush(stdout);
		return MPI_SUCCESS != rc;
	}
	MPI_Irecv(buf[1], BIGR, MPI_BYTE, 0, 1, MPI_COMM_WORLD, &req[0]);
	if (chain)
		MPI_Irecv(buf[2], 64, MPI_BYTE, 0, MPI_ANY_TAG, MPI_COMM_WORLD,
			  &req[1]);
	sleep(1);
	t0 = now();
	/* oob: the small one (tag 3) by MPI_ANY_TAG; oobtag: the second
	 * message of tag 1; oobchain: one of tag 2, the only one of its tag,
	 * after an MPI_ANY_TAG receive took the tag-3 one */
	rc = MPI_Recv(buf[3], 64, MPI_BYTE, 0,
		      chain ? 2 : same ? 1 : MPI_ANY_TAG, MPI_COMM_WORLD, &st);
	dt = now() - t0;
	fclose(fopen(path, "w"));
	printf("oob: small receive returned %d after %.1f s\n", rc, dt);
	if (dt > limit / 2)
		printf("regression: WAITED the small receive returned only "
		       "after rank 0 entered MPI again\n");
	rc |= MPI_Wait(&req[0], &st);
	if (chain)
		rc |= MPI_Wait(&req[1], &st);
	fflush(stdout);
	return MPI_SUCCESS != rc;
}

/* Mode lategap: honest. */
static int late_gap(int rank)
{
	int n = getenv("GAP_MSGS") ? atoi(getenv("GAP_MSGS")) : 300000;
	int rc = MPI_SUCCESS, i, first = NULL != getenv("GAP_FIRST");
	char b[8] = "E";
	double t0 = now(), t = t0;

	if (rank == 0) {
		MPI_Send(b, 1, MPI_BYTE, 1, 1000, MPI_COMM_WORLD);
		for (i = 0; i < n; i++)
			MPI_Send(b, 1, MPI_BYTE, 1, i % 8, MPI_COMM_WORLD);
		return 0;
	}
	if (first) /* the control: no place left untaken */
		rc = MPI_Recv(b, 1, MPI_BYTE, 0, 1000, MPI_COMM_WORLD,
			      MPI_STATUS_IGNORE);
	for (i = 0; i < n && MPI_SUCCESS == rc; i++) {
		rc = MPI_Recv(b, 1, MPI_BYTE, 0, i % 8, MPI_COMM_WORLD,
			      MPI_STATUS_IGNORE);
		if (0 == (i + 1) % 32768) {
			printf("gap: %d received, last 32768 in %.2f s\n", i + 1,
			       now() - t);
			fflush(stdout);
			t = now();
		}
	}
	if (MPI_SUCCESS != rc)
		printf("regression: REFUSED receive %d of %d (an honest "
		       "job)\n", i, n);
	else if (!first)
		rc = MPI_Recv(b, 1, MPI_BYTE, 0, 1000, MPI_COMM_WORLD,
			      MPI_STATUS_IGNORE);
	printf("gap: %d messages in %.1f s, rc %d\n", i, now() - t0, rc);
	fflush(stdout);
	return MPI_SUCCESS != rc;
}

int main(int argc, char **argv)
{
	int rank, errors;

	if (argc != 2 || (strcmp(argv[1], "probelate") &&
			  strcmp(argv[1], "probemerge") &&
			  strcmp(argv[1], "truncvanish") &&
			  strcmp(argv[1], "truncheld") &&
			  strcmp(argv[1], "oob") && strcmp(argv[1], "oobtag") &&
			  strcmp(argv[1], "oobchain") &&
			  strcmp(argv[1], "oobmrecv") &&
			  strcmp(argv[1], "lategap"))) {
		fprintf(stderr, "usage: attack3_order probelate|truncvanish|"
				"truncheld|probemerge|oob|oobtag|oobchain|"
				"oobmrecv|lategap\n");
		return 2;
	}
	MPI_Init(&argc, &argv);
	MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	if (!strcmp(argv[1], "probelate"))
		errors = probe_late(rank);
	else if (!strcmp(argv[1], "lategap"))
		errors = late_gap(rank);
	else if (!strcmp(argv[1], "probemerge"))
		errors = probe_merge(rank);
	else if (!strncmp(argv[1], "trunc", 5))
		errors = trunc_vanish(rank, !strcmp(argv[1], "truncheld"));
	else
		errors = oob(rank, argv[1]);
	/* a refused receive left the job's state undefined: no finalize */
	if (errors)
		MPI_Abort(MPI_COMM_WORLD, 3);
	MPI_Finalize();
	return 0;
}

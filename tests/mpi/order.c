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
 *   bystander as any, while a receive of another tag, posted first,
 *            waits (it could take some earlier message, not these)
 *   bcast    a pipelined MPI_Bcast (segments on one tag)
 *   threads  as tag, under MPI_THREAD_MULTIPLE: two threads of rank 1
 *            each post one receive (one after the other) and wait
 *   reuse    a message left unreceived on a communicator that is freed;
 *            the next one gets the same context id and group
 *   regroup  as reuse, the next one has the same context id, the ranks
 *            in the other order
 *   honest   no attack: MPI's own out-of-order completions, which the
 *            order audit must accept (see honest())
 *   probethreads  no attack: only the last part of honest, probes and
 *            receives of one tag in four threads
 * Every message is LEN bytes, each filled with its own byte value.
 */
#include <mpi.h>
#include <pthread.h>
#include <stdatomic.h>
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

struct waiter {
	MPI_Request rq;
	unsigned char b[LEN];
	_Atomic int *posted;
	int me;
};

/* Posts after the thread before it, then waits on its own. */
static void *waiter(void *arg)
{
	struct waiter *w = arg;

	while (atomic_load(w->posted) != w->me)
		;
	MPI_Irecv(w->b, LEN, MPI_BYTE, 0, 5, MPI_COMM_WORLD, &w->rq);
	atomic_store(w->posted, w->me + 1);
	MPI_Wait(&w->rq, MPI_STATUS_IGNORE);
	return NULL;
}

static void threads(void)
{
	struct waiter w[2];
	pthread_t t[2];
	_Atomic int posted = 0;

	if (rank == 0) {
		pair(0);
		return;
	}
	for (int i = 0; i < 2; i++) {
		w[i].posted = &posted;
		w[i].me = i;
		pthread_create(&t[i], NULL, waiter, &w[i]);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < 2; i++)
		check(w[i].b, 1 + i);
}

static void bystander(void)
{
	unsigned char b[LEN];
	MPI_Request rq;

	if (rank == 1)
		MPI_Irecv(b, LEN, MPI_BYTE, 0, 99, MPI_COMM_WORLD, &rq);
	pair(1);
	if (rank == 0) {
		memset(b, 3, LEN);
		MPI_Send(b, LEN, MPI_BYTE, 1, 99, MPI_COMM_WORLD);
	} else {
		MPI_Wait(&rq, MPI_STATUS_IGNORE);
		check(b, 3);
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

/*
 * Completions out of send order that MPI allows: a large (rendezvous)
 * message completing after a later small one, by tag and with ANY_TAG;
 * a matched probe between receives; a truncated receive followed by a
 * wildcard one; a message left unreceived while 70000 later ones (more
 * than the audit's 65536 runs) are received by tag, then received last;
 * then probes(), handles(), tags() and probe_threads().
 */
static void probes(void);
static void handles(void);
static void tags(void);
static void probe_threads(void);

static void honest(void)
{
	enum { BIG = 1 << 20, MANY = 70000 };
	unsigned char *big = malloc(BIG), small[LEN], small2[LEN], tiny[8];
	MPI_Request rq[3];
	MPI_Status st[3];
	MPI_Message msg;

	for (int round = 0; round < 2; round++) {
		int anytag = round == 1;

		if (rank == 0) {
			memset(big, 0x21, BIG);
			memset(small, 0x22, LEN);
			MPI_Send(big, BIG, MPI_BYTE, 1, 1, MPI_COMM_WORLD);
			MPI_Send(small, LEN, MPI_BYTE, 1, 2, MPI_COMM_WORLD);
			MPI_Send(small, LEN, MPI_BYTE, 1, 3, MPI_COMM_WORLD);
			continue;
		}
		MPI_Irecv(big, BIG, MPI_BYTE, 0, anytag ? MPI_ANY_TAG : 1,
			  MPI_COMM_WORLD, &rq[0]);
		MPI_Irecv(small, LEN, MPI_BYTE, MPI_ANY_SOURCE,
			  anytag ? MPI_ANY_TAG : 2, MPI_COMM_WORLD, &rq[1]);
		/* the second small one through a matched probe */
		MPI_Mprobe(0, anytag ? MPI_ANY_TAG : 3, MPI_COMM_WORLD, &msg, &st[2]);
		MPI_Mrecv(small2, LEN, MPI_BYTE, &msg, &st[2]);
		MPI_Waitall(2, rq, st);
		check(big, 0x21);
		check(small, 0x22);
		check(small2, 0x22);
	}
	MPI_Barrier(MPI_COMM_WORLD);
	/* truncation, then a wildcard receive of the next message (64
	 * bytes: Open MPI 4.1.4's ob1/vader overruns a truncated receive
	 * buffer for a message that goes by single-copy rendezvous) */
	if (rank == 0) {
		memset(small, 0x23, LEN);
		MPI_Send(small, 64, MPI_BYTE, 1, 4, MPI_COMM_WORLD);
		memset(small, 0x24, LEN);
		MPI_Send(small, LEN, MPI_BYTE, 1, 5, MPI_COMM_WORLD);
	} else {
		int rc, cls;

		MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
		rc = MPI_Recv(tiny, sizeof(tiny), MPI_BYTE, 0, 4, MPI_COMM_WORLD,
			      &st[0]);
		MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
		MPI_Error_class(rc, &cls);
		if (cls != MPI_ERR_TRUNCATE)
			wrong("truncation class", cls, MPI_ERR_TRUNCATE);
		MPI_Recv(small, LEN, MPI_BYTE, MPI_ANY_SOURCE, MPI_ANY_TAG,
			 MPI_COMM_WORLD, &st[0]);
		check(small, 0x24);
	}
	/* one message left behind while many later ones are taken */
	if (rank == 0) {
		tiny[0] = 0x25;
		MPI_Send(tiny, 1, MPI_BYTE, 1, 6, MPI_COMM_WORLD);
		for (int i = 0; i < MANY; i++)
			MPI_Send(tiny, 1, MPI_BYTE, 1, 7 + i % 2, MPI_COMM_WORLD);
	} else {
		for (int i = 0; i < MANY; i++)
			MPI_Recv(tiny, 1, MPI_BYTE, 0, 7 + i % 2, MPI_COMM_WORLD,
				 MPI_STATUS_IGNORE);
		MPI_Recv(tiny, 1, MPI_BYTE, MPI_ANY_SOURCE, MPI_ANY_TAG,
			 MPI_COMM_WORLD, &st[0]);
		if (st[0].MPI_TAG != 6 || tiny[0] != 0x25)
			wrong("left-behind message tag", st[0].MPI_TAG, 6);
	}
	free(big);
	probes();
	handles();
	tags();
	probe_threads();
}

/* Matched probes whose messages are received last: receives of later
 * messages (of a handle's tag, then MPI_ANY_TAG) complete while the
 * handles hold the earlier places. The order audit's wait for skipped
 * places (step 7) must count them, or this deadlocks. */
static void handles(void)
{
	static const int tag[4] = { 40, 41, 40, 42 };
	static unsigned char sb[4][LEN];
	unsigned char b[LEN];
	MPI_Message m[2];
	MPI_Request sq[4];
	MPI_Status st;

	MPI_Barrier(MPI_COMM_WORLD);
	if (rank == 0) {
		/* nonblocking: a rendezvous send ends only when received */
		for (int i = 0; i < 4; i++) {
			memset(sb[i], 0x31 + i, LEN);
			MPI_Isend(sb[i], LEN, MPI_BYTE, 1, tag[i], MPI_COMM_WORLD,
				  &sq[i]);
		}
		MPI_Waitall(4, sq, MPI_STATUSES_IGNORE);
		return;
	}
	MPI_Mprobe(0, MPI_ANY_TAG, MPI_COMM_WORLD, &m[0], &st);
	MPI_Mprobe(0, 41, MPI_COMM_WORLD, &m[1], &st);
	MPI_Recv(b, LEN, MPI_BYTE, 0, 40, MPI_COMM_WORLD, &st);
	check(b, 0x33);
	MPI_Recv(b, LEN, MPI_BYTE, 0, MPI_ANY_TAG, MPI_COMM_WORLD, &st);
	check(b, 0x34);
	MPI_Mrecv(b, LEN, MPI_BYTE, &m[1], &st);
	check(b, 0x32);
	MPI_Mrecv(b, LEN, MPI_BYTE, &m[0], &st);
	check(b, 0x31);
}

/* Four threads of rank 1 each claim a message, MPI_Probe(0, ANY_TAG) and
 * receive the reported tag: a thread's probed message is often taken by
 * another thread's receive (MPI allows it; the receive then takes a
 * later one), which must never be refused. */
enum { PT_MSGS = 4000, PT_THREADS = 4 };
static _Atomic int pt_claimed;
static _Atomic unsigned char pt_seen[PT_MSGS];

static void *probe_thread(void *arg)
{
	(void)arg;
	while (atomic_fetch_add(&pt_claimed, 1) < PT_MSGS) {
		MPI_Status st;
		int v;

		MPI_Probe(0, MPI_ANY_TAG, MPI_COMM_WORLD, &st);
		MPI_Recv(&v, 1, MPI_INT, 0, st.MPI_TAG, MPI_COMM_WORLD,
			 MPI_STATUS_IGNORE);
		if (v < 0 || v >= PT_MSGS || atomic_exchange(&pt_seen[v], 1))
			wrong("probed message under threads", v, -1);
	}
	return NULL;
}

static void probe_threads(void)
{
	pthread_t t[PT_THREADS];

	MPI_Barrier(MPI_COMM_WORLD);
	if (rank == 0) {
		for (int v = 0; v < PT_MSGS; v++)
			MPI_Send(&v, 1, MPI_INT, 1, 30, MPI_COMM_WORLD);
		return;
	}
	for (int i = 0; i < PT_THREADS; i++)
		pthread_create(&t[i], NULL, probe_thread, NULL);
	for (int i = 0; i < PT_THREADS; i++)
		pthread_join(t[i], NULL);
}

/* Probes whose message a receive posted after them takes while the
 * receive of the probed envelope gets the next one: MPI_Probe, then an
 * MPI_Irecv of ANY_TAG (takes the probed 1 MiB message, which completes
 * late), then a receive of the probed tag (takes the small message that
 * follows, and completes first); then an MPI_Iprobe loop that reports
 * the same message many times before its receive. */
static void probes(void)
{
	enum { BIG = 1 << 20 };
	unsigned char *big = malloc(BIG), small[LEN];
	MPI_Request rq;
	MPI_Status st;
	int flag = 0;

	if (rank == 0) {
		MPI_Request sq[2];

		memset(big, 0x26, BIG);
		memset(small, 0x27, LEN);
		/* the small one overtakes the big one's rendezvous */
		MPI_Isend(big, BIG, MPI_BYTE, 1, 9, MPI_COMM_WORLD, &sq[0]);
		MPI_Isend(small, LEN, MPI_BYTE, 1, 9, MPI_COMM_WORLD, &sq[1]);
		MPI_Waitall(2, sq, MPI_STATUSES_IGNORE);
		MPI_Send(small, LEN, MPI_BYTE, 1, 10, MPI_COMM_WORLD);
	} else {
		MPI_Probe(0, MPI_ANY_TAG, MPI_COMM_WORLD, &st);
		MPI_Irecv(big, BIG, MPI_BYTE, 0, MPI_ANY_TAG, MPI_COMM_WORLD, &rq);
		MPI_Recv(small, LEN, MPI_BYTE, 0, st.MPI_TAG, MPI_COMM_WORLD,
			 MPI_STATUS_IGNORE);
		check(small, 0x27);
		MPI_Wait(&rq, MPI_STATUS_IGNORE);
		for (int i = 0; i < BIG; i++)
			if (big[i] != 0x26)
				wrong("probed message", big[i], 0x26);
		for (int polls = 0; polls < 100 || !flag; polls++)
			MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD,
				   &flag, &st);
		MPI_Recv(small, LEN, MPI_BYTE, st.MPI_SOURCE, st.MPI_TAG,
			 MPI_COMM_WORLD, MPI_STATUS_IGNORE);
		if (st.MPI_TAG != 10)
			wrong("iprobe tag", st.MPI_TAG, 10);
		check(small, 0x27);
	}
	free(big);
}

/* Many tags in one stream (the sender's map of last places grows), each
 * tag twice, received by tag in posting order of tag, last tag first. */
static void tags(void)
{
	enum { NTAGS = 300 };
	static unsigned char b[2 * NTAGS];
	MPI_Request rq[2 * NTAGS];

	for (int i = 0; i < 2 * NTAGS; i++) {
		int tag = 100 + i % NTAGS;

		if (rank == 0) {
			b[i] = (unsigned char)(i & 0xff);
			MPI_Send(&b[i], 1, MPI_BYTE, 1, tag, MPI_COMM_WORLD);
		}
	}
	if (rank != 1)
		return;
	for (int k = 0; k < 2 * NTAGS; k++) {
		int t = NTAGS - 1 - k / 2, i = t + (k % 2) * NTAGS;

		MPI_Irecv(&b[i], 1, MPI_BYTE, 0, 100 + t, MPI_COMM_WORLD, &rq[k]);
	}
	MPI_Waitall(2 * NTAGS, rq, MPI_STATUSES_IGNORE);
	for (int i = 0; i < 2 * NTAGS; i++)
		if (b[i] != (unsigned char)(i & 0xff))
			wrong("many tags", b[i], i & 0xff);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "tag";
	int provided;

	MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
	if (provided != MPI_THREAD_MULTIPLE)
		MPI_Abort(MPI_COMM_WORLD, 77);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	if (!strcmp(mode, "tag"))
		pair(0);
	else if (!strcmp(mode, "any"))
		pair(1);
	else if (!strcmp(mode, "mprobe"))
		pair(2);
	else if (!strcmp(mode, "bystander"))
		bystander();
	else if (!strcmp(mode, "threads"))
		threads();
	else if (!strcmp(mode, "bcast"))
		bcast();
	else if (!strcmp(mode, "honest"))
		honest();
	else if (!strcmp(mode, "probethreads"))
		probe_threads();
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

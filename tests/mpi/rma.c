/* SPDX-License-Identifier: MIT */
/*
 * One-sided coverage: "rma [funneled|serialized|multiple] [noshared]".
 * Every window flavour (create, allocate, allocate_shared, dynamic) on
 * COMM_SELF, a dup of WORLD, a split of WORLD (ranks reversed) and WORLD,
 * each with fence, post/start/complete/wait, lock/unlock, lock_all +
 * flush, Rput/Rget/Raccumulate, accumulate, get_accumulate, fetch_and_op
 * and compare_and_swap, every result checked against its expected value.
 * A thread level named is asked of MPI_Init_thread (else MPI_Init).
 * With "multiple": MPI_THREAD_MULTIPLE, the suite also runs in two
 * threads at once (each on communicators of its own), and four threads
 * issue fetch_and_op on one window in one lock_all epoch. "noshared"
 * skips MPI_Win_allocate_shared (ranks on different nodes). "marker"
 * runs instead only one-sided transfers of a known marker string (put,
 * get, accumulate, get_accumulate, rput) on create, allocate and dynamic
 * windows of WORLD, for the wire captures.
 * Prints "rma: ok N checks, windows by: <osc components>".
 */
#include <mpi.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 8 /* ints per rank: one slot per operation */
enum { S_FENCE, S_PSCW, S_LOCK, S_RPUT, S_RACC, S_GACC, S_FOP, S_CAS };

static int failures, checks;
static char seen[256];
static pthread_mutex_t note_lock = PTHREAD_MUTEX_INITIALIZER;

static void check(const char *what, const char *where, long got, long want)
{
	pthread_mutex_lock(&note_lock);
	checks++;
	if (got != want) {
		failures++;
		fprintf(stderr, "rma: %s on %s: got %ld, expected %ld\n", what,
			where, got, want);
	}
	pthread_mutex_unlock(&note_lock);
}

/* Records the component that made the window: the first word of its
 * name ("pt2pt window 5", "rdma window 3"); osc sm names none. */
static void note_component(MPI_Win win)
{
	char name[MPI_MAX_OBJECT_NAME], *sp;
	int len;

	MPI_Win_get_name(win, name, &len);
	if ((sp = strchr(name, ' ')))
		*sp = 0;
	if (!*name)
		strcpy(name, "sm");
	pthread_mutex_lock(&note_lock);
	if (!strstr(seen, name) && strlen(seen) + strlen(name) + 2 < sizeof(seen)) {
		if (*seen)
			strcat(seen, ",");
		strcat(seen, name);
	}
	pthread_mutex_unlock(&note_lock);
}

struct win {
	MPI_Win win;
	int *mem;         /* my N ints */
	MPI_Aint disp[1]; /* target displacement of slot 0 (dynamic: address) */
	MPI_Aint *disps;  /* per rank of comm */
	int me, size, right, left;
	const char *where;
};

static MPI_Aint at(struct win *w, int rank, int slot)
{
	return w->disps[rank] + slot;
}

static void open_win(struct win *w, const char *flavour, MPI_Comm comm,
		     int *dynmem)
{
	MPI_Aint a;

	MPI_Comm_rank(comm, &w->me);
	MPI_Comm_size(comm, &w->size);
	w->right = (w->me + 1) % w->size;
	w->left = (w->me + w->size - 1) % w->size;
	if (!strcmp(flavour, "create")) {
		w->mem = dynmem;
		MPI_Win_create(w->mem, N * sizeof(int), sizeof(int),
			       MPI_INFO_NULL, comm, &w->win);
	} else if (!strcmp(flavour, "allocate")) {
		MPI_Win_allocate(N * sizeof(int), sizeof(int), MPI_INFO_NULL,
				 comm, &w->mem, &w->win);
	} else if (!strcmp(flavour, "allocate_shared")) {
		MPI_Win_allocate_shared(N * sizeof(int), sizeof(int),
					MPI_INFO_NULL, comm, &w->mem, &w->win);
	} else {
		w->mem = dynmem;
		MPI_Win_create_dynamic(MPI_INFO_NULL, comm, &w->win);
		MPI_Win_attach(w->win, w->mem, N * sizeof(int));
	}
	note_component(w->win);
	w->disps = malloc(w->size * sizeof(MPI_Aint));
	/* displacement unit 1 for dynamic windows: addresses in bytes */
	if (!strcmp(flavour, "dynamic")) {
		MPI_Get_address(w->mem, &a);
		w->disp[0] = a;
	} else {
		w->disp[0] = 0;
	}
	MPI_Allgather(w->disp, 1, MPI_AINT, w->disps, 1, MPI_AINT, comm);
	for (int i = 0; i < N; i++)
		w->mem[i] = 0;
	w->mem[S_GACC] = 100;
	w->mem[S_CAS] = -1;
}

/* Dynamic windows address bytes; the others ints (disp_unit 4). */
static MPI_Aint slot_disp(struct win *w, int rank, int slot, int dynamic)
{
	return dynamic ? w->disps[rank] + slot * (MPI_Aint)sizeof(int)
		       : at(w, rank, slot);
}

/* Reads my own slot inside a passive epoch on myself. */
static int local(struct win *w, int slot)
{
	int v;

	MPI_Win_lock(MPI_LOCK_SHARED, w->me, 0, w->win);
	MPI_Win_sync(w->win);
	v = ((volatile int *)w->mem)[slot];
	MPI_Win_unlock(w->me, w->win);
	return v;
}

static void run_ops(struct win *w, MPI_Comm comm, int dyn)
{
	MPI_Group g, left_g, right_g;
	MPI_Request r[3];
	int v, got, one = 1, res, cmp = -1;
	const char *at_ = w->where;

	/* fence + put: my rank + 1000 into my right neighbour's slot */
	MPI_Win_fence(0, w->win);
	v = w->me + 1000;
	MPI_Put(&v, 1, MPI_INT, w->right, slot_disp(w, w->right, S_FENCE, dyn),
		1, MPI_INT, w->win);
	MPI_Win_fence(0, w->win);
	check("fence/put", at_, w->mem[S_FENCE], w->left + 1000);
	MPI_Win_fence(MPI_MODE_NOSUCCEED, w->win);

	/* post/start/complete/wait: the left neighbour gets, I expose */
	w->mem[S_PSCW] = w->me + 2000;
	MPI_Comm_group(comm, &g);
	MPI_Group_incl(g, 1, &w->left, &left_g);
	MPI_Group_incl(g, 1, &w->right, &right_g);
	MPI_Win_post(left_g, 0, w->win);
	MPI_Win_start(right_g, 0, w->win);
	MPI_Get(&got, 1, MPI_INT, w->right, slot_disp(w, w->right, S_PSCW, dyn),
		1, MPI_INT, w->win);
	MPI_Win_complete(w->win);
	MPI_Win_wait(w->win);
	check("pscw/get", at_, got, w->right + 2000);
	MPI_Group_free(&left_g);
	MPI_Group_free(&right_g);
	MPI_Group_free(&g);

	/* lock/unlock + accumulate: each rank adds rank + 1 to its right */
	v = w->me + 1;
	MPI_Win_lock(MPI_LOCK_EXCLUSIVE, w->right, 0, w->win);
	MPI_Accumulate(&v, 1, MPI_INT, w->right,
		       slot_disp(w, w->right, S_LOCK, dyn), 1, MPI_INT, MPI_SUM,
		       w->win);
	MPI_Win_unlock(w->right, w->win);

	/* lock_all + flush + request-based operations */
	MPI_Win_lock_all(0, w->win);
	v = w->me + 3000;
	MPI_Rput(&v, 1, MPI_INT, w->right, slot_disp(w, w->right, S_RPUT, dyn),
		 1, MPI_INT, w->win, &r[0]);
	MPI_Wait(&r[0], MPI_STATUS_IGNORE);
	MPI_Win_flush(w->right, w->win);
	MPI_Rget(&got, 1, MPI_INT, w->right, slot_disp(w, w->right, S_RPUT, dyn),
		 1, MPI_INT, w->win, &r[1]);
	MPI_Wait(&r[1], MPI_STATUS_IGNORE);
	check("lock_all/rput/flush/rget", at_, got, w->me + 3000);
	MPI_Raccumulate(&one, 1, MPI_INT, w->right,
			slot_disp(w, w->right, S_RACC, dyn), 1, MPI_INT, MPI_SUM,
			w->win, &r[2]);
	MPI_Wait(&r[2], MPI_STATUS_IGNORE);
	MPI_Win_flush_all(w->win);
	MPI_Win_unlock_all(w->win);

	/* get_accumulate, fetch_and_op, compare_and_swap */
	v = w->me + 1;
	MPI_Win_lock(MPI_LOCK_SHARED, w->right, 0, w->win);
	MPI_Get_accumulate(&v, 1, MPI_INT, &res, 1, MPI_INT, w->right,
			   slot_disp(w, w->right, S_GACC, dyn), 1, MPI_INT,
			   MPI_SUM, w->win);
	MPI_Win_flush(w->right, w->win);
	check("get_accumulate (old value)", at_, res, 100);
	MPI_Fetch_and_op(&one, &res, MPI_INT, w->right,
			 slot_disp(w, w->right, S_FOP, dyn), MPI_SUM, w->win);
	MPI_Win_flush_local(w->right, w->win);
	check("fetch_and_op (old value)", at_, res, 0);
	MPI_Compare_and_swap(&w->me, &cmp, &res, MPI_INT, w->right,
			     slot_disp(w, w->right, S_CAS, dyn), w->win);
	MPI_Win_unlock(w->right, w->win);
	check("compare_and_swap (old value)", at_, res, -1);

	MPI_Barrier(comm);
	check("lock/accumulate", at_, local(w, S_LOCK), w->left + 1);
	check("rput", at_, local(w, S_RPUT), w->left + 3000);
	check("raccumulate", at_, local(w, S_RACC), 1);
	check("get_accumulate", at_, local(w, S_GACC), 100 + w->left + 1);
	check("fetch_and_op", at_, local(w, S_FOP), 1);
	check("compare_and_swap", at_, local(w, S_CAS), w->left);
	MPI_Barrier(comm);
}

static void close_win(struct win *w, int dyn)
{
	if (dyn)
		MPI_Win_detach(w->win, w->mem);
	MPI_Win_free(&w->win);
	free(w->disps);
}

static const char *flavours[] = { "create", "allocate", "allocate_shared",
				  "dynamic" };
static int noshared;

/* Two threads running the suite at once free their windows in turn, the
 * other one waiting outside MPI: osc pt2pt may still be finishing, in
 * another thread's progress, a message of a window that is being freed
 * (docs/MPI.md, "One-sided communication"). */
static pthread_barrier_t free_turns;
static __thread int suite_index = -1; /* -1: the only thread */

static void close_in_turn(struct win *w, int dyn)
{
	if (suite_index < 0) {
		close_win(w, dyn);
		return;
	}
	for (int turn = 0; turn < 2; turn++) {
		pthread_barrier_wait(&free_turns);
		if (turn == suite_index)
			close_win(w, dyn);
	}
	pthread_barrier_wait(&free_turns);
}

/* The whole matrix on communicators derived from BASE. */
static void suite(MPI_Comm base, const char *tag)
{
	MPI_Comm comms[4];
	const char *names[4] = { "COMM_SELF", "dup", "split", "WORLD" };
	int rank, mem[N];
	char where[128];

	MPI_Comm_rank(base, &rank);
	MPI_Comm_dup(MPI_COMM_SELF, &comms[0]);
	MPI_Comm_dup(base, &comms[1]);
	MPI_Comm_split(base, 0, -rank, &comms[2]); /* ranks reversed */
	comms[3] = base;
	for (int c = 0; c < 4; c++) {
		for (int f = 0; f < 4; f++) {
			struct win w;
			int dyn = !strcmp(flavours[f], "dynamic");

			if (noshared && !strcmp(flavours[f], "allocate_shared") &&
			    c != 0)
				continue;
			snprintf(where, sizeof(where), "%s %s%s", flavours[f],
				 names[c], tag);
			w.where = where;
			open_win(&w, flavours[f], comms[c], mem);
			run_ops(&w, comms[c], dyn);
			close_in_turn(&w, dyn);
		}
	}
	for (int c = 0; c < 3; c++)
		MPI_Comm_free(&comms[c]);
}

struct suite_arg {
	MPI_Comm comm;
	int index;
};

static void *suite_thread(void *arg)
{
	struct suite_arg *a = arg;

	suite_index = a->index;
	suite(a->comm, " (threaded)");
	return NULL;
}

/* Four threads, one window, one lock_all epoch: each adds 1 to the right
 * neighbour's two counters 200 times, by fetch_and_op and accumulate,
 * flushing as it goes. */
#define T 4
#define K 200
static MPI_Win shared_win;
static int shared_right;

static void *fop_thread(void *arg)
{
	int one = 1, old;

	(void)arg;
	for (int i = 0; i < K; i++) {
		MPI_Fetch_and_op(&one, &old, MPI_INT, shared_right, 0, MPI_SUM,
				 shared_win);
		MPI_Accumulate(&one, 1, MPI_INT, shared_right, 1, 1, MPI_INT,
			       MPI_SUM, shared_win);
		if (i % 8 == 0)
			MPI_Win_flush(shared_right, shared_win);
		else if (i % 8 == 4)
			MPI_Win_flush_all(shared_win);
	}
	MPI_Win_flush(shared_right, shared_win);
	return NULL;
}

static void one_window_many_threads(void)
{
	pthread_t t[T];
	int rank, size, *mem, v, v2;

	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	shared_right = (rank + 1) % size;
	/* create: a window of pt2pt (allocate would be sm's on one node) */
	mem = malloc(2 * sizeof(int));
	MPI_Win_create(mem, 2 * sizeof(int), sizeof(int), MPI_INFO_NULL,
		       MPI_COMM_WORLD, &shared_win);
	note_component(shared_win);
	mem[0] = mem[1] = 0;
	MPI_Barrier(MPI_COMM_WORLD);
	MPI_Win_lock_all(0, shared_win);
	for (int i = 0; i < T; i++)
		pthread_create(&t[i], NULL, fop_thread, NULL);
	for (int i = 0; i < T; i++)
		pthread_join(t[i], NULL);
	MPI_Win_unlock_all(shared_win);
	MPI_Barrier(MPI_COMM_WORLD);
	MPI_Win_lock(MPI_LOCK_SHARED, rank, 0, shared_win);
	MPI_Win_sync(shared_win);
	v = ((volatile int *)mem)[0];
	v2 = ((volatile int *)mem)[1];
	MPI_Win_unlock(rank, shared_win);
	check("threads x fetch_and_op on one window", "create WORLD", v,
	      T * K);
	check("threads x accumulate on one window", "create WORLD", v2, T * K);
	MPI_Win_free(&shared_win);
	free(mem);
}

/* Marker bytes through every data-moving call, nothing else. */
static const char MARK[] = "ENCSHIM-PLAINTEXT-MARKER-7f3a9c";
#define ML 4096 /* bytes per transfer */

static void fill(char *b, int len)
{
	for (int i = 0; i < len; i++)
		b[i] = MARK[i % (int)(sizeof(MARK) - 1)];
}

static void marker_window(const char *flavour, char *want, char *got)
{
	MPI_Win win;
	MPI_Aint base = 0, *bases;
	MPI_Request r;
	char *mem = NULL, where[64];
	int rank, size, right, dyn = !strcmp(flavour, "dynamic");

	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	right = (rank + 1) % size;
	snprintf(where, sizeof(where), "marker %s WORLD", flavour);
	bases = malloc(size * sizeof(MPI_Aint));
	if (!strcmp(flavour, "allocate")) {
		MPI_Win_allocate(4 * ML, 1, MPI_INFO_NULL, MPI_COMM_WORLD, &mem,
				 &win);
	} else {
		mem = malloc(4 * ML);
		if (dyn) {
			MPI_Win_create_dynamic(MPI_INFO_NULL, MPI_COMM_WORLD, &win);
			MPI_Win_attach(win, mem, 4 * ML);
			MPI_Get_address(mem, &base);
		} else {
			MPI_Win_create(mem, 4 * ML, 1, MPI_INFO_NULL,
				       MPI_COMM_WORLD, &win);
		}
	}
	note_component(win);
	MPI_Allgather(&base, 1, MPI_AINT, bases, 1, MPI_AINT, MPI_COMM_WORLD);
	memset(mem, 0, 4 * ML);
	MPI_Win_fence(0, win);
	MPI_Put(want, ML, MPI_CHAR, right, bases[right], ML, MPI_CHAR, win);
	MPI_Win_fence(0, win);
	check("marker put", where, memcmp(mem, want, ML), 0);
	MPI_Win_fence(MPI_MODE_NOSUCCEED, win);
	MPI_Win_lock_all(0, win);
	memset(got, 0, ML);
	MPI_Get(got, ML, MPI_CHAR, right, bases[right], ML, MPI_CHAR, win);
	MPI_Win_flush(right, win);
	check("marker get", where, memcmp(got, want, ML), 0);
	MPI_Accumulate(want, ML, MPI_CHAR, right, bases[right] + ML, ML,
		       MPI_CHAR, MPI_REPLACE, win);
	MPI_Win_flush(right, win);
	memset(got, 0, ML);
	MPI_Get_accumulate(NULL, 0, MPI_CHAR, got, ML, MPI_CHAR, right,
			   bases[right] + ML, ML, MPI_CHAR, MPI_NO_OP, win);
	MPI_Win_flush(right, win);
	check("marker accumulate/get_accumulate", where, memcmp(got, want, ML),
	      0);
	MPI_Rput(want, ML, MPI_CHAR, right, bases[right] + 2 * ML, ML, MPI_CHAR,
		 win, &r);
	MPI_Wait(&r, MPI_STATUS_IGNORE);
	MPI_Win_unlock_all(win);
	MPI_Barrier(MPI_COMM_WORLD);
	MPI_Win_lock(MPI_LOCK_SHARED, rank, 0, win);
	MPI_Win_sync(win);
	check("marker rput", where, memcmp(mem + 2 * ML, want, ML), 0);
	MPI_Win_unlock(rank, win);
	if (dyn)
		MPI_Win_detach(win, mem);
	MPI_Win_free(&win);
	if (strcmp(flavour, "allocate"))
		free(mem);
	free(bases);
}

static void marker_traffic(void)
{
	char *want = malloc(ML), *got = malloc(ML);

	fill(want, ML);
	marker_window("create", want, got);
	marker_window("allocate", want, got);
	marker_window("dynamic", want, got);
	free(want);
	free(got);
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int level;
	} levels[] = { { "funneled", MPI_THREAD_FUNNELED },
		       { "serialized", MPI_THREAD_SERIALIZED },
		       { "multiple", MPI_THREAD_MULTIPLE } };
	int multiple = 0, marker = 0, level = -1, provided, rank, total;

	for (int i = 1; i < argc; i++) {
		for (int l = 0; l < 3; l++)
			if (!strcmp(argv[i], levels[l].name))
				level = levels[l].level;
		noshared |= !strcmp(argv[i], "noshared");
		marker |= !strcmp(argv[i], "marker");
	}
	multiple = level == MPI_THREAD_MULTIPLE;
	if (level >= 0) {
		MPI_Init_thread(&argc, &argv, level, &provided);
		if (provided < level) {
			fprintf(stderr, "rma: thread level %d not provided\n",
				level);
			MPI_Abort(MPI_COMM_WORLD, 2);
		}
	} else {
		MPI_Init(&argc, &argv);
	}
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	if (marker)
		marker_traffic();
	else
		suite(MPI_COMM_WORLD, "");
	if (multiple && !marker) {
		struct suite_arg a[2];
		pthread_t t[2];

		pthread_barrier_init(&free_turns, NULL, 2);
		for (int i = 0; i < 2; i++) {
			MPI_Comm_dup(MPI_COMM_WORLD, &a[i].comm);
			a[i].index = i;
		}
		for (int i = 0; i < 2; i++)
			pthread_create(&t[i], NULL, suite_thread, &a[i]);
		for (int i = 0; i < 2; i++)
			pthread_join(t[i], NULL);
		for (int i = 0; i < 2; i++)
			MPI_Comm_free(&a[i].comm);
		pthread_barrier_destroy(&free_turns);
		one_window_many_threads();
	}
	MPI_Allreduce(&failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
	if (!rank && total)
		printf("rma: FAILED %d checks\n", total);
	else if (!rank)
		printf("rma: ok %d checks, windows by: %s\n", checks, seen);
	MPI_Finalize();
	return !!total;
}

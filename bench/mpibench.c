/* SPDX-License-Identifier: MIT */
/*
 * mpibench: the collectives data-parallel training uses, and point-to-point
 * latency (ping-pong) and streaming bandwidth (bw), timed per iteration with
 * every result checked.
 *
 * Every value is a small integer stored in a float, so sums over any
 * number of ranks below 2^14 are exact and a result is either bit-exact
 * or wrong. The pattern changes every iteration, so a stale buffer (a
 * message that never arrived) is caught as well as a corrupted one.
 *
 * Output: CSV on stdout (rank 0), one row per (op, size); '#' lines are
 * comments. See bench/README.md.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "size.h"

enum op {
	OP_ALLREDUCE,
	OP_ALLGATHER,
	OP_REDUCE_SCATTER,
	OP_BCAST,
	OP_PINGPONG,
	OP_BW,
	OP_TRAIN,
	OP_TRAIN_NB,
	OP_COUNT
};

static const char *const op_names[OP_COUNT] = {
	"allreduce", "allgather", "reduce_scatter", "bcast",
	"pingpong",  "bw",        "train",     "train_nb",
};

/* bw: tags of the window's messages and of the receiver's ack */
enum { TAG_BW = 21, TAG_BW_ACK = 22 };

struct opts {
	int ops[OP_COUNT];
	size_t *sizes;
	int nsizes;
	int warmup;
	int big_warmup;
	int iters;
	int min_iters;
	double budget;
	size_t model_bytes;
	size_t bucket_bytes;
	int window;
	size_t window_bytes;
	int check;
	int in_place;
	const char *label;
	const char *raw;
	int header;
	int progress;
};

static int rank, nprocs;
static FILE *rawf;
static long total_failures;

static void die(const char *fmt, const char *arg)
{
	if (rank == 0) {
		fprintf(stderr, "mpibench: ");
		fprintf(stderr, fmt, arg);
		fputc('\n', stderr);
	}
	MPI_Abort(MPI_COMM_WORLD, 2);
	exit(2);
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: mpirun -np N mpibench [options]\n"
"  -o, --ops LIST       comma list of: allreduce allgather reduce_scatter bcast\n"
"                       pingpong bw train train_nb all   (default allreduce)\n"
"  -s, --sizes LIST     bytes, comma list with K/M/G suffixes (binary), or\n"
"                       MIN:MAX (powers of two) or MIN:MAX:F (factor F)\n"
"                       (default 8:256M:4). allreduce/bcast: buffer bytes;\n"
"                       allgather: bytes each rank contributes;\n"
"                       reduce_scatter: bytes of the whole input vector;\n"
"                       pingpong, bw: message bytes (ranks 0 and 1)\n"
"  -w, --warmup N       untimed iterations per size (default 3)\n"
"      --big-warmup N   untimed iterations at sizes >= 8 MiB (default 1)\n"
"  -n, --iters N        at most N timed iterations per size (default 1000)\n"
"  -m, --min-iters N    at least N timed iterations per size (default 5)\n"
"  -t, --time SEC       time budget per size, sets the iteration count\n"
"                       between min and max from the warm-up (default 0.5)\n"
"      --model BYTES    train: gradient bytes per step (default 100M)\n"
"      --bucket BYTES   train: bytes per MPI_Allreduce bucket (default 25M)\n"
"      --window N       bw: messages per window, at most (default 64)\n"
"      --window-bytes B bw: bytes per window, at most; a message larger\n"
"                       than B goes alone (default 64M)\n"
"      --check MODE     every|last|none: check results (default every)\n"
"      --in-place       allreduce with MPI_IN_PLACE (train always is)\n"
"  -l, --label STR      first CSV column (default 'run')\n"
"      --raw FILE       rank 0 appends every timed sample to FILE\n"
"                       (label,op,bytes,iter,seconds)\n"
"      --no-header      no CSV header line\n"
"  -p, --progress       one line per size on stderr\n"
"  -h, --help\n"
"Columns: label,op,bytes,nprocs,iters,median_us,p10_us,p90_us,min_us,max_us,\n"
"  gbps,check. Times are per iteration, the slowest rank's (max over ranks),\n"
"  pingpong: half the round trip. bw: rank 0 posts a window of MPI_Isend\n"
"  to rank 1, which posts as many MPI_Irecv, waits for all and answers\n"
"  with a 4-byte ack; time = window time / messages in the window (one\n"
"  message's share of a stream). gbps = bytes / median (bytes/s / 1e9).\n"
"  train: bytes = model bytes; one iteration = one step (all buckets).\n"
"  check: ok, or FAIL:<wrong elements summed over ranks and iterations>.\n"
"Exit status 1 if any check failed.\n");
}

static void add_size(struct opts *o, size_t v)
{
	size_t *n = realloc(o->sizes, sizeof(*n) * (size_t)(o->nsizes + 1));
	if (!n)
		die("%s", "out of memory");
	o->sizes = n;
	o->sizes[o->nsizes++] = v;
}

static void parse_sizes(struct opts *o, const char *arg)
{
	char *dup = strdup(arg), *save = NULL, *tok;
	if (!dup)
		die("%s", "out of memory");
	o->nsizes = 0;
	if (strchr(dup, ':')) {
		size_t lo, hi, f = 2;
		char *a = strtok_r(dup, ":", &save);
		char *b = strtok_r(NULL, ":", &save);
		char *c = strtok_r(NULL, ":", &save);
		if (!a || !b || bench_parse_size(a, &lo) || bench_parse_size(b, &hi) ||
		    (c && bench_parse_size(c, &f)) || lo == 0 || f < 2 || lo > hi)
			die("bad size range '%s'", arg);
		for (size_t v = lo; v <= hi; v *= f) {
			add_size(o, v);
			if (v > SIZE_MAX / f)
				break;
		}
	} else {
		for (tok = strtok_r(dup, ",", &save); tok;
		     tok = strtok_r(NULL, ",", &save)) {
			size_t v;
			if (bench_parse_size(tok, &v) || v == 0)
				die("bad size '%s'", tok);
			add_size(o, v);
		}
	}
	free(dup);
}

static void parse_ops(struct opts *o, const char *arg)
{
	char *dup = strdup(arg), *save = NULL, *tok;
	memset(o->ops, 0, sizeof(o->ops));
	for (tok = strtok_r(dup, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		int found = 0;
		if (!strcmp(tok, "all")) {
			for (int i = 0; i < OP_COUNT; i++)
				o->ops[i] = 1;
			continue;
		}
		for (int i = 0; i < OP_COUNT; i++)
			if (!strcmp(tok, op_names[i]))
				o->ops[i] = found = 1;
		if (!strcmp(tok, "reduce-scatter"))
			o->ops[OP_REDUCE_SCATTER] = found = 1;
		if (!found)
			die("unknown op '%s' (see --help)", tok);
	}
	free(dup);
}

/* The value element i of rank r holds in iteration it: an integer in
 * [-512, 511], exact in a float, and so is any sum of < 2^14 of them. */
static inline float val(size_t i, int r, int it)
{
	return (float)((int)((i * (size_t)(r + 1) + (size_t)it * 7u +
			      (size_t)r * 3u) & 1023u) - 512);
}

static void fill(float *b, size_t n, size_t off, int r, int it)
{
	for (size_t i = 0; i < n; i++)
		b[i] = val(off + i, r, it);
}

static long check_equal(const float *b, size_t n, size_t off, int r, int it)
{
	long bad = 0;
	for (size_t i = 0; i < n; i++)
		bad += b[i] != val(off + i, r, it);
	return bad;
}

static long check_sum(const float *b, size_t n, size_t off, int it)
{
	long bad = 0;
	for (size_t i = 0; i < n; i++) {
		float s = 0;
		for (int r = 0; r < nprocs; r++)
			s += val(off + i, r, it);
		bad += b[i] != s;
	}
	return bad;
}

/* Byte messages (pingpong, bw) in whole floats of pattern k; a size that
 * is not a multiple of 4 ends in part of the next float. */
static void fill_msg(void *b, size_t nb, int k, int it)
{
	fill(b, (nb + 3) / 4, 0, k, it);
}

static long check_msg(const void *b, size_t nb, int k, int it)
{
	long bad = 0;
	if (nb >= 4)
		bad += check_equal(b, nb / 4, 0, k, it);
	if (nb % 4) {
		float v = val(nb / 4, k, it);
		bad += memcmp((const char *)b + nb / 4 * 4, &v, nb % 4) != 0;
	}
	return bad;
}

/* bw: each message of a window has its own 64-byte aligned slot and its
 * own pattern, so a message delivered to the wrong receive is caught. */
static size_t bw_stride(size_t nb)
{
	return (nb + 63) & ~(size_t)63;
}

static int bw_window(const struct opts *o, size_t nb)
{
	size_t w = o->window_bytes / nb;
	if (w > (size_t)o->window)
		w = (size_t)o->window;
	return w ? (int)w : 1;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double pct(const double *sorted, int n, double p)
{
	/* nearest-rank on the sorted samples */
	int k = (int)ceil(p / 100.0 * n) - 1;
	if (k < 0)
		k = 0;
	if (k >= n)
		k = n - 1;
	return sorted[k];
}

struct ctx {
	const struct opts *o;
	float *sbuf, *rbuf;
	MPI_Request *reqs; /* bw: one per message of a window */
	size_t bytes;
};

/* One iteration: returns this rank's wall time of the operation and adds
 * wrong elements to *bad when checking. */
static double run_once(struct ctx *c, enum op op, int it, int check, long *bad)
{
	size_t n = c->bytes / sizeof(float);
	float *s = c->sbuf, *r = c->rbuf;
	double t0, t1 = 0;
	MPI_Comm w = MPI_COMM_WORLD;

	switch (op) {
	case OP_ALLREDUCE:
		if (c->o->in_place) {
			fill(r, n, 0, rank, it);
			MPI_Barrier(w);
			t0 = MPI_Wtime();
			MPI_Allreduce(MPI_IN_PLACE, r, (int)n, MPI_FLOAT,
				      MPI_SUM, w);
		} else {
			fill(s, n, 0, rank, it);
			MPI_Barrier(w);
			t0 = MPI_Wtime();
			MPI_Allreduce(s, r, (int)n, MPI_FLOAT, MPI_SUM, w);
		}
		t1 = MPI_Wtime() - t0;
		if (check)
			*bad += check_sum(r, n, 0, it);
		break;
	case OP_ALLGATHER:
		fill(s, n, 0, rank, it);
		MPI_Barrier(w);
		t0 = MPI_Wtime();
		MPI_Allgather(s, (int)n, MPI_FLOAT, r, (int)n, MPI_FLOAT, w);
		t1 = MPI_Wtime() - t0;
		if (check)
			for (int q = 0; q < nprocs; q++)
				*bad += check_equal(r + (size_t)q * n, n, 0, q,
						    it);
		break;
	case OP_REDUCE_SCATTER: {
		size_t rc = n / (size_t)nprocs;
		fill(s, rc * (size_t)nprocs, 0, rank, it);
		MPI_Barrier(w);
		t0 = MPI_Wtime();
		MPI_Reduce_scatter_block(s, r, (int)rc, MPI_FLOAT, MPI_SUM, w);
		t1 = MPI_Wtime() - t0;
		if (check)
			*bad += check_sum(r, rc, (size_t)rank * rc, it);
		break;
	}
	case OP_BCAST:
		if (rank == 0)
			fill(r, n, 0, 0, it);
		MPI_Barrier(w);
		t0 = MPI_Wtime();
		MPI_Bcast(r, (int)n, MPI_FLOAT, 0, w);
		t1 = MPI_Wtime() - t0;
		if (check)
			*bad += check_equal(r, n, 0, 0, it);
		break;
	case OP_PINGPONG: {
		/* bytes may be any size: use MPI_BYTE; pattern on whole floats */
		size_t nb = c->bytes;
		if (rank == 0)
			fill_msg(s, nb, 0, it);
		MPI_Barrier(w);
		if (rank == 0) {
			t0 = MPI_Wtime();
			MPI_Send(s, (int)nb, MPI_BYTE, 1, 11, w);
			MPI_Recv(r, (int)nb, MPI_BYTE, 1, 12, w,
				 MPI_STATUS_IGNORE);
			t1 = (MPI_Wtime() - t0) / 2;
		} else if (rank == 1) {
			MPI_Recv(r, (int)nb, MPI_BYTE, 0, 11, w,
				 MPI_STATUS_IGNORE);
			MPI_Send(r, (int)nb, MPI_BYTE, 0, 12, w);
		}
		if (check && rank <= 1)
			*bad += check_msg(r, nb, 0, it);
		break;
	}
	case OP_BW: {
		/* as osu_bw: a window of nonblocking sends, then an ack, so
		 * the sender's time covers the delivery of the last message */
		size_t nb = c->bytes, st = bw_stride(nb);
		int win = bw_window(c->o, nb);
		char *sb = (char *)s, *rb = (char *)r, ack[4] = {0};
		if (rank == 0)
			for (int k = 0; k < win; k++)
				fill_msg(sb + (size_t)k * st, nb, k, it);
		MPI_Barrier(w);
		if (rank == 0) {
			t0 = MPI_Wtime();
			for (int k = 0; k < win; k++)
				MPI_Isend(sb + (size_t)k * st, (int)nb, MPI_BYTE,
					  1, TAG_BW, w, &c->reqs[k]);
			MPI_Waitall(win, c->reqs, MPI_STATUSES_IGNORE);
			MPI_Recv(ack, sizeof(ack), MPI_BYTE, 1, TAG_BW_ACK, w,
				 MPI_STATUS_IGNORE);
			t1 = (MPI_Wtime() - t0) / win;
		} else if (rank == 1) {
			for (int k = 0; k < win; k++)
				MPI_Irecv(rb + (size_t)k * st, (int)nb, MPI_BYTE,
					  0, TAG_BW, w, &c->reqs[k]);
			MPI_Waitall(win, c->reqs, MPI_STATUSES_IGNORE);
			MPI_Send(ack, sizeof(ack), MPI_BYTE, 0, TAG_BW_ACK, w);
			for (int k = 0; check && k < win; k++)
				*bad += check_msg(rb + (size_t)k * st, nb, k, it);
		}
		break;
	}
	case OP_TRAIN:
	case OP_TRAIN_NB: {
		size_t bn = c->o->bucket_bytes / sizeof(float);
		size_t nbk = (n + bn - 1) / bn;
		MPI_Request reqs[1024];
		fill(r, n, 0, rank, it);
		MPI_Barrier(w);
		t0 = MPI_Wtime();
		for (size_t b = 0; b < nbk; b++) {
			size_t off = b * bn, cnt = n - off < bn ? n - off : bn;
			if (op == OP_TRAIN)
				MPI_Allreduce(MPI_IN_PLACE, r + off, (int)cnt,
					      MPI_FLOAT, MPI_SUM, w);
			else
				MPI_Iallreduce(MPI_IN_PLACE, r + off, (int)cnt,
					       MPI_FLOAT, MPI_SUM, w, &reqs[b]);
		}
		if (op == OP_TRAIN_NB)
			MPI_Waitall((int)nbk, reqs, MPI_STATUSES_IGNORE);
		t1 = MPI_Wtime() - t0;
		if (check)
			*bad += check_sum(r, n, 0, it);
		break;
	}
	default:
		break;
	}
	return t1;
}

static size_t op_bytes(const struct opts *o, enum op op, size_t size)
{
	if (op == OP_TRAIN || op == OP_TRAIN_NB)
		return o->model_bytes;
	return size;
}

static void bench_size(struct ctx *c, enum op op)
{
	const struct opts *o = c->o;
	MPI_Comm w = MPI_COMM_WORLD;
	long bad = 0, allbad = 0;
	double warm = 0, maxwarm = 0;
	int iters;
	size_t n = c->bytes / sizeof(float);

	if (op != OP_PINGPONG && op != OP_BW && (n == 0 ||
	    (op == OP_REDUCE_SCATTER && n < (size_t)nprocs))) {
		if (rank == 0)
			printf("# %s %zu B: skipped (fewer floats than needed)\n",
			       op_names[op], c->bytes);
		return;
	}

	if (op == OP_BW && rank == 0)
		printf("# bw %zu B: window of %d messages\n", c->bytes,
		       bw_window(o, c->bytes));

	int nwarm = c->bytes >= (8u << 20) && o->big_warmup < o->warmup
			    ? o->big_warmup : o->warmup;
	if (op == OP_TRAIN || op == OP_TRAIN_NB)
		nwarm = o->big_warmup < o->warmup ? o->big_warmup : o->warmup;
	for (int i = 0; i < nwarm; i++)
		warm += run_once(c, op, -1 - i, o->check, &bad);
	if (nwarm)
		warm /= nwarm;
	MPI_Allreduce(&warm, &maxwarm, 1, MPI_DOUBLE, MPI_MAX, w);
	/* every rank computes the same count from the same value */
	iters = nwarm ? o->iters : o->min_iters;
	if (maxwarm > 0 && o->budget > 0) {
		double want = o->budget / maxwarm;
		if (want < iters)
			iters = (int)want;
	}
	if (iters < o->min_iters)
		iters = o->min_iters;

	double *t = malloc(sizeof(double) * (size_t)iters);
	double *tm = malloc(sizeof(double) * (size_t)iters);
	if (!t || !tm)
		die("%s", "out of memory");
	for (int i = 0; i < iters; i++) {
		int chk = o->check == 2 || (o->check == 1 && i == iters - 1);
		t[i] = run_once(c, op, i, chk, &bad);
	}
	MPI_Reduce(t, tm, iters, MPI_DOUBLE, MPI_MAX, 0, w);
	MPI_Reduce(&bad, &allbad, 1, MPI_LONG, MPI_SUM, 0, w);

	if (rank == 0) {
		size_t bytes = op_bytes(o, op, c->bytes);
		if (rawf) {
			for (int i = 0; i < iters; i++)
				fprintf(rawf, "%s,%s,%zu,%d,%.9e\n", o->label,
					op_names[op], bytes, i, tm[i]);
			fflush(rawf);
		}
		qsort(tm, (size_t)iters, sizeof(double), cmp_double);
		double med = iters % 2 ? tm[iters / 2]
				       : (tm[iters / 2 - 1] + tm[iters / 2]) / 2;
		char chk[32];
		if (!o->check)
			snprintf(chk, sizeof(chk), "unchecked");
		else if (allbad)
			snprintf(chk, sizeof(chk), "FAIL:%ld", allbad);
		else
			snprintf(chk, sizeof(chk), "ok");
		total_failures += allbad;
		printf("%s,%s,%zu,%d,%d,%.3f,%.3f,%.3f,%.3f,%.3f,%.4f,%s\n",
		       o->label, op_names[op], bytes, nprocs, iters, med * 1e6,
		       pct(tm, iters, 10) * 1e6, pct(tm, iters, 90) * 1e6,
		       tm[0] * 1e6, tm[iters - 1] * 1e6,
		       med > 0 ? (double)bytes / med / 1e9 : 0.0, chk);
		fflush(stdout);
		if (o->progress)
			fprintf(stderr, "  %-14s %10zu B %5d it  median %12.2f us  %s\n",
				op_names[op], bytes, iters, med * 1e6, chk);
		if (allbad)
			fprintf(stderr, "mpibench: %s %zu B: %ld wrong elements\n",
				op_names[op], bytes, allbad);
	}
	free(t);
	free(tm);
}

static void *xalloc(size_t bytes)
{
	void *p = NULL;
	if (bytes == 0)
		bytes = 64;
	if (posix_memalign(&p, 4096, bytes))
		die("%s", "cannot allocate the buffers");
	memset(p, 0, bytes); /* fault the pages in before timing */
	return p;
}

int main(int argc, char **argv)
{
	struct opts o = {
		.warmup = 3, .big_warmup = 1, .iters = 1000, .min_iters = 5, .budget = 0.5,
		.model_bytes = 100u << 20, .bucket_bytes = 25u << 20,
		.window = 64, .window_bytes = 64u << 20,
		.check = 2, .label = "run", .header = 1,
	};
	static const struct option lo[] = {
		{"ops", required_argument, 0, 'o'},
		{"sizes", required_argument, 0, 's'},
		{"warmup", required_argument, 0, 'w'},
		{"iters", required_argument, 0, 'n'},
		{"big-warmup", required_argument, 0, 'W'},
		{"min-iters", required_argument, 0, 'm'},
		{"time", required_argument, 0, 't'},
		{"model", required_argument, 0, 'M'},
		{"bucket", required_argument, 0, 'B'},
		{"window", required_argument, 0, 'X'},
		{"window-bytes", required_argument, 0, 'Y'},
		{"check", required_argument, 0, 'c'},
		{"in-place", no_argument, 0, 'I'},
		{"label", required_argument, 0, 'l'},
		{"raw", required_argument, 0, 'r'},
		{"no-header", no_argument, 0, 'H'},
		{"progress", no_argument, 0, 'p'},
		{"help", no_argument, 0, 'h'},
		{0, 0, 0, 0},
	};
	int ch;

	/* --help without MPI_Init, so it works outside mpirun */
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		}

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &nprocs);

	o.ops[OP_ALLREDUCE] = 1;
	parse_sizes(&o, "8:256M:4");
	while ((ch = getopt_long(argc, argv, "o:s:w:n:m:t:l:ph", lo, NULL)) !=
	       -1) {
		switch (ch) {
		case 'o': parse_ops(&o, optarg); break;
		case 's': parse_sizes(&o, optarg); break;
		case 'w': o.warmup = atoi(optarg); break;
		case 'n': o.iters = atoi(optarg); break;
		case 'W': o.big_warmup = atoi(optarg); break;
		case 'm': o.min_iters = atoi(optarg); break;
		case 't': o.budget = atof(optarg); break;
		case 'M':
			if (bench_parse_size(optarg, &o.model_bytes))
				die("bad --model '%s'", optarg);
			break;
		case 'B':
			if (bench_parse_size(optarg, &o.bucket_bytes))
				die("bad --bucket '%s'", optarg);
			break;
		case 'X': o.window = atoi(optarg); break;
		case 'Y':
			if (bench_parse_size(optarg, &o.window_bytes))
				die("bad --window-bytes '%s'", optarg);
			break;
		case 'c':
			if (!strcmp(optarg, "every")) o.check = 2;
			else if (!strcmp(optarg, "last")) o.check = 1;
			else if (!strcmp(optarg, "none")) o.check = 0;
			else die("bad --check '%s'", optarg);
			break;
		case 'I': o.in_place = 1; break;
		case 'l': o.label = optarg; break;
		case 'r': o.raw = optarg; break;
		case 'H': o.header = 0; break;
		case 'p': o.progress = 1; break;
		default:
			if (rank == 0)
				usage(stderr);
			MPI_Finalize();
			return 2;
		}
	}
	if (optind < argc)
		die("unexpected argument '%s'", argv[optind]);
	if (o.warmup < 0 || o.big_warmup < 0 || o.iters < 1 || o.min_iters < 1)
		die("%s", "bad iteration counts");
	if (o.min_iters > o.iters)
		o.iters = o.min_iters;
	if ((o.ops[OP_PINGPONG] || o.ops[OP_BW]) && nprocs < 2)
		die("%s", "pingpong and bw need at least 2 ranks");
	if (o.window < 1 || o.window > 4096 || o.window_bytes == 0)
		die("%s", "bad --window (1..4096) or --window-bytes");
	if (o.bucket_bytes < sizeof(float) || o.model_bytes < sizeof(float) ||
	    (o.model_bytes + o.bucket_bytes - 1) / o.bucket_bytes > 1024)
		die("%s", "bad --model/--bucket (at most 1024 buckets)");
	for (int i = 0; i < o.nsizes; i++)
		if (o.sizes[i] / sizeof(float) > INT32_MAX)
			die("%s", "a size over 8 GiB does not fit an int count");

	/* buffers for the largest case of every op selected */
	size_t smax = 64, rmax = 64;
	for (int i = 0; i < o.nsizes; i++) {
		size_t b = (o.sizes[i] + 3) / 4 * 4;
		if (b > smax) smax = b;
		size_t rb = o.ops[OP_ALLGATHER] ? b * (size_t)nprocs : b;
		if (o.ops[OP_BW]) {
			size_t wb = (size_t)bw_window(&o, o.sizes[i]) *
				    bw_stride(o.sizes[i]);
			if (wb > smax) smax = wb;
			if (wb > rb) rb = wb;
		}
		if (rb > rmax) rmax = rb;
	}
	if ((o.ops[OP_TRAIN] || o.ops[OP_TRAIN_NB]) && o.model_bytes > rmax)
		rmax = o.model_bytes;

	if (rank == 0 && o.raw) {
		rawf = fopen(o.raw, "a");
		if (!rawf)
			die("cannot open --raw file '%s'", o.raw);
	}

	struct ctx c = {.o = &o};
	c.sbuf = xalloc(smax);
	c.rbuf = xalloc(rmax);
	c.reqs = malloc(sizeof(*c.reqs) * (size_t)o.window);
	if (!c.reqs)
		die("%s", "out of memory");

	if (rank == 0) {
		char host[256] = "";
		gethostname(host, sizeof(host) - 1);
		printf("# mpibench nprocs=%d host=%s warmup=%d/%d iters<=%d "
		       "min_iters=%d budget=%.3gs check=%s\n",
		       nprocs, host, o.warmup, o.big_warmup, o.iters, o.min_iters, o.budget,
		       o.check == 2 ? "every" : o.check ? "last" : "none");
		if (o.header)
			printf("label,op,bytes,nprocs,iters,median_us,p10_us,"
			       "p90_us,min_us,max_us,gbps,check\n");
		fflush(stdout);
	}

	for (int op = 0; op < OP_COUNT; op++) {
		if (!o.ops[op])
			continue;
		if (op == OP_TRAIN || op == OP_TRAIN_NB) {
			c.bytes = o.model_bytes;
			bench_size(&c, (enum op)op);
			continue;
		}
		for (int i = 0; i < o.nsizes; i++) {
			c.bytes = o.sizes[i];
			bench_size(&c, (enum op)op);
		}
	}

	if (rawf)
		fclose(rawf);
	free(c.sbuf);
	free(c.rbuf);
	free(c.reqs);
	free(o.sizes);
	MPI_Bcast(&total_failures, 1, MPI_LONG, 0, MPI_COMM_WORLD);
	MPI_Finalize();
	return total_failures ? 1 : 0;
}

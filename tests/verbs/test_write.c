/* SPDX-License-Identifier: MIT */
/*
 * Sealed RDMA WRITE on RC (docs/PROTOCOL.md section 10, "Sealed writes")
 * over the fake provider of test_verbs.c (included): data lands in the
 * responder's memory only through an authenticated, in-order opening
 * before the completion that follows it; the wire carries ciphertext
 * only; what an attacker does to a write or its descriptor fails the QP
 * with nothing delivered.
 */
#define main esv_test_verbs_main
int esv_test_verbs_main(void);
#include "test_verbs.c"
#undef main

#include "wpair.h"

static uint64_t at(const struct wpair *w, size_t off)
{
	return (uintptr_t)w->mem + off;
}

/* B's next completion is the refusal: GENERAL_ERR, the QP in error. */
static void expect_refused(struct wpair *w, uint64_t auth_before)
{
	struct ibv_wc wc[4];
	int got = poll_n(w->p.cq[1], wc, 1);

	assert_int_equal(got, 1);
	assert_int_equal(wc[0].status, IBV_WC_GENERAL_ERR);
	assert_int_equal(wc[0].vendor_err, 0xe5e5);
	assert_true(esv_stats.auth_failures >= auth_before);
	assert_int_equal(post_send(w->p.qp[1], 9, "x", 1, IBV_WR_SEND), EIO);
}

/* WRITE_WITH_IMM: the data is in B's memory when B's completion comes
 * (RECV_RDMA_WITH_IMM, the immediate, the length); A sees an RDMA_WRITE
 * completion; the wire carries neither data nor immediate in clear. */
static void test_write_imm(void **state)
{
	struct wpair w;
	struct ibv_wc wc[2];
	uint32_t imm_be = htonl(0x5eed1234);

	wpair_new(&w, 1);
	assert_int_equal(post_write(w.p.qp[0], 77, marker, sizeof(marker),
				    at(&w, 100), w.mr->rkey,
				    IBV_WR_RDMA_WRITE_WITH_IMM, 0x5eed1234), 0);
	assert_int_equal(poll_n(w.p.cq[0], wc, 1), 1);
	assert_int_equal(wc[0].status, IBV_WC_SUCCESS);
	assert_int_equal(wc[0].wr_id, 77);
	assert_int_equal(wc[0].opcode, IBV_WC_RDMA_WRITE);
	assert_int_equal(poll_n(w.p.cq[1], wc, 1), 1);
	assert_int_equal(wc[0].status, IBV_WC_SUCCESS);
	assert_int_equal(wc[0].wr_id, 2);
	assert_int_equal(wc[0].opcode, IBV_WC_RECV_RDMA_WITH_IMM);
	assert_true(wc[0].wc_flags & IBV_WC_WITH_IMM);
	assert_int_equal(ntohl(wc[0].imm_data), 0x5eed1234);
	assert_int_equal(wc[0].byte_len, sizeof(marker));
	assert_memory_equal(w.mem + 100, marker, sizeof(marker));
	assert_false(wire_has(marker, 16));
	assert_false(wire_has(&imm_be, 4));
	assert_int_equal(rem_access_errors, 0);
	wpair_free(&w);
}

/* RDMA_WRITE then SEND (UCX put + ATS): the SEND's completion finds the
 * written data in place. */
static void test_write_then_send(void **state)
{
	struct wpair w;
	struct ibv_wc wc[2];

	wpair_new(&w, 1);
	assert_int_equal(post_write(w.p.qp[0], 5, marker, sizeof(marker), at(&w, 0),
				    w.mr->rkey, IBV_WR_RDMA_WRITE, 0), 0);
	assert_memory_not_equal(w.mem, marker, sizeof(marker)); /* shadow only */
	assert_int_equal(post_send(w.p.qp[0], 6, "ats", 4, IBV_WR_SEND), 0);
	assert_int_equal(poll_n(w.p.cq[0], wc, 2), 2);
	assert_int_equal(wc[0].wr_id, 5);
	assert_int_equal(wc[0].opcode, IBV_WC_RDMA_WRITE);
	assert_int_equal(wc[1].wr_id, 6);
	assert_int_equal(poll_n(w.p.cq[1], wc, 1), 1);
	assert_int_equal(wc[0].status, IBV_WC_SUCCESS);
	assert_int_equal(wc[0].opcode, IBV_WC_RECV);
	assert_int_equal(wc[0].byte_len, 4);
	assert_string_equal(w.r[1], "ats");
	assert_memory_equal(w.mem, marker, sizeof(marker));
	assert_false(wire_has(marker, 16));
	wpair_free(&w);
}

/* Several writes (adjacent ranges, one written twice: the later wins),
 * then one zero-length WRITE_WITH_IMM: all land before its completion,
 * which reports length 0. */
static void test_writes_then_imm(void **state)
{
	struct wpair w;
	struct ibv_wc wc[8];
	uint8_t a[64], b[64], c[100], d[64];

	memset(a, 'a', sizeof(a));
	memset(b, 'b', sizeof(b));
	memset(c, 'c', sizeof(c));
	memset(d, 'd', sizeof(d));
	wpair_new(&w, 1);
	assert_int_equal(post_write(w.p.qp[0], 1, a, 64, at(&w, 0), w.mr->rkey,
				    IBV_WR_RDMA_WRITE, 0), 0);
	assert_int_equal(post_write(w.p.qp[0], 2, b, 64, at(&w, 64), w.mr->rkey,
				    IBV_WR_RDMA_WRITE, 0), 0);
	assert_int_equal(post_write(w.p.qp[0], 3, c, 100, at(&w, 1000), w.mr->rkey,
				    IBV_WR_RDMA_WRITE, 0), 0);
	assert_int_equal(post_write(w.p.qp[0], 4, d, 64, at(&w, 0), w.mr->rkey,
				    IBV_WR_RDMA_WRITE, 0), 0);
	assert_int_equal(post_write(w.p.qp[0], 5, NULL, 0, at(&w, 0), w.mr->rkey,
				    IBV_WR_RDMA_WRITE_WITH_IMM, 7), 0);
	assert_int_equal(poll_n(w.p.cq[0], wc, 5), 5);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(wc[i].status, IBV_WC_SUCCESS);
		assert_int_equal(wc[i].wr_id, 1 + (uint64_t)i);
	}
	assert_int_equal(poll_n(w.p.cq[1], wc, 1), 1);
	assert_int_equal(wc[0].status, IBV_WC_SUCCESS);
	assert_int_equal(wc[0].opcode, IBV_WC_RECV_RDMA_WITH_IMM);
	assert_int_equal(ntohl(wc[0].imm_data), 7);
	assert_int_equal(wc[0].byte_len, 0);
	assert_memory_equal(w.mem, d, 64);
	assert_memory_equal(w.mem + 64, b, 64);
	assert_memory_equal(w.mem + 1000, c, 100);
	assert_int_equal(w.mem[1100], 0);
	wpair_free(&w);
}

/* Writes queued before the keys exist (A's first operation is a write)
 * are sealed in order once the peer's HELLO is in; staging is wiped. */
static void test_write_before_keys(void **state)
{
	struct pair p;
	struct ibv_wc wc[4];
	uint8_t *mem = NULL;
	struct ibv_mr *mr;
	char r[64];

	make_pair(&p);
	connect_pair(&p);
	mr = writable_mr(&mem);
	assert_int_equal(post_recv(p.qp[1], 1, r, sizeof(r)), 0);
	assert_int_equal(post_write(p.qp[0], 5, marker, sizeof(marker),
				    (uintptr_t)mem + 8, mr->rkey,
				    IBV_WR_RDMA_WRITE_WITH_IMM, 3), 0);
	assert_int_equal(nwire, 1); /* the HELLO only */
	assert_int_equal(poll_n(p.cq[1], wc, 1), 0);
	assert_int_equal(poll_n(p.cq[0], wc, 1), 1);
	assert_int_equal(wc[0].wr_id, 5);
	assert_int_equal(poll_n(p.cq[1], wc, 1), 1);
	assert_int_equal(wc[0].status, IBV_WC_SUCCESS);
	assert_int_equal(wc[0].opcode, IBV_WC_RECV_RDMA_WITH_IMM);
	assert_memory_equal(mem + 8, marker, sizeof(marker));
	assert_false(wire_has(marker, 16));
	assert_int_equal(ibv_dereg_mr(mr), 0);
	free(mem);
	free_pair(&p);
}

/* Ranges that overlap in part between two sends cannot both be opened
 * from one shadow: B fails by name, nothing delivered. */
static void test_write_overlap_part(void **state)
{
	struct wpair w;
	uint8_t a[100];
	struct ibv_wc wc[4];

	memset(a, 'a', sizeof(a));
	wpair_new(&w, 1);
	assert_int_equal(post_write(w.p.qp[0], 1, a, 100, at(&w, 0), w.mr->rkey,
				    IBV_WR_RDMA_WRITE, 0), 0);
	assert_int_equal(post_write(w.p.qp[0], 2, a, 100, at(&w, 50), w.mr->rkey,
				    IBV_WR_RDMA_WRITE, 0), 0);
	assert_int_equal(post_send(w.p.qp[0], 3, "s", 2, IBV_WR_SEND), 0);
	assert_int_equal(poll_n(w.p.cq[0], wc, 3), 3);
	expect_refused(&w, 0);
	assert_int_equal(w.r[1][0], 0);
	wpair_free(&w);
}

/* Held traffic: the write and the SEND (its descriptor) of A. */
static void write_send_held(struct wpair *w, const void *data, uint32_t len,
			    size_t off)
{
	struct ibv_wc wc[2];

	hold_rc = 1;
	n_rc_held = 0;
	assert_int_equal(post_write(w->p.qp[0], 1, data, len, at(w, off),
				    w->mr->rkey, IBV_WR_RDMA_WRITE, 0), 0);
	assert_int_equal(post_send(w->p.qp[0], 2, "s", 2, IBV_WR_SEND), 0);
	hold_rc = 0;
	assert_int_equal(poll_n(w->p.cq[0], wc, 2), 2);
	assert_int_equal(n_rc_held, 2);
	assert_true(rc_held[0].write);
}

/* One flipped bit in the written ciphertext: refused, the range holds
 * no plaintext of it. */
static void test_write_tampered(void **state)
{
	struct wpair w;
	uint64_t before = esv_stats.auth_failures;

	wpair_new(&w, 1);
	tamper_len = 77;
	tamper_at = 10;
	assert_int_equal(post_write(w.p.qp[0], 1, marker, 77, at(&w, 0),
				    w.mr->rkey, IBV_WR_RDMA_WRITE, 0), 0);
	assert_int_equal(post_send(w.p.qp[0], 2, "s", 2, IBV_WR_SEND), 0);
	expect_refused(&w, before + 1);
	assert_null(memmem(w.mem, MRB, "ENCSHIM", 7));
	assert_int_equal(w.r[1][0], 0);
	wpair_free(&w);
}

/* The write dropped (the attacker acks it: PSNs rewritten), the
 * descriptor delivered: refused. */
static void test_write_dropped(void **state)
{
	struct wpair w;

	wpair_new(&w, 1);
	write_send_held(&w, marker, sizeof(marker), 0);
	free(rc_held[0].data);
	deliver((struct fqp *)w.p.qp[1], rc_held[1]);
	expect_refused(&w, 0);
	assert_null(memmem(w.mem, MRB, "ENCSHIM", 7));
	wpair_free(&w);
}

/* The descriptor's completion processed before its write landed
 * (reordered): refused; the write that lands after it is never opened.
 * (A write that still lands before B polls the completion opens: its
 * bytes are the sender's, authenticated, in the sender's order.) */
static void test_write_reordered(void **state)
{
	struct wpair w;

	wpair_new(&w, 1);
	write_send_held(&w, marker, sizeof(marker), 0);
	deliver((struct fqp *)w.p.qp[1], rc_held[1]);
	expect_refused(&w, 0);
	deliver((struct fqp *)w.p.qp[1], rc_held[0]);
	assert_null(memmem(w.mem, MRB, "ENCSHIM", 7));
	wpair_free(&w);
}

/* An earlier write's ciphertext replayed in place of a later one to the
 * same range: refused; the range keeps what the first write delivered
 * (a refused write never reaches real memory). */
static void test_write_replayed(void **state)
{
	struct wpair w;
	struct ibv_wc wc[2];
	uint8_t old[64], neu[64];
	struct fmsg o = { .len = 0 };

	memset(old, 'o', sizeof(old));
	memset(neu, 'n', sizeof(neu));
	wpair_new(&w, 2);
	write_send_held(&w, old, 64, 0);
	o.len = rc_held[0].len;
	o.data = malloc(o.len);
	memcpy(o.data, rc_held[0].data, o.len);
	o.write = 1;
	o.raddr = rc_held[0].raddr;
	o.rkey = rc_held[0].rkey;
	deliver((struct fqp *)w.p.qp[1], rc_held[0]);
	deliver((struct fqp *)w.p.qp[1], rc_held[1]);
	assert_int_equal(poll_n(w.p.cq[1], wc, 1), 1);
	assert_int_equal(wc[0].status, IBV_WC_SUCCESS);
	assert_memory_equal(w.mem, old, 64);
	write_send_held(&w, neu, 64, 0);
	free(rc_held[0].data);
	deliver((struct fqp *)w.p.qp[1], o);    /* the old write again */
	deliver((struct fqp *)w.p.qp[1], rc_held[1]);
	expect_refused(&w, 0);
	assert_memory_equal(w.mem, old, 64); /* untouched: not 'n' */
	wpair_free(&w);
}

/* The descriptor replayed (its SEND again): refused by the strict order
 * of the SEND stream, the memory keeps the first opening only. */
static void test_write_descriptor_replayed(void **state)
{
	struct wpair w;
	struct ibv_wc wc[2];
	struct fmsg again = { .len = 0 };

	wpair_new(&w, 2);
	write_send_held(&w, marker, sizeof(marker), 0);
	again.len = rc_held[1].len;
	again.data = malloc(again.len);
	memcpy(again.data, rc_held[1].data, again.len);
	deliver((struct fqp *)w.p.qp[1], rc_held[0]);
	deliver((struct fqp *)w.p.qp[1], rc_held[1]);
	assert_int_equal(poll_n(w.p.cq[1], wc, 1), 1);
	assert_int_equal(wc[0].status, IBV_WC_SUCCESS);
	deliver((struct fqp *)w.p.qp[1], again);
	expect_refused(&w, 0);
	wpair_free(&w);
}

/* The real memory's rkey is never handed out and has no remote access:
 * a write forged with it is refused by the provider; a forged write to
 * the shadow is never opened (no descriptor names it). */
static void test_write_forged_rkey(void **state)
{
	struct wpair w;
	struct ibv_wc wc[2];
	struct ibv_sge sg = { (uintptr_t)marker, sizeof(marker), 1 };
	struct ibv_send_wr f, *bad;
	struct fmr *real;

	wpair_new(&w, 1);
	real = (struct fmr *)w.mr;
	assert_int_not_equal(real->rkey, w.mr->rkey);
	assert_false(real->access & IBV_ACCESS_REMOTE_WRITE);
	/* The provider's own rkey of the real MR, as an attacker guesses it. */
	memset(&f, 0, sizeof(f));
	f.sg_list = &sg;
	f.num_sge = 1;
	f.opcode = IBV_WR_RDMA_WRITE;
	f.wr.rdma.remote_addr = at(&w, 0);
	f.wr.rdma.rkey = real->rkey;
	f.send_flags = IBV_SEND_SIGNALED;
	rem_access_errors = 0;
	assert_int_equal(f_post_send(w.p.qp[0], &f, &bad), 0);
	assert_int_equal(rem_access_errors, 1);
	assert_null(memmem(w.mem, MRB, "ENCSHIM", 7));
	/* Plaintext forged into the shadow, then a genuine send. */
	f.wr.rdma.rkey = w.mr->rkey;
	assert_int_equal(f_post_send(w.p.qp[0], &f, &bad), 0);
	assert_int_equal(post_send(w.p.qp[0], 3, "s", 2, IBV_WR_SEND), 0);
	assert_int_equal(poll_n(w.p.cq[1], wc, 1), 1);
	assert_int_equal(wc[0].status, IBV_WC_SUCCESS);
	assert_null(memmem(w.mem, MRB, "ENCSHIM", 7));
	rem_access_errors = 0;
	wpair_free(&w);
}

/* B deregisters the memory while A's write is on its way: the write
 * finds no registration (A's QP gets the access error, as without the
 * shim), and B fails by name at the descriptor, delivering nothing. */
static void test_write_dereg_outstanding(void **state)
{
	struct wpair w;

	wpair_new(&w, 1);
	write_send_held(&w, marker, sizeof(marker), 0);
	assert_int_equal(ibv_dereg_mr(w.mr), 0);
	w.mr = NULL;
	rem_access_errors = 0;
	deliver((struct fqp *)w.p.qp[1], rc_held[0]);
	assert_int_equal(rem_access_errors, 1);
	deliver((struct fqp *)w.p.qp[1], rc_held[1]);
	expect_refused(&w, 0);
	assert_null(memmem(w.mem, MRB, "ENCSHIM", 7));
	rem_access_errors = 0;
	wpair_free(&w);
}

/* 16 separate ranges between two sends are all opened; a 17th makes the
 * oldest unopenable: the responder fails by name at the next send. */
static void sixteen_ranges(int n)
{
	struct wpair w;
	struct ibv_wc wc[20];
	uint8_t v[32];

	wpair_new(&w, 1);
	for (int i = 0; i < n; i++) {
		memset(v, 'A' + i, sizeof(v));
		assert_int_equal(post_write(w.p.qp[0], (uint64_t)i, v, 32,
					    at(&w, (size_t)i * 64), w.mr->rkey,
					    IBV_WR_RDMA_WRITE, 0), 0);
	}
	assert_int_equal(post_send(w.p.qp[0], 99, "s", 2, IBV_WR_SEND), 0);
	assert_int_equal(poll_n(w.p.cq[0], wc, n + 1), n + 1);
	if (n > (int)ENCSHIM_VERBS_WDESC_MAX) {
		expect_refused(&w, 0);
	} else {
		assert_int_equal(poll_n(w.p.cq[1], wc, 1), 1);
		assert_int_equal(wc[0].status, IBV_WC_SUCCESS);
		for (int i = 0; i < n; i++)
			assert_int_equal(w.mem[i * 64 + 31], 'A' + i);
	}
	wpair_free(&w);
}

static void test_write_sixteen_ranges(void **state)
{
	sixteen_ranges((int)ENCSHIM_VERBS_WDESC_MAX);
}

static void test_write_seventeen_ranges(void **state)
{
	sixteen_ranges((int)ENCSHIM_VERBS_WDESC_MAX + 1);
}

/* A registration that does not start on a page (rping's 64-byte buffers):
 * the shadow keeps the iova's page offset, which providers require. */
static void test_write_unaligned_mr(void **state)
{
	struct wpair w;
	struct ibv_wc wc[2];
	struct ibv_mr *mr;

	wpair_new(&w, 1);
	mr = ibv_reg_mr(&fpd, w.mem + 100, 200,
			IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);
	assert_non_null(mr);
	assert_int_equal(post_write(w.p.qp[0], 1, marker, sizeof(marker),
				    at(&w, 150), mr->rkey,
				    IBV_WR_RDMA_WRITE_WITH_IMM, 1), 0);
	assert_int_equal(poll_n(w.p.cq[1], wc, 1), 1);
	assert_int_equal(wc[0].status, IBV_WC_SUCCESS);
	assert_memory_equal(w.mem + 150, marker, sizeof(marker));
	assert_int_equal(ibv_dereg_mr(mr), 0);
	wpair_free(&w);
}

/* The largest registration with local access only (the shim's staging)
 * outside [skip, skip + 1). */
static size_t staging_max(const void *skip)
{
	size_t m = 0;

	for (int i = 0; i < nfmrs; i++)
		if (fmrs[i]->access == IBV_ACCESS_LOCAL_WRITE &&
		    fmrs[i]->mr.addr != skip && fmrs[i]->mr.length > m)
			m = fmrs[i]->mr.length;
	return m;
}

/* A 1 MiB write (UCX's rendezvous puts are as long as the message) is
 * staged in a registration of its own, kept after its completion and
 * reused by the next long write; the send pool keeps its slot size (on
 * 008dddf a region of a queue depth of 1 MiB slots was registered: a
 * 64 MiB put needed gigabytes). */
static void test_write_large_own_region(void **state)
{
	size_t n = 1u << 20;
	uint64_t ws = esv_stats.wsealed_bytes, wo = esv_stats.wopened_bytes;
	struct wpair w;
	int regs;
	struct ibv_wc wc[2];
	struct ibv_mr *mr;
	uint8_t *src, *mem = NULL;

	wpair_new(&w, 1);
	src = malloc(n);
	assert_non_null(src);
	for (size_t i = 0; i < n; i++)
		src[i] = marker[i % sizeof(marker)];
	assert_int_equal(posix_memalign((void **)&mem, 4096, n), 0);
	memset(mem, 0, n);
	mr = ibv_reg_mr(&fpd, mem, n,
			IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);
	assert_non_null(mr);
	assert_int_equal(post_write(w.p.qp[0], 1, src, (uint32_t)n,
				    (uintptr_t)mem, mr->rkey,
				    IBV_WR_RDMA_WRITE_WITH_IMM, 7), 0);
	assert_in_range(staging_max(mem), n, n + 4096);
	assert_int_equal(poll_n(w.p.cq[0], wc, 1), 1);
	assert_int_equal(wc[0].status, IBV_WC_SUCCESS);
	assert_int_equal(poll_n(w.p.cq[1], wc, 1), 1);
	assert_int_equal(wc[0].status, IBV_WC_SUCCESS);
	assert_int_equal(wc[0].opcode, IBV_WC_RECV_RDMA_WITH_IMM);
	assert_int_equal(wc[0].byte_len, n);
	assert_memory_equal(mem, src, n);
	/* the second long write reuses the staging: nothing registered */
	regs = nfmrs;
	memset(mem, 0, n);
	assert_int_equal(post_recv(w.p.qp[1], 3, w.r[2], 64), 0);
	assert_int_equal(post_write(w.p.qp[0], 2, src, (uint32_t)n - 64,
				    (uintptr_t)mem, mr->rkey,
				    IBV_WR_RDMA_WRITE_WITH_IMM, 8), 0);
	assert_int_equal(nfmrs, regs);
	assert_int_equal(poll_n(w.p.cq[0], wc, 1), 1);
	assert_int_equal(poll_n(w.p.cq[1], wc, 1), 1);
	assert_int_equal(wc[0].status, IBV_WC_SUCCESS);
	assert_int_equal(wc[0].byte_len, n - 64);
	assert_memory_equal(mem, src, n - 64);
	assert_in_range(staging_max(mem), n, n + 4096);
	assert_false(wire_has(marker, 16));
	assert_int_equal(esv_stats.wsealed_bytes - ws, 2 * n - 64);
	assert_int_equal(esv_stats.wopened_bytes - wo, 2 * n - 64);
	assert_int_equal(ibv_dereg_mr(mr), 0);
	free(mem);
	free(src);
	wpair_free(&w);
}

/* A write target that never polls (perftest's ib_write_bw server): the
 * progress thread handles the writer's HELLO and answers it, so A's write
 * is sealed, sent and completed while B's application stays away; B's QP
 * is no longer polled once it has answered, so the data is in B's memory
 * at B's own poll, with its completion. On 008dddf A waited for B's HELLO
 * until the timeout. */
static void test_write_target_never_polls(void **state)
{
	struct pair p;
	struct ibv_wc wc[2];
	uint8_t *mem = NULL;
	struct ibv_mr *mr;
	char r[64];
	int got = 0;

	fake_progress = 1;
	make_pair(&p);
	mr = writable_mr(&mem);
	connect_pair(&p);
	assert_int_equal(post_recv(p.qp[1], 1, r, sizeof(r)), 0);
	assert_int_equal(post_write(p.qp[0], 5, marker, sizeof(marker),
				    (uintptr_t)mem + 8, mr->rkey,
				    IBV_WR_RDMA_WRITE_WITH_IMM, 3), 0);
	for (int i = 0; i < 400 && !got; i++) { /* 2 s at most */
		got = ibv_poll_cq(p.cq[0], 1, wc);
		if (!got)
			usleep(5000);
	}
	assert_int_equal(got, 1);
	assert_int_equal(wc[0].status, IBV_WC_SUCCESS);
	assert_int_equal(wc[0].wr_id, 5);
	assert_memory_not_equal(mem + 8, marker, sizeof(marker));
	assert_int_equal(poll_n(p.cq[1], wc, 1), 1);
	assert_int_equal(wc[0].status, IBV_WC_SUCCESS);
	assert_int_equal(wc[0].opcode, IBV_WC_RECV_RDMA_WITH_IMM);
	assert_int_equal(ntohl(wc[0].imm_data), 3);
	assert_memory_equal(mem + 8, marker, sizeof(marker));
	assert_false(wire_has(marker, 16));
	usleep(20000); /* nothing waits: the thread ends */
	fake_progress = 0;
	assert_int_equal(ibv_dereg_mr(mr), 0);
	free(mem);
	free_pair(&p);
}

/* A write target that never polls and stays at RTR (a receive-only
 * program): the progress thread handles the writer's HELLO at once but
 * leaves the QP to the application for ESV_RTS_GRACE_S, then moves it to
 * RTS itself and answers, so A's write completes after about that long
 * (test_attack4_shim_rts_drops_app_attrs: an application that moves to
 * RTS in that time keeps its own attributes). */
static void test_write_target_stays_rtr(void **state)
{
	struct pair p;
	struct ibv_wc wc[2];
	uint8_t *mem = NULL;
	struct ibv_mr *mr;
	char r[64];
	double t0, dt;
	int got = 0;

	fake_progress = 1;
	make_pair(&p);
	mr = writable_mr(&mem);
	connect_qp(p.qp[0], p.qp[1]->qp_num);
	qp_to_rtr(p.qp[1], p.qp[0]->qp_num);
	assert_int_equal(post_recv(p.qp[1], 1, r, sizeof(r)), 0);
	t0 = esv_now();
	assert_int_equal(post_write(p.qp[0], 5, marker, sizeof(marker),
				    (uintptr_t)mem + 8, mr->rkey,
				    IBV_WR_RDMA_WRITE_WITH_IMM, 3), 0);
	for (int i = 0; i < 600 && !got; i++) { /* 3 s at most */
		got = ibv_poll_cq(p.cq[0], 1, wc);
		if (!got)
			usleep(5000);
	}
	dt = esv_now() - t0;
	print_message("A's write completed after %.2f s (grace %.1f s)\n", dt,
		      ESV_RTS_GRACE_S);
	assert_int_equal(got, 1);
	assert_int_equal(wc[0].status, IBV_WC_SUCCESS);
	assert_true(dt >= ESV_RTS_GRACE_S * 0.9);
	assert_int_equal(esv_qp_find(p.qp[1])->shim_rts, 1);
	assert_int_equal(poll_n(p.cq[1], wc, 1), 1);
	assert_int_equal(wc[0].status, IBV_WC_SUCCESS);
	assert_memory_equal(mem + 8, marker, sizeof(marker));
	usleep(20000); /* nothing waits: the thread ends */
	fake_progress = 0;
	assert_int_equal(ibv_dereg_mr(mr), 0);
	free(mem);
	free_pair(&p);
}

/* A WRITE_WITH_IMM queued before the keys and flushed (the QP moved to
 * the error state): one completion for it, as an RDMA WRITE, though the
 * shim holds it as two entries; its staging held plaintext and is wiped. */
static void test_write_flushed_once(void **state)
{
	struct pair p;
	struct ibv_wc wc[4];
	struct ibv_qp_attr a;
	uint8_t *mem = NULL;
	struct ibv_mr *mr;

	make_pair(&p);
	connect_pair(&p);
	mr = writable_mr(&mem);
	assert_int_equal(post_write(p.qp[0], 42, marker, sizeof(marker),
				    (uintptr_t)mem, mr->rkey,
				    IBV_WR_RDMA_WRITE_WITH_IMM, 1), 0);
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_ERR;
	assert_int_equal(ibv_modify_qp(p.qp[0], &a, IBV_QP_STATE), 0);
	assert_int_equal(poll_n(p.cq[0], wc, 4), 1);
	assert_int_equal(wc[0].wr_id, 42);
	assert_int_equal(wc[0].status, IBV_WC_WR_FLUSH_ERR);
	assert_int_equal(wc[0].opcode, IBV_WC_RDMA_WRITE);
	assert_int_equal(ibv_dereg_mr(mr), 0);
	free(mem);
	free_pair(&p);
}

/* A WRITE_WITH_IMM whose write the provider refuses (an rkey the
 * responder never registered): one completion, the access error, as an
 * RDMA WRITE; the responder fails by name at the descriptor. */
static void test_write_imm_refused_once(void **state)
{
	struct wpair w;
	struct ibv_wc wc[4];

	wpair_new(&w, 1);
	rem_access_errors = 0;
	assert_int_equal(post_write(w.p.qp[0], 42, marker, sizeof(marker),
				    at(&w, 0), w.mr->rkey + 1000,
				    IBV_WR_RDMA_WRITE_WITH_IMM, 1), 0);
	assert_int_equal(rem_access_errors, 1);
	assert_int_equal(poll_n(w.p.cq[0], wc, 4), 1);
	assert_int_equal(wc[0].wr_id, 42);
	assert_int_equal(wc[0].status, IBV_WC_REM_ACCESS_ERR);
	assert_int_equal(wc[0].opcode, IBV_WC_RDMA_WRITE);
	expect_refused(&w, 0);
	rem_access_errors = 0;
	wpair_free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write_imm),
		cmocka_unit_test(test_write_then_send),
		cmocka_unit_test(test_writes_then_imm),
		cmocka_unit_test(test_write_before_keys),
		cmocka_unit_test(test_write_overlap_part),
		cmocka_unit_test(test_write_tampered),
		cmocka_unit_test(test_write_dropped),
		cmocka_unit_test(test_write_reordered),
		cmocka_unit_test(test_write_replayed),
		cmocka_unit_test(test_write_descriptor_replayed),
		cmocka_unit_test(test_write_forged_rkey),
		cmocka_unit_test(test_write_dereg_outstanding),
		cmocka_unit_test(test_write_sixteen_ranges),
		cmocka_unit_test(test_write_seventeen_ranges),
		cmocka_unit_test(test_write_unaligned_mr),
		cmocka_unit_test(test_write_flushed_once),
		cmocka_unit_test(test_write_imm_refused_once),
		cmocka_unit_test(test_write_large_own_region),
		cmocka_unit_test(test_write_target_never_polls),
		cmocka_unit_test(test_write_target_stays_rtr),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

/* SPDX-License-Identifier: MIT */
/*
 * A keyed RC pair whose receiver has a remotely writable registration, and
 * a sealed RDMA write posted on it: shared by test_write.c,
 * test_attack3.c and test_attack4.c, each of which includes test_verbs.c
 * first.
 */
#define MRB 4096

/* A keyed RC pair; B's buffer mem registered for remote write. */
struct wpair {
	struct pair p;
	char r[4][64];
	uint8_t *mem;
	struct ibv_mr *mr;
};

/* MRB zeroed bytes in *mem, registered for remote write. */
static inline struct ibv_mr *writable_mr(uint8_t **mem)
{
	struct ibv_mr *mr;

	assert_int_equal(posix_memalign((void **)mem, 4096, MRB), 0);
	memset(*mem, 0, MRB);
	mr = ibv_reg_mr(&fpd, *mem, MRB,
			IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);
	assert_non_null(mr);
	return mr;
}

static inline void wpair_new(struct wpair *w, int nrecv)
{
	keyed_pair(&w->p, IBV_QPT_RC, w->r, 1 + nrecv);
	w->mr = writable_mr(&w->mem);
}

static inline void wpair_free(struct wpair *w)
{
	if (w->mr)
		assert_int_equal(ibv_dereg_mr(w->mr), 0);
	free(w->mem);
	free_pair(&w->p);
}

static inline int post_write(struct ibv_qp *qp, uint64_t id, const void *buf,
		      uint32_t len, uint64_t raddr, uint32_t rkey,
		      enum ibv_wr_opcode op, uint32_t imm)
{
	struct ibv_sge sg = { .addr = (uintptr_t)buf, .length = len, .lkey = 1 };
	struct ibv_send_wr w, *bad = NULL;

	memset(&w, 0, sizeof(w));
	w.wr_id = id;
	w.sg_list = &sg;
	w.num_sge = len ? 1 : 0;
	w.opcode = op;
	w.send_flags = IBV_SEND_SIGNALED;
	w.imm_data = htonl(imm);
	w.wr.rdma.remote_addr = raddr;
	w.wr.rdma.rkey = rkey;
	return ibv_post_send(qp, &w, &bad);
}

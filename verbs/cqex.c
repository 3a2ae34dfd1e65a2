/* SPDX-License-Identifier: MIT */
/*
 * Extended CQ polling (ibv_start_poll, ibv_next_poll, ibv_end_poll and
 * the ibv_wc_read_* accessors) of a CQ made with ibv_create_cq_ex: the
 * shim replaces the provider's functions in the ibv_cq_ex with its own,
 * which poll through the translating path of ibv_poll_cq (cq.c) one
 * completion at a time and answer the accessors from it. So a program
 * polling the modern way sees exactly the completions, and the opened
 * data, that ibv_poll_cq would give it.
 */
#include "config.h"

#include <errno.h>

#include "esv.h"

/* The accessors the shim can answer: those of struct ibv_wc. */
#define CQX_FLAGS                                                             \
	(IBV_WC_EX_WITH_BYTE_LEN | IBV_WC_EX_WITH_IMM | IBV_WC_EX_WITH_QP_NUM | \
	 IBV_WC_EX_WITH_SRC_QP | IBV_WC_EX_WITH_SLID | IBV_WC_EX_WITH_SL |     \
	 IBV_WC_EX_WITH_DLID_PATH_BITS)

static struct ibv_wc *cur(struct ibv_cq_ex *x)
{
	struct esv_cq *c;

	pthread_mutex_lock(&esv_lock);
	c = esv_cq_find(ibv_cq_ex_to_cq(x));
	pthread_mutex_unlock(&esv_lock);
	return &c->cur; /* the CQ exists while the application polls it */
}

static int next(struct ibv_cq_ex *x)
{
	struct ibv_wc *wc = cur(x);
	int n = esv_poll_cq(ibv_cq_ex_to_cq(x), 1, wc);

	if (n < 0)
		return EINVAL;
	if (!n)
		return ENOENT;
	x->wr_id = wc->wr_id;
	x->status = wc->status;
	return 0;
}

static int start_poll(struct ibv_cq_ex *x, struct ibv_poll_cq_attr *attr)
{
	return attr && attr->comp_mask ? EINVAL : next(x);
}

static void end_poll(struct ibv_cq_ex *x)
{
}

static enum ibv_wc_opcode r_opcode(struct ibv_cq_ex *x)
{
	return cur(x)->opcode;
}

static uint32_t r_vendor_err(struct ibv_cq_ex *x)
{
	return cur(x)->vendor_err;
}

static uint32_t r_byte_len(struct ibv_cq_ex *x)
{
	return cur(x)->byte_len;
}

static __be32 r_imm(struct ibv_cq_ex *x)
{
	return cur(x)->imm_data;
}

static uint32_t r_qp_num(struct ibv_cq_ex *x)
{
	return cur(x)->qp_num;
}

static uint32_t r_src_qp(struct ibv_cq_ex *x)
{
	return cur(x)->src_qp;
}

static unsigned int r_wc_flags(struct ibv_cq_ex *x)
{
	return cur(x)->wc_flags;
}

static uint32_t r_slid(struct ibv_cq_ex *x)
{
	return cur(x)->slid;
}

static uint8_t r_sl(struct ibv_cq_ex *x)
{
	return cur(x)->sl;
}

static uint8_t r_dlid_path_bits(struct ibv_cq_ex *x)
{
	return cur(x)->dlid_path_bits;
}

/* 0, or -1 (wc_flags asks for what struct ibv_wc does not carry). */
int esv_cqx_patch(struct ibv_cq_ex *x, uint64_t wc_flags)
{
	if (wc_flags & ~(uint64_t)CQX_FLAGS)
		return -1;
	x->start_poll = start_poll;
	x->next_poll = next;
	x->end_poll = end_poll;
	x->read_opcode = r_opcode;
	x->read_vendor_err = r_vendor_err;
	x->read_byte_len = r_byte_len;
	x->read_imm_data = r_imm;
	x->read_qp_num = r_qp_num;
	x->read_src_qp = r_src_qp;
	x->read_wc_flags = r_wc_flags;
	x->read_slid = r_slid;
	x->read_sl = r_sl;
	x->read_dlid_path_bits = r_dlid_path_bits;
	x->read_completion_ts = NULL;
	x->read_cvlan = NULL;
	x->read_flow_tag = NULL;
	x->read_tm_info = NULL;
	x->read_completion_wallclock_ns = NULL;
	return 0;
}

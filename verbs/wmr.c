/* SPDX-License-Identifier: MIT */
/*
 * Shadow MRs of sealed RDMA WRITE (docs/PROTOCOL.md section 10, "Sealed
 * writes"): an application MR asking for remote write is registered
 * without remote access, and a shadow buffer of the same length is
 * registered at the same I/O virtual address with remote write only. The
 * application's ibv_mr carries the shadow's rkey: peers can only ever
 * write ciphertext into the shadow; write.c opens it into the real memory.
 * Callers hold esv_lock.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "esv.h"

static struct esv_wmr *wmrs;

/* mr: just registered by the application, without remote access. Returns
 * mr with the shadow's rkey, or NULL (mr deregistered, errno set). */
struct ibv_mr *esv_wmr_reg(struct ibv_mr *mr, uint64_t iova)
{
	struct esv_wmr *w = calloc(1, sizeof(*w));
	size_t off = (size_t)(iova & 4095); /* same offset in its page as the
					      * iova: providers ask for it */
	size_t bytes = (off + mr->length + 4095) & ~(size_t)4095;
	int err = ENOMEM;

	if (mr->length > SIZE_MAX - 4095 - off) { /* bytes wrapped */
		err = EINVAL;
		esv_log("refused a remotely writable memory registration of "
			"%zu bytes: its shadow would not fit the address space",
			mr->length);
		goto fail;
	}
	if (!w || !mr->length || posix_memalign((void **)&w->shadow, 4096, bytes))
		goto fail;
	memset(w->shadow, 0, bytes);
	w->shadow_bytes = bytes;
	w->sbuf = w->shadow + off;
	if (!esv_real.reg_mr_iova2) {
		err = EOPNOTSUPP;
		esv_log("refused a memory registration with remote write: this "
			"libibverbs has no ibv_reg_mr_iova2 (rdma-core >= 27), "
			"which sealed writes need for the shadow buffer");
		goto fail;
	}
	w->smr = esv_real.reg_mr_iova2(mr->pd, w->sbuf, mr->length, iova,
				       IBV_ACCESS_LOCAL_WRITE |
					       IBV_ACCESS_REMOTE_WRITE);
	if (!w->smr) {
		err = errno ? errno : ENOMEM;
		esv_log("cannot register the %zu-byte shadow of a remotely "
			"writable memory registration: %s", mr->length,
			strerror(err));
		goto fail;
	}
	w->mr = mr;
	w->iova = iova;
	w->real_rkey = mr->rkey;
	mr->rkey = w->smr->rkey;
	w->next = wmrs;
	wmrs = w;
	esv_progress_kick(); /* a connected QP on pd may be its target */
	return mr;
fail:
	if (w)
		free(w->shadow);
	free(w);
	esv_real.dereg_mr(mr);
	errno = err;
	return NULL;
}

/* 1: mr had a shadow, now gone (mr has its own rkey back); 0: it had none. */
int esv_wmr_dereg(struct ibv_mr *mr)
{
	for (struct esv_wmr **p = &wmrs; *p; p = &(*p)->next) {
		struct esv_wmr *w = *p;

		if (w->mr != mr)
			continue;
		*p = w->next;
		mr->rkey = w->real_rkey;
		if (esv_real.dereg_mr(w->smr))
			esv_log("deregistering a shadow buffer failed");
		sodium_memzero(w->shadow, w->shadow_bytes);
		free(w->shadow);
		free(w);
		return 1;
	}
	return 0;
}

/* 1 if protection domain pd holds remotely writable memory. */
int esv_wmr_in_pd(const struct ibv_pd *pd)
{
	for (const struct esv_wmr *w = wmrs; w; w = w->next)
		if (w->mr->pd == pd)
			return 1;
	return 0;
}

/* The shadow MR a peer wrote to with rkey, on protection domain pd. */
struct esv_wmr *esv_wmr_find(struct ibv_pd *pd, uint32_t rkey)
{
	for (struct esv_wmr *w = wmrs; w; w = w->next)
		if (w->smr->rkey == rkey && w->mr->pd == pd)
			return w;
	return NULL;
}

/* SPDX-License-Identifier: MIT */
/*
 * Completion queues: translating the provider's completions for the
 * application, the stash of completions the shim made, handshake progress
 * from polling and from completion channels, and the patched ops table.
 * Everything runs under esv_lock.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "esv.h"

/* Stash of completions to hand out at the next poll of a CQ. */
void esv_cq_stash(struct esv_cq *c, const struct ibv_wc *wc)
{
	if (c->stash_count == c->stash_cap) {
		unsigned ncap = c->stash_cap ? c->stash_cap * 2 : 64;
		struct ibv_wc *n = malloc(ncap * sizeof(*n));

		if (!n) {
			esv_log("out of memory: a completion is lost");
			return;
		}
		for (unsigned i = 0; i < c->stash_count; i++)
			n[i] = c->stash[(c->stash_head + i) % c->stash_cap];
		free(c->stash);
		c->stash = n;
		c->stash_cap = ncap;
		c->stash_head = 0;
	}
	/* One software event per fill of an empty stash, as the hardware
	 * raises one per arming: announcing a non-empty stash at every
	 * ibv_get_cq_event would never let a caller that drains events
	 * until EAGAIN (UCX's uct_ib_iface_pre_arm) return. */
	if (!c->stash_count)
		c->soft_due = 1;
	c->stash[(c->stash_head + c->stash_count) % c->stash_cap] = *wc;
	c->stash_count++;
}

int esv_cq_created(struct ibv_cq *cq)
{
	struct esv_cq *c = calloc(1, sizeof(*c));

	if (!c)
		return -1;
	c->cq = cq;
	c->ec = esv_ctx_find(cq->context);
	esv_cq_insert(c);
	return 0;
}

void esv_cq_destroyed(struct ibv_cq *cq)
{
	struct esv_cq *c = esv_cq_find(cq);
	unsigned b = 0;

	if (!c)
		return;
	for (struct esv_qp *q = esv_qp_iter(&b, NULL); q; q = esv_qp_iter(&b, q)) {
		if (q->scq == c)
			q->scq = NULL;
		if (q->rcq == c)
			q->rcq = NULL;
	}
	esv_cq_remove(c);
	free(c->stash);
	free(c);
}

/* Drops the stashed completions of QP qpn: a move to RESET and a destroy
 * discard the QP's work, and the provider removes its CQEs then (mlx5),
 * so none that the shim pulled early may outlive them either
 * (test_attack4_stash_survives_reset, _destroy). Their shim resources
 * went back when they were translated. */
void esv_cq_forget(struct esv_cq *c, uint32_t qpn)
{
	unsigned kept = 0;

	for (unsigned i = 0; i < c->stash_count; i++) {
		const struct ibv_wc *wc = &c->stash[(c->stash_head + i) % c->stash_cap];

		if (wc->qp_num != qpn)
			c->stash[(c->stash_head + kept++) % c->stash_cap] = *wc;
	}
	c->stash_count = kept;
}

/* Rewrites a completion of the provider for the application: 1 deliver,
 * 0 swallow (shim-internal, or stale). Every QP on a shimmed CQ is the
 * shim's: a completion of a QP it no longer knows (destroyed while the
 * provider kept its CQE) carries the shim's wr_id and sealed length, and
 * one whose receive shadow is not posted (its QP was RESET since) names
 * a slot that went back to its pool: both are dropped
 * (test_attack4_destroyed_qp_cqe_raw, test_attack4_reset_cqe_double_put). */
static int translate(struct esv_cq *c, struct ibv_wc *wc)
{
	struct esv_qp *q = esv_qp_by_num(c->ec, wc->qp_num);
	uint32_t tag;

	if (!q) {
		esv_log("completion of QP %u, which is destroyed: dropped",
			wc->qp_num);
		return 0;
	}
	if (!wc->wr_id)
		return 1;
	tag = *(const uint32_t *)(uintptr_t)wc->wr_id;
	if (tag == ESV_TAG_SHADOW) {
		struct esv_shadow *s = (struct esv_shadow *)(uintptr_t)wc->wr_id;

		if (!s->posted) {
			esv_log("completion of a receive that QP %u no longer "
				"holds (moved to RESET): dropped", q->qpn);
			return 0;
		}
		return esv_on_recv(q, s, wc);
	}
	if (tag == ESV_TAG_SEND)
		return esv_on_send(q, (struct esv_swr *)(uintptr_t)wc->wr_id, wc);
	esv_log("completion with an unknown work request on QP %u: dropped", q->qpn);
	return 0;
}

/* Polls cq into wc[0..n), translating; returns the number delivered, or a
 * negative provider error if nothing was. */
static int poll_translate(struct esv_cq *c, int n, struct ibv_wc *wc)
{
	int out = 0;

	while (out < n && c->stash_count) {
		wc[out++] = c->stash[c->stash_head];
		c->stash_head = (c->stash_head + 1) % c->stash_cap;
		c->stash_count--;
	}
	while (out < n) {
		int k = c->ec->orig.poll_cq(c->cq, n - out, wc + out);
		int kept = 0;

		if (k < 0)
			return out ? out : k;
		if (!k)
			break;
		for (int i = 0; i < k; i++) {
			struct ibv_wc t = wc[out + i];

			if (translate(c, &t))
				wc[out + kept++] = t;
		}
		out += kept;
		while (out < n && c->stash_count) {
			wc[out++] = c->stash[c->stash_head];
			c->stash_head = (c->stash_head + 1) % c->stash_cap;
			c->stash_count--;
		}
	}
	return out;
}

/* Polls receive CQ rc for the shim (a HELLO it must handle): what the
 * provider yields for the application is kept, in order, after what is
 * kept already, for its next poll. Only the provider is polled: taking
 * stashed entries out and back would never reach a HELLO behind 16 of
 * them (test_attack4_progress_stalls_behind_16). Bounded: at most
 * ESV_PULL_ROUNDS batches per call. */
#define ESV_PULL_BATCH 16
#define ESV_PULL_ROUNDS 64
void esv_cq_pull(struct esv_cq *rc)
{
	struct ibv_wc tmp[ESV_PULL_BATCH];

	for (int round = 0; round < ESV_PULL_ROUNDS; round++) {
		int k = rc->ec->orig.poll_cq(rc->cq, ESV_PULL_BATCH, tmp);

		for (int i = 0; i < k; i++)
			if (translate(rc, &tmp[i]))
				esv_cq_stash(rc, &tmp[i]);
		if (k < ESV_PULL_BATCH)
			return;
	}
}

/* A QP whose sends wait for the peer's HELLO makes progress even when the
 * application polls only its send CQ: the receive CQ is polled too, and
 * what it yields for the application is kept for the next poll there. */
static void pull_handshakes(struct esv_cq *c)
{
	unsigned b = 0;
	double now = -1;

	for (struct esv_qp *q = esv_qp_iter(&b, NULL); q; q = esv_qp_iter(&b, q)) {
		struct esv_cq *rc = q->rcq;

		if (q->hs == ESV_HS_INIT && q->hello_sent &&
		    (q->scq == c || q->rcq == c)) {
			if (now < 0)
				now = esv_now();
			if (now > q->hello_deadline) {
				char why[300];

				__atomic_add_fetch(&esv_stats.handshake_failures, 1,
						   __ATOMIC_RELAXED);
				snprintf(why, sizeof(why),
					 "no HELLO from the peer within %.0f s "
					 "(ENCSHIM_VERBS_HELLO_TIMEOUT): the peer "
					 "runs without the encshim verbs preload, "
					 "or refused this side (another job secret?)",
					 esv_cfg.hello_timeout);
				esv_qp_fail(q, why);
				continue;
			}
		}

		if (q->scq != c || !rc || rc == c || q->hs != ESV_HS_INIT ||
		    !q->hello_sent)
			continue;
		esv_cq_pull(rc);
	}
}

int esv_poll_cq(struct ibv_cq *cq, int n, struct ibv_wc *wc)
{
	struct esv_cq *c;
	int rc;

	pthread_mutex_lock(&esv_lock);
	c = esv_cq_find(cq);
	if (!c) {
		struct esv_ctx *ec = esv_ctx_find(cq->context);

		pthread_mutex_unlock(&esv_lock);
		return ec ? ec->orig.poll_cq(cq, n, wc) : -1;
	}
	pull_handshakes(c);
	rc = poll_translate(c, n, wc);
	pthread_mutex_unlock(&esv_lock);
	return rc;
}

/* The application may sleep in ibv_get_cq_event on the send CQ's channel
 * while its QP waits for the peer's HELLO on another CQ: the wrapper wakes
 * up regularly to run this. Completions the shim put in a stash (moved
 * from a receive CQ, or flushes it made) raise no hardware event: the
 * application gets a software event for that CQ instead. */
struct ibv_cq *esv_channel_progress(struct ibv_comp_channel *ch, int *busy)
{
	struct esv_cq *found = NULL;
	unsigned b = 0;

	pthread_mutex_lock(&esv_lock);
	*busy = 0;
	for (struct esv_qp *q = esv_qp_iter(&b, NULL); q; q = esv_qp_iter(&b, q)) {
		struct esv_cq *cqs[2] = { q->scq, q->rcq };

		for (int i = 0; i < 2; i++) {
			struct esv_cq *c = cqs[i];

			if (!c || c->cq->channel != ch)
				continue;
			if (q->hs == ESV_HS_INIT && q->hello_sent) {
				*busy = 1;
				pull_handshakes(c);
			}
			if (c->stash_count && c->soft_due && !found)
				found = c;
		}
	}
	if (found) {
		found->soft_due = 0;
		found->soft_events++;
	}
	pthread_mutex_unlock(&esv_lock);
	return found ? found->cq : NULL;
}

unsigned esv_cq_ack_soft(struct ibv_cq *cq, unsigned n)
{
	struct esv_cq *c;
	unsigned k = 0;

	pthread_mutex_lock(&esv_lock);
	c = esv_cq_find(cq);
	if (c) {
		k = c->soft_events < n ? c->soft_events : n;
		c->soft_events -= k;
	}
	pthread_mutex_unlock(&esv_lock);
	return k;
}

void esv_patch_context(struct esv_ctx *ec)
{
	ec->ctx->ops.post_send = esv_post_send;
	ec->ctx->ops.post_recv = esv_post_recv;
	ec->ctx->ops.post_srq_recv = esv_post_srq_recv;
	ec->ctx->ops.poll_cq = esv_poll_cq;
}

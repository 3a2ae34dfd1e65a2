/* SPDX-License-Identifier: MIT */
/*
 * Handshake progress for RDMA WRITE targets that never poll (docs/VERBS.md,
 * "Progress thread"). The writer seals nothing before this side's HELLO,
 * which the shim sends when it handles the writer's HELLO, inside a poll;
 * a pure write target (perftest's ib_write_bw server) neither sends nor
 * polls after connecting, so its peer would wait until the HELLO timeout.
 * While an RC QP whose protection domain holds remotely writable memory
 * waits for the peer's HELLO, a thread polls that QP's receive CQ every
 * ESV_PROGRESS_NS under esv_lock, as an application poll of its send CQ
 * does (cq.c, esv_cq_pull): the HELLO is handled and answered, every
 * completion meant for the application is kept, in order, for its next
 * poll. It does nothing an application poll of that CQ would not do
 * (a completion that describes writes has them authenticated and opened
 * first, as always); the waiting QP stops being polled once it has
 * answered. The thread ends when no QP waits; the next one starts it.
 */
#include "config.h"

#include <pthread.h>
#include <string.h>
#include <time.h>

#include "esv.h"

#define ESV_PROGRESS_NS 5000000L /* 5 ms */

static int running, stopping, atfork_set;
int esv_progress_pulling;

/* Waits for the peer's HELLO, or holds its answer for the application's
 * move to RTS (hello.c, esv_hello_rts_due). */
static int qp_waits(const struct esv_qp *q)
{
	if (q->type == IBV_QPT_RC && q->state == IBV_QPS_RTR &&
	    q->reply_owed && !q->hello_sent)
		return 1;
	return q->type == IBV_QPT_RC && q->rcq &&
	       (q->state == IBV_QPS_RTR || q->state == IBV_QPS_RTS) &&
	       q->hs == ESV_HS_INIT && !q->hello_sent && !q->peer_hello &&
	       esv_wmr_in_pd(q->pd);
}

/* Polls the receive CQ of every waiting QP; the number that wait. */
static unsigned pull_waiting(void)
{
	unsigned b = 0, n = 0;

	for (struct esv_qp *q = esv_qp_iter(&b, NULL); q; q = esv_qp_iter(&b, q))
		if (qp_waits(q)) {
			n++;
			if (q->reply_owed)
				esv_hello_rts_due(q);
			else
				esv_cq_pull(q->rcq);
		}
	return n;
}

static void *progress_main(void *arg)
{
	const struct timespec period = { 0, ESV_PROGRESS_NS };
	unsigned n;

	(void)arg;
	for (;;) {
		nanosleep(&period, NULL);
		pthread_mutex_lock(&esv_lock);
		esv_progress_pulling = 1;
		n = stopping || !esv_cfg.progress ? 0 : pull_waiting();
		esv_progress_pulling = 0;
		if (!n) {
			running = 0;
			pthread_mutex_unlock(&esv_lock);
			return NULL;
		}
		pthread_mutex_unlock(&esv_lock);
	}
}

/* fork() while the thread holds esv_lock would leave the child's copy
 * locked for ever: the lock is taken around the fork. The child has no
 * thread, and cannot unlock: the recursive lock belongs to the parent's
 * thread id (EPERM), so the child makes it anew, unlocked
 * (test_attack4_fork_child_keeps_lock). */
static void progress_prepare(void)
{
	pthread_mutex_lock(&esv_lock);
}

static void progress_parent(void)
{
	pthread_mutex_unlock(&esv_lock);
}

static void progress_child(void)
{
	running = 0;
	esv_lock_init();
}

/* Starts the thread if a QP waits and none runs. Caller holds esv_lock. */
void esv_progress_kick(void)
{
	pthread_attr_t attr;
	pthread_t t;
	unsigned b = 0;
	int rc, any = 0;

	if (running || stopping || !esv_cfg.progress)
		return;
	for (struct esv_qp *q = esv_qp_iter(&b, NULL); q && !any;
	     q = esv_qp_iter(&b, q))
		any = qp_waits(q);
	if (!any)
		return;
	if (!atfork_set && !pthread_atfork(progress_prepare, progress_parent,
					    progress_child))
		atfork_set = 1;
	rc = pthread_attr_init(&attr);
	if (!rc)
		rc = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (!rc)
		rc = pthread_create(&t, &attr, progress_main, NULL);
	pthread_attr_destroy(&attr);
	if (rc) {
		esv_log("cannot start the progress thread (%s): an RDMA WRITE "
			"target that never polls will not answer its peer's "
			"HELLO", strerror(rc));
		return;
	}
	running = 1;
}

/* At exit: the thread touches nothing more (it may still be asleep). */
void esv_progress_stop(void)
{
	pthread_mutex_lock(&esv_lock);
	stopping = 1;
	pthread_mutex_unlock(&esv_lock);
}

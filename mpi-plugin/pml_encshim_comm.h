/* SPDX-License-Identifier: MIT */
/*
 * Per-communicator state shared by pml_encshim_comm.c (identity, table,
 * life cycle) and pml_encshim_order.c (streams and the receive audit).
 */
#ifndef PML_ENCSHIM_COMM_H
#define PML_ENCSHIM_COMM_H

#include "pml_encshim.h"

#include <pthread.h>
#include <string.h>

#include "opal/threads/threads.h"


/* The last place of every tag sent in a stream, so that delta is exact:
 * open addressing with linear probing, grown to keep at most 3/4 of the
 * slots used (16 bytes a slot). */
struct tag_place {
	int32_t tag;
	uint64_t last1; /* 1 + n of its last frame; 0: slot empty */
};

struct tx_stream {
	uint64_t next;
	int32_t last_tag; /* of place next - 1 */
	uint32_t ntags, cap; /* cap: 0 or a power of two */
	struct tag_place *tags;
};

/* Consecutive places taken past `next`; per tag pattern of the
 * receives that took them, the earliest posting number among them. That
 * is all the crossing check needs, exactly: a receive posted before p
 * with a pattern fitting the tag took a place of the run. */
#define RUN_PATTERNS 4u

struct run {
	uint64_t lo, hi;
	uint32_t npat;
	struct {
		int tag;
		uint64_t p_min;
	} pat[RUN_PATTERNS];
};

struct rx_stream {
	uint64_t next;     /* lowest place not consumed */
	struct run *runs;  /* sorted, all above next */
	uint32_t nruns, cap;
	/* receives taken but not yet completed (step 7), by place */
	struct encshim_held *held;
	/* receives truncated here: each took an unknown place, of the tag
	 * the PML reported (the first few tags kept, with their counts) */
	uint64_t ntrunc;
	struct {
		int32_t tag;
		uint32_t n;
	} trunc[4];
	/* set when a probe's check failed with no receive to refuse:
	 * every later receive of the stream is refused with it */
	const char *poisoned;
};

struct peer_state {
	pthread_mutex_t tx_lock; /* held from n to the wrapped isend */
	struct tx_stream tx[2];
	struct rx_stream rx[2];
	struct encshim_post *head, *tail; /* pending receives naming it */
};

/* A frame's stream field, parsed. */
struct place {
	uint64_t n;
	uint32_t delta; /* n - place of the previous frame of its tag; 0: none */
	int32_t prev_tag; /* tag of place n - 1 (n > 0) */
};

/* A probe's report not yet checked (encshim_probe_keep): the probe's
 * pattern and number, never pending, the envelope it reported, and the
 * earliest-posted receive after it that took a message of that
 * envelope so far (its number and the frame's place). */
struct encshim_probed {
	struct encshim_probed *next;
	struct encshim_post probe;
	int src, tag;
	bool cand;
	uint64_t cand_p;
	struct place cand_f;
	/* receives posted on the communicator before the probe: a later
	 * probe merges only if none was posted between them */
	uint64_t nrecv;
	/* lowest place of src taken since by a receive posted after the
	 * probe, of a tag the probe's pattern fits (UINT64_MAX: none) */
	uint64_t low;
};

struct encshim_comm {
	ompi_communicator_t *comm;
	uint8_t id[ENCSHIM_MPI_COMM_ID_BYTES];
	pthread_mutex_t post_lock;  /* p order == the PML's posting order */
	pthread_mutex_t audit_lock; /* streams and pending receives */
	uint64_t next_post;
	uint64_t nrecv; /* receives posted (probes not counted) */
	struct encshim_post *any_head, *any_tail; /* MPI_ANY_SOURCE */
	struct encshim_probed *probed; /* unchecked probe reports */
	int npeers;
	_Atomic(struct peer_state *) *peers;
};

/* The stream state for rank `rank` of c, made on first use; NULL if
 * out of range or out of memory. */
struct peer_state *encshim_peer_state(struct encshim_comm *c, int rank);
void encshim_peer_state_free(struct peer_state *ps);
/* A mutex that the thread holding it may take again. */
void encshim_recursive_init(pthread_mutex_t *m);

/* Locks only where MPI may be called from several threads. */

static inline void lock(pthread_mutex_t *m)
{
	if (opal_using_threads())
		pthread_mutex_lock(m);
}

static inline void unlock(pthread_mutex_t *m)
{
	if (opal_using_threads())
		pthread_mutex_unlock(m);
}

static inline void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

/* label || BE32(src) || BE32(dst) || C || BE32(tag): the prefix of the
 * envelope, the head AAD and the chunk AAD (docs/PROTOCOL.md section 11). */
static inline void aad_prefix(uint8_t p[ENCSHIM_MPI_AAD_PREFIX_BYTES],
			      const char label[4], const struct encshim_comm *c,
			      uint32_t src, uint32_t dst, int tag)
{
	memcpy(p, label, 4);
	put_be32(p + 4, src);
	put_be32(p + 8, dst);
	memcpy(p + 12, c->id, ENCSHIM_MPI_COMM_ID_BYTES);
	put_be32(p + 28, (uint32_t)tag);
}

static inline uint64_t get_be(const uint8_t *p, int bytes)
{
	uint64_t v = 0;

	for (int i = 0; i < bytes; i++)
		v = v << 8 | p[i];
	return v;
}

static inline uint64_t get_be64(const uint8_t *p)
{
	return get_be(p, 8);
}

static inline uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)get_be(p, 4);
}

#endif

/* SPDX-License-Identifier: MIT */
/*
 * Per-communicator state: the communicator's identity, our table of
 * communicators and their life cycle (docs/PROTOCOL.md section 11,
 * "Communicators"). The streams and the receive audit that use this
 * state are in pml_encshim_order.c.
 *
 * Identity. Open MPI 4.1 reuses freed context ids and has no epoch, so
 * the context id alone does not name a communicator. But every
 * communicator whose group is exactly G is created collectively by all
 * members of G, so they all have seen the same number of communicators
 * with (context id c, groups G) before this one. Each process counts
 * them, and the communicator is named
 *   SHA-256("encshim v1 comm" || BE32(c) || groups || BE32(count))[0..16)
 * with groups = 0x01 || H(local) for an intracommunicator and
 * 0x02 || min(H(local), H(remote)) || max(...) for an intercommunicator
 * (both sides agree), H = SHA-256 of the members' BE32 WORLD ranks in
 * rank order. A frame of a freed communicator never opens on a later one.
 *
 * State lives in our own table indexed by context id: c_pml_comm belongs
 * to the wrapped PML.
 */
#include "pml_encshim_comm.h"

#include <stdlib.h>
#include <string.h>

#include "ompi/constants.h"
#include "ompi/group/group.h"

#include <sodium.h>

/* ---- the (context id, groups) -> count table ---- */

struct seen {
	struct seen *next;
	uint32_t cid;
	uint8_t groups[1 + 2 * crypto_hash_sha256_BYTES];
	size_t groups_len;
	uint32_t count;
};

static struct seen *seen_head;
static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;

/* Communicators made so far with this (cid, groups), this one counted. */
static uint32_t seen_count(uint32_t cid, const uint8_t *groups, size_t len)
{
	struct seen *s;
	uint32_t n = UINT32_MAX;

	pthread_mutex_lock(&seen_lock);
	for (s = seen_head; NULL != s; s = s->next)
		if (s->cid == cid && s->groups_len == len &&
		    0 == memcmp(s->groups, groups, len))
			break;
	if (NULL == s && NULL != (s = calloc(1, sizeof(*s)))) {
		s->cid = cid;
		memcpy(s->groups, groups, len);
		s->groups_len = len;
		s->next = seen_head;
		seen_head = s;
	}
	if (NULL != s)
		n = s->count++;
	pthread_mutex_unlock(&seen_lock);
	return n;
}

static void group_hash(ompi_group_t *g, uint8_t h[crypto_hash_sha256_BYTES])
{
	crypto_hash_sha256_state st;
	int i, n = ompi_group_size(g);

	crypto_hash_sha256_init(&st);
	for (i = 0; i < n; i++) {
		uint8_t be[4];

		put_be32(be, ompi_group_get_proc_name(g, i).vpid);
		crypto_hash_sha256_update(&st, be, sizeof(be));
	}
	crypto_hash_sha256_final(&st, h);
}

/* groups = 1 || H(local), or 2 || the two hashes in byte order. */
static size_t groups_of(ompi_communicator_t *comm,
			uint8_t out[1 + 2 * crypto_hash_sha256_BYTES])
{
	const size_t hl = crypto_hash_sha256_BYTES;
	uint8_t a[crypto_hash_sha256_BYTES], b[crypto_hash_sha256_BYTES];

	group_hash(comm->c_local_group, a);
	if (!OMPI_COMM_IS_INTER(comm)) {
		out[0] = 1;
		memcpy(out + 1, a, hl);
		return 1 + hl;
	}
	group_hash(comm->c_remote_group, b);
	out[0] = 2;
	memcpy(out + 1, memcmp(a, b, hl) <= 0 ? a : b, hl);
	memcpy(out + 1 + hl, memcmp(a, b, hl) <= 0 ? b : a, hl);
	return 1 + 2 * hl;
}

static int comm_identity(ompi_communicator_t *comm,
			 uint8_t id[ENCSHIM_MPI_COMM_ID_BYTES])
{
	uint8_t groups[1 + 2 * crypto_hash_sha256_BYTES], be[4];
	uint8_t h[crypto_hash_sha256_BYTES];
	crypto_hash_sha256_state st;
	uint32_t cid = ompi_comm_get_cid(comm), count;
	size_t len = groups_of(comm, groups);

	count = seen_count(cid, groups, len);
	if (UINT32_MAX == count)
		return OMPI_ERR_OUT_OF_RESOURCE;
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const uint8_t *)ENCSHIM_MPI_COMM_LABEL,
				  strlen(ENCSHIM_MPI_COMM_LABEL));
	put_be32(be, cid);
	crypto_hash_sha256_update(&st, be, sizeof(be));
	crypto_hash_sha256_update(&st, groups, len);
	put_be32(be, count);
	crypto_hash_sha256_update(&st, be, sizeof(be));
	crypto_hash_sha256_final(&st, h);
	memcpy(id, h, ENCSHIM_MPI_COMM_ID_BYTES);
	return OMPI_SUCCESS;
}

void encshim_recursive_init(pthread_mutex_t *m)
{
	pthread_mutexattr_t a;

	pthread_mutexattr_init(&a);
	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(m, &a);
	pthread_mutexattr_destroy(&a);
}

struct peer_state *encshim_peer_state(struct encshim_comm *c, int rank)
{
	struct peer_state *ps, *expected = NULL;

	if (rank < 0 || rank >= c->npeers)
		return NULL;
	ps = atomic_load_explicit(&c->peers[rank], memory_order_acquire);
	if (NULL != ps)
		return ps;
	ps = calloc(1, sizeof(*ps));
	if (NULL == ps)
		return NULL;
	encshim_recursive_init(&ps->tx_lock);
	if (!atomic_compare_exchange_strong(&c->peers[rank], &expected, ps)) {
		pthread_mutex_destroy(&ps->tx_lock);
		free(ps);
		ps = expected;
	}
	return ps;
}

void encshim_peer_state_free(struct peer_state *ps)
{
	if (NULL == ps)
		return;
	free(ps->tx[0].tags);
	free(ps->tx[1].tags);
	for (int i = 0; i < 2; i++) {
		/* held receives of a freed communicator never complete */
		while (NULL != ps->rx[i].held) {
			struct encshim_held *e = ps->rx[i].held;

			ps->rx[i].held = e->next;
			free(e);
		}
		free(ps->rx[i].runs);
	}
	pthread_mutex_destroy(&ps->tx_lock);
	free(ps);
}

/* ---- the table: context id -> state ---- */

#define CHUNK_BITS 10u
#define CHUNK (1u << CHUNK_BITS)
#define CHUNKS 4096u /* context ids below 2^22 */

typedef _Atomic(struct encshim_comm *) comm_slot;
static _Atomic(comm_slot *) chunks[CHUNKS];

/* Lock-free: every send and receive looks its communicator up. */
static comm_slot *slot_of(uint32_t cid, bool make)
{
	uint32_t hi = cid >> CHUNK_BITS;
	comm_slot *chunk, *expected = NULL;

	if (hi >= CHUNKS)
		return NULL;
	chunk = atomic_load_explicit(&chunks[hi], memory_order_acquire);
	if (NULL == chunk && make) {
		chunk = calloc(CHUNK, sizeof(*chunk));
		if (NULL != chunk &&
		    !atomic_compare_exchange_strong(&chunks[hi], &expected,
						    chunk)) {
			free(chunk);
			chunk = expected;
		}
	}
	return NULL == chunk ? NULL : &chunk[cid & (CHUNK - 1)];
}

struct encshim_comm *encshim_comm_of(ompi_communicator_t *comm)
{
	comm_slot *slot = slot_of(ompi_comm_get_cid(comm), false);
	struct encshim_comm *c =
		NULL == slot ? NULL
			     : atomic_load_explicit(slot, memory_order_acquire);

	if (NULL == c || c->comm != comm) {
		encshim_log("communicator %u is unknown to pml/encshim; "
			    "refusing its messages",
			    ompi_comm_get_cid(comm));
		return NULL;
	}
	return c;
}

/* Phantoms (encshim_audit_truncated) are ours; the rest belong to
 * requests and matched probes. */
static void free_phantoms(struct encshim_post *r)
{
	while (NULL != r) {
		struct encshim_post *next = r->next;

		if (r->phantom) {
			free(r->bounds);
			free(r);
		}
		r = next;
	}
}

static void comm_free(struct encshim_comm *c)
{
	int i;

	if (NULL == c)
		return;
	free_phantoms(c->any_head);
	while (NULL != c->probed) {
		struct encshim_probed *pr = c->probed;

		c->probed = pr->next;
		free(pr);
	}
	for (i = 0; NULL != c->peers && i < c->npeers; i++) {
		struct peer_state *ps = atomic_load(&c->peers[i]);

		if (NULL != ps)
			free_phantoms(ps->head);
		encshim_peer_state_free(ps);
	}
	free(c->peers);
	pthread_mutex_destroy(&c->post_lock);
	pthread_mutex_destroy(&c->audit_lock);
	free(c);
}

static int comm_new(ompi_communicator_t *comm, struct encshim_comm **out)
{
	struct encshim_comm *c = calloc(1, sizeof(*c));
	int rc;

	if (NULL == c)
		return OMPI_ERR_OUT_OF_RESOURCE;
	c->comm = comm;
	encshim_recursive_init(&c->post_lock);
	pthread_mutex_init(&c->audit_lock, NULL);
	c->npeers = OMPI_COMM_IS_INTER(comm) ? ompi_comm_remote_size(comm)
					     : ompi_comm_size(comm);
	c->peers = calloc((size_t)(c->npeers ? c->npeers : 1),
			  sizeof(*c->peers));
	rc = NULL == c->peers ? OMPI_ERR_OUT_OF_RESOURCE
			      : comm_identity(comm, c->id);
	if (OMPI_SUCCESS != rc) {
		comm_free(c);
		return rc;
	}
	*out = c;
	return OMPI_SUCCESS;
}

int encshim_add_comm(ompi_communicator_t *comm)
{
	comm_slot *slot = slot_of(ompi_comm_get_cid(comm), true);
	struct encshim_comm *c = NULL;
	int rc;

	if (NULL == slot) {
		encshim_log("context id %u is beyond what pml/encshim tracks",
			    ompi_comm_get_cid(comm));
		return OMPI_ERR_OUT_OF_RESOURCE;
	}
	rc = comm_new(comm, &c);
	if (OMPI_SUCCESS != rc)
		return rc;
	comm_free(atomic_exchange(slot, c)); /* a stale one, never in use */
	return encshim_inner.pml_add_comm(comm);
}

int encshim_del_comm(ompi_communicator_t *comm)
{
	comm_slot *slot = slot_of(ompi_comm_get_cid(comm), false);
	struct encshim_comm *c = NULL == slot ? NULL : atomic_load(slot);

	/* The communicator is destructed: no request of ours holds it. */
	if (NULL != c && c->comm == comm) {
		atomic_store(slot, NULL);
		comm_free(c);
	}
	return encshim_inner.pml_del_comm(comm);
}

void encshim_comms_fini(void)
{
	struct seen *s;
	uint32_t i, j;

	for (i = 0; i < CHUNKS; i++) {
		comm_slot *chunk = atomic_exchange(&chunks[i], NULL);

		for (j = 0; NULL != chunk && j < CHUNK; j++)
			comm_free(atomic_load(&chunk[j]));
		free(chunk);
	}
	while (NULL != (s = seen_head)) {
		seen_head = s->next;
		free(s);
	}
}

/* ---- management calls carrying no message data: forwarded ---- */

/* Runs after the modex fence of MPI_Init, before any message. */
int encshim_add_procs(struct ompi_proc_t **procs, size_t nprocs)
{
	int rc = encshim_keys_bind_job();

	if (OMPI_SUCCESS != rc)
		return rc;
	return encshim_inner.pml_add_procs(procs, nprocs);
}

int encshim_del_procs(struct ompi_proc_t **procs, size_t nprocs)
{
	return encshim_inner.pml_del_procs(procs, nprocs);
}

int encshim_enable(bool enable)
{
	if (enable)
		(void)encshim_register_vars();
	return encshim_inner.pml_enable(enable);
}

int encshim_dump(ompi_communicator_t *comm, int verbose)
{
	return encshim_inner.pml_dump(comm, verbose);
}


/* SPDX-License-Identifier: MIT */
/*
 * Keys. At MPI_Init each process loads the job secret, makes its
 * ephemeral X25519 pair (encshim_local) and publishes the public key in
 * the modex under this component's name; that travels with the PMIx
 * fence Open MPI does anyway. A peer's session is derived on first
 * contact with that peer, so start-up costs O(1) per rank whatever the
 * job size. Sessions live in a table indexed by the peer's rank in
 * MPI_COMM_WORLD, filled with compare-and-swap so that threads racing
 * for the same peer agree on one session.
 *
 * Messages to ourselves never leave the process, but they are framed
 * like every other (a receive with MPI_ANY_SOURCE cannot know in advance
 * that its match will be local): a second local key pair stands in for
 * the peer, giving one session that seals and its mirror that opens.
 *
 * With pml_encshim_local clear, whether a peer is local-clear (Open MPI
 * places it on our node and we read its token file, pml_encshim_clear.c)
 * is decided with its session and kept beside it (a peer whose file
 * was not found then is looked up again when a clear frame from it
 * arrives).
 */
#include "pml_encshim.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "ompi/constants.h"
#include "ompi/mca/rte/rte.h"
#include "ompi/proc/proc.h"
#include "opal/mca/pmix/pmix.h"
#include "opal/util/proc.h"

#include <sodium.h>

static struct encshim_local *local_keys;
static struct encshim_local *mirror_keys; /* stands in for "self" */
static struct encshim_peer *self_tx, *self_rx;
/* A peer's session and, if it is local-clear, its token. */
struct peer_slot {
	struct encshim_peer *s;
	/* its token file: RX_NO not found (yet), RX_BUSY being read again,
	 * RX_YES read (token holds it; never changes again) */
	_Atomic int clear_rx;
	/* sending clear: 0 not decided yet, 1 clear, 2 seal (first send) */
	_Atomic int clear_tx;
	uint8_t token[ENCSHIM_MPI_TOKEN_BYTES];
};
enum { RX_NO, RX_BUSY, RX_YES };
static _Atomic(struct peer_slot *) *peers;
static void slot_free(struct peer_slot *e);
static uint32_t npeers;
static uint32_t my_jobid, my_vpid;

uint32_t encshim_my_vpid(void)
{
	return my_vpid;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* identity = BE32(jobid) || BE32(vpid), plus a marker for the mirror. */
static size_t identity_of(uint8_t id[9], uint32_t jobid, uint32_t vpid,
			  bool mirror)
{
	put_be32(id, jobid);
	put_be32(id + 4, vpid);
	id[8] = 0x4d; /* 'M' */
	return mirror ? 9 : 8;
}

static int check_env_status(int rc, const char *what)
{
	if (ENCSHIM_OK == rc)
		return OMPI_SUCCESS;
	encshim_log("%s: %s", what, encshim_strerror(rc));
	return OMPI_ERROR;
}

static int load_secret(uint8_t secret[ENCSHIM_SECRET_BYTES])
{
	char path[4096];
	int rc = encshim_keyfile_path(path, sizeof(path));

	if (ENCSHIM_OK != rc)
		return check_env_status(rc, "key file path");
	rc = encshim_keyfile_load(path, secret);
	if (ENCSHIM_OK != rc) {
		encshim_log("key file %s: %s", path, encshim_strerror(rc));
		return OMPI_ERROR;
	}
	return OMPI_SUCCESS;
}

static int pick_backend(enum encshim_backend *b)
{
	const char *want = encshim_param.backend;

	if (NULL == want || '\0' == want[0])
		want = getenv("ENCSHIM_BACKEND");
	return check_env_status(encshim_backend_parse(want, b),
				"pml_encshim_backend / ENCSHIM_BACKEND");
}

/* The job id is not known yet (encshim_keys_bind_job sets it): the key
 * pairs must exist now, to be published before the modex fence. */
static int make_locals(const uint8_t secret[ENCSHIM_SECRET_BYTES],
		       enum encshim_backend b)
{
	static const uint8_t pending[] = "encshim: job id not bound yet";
	uint8_t id[9], mid[9];
	size_t idlen = identity_of(id, my_jobid, my_vpid, false);
	size_t midlen = identity_of(mid, my_jobid, my_vpid, true);
	int rc;

	rc = encshim_local_new(&local_keys, secret, pending, sizeof(pending),
			       id, idlen, b);
	if (ENCSHIM_OK == rc)
		rc = encshim_local_new(&mirror_keys, secret, pending,
				       sizeof(pending), mid, midlen, b);
	return check_env_status(rc, "key set-up");
}

/*
 * A session whose receive direction keeps no replay state: the order
 * audit (pml_encshim_comm.c) refuses every duplicate and every frame out
 * of MPI's order, per communicator stream, so the core's window (128 KiB
 * per peer at 2^20 frames) is not needed. The smallest window is made
 * and dropped at once.
 */
static int session_new(struct encshim_peer **out, const struct encshim_local *l,
		       const void *id, size_t idlen,
		       const uint8_t pub[ENCSHIM_PUBKEY_BYTES])
{
	int rc = encshim_peer_new(out, l, id, idlen, pub,
				  ENCSHIM_REPLAY_WINDOW_MIN);

	if (ENCSHIM_OK == rc) {
		rc = encshim_peer_set_order(*out, ENCSHIM_ORDER_EXTERNAL);
		if (ENCSHIM_OK != rc) {
			encshim_peer_free(*out);
			*out = NULL;
		}
	}
	return rc;
}

static int make_self_sessions(void)
{
	uint8_t id[9], mid[9];
	size_t idlen = identity_of(id, my_jobid, my_vpid, false);
	size_t midlen = identity_of(mid, my_jobid, my_vpid, true);
	uint8_t pub[ENCSHIM_PUBKEY_BYTES];
	int rc;

	encshim_local_public_key(mirror_keys, pub);
	rc = session_new(&self_tx, local_keys, mid, midlen, pub);
	encshim_local_public_key(local_keys, pub);
	if (ENCSHIM_OK == rc)
		rc = session_new(&self_rx, mirror_keys, id, idlen, pub);
	return check_env_status(rc, "session with self");
}

/* "job 0x1234abcd nonce 0123..." : shows which launch keys belong to. */
static void log_job(const uint8_t job[ENCSHIM_MPI_JOB_BYTES])
{
	char hex[2 * ENCSHIM_MPI_NONCE_BYTES + 1];

	sodium_bin2hex(hex, sizeof(hex), job + 4, ENCSHIM_MPI_NONCE_BYTES);
	encshim_log("job id: Open MPI jobid 0x%08x, nonce %s", my_jobid, hex);
}

int encshim_keys_bind_job(void)
{
	uint8_t job[ENCSHIM_MPI_JOB_BYTES];
	int rc;

	if (NULL != self_tx)
		return OMPI_SUCCESS; /* bound at the first add_procs */
	if (OMPI_SUCCESS != encshim_job_id(job))
		return OMPI_ERROR;
	rc = encshim_local_set_job(local_keys, job, sizeof(job));
	if (ENCSHIM_OK == rc)
		rc = encshim_local_set_job(mirror_keys, job, sizeof(job));
	if (ENCSHIM_OK != rc)
		return check_env_status(rc, "job id");
	if (encshim_param.verbose > 1)
		log_job(job);
	/* before any traffic; MPI_Init's fence after add_procs makes every
	 * local file exist before any peer's first session */
	encshim_clear_publish(job);
	return make_self_sessions();
}

static int publish_key(void)
{
	uint8_t pub[ENCSHIM_PUBKEY_BYTES];
	int rc;

	encshim_local_public_key(local_keys, pub);
	OPAL_MODEX_SEND(rc, OPAL_PMIX_GLOBAL,
			&mca_pml_encshim_component.pmlm_version, pub,
			sizeof(pub));
	if (OPAL_SUCCESS != rc)
		encshim_log("cannot publish the public key in the modex (%d)",
			    rc);
	return OPAL_SUCCESS == rc ? OMPI_SUCCESS : OMPI_ERROR;
}

int encshim_keys_init(void)
{
	uint8_t secret[ENCSHIM_SECRET_BYTES];
	enum encshim_backend b;
	const ompi_process_name_t *me = OMPI_PROC_MY_NAME;
	int rc;

	my_jobid = me->jobid;
	my_vpid = me->vpid;
	npeers = (uint32_t)ompi_process_info.num_procs;
	if (OMPI_SUCCESS != check_env_status(encshim_init(), "crypto init") ||
	    OMPI_SUCCESS != pick_backend(&b) ||
	    OMPI_SUCCESS != load_secret(secret))
		return OMPI_ERROR;
	rc = make_locals(secret, b);
	if (OMPI_SUCCESS == rc)
		rc = encshim_clear_init(secret);
	sodium_memzero(secret, sizeof(secret));
	if (OMPI_SUCCESS != rc)
		return rc;
	peers = calloc(npeers ? npeers : 1, sizeof(*peers));
	if (NULL == peers)
		return OMPI_ERR_OUT_OF_RESOURCE;
	rc = publish_key();
	return OMPI_SUCCESS == rc ? encshim_job_publish() : rc;
}

void encshim_keys_fini(void)
{
	uint32_t i;

	for (i = 0; NULL != peers && i < npeers; i++)
		if (NULL != atomic_load(&peers[i]))
			slot_free(atomic_load(&peers[i]));
	free(peers);
	encshim_clear_fini();
	peers = NULL;
	encshim_peer_free(self_tx);
	encshim_peer_free(self_rx);
	encshim_local_free(mirror_keys);
	encshim_local_free(local_keys);
	self_tx = self_rx = NULL;
	mirror_keys = local_keys = NULL;
}

/* Fetches the peer's published key and derives the session. */
static struct encshim_peer *derive(const opal_process_name_t *name)
{
	uint8_t id[9], *pub = NULL;
	size_t idlen = identity_of(id, name->jobid, name->vpid, false);
	struct encshim_peer *p = NULL;
	size_t size = 0;
	int rc;

	OPAL_MODEX_RECV(rc, &mca_pml_encshim_component.pmlm_version, name,
			(void **)&pub, &size);
	if (OPAL_SUCCESS != rc || NULL == pub ||
	    ENCSHIM_PUBKEY_BYTES != size) {
		encshim_log("rank %u published no encshim key: it runs without "
			    "encshim (start every rank with 'encshim mpirun' "
			    "or --mca pml_encshim_enable 1); refusing to talk "
			    "to it", (unsigned)name->vpid);
		free(pub);
		return NULL;
	}
	rc = session_new(&p, local_keys, id, idlen, pub);
	free(pub);
	if (ENCSHIM_OK != rc) {
		encshim_log("session with rank %u: %s", (unsigned)name->vpid,
			    encshim_strerror(rc));
		return NULL;
	}
	return p;
}

static const opal_process_name_t *name_of(ompi_communicator_t *comm,
					  int rank)
{
	ompi_proc_t *proc = ompi_comm_peer_lookup(comm, rank);

	return NULL == proc ? NULL : &proc->super.proc_name;
}

/* The intra-node decision (docs/PROTOCOL.md section 11, "Local-clear
 * frames"): clear only if Open MPI places the peer on our node AND its
 * token file is readable; launcher data alone never suffices. */
static bool read_token(struct peer_slot *e, ompi_proc_t *proc)
{
	return OPAL_PROC_ON_LOCAL_NODE(proc->super.proc_flags) &&
	       encshim_clear_peer(proc->super.proc_name.vpid, e->token);
}

static struct peer_slot *slot_new(ompi_proc_t *proc)
{
	struct peer_slot *e = calloc(1, sizeof(*e));

	if (NULL == e)
		return NULL;
	e->s = derive(&proc->super.proc_name);
	if (NULL == e->s) {
		free(e);
		return NULL;
	}
	atomic_init(&e->clear_rx, read_token(e, proc) ? RX_YES : RX_NO);
	return e;
}

static void slot_free(struct peer_slot *e)
{
	encshim_peer_free(e->s);
	sodium_memzero(e, sizeof(*e));
	free(e);
}

/* The slot of a peer other than ourselves (made on first use), or NULL
 * after logging why. */
static struct peer_slot *slot_get(ompi_proc_t *proc)
{
	const opal_process_name_t *n = &proc->super.proc_name;
	struct peer_slot *e, *expected = NULL;

	e = atomic_load_explicit(&peers[n->vpid], memory_order_acquire);
	if (NULL != e)
		return e;
	if (NULL == (e = slot_new(proc)))
		return NULL;
	if (!atomic_compare_exchange_strong(&peers[n->vpid], &expected, e)) {
		slot_free(e); /* another thread won: use its session */
		return expected;
	}
	return e;
}

/* NULL (logged) if rank of comm is outside this job. */
static ompi_proc_t *proc_in_job(ompi_communicator_t *comm, int rank)
{
	ompi_proc_t *proc = ompi_comm_peer_lookup(comm, rank);
	const opal_process_name_t *n = NULL == proc ? NULL
						    : &proc->super.proc_name;

	if (NULL == n || n->jobid != my_jobid || n->vpid >= npeers) {
		encshim_log("peer %d of communicator %u is outside this job "
			    "(MPI_Comm_spawn/connect are not supported by "
			    "encshim); refusing to talk to it",
			    rank, ompi_comm_get_cid(comm));
		return NULL;
	}
	return proc;
}

uint32_t encshim_vpid_of(ompi_communicator_t *comm, int rank)
{
	const opal_process_name_t *n = name_of(comm, rank);

	return NULL == n ? UINT32_MAX : n->vpid;
}

struct encshim_peer *encshim_peer_get(ompi_communicator_t *comm, int rank,
				     bool sealing)
{
	ompi_proc_t *proc = proc_in_job(comm, rank);
	struct peer_slot *e;

	if (NULL == proc)
		return NULL;
	if (proc->super.proc_name.vpid == my_vpid)
		return sealing ? self_tx : self_rx;
	e = slot_get(proc);
	return NULL == e ? NULL : e->s;
}

/* Decided at the first send, from the send path: the PML's endpoint for
 * proc is made then (ob1 makes it lazily, as it would next). */
static bool clear_tx(struct peer_slot *e, ompi_proc_t *proc)
{
	int want, expected = 0, now = atomic_load(&e->clear_tx);

	if (0 == now) {
		want = encshim_clear_path(proc) ? 1 : 2;
		if (atomic_compare_exchange_strong(&e->clear_tx, &expected,
						   want)) {
			now = want;
			if (1 == now)
				atomic_fetch_add(&encshim_stats.clear_peers, 1);
		} else {
			now = expected;
		}
	}
	return 1 == now;
}

/* The slot of rank of comm if this rank runs clear and the peer is
 * another process of the job, else NULL. */
static struct peer_slot *clear_slot(ompi_communicator_t *comm, int rank,
				    ompi_proc_t **proc)
{
	if (NULL == encshim_clear_mine())
		return NULL;
	*proc = proc_in_job(comm, rank);
	if (NULL == *proc || (*proc)->super.proc_name.vpid == my_vpid)
		return NULL;
	return slot_get(*proc);
}

const uint8_t *encshim_peer_clear(ompi_communicator_t *comm, int rank)
{
	ompi_proc_t *proc;
	struct peer_slot *e = clear_slot(comm, rank, &proc);

	return NULL != e && RX_YES == atomic_load(&e->clear_rx) &&
			       clear_tx(e, proc)
		       ? e->token
		       : NULL;
}

/* A clear frame from a peer whose token file we did not find: it may
 * have been written after our first contact with that peer (no barrier
 * ends MPI_Init under async_mpi_init, or the peer had not got there), so
 * look again; one thread reads, the others wait for its answer. */
static bool clear_rx(struct peer_slot *e, ompi_proc_t *proc)
{
	int now = RX_NO;
	bool ok;

	if (atomic_compare_exchange_strong(&e->clear_rx, &now, RX_BUSY)) {
		ok = read_token(e, proc);
		atomic_store(&e->clear_rx, ok ? RX_YES : RX_NO);
		return ok;
	}
	while (RX_BUSY == now) {
		sched_yield();
		now = atomic_load(&e->clear_rx);
	}
	return RX_YES == now;
}

bool encshim_peer_clear_rx(ompi_communicator_t *comm, int rank)
{
	ompi_proc_t *proc;
	struct peer_slot *e = clear_slot(comm, rank, &proc);

	return NULL != e && clear_rx(e, proc);
}

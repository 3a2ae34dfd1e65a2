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
 */
#include "pml_encshim.h"

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
static _Atomic(struct encshim_peer *) *peers;
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

void encshim_envelope(uint8_t env[ENCSHIM_ENV_BYTES], uint32_t src_vpid,
		      uint32_t dst_vpid, uint32_t cid, int tag)
{
	put_be32(env, src_vpid);
	put_be32(env + 4, dst_vpid);
	put_be32(env + 8, cid);
	put_be32(env + 12, (uint32_t)tag);
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

static bool window_ok(int w)
{
	return w >= (int)ENCSHIM_REPLAY_WINDOW_MIN &&
	       w <= (int)ENCSHIM_REPLAY_WINDOW_MAX && 0 == (w & (w - 1));
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

static int make_self_sessions(void)
{
	uint8_t id[9], mid[9];
	size_t idlen = identity_of(id, my_jobid, my_vpid, false);
	size_t midlen = identity_of(mid, my_jobid, my_vpid, true);
	uint8_t pub[ENCSHIM_PUBKEY_BYTES];
	int rc;

	encshim_local_public_key(mirror_keys, pub);
	rc = encshim_peer_new(&self_tx, local_keys, mid, midlen, pub,
			      (size_t)encshim_param.replay_window);
	encshim_local_public_key(local_keys, pub);
	if (ENCSHIM_OK == rc)
		rc = encshim_peer_new(&self_rx, mirror_keys, id, idlen, pub,
				      (size_t)encshim_param.replay_window);
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
	if (!window_ok(encshim_param.replay_window)) {
		encshim_log("pml_encshim_replay_window=%d is not a power of two "
			    "in [%u, %u]", encshim_param.replay_window,
			    ENCSHIM_REPLAY_WINDOW_MIN, ENCSHIM_REPLAY_WINDOW_MAX);
		return OMPI_ERROR;
	}
	if (OMPI_SUCCESS != check_env_status(encshim_init(), "crypto init") ||
	    OMPI_SUCCESS != pick_backend(&b) ||
	    OMPI_SUCCESS != load_secret(secret))
		return OMPI_ERROR;
	rc = make_locals(secret, b);
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
		encshim_peer_free(atomic_load(&peers[i]));
	free(peers);
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
	rc = encshim_peer_new(&p, local_keys, id, idlen, pub,
			      (size_t)encshim_param.replay_window);
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

uint32_t encshim_vpid_of(ompi_communicator_t *comm, int rank)
{
	const opal_process_name_t *n = name_of(comm, rank);

	return NULL == n ? UINT32_MAX : n->vpid;
}

struct encshim_peer *encshim_peer_get(ompi_communicator_t *comm, int rank,
				     bool sealing)
{
	const opal_process_name_t *n = name_of(comm, rank);
	struct encshim_peer *p, *expected = NULL;

	if (NULL == n || n->jobid != my_jobid || n->vpid >= npeers) {
		encshim_log("peer %d of communicator %u is outside this job "
			    "(MPI_Comm_spawn/connect are not supported by "
			    "encshim); refusing to talk to it",
			    rank, ompi_comm_get_cid(comm));
		return NULL;
	}
	if (n->vpid == my_vpid)
		return sealing ? self_tx : self_rx;
	p = atomic_load_explicit(&peers[n->vpid], memory_order_acquire);
	if (NULL != p)
		return p;
	p = derive(n);
	if (NULL == p)
		return NULL;
	if (!atomic_compare_exchange_strong(&peers[n->vpid], &expected, p)) {
		encshim_peer_free(p); /* another thread won: use its session */
		p = expected;
	}
	return p;
}

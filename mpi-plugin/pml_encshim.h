/* SPDX-License-Identifier: MIT */
/*
 * pml/encshim: seals every point-to-point message of Open MPI with the
 * encshim core (AES-256-GCM) by wrapping the PML that Open MPI selected.
 *
 * The wrapper sits in the mca_pml function table (installed when the
 * PML framework closes the losing components, see
 * pml_encshim_component.c) and forwards every call to the saved module,
 * after sealing on send and before completing on receive. On the wire a
 * message of N plaintext bytes is an MPI_BYTE message of N + 48 bytes:
 * stream(16) || header(16) || ciphertext(N) || tag(16) (docs/MPI.md).
 */
#ifndef PML_ENCSHIM_H
#define PML_ENCSHIM_H

#include "ompi_config.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ompi/communicator/communicator.h"
#include "ompi/datatype/ompi_datatype.h"
#include "ompi/mca/pml/pml.h"
#include "ompi/message/message.h"
#include "ompi/request/request.h"

#include "encshim.h"

#define ENCSHIM_PML_NAME "encshim"

/* ---- component state (pml_encshim_component.c) ---- */

OMPI_MODULE_DECLSPEC extern mca_pml_base_component_2_0_0_t
	mca_pml_encshim_component;
/* The PML we wrap, as selected by Open MPI; every call ends there. */
extern mca_pml_base_module_t encshim_inner;
/* Its component's name ("ob1", "ucx", "cm", "monitoring"). */
const char *encshim_inner_name(void);

struct encshim_params {
	bool enable;          /* pml_encshim_enable */
	int verbose;          /* pml_encshim_verbose: 1 = summary at finalize */
	char *backend;        /* pml_encshim_backend: auto|ipsecmb|openssl|sodium */
	size_t pool_max;      /* pml_encshim_pool_max_bytes */
	size_t chunk_bytes;   /* pml_encshim_chunk_bytes */
	size_t chunk_threshold; /* pml_encshim_chunk_threshold, 0: off */
	unsigned chunk_window; /* pml_encshim_chunk_window */
	char *local;          /* pml_encshim_local: seal|clear */
	char *local_dir;      /* pml_encshim_local_dir: token files */
};
extern struct encshim_params encshim_param;

/* Counters, published as MPI_T performance variables. */
struct encshim_counters {
	_Atomic unsigned long long sealed_msgs, sealed_bytes;
	_Atomic unsigned long long opened_msgs, opened_bytes;
	_Atomic unsigned long long auth_failures;
	_Atomic unsigned long long chunked_sent, chunked_received;
	_Atomic unsigned long long clear_sent_msgs, clear_sent_bytes;
	_Atomic unsigned long long clear_received_msgs, clear_received_bytes;
	_Atomic unsigned long long clear_peers; /* local-clear peers */
};
extern struct encshim_counters encshim_stats;

/* Registers the MCA parameters and MPI_T counters. Runs at component
 * registration and again once we are installed: the framework drops the
 * variables of the components it closes after selection, us included. */
int encshim_register_vars(void);

/* Prints "encshim: rank R: ..." to stderr (one line, one write). */
void encshim_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- bypass guard (pml_encshim_bypass.c) ---- */

/* Turns off the components that move data without the PML; aborts the
 * job if the user forced one of them. Runs once, before any traffic. */
void encshim_bypass_guard(void);

/* ---- keys and peers (pml_encshim_peer.c) ---- */

int encshim_keys_init(void);     /* key file, local keys, modex send */
/* After the modex fence, before the first session: binds the local keys
 * to the job identifier J and makes the sessions with ourselves. */
int encshim_keys_bind_job(void);
void encshim_keys_fini(void);

/* The token of the peer behind rank `rank` of comm if it is local-clear
 * (decided once, when its session is made: its token file is ours to
 * read and encshim_clear_path holds), else NULL: seal to it. */
const uint8_t *encshim_peer_clear(ompi_communicator_t *comm, int rank);
/* Whether that peer may send us clear frames: its token file is ours to
 * read (whatever path the PML takes; the frame's token is checked). */
bool encshim_peer_clear_rx(ompi_communicator_t *comm, int rank);

/* ---- job identifier (pml_encshim_job.c) ---- */

#define ENCSHIM_MPI_NONCE_BYTES 16
#define ENCSHIM_MPI_JOB_BYTES (4 + ENCSHIM_MPI_NONCE_BYTES)
/* Rank 0 draws the job nonce and publishes it in the modex. */
int encshim_job_publish(void);
/* J = BE32(Open MPI jobid) || rank 0's nonce; after the modex fence. */
int encshim_job_id(uint8_t job[ENCSHIM_MPI_JOB_BYTES]);
/* The session with the process behind rank `rank` of comm (remote group
 * for intercommunicators), made on first use; for ourselves, the session
 * that seals (sealing) or its mirror that opens. NULL after logging why. */
struct encshim_peer *encshim_peer_get(ompi_communicator_t *comm, int rank,
				      bool sealing);

uint32_t encshim_vpid_of(ompi_communicator_t *comm, int rank);
uint32_t encshim_my_vpid(void);

/* ---- intra-node policy (pml_encshim_clear.c) ---- */

/* Parses pml_encshim_local; with clear, draws our token and keys the
 * token file names with the job secret. */
int encshim_clear_init(const uint8_t secret[ENCSHIM_SECRET_BYTES]);
/* After the modex fence, before any traffic: our token file for job J
 * (on failure, logged, this rank seals everything). */
void encshim_clear_publish(const uint8_t job[ENCSHIM_MPI_JOB_BYTES]);
void encshim_clear_fini(void);
/* Our token, NULL when this rank seals everything. */
const uint8_t *encshim_clear_mine(void);
/* Reads vpid's token file (regular, ours, 0600, 16 bytes): true if the
 * peer may be local-clear. */
bool encshim_clear_peer(uint32_t vpid,
			uint8_t token[ENCSHIM_MPI_TOKEN_BYTES]);
const char *encshim_clear_dir(void);
/* Whether the wrapped PML reaches proc only through shared memory (ob1
 * with btl vader/sm): clear frames are sent on no other path. */
bool encshim_clear_path(ompi_proc_t *proc);

/* ---- communicators and streams (pml_encshim_comm.c) ---- */

struct encshim_comm;

/* A posted receive, pending in its communicator until audited. */
struct encshim_post {
	uint64_t p;                   /* posting order in the communicator */
	int src, tag;                 /* as posted: may be wildcards */
	struct encshim_post *next, *prev;
	bool listed, lost, phantom;
	/* per source: this receive must take a place below n */
	struct encshim_bound {
		int src;
		uint64_t n;
	} *bounds;
	uint32_t nbounds, cap;
};

/* A receive that took its message but may not complete yet (docs/
 * PROTOCOL.md section 11, step 7): owner is its request. */
struct encshim_held {
	struct encshim_held *next;
	uint64_t n, p, need; /* need: place that must be taken first */
	int src, ptag;
	void *owner;
};

/* Our state of comm (logs and returns NULL if there is none). */
struct encshim_comm *encshim_comm_of(ompi_communicator_t *comm);
void encshim_comms_fini(void);
/* The bytes bound into every frame (docs/MPI.md, "Envelope"). */
void encshim_envelope(uint8_t env[ENCSHIM_MPI_ENV_BYTES],
		      const struct encshim_comm *c, uint32_t src_vpid,
		      uint32_t dst_vpid, int tag,
		      const uint8_t stream[ENCSHIM_MPI_STREAM_BYTES]);
/* Takes the next place in the stream to dst (comm rank) and holds the
 * stream until encshim_tx_end: hand the frame to the PML in between.
 * A place whose frame was not handed over (sent false) is given back. */
struct encshim_tx_ticket {
	int dst, tag;
	int32_t old_last_tag;
	uint64_t n, old_last1;
};
int encshim_tx_begin(struct encshim_comm *c, int dst, int tag,
		     struct encshim_tx_ticket *t,
		     uint8_t stream[ENCSHIM_MPI_STREAM_BYTES]);
void encshim_tx_end(struct encshim_comm *c, const struct encshim_tx_ticket *t,
		    bool sent);
/* Numbers r and makes it pending; holds the posting order until
 * encshim_post_end: post to the PML in between. */
int encshim_post_begin(struct encshim_comm *c, struct encshim_post *r,
		       int src, int tag);
void encshim_post_end(struct encshim_comm *c);
/* r ends without a message (failed, cancelled, truncated, unmatched). */
void encshim_post_withdraw(struct encshim_comm *c, struct encshim_post *r);
/* r took the authenticated frame of (src, tag) with this stream field:
 * OMPI_SUCCESS if MPI's matching rules allow it, else *why says why.
 * On success *held says that r must not complete yet (step 7): a later
 * audit completes it (encshim_request_release(owner)). Held receives
 * this audit makes ready are completed before it returns. */
int encshim_audit(struct encshim_comm *c, struct encshim_post *r, int src,
		  int tag, const uint8_t stream[ENCSHIM_MPI_STREAM_BYTES],
		  void *owner, bool *held, const char **why);
/* r took a message too long for it (MPI_ERR_TRUNCATE, never opened; the
 * receive reports the error). Which place it took is unknown (a PML may
 * write none of the frame), so r stays pending for ever, as the receive
 * that took some earlier message of its pattern, and the stream of
 * (src, tag), if the PML names it, counts one place taken unseen. */
void encshim_audit_truncated(struct encshim_comm *c, struct encshim_post *r,
			     int src, int tag);

/* MPI_Probe/MPI_Iprobe take no message but name the one a receive of
 * their pattern would take: a probe is numbered like a receive, holding
 * the posting order until encshim_post_end (r is never pending). If it
 * reported (src, tag), encshim_probe_keep records it until a receive
 * posted after it completes with that envelope; that receive is audited
 * under the probe's pattern and number as well as its own. */
void encshim_probe_begin(struct encshim_comm *c, struct encshim_post *r,
			 int src, int tag);
void encshim_probe_keep(struct encshim_comm *c, const struct encshim_post *r,
			int src, int tag);

/* ---- staging pool (pml_encshim_pool.c) ---- */

void encshim_pool_fini(void);
/* A buffer of at least len bytes (never NULL for len 0). */
void *encshim_pool_get(size_t len, size_t *cap);
void encshim_pool_put(void *buf, size_t cap);

/* ---- requests (pml_encshim_request.c) ---- */

enum encshim_req_kind { ENCSHIM_REQ_SEND, ENCSHIM_REQ_RECV };

/* Owner of frame memory: our pool, or the user's MPI_Buffer_attach area. */
enum encshim_frame_owner { ENCSHIM_FRAME_POOL, ENCSHIM_FRAME_BSEND };

/*
 * The request the user sees. The PML's own request ("inner") moves the
 * frame; its completion callback opens/releases the frame and completes
 * this one. Life cycle states guard against the callback racing the
 * user's MPI_Request_free (see pml_encshim_request.c).
 */
typedef struct encshim_request {
	ompi_request_t super;
	enum encshim_req_kind kind;
	ompi_request_t *inner;
	_Atomic int claimed;          /* completion handled once */
	_Atomic int life;             /* ENCSHIM_LIFE_* */
	/* frame in flight */
	uint8_t *frame;
	size_t frame_cap;
	enum encshim_frame_owner owner;
	/* the user's arguments, kept for receives and persistent starts */
	void *buf;
	size_t count;
	ompi_datatype_t *dtype;
	ompi_communicator_t *comm;
	int peer;                     /* dst for sends, src for receives */
	int tag;
	mca_pml_base_send_mode_t mode;
	/* receives: the posting (&post while pending in the audit) */
	struct encshim_comm *ecomm;
	struct encshim_post post, *posted;
	bool staged; /* a matched probe's: plaintext kept for MPI_Mrecv */
	bool unstage; /* MPI_Imrecv's: inner is the staged request */
	struct encshim_request *watch_next, *grave_next;
	bool watched;
	_Atomic int hold;             /* ENCSHIM_HOLD_* (step 7) */
} encshim_request_t;
OBJ_CLASS_DECLARATION(encshim_request_t);

encshim_request_t *encshim_request_new(enum encshim_req_kind kind,
				       bool persistent, void *buf,
				       size_t count, ompi_datatype_t *dtype,
				       int peer, int tag,
				       mca_pml_base_send_mode_t mode,
				       ompi_communicator_t *comm);
/* A receive held by the order audit (step 7): FINISHING from its audit
 * until its completion path ends, then WAITING; a release that comes
 * while FINISHING leaves EARLY, and the completion path completes it. */
enum { ENCSHIM_HOLD_NONE, ENCSHIM_HOLD_FINISHING, ENCSHIM_HOLD_WAITING,
       ENCSHIM_HOLD_EARLY };
/* The completion path of receive r ends (its status set): completes it,
 * unless the order audit holds it; then its release does. */
void encshim_request_end(encshim_request_t *r);
/* Completes a receive the order audit held (owner of encshim_held). */
void encshim_request_release(void *owner);
/* Arms completion of r when r->inner completes (pitfalls 3-5). */
void encshim_request_watch(encshim_request_t *r);
/* Marks r active again for a persistent start. */
void encshim_request_rearm(encshim_request_t *r);
/* Completes an activation that needs no PML request. */
void encshim_request_complete_now(encshim_request_t *r, int err);
/* Waits for the last activation to be fully complete (the PML's request
 * marked complete too) and frees the PML's request. */
void encshim_request_forget_inner(encshim_request_t *r);
/* Drops a request that never reached the PML. */
void encshim_request_drop(encshim_request_t *r);
/* req_start of persistent requests (pml_encshim_start.c). */
int encshim_start_persistent(size_t count, ompi_request_t **requests);
int encshim_progress(void);
void encshim_request_fini(void);
void encshim_frame_release(encshim_request_t *r);

/* ---- send side (pml_encshim_send.c) ---- */

/* Seals the message into a new frame of r and posts the inner isend. */
int encshim_send_post(encshim_request_t *r);
int encshim_isend(const void *buf, size_t count, ompi_datatype_t *dtype,
		  int dst, int tag, mca_pml_base_send_mode_t mode,
		  ompi_communicator_t *comm, ompi_request_t **request);
int encshim_bsend_detached(const void *buf, size_t count,
			   ompi_datatype_t *dtype, int dst, int tag,
			   ompi_communicator_t *comm);
int encshim_send(const void *buf, size_t count, ompi_datatype_t *dtype,
		 int dst, int tag, mca_pml_base_send_mode_t mode,
		 ompi_communicator_t *comm);

/* ---- receive side (pml_encshim_recv.c) ---- */

/* Posts the inner irecv of r into a staging frame. */
int encshim_recv_post(encshim_request_t *r);
/* Receives the message a matched probe r (posted) matched (inner, a
 * frame of framelen bytes) into r's staging frame, where it stays opened
 * for MPI_Mrecv; *message is the user's handle (req_ptr: r). */
int encshim_recv_stage(encshim_request_t *r, struct ompi_message_t *inner,
		       size_t framelen, struct ompi_message_t **message);
/* Authenticates and unpacks the received frame of r into the user buffer;
 * fills r->super.req_status. Returns the MPI error class. *deferred: the
 * frame was a chunked message's head, its chunks complete r (then r may
 * already be gone). */
int encshim_recv_finish(encshim_request_t *r, bool *deferred);
int encshim_irecv(void *buf, size_t count, ompi_datatype_t *dtype, int src,
		  int tag, ompi_communicator_t *comm, ompi_request_t **request);
int encshim_recv(void *buf, size_t count, ompi_datatype_t *dtype, int src,
		 int tag, ompi_communicator_t *comm,
		 ompi_status_public_t *status);
/* MPI_Imrecv's request o, its staged inner complete: copies out. */
void encshim_recv_unstage(encshim_request_t *o);
int encshim_imrecv(void *buf, size_t count, ompi_datatype_t *dtype,
		   struct ompi_message_t **message,
		   ompi_request_t **request);
int encshim_mrecv(void *buf, size_t count, ompi_datatype_t *dtype,
		  struct ompi_message_t **message,
		  ompi_status_public_t *status);
/* Refuses the receive r: logs the cause, fills its status; returns
 * MPI_ERR_OTHER. */
int encshim_recv_refuse(encshim_request_t *r, uint32_t src, const char *why);

/* ---- chunked messages (pml_encshim_chunk.c) ---- */

/* A send of these arguments is chunked: *len is its plaintext length
 * (persistent sends never are). */
bool encshim_chunk_wants(int tag, mca_pml_base_send_mode_t mode,
			 size_t count, ompi_datatype_t *dtype, size_t *len);
/* Seals and hands over the head and chunks of r; r completes from
 * progress when the PML is done with all of them. */
int encshim_chunk_send(encshim_request_t *r, size_t len);
/* Bytes of the PML receive for cap bytes of plaintext and this tag. */
size_t encshim_chunk_recv_len(size_t cap, int tag);
bool encshim_chunk_is_head(const uint8_t *frame, size_t framelen);
struct encshim_train;
/* Authenticates and audits the head r received: makes *rx, the receive
 * of its chunks (which will complete r), or returns the MPI error r
 * completes with. */
int encshim_chunk_head(encshim_request_t *r, size_t framelen, size_t cap,
		       struct encshim_train **rx);
/* Starts rx: from here r may complete, and be freed, at any time. */
void encshim_chunk_start(struct encshim_train *rx);
void encshim_chunk_progress(void);

/* ---- probes (pml_encshim_probe.c) ---- */

int encshim_iprobe(int src, int tag, ompi_communicator_t *comm, int *matched,
		   ompi_status_public_t *status);
int encshim_probe(int src, int tag, ompi_communicator_t *comm,
		  ompi_status_public_t *status);
int encshim_improbe(int src, int tag, ompi_communicator_t *comm,
		    int *matched, struct ompi_message_t **message,
		    ompi_status_public_t *status);
int encshim_mprobe(int src, int tag, ompi_communicator_t *comm,
		   struct ompi_message_t **message,
		   ompi_status_public_t *status);

/* ---- persistent requests (pml_encshim_start.c) ---- */

int encshim_isend_init(const void *buf, size_t count, ompi_datatype_t *dtype,
		       int dst, int tag, mca_pml_base_send_mode_t mode,
		       ompi_communicator_t *comm, ompi_request_t **request);
int encshim_irecv_init(void *buf, size_t count, ompi_datatype_t *dtype,
		       int src, int tag, ompi_communicator_t *comm,
		       ompi_request_t **request);
int encshim_start(size_t count, ompi_request_t **requests);

/* ---- forwarded management calls (pml_encshim_comm.c) ---- */

int encshim_add_procs(struct ompi_proc_t **procs, size_t nprocs);
int encshim_del_procs(struct ompi_proc_t **procs, size_t nprocs);
int encshim_enable(bool enable);
int encshim_add_comm(ompi_communicator_t *comm);
int encshim_del_comm(ompi_communicator_t *comm);
int encshim_dump(ompi_communicator_t *comm, int verbose);

#endif

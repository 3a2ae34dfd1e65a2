/* SPDX-License-Identifier: MIT */
/*
 * encshim verbs interposer: internal state shared by the exported
 * wrappers (interpose.c) and the data path (pool.c, send.c, recv.c,
 * hello.c, ud.c, qp.c, cq.c: one concept per file).
 * docs/VERBS.md describes the design; docs/PROTOCOL.md the wire format.
 */
#ifndef ESV_H
#define ESV_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <pthread.h>
#include <infiniband/verbs.h>

#include "encshim.h"

/* Verbs inner header inside the sealed plaintext: kind, 3 zero bytes,
 * imm_data as the application gave it (network order). */
#define ESV_INNER_BYTES 8u
#define ESV_KIND_SEND ENCSHIM_VERBS_KIND_SEND
#define ESV_KIND_SEND_IMM ENCSHIM_VERBS_KIND_SEND_IMM
#define ESV_KIND_WRITE_IMM ENCSHIM_VERBS_KIND_WRITE_IMM
/* Room an RC SEND (and every RC receive shadow) keeps for the
 * descriptors of sealed writes (write.c). */
#define ESV_WDESC_ROOM (ENCSHIM_VERBS_WDESC_MAX * ENCSHIM_VERBS_WDESC_BYTES)
/* Bytes a sealed SEND adds to the application's payload. */
#define ESV_OVERHEAD (ENCSHIM_OVERHEAD + ESV_INNER_BYTES)

/* HELLO: the first message of each direction of a connection, in clear. */
#define ESV_HELLO_MAGIC "ESVH"
#define ESV_HELLO_VERSION 3u
#define ESV_HELLO_BYTES 120u
#define ESV_CONNID_BYTES 16u
#define ESV_GRH_BYTES 40u
/* A UD answer carries key confirmation after the HELLO: an empty frame
 * sealed under the new session (docs/PROTOCOL.md section 10). */
#define ESV_CONFIRM_BYTES ENCSHIM_OVERHEAD
#define ESV_HELLO_MAX (ESV_HELLO_BYTES + ESV_CONFIRM_BYTES)

/* Smallest shadow slot: a HELLO (plus a GRH on UD) always fits. */
#define ESV_MIN_SLOT 256u
/* An RDMA WRITE longer than this is staged in a registered region of its
 * own (pool.c: esv_pool_get_own), not in a slot of the send pool. */
#define ESV_WRITE_OWN_SLOT (64u * 1024u)
/* Idle regions of such writes kept per pool for reuse, at most (bytes). */
#define ESV_OWN_KEEP_BYTES ((size_t)64 << 20)

/* The functions the wrappers call through: libibverbs' own (resolved with
 * dlvsym) or, in unit tests, a fake provider. */
struct esv_real {
	struct ibv_context *(*open_device)(struct ibv_device *);
	int (*close_device)(struct ibv_context *);
	struct ibv_context *(*import_device)(int);
	struct ibv_qp *(*create_qp)(struct ibv_pd *, struct ibv_qp_init_attr *);
	int (*modify_qp)(struct ibv_qp *, struct ibv_qp_attr *, int);
	int (*destroy_qp)(struct ibv_qp *);
	struct ibv_srq *(*create_srq)(struct ibv_pd *, struct ibv_srq_init_attr *);
	int (*destroy_srq)(struct ibv_srq *);
	struct ibv_cq *(*create_cq)(struct ibv_context *, int, void *,
				    struct ibv_comp_channel *, int);
	int (*destroy_cq)(struct ibv_cq *);
	struct ibv_mr *(*reg_mr)(struct ibv_pd *, void *, size_t, int);
	struct ibv_mr *(*reg_mr_iova)(struct ibv_pd *, void *, size_t, uint64_t, int);
	struct ibv_mr *(*reg_mr_iova2)(struct ibv_pd *, void *, size_t, uint64_t,
				       unsigned int);
	struct ibv_mr *(*reg_dmabuf_mr)(struct ibv_pd *, uint64_t, size_t,
					uint64_t, int, int);
	int (*rereg_mr)(struct ibv_mr *, int, struct ibv_pd *, void *, size_t, int);
	int (*dereg_mr)(struct ibv_mr *);
	int (*query_gid)(struct ibv_context *, uint8_t, int, union ibv_gid *);
	int (*query_port)(struct ibv_context *, uint8_t, struct ibv_port_attr *);
	int (*query_qp)(struct ibv_qp *, struct ibv_qp_attr *, int,
			struct ibv_qp_init_attr *);
	struct ibv_ah *(*create_ah)(struct ibv_pd *, struct ibv_ah_attr *);
	struct ibv_ah *(*create_ah_from_wc)(struct ibv_pd *, struct ibv_wc *,
					    struct ibv_grh *, uint8_t);
	int (*destroy_ah)(struct ibv_ah *);
	int (*get_cq_event)(struct ibv_comp_channel *, struct ibv_cq **, void **);
	void (*ack_cq_events)(struct ibv_cq *, unsigned int);
};
extern struct esv_real esv_real;

/* Counters (ENCSHIM_STATS=1 prints them at exit). */
struct esv_stats {
	uint64_t sealed_msgs, sealed_bytes, opened_msgs, opened_bytes;
	uint64_t auth_failures, denied_ops, handshakes, handshake_failures;
	uint64_t clear_one_sided;
	uint64_t wsealed_msgs, wsealed_bytes, wopened_msgs, wopened_bytes;
};
extern struct esv_stats esv_stats;

/* A slot of a registered shadow region. tag tells send entries and receive
 * shadows apart when a completion comes back. */
#define ESV_TAG_SHADOW 0x52u
#define ESV_TAG_SEND 0x53u
struct esv_region;
struct esv_shadow {
	uint32_t tag;
	struct esv_qp *owner_qp;     /* receive shadows posted for a QP */
	struct esv_region *region;
	uint8_t *buf;
	size_t dirty;   /* leading bytes that may hold plaintext: wiped when
			 * the slot goes back to its pool (esv_pool_put) */
	int posted;     /* taken from its pool: only then is it put back */
	struct esv_shadow *next_free;
};
struct esv_region {
	struct esv_pool *pool;
	struct ibv_mr *mr;
	uint8_t *mem;
	size_t slot_size, nslots, in_use;
	int retired;
	int own;         /* one slot for one long message (esv_pool_get_own) */
	struct esv_shadow *slots, *free;
	struct esv_region *next;
};
struct esv_pool {
	struct ibv_pd *pd;
	size_t nslots;   /* per region */
	size_t want;     /* largest slot asked for so far */
	size_t own_idle; /* bytes of idle regions of long messages, kept */
	struct esv_region *regions;
};

/* Intrusive doubly linked list (rdma-core's ccan list, in small). */
struct esv_list {
	struct esv_list *next, *prev;
};
#define esv_container_of(p, type, member) \
	((type *)(void *)((char *)(p) - offsetof(type, member)))
static inline void esv_list_init(struct esv_list *h)
{
	h->next = h->prev = h;
}
static inline void esv_list_add_tail(struct esv_list *h, struct esv_list *n)
{
	n->prev = h->prev;
	n->next = h;
	h->prev->next = n;
	h->prev = n;
}
static inline void esv_list_del(struct esv_list *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->next = n->prev = n;
}

/* A pending session of a UD peer that wrote first: one per distinct HELLO
 * it sent (a forged one among them), each with its own key pair of ours,
 * answered; the first frame that opens under one confirms it. */
struct esv_udcand {
	struct encshim_local *local; /* ours for this session alone */
	struct encshim_peer *peer;   /* NULL: a free slot */
	uint8_t peer_cid[ESV_CONNID_BYTES];
	uint8_t pub[32];
	uint32_t qkey;
	double keyed_at;
	double answered_at;
};
/* Pending sessions per UD peer entry. */
#define ESV_UD_CANDIDATES 4u

/* A UD peer: one remote QP at one address. Each peer entry has its own
 * key pair and connection id (local), so no two entries, and no two
 * sessions of one entry, ever share a key (docs/PROTOCOL.md section 10). */
struct esv_udpeer {
	struct esv_list link;      /* the QP's peers, oldest first */
	struct esv_list slink;     /* strangers only, oldest first */
	struct esv_udpeer *hnext;  /* hash chain of (qpn, addr) */
	uint32_t qpn;              /* remote QP number */
	uint8_t addr[16];          /* remote GID (or LID in the last 2 bytes) */
	uint8_t own[16];           /* our address as this peer sees it */
	int self;                  /* made by a send of ours to our own QPN
				      and address: a QP sending to itself */
	struct encshim_local *local; /* ours towards this peer */
	uint8_t conn_id[ESV_CONNID_BYTES]; /* ours towards this peer */
	struct encshim_peer *peer; /* keys: NULL until confirmed */
	struct encshim_peer *rx;   /* QP to itself: opens what peer seals */
	struct encshim_local *mirror; /* QP to itself: the other end */
	uint8_t peer_cid[ESV_CONNID_BYTES]; /* the peer's, from its HELLO */
	uint8_t pub[32];           /* the peer's public key, from its HELLO */
	struct esv_udcand cand[ESV_UD_CANDIDATES]; /* until confirmed */
	int confirmed;             /* the peer proved it holds these keys */
	int stranger;              /* made by its HELLO, not by a send of ours */
	struct ibv_ah *ah;         /* the shim's AH to answer the peer */
	uint32_t qkey;             /* the peer's Q_Key, from its HELLO */
	int hello_sent;            /* our HELLO asking for an answer is out */
	double hello_at;           /* when it was (last) sent */
	double deadline;           /* for the answer */
	double answered_at;        /* when we last answered its HELLO */
	unsigned held;             /* sends to this peer in the QP's held FIFO */
};

/* The peers of a UD QP: hashed by (QPN, address) with a keyed hash
 * (SipHash, a random key per QP: spoofed addresses cannot aim at one
 * chain), at most ESV_UD_MAX_STRANGERS unconfirmed peers that wrote first
 * (the oldest not answered within the HELLO timeout is evicted). */
struct esv_udtab {
	struct esv_udpeer **b;
	unsigned nb, n, nstrangers;
	uint8_t hkey[16];
	uint8_t cid_prefix[8];     /* every connection id of ours starts so */
	uint8_t check[ENCSHIM_CHECK_BYTES]; /* C of PROTOCOL section 3 */
	int have_check;
	double tokens, tokens_at;  /* key agreements HELLOs may still cause */
	double logged_at;          /* rate of the refusal lines */
	unsigned unlogged;
	struct esv_list all, strangers;
};
#define ESV_UD_MAX_STRANGERS 256u
/* Window in seconds: at most ESV_UD_CANDIDATES new sessions per source,
 * and one answer to a repeated HELLO. */
#define ESV_UD_HELLO_GAP 0.1
/* Key agreements per second that HELLOs may cause on one QP (bursts of
 * ESV_UD_MAX_STRANGERS). */
#define ESV_UD_HELLO_RATE 200.0

/* One send queue entry, in posting order. */
struct esv_swr {
	uint32_t tag;
	uint8_t kind;       /* ESV_SWR_* */
	uint8_t posted;
	uint8_t signaled;
	uint8_t quiet;      /* its completion is not the application's: the
			     * write of its WRITE_WITH_IMM reported the error */
	uint64_t app_wr_id;
	struct esv_shadow *sh;
	size_t ptlen;        /* inner header + payload; HELLO: its length */
	struct ibv_send_wr wr; /* one-sided (opt-in): the app's WR; UD: wr.ud */
	struct esv_udpeer *up; /* UD: the destination */
	struct ibv_sge *sge;   /* max_send_sge entries */
};
#define ESV_SWR_APP 1u
#define ESV_SWR_HELLO 2u
#define ESV_SWR_CLEAR 3u  /* one-sided, opt-in, in clear */
#define ESV_SWR_WRITE 4u  /* sealed RDMA WRITE: ciphertext from the slot */

/* One application receive, waiting for a message. */
struct esv_rwr {
	uint64_t wr_id;
	int num_sge;
	struct ibv_sge *sge;
};
struct esv_rq {
	struct esv_rwr *ring;
	struct ibv_sge *sges;
	unsigned cap, max_sge, head, count;
	struct esv_pool pool;
	size_t maxlen;       /* largest application receive */
};

enum esv_hs {
	ESV_HS_NONE = 0,     /* RESET */
	ESV_HS_INIT,         /* extra shadow for the peer's HELLO posted */
	ESV_HS_DONE,         /* keys exist */
	ESV_HS_FAILED,
};

struct esv_ctx;
struct esv_cq;
struct esv_srq;

struct esv_qp {
	struct ibv_qp *qp;
	struct esv_ctx *ec;
	uint32_t qpn;
	enum ibv_qp_type type;
	int sq_sig_all;
	struct esv_cq *scq, *rcq;
	struct esv_srq *srq;
	struct ibv_pd *pd;
	/* send side */
	struct esv_swr *ring;
	struct ibv_sge *ring_sges;
	unsigned cap, max_sge, head, count, nposted; /* head: oldest unreleased */
	struct esv_pool spool;
	/* UD: sends to peers without keys yet, in order, not in the ring
	 * (which holds posted entries only), so that they hold back no
	 * other peer's sends */
	struct esv_swr *held;
	unsigned held_head, held_count;
	/* receive side (no SRQ) */
	struct esv_rq rq;
	/* connection */
	enum esv_hs hs;
	int state;             /* last ibv_qp_state set */
	int hello_sent, peer_hello, reply_owed;
	uint8_t port;
	int sgid_index;
	/* RC/UC: the path as the QP was given it (IBV_QP_AV at RTR): the
	 * peer's GID when global, else its LID. The keys bind these. */
	int global;
	uint8_t dgid[16];
	uint16_t dlid;
	uint16_t lid;          /* ours, when the path is not global */
	uint32_t dest_qpn;
	uint32_t rq_psn;       /* ours, set at RTR: the peer's first PSN */
	uint32_t qkey;         /* UD: ours, set at INIT */
	struct esv_udtab ud;   /* UD: every peer seen or addressed */
	int shim_rts;          /* the shim moved the QP to RTS to answer */
	uint32_t rts_psn;      /* the send PSN the peer's HELLO expects */
	double rts_due;        /* the thread's move to RTS, if still at RTR */
	uint8_t conn_id[ESV_CONNID_BYTES];
	uint8_t gid[16];
	struct encshim_local *local;
	struct encshim_peer *peer;
	/* RC sealed writes (write.c): the write channel of peer, and the
	 * descriptors of writes sealed since the last SEND */
	struct encshim_peer *wpeer;
	uint8_t wpend[ENCSHIM_VERBS_WDESC_MAX][ENCSHIM_VERBS_WDESC_BYTES];
	struct esv_qpx *x;      /* the ibv_wr_* builders' batch (qpex.c) */
	unsigned nwpend;
	int wlost;  /* a write could not be described: the peer fails */
	int wown;   /* the newest descriptor is a WRITE_WITH_IMM's own */
	uint8_t *wscratch; /* a write's ciphertext, then plaintext, private */
	size_t wscratch_cap;
	double hello_deadline; /* CLOCK_MONOTONIC seconds */
	struct esv_qp *hnext;  /* hash chains */
	struct esv_qp *nnext;
};

struct esv_cq {
	struct ibv_cq *cq;
	struct esv_ctx *ec;
	struct ibv_wc *stash;
	unsigned stash_cap, stash_head, stash_count;
	unsigned soft_events;  /* events the shim handed out, not yet acked */
	struct ibv_wc cur;     /* ibv_cq_ex: the completion read_* report */
	int soft_due;          /* stash filled since the last software event */
	struct esv_cq *hnext;
};

struct esv_srq {
	struct ibv_srq *srq;
	struct esv_ctx *ec;
	struct esv_rq rq;
	struct esv_srq *hnext;
};

struct esv_ctx {
	struct ibv_context *ctx;
	struct ibv_context_ops orig;
	struct ibv_qp *(*orig_create_qp_ex)(struct ibv_context *,
					    struct ibv_qp_init_attr_ex *);
	struct ibv_cq_ex *(*orig_create_cq_ex)(struct ibv_context *,
					       struct ibv_cq_init_attr_ex *);
	struct ibv_srq *(*orig_create_srq_ex)(struct ibv_context *,
					      struct ibv_srq_init_attr_ex *);
	int (*orig_query_port)(struct ibv_context *, uint8_t,
			       struct ibv_port_attr *, size_t);
	struct ibv_mr *(*orig_reg_dm_mr)(struct ibv_pd *, struct ibv_dm *,
					 uint64_t, size_t, unsigned int);
	struct esv_ctx *next;
};

/* The one lock of the interposer (recursive): all shim state. */
extern pthread_mutex_t esv_lock;
void esv_lock_init(void);

/* The job secret in guarded memory (secret.c): esv_secret_take moves a
 * freshly loaded esv_cfg.secret there and wipes it; esv_local_new makes an
 * encshim_local from it (ENCSHIM_JOB_ID, the backend). */
int esv_secret_take(void);
int esv_local_new(struct encshim_local **out, const uint8_t *id, size_t idlen);

/* Configuration, read once (esv_config_load). */
struct esv_config {
	int allow_one_sided;
	int stats;
	int progress;         /* ENCSHIM_VERBS_PROGRESS (progress.c) */
	double hello_timeout; /* seconds, ENCSHIM_VERBS_HELLO_TIMEOUT */
	int quiet;
	int loaded;
	int key_rc;           /* 0, or the core's error code */
	char key_path[4096];
	uint8_t secret[ENCSHIM_SECRET_BYTES];
	enum encshim_backend backend;
	char job_id[65];
	size_t job_id_len;
};
extern struct esv_config esv_cfg;
/* Loads key and settings on first use; 0, or -1 with errno set and the
 * reason printed. */
int esv_ready(void);
void esv_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Object registry (registry.c). */
struct esv_ctx *esv_ctx_add(struct ibv_context *ctx);
struct esv_ctx *esv_ctx_find(struct ibv_context *ctx);
void esv_ctx_del(struct ibv_context *ctx);
struct esv_qp *esv_qp_find(struct ibv_qp *qp);
struct esv_cq *esv_cq_find(struct ibv_cq *cq);
struct esv_srq *esv_srq_find(struct ibv_srq *srq);
void esv_qp_insert(struct esv_qp *q);
void esv_qp_remove(struct esv_qp *q);
struct esv_qp *esv_qp_by_num(struct esv_ctx *ec, uint32_t qpn);
struct esv_qp *esv_qp_iter(unsigned *bucket, struct esv_qp *prev);
void esv_cq_insert(struct esv_cq *c);
void esv_cq_remove(struct esv_cq *c);
void esv_srq_insert(struct esv_srq *s);
void esv_srq_remove(struct esv_srq *s);

/* Life cycle hooks called by the wrappers, under esv_lock. */
int esv_qp_created(struct ibv_qp *qp, struct ibv_pd *pd,
		   const struct ibv_qp_cap *asked, struct ibv_qp_init_attr *ia);
void esv_qp_modified(struct ibv_qp *qp, const struct ibv_qp_attr *attr, int mask);
void esv_qp_destroyed(struct ibv_qp *qp);
int esv_cq_created(struct ibv_cq *cq);
void esv_cq_destroyed(struct ibv_cq *cq);
int esv_srq_created(struct ibv_srq *srq, struct ibv_pd *pd, uint32_t max_wr,
		    uint32_t max_sge);
void esv_srq_destroyed(struct ibv_srq *srq);
/* Completion channels (ibv_get_cq_event): moves handshakes of QPs with a
 * CQ on ch forward; returns a CQ on ch holding completions the hardware
 * will not announce (made or moved by the shim) as a software event, else
 * NULL; *busy says whether a handshake still waits. */
struct ibv_cq *esv_channel_progress(struct ibv_comp_channel *ch, int *busy);
/* How many of n acknowledged events of cq were software events. */
unsigned esv_cq_ack_soft(struct ibv_cq *cq, unsigned n);
/* Replaces the data-path entries of ctx->ops and the extended creators. */
void esv_patch_context(struct esv_ctx *ec);

/* Address handles (the shim needs a UD destination's address). */
int esv_ah_created(struct ibv_ah *ah, const struct ibv_ah_attr *attr);
void esv_ah_destroyed(struct ibv_ah *ah);
int esv_ah_addr(struct ibv_ah *ah, uint8_t addr[16], int *sgid_index);

/* How many extra receive/send entries the shim adds to each queue (UD
 * sends: one HELLO per peer, and answers). */
#define ESV_EXTRA_SEND 1u
#define ESV_EXTRA_SEND_UD 16u
#define ESV_EXTRA_RECV 1u
#define ESV_EXTRA_SRQ 16u
/* UD: a HELLO still unanswered is sent again with the next send to that
 * peer after this many seconds (a datagram may be lost). */
#define ESV_UD_HELLO_RESEND 1.0

const char *esv_opcode_name(enum ibv_wr_opcode op);

/* Small helpers (big-endian fields, envelopes, identities, the clock). */
static inline size_t esv_sge_total(const struct ibv_sge *sg, int n)
{
	size_t t = 0;

	for (int i = 0; i < n; i++)
		t += sg[i].length;
	return t;
}

static inline void esv_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline uint32_t esv_get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* Envelope (authenticated, not sent): label, QP type, sender and
 * receiver QP numbers. */
static inline size_t esv_make_env(uint8_t env[16], enum ibv_qp_type t, uint32_t src,
				  uint32_t dst)
{
	memcpy(env, "ESV1", 4);
	env[4] = (uint8_t)t;
	esv_put_be32(env + 5, src);
	esv_put_be32(env + 9, dst);
	return 13;
}

/* Identity of one end of a connection (docs/PROTOCOL.md section 10): QP
 * type, QPN, address (GID when the path is global, else the LID) and
 * connection id. */
#define ESV_ID_BYTES 40u
static inline size_t esv_make_identity(uint8_t id[ESV_ID_BYTES],
				       enum ibv_qp_type t, uint32_t qpn,
				       const uint8_t gid[16], uint16_t lid,
				       const uint8_t connid[16])
{
	id[0] = 'Q';
	id[1] = (uint8_t)t;
	esv_put_be32(id + 2, qpn);
	memcpy(id + 6, gid, 16);
	id[22] = (uint8_t)(lid >> 8);
	id[23] = (uint8_t)lid;
	memcpy(id + 24, connid, ESV_CONNID_BYTES);
	return ESV_ID_BYTES;
}

static inline struct esv_rq *esv_rq_of(struct esv_qp *q)
{
	return q->srq ? &q->srq->rq : &q->rq;
}

static inline double esv_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Shadow pools (pool.c). */
void esv_pool_init(struct esv_pool *p, struct ibv_pd *pd, size_t nslots);
struct esv_shadow *esv_pool_get(struct esv_pool *p, size_t need);
struct esv_shadow *esv_pool_get_own(struct esv_pool *p, size_t need);
void esv_pool_put(struct esv_shadow *s);
void esv_pool_reclaim(struct esv_pool *p);
void esv_pool_destroy(struct esv_pool *p);

/* Handshake progress for write targets that never poll (progress.c). */
void esv_progress_kick(void);
void esv_progress_stop(void);
#define ESV_RTS_GRACE_S 1.0 /* hello.c, esv_hello_rts_due */
extern int esv_progress_pulling; /* the thread polls (under esv_lock) */
void esv_hello_rts_due(struct esv_qp *q);

/* Send ring (send.c). */
struct esv_swr *esv_swr_alloc(struct esv_qp *q);
void esv_swr_unalloc(struct esv_qp *q, struct esv_swr *e);
void esv_swr_release_upto(struct esv_qp *q, struct esv_swr *e);
int esv_swr_post(struct esv_qp *q, struct esv_swr *e);
struct esv_swr *esv_swr_app(struct esv_qp *q, const struct ibv_send_wr *w,
			    size_t len, unsigned flags);
int esv_swr_seal(struct esv_qp *q, struct esv_swr *e);
void esv_flush_pending(struct esv_qp *q);
int esv_deny(struct esv_qp *q, enum ibv_wr_opcode op);
int esv_on_send(struct esv_qp *q, struct esv_swr *e, struct ibv_wc *wc);

/* Receive FIFO and opening (recv.c). */
int esv_rq_init(struct esv_rq *rq, struct ibv_pd *pd, unsigned cap,
		unsigned max_sge, unsigned shadow_slots);
void esv_rq_fini(struct esv_rq *rq);
int esv_post_shadow(struct esv_qp *q, struct esv_srq *srq,
		    struct esv_shadow *s);
struct esv_rwr *esv_rq_pop(struct esv_rq *rq);
void esv_scatter_at(const struct esv_rwr *r, size_t off, const uint8_t *src,
		    size_t len);
void esv_set_imm(struct ibv_wc *wc, const uint8_t *inner);
int esv_on_recv(struct esv_qp *q, struct esv_shadow *s, struct ibv_wc *wc);

/* Sealed RDMA WRITE (write.c) and the shadow MRs it writes to (wmr.c). */
int esv_write_post(struct esv_qp *q, const struct ibv_send_wr *w);
int esv_write_seal(struct esv_qp *q, struct esv_swr *e,
		   const struct ibv_send_wr *w);
size_t esv_write_attach(struct esv_qp *q, uint8_t *inner, uint8_t *tail);
int esv_write_open(struct esv_qp *q, const uint8_t *inner,
		   const uint8_t *desc, uint32_t *own_len, char *why,
		   size_t whylen);
void esv_write_reset(struct esv_qp *q);
struct esv_wmr {
	struct ibv_mr *mr;   /* the application's: no remote access */
	struct ibv_mr *smr;  /* the shadow's: remote write, same iova */
	uint8_t *shadow;     /* the allocation (pages) */
	uint8_t *sbuf;       /* the registered shadow within it */
	size_t shadow_bytes;
	uint64_t iova;       /* of both */
	uint32_t real_rkey;  /* never handed out */
	struct esv_wmr *next;
};
struct ibv_mr *esv_wmr_reg(struct ibv_mr *mr, uint64_t iova);
int esv_wmr_dereg(struct ibv_mr *mr);
struct esv_wmr *esv_wmr_find(struct ibv_pd *pd, uint32_t rkey);
int esv_wmr_in_pd(const struct ibv_pd *pd);

/* The extended API: ibv_wr_* builders (qpex.c), ibv_cq_ex polling
 * (cqex.c). */
int esv_qpx_patch(struct ibv_qp *qp);
void esv_qpx_free(struct esv_qp *q);
int esv_cqx_patch(struct ibv_cq_ex *cq, uint64_t wc_flags);

/* RC/UC handshake (hello.c). */
int esv_ensure_local(struct esv_qp *q);
uint16_t esv_port_lid(struct esv_qp *q);
int esv_hello_out(struct esv_qp *q, struct esv_udpeer *up,
		  const struct esv_udcand *answer, struct ibv_ah *ah, uint32_t qkey);
size_t esv_confirm_env(uint8_t env[ENCSHIM_MAX_ENVELOPE], const uint8_t *hello);
int esv_hello_send(struct esv_qp *q);
int esv_hello_rc(struct esv_qp *q, const uint8_t *h, size_t len);

/* UD peers (ud.c). */
int esv_ud_init(struct esv_qp *q);
void esv_ud_fini(struct esv_qp *q);
void esv_udpeers_free(struct esv_qp *q);
void esv_ud_flush_held(struct esv_qp *q);
int esv_ud_post_send(struct esv_qp *q, struct ibv_send_wr *w);
int esv_ud_recv(struct esv_qp *q, struct esv_shadow *s, struct ibv_wc *wc);

/* QP life cycle (qp.c). */
void esv_qp_flush_to_cq(struct esv_qp *q);
void esv_qp_fail(struct esv_qp *q, const char *why);
void esv_post_extra_shadow(struct esv_qp *q);

/* Completions (cq.c) and the entry points patched into ctx->ops. */
void esv_cq_stash(struct esv_cq *c, const struct ibv_wc *wc);
void esv_cq_pull(struct esv_cq *rc);
void esv_cq_forget(struct esv_cq *c, uint32_t qpn);
int esv_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr,
		  struct ibv_send_wr **bad_wr);
int esv_post_recv(struct ibv_qp *qp, struct ibv_recv_wr *wr,
		  struct ibv_recv_wr **bad_wr);
int esv_post_srq_recv(struct ibv_srq *srq, struct ibv_recv_wr *wr,
		      struct ibv_recv_wr **bad_wr);
int esv_poll_cq(struct ibv_cq *cq, int n, struct ibv_wc *wc);

#endif

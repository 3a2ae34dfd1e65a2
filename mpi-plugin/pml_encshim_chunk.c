/* SPDX-License-Identifier: MIT */
/*
 * Chunked messages (MPI framing v3, docs/PROTOCOL.md section 11,
 * "Chunks"). A message of a collective (negative tag) longer than
 * pml_encshim_chunk_threshold leaves as a head frame on its own tag,
 * which takes the message's place in the stream like any frame and is
 * what the receive matches and the order audit sees, then K chunk frames
 * of pml_encshim_chunk_bytes on a lane tag derived from that place. The
 * sender seals chunk k + 1 while the PML moves chunk k; the receiver,
 * once the head is authentic and audited, posts the K chunk receives
 * from progress (never from the PML's completion callbacks) and opens
 * each chunk as it lands, straight into the user's buffer when it is
 * contiguous. The message completes only when every chunk is authentic.
 *
 * Each chunk is a core frame (its own nonce) whose AAD names the message
 * (source, destination, communicator, tag, place n, length, chunk size),
 * its index and whether it is the last (a STREAM construction, Hoang,
 * Reyhanitabar, Rogaway and Vizar, CRYPTO 2015): a chunk that is
 * dropped, repeated, reordered or taken from another message fails to
 * open in the receive that expects another, and nothing of the message
 * is delivered.
 *
 * Only negative tags are chunked: MPI_ANY_TAG never matches them and no
 * probe can name them, so the head's length (which a probe of a user
 * message would report) never reaches the user.
 */
#include "pml_encshim_comm.h"

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ompi/constants.h"
#include "opal/datatype/opal_convertor.h"

#include <sodium.h>

/* Core frame of a chunk of len plaintext bytes. */
static size_t chunk_frame_len(size_t len)
{
	return len + ENCSHIM_OVERHEAD;
}

struct shape {
	uint64_t total;
	uint32_t csize, k;
};

static size_t chunk_len(const struct shape *s, uint32_t i)
{
	return i + 1 < s->k ? s->csize
			    : (size_t)(s->total - (uint64_t)i * s->csize);
}

static int lane_tag(uint64_t n)
{
	return ENCSHIM_MPI_LANE_TAG_BASE + (int)(n % ENCSHIM_MPI_LANES);
}

/* "ESH3" || BE32(src) || BE32(dst) || C || BE32(tag) || stream || desc */
static void head_aad(uint8_t aad[ENCSHIM_MPI_HEAD_AAD_BYTES],
		     const struct encshim_comm *c, uint32_t src, uint32_t dst,
		     int tag, const uint8_t *stream, const uint8_t *desc)
{
	aad_prefix(aad, ENCSHIM_MPI_HEAD_LABEL, c, src, dst, tag);
	memcpy(aad + 32, stream, ENCSHIM_MPI_STREAM_BYTES);
	memcpy(aad + 48, desc, ENCSHIM_MPI_DESC_BYTES);
}

/* "ESC3" || BE32(src) || BE32(dst) || C || BE32(tag) || BE64(n) ||
 * BE64(total) || BE32(csize) || BE32(i) || BE32(last); i and last are
 * set per chunk by chunk_aad_index. */
static void chunk_aad(uint8_t aad[ENCSHIM_MPI_CHUNK_AAD_BYTES],
		      const struct encshim_comm *c, uint32_t src, uint32_t dst,
		      int tag, uint64_t n, const struct shape *s)
{
	aad_prefix(aad, ENCSHIM_MPI_CHUNK_LABEL, c, src, dst, tag);
	put_be64(aad + 32, n);
	put_be64(aad + 40, s->total);
	put_be32(aad + 48, s->csize);
}

static void chunk_aad_index(uint8_t aad[ENCSHIM_MPI_CHUNK_AAD_BYTES],
			    const struct shape *s, uint32_t i)
{
	put_be32(aad + 52, i);
	put_be32(aad + 56, i + 1 == s->k);
}

static uint8_t *slot_of(uint8_t *frames, const struct shape *s, uint32_t i)
{
	return frames + (size_t)i * chunk_frame_len(s->csize);
}

/* Trains: the chunks of one message in flight, polled from progress. */
struct encshim_train {
	struct encshim_train *next;
	encshim_request_t *r; /* NULL: a receive that only drains */
	ompi_communicator_t *comm;
	struct encshim_peer *peer;
	int rank, lane;
	struct shape s;
	uint8_t aad[ENCSHIM_MPI_CHUNK_AAD_BYTES];
	uint8_t *base, *frames; /* base: from the pool; frames: chunk 0 */
	size_t cap;
	bool wipe; /* plaintext was staged in the frames */
	ompi_request_t **reqs;
	uint32_t nreqs, posted;
	/* send side: frames whose send completed (in order), the first
	 * error, the plaintext (NULL: packed into the slots) */
	uint32_t done;
	int err;
	const uint8_t *pt;
	/* receive side: chunks not yet in */
	uint32_t left;
	opal_convertor_t conv;
	uint8_t *direct;
	bool drain, failed;
};

struct train_list {
	pthread_mutex_t lock;
	struct encshim_train *head;
	_Atomic int nonempty;
};

static struct train_list tx_trains = { PTHREAD_MUTEX_INITIALIZER, NULL, 0 };
static struct train_list rx_trains = { PTHREAD_MUTEX_INITIALIZER, NULL, 0 };

static void train_add(struct train_list *l, struct encshim_train *t)
{
	pthread_mutex_lock(&l->lock);
	t->next = l->head;
	l->head = t;
	atomic_store(&l->nonempty, 1);
	pthread_mutex_unlock(&l->lock);
}

static struct encshim_train *train_new(ompi_communicator_t *comm, uint32_t nreqs)
{
	struct encshim_train *t = calloc(1, sizeof(*t));

	if (NULL == t)
		return NULL;
	t->reqs = calloc(nreqs, sizeof(*t->reqs));
	if (NULL == t->reqs) {
		free(t);
		return NULL;
	}
	t->nreqs = nreqs;
	t->comm = comm;
	OBJ_RETAIN(comm);
	OBJ_CONSTRUCT(&t->conv, opal_convertor_t);
	return t;
}

static void train_free(struct encshim_train *t)
{
	if (NULL != t->base) {
		/* staged plaintext must not go back to the pool */
		if (t->wipe)
			sodium_memzero(t->base, t->cap);
		encshim_pool_put(t->base, t->cap);
	}
	OBJ_DESTRUCT(&t->conv);
	OBJ_RELEASE(t->comm);
	free(t->reqs);
	free(t);
}

/* ---- parameters ---- */

static bool shape_of(uint64_t total, struct shape *s)
{
	size_t c = encshim_param.chunk_bytes;

	if (c < ENCSHIM_MPI_CHUNK_MIN)
		c = ENCSHIM_MPI_CHUNK_MIN;
	if (c > ENCSHIM_MPI_CHUNK_MAX)
		c = ENCSHIM_MPI_CHUNK_MAX;
	s->total = total;
	s->csize = (uint32_t)c;
	if ((total + c - 1) / c > UINT32_MAX - 1)
		return false;
	s->k = (uint32_t)((total + c - 1) / c);
	return true;
}

/* ---- send side ---- */

bool encshim_chunk_wants(int tag, mca_pml_base_send_mode_t mode,
			 size_t count, ompi_datatype_t *dtype, size_t *len)
{
	size_t unit = 0;

	if (tag >= 0 || 0 == encshim_param.chunk_threshold ||
	    (MCA_PML_BASE_SEND_STANDARD != mode &&
	     MCA_PML_BASE_SEND_SYNCHRONOUS != mode))
		return false;
	(void)ompi_datatype_type_size(dtype, &unit);
	if (0 != count && unit > SIZE_MAX / 2 / count)
		return false;
	*len = unit * count;
	return *len > encshim_param.chunk_threshold;
}

/* The plaintext: the user's bytes, or packed into the chunk slots. */
static int send_plaintext(encshim_request_t *r, struct encshim_train *t,
			  const uint8_t **pt)
{
	struct iovec *iov;
	uint32_t n = t->s.k;
	size_t max = t->s.total;
	int rc;

	rc = opal_convertor_copy_and_prepare_for_send(
		ompi_mpi_local_convertor, &r->dtype->super, r->count, r->buf, 0,
		&t->conv);
	if (OPAL_SUCCESS != rc)
		return OMPI_ERROR;
	if (!opal_convertor_need_buffers(&t->conv)) {
		void *p = NULL;

		opal_convertor_get_current_pointer(&t->conv, &p);
		*pt = p;
		return OMPI_SUCCESS;
	}
	if (NULL == (iov = calloc(n, sizeof(*iov))))
		return OMPI_ERR_OUT_OF_RESOURCE;
	for (uint32_t i = 0; i < n; i++) {
		iov[i].iov_base = slot_of(t->frames, &t->s, i) +
				  ENCSHIM_HEADER_BYTES;
		iov[i].iov_len = chunk_len(&t->s, i);
	}
	rc = opal_convertor_pack(&t->conv, iov, &n, &max) < 0 ||
			     max != t->s.total
		     ? OMPI_ERROR
		     : OMPI_SUCCESS;
	free(iov);
	*pt = NULL; /* in place, slot by slot */
	t->wipe = true;
	return rc;
}

/* Takes the place, seals and hands the head to the PML in stream order. */
static int send_head(encshim_request_t *r, struct encshim_comm *c,
		     struct encshim_train *t, uint8_t *head, uint64_t *n)
{
	uint8_t aad[ENCSHIM_MPI_HEAD_AAD_BYTES], *desc;
	struct encshim_tx_ticket tk;
	uint32_t me = encshim_my_vpid(), dst = encshim_vpid_of(r->comm, r->peer);
	int rc = encshim_tx_begin(c, r->peer, r->tag, &tk, head);

	if (OMPI_SUCCESS != rc)
		return rc;
	*n = tk.n;
	head[0] |= ENCSHIM_MPI_CHUNKED;
	desc = head + ENCSHIM_MPI_STREAM_BYTES;
	put_be64(desc, t->s.total);
	put_be32(desc + 8, t->s.csize);
	put_be32(desc + 12, 0);
	head_aad(aad, c, me, dst, r->tag, head, desc);
	rc = encshim_peer_seal(t->peer, aad, sizeof(aad), desc, 0,
			       desc + ENCSHIM_MPI_DESC_BYTES);
	if (ENCSHIM_OK != rc) {
		encshim_log("cannot seal a message to rank %u: %s",
			    (unsigned)dst, encshim_strerror(rc));
		rc = OMPI_ERROR;
	} else {
		rc = encshim_inner.pml_isend(head, ENCSHIM_MPI_HEAD_BYTES,
					     MPI_BYTE, r->peer, r->tag, r->mode,
					     r->comm, &t->reqs[0]);
	}
	encshim_tx_end(c, &tk, OMPI_SUCCESS == rc);
	return rc;
}

/* Seals the next chunks and hands each to the PML at once, until
 * pml_encshim_chunk_window frames of t are in flight: chunk i + 1 is
 * sealed while the PML moves chunk i, and the chunks of one message
 * reach the receiver one after the other, so it can open the first ones
 * while the later ones arrive (with all of them posted at once, ob1
 * moves them side by side and they all land at the end). A failure sets
 * t->err; the chunks not sent then never are. */
static void send_more(struct encshim_train *t)
{
	uint32_t window = encshim_param.chunk_window ? encshim_param.chunk_window
						     : UINT32_MAX;

	while (MPI_SUCCESS == t->err && t->posted < t->nreqs &&
	       t->posted - t->done < window) {
		uint32_t i = t->posted - 1;
		uint8_t *slot = slot_of(t->frames, &t->s, i);
		size_t len = chunk_len(&t->s, i);
		const uint8_t *src = NULL != t->pt
					     ? t->pt + (size_t)i * t->s.csize
					     : slot + ENCSHIM_HEADER_BYTES;
		int rc;

		chunk_aad_index(t->aad, &t->s, i);
		rc = encshim_peer_seal(t->peer, t->aad, sizeof(t->aad), src,
				       len, slot);
		if (ENCSHIM_OK != rc) {
			encshim_log("cannot seal a message to rank %u: %s",
				    (unsigned)encshim_vpid_of(t->comm, t->rank),
				    encshim_strerror(rc));
			t->err = MPI_ERR_OTHER;
			return;
		}
		rc = encshim_inner.pml_isend(slot, chunk_frame_len(len),
					     MPI_BYTE, t->rank, t->lane,
					     MCA_PML_BASE_SEND_STANDARD,
					     t->comm, &t->reqs[1 + i]);
		if (OMPI_SUCCESS != rc) {
			t->err = MPI_ERR_OTHER;
			return;
		}
		t->posted++;
	}
}

int encshim_chunk_send(encshim_request_t *r, size_t len)
{
	struct encshim_comm *c = encshim_comm_of(r->comm);
	struct encshim_train *t;
	const uint8_t *pt = NULL;
	uint64_t n = 0;
	struct shape s;
	int rc;

	if (NULL == c)
		return OMPI_ERR_BAD_PARAM;
	if (!shape_of(len, &s) ||
	    NULL == (t = train_new(r->comm, s.k + 1)))
		return OMPI_ERR_OUT_OF_RESOURCE;
	t->s = s;
	t->rank = r->peer;
	t->peer = encshim_peer_get(r->comm, r->peer, true);
	t->cap = ENCSHIM_MPI_HEAD_BYTES +
		 (size_t)s.k * chunk_frame_len(s.csize);
	if (NULL == t->peer) {
		train_free(t);
		return OMPI_ERR_UNREACH;
	}
	if (NULL == (t->base = encshim_pool_get(t->cap, &t->cap))) {
		train_free(t);
		return OMPI_ERR_OUT_OF_RESOURCE;
	}
	t->frames = t->base + ENCSHIM_MPI_HEAD_BYTES;
	rc = send_plaintext(r, t, &pt);
	if (OMPI_SUCCESS == rc)
		rc = send_head(r, c, t, t->base, &n);
	if (OMPI_SUCCESS != rc) {
		train_free(t);
		return rc;
	}
	/* the head is out: from here a failure completes the request */
	t->posted = 1;
	t->pt = pt;
	t->lane = lane_tag(n);
	chunk_aad(t->aad, c, encshim_my_vpid(),
		  encshim_vpid_of(r->comm, r->peer), r->tag, n, &t->s);
	send_more(t);
	atomic_fetch_add(&encshim_stats.sealed_msgs, 1);
	atomic_fetch_add(&encshim_stats.sealed_bytes, len);
	atomic_fetch_add(&encshim_stats.chunked_sent, 1);
	r->inner = NULL;
	t->r = r;
	train_add(&tx_trains, t);
	return OMPI_SUCCESS;
}

/* ---- receive side ---- */

size_t encshim_chunk_recv_len(size_t cap, int tag)
{
	size_t len = cap + ENCSHIM_MPI_OVERHEAD;

	/* room for a head, so that a PML never truncates one */
	if (tag < 0 && MPI_ANY_TAG != tag && len < ENCSHIM_MPI_HEAD_BYTES)
		len = ENCSHIM_MPI_HEAD_BYTES;
	return len;
}

bool encshim_chunk_is_head(const uint8_t *frame, size_t framelen)
{
	return framelen >= ENCSHIM_MPI_STREAM_BYTES &&
	       0 != (frame[0] & ENCSHIM_MPI_CHUNKED);
}

/* Authenticates the head; on success fills *s. */
static int open_head(encshim_request_t *r, struct encshim_peer *peer,
		     size_t framelen, struct shape *s, const char **why)
{
	const ompi_status_public_t *in = &r->inner->req_status;
	uint8_t aad[ENCSHIM_MPI_HEAD_AAD_BYTES], none;
	const uint8_t *desc = r->frame + ENCSHIM_MPI_STREAM_BYTES;
	int rc;

	*why = "malformed chunked frame (not a head of a collective's message)";
	if (framelen != ENCSHIM_MPI_HEAD_BYTES || in->MPI_TAG >= 0)
		return ENCSHIM_E_MALFORMED;
	head_aad(aad, r->ecomm, encshim_vpid_of(r->comm, in->MPI_SOURCE),
		 encshim_my_vpid(), in->MPI_TAG, r->frame, desc);
	rc = encshim_peer_open(peer, aad, sizeof(aad),
			       desc + ENCSHIM_MPI_DESC_BYTES, ENCSHIM_OVERHEAD,
			       &none);
	if (ENCSHIM_OK != rc) {
		*why = encshim_strerror(rc);
		return rc;
	}
	s->total = get_be64(desc);
	s->csize = get_be32(desc + 8);
	if (0 != get_be32(desc + 12) || s->csize < ENCSHIM_MPI_CHUNK_MIN ||
	    s->csize > ENCSHIM_MPI_CHUNK_MAX || 0 == s->total ||
	    (s->total + s->csize - 1) / s->csize > UINT32_MAX - 1)
		return ENCSHIM_E_MALFORMED;
	s->k = (uint32_t)((s->total + s->csize - 1) / s->csize);
	return ENCSHIM_OK;
}

/* A train that receives the chunks of the head of r into r's buffer, or
 * only drains them (rx NULL: added at once). */
static int rx_train_start(encshim_request_t *r, struct encshim_peer *peer,
			  const struct shape *s, struct encshim_train **rx)
{
	bool drain = NULL == rx;
	const ompi_status_public_t *in = &r->inner->req_status;
	struct encshim_train *t = train_new(r->comm, s->k);
	uint64_t n = get_be64(r->frame) &
		     ~((uint64_t)ENCSHIM_MPI_CHUNKED << 56);

	if (NULL == t)
		return OMPI_ERR_OUT_OF_RESOURCE;
	t->s = *s;
	t->peer = peer;
	t->rank = in->MPI_SOURCE;
	t->lane = lane_tag(n);
	t->left = s->k;
	chunk_aad(t->aad, r->ecomm, encshim_vpid_of(r->comm, in->MPI_SOURCE),
		  encshim_my_vpid(), in->MPI_TAG, n, s);
	t->cap = (size_t)s->k * chunk_frame_len(s->csize);
	if (NULL == (t->base = encshim_pool_get(t->cap, &t->cap))) {
		train_free(t);
		return OMPI_ERR_OUT_OF_RESOURCE;
	}
	t->frames = t->base;
	t->drain = drain;
	if (!drain) {
		if (OPAL_SUCCESS != opal_convertor_copy_and_prepare_for_recv(
					    ompi_mpi_local_convertor,
					    &r->dtype->super, r->count, r->buf,
					    0, &t->conv)) {
			train_free(t);
			return OMPI_ERROR;
		}
		if (!opal_convertor_need_buffers(&t->conv)) {
			void *p = NULL;

			opal_convertor_get_current_pointer(&t->conv, &p);
			t->direct = p;
		}
		t->wipe = NULL == t->direct;
		t->r = r;
		*rx = t;
		return OMPI_SUCCESS;
	}
	train_add(&rx_trains, t);
	return OMPI_SUCCESS;
}

int encshim_chunk_head(encshim_request_t *r, size_t framelen, size_t cap,
		       struct encshim_train **rx)
{
	const ompi_status_public_t *in = &r->inner->req_status;
	uint32_t src = encshim_vpid_of(r->comm, in->MPI_SOURCE);
	uint8_t stream[ENCSHIM_MPI_STREAM_BYTES];
	struct encshim_peer *peer;
	const char *why = NULL;
	bool held = false;
	struct shape s;
	int rc;

	peer = encshim_peer_get(r->comm, in->MPI_SOURCE, false);
	if (NULL == peer)
		return encshim_recv_refuse(r, src,
					   encshim_strerror(ENCSHIM_E_PEERKEY));
	if (ENCSHIM_OK != open_head(r, peer, framelen, &s, &why))
		return encshim_recv_refuse(r, src, why);
	if (s.total > cap) {
		/* MPI_ERR_TRUNCATE, as the PML reports it for one frame; the
		 * chunks are still taken off their lane */
		encshim_audit_truncated(r->ecomm, r->posted, in->MPI_SOURCE,
					in->MPI_TAG);
		if (OMPI_SUCCESS != rx_train_start(r, peer, &s, NULL))
			encshim_log("cannot drain the chunks of a truncated "
				    "message from rank %u", (unsigned)src);
		return r->super.req_status.MPI_ERROR = MPI_ERR_TRUNCATE;
	}
	memcpy(stream, r->frame, sizeof(stream));
	stream[0] &= (uint8_t)~ENCSHIM_MPI_CHUNKED;
	if (OMPI_SUCCESS != encshim_audit(r->ecomm, r->posted, in->MPI_SOURCE,
					  in->MPI_TAG, stream, r, &held, &why))
		return encshim_recv_refuse(r, src, why);
	if (!held) /* else FINISHING until the last chunk (step 7) */
		atomic_store(&r->hold, ENCSHIM_HOLD_NONE);
	rc = rx_train_start(r, peer, &s, rx);
	if (OMPI_SUCCESS != rc)
		return encshim_recv_refuse(r, src, "out of memory for chunks");
	return MPI_SUCCESS;
}

void encshim_chunk_start(struct encshim_train *rx)
{
	train_add(&rx_trains, rx);
}

/* ---- progress ---- */

/* Fails t's receive: nothing of the message is delivered. */
static void rx_fail(struct encshim_train *t, const char *why)
{
	encshim_request_t *r = t->r;

	t->failed = true;
	if (NULL == r)
		return;
	if (NULL != t->direct)
		sodium_memzero(t->direct, t->s.total);
	(void)encshim_recv_refuse(r, encshim_vpid_of(r->comm, t->rank), why);
	t->r = NULL;
	r->super.req_status.MPI_ERROR = MPI_ERR_OTHER;
	encshim_request_end(r); /* a held head: its release completes r */
}

static void rx_chunk(struct encshim_train *t, uint32_t i)
{
	const ompi_status_public_t *st = &t->reqs[i]->req_status;
	size_t len = chunk_len(&t->s, i);
	uint8_t *slot = slot_of(t->frames, &t->s, i);
	int rc;

	if (t->failed || t->drain)
		return;
	if (MPI_SUCCESS != st->MPI_ERROR ||
	    st->_ucount != chunk_frame_len(len)) {
		rx_fail(t, "a chunk of this message has the wrong length: "
			   "chunks were dropped, reordered or spliced");
		return;
	}
	chunk_aad_index(t->aad, &t->s, i);
	rc = encshim_peer_open(t->peer, t->aad, sizeof(t->aad), slot,
			       chunk_frame_len(len),
			       NULL != t->direct
				       ? t->direct + (size_t)i * t->s.csize
				       : slot + ENCSHIM_HEADER_BYTES);
	if (ENCSHIM_OK != rc)
		rx_fail(t, "a chunk of this message failed to authenticate: "
			   "chunks were dropped, reordered, spliced or "
			   "tampered with");
}

/* All chunks authentic: unpacks staged plaintext and completes. */
static void rx_deliver(struct encshim_train *t)
{
	encshim_request_t *r = t->r;
	struct iovec *iov = NULL;
	uint32_t n = t->s.k;
	size_t max = t->s.total;

	if (NULL == r || t->failed)
		return;
	if (NULL == t->direct) {
		iov = calloc(n, sizeof(*iov));
		for (uint32_t i = 0; NULL != iov && i < n; i++) {
			iov[i].iov_base = slot_of(t->frames, &t->s, i) +
					  ENCSHIM_HEADER_BYTES;
			iov[i].iov_len = chunk_len(&t->s, i);
		}
		if (NULL == iov ||
		    opal_convertor_unpack(&t->conv, iov, &n, &max) < 0 ||
		    max != t->s.total) {
			free(iov);
			rx_fail(t, "cannot unpack into the receive's datatype");
			return;
		}
		free(iov);
	}
	r->super.req_status._ucount = t->s.total;
	atomic_fetch_add(&encshim_stats.opened_msgs, 1);
	atomic_fetch_add(&encshim_stats.opened_bytes, t->s.total);
	atomic_fetch_add(&encshim_stats.chunked_received, 1);
	t->r = NULL;
	r->super.req_status.MPI_ERROR = MPI_SUCCESS;
	encshim_request_end(r); /* a held head: its release completes r */
}

/* Posts t's chunk receives in index order (the lane's order); opens the
 * chunks that arrived. True when t is done. */
static bool rx_poll(struct encshim_train *t)
{
	while (t->posted < t->s.k && !t->failed) {
		uint32_t i = t->posted;
		int rc = encshim_inner.pml_irecv(
			slot_of(t->frames, &t->s, i),
			chunk_frame_len(chunk_len(&t->s, i)), MPI_BYTE, t->rank,
			t->lane, t->comm, &t->reqs[i]);

		if (OMPI_SUCCESS != rc) {
			rx_fail(t, "cannot post the receive of a chunk");
			break;
		}
		t->posted++;
	}
	for (uint32_t i = 0; i < t->posted; i++) {
		if (NULL == t->reqs[i] || !REQUEST_COMPLETE(t->reqs[i]))
			continue;
		rx_chunk(t, i);
		(void)ompi_request_free(&t->reqs[i]);
		t->reqs[i] = NULL;
		t->left--;
	}
	/* done when every receive posted has completed: all of them, or
	 * those posted before a failure */
	if (t->left != t->s.k - t->posted)
		return false;
	rx_deliver(t);
	return true;
}

static bool tx_poll(struct encshim_train *t)
{
	for (uint32_t i = t->done; i < t->posted; i++) {
		if (!REQUEST_COMPLETE(t->reqs[i]))
			break;
		if (MPI_SUCCESS == t->err)
			t->err = t->reqs[i]->req_status.MPI_ERROR;
		(void)ompi_request_free(&t->reqs[i]);
		t->done++;
	}
	send_more(t);
	if (t->done < t->posted ||
	    (t->posted < t->nreqs && MPI_SUCCESS == t->err))
		return false;
	encshim_request_complete_now(t->r, t->err);
	return true;
}

/* Takes the whole list, so that no lock is held while the PML is called
 * or a request completes (its callbacks may send: train_add), and another
 * thread's progress finds it empty; puts back the trains not done. */
static void poll_list(struct train_list *l, bool (*poll)(struct encshim_train *))
{
	struct encshim_train *mine, *keep = NULL, *t;

	if (!atomic_load(&l->nonempty) || 0 != pthread_mutex_trylock(&l->lock))
		return;
	mine = l->head;
	l->head = NULL;
	pthread_mutex_unlock(&l->lock);
	while (NULL != (t = mine)) {
		mine = t->next;
		if (poll(t)) {
			train_free(t);
		} else {
			t->next = keep;
			keep = t;
		}
	}
	pthread_mutex_lock(&l->lock);
	while (NULL != (t = keep)) {
		keep = t->next;
		t->next = l->head;
		l->head = t;
	}
	atomic_store(&l->nonempty, NULL != l->head);
	pthread_mutex_unlock(&l->lock);
}

void encshim_chunk_progress(void)
{
	poll_list(&tx_trains, tx_poll);
	poll_list(&rx_trains, rx_poll);
}

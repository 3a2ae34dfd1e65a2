/* SPDX-License-Identifier: MIT */
/*
 * Message order (docs/PROTOCOL.md section 11, "Order"). Per (peer,
 * communicator, tag class) the sender numbers its messages n = 0, 1, ...
 * (class 0: tags >= 0, which MPI_ANY_TAG matches; class 1: the negative
 * tags of collectives, which it never matches, so MPI orders nothing
 * between the two). The number is assigned under a per-(peer,
 * communicator) lock held until the wrapped PML has taken the frame, so
 * the PML sends in n order. Every receive gets a posting number p under
 * a lock held while the wrapped PML posts it, so p order is the PML's
 * posting order. The receiver audits every completed receive against
 * MPI's matching rules on (n, p): a frame the rules could not have given
 * to that receive was dropped, duplicated or reordered in transit.
 */
#include "pml_encshim_comm.h"

#include <stdlib.h>
#include <string.h>

#include "ompi/constants.h"

/* ---- envelope ---- */

void encshim_envelope(uint8_t env[ENCSHIM_MPI_ENV_BYTES],
		      const struct encshim_comm *c, uint32_t src_vpid,
		      uint32_t dst_vpid, int tag,
		      const uint8_t stream[ENCSHIM_MPI_STREAM_BYTES])
{
	aad_prefix(env, ENCSHIM_MPI_ENV_LABEL, c, src_vpid, dst_vpid, tag);
	memcpy(env + ENCSHIM_MPI_AAD_PREFIX_BYTES, stream,
	       ENCSHIM_MPI_STREAM_BYTES);
}

static unsigned tag_class(int tag)
{
	return tag < 0;
}

/* ---- send side ---- */

/* n - (place of the previous frame of the tag), 0: the first frame of
 * its tag, or the previous one 2^32 or more places back (its receive
 * then skips the same-tag part of step 4). */
static uint32_t delta_of(uint64_t n, uint64_t last1)
{
	return 0 == last1 || n - (last1 - 1) > UINT32_MAX
		       ? 0
		       : (uint32_t)(n - (last1 - 1));
}

/* Fibonacci hashing: tags are often consecutive or multiples of a
 * power of two; the product spreads both over the low bits. */
static uint32_t tag_hash(int32_t tag)
{
	uint32_t h = (uint32_t)tag * 0x9e3779b1u;

	return h ^ h >> 16;
}

/* tag's slot in tx's map: its own, or the empty one it would take. */
static struct tag_place *tag_slot(struct tx_stream *tx, int32_t tag)
{
	uint32_t mask = tx->cap - 1, i = tag_hash(tag) & mask;

	while (0 != tx->tags[i].last1 && tx->tags[i].tag != tag)
		i = (i + 1) & mask;
	return &tx->tags[i];
}

/* Empties e, moving later entries of its probe chain back (deletion
 * without tombstones: every entry stays reachable from its home slot). */
static void tag_remove(struct tx_stream *tx, struct tag_place *e)
{
	uint32_t mask = tx->cap - 1, i = (uint32_t)(e - tx->tags), j = i, k;

	for (;;) {
		j = (j + 1) & mask;
		if (0 == tx->tags[j].last1)
			break;
		k = tag_hash(tx->tags[j].tag) & mask;
		/* stays if its home k lies cyclically in (i, j] */
		if (i <= j ? i < k && k <= j : i < k || k <= j)
			continue;
		tx->tags[i] = tx->tags[j];
		i = j;
	}
	tx->tags[i].last1 = 0;
	tx->ntags--;
}

/* Room for one more tag at a load of at most 3/4; false out of memory. */
static bool tags_reserve(struct tx_stream *tx)
{
	struct tag_place *old = tx->tags;
	uint32_t oldcap = tx->cap, cap = oldcap ? 2 * oldcap : 8;

	if (4 * ((uint64_t)tx->ntags + 1) <= 3 * (uint64_t)oldcap)
		return true;
	if (oldcap > UINT32_MAX / 4 ||
	    NULL == (tx->tags = calloc(cap, sizeof(*tx->tags)))) {
		tx->tags = old;
		return false;
	}
	tx->cap = cap;
	for (uint32_t i = 0; i < oldcap; i++)
		if (0 != old[i].last1)
			*tag_slot(tx, old[i].tag) = old[i];
	free(old);
	return true;
}

int encshim_tx_begin(struct encshim_comm *c, int dst, int tag,
		     struct encshim_tx_ticket *t,
		     uint8_t stream[ENCSHIM_MPI_STREAM_BYTES])
{
	struct peer_state *ps = encshim_peer_state(c, dst);
	struct tx_stream *tx;
	struct tag_place *tp;

	if (NULL == ps)
		return OMPI_ERR_OUT_OF_RESOURCE;
	lock(&ps->tx_lock);
	tx = &ps->tx[tag_class(tag)];
	if (!tags_reserve(tx)) {
		unlock(&ps->tx_lock);
		return OMPI_ERR_OUT_OF_RESOURCE;
	}
	tp = tag_slot(tx, tag);
	t->dst = dst;
	t->tag = tag;
	t->n = tx->next;
	t->old_last1 = tp->last1;
	t->old_last_tag = tx->last_tag;
	put_be64(stream, tx->next);
	put_be32(stream + 8, delta_of(tx->next, tp->last1));
	put_be32(stream + 12, (uint32_t)tx->last_tag);
	if (0 == tp->last1)
		tx->ntags++;
	tp->tag = tag;
	tp->last1 = ++tx->next;
	tx->last_tag = tag;
	return OMPI_SUCCESS;
}

void encshim_tx_end(struct encshim_comm *c, const struct encshim_tx_ticket *t,
		    bool sent)
{
	/* tx_begin made it; it lives as long as c */
	struct peer_state *ps = atomic_load(&c->peers[t->dst]);
	struct tx_stream *tx = &ps->tx[tag_class(t->tag)];

	/* Nothing left: give the place back, unless a send nested in the
	 * PML's call (progress) took the next one already. */
	if (!sent && tx->next == t->n + 1) {
		struct tag_place *tp = tag_slot(tx, t->tag);

		tx->next = t->n;
		if (0 == t->old_last1)
			tag_remove(tx, tp);
		else
			tp->last1 = t->old_last1;
		tx->last_tag = t->old_last_tag;
	}
	unlock(&ps->tx_lock);
}

/* ---- receive side: posting ---- */

static bool fits_tag(int ptag, int tag)
{
	return MPI_ANY_TAG == ptag ? tag >= 0 : ptag == tag;
}

static struct encshim_post **list_head(struct encshim_comm *c,
				       struct peer_state *ps,
				       struct encshim_post ***tail)
{
	*tail = NULL == ps ? &c->any_tail : &ps->tail;
	return NULL == ps ? &c->any_head : &ps->head;
}

int encshim_post_begin(struct encshim_comm *c, struct encshim_post *r,
		       int src, int tag)
{
	struct peer_state *ps = NULL;
	struct encshim_post **head, **tail;

	if (MPI_ANY_SOURCE != src && NULL == (ps = encshim_peer_state(c, src)))
		return OMPI_ERR_OUT_OF_RESOURCE;
	r->src = src;
	r->tag = tag;
	r->phantom = false;
	r->bounds = NULL; /* freed when the last activation ended */
	r->nbounds = r->cap = 0;
	r->lost = false;
	r->next = NULL;
	lock(&c->post_lock);
	lock(&c->audit_lock);
	r->p = c->next_post++;
	c->nrecv++;
	head = list_head(c, ps, &tail);
	r->prev = *tail;
	if (NULL != *tail)
		(*tail)->next = r;
	else
		*head = r;
	*tail = r;
	r->listed = true;
	unlock(&c->audit_lock);
	return OMPI_SUCCESS;
}

void encshim_post_end(struct encshim_comm *c)
{
	unlock(&c->post_lock);
}

void encshim_probe_begin(struct encshim_comm *c, struct encshim_post *r,
			 int src, int tag)
{
	memset(r, 0, sizeof(*r));
	r->src = src;
	r->tag = tag;
	lock(&c->post_lock);
	lock(&c->audit_lock);
	r->p = c->next_post++;
	unlock(&c->audit_lock);
}

/* Probes of one envelope with the same kind of pattern (which fields
 * are wildcards) name the same message until a receive takes it. */
static bool same_kind(const struct encshim_post *a, const struct encshim_post *b)
{
	return (MPI_ANY_SOURCE == a->src) == (MPI_ANY_SOURCE == b->src) &&
	       (MPI_ANY_TAG == a->tag) == (MPI_ANY_TAG == b->tag);
}

/* Called before encshim_post_end, so every receive posted after the
 * probe finds the report. A probe of the same envelope and kind of
 * pattern as an earlier one with no receive posted between them (an
 * MPI_Iprobe loop) names the same message: it keeps the oldest report,
 * so a wider probe is still checked under its own pattern (probestale),
 * and a probe after a receive of the envelope gets its own
 * (probemerge); no other limit: a report ends when its message's
 * receive is known, and until then the message is one the PML holds.
 * Out of memory the report is not kept and the receive is audited on
 * its own. */
void encshim_probe_keep(struct encshim_comm *c, const struct encshim_post *r,
			int src, int tag)
{
	struct encshim_probed *pr;

	lock(&c->audit_lock);
	for (pr = c->probed; NULL != pr; pr = pr->next)
		if (pr->src == src && pr->tag == tag && !pr->cand &&
		    pr->nrecv == c->nrecv && same_kind(&pr->probe, r))
			break;
	if (NULL == pr && NULL != (pr = calloc(1, sizeof(*pr)))) {
		pr->probe = *r;
		pr->src = src;
		pr->tag = tag;
		pr->nrecv = c->nrecv;
		pr->low = UINT64_MAX;
		pr->next = c->probed;
		c->probed = pr;
	}
	unlock(&c->audit_lock);
}

/* Audit lock held. */
static void unlist(struct encshim_comm *c, struct encshim_post *r)
{
	struct peer_state *ps = MPI_ANY_SOURCE == r->src
					? NULL
					: atomic_load(&c->peers[r->src]);
	struct encshim_post **head, **tail;

	if (!r->listed)
		return;
	head = list_head(c, ps, &tail);
	if (NULL != r->prev)
		r->prev->next = r->next;
	else
		*head = r->next;
	if (NULL != r->next)
		r->next->prev = r->prev;
	else
		*tail = r->prev;
	r->listed = false;
}

static const char *probed_settle(struct encshim_comm *c);

/* Pending receives decide when a probe report settles (step 6). */
void encshim_post_withdraw(struct encshim_comm *c, struct encshim_post *r)
{
	lock(&c->audit_lock);
	unlist(c, r);
	(void)probed_settle(c);
	unlock(&c->audit_lock);
	free(r->bounds);
	r->bounds = NULL;
	r->nbounds = r->cap = 0;
}

/* ---- receive side: the audit ---- */

static const struct run *run_above(const struct rx_stream *rx, uint64_t n)
{
	uint32_t i;

	for (i = 0; i < rx->nruns; i++)
		if (rx->runs[i].hi >= n)
			return &rx->runs[i];
	return NULL;
}

static bool consumed(const struct rx_stream *rx, uint64_t n)
{
	const struct run *r = run_above(rx, n);

	return n < rx->next || (NULL != r && r->lo <= n);
}

/* Receives of this stream posted before p that could take (src, tag);
 * ANY_TAG as tag: any tag of class 0. Calls f on each; stops at true. */
typedef bool (*post_fn)(struct encshim_post *r0, int src, uint64_t n);

static bool earlier_fitting(struct encshim_comm *c, struct peer_state *ps,
			    int src, int tag, uint64_t p, post_fn f, uint64_t n)
{
	struct encshim_post *lists[2] = { ps->head, c->any_head }, *r0;

	for (int i = 0; i < 2; i++) {
		for (r0 = lists[i]; NULL != r0 && r0->p < p; r0 = r0->next) {
			bool fit = MPI_ANY_TAG == tag
					   ? MPI_ANY_TAG == r0->tag ||
						     r0->tag >= 0
					   : fits_tag(r0->tag, tag);

			if (fit && f(r0, src, n))
				return true;
		}
	}
	return false;
}

static bool exists(struct encshim_post *r0, int src, uint64_t n)
{
	(void)r0;
	(void)src;
	(void)n;
	return true;
}

static uint64_t *bound_of(struct encshim_post *r, int src)
{
	for (uint32_t i = 0; i < r->nbounds; i++)
		if (r->bounds[i].src == src)
			return &r->bounds[i].n;
	return NULL;
}

/* r0 was passed over by a later receive that took place n: it must take
 * an earlier place of src, or a message of another source. Out of memory
 * the obligation cannot be kept: r0 is then refused (fail closed). */
static bool oblige(struct encshim_post *r0, int src, uint64_t n)
{
	uint64_t *b = bound_of(r0, src);

	if (NULL != b) {
		if (n < *b)
			*b = n;
		return false;
	}
	if (r0->nbounds == r0->cap) {
		uint32_t cap = r0->cap ? 2 * r0->cap : 2;
		void *nb = realloc(r0->bounds, cap * sizeof(*r0->bounds));

		if (NULL == nb) {
			r0->lost = true;
			return false;
		}
		r0->bounds = nb;
		r0->cap = cap;
	}
	r0->bounds[r0->nbounds].src = src;
	r0->bounds[r0->nbounds++].n = n;
	return false;
}

/* Adds (ptag, p) to run r; false if r has no slot left for ptag. */
static bool run_note(struct run *r, int ptag, uint64_t p)
{
	for (uint32_t i = 0; i < r->npat; i++) {
		if (r->pat[i].tag == ptag) {
			if (p < r->pat[i].p_min)
				r->pat[i].p_min = p;
			return true;
		}
	}
	if (r->npat == RUN_PATTERNS)
		return false;
	r->pat[r->npat].tag = ptag;
	r->pat[r->npat++].p_min = p;
	return true;
}

/* Folds run i + 1 into run i when they touch and the patterns fit. */
static void run_join(struct rx_stream *rx, uint32_t i)
{
	struct run *a = &rx->runs[i], *b = &rx->runs[i + 1], m;

	if (i + 1 >= rx->nruns || a->hi + 1 != b->lo)
		return;
	m = *a;
	for (uint32_t k = 0; k < b->npat; k++)
		if (!run_note(&m, b->pat[k].tag, b->pat[k].p_min))
			return;
	m.hi = b->hi;
	*a = m;
	memmove(b, b + 1, (rx->nruns - i - 2) * sizeof(*b));
	rx->nruns--;
}

/* Marks n consumed; false when the run table is full. */
static bool consume(struct rx_stream *rx, uint64_t n, uint64_t p, int ptag)
{
	uint32_t i = 0;
	struct run *r;

	if (n == rx->next) {
		rx->next++;
		while (rx->nruns > 0 && rx->runs[0].lo == rx->next) {
			rx->next = rx->runs[0].hi + 1;
			memmove(rx->runs, rx->runs + 1,
				--rx->nruns * sizeof(*rx->runs));
		}
		return true;
	}
	while (i < rx->nruns && rx->runs[i].hi < n)
		i++;
	/* joins the run ending just below, or starting just above */
	if (i > 0 && (r = &rx->runs[i - 1])->hi + 1 == n && run_note(r, ptag, p)) {
		r->hi = n;
		run_join(rx, i - 1);
		return true;
	}
	if (i < rx->nruns && (r = &rx->runs[i])->lo == n + 1 &&
	    run_note(r, ptag, p)) {
		r->lo = n;
		return true;
	}
	if (rx->nruns == rx->cap) {
		uint32_t cap = rx->cap ? 2 * rx->cap : 4;
		void *nr;

		if (cap > ENCSHIM_MPI_AHEAD_MAX)
			return false;
		if (NULL == (nr = realloc(rx->runs, cap * sizeof(*rx->runs))))
			return false;
		rx->runs = nr;
		rx->cap = cap;
	}
	memmove(rx->runs + i + 1, rx->runs + i,
		(rx->nruns - i) * sizeof(*rx->runs));
	r = &rx->runs[i];
	r->lo = r->hi = n;
	r->npat = 0;
	(void)run_note(r, ptag, p);
	rx->nruns++;
	return true;
}

/* A receive posted before p, of a pattern fitting tag, took a place of
 * a run above n. */
static bool crossed(struct rx_stream *rx, uint64_t n, uint64_t p, int tag)
{
	for (uint32_t i = 0; i < rx->nruns; i++) {
		const struct run *r = &rx->runs[i];

		for (uint32_t k = 0; r->lo > n && k < r->npat; k++)
			if (r->pat[k].p_min < p && fits_tag(r->pat[k].tag, tag))
				return true;
	}
	return false;
}

/* Places of rx in [next, n) that are not taken (n itself may be). */
static uint64_t untaken_below(const struct rx_stream *rx, uint64_t n)
{
	uint64_t k;

	if (n <= rx->next)
		return 0;
	k = n - rx->next;
	for (uint32_t i = 0; i < rx->nruns && rx->runs[i].lo < n; i++)
		k -= (rx->runs[i].hi < n ? rx->runs[i].hi : n - 1) -
		     rx->runs[i].lo + 1;
	return k;
}

/* At least k receives posted before p are pending that may take a
 * class-0 message of this stream's source, and one of them a message of
 * tag u (MPI_ANY_TAG: any such receive). */
static bool enough_earlier(struct encshim_comm *c, struct peer_state *ps,
			   uint64_t p, uint64_t k, int u)
{
	struct encshim_post *lists[2] = { ps->head, c->any_head }, *r0;
	bool fit_u = false;

	for (int i = 0; i < 2; i++) {
		for (r0 = lists[i]; NULL != r0 && r0->p < p; r0 = r0->next) {
			if (MPI_ANY_TAG != r0->tag && r0->tag < 0)
				continue;
			k -= 0 != k;
			fit_u = fit_u || MPI_ANY_TAG == u || fits_tag(r0->tag, u);
			if (0 == k && fit_u)
				return true;
		}
	}
	return false;
}

#define DROPPED                                                          \
	"dropped or reordered: an earlier message from this peer that "   \
	"this receive had to take first is missing"
#define PROBE_WRONG                                                      \
	"dropped or reordered: the probe that reported this message had " \
	"to report an earlier one from this peer"

/* Steps 3 and 4 for r, a receive or a probe (its pattern and number),
 * and the frame f of (src, tag); f's place may be taken already (a
 * probe's check runs after its message's receive). */
static const char *order_check(struct encshim_comm *c, struct peer_state *ps,
			       const struct encshim_post *r, int src, int tag,
			       const struct place *f)
{
	uint64_t n = f->n;
	struct rx_stream *rx = &ps->rx[tag_class(tag)];

	if (crossed(rx, n, r->p, tag))
		return "reordered: a receive posted earlier took a later message "
		       "from this peer (frames were reordered below MPI)";
	/* The previous message this receive could take must have gone to
	 * an earlier receive: delivered, or one still in progress. */
	if (0 != f->delta && f->delta <= n && !consumed(rx, n - f->delta) &&
	    !earlier_fitting(c, ps, src, tag, r->p, exists, 0))
		return DROPPED;
	/* An MPI_ANY_TAG receive could take every place below n (all of
	 * class 0, all from src), so in MPI each went to a receive posted
	 * before r: the PML matches a source's messages in order, and a
	 * place below n still unmatched when r was posted, or arriving
	 * while r waited, would have gone to r. Each receive takes one
	 * message, so the k places below n not yet taken went to k distinct
	 * receives posted before r whose audits have not run: k are still
	 * pending, and one of them took place n - 1 (tag u) if it is not
	 * taken. An honest run never fails this; a place skipped in transit
	 * leaves too few. */
	if (MPI_ANY_TAG == r->tag && 0 != untaken_below(rx, n) &&
	    !enough_earlier(c, ps, r->p, untaken_below(rx, n),
			    consumed(rx, n - 1) ? MPI_ANY_TAG : f->prev_tag))
		return DROPPED;
	return NULL;
}

static const char *check(struct encshim_comm *c, struct peer_state *ps,
			 struct encshim_post *r, int src, int tag,
			 const struct place *f)
{
	struct rx_stream *rx = &ps->rx[tag_class(tag)];
	uint64_t *b = bound_of(r, src);

	if (NULL != rx->poisoned)
		return rx->poisoned;
	if (r->lost)
		return "out of memory for the order audit";
	if (consumed(rx, f->n))
		return "replayed frame: this message was already delivered";
	if (NULL != b && f->n >= *b)
		return "reordered: a receive posted later took an earlier "
		       "message from this peer (frames were reordered below "
		       "MPI)";
	return order_check(c, ps, r, src, tag, f);
}

/* A receive posted after lo and before hi, fitting (src, tag), is
 * pending (src: ps's rank). */
static bool pending_between(struct encshim_comm *c, struct peer_state *ps,
			    int tag, uint64_t lo, uint64_t hi)
{
	struct encshim_post *lists[2] = { ps->head, c->any_head }, *r0;

	for (int i = 0; i < 2; i++)
		for (r0 = lists[i]; NULL != r0 && r0->p < hi; r0 = r0->next)
			if (r0->p > lo && fits_tag(r0->tag, tag))
				return true;
	return false;
}

/* Audit lock held; r, unlisted, took (src, tag) at f. Step 6: a probe
 * numbered q reported m = (src, tag), the first message of src fitting
 * its pattern that no receive posted before q took. Receives posted
 * after q that fit (src, tag) take its messages in posting order, so m
 * goes to the earliest-posted receive after q that completes with
 * (src, tag): r is that one's candidate if posted earlier than the
 * candidate so far. */
static void probed_note(struct encshim_comm *c, const struct encshim_post *r,
			int src, int tag, const struct place *f)
{
	for (struct encshim_probed *pr = c->probed; NULL != pr; pr = pr->next) {
		if (pr->src != src || pr->probe.p >= r->p)
			continue;
		/* m was the first message of src the probe fits that no
		 * receive posted before it took: no receive posted after
		 * it takes an earlier one it fits (probelate) */
		if (fits_tag(pr->probe.tag, tag) && f->n < pr->low)
			pr->low = f->n;
		if (pr->tag != tag || (pr->cand && pr->cand_p < r->p))
			continue;
		pr->cand = true;
		pr->cand_p = r->p;
		pr->cand_f = *f;
	}
}

/* Audit lock held. A report's candidate took m once no receive posted
 * between the probe and it that may take (src, tag) is pending: then
 * MPI's rules must allow the probe to take m too (steps 3 and 4 with the
 * probe's pattern and number; they hold at any later time, as receives
 * posted before q that fit the probe take places below m). A report is
 * settled at most once. A failure poisons the stream: whichever receive
 * took m has completed, so every later receive of it is refused. */
static const char *probed_settle(struct encshim_comm *c)
{
	struct encshim_probed **pp = &c->probed, *pr;
	const char *why = NULL;

	while (NULL != (pr = *pp)) {
		struct peer_state *ps = atomic_load(&c->peers[pr->src]);

		if (!pr->cand || pending_between(c, ps, pr->tag, pr->probe.p,
						 pr->cand_p)) {
			pp = &pr->next;
			continue;
		}
		*pp = pr->next;
		if (pr->low < pr->cand_f.n ||
		    NULL != order_check(c, ps, &pr->probe, pr->src, pr->tag,
					&pr->cand_f)) {
			why = PROBE_WRONG;
			ps->rx[tag_class(pr->tag)].poisoned = why;
			encshim_log("messages from rank %d (communicator %u) "
				    "refused from now on: %s", pr->src,
				    ompi_comm_get_cid(c->comm), why);
		}
		free(pr);
	}
	return why;
}

/* A receive of the stream was truncated holding a message of tag. */
static bool truncated(const struct rx_stream *rx, int tag)
{
	for (unsigned i = 0; i < sizeof(rx->trunc) / sizeof(rx->trunc[0]); i++)
		if (0 != rx->trunc[i].n && rx->trunc[i].tag == tag)
			return true;
	return false;
}

/* Counts a truncation of tag; beyond the first four tags it is not
 * kept, and receives of that tag then wait (never a wrong delivery). */
static void note_truncated(struct rx_stream *rx, int tag)
{
	unsigned i, k = sizeof(rx->trunc) / sizeof(rx->trunc[0]);

	rx->ntrunc++;
	for (i = 0; i < k && 0 != rx->trunc[i].n; i++)
		if (rx->trunc[i].tag == tag)
			break;
	if (i == k)
		return;
	rx->trunc[i].tag = tag;
	rx->trunc[i].n++;
}

/* Step 7. h took a place of its own pattern past one that is not taken
 * yet: its own tag's previous place (need), or for MPI_ANY_TAG any
 * place below. In an honest run that place went to an earlier receive
 * already matched (matched probes receive at once), which completes by
 * itself, or to a truncated receive, whose place is never known (each
 * such receive counts as one). Until it is taken, h may hold the wrong
 * message (a place dropped in transit), so it waits. */
static bool waits(const struct peer_state *ps, const struct encshim_held *h)
{
	const struct rx_stream *rx =
		&ps->rx[tag_class(MPI_ANY_TAG == h->ptag ? 0 : h->ptag)];

	if (MPI_ANY_TAG == h->ptag)
		return untaken_below(rx, h->n) > rx->ntrunc;
	return UINT64_MAX != h->need && !consumed(rx, h->need) &&
	       !truncated(rx, h->ptag);
}

/* Audit lock held, f->n just taken by r. r waits if step 7 says so, or
 * if a receive of a lower place of the stream waits: that one may hold
 * the message r should have. */
static const char *hold(struct encshim_comm *c, struct peer_state *ps,
			const struct encshim_post *r, int src, int tag,
			const struct place *f, void *owner, bool *held)
{
	struct rx_stream *rx = &ps->rx[tag_class(tag)];
	struct encshim_held h = {
		.n = f->n, .p = r->p, .src = src,
		.ptag = MPI_ANY_TAG == r->tag ? MPI_ANY_TAG : tag,
		.need = 0 != f->delta && f->delta <= f->n ? f->n - f->delta
							  : UINT64_MAX,
		.owner = owner,
	}, *e, **pp;

	if ((NULL == rx->held || rx->held->n > f->n) && !waits(ps, &h))
		return NULL;
	if (NULL == (e = malloc(sizeof(*e))))
		return "out of memory for the order audit";
	*e = h;
	for (pp = &rx->held; NULL != *pp && (*pp)->n < e->n; pp = &(*pp)->next)
		;
	e->next = *pp;
	*pp = e;
	*held = true;
	return NULL;
}

/* Audit lock held. Unlinks rx's held receives that may complete now, in
 * place order up to the first that must still wait, onto *ready; owner's
 * own record is dropped and *held cleared instead. */
static void release(struct encshim_comm *c, struct peer_state *ps,
		    unsigned cls, void *owner, bool *held,
		    struct encshim_held **ready)
{
	struct rx_stream *rx = &ps->rx[cls];
	struct encshim_held *e;

	while (NULL != (e = rx->held) && !waits(ps, e)) {
		rx->held = e->next;
		if (e->owner == owner) {
			*held = false;
			free(e);
			continue;
		}
		e->next = *ready;
		*ready = e;
	}
}

/* After the audit lock is dropped: a held receive completes. */
static void complete_ready(struct encshim_held *ready)
{
	struct encshim_held *e;

	while (NULL != (e = ready)) {
		ready = e->next;
		encshim_request_release(e->owner);
		free(e);
	}
}

int encshim_audit(struct encshim_comm *c, struct encshim_post *r, int src,
		  int tag, const uint8_t stream[ENCSHIM_MPI_STREAM_BYTES],
		  void *owner, bool *held, const char **why)
{
	struct peer_state *ps = encshim_peer_state(c, src);
	struct place f = { get_be64(stream), get_be32(stream + 8),
			   (int32_t)get_be32(stream + 12) };
	struct encshim_held *ready = NULL;
	int rc = OMPI_SUCCESS;

	*why = NULL;
	*held = false;
	lock(&c->audit_lock);
	unlist(c, r);
	if (NULL == ps)
		*why = "out of memory for the peer's stream state";
	else if (NULL == (*why = check(c, ps, r, src, tag, &f))) {
		probed_note(c, r, src, tag, &f);
		*why = probed_settle(c);
	}
	if (NULL == *why &&
	    !consume(&ps->rx[tag_class(tag)], f.n, r->p, r->tag))
		*why = "too many messages taken past an earlier one from this "
		       "peer that is still unreceived (limit 65536 runs)";
	if (NULL == *why) {
		(void)earlier_fitting(c, ps, src, tag, r->p, oblige, f.n);
		*why = hold(c, ps, r, src, tag, &f, owner, held);
		release(c, ps, tag_class(tag), owner, held, &ready);
	}
	if (NULL != *why) {
		rc = OMPI_ERROR;
		*held = false;
	}
	unlock(&c->audit_lock);
	complete_ready(ready);
	free(r->bounds);
	r->bounds = NULL;
	r->nbounds = r->cap = 0;
	return rc;
}
/* Audit lock held: r's list slot goes to a copy that is never audited,
 * of the tag the PML reported for the message it took (not r's
 * pattern: a wildcard phantom would stand in for any message later). */
static void leave_phantom(struct encshim_comm *c, struct encshim_post *r,
			  int tag)
{
	struct encshim_post *ph = malloc(sizeof(*ph));
	struct peer_state *ps = MPI_ANY_SOURCE == r->src
					? NULL
					: atomic_load(&c->peers[r->src]);
	struct encshim_post **head, **tail;

	if (NULL == ph) {
		unlist(c, r); /* later receives may be refused: fail closed */
		return;
	}
	*ph = *r;
	ph->tag = tag;
	ph->phantom = true;
	ph->bounds = NULL;
	ph->nbounds = ph->cap = 0;
	head = list_head(c, ps, &tail);
	if (NULL != ph->prev)
		ph->prev->next = ph;
	else
		*head = ph;
	if (NULL != ph->next)
		ph->next->prev = ph;
	else
		*tail = ph;
	r->listed = false;
}

void encshim_audit_truncated(struct encshim_comm *c, struct encshim_post *r,
			     int src, int tag)
{
	struct peer_state *ps = src >= 0 ? encshim_peer_state(c, src) : NULL;
	struct encshim_held *ready = NULL;
	bool none = false;

	lock(&c->audit_lock);
	leave_phantom(c, r, NULL != ps ? tag : r->tag);
	if (NULL != ps) {
		note_truncated(&ps->rx[tag_class(tag)], tag);
		release(c, ps, tag_class(tag), NULL, &none, &ready);
	}
	unlock(&c->audit_lock);
	complete_ready(ready);
	free(r->bounds);
	r->bounds = NULL;
	r->nbounds = r->cap = 0;
}

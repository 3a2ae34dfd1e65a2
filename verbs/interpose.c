/* SPDX-License-Identifier: MIT */
/*
 * The exported face of libencshim-verbs.so: the libibverbs entry points
 * that create, change and destroy objects, the memory registrations, and
 * the direct-verbs (mlx5dv) entry points that are refused. The data-path
 * calls (ibv_post_send, ibv_post_recv, ibv_poll_cq, ...) are static
 * inlines that call through context->ops: ibv_open_device patches that
 * table (cq.c, esv_patch_context).
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "esv.h"

#define EXPORT __attribute__((visibility("default")))

struct esv_real esv_real;
struct esv_config esv_cfg;
static int resolved;

static void *next_sym(const char *name, const char *ver)
{
	static void *lib;
	void *p = NULL;

	if (ver)
		p = dlvsym(RTLD_NEXT, name, ver);
	if (!p)
		p = dlsym(RTLD_NEXT, name);
	/* A libibverbs that came with a dlopen()ed module (UCX's libuct_ib,
	 * RTLD_LOCAL) is not in the global scope that RTLD_NEXT searches,
	 * though the module's calls reach the shim: look in it directly
	 * (dlvsym: the interposed dlsym would return the shim's wrappers). */
	if (!p && ver) {
		if (!lib)
			lib = dlopen("libibverbs.so.1", RTLD_LAZY | RTLD_NOLOAD);
		if (lib)
			p = dlvsym(lib, name, ver);
	}
	return p;
}

/* Unit tests install a fake provider instead (esv_test_install). */
EXPORT void esv_test_install(const struct esv_real *fake);
void esv_test_install(const struct esv_real *fake)
{
	esv_real = *fake;
	resolved = 1;
}

static void resolve(void)
{
	if (__atomic_load_n(&resolved, __ATOMIC_ACQUIRE))
		return;
	pthread_mutex_lock(&esv_lock);
	if (!resolved) {
#define R(f, n, v) esv_real.f = next_sym(n, v)
		R(open_device, "ibv_open_device", "IBVERBS_1.1");
		R(close_device, "ibv_close_device", "IBVERBS_1.1");
		R(import_device, "ibv_import_device", "IBVERBS_1.10");
		R(create_qp, "ibv_create_qp", "IBVERBS_1.1");
		R(modify_qp, "ibv_modify_qp", "IBVERBS_1.1");
		R(destroy_qp, "ibv_destroy_qp", "IBVERBS_1.1");
		R(create_srq, "ibv_create_srq", "IBVERBS_1.1");
		R(destroy_srq, "ibv_destroy_srq", "IBVERBS_1.1");
		R(create_cq, "ibv_create_cq", "IBVERBS_1.1");
		R(destroy_cq, "ibv_destroy_cq", "IBVERBS_1.1");
		R(reg_mr, "ibv_reg_mr", "IBVERBS_1.1");
		R(reg_mr_iova, "ibv_reg_mr_iova", "IBVERBS_1.7");
		R(reg_mr_iova2, "ibv_reg_mr_iova2", "IBVERBS_1.8");
		R(reg_dmabuf_mr, "ibv_reg_dmabuf_mr", "IBVERBS_1.12");
		R(rereg_mr, "ibv_rereg_mr", "IBVERBS_1.1");
		R(dereg_mr, "ibv_dereg_mr", "IBVERBS_1.1");
		R(query_gid, "ibv_query_gid", "IBVERBS_1.1");
		R(query_port, "ibv_query_port", "IBVERBS_1.1");
		R(query_qp, "ibv_query_qp", "IBVERBS_1.1");
		R(create_ah, "ibv_create_ah", "IBVERBS_1.1");
		R(create_ah_from_wc, "ibv_create_ah_from_wc", "IBVERBS_1.1");
		R(destroy_ah, "ibv_destroy_ah", "IBVERBS_1.1");
		R(get_cq_event, "ibv_get_cq_event", "IBVERBS_1.1");
		R(ack_cq_events, "ibv_ack_cq_events", "IBVERBS_1.1");
#undef R
		__atomic_store_n(&resolved, 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&esv_lock);
}

/* A bad ENCSHIM_* value: logged at start, and no queue is ever created
 * (esv_ready), whatever the application does next. */
static int env_rc;
static char env_why[ENCSHIM_ENV_WHY_BYTES];
static enum encshim_backend env_backend;

__attribute__((constructor)) static void esv_start(void)
{
	struct encshim_verbs_env env;

	esv_lock_init();
	env_rc = encshim_env_verbs(&env, env_why);
	if (env_rc)
		esv_log("%s; refusing to create RDMA queues (and one-sided "
			"operations stay refused)", env_why);
	esv_cfg.allow_one_sided = env.allow_one_sided;
	esv_cfg.stats = env.stats;
	esv_cfg.progress = env.progress;
	esv_cfg.hello_timeout = env.hello_timeout;
	env_backend = env.backend;
	if (esv_cfg.allow_one_sided)
		esv_log("WARNING: ENCSHIM_VERBS_ALLOW_ONE_SIDED is set: RDMA "
			"READ/WRITE and atomics run IN CLEAR and remote access "
			"to registered memory is allowed; only SEND/RECV is "
			"encrypted");
}

__attribute__((destructor)) static void esv_stop(void)
{
	esv_progress_stop();
	if (esv_cfg.stats)
		esv_log("stats: sealed %llu msgs / %llu bytes, opened %llu msgs / "
			"%llu bytes, auth failures %llu, handshakes %llu ok / "
			"%llu failed, denied ops %llu, one-sided in clear %llu; "
			"of them RDMA WRITEs: sealed %llu / %llu bytes, opened "
			"%llu / %llu bytes",
			(unsigned long long)esv_stats.sealed_msgs,
			(unsigned long long)esv_stats.sealed_bytes,
			(unsigned long long)esv_stats.opened_msgs,
			(unsigned long long)esv_stats.opened_bytes,
			(unsigned long long)esv_stats.auth_failures,
			(unsigned long long)esv_stats.handshakes,
			(unsigned long long)esv_stats.handshake_failures,
			(unsigned long long)esv_stats.denied_ops,
			(unsigned long long)esv_stats.clear_one_sided,
			(unsigned long long)esv_stats.wsealed_msgs,
			(unsigned long long)esv_stats.wsealed_bytes,
			(unsigned long long)esv_stats.wopened_msgs,
			(unsigned long long)esv_stats.wopened_bytes);
	sodium_memzero(esv_cfg.secret, sizeof(esv_cfg.secret));
}

int esv_ready(void)
{
	int rc;

	pthread_mutex_lock(&esv_lock);
	if (esv_cfg.loaded) {
		rc = esv_cfg.key_rc;
		goto out;
	}
	esv_cfg.loaded = 1;
	esv_cfg.backend = env_backend;
	rc = env_rc;
	if (!rc)
		env_why[0] = '\0';
	if (!rc)
		rc = encshim_init();
	if (!rc)
		rc = encshim_keyfile_path(esv_cfg.key_path, sizeof(esv_cfg.key_path));
	if (!rc)
		rc = encshim_keyfile_load(esv_cfg.key_path, esv_cfg.secret);
	if (!rc) {
		const char *j = getenv("ENCSHIM_JOB_ID");

		if (!j || !*j)
			j = "encshim-verbs";
		esv_cfg.job_id_len = strlen(j);
		if (esv_cfg.job_id_len > ENCSHIM_MAX_JOB_ID) {
			rc = ENCSHIM_E_ENV;
			snprintf(env_why, sizeof(env_why), "ENCSHIM_JOB_ID is "
				 "%zu bytes long: use at most %u",
				 esv_cfg.job_id_len, (unsigned)ENCSHIM_MAX_JOB_ID);
		} else {
			memcpy(esv_cfg.job_id, j, esv_cfg.job_id_len);
		}
	}
	esv_cfg.key_rc = rc;
	if (rc && env_why[0])
		esv_log("refusing to create RDMA queues: %s", env_why);
	else if (rc)
		esv_log("refusing to create RDMA queues: %s (key file %s)",
			encshim_strerror(rc),
			esv_cfg.key_path[0] ? esv_cfg.key_path : "unknown");
out:
	pthread_mutex_unlock(&esv_lock);
	if (rc)
		errno = EACCES;
	return rc ? -1 : 0;
}

static const unsigned remote_bits =
	IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ |
	IBV_ACCESS_REMOTE_ATOMIC | IBV_ACCESS_MW_BIND;

static unsigned strip_access(unsigned access, size_t len)
{
	static int warned;

	if (esv_cfg.allow_one_sided || !(access & remote_bits))
		return access;
	if ((access & remote_bits & ~(unsigned)IBV_ACCESS_REMOTE_WRITE) &&
	    !warned++)
		esv_log("removed remote access (REMOTE_READ/ATOMIC, MW_BIND) "
			"from a memory registration of %zu bytes: no peer can "
			"read this memory or use atomics on it with an rkey "
			"(remote write is sealed: the rkey names a shadow buffer; "
			"set ENCSHIM_VERBS_ALLOW_ONE_SIDED=1 to allow all, in "
			"clear)", len);
	return access & ~remote_bits;
}

/* A registration asking for remote write gets a shadow (wmr.c), unless
 * one-sided operations run in clear. */
static struct ibv_mr *with_shadow(struct ibv_mr *mr, uint64_t iova,
				  unsigned access)
{
	if (!mr || esv_cfg.allow_one_sided ||
	    !(access & IBV_ACCESS_REMOTE_WRITE))
		return mr;
	if (access & IBV_ACCESS_ON_DEMAND) {
		/* the shadow is host memory pinned whole, not on demand */
		esv_log("refused a memory registration with both remote write "
			"and IBV_ACCESS_ON_DEMAND: sealed writes need a shadow "
			"registered in full; register the buffer itself");
		esv_real.dereg_mr(mr);
		errno = EINVAL;
		return NULL;
	}
	pthread_mutex_lock(&esv_lock);
	mr = esv_wmr_reg(mr, iova);
	pthread_mutex_unlock(&esv_lock);
	return mr;
}

/* ----------------------------------------------------- extended creators */

static struct ibv_qp *create_qp_common(struct ibv_pd *pd, struct ibv_context *ctx,
				       struct ibv_qp_init_attr_ex *ax, int ex);

/* The ibv_wr_* API (send_ops_flags) is wrapped (qpex.c); other extended
 * attributes (create flags, TSO, RSS, XRC) are refused. */
static struct ibv_qp *w_create_qp_ex(struct ibv_context *ctx,
				     struct ibv_qp_init_attr_ex *ax)
{
	struct ibv_qp *qp;

	if (ax->comp_mask & ~(uint32_t)(IBV_QP_INIT_ATTR_PD |
					IBV_QP_INIT_ATTR_SEND_OPS_FLAGS)) {
		esv_log("refused ibv_create_qp_ex with comp_mask 0x%x: extended "
			"QP attributes other than the PD and send_ops_flags "
			"(the ibv_wr_* API) are not sealed by encshim",
			ax->comp_mask);
		errno = EOPNOTSUPP;
		return NULL;
	}
	qp = create_qp_common(ax->pd, ctx, ax, 1);
	if (qp && (ax->comp_mask & IBV_QP_INIT_ATTR_SEND_OPS_FLAGS)) {
		int rc;

		pthread_mutex_lock(&esv_lock);
		rc = esv_qpx_patch(qp);
		pthread_mutex_unlock(&esv_lock);
		if (rc) {
			ibv_destroy_qp(qp);
			esv_log("out of memory for the ibv_wr_* batch of a QP");
			errno = ENOMEM;
			return NULL;
		}
	}
	return qp;
}

/* Extended CQs are polled through the shim (cqex.c). */
static struct ibv_cq_ex *w_create_cq_ex(struct ibv_context *ctx,
					struct ibv_cq_init_attr_ex *a)
{
	struct ibv_cq_ex *(*orig)(struct ibv_context *,
				  struct ibv_cq_init_attr_ex *) = NULL;
	struct ibv_cq_ex *x;
	struct esv_ctx *ec;

	pthread_mutex_lock(&esv_lock);
	ec = esv_ctx_find(ctx);
	if (ec)
		orig = ec->orig_create_cq_ex;
	pthread_mutex_unlock(&esv_lock);
	if (!orig) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	x = orig(ctx, a);
	if (!x)
		return NULL;
	pthread_mutex_lock(&esv_lock);
	if (esv_cqx_patch(x, a->wc_flags)) {
		pthread_mutex_unlock(&esv_lock);
		esv_real.destroy_cq(ibv_cq_ex_to_cq(x));
		esv_log("refused ibv_create_cq_ex with wc_flags 0x%llx: the shim "
			"answers the accessors of struct ibv_wc only (byte_len, "
			"imm, qp_num, src_qp, slid, sl, dlid_path_bits), no "
			"timestamps, cvlan, flow tag or tag matching",
			(unsigned long long)a->wc_flags);
		errno = EOPNOTSUPP;
		return NULL;
	}
	if (esv_cq_created(ibv_cq_ex_to_cq(x))) {
		pthread_mutex_unlock(&esv_lock);
		esv_real.destroy_cq(ibv_cq_ex_to_cq(x));
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_unlock(&esv_lock);
	return x;
}

static struct ibv_srq *w_create_srq_ex(struct ibv_context *ctx,
				       struct ibv_srq_init_attr_ex *a)
{
	esv_log("refused ibv_create_srq_ex (XRC or tag-matching SRQ): not "
		"covered by encshim; use a basic SRQ (ibv_create_srq)");
	errno = EOPNOTSUPP;
	return NULL;
}

static int w_bind_mw(struct ibv_qp *qp, struct ibv_mw *mw, struct ibv_mw_bind *b)
{
	__atomic_add_fetch(&esv_stats.denied_ops, 1, __ATOMIC_RELAXED);
	esv_log("refused ibv_bind_mw on QP %u: memory windows give remote "
		"access; set ENCSHIM_VERBS_ALLOW_ONE_SIDED=1 to allow (in clear)",
		qp->qp_num);
	return EPERM;
}

/* Device memory has no host pages to pair with a shadow: its
 * registrations keep local access only (ibv_reg_dm_mr is inline in
 * verbs.h, so it is reached through the context, not by symbol). */
static struct ibv_mr *w_reg_dm_mr(struct ibv_pd *pd, struct ibv_dm *dm,
				  uint64_t off, size_t len, unsigned int access)
{
	struct ibv_mr *(*orig)(struct ibv_pd *, struct ibv_dm *, uint64_t,
			       size_t, unsigned int) = NULL;
	struct esv_ctx *ec;

	pthread_mutex_lock(&esv_lock);
	ec = esv_ctx_find(pd->context);
	if (ec)
		orig = ec->orig_reg_dm_mr;
	pthread_mutex_unlock(&esv_lock);
	if (!orig) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	if ((access & IBV_ACCESS_REMOTE_WRITE) && !esv_cfg.allow_one_sided)
		esv_log("removed remote write from a device-memory "
			"registration: sealed writes need a shadow in host "
			"memory");
	return orig(pd, dm, off, len, strip_access(access, len));
}

/* A sealed UD message is ESV_OVERHEAD bytes longer than the application's
 * and must still fit one packet: applications size UD messages by the
 * port's active MTU, so they are shown the next smaller one. */
static int w_query_port(struct ibv_context *ctx, uint8_t port,
			struct ibv_port_attr *attr, size_t len)
{
	int (*orig)(struct ibv_context *, uint8_t, struct ibv_port_attr *,
		    size_t) = NULL;
	struct esv_ctx *ec;
	int rc;

	pthread_mutex_lock(&esv_lock);
	ec = esv_ctx_find(ctx);
	if (ec)
		orig = ec->orig_query_port;
	pthread_mutex_unlock(&esv_lock);
	if (!orig)
		return EINVAL;
	rc = orig(ctx, port, attr, len);
	if (!rc && attr->active_mtu > IBV_MTU_256)
		attr->active_mtu = (enum ibv_mtu)(attr->active_mtu - 1);
	return rc;
}

static void patch(struct ibv_context *ctx)
{
	struct verbs_context *v = verbs_get_ctx(ctx);
	struct esv_ctx *ec;

	pthread_mutex_lock(&esv_lock);
	if (esv_ctx_find(ctx)) { /* patched already: the originals stay */
		pthread_mutex_unlock(&esv_lock);
		return;
	}
	ec = esv_ctx_add(ctx);
	if (ec) {
		esv_patch_context(ec);
		if (!esv_cfg.allow_one_sided && ctx->ops.bind_mw)
			ctx->ops.bind_mw = w_bind_mw;
		if (v) {
#define HAS(f) (v->sz >= sizeof(*v) - offsetof(struct verbs_context, f))
			if (HAS(create_qp_ex) && v->create_qp_ex) {
				ec->orig_create_qp_ex = v->create_qp_ex;
				v->create_qp_ex = w_create_qp_ex;
			}
			if (HAS(create_cq_ex) && v->create_cq_ex) {
				ec->orig_create_cq_ex = v->create_cq_ex;
				v->create_cq_ex = w_create_cq_ex;
			}
			if (HAS(query_port) && v->query_port) {
				ec->orig_query_port = v->query_port;
				v->query_port = w_query_port;
			}
			if (HAS(reg_dm_mr) && v->reg_dm_mr) {
				ec->orig_reg_dm_mr = v->reg_dm_mr;
				v->reg_dm_mr = w_reg_dm_mr;
			}
			if (HAS(create_srq_ex) && v->create_srq_ex) {
				ec->orig_create_srq_ex = v->create_srq_ex;
				v->create_srq_ex = w_create_srq_ex;
			}
#undef HAS
		}
	}
	pthread_mutex_unlock(&esv_lock);
	if (!ec)
		esv_log("out of memory: the device cannot be protected");
}

/* ------------------------------------------------------------- exported */

EXPORT struct ibv_context *ibv_open_device(struct ibv_device *dev)
{
	struct ibv_context *ctx;

	resolve();
	ctx = esv_real.open_device(dev);
	if (ctx)
		patch(ctx);
	return ctx;
}

/* A context made from another process's command fd (rdma-core >= 32) is
 * patched like an opened one. */
EXPORT struct ibv_context *ibv_import_device(int cmd_fd)
{
	struct ibv_context *ctx;

	resolve();
	if (!esv_real.import_device) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	ctx = esv_real.import_device(cmd_fd);
	if (ctx)
		patch(ctx);
	return ctx;
}

/* mlx5's own context constructor: its contexts serve the direct-verbs
 * data paths, which the shim refuses. */
EXPORT void *mlx5dv_open_device(void *device, void *attr);
void *mlx5dv_open_device(void *device, void *attr)
{
	__atomic_add_fetch(&esv_stats.denied_ops, 1, __ATOMIC_RELAXED);
	esv_log("refused mlx5dv_open_device: direct-verbs (mlx5dv) contexts "
		"drive the hardware queues without libibverbs and cannot be "
		"encrypted by encshim; open the device with ibv_open_device "
		"(UCX: UCX_TLS=rc_verbs,ud_verbs,self)");
	errno = EPERM;
	return NULL;
}

EXPORT int ibv_close_device(struct ibv_context *ctx)
{
	resolve();
	pthread_mutex_lock(&esv_lock);
	esv_ctx_del(ctx);
	pthread_mutex_unlock(&esv_lock);
	return esv_real.close_device(ctx);
}

static struct ibv_qp *create_qp_common(struct ibv_pd *pd, struct ibv_context *ctx,
				       struct ibv_qp_init_attr_ex *ax, int ex)
{
	struct ibv_qp_init_attr_ex a = *ax;
	struct ibv_qp_init_attr ia;
	struct esv_ctx *ec;
	struct ibv_qp *qp;
	/* RC: an RDMA_WRITE_WITH_IMM takes two entries (write.c). */
	unsigned extra_send = ax->qp_type == IBV_QPT_UD ? ESV_EXTRA_SEND_UD
			      : ax->qp_type == IBV_QPT_RC
				      ? ax->cap.max_send_wr + ESV_EXTRA_SEND
				      : ESV_EXTRA_SEND;
	int extra = 1;

	if (esv_ready())
		return NULL;
	if (a.qp_type != IBV_QPT_RC && a.qp_type != IBV_QPT_UC &&
	    a.qp_type != IBV_QPT_UD) {
		esv_log("refused a QP of type %d: encshim seals RC, UC and UD "
			"queue pairs; nothing runs in clear", (int)a.qp_type);
		errno = EOPNOTSUPP;
		return NULL;
	}
	pthread_mutex_lock(&esv_lock);
	if (esv_secret_take()) {
		pthread_mutex_unlock(&esv_lock);
		errno = EACCES;
		return NULL;
	}
	ec = esv_ctx_find(pd->context);
	if (!ec) {
		pthread_mutex_unlock(&esv_lock);
		esv_log("refused a QP on a device context the shim did not open");
		errno = EPERM;
		return NULL;
	}
again:
	a = *ax;
	if (extra) {
		a.cap.max_send_wr += extra_send;
		if (!a.srq)
			a.cap.max_recv_wr += ESV_EXTRA_RECV;
	}
	if (a.cap.max_send_sge < 1)
		a.cap.max_send_sge = 1;
	if (!a.srq && a.cap.max_recv_sge < 1)
		a.cap.max_recv_sge = 1;
	if (ex)
		qp = ec->orig_create_qp_ex(ctx, &a);
	else
		qp = esv_real.create_qp(pd, (struct ibv_qp_init_attr *)&a);
	if (!qp && extra) {
		extra = 0;
		goto again;
	}
	if (!qp) {
		pthread_mutex_unlock(&esv_lock);
		return NULL;
	}
	memset(&ia, 0, sizeof(ia));
	ia.send_cq = a.send_cq;
	ia.recv_cq = a.recv_cq;
	ia.srq = a.srq;
	ia.cap = a.cap;
	ia.qp_type = a.qp_type;
	ia.sq_sig_all = a.sq_sig_all;
	if (esv_qp_created(qp, pd, &ax->cap, &ia)) {
		esv_real.destroy_qp(qp);
		pthread_mutex_unlock(&esv_lock);
		esv_log("cannot track a new QP (CQs or SRQ not created through "
			"the shim, or out of memory): refused");
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_unlock(&esv_lock);
	ax->cap = a.cap;
	if (extra) {
		ax->cap.max_send_wr -= extra_send;
		if (!a.srq)
			ax->cap.max_recv_wr -= ESV_EXTRA_RECV;
	}
	return qp;
}

EXPORT struct ibv_qp *ibv_create_qp(struct ibv_pd *pd, struct ibv_qp_init_attr *attr)
{
	struct ibv_qp_init_attr_ex ax;
	struct ibv_qp *qp;

	resolve();
	memset(&ax, 0, sizeof(ax));
	memcpy(&ax, attr, sizeof(*attr));
	ax.comp_mask = IBV_QP_INIT_ATTR_PD;
	ax.pd = pd;
	qp = create_qp_common(pd, pd->context, &ax, 0);
	if (qp)
		attr->cap = ax.cap;
	return qp;
}

EXPORT int ibv_modify_qp(struct ibv_qp *qp, struct ibv_qp_attr *attr, int mask)
{
	struct ibv_qp_attr a = *attr;
	int rc;

	resolve();
	/* RC keeps remote write: only shadows (wmr.c) accept it. */
	if ((mask & IBV_QP_ACCESS_FLAGS) && !esv_cfg.allow_one_sided)
		a.qp_access_flags &= ~(unsigned)((qp->qp_type == IBV_QPT_RC
							  ? 0 : IBV_ACCESS_REMOTE_WRITE) |
						 IBV_ACCESS_REMOTE_READ |
						 IBV_ACCESS_REMOTE_ATOMIC);
	pthread_mutex_lock(&esv_lock);
	{
		struct esv_qp *q = esv_qp_find(qp);

		/* The shim already moved this QP to RTS to answer a HELLO
		 * (a receive-only target, or one at RTR past the grace of
		 * hello.c): the application's own RTR->RTS is then a no-op,
		 * said aloud, as RTS->RTS cannot set its attributes. */
		if (q && q->shim_rts && (mask & IBV_QP_STATE) &&
		    a.qp_state == IBV_QPS_RTS && (mask & IBV_QP_SQ_PSN)) {
			esv_log("QP %u: the shim moved it to RTS itself to answer "
				"the peer's HELLO (send PSN %u, timeout 14, "
				"retry_cnt 7, rnr_retry 7); the application's "
				"RTS attributes were not applied: move the QP "
				"to RTS within %.0f s of RTR", q->qpn, q->rts_psn,
				ESV_RTS_GRACE_S);
			pthread_mutex_unlock(&esv_lock);
			return 0;
		}
	}
	rc = esv_real.modify_qp(qp, &a, mask);
	if (!rc)
		esv_qp_modified(qp, &a, mask);
	pthread_mutex_unlock(&esv_lock);
	return rc;
}

EXPORT int ibv_destroy_qp(struct ibv_qp *qp)
{
	int rc;

	resolve();
	pthread_mutex_lock(&esv_lock);
	rc = esv_real.destroy_qp(qp);
	if (!rc)
		esv_qp_destroyed(qp);
	pthread_mutex_unlock(&esv_lock);
	return rc;
}

EXPORT struct ibv_cq *ibv_create_cq(struct ibv_context *ctx, int cqe, void *cq_context,
				    struct ibv_comp_channel *ch, int vec)
{
	struct ibv_cq *cq;

	resolve();
	cq = esv_real.create_cq(ctx, cqe, cq_context, ch, vec);
	if (cq) {
		pthread_mutex_lock(&esv_lock);
		if (esv_cq_created(cq)) {
			esv_real.destroy_cq(cq);
			cq = NULL;
			errno = ENOMEM;
		}
		pthread_mutex_unlock(&esv_lock);
	}
	return cq;
}

EXPORT int ibv_destroy_cq(struct ibv_cq *cq)
{
	int rc;

	resolve();
	pthread_mutex_lock(&esv_lock);
	rc = esv_real.destroy_cq(cq);
	if (!rc)
		esv_cq_destroyed(cq);
	pthread_mutex_unlock(&esv_lock);
	return rc;
}

/* Sleeps like libibverbs, but wakes every 10 ms while a QP with a CQ on
 * this channel waits for the peer's HELLO, to poll it forward (the peer's
 * HELLO may complete on a CQ the application is not waiting for). */
EXPORT int ibv_get_cq_event(struct ibv_comp_channel *ch, struct ibv_cq **cq,
			    void **cq_context)
{
	/* A non-blocking channel (UCX sets O_NONBLOCK and drains events until
	 * EAGAIN from its async thread) gets one progress pass, never a wait. */
	int nonblock = (fcntl(ch->fd, F_GETFL) & O_NONBLOCK) != 0;

	resolve();
	for (;;) {
		struct pollfd p = { .fd = ch->fd, .events = POLLIN };
		int busy, r;
		struct ibv_cq *soft = esv_channel_progress(ch, &busy);

		if (soft) {
			*cq = soft;
			*cq_context = soft->cq_context;
			return 0;
		}
		if (!busy || nonblock)
			break;
		r = poll(&p, 1, 10);
		if (r > 0)
			break;
		if (r < 0 && errno != EINTR)
			return -1;
	}
	return esv_real.get_cq_event(ch, cq, cq_context);
}

EXPORT void ibv_ack_cq_events(struct ibv_cq *cq, unsigned int n)
{
	resolve();
	n -= esv_cq_ack_soft(cq, n);
	if (n)
		esv_real.ack_cq_events(cq, n);
}

EXPORT struct ibv_ah *ibv_create_ah(struct ibv_pd *pd, struct ibv_ah_attr *attr)
{
	struct ibv_ah *ah;

	resolve();
	ah = esv_real.create_ah(pd, attr);
	if (ah) {
		pthread_mutex_lock(&esv_lock);
		if (esv_ah_created(ah, attr)) {
			esv_real.destroy_ah(ah);
			ah = NULL;
			errno = ENOMEM;
		}
		pthread_mutex_unlock(&esv_lock);
	}
	return ah;
}

EXPORT int ibv_destroy_ah(struct ibv_ah *ah)
{
	int rc;

	resolve();
	pthread_mutex_lock(&esv_lock);
	rc = esv_real.destroy_ah(ah);
	if (!rc)
		esv_ah_destroyed(ah);
	pthread_mutex_unlock(&esv_lock);
	return rc;
}

EXPORT struct ibv_srq *ibv_create_srq(struct ibv_pd *pd, struct ibv_srq_init_attr *attr)
{
	struct ibv_srq_init_attr a = *attr;
	struct ibv_srq *srq;

	resolve();
	if (esv_ready())
		return NULL;
	pthread_mutex_lock(&esv_lock);
	if (esv_secret_take()) {
		pthread_mutex_unlock(&esv_lock);
		errno = EACCES;
		return NULL;
	}
	pthread_mutex_unlock(&esv_lock);
	a.attr.max_wr += ESV_EXTRA_SRQ;
	srq = esv_real.create_srq(pd, &a);
	if (!srq)
		return NULL;
	pthread_mutex_lock(&esv_lock);
	if (esv_srq_created(srq, pd, a.attr.max_wr, a.attr.max_sge)) {
		esv_real.destroy_srq(srq);
		srq = NULL;
		errno = ENOMEM;
	}
	pthread_mutex_unlock(&esv_lock);
	if (srq) {
		attr->attr = a.attr;
		attr->attr.max_wr -= ESV_EXTRA_SRQ;
	}
	return srq;
}

EXPORT int ibv_destroy_srq(struct ibv_srq *srq)
{
	int rc;

	resolve();
	pthread_mutex_lock(&esv_lock);
	rc = esv_real.destroy_srq(srq);
	if (!rc)
		esv_srq_destroyed(srq);
	pthread_mutex_unlock(&esv_lock);
	return rc;
}

EXPORT struct ibv_mr *(ibv_reg_mr)(struct ibv_pd *pd, void *addr, size_t len, int access)
{
	resolve();
	return with_shadow(esv_real.reg_mr(pd, addr, len,
					   (int)strip_access((unsigned)access, len)),
			   (uintptr_t)addr, (unsigned)access);
}

EXPORT struct ibv_mr *(ibv_reg_mr_iova)(struct ibv_pd *pd, void *addr, size_t len,
				      uint64_t iova, int access)
{
	resolve();
	return with_shadow(esv_real.reg_mr_iova(pd, addr, len, iova,
						(int)strip_access((unsigned)access, len)),
			   iova, (unsigned)access);
}

EXPORT struct ibv_mr *ibv_reg_mr_iova2(struct ibv_pd *pd, void *addr, size_t len,
				       uint64_t iova, unsigned int access)
{
	resolve();
	return with_shadow(esv_real.reg_mr_iova2(pd, addr, len, iova,
						 strip_access(access, len)),
			   iova, access);
}

/* A shadowed registration gets its own rkey back and loses its shadow
 * first; a write still on its way to the shadow then fails the QP by
 * name when its descriptor arrives. */
EXPORT int ibv_dereg_mr(struct ibv_mr *mr)
{
	resolve();
	pthread_mutex_lock(&esv_lock);
	esv_wmr_dereg(mr);
	pthread_mutex_unlock(&esv_lock);
	return esv_real.dereg_mr(mr);
}

EXPORT struct ibv_mr *ibv_reg_dmabuf_mr(struct ibv_pd *pd, uint64_t off, size_t len,
					uint64_t iova, int fd, int access)
{
	resolve();
	if (!esv_real.reg_dmabuf_mr) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	if ((access & IBV_ACCESS_REMOTE_WRITE) && !esv_cfg.allow_one_sided)
		esv_log("removed remote write from a dma-buf registration: "
			"sealed writes need a shadow in host memory");
	return esv_real.reg_dmabuf_mr(pd, off, len, iova, fd,
				      (int)strip_access((unsigned)access, len));
}

EXPORT int ibv_rereg_mr(struct ibv_mr *mr, int flags, struct ibv_pd *pd, void *addr,
			size_t len, int access)
{
	resolve();
	pthread_mutex_lock(&esv_lock);
	if (esv_wmr_find(mr->pd, mr->rkey) ||
	    (!esv_cfg.allow_one_sided && (flags & IBV_REREG_MR_CHANGE_ACCESS) &&
	     (access & IBV_ACCESS_REMOTE_WRITE))) {
		pthread_mutex_unlock(&esv_lock);
		esv_log("refused ibv_rereg_mr of a remotely writable registration: "
			"its shadow buffer cannot follow; deregister and "
			"register again");
		return EOPNOTSUPP;
	}
	pthread_mutex_unlock(&esv_lock);
	if (flags & IBV_REREG_MR_CHANGE_ACCESS)
		access = (int)strip_access((unsigned)access, len);
	return esv_real.rereg_mr(mr, flags, pd, addr, len, access);
}

/* ------------------------------------------------- direct verbs: refused */

static void refuse_dv(const char *fn)
{
	__atomic_add_fetch(&esv_stats.denied_ops, 1, __ATOMIC_RELAXED);
	esv_log("refused %s: direct-verbs (mlx5dv) data paths write to the "
		"hardware queues without libibverbs and cannot be encrypted by "
		"encshim. Select verbs transports instead, e.g. "
		"UCX_TLS=rc_verbs,ud_verbs,self (Open MPI: mpirun -x UCX_TLS=...)",
		fn);
	errno = EPERM;
}

EXPORT int mlx5dv_init_obj(void *obj, uint64_t obj_type);
int mlx5dv_init_obj(void *obj, uint64_t obj_type)
{
	refuse_dv("mlx5dv_init_obj");
	return EPERM;
}

EXPORT void *mlx5dv_create_qp(void *ctx, void *qp_attr, void *mlx5_qp_attr);
void *mlx5dv_create_qp(void *ctx, void *qp_attr, void *mlx5_qp_attr)
{
	refuse_dv("mlx5dv_create_qp");
	return NULL;
}

EXPORT void *mlx5dv_create_cq(void *ctx, void *cq_attr, void *mlx5_cq_attr);
void *mlx5dv_create_cq(void *ctx, void *cq_attr, void *mlx5_cq_attr)
{
	refuse_dv("mlx5dv_create_cq");
	return NULL;
}

EXPORT void *mlx5dv_qp_ex_from_ibv_qp_ex(void *qp);
void *mlx5dv_qp_ex_from_ibv_qp_ex(void *qp)
{
	refuse_dv("mlx5dv_qp_ex_from_ibv_qp_ex");
	return NULL;
}

EXPORT void *mlx5dv_devx_obj_create(void *ctx, const void *in, size_t inlen,
				    void *out, size_t outlen);
void *mlx5dv_devx_obj_create(void *ctx, const void *in, size_t inlen, void *out,
			     size_t outlen)
{
	refuse_dv("mlx5dv_devx_obj_create");
	return NULL;
}

EXPORT int mlx5dv_devx_general_cmd(void *ctx, const void *in, size_t inlen,
				   void *out, size_t outlen);
int mlx5dv_devx_general_cmd(void *ctx, const void *in, size_t inlen, void *out,
			    size_t outlen)
{
	refuse_dv("mlx5dv_devx_general_cmd");
	return EPERM;
}

/* ------------------------------------------- dlopen'd libibverbs: dlsym */

/*
 * A program that dlopen()s libibverbs and takes ibv_open_device from
 * dlsym(handle, ...) would get libibverbs' own function and bypass the
 * patching. dlsym is interposed: for a real handle, the shim's wrappers are
 * returned for the names it wraps. RTLD_NEXT and RTLD_DEFAULT are
 * caller-relative, so they go to the real dlsym by a tail jump that keeps
 * the caller's return address (x86-64; elsewhere dlsym is not interposed).
 */
#if defined(__x86_64__)
void *esv_real_dlsym_ptr;
void *esv_dlsym_handle(void *h, const char *name);
void *esv_dlsym_slow(void *h, const char *name);

static void *resolve_real_dlsym(void)
{
	void *p = dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.34");

	if (!p)
		p = dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.2.5");
	__atomic_store_n(&esv_real_dlsym_ptr, p, __ATOMIC_RELEASE);
	return p;
}

__attribute__((constructor(101))) static void esv_dlsym_init(void)
{
	resolve_real_dlsym();
}

void *esv_dlsym_slow(void *h, const char *name)
{
	void *(*real)(void *, const char *) = resolve_real_dlsym();

	return real ? real(h, name) : NULL;
}

static const struct {
	const char *name;
	void *fn;
} wrapped[] = {
#define W(f) { #f, (void *)(f) }
	W(ibv_open_device), W(ibv_import_device), W(ibv_close_device),
	W(ibv_create_qp),
	W(ibv_modify_qp), W(ibv_destroy_qp), W(ibv_create_cq),
	W(ibv_destroy_cq), W(ibv_create_srq), W(ibv_destroy_srq),
	W(ibv_get_cq_event), W(ibv_ack_cq_events), W(ibv_create_ah),
	W(ibv_destroy_ah),
	W(ibv_reg_mr_iova2), W(ibv_reg_dmabuf_mr), W(ibv_rereg_mr),
	W(ibv_dereg_mr),
	W(mlx5dv_open_device),
	W(mlx5dv_init_obj), W(mlx5dv_create_qp), W(mlx5dv_create_cq),
	W(mlx5dv_qp_ex_from_ibv_qp_ex), W(mlx5dv_devx_obj_create),
	W(mlx5dv_devx_general_cmd),
#undef W
	{ "ibv_reg_mr", (void *)(ibv_reg_mr) },
	{ "ibv_reg_mr_iova", (void *)(ibv_reg_mr_iova) },
};

void *esv_dlsym_handle(void *h, const char *name)
{
	void *(*real)(void *, const char *) =
		__atomic_load_n(&esv_real_dlsym_ptr, __ATOMIC_ACQUIRE);

	if (name && (!strncmp(name, "ibv_", 4) || !strncmp(name, "mlx5dv_", 7)))
		for (size_t i = 0; i < sizeof(wrapped) / sizeof(wrapped[0]); i++)
			if (!strcmp(name, wrapped[i].name)) {
				/* Only where the handle really has it. */
				void *orig = real ? real(h, name) : NULL;

				return orig ? wrapped[i].fn : NULL;
			}
	return real ? real(h, name) : esv_dlsym_slow(h, name);
}

__asm__(".text\n"
	".globl dlsym\n"
	".type dlsym, @function\n"
	"dlsym:\n"
	"	cmpq $-1, %rdi\n"
	"	je 1f\n"
	"	testq %rdi, %rdi\n"
	"	je 1f\n"
	"	jmp esv_dlsym_handle\n"
	"1:	movq esv_real_dlsym_ptr(%rip), %rax\n"
	"	testq %rax, %rax\n"
	"	je 2f\n"
	"	jmp *%rax\n"
	"2:	jmp esv_dlsym_slow\n"
	".size dlsym, .-dlsym\n");
#endif

/* SPDX-License-Identifier: MIT */
/*
 * The verbs interposer's settings fail closed (docs/VERBS.md, settings).
 * The interposer reads ENCSHIM_* once, in its constructor, so each case
 * runs this program again with one value set ("child" mode) against a
 * minimal fake provider, and checks what the application then gets:
 *   refuse  one-sided access is stripped from memory registrations (remote
 *           write goes to a shadow registration instead) and queue
 *           pairs are created (the default)
 *   allow   remote access is kept (the documented opt-in)
 *   closed  the value is refused: no queue pair can be created, and
 *           remote access is still stripped
 * A value such as "off" must never mean "allow".
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <infiniband/verbs.h>

#include "../../verbs/esv.h"

void esv_test_install(const struct esv_real *fake);

/* ------------------------------------------------- the fake (child side) */

static struct verbs_context fctx;
static struct ibv_pd fpd;
static struct ibv_cq fcq;
static struct ibv_qp fqp;
static unsigned last_access, shadow_access;

static struct ibv_context *f_open_device(struct ibv_device *d)
{
	fctx.sz = sizeof(fctx);
	fctx.context.abi_compat = __VERBS_ABI_IS_EXTENDED;
	fpd.context = &fctx.context;
	return &fctx.context;
}

static int f_close_device(struct ibv_context *c)
{
	return 0;
}

static struct ibv_cq *f_create_cq(struct ibv_context *ctx, int cqe, void *u,
				  struct ibv_comp_channel *ch, int v)
{
	fcq.context = ctx;
	return &fcq;
}

static int f_destroy_cq(struct ibv_cq *cq)
{
	return 0;
}

static struct ibv_qp *f_create_qp(struct ibv_pd *pd, struct ibv_qp_init_attr *a)
{
	fqp.context = pd->context;
	fqp.pd = pd;
	fqp.qp_num = 0x100;
	fqp.qp_type = a->qp_type;
	fqp.send_cq = a->send_cq;
	fqp.recv_cq = a->recv_cq;
	fqp.state = IBV_QPS_RESET;
	return &fqp;
}

static int f_destroy_qp(struct ibv_qp *qp)
{
	return 0;
}

static struct ibv_mr *f_reg_mr(struct ibv_pd *pd, void *addr, size_t len, int acc)
{
	static struct ibv_mr mr;

	last_access = (unsigned)acc;
	mr.pd = pd;
	mr.addr = addr;
	mr.length = len;
	return &mr;
}

/* Only shadows of sealed writes are registered at an iova here. */
static struct ibv_mr *f_reg_mr_iova2(struct ibv_pd *pd, void *addr, size_t len,
				     uint64_t iova, unsigned acc)
{
	static struct ibv_mr mr;

	shadow_access = acc;
	mr.pd = pd;
	mr.addr = addr;
	mr.length = len;
	mr.rkey = 0x77;
	return &mr;
}

static int f_dereg_mr(struct ibv_mr *mr)
{
	return 0;
}

static const struct esv_real fake = {
	.open_device = f_open_device,
	.close_device = f_close_device,
	.create_qp = f_create_qp,
	.destroy_qp = f_destroy_qp,
	.create_cq = f_create_cq,
	.destroy_cq = f_destroy_cq,
	.reg_mr = f_reg_mr,
	.reg_mr_iova2 = f_reg_mr_iova2,
	.dereg_mr = f_dereg_mr,
};

#define CHECK(c) do { if (!(c)) { \
	fprintf(stderr, "child (%s): %s failed\n", expect, #c); return 1; } } while (0)

/* What an application sees under the settings in its environment. */
static int child(const char *expect)
{
	static char buf[64];
	const unsigned remote = IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ;
	struct ibv_qp_init_attr ia;
	struct ibv_context *ctx;
	struct ibv_cq *cq;
	struct ibv_qp *qp;
	struct ibv_mr *mr;

	esv_test_install(&fake);
	ctx = ibv_open_device(NULL);
	CHECK(ctx != NULL);
	mr = ibv_reg_mr(&fpd, buf, sizeof(buf), IBV_ACCESS_LOCAL_WRITE | remote);
	CHECK(mr != NULL);
	if (!strcmp(expect, "allow")) {
		CHECK((last_access & remote) == remote);
		CHECK(shadow_access == 0);
	} else {
		CHECK((last_access & remote) == 0);
		CHECK(shadow_access == (IBV_ACCESS_LOCAL_WRITE |
					IBV_ACCESS_REMOTE_WRITE));
		CHECK(mr->rkey == 0x77);
	}
	CHECK(ibv_dereg_mr(mr) == 0);
	cq = ibv_create_cq(ctx, 4, NULL, NULL, 0);
	CHECK(cq != NULL);
	memset(&ia, 0, sizeof(ia));
	ia.send_cq = ia.recv_cq = cq;
	ia.qp_type = IBV_QPT_RC;
	ia.cap.max_send_wr = ia.cap.max_recv_wr = 1;
	errno = 0;
	qp = ibv_create_qp(&fpd, &ia);
	if (!strcmp(expect, "closed")) {
		CHECK(qp == NULL);
		CHECK(errno == EACCES);
	} else {
		CHECK(qp != NULL);
		CHECK(ibv_destroy_qp(qp) == 0);
	}
	CHECK(ibv_destroy_cq(cq) == 0);
	CHECK(ibv_close_device(ctx) == 0);
	return 0;
}

/* ------------------------------------------------- the table (parent side) */

struct env_case {
	const char *name, *value, *expect;
};

static const struct env_case cases[] = {
	{ "ENCSHIM_VERBS_ALLOW_ONE_SIDED", NULL, "refuse" },
	{ "ENCSHIM_VERBS_ALLOW_ONE_SIDED", "", "refuse" },
	{ "ENCSHIM_VERBS_ALLOW_ONE_SIDED", "off", "refuse" },
	{ "ENCSHIM_VERBS_ALLOW_ONE_SIDED", "no", "refuse" },
	{ "ENCSHIM_VERBS_ALLOW_ONE_SIDED", "false", "refuse" },
	{ "ENCSHIM_VERBS_ALLOW_ONE_SIDED", "0", "refuse" },
	{ "ENCSHIM_VERBS_ALLOW_ONE_SIDED", "1", "allow" },
	{ "ENCSHIM_VERBS_ALLOW_ONE_SIDED", "on", "allow" },
	{ "ENCSHIM_VERBS_ALLOW_ONE_SIDED", "disable", "closed" },
	{ "ENCSHIM_VERBS_ALLOW_ONE_SIDED", "OFF", "closed" },
	{ "ENCSHIM_VERBS_ALLOW_ONE_SIDED", "00", "closed" },
	{ "ENCSHIM_VERBS_ALLOW_ONE_SIDED", " 0", "closed" },
	{ "ENCSHIM_STATS", "off", "refuse" },
	{ "ENCSHIM_STATS", "maybe", "closed" },
	{ "ENCSHIM_VERBS_PROGRESS", "0", "refuse" },
	{ "ENCSHIM_VERBS_PROGRESS", "none", "closed" },
	{ "ENCSHIM_VERBS_HELLO_TIMEOUT", "30", "refuse" },
	{ "ENCSHIM_VERBS_HELLO_TIMEOUT", "0", "closed" },
	{ "ENCSHIM_VERBS_HELLO_TIMEOUT", "ten", "closed" },
	{ "ENCSHIM_VERBS_HELLO_TIMEOUT", "1.5", "closed" },
	{ "ENCSHIM_BACKEND", "aes", "closed" },
};

static char keyfile[64];

static int run_child(const struct env_case *c)
{
	char *argv[] = { "test_verbs_env", "child", (char *)c->expect, NULL };
	extern char **environ;
	pid_t pid;
	int st;

	unsetenv(c->name);
	if (c->value)
		setenv(c->name, c->value, 1);
	if (posix_spawn(&pid, "/proc/self/exe", NULL, NULL, argv, environ))
		return -1;
	unsetenv(c->name);
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void test_settings_fail_closed(void **state)
{
	int bad = 0;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = run_child(&cases[i]);

		print_message("%s=%s%s%s: want %s, %s\n", cases[i].name,
			      cases[i].value ? "'" : "(unset)",
			      cases[i].value ? cases[i].value : "",
			      cases[i].value ? "'" : "", cases[i].expect,
			      rc ? "FAILED" : "ok");
		bad += rc != 0;
	}
	assert_int_equal(bad, 0);
}

static int setup(void **state)
{
	FILE *f;

	snprintf(keyfile, sizeof(keyfile), "/tmp/esv-env-%d.key", (int)getpid());
	f = fopen(keyfile, "w");
	if (!f)
		return -1;
	fprintf(f, "encshim-secret-v1:");
	for (int i = 0; i < 32; i++)
		fprintf(f, "%02x", (unsigned)(i * 5 + 1));
	fprintf(f, "\n");
	fclose(f);
	if (chmod(keyfile, 0600))
		return -1;
	setenv("ENCSHIM_KEY_FILE", keyfile, 1);
	/* the cases set these one at a time */
	unsetenv("ENCSHIM_VERBS_ALLOW_ONE_SIDED");
	unsetenv("ENCSHIM_STATS");
	unsetenv("ENCSHIM_VERBS_PROGRESS");
	unsetenv("ENCSHIM_VERBS_HELLO_TIMEOUT");
	unsetenv("ENCSHIM_BACKEND");
	return 0;
}

static int teardown(void **state)
{
	unlink(keyfile);
	return 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_settings_fail_closed),
	};

	if (argc == 3 && !strcmp(argv[1], "child"))
		return child(argv[2]);
	return cmocka_run_group_tests(tests, setup, teardown);
}

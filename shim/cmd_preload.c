/* SPDX-License-Identifier: MIT */
/*
 * encshim preload CMD [ARGS...]: runs an unmodified RDMA program with the
 * verbs interposer (libencshim-verbs.so) preloaded, after checking that the
 * job secret is usable, so that a missing key is named before the program
 * starts. See docs/VERBS.md.
 */
#include "config.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "encshim/env.h"
#include "encshim/error.h"
#include "encshim/keyfile.h"
#include "encshim/wire.h"

#define VERBS_LIB "libencshim-verbs.so"

static void preload_usage(FILE *f)
{
	fprintf(f,
		"usage: encshim preload [--allow-one-sided] [--stats] CMD [ARGS...]\n\n"
		"Runs CMD with " VERBS_LIB " preloaded: its two-sided RDMA traffic\n"
		"(SEND/RECV on RC, UC and UD queue pairs, SRQs) is sealed with AES-256-GCM;\n"
		"one-sided operations (RDMA READ/WRITE, atomics) and direct verbs\n"
		"(mlx5dv) are refused. Both ends of every connection need it.\n\n"
		"  --allow-one-sided  let RDMA READ/WRITE/atomics through IN CLEAR\n"
		"                     (sets ENCSHIM_VERBS_ALLOW_ONE_SIDED=1)\n"
		"  --stats            print counters at exit (sets ENCSHIM_STATS=1)\n\n"
		"environment (a value not listed is refused before CMD starts):\n"
		"  ENCSHIM_KEY_FILE, ENCSHIM_JOB_ID, ENCSHIM_BACKEND (auto, openssl, sodium),\n"
		"  ENCSHIM_VERBS_ALLOW_ONE_SIDED and ENCSHIM_STATS (1, yes, true, on or\n"
		"  0, no, false, off; default 0), ENCSHIM_VERBS_HELLO_TIMEOUT (seconds,\n"
		"  1 to %u, default %u), ENCSHIM_VERBS_PROGRESS (0 to start no thread\n"
		"  for RDMA WRITE targets that never poll; default 1),\n"
		"  ENCSHIM_VERBS_LIB (the library to preload)\n",
		ENCSHIM_HELLO_TIMEOUT_MAX, ENCSHIM_HELLO_TIMEOUT_DEFAULT);
}

static int usable(const char *p)
{
	return p && access(p, R_OK) == 0;
}

/* $ENCSHIM_VERBS_LIB, else next to this executable in a build tree, else
 * the installed locations relative to it. */
static int find_lib(char *out, size_t outlen)
{
	static const char *const rel[] = {
		"verbs/.libs/" VERBS_LIB,
		"../lib/encshim/" VERBS_LIB,
		"../lib64/encshim/" VERBS_LIB,
		"../lib/x86_64-linux-gnu/encshim/" VERBS_LIB,
		"../lib/aarch64-linux-gnu/encshim/" VERBS_LIB,
	};
	const char *env = getenv("ENCSHIM_VERBS_LIB");
	char exe[PATH_MAX], *dir;
	ssize_t n;

	if (env && *env) {
		if (!usable(env)) {
			fprintf(stderr, "encshim preload: ENCSHIM_VERBS_LIB=%s: %s\n",
				env, strerror(errno));
			return -1;
		}
		snprintf(out, outlen, "%s", env);
		return 0;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return -1;
	exe[n] = 0;
	dir = dirname(exe);
	for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		char cand[PATH_MAX + 64], real[PATH_MAX];

		snprintf(cand, sizeof(cand), "%s/%s", dir, rel[i]);
		if (usable(cand) && realpath(cand, real)) {
			snprintf(out, outlen, "%s", real);
			return 0;
		}
	}
	return -1;
}

int cmd_preload(int argc, char **argv)
{
	char lib[PATH_MAX], key[4096], why[ENCSHIM_ENV_WHY_BYTES], *pre;
	uint8_t secret[ENCSHIM_SECRET_BYTES];
	struct encshim_verbs_env env;
	const char *old;
	int i = 1, rc;

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			preload_usage(stdout);
			return EXIT_OK;
		} else if (!strcmp(argv[i], "--allow-one-sided")) {
			setenv("ENCSHIM_VERBS_ALLOW_ONE_SIDED", "1", 1);
		} else if (!strcmp(argv[i], "--stats")) {
			setenv("ENCSHIM_STATS", "1", 1);
		} else if (!strcmp(argv[i], "--")) {
			i++;
			break;
		} else {
			fprintf(stderr, "encshim preload: unknown option %s\n", argv[i]);
			preload_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (i >= argc) {
		preload_usage(stderr);
		return EXIT_USAGE;
	}
	/* the interposer would refuse every queue: say why before CMD starts */
	if (encshim_env_verbs(&env, why)) {
		fprintf(stderr, "encshim preload: %s\n", why);
		return EXIT_USAGE;
	}
	rc = encshim_keyfile_path(key, sizeof(key));
	if (!rc)
		rc = encshim_keyfile_load(key, secret);
	memset(secret, 0, sizeof(secret));
	if (rc) {
		fprintf(stderr, "encshim preload: %s\n", encshim_strerror(rc));
		return EXIT_KEY;
	}
	if (find_lib(lib, sizeof(lib))) {
		fprintf(stderr, "encshim preload: cannot find " VERBS_LIB
				" (was encshim built with the verbs interposer? set "
				"ENCSHIM_VERBS_LIB to its path)\n");
		return EXIT_FAIL;
	}
	old = getenv("LD_PRELOAD");
	if (old && *old) {
		size_t len = strlen(lib) + strlen(old) + 2;

		pre = malloc(len);
		if (!pre)
			return EXIT_FAIL;
		snprintf(pre, len, "%s:%s", lib, old);
	} else {
		pre = lib;
	}
	if (setenv("LD_PRELOAD", pre, 1))
		return EXIT_FAIL;
	execvp(argv[i], argv + i);
	fprintf(stderr, "encshim preload: cannot run %s: %s\n", argv[i], strerror(errno));
	return errno == ENOENT ? 127 : 126;
}

/* SPDX-License-Identifier: MIT */
/* encshim info: what this machine will use, and how fast it seals. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sodium.h>

#include "commands.h"
#include "encshim/aead.h"
#include "encshim/env.h"
#include "encshim/keyfile.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Median of 5 rounds of ~40 ms each, in GB/s. */
static int rate(enum encshim_backend b, size_t len, double *seal_gbs,
		double *open_gbs)
{
	uint8_t key[32], nonce[12] = { 0 }, tag[16];
	double s[5], o[5];
	struct encshim_aead *a = NULL;
	uint8_t *pt = malloc(len), *ct = malloc(len);
	int rc = -1;

	if (!pt || !ct)
		goto out;
	randombytes_buf(key, sizeof(key));
	memset(pt, 0x5a, len);
	rc = encshim_aead_new(&a, b, key);
	for (int r = 0; r < 5 && !rc; r++) {
		long n = 0;
		double t0 = now(), t1;

		do {
			nonce[0]++;
			rc |= encshim_aead_seal(a, nonce, NULL, 0, pt, len, ct, tag);
			n++;
		} while ((t1 = now()) - t0 < 0.04);
		s[r] = (double)n * len / (t1 - t0) / 1e9;
		n = 0;
		t0 = now();
		do { /* the same frame opens (and authenticates) every time */
			rc |= encshim_aead_open(a, nonce, NULL, 0, ct, len, pt, tag);
			n++;
		} while ((t1 = now()) - t0 < 0.04);
		o[r] = (double)n * len / (t1 - t0) / 1e9;
	}
	if (!rc) {
		qsort(s, 5, sizeof(double), cmp_double);
		qsort(o, 5, sizeof(double), cmp_double);
		*seal_gbs = s[2];
		*open_gbs = o[2];
	}
out:
	encshim_aead_free(a);
	sodium_memzero(key, sizeof(key));
	free(pt);
	free(ct);
	return rc;
}

static void cpu_features(void)
{
	printf("cpu:      aesni=%s pclmul=%s avx2=%s avx512f=%s vaes=%s\n",
	       sodium_runtime_has_aesni() ? "yes" : "no",
	       sodium_runtime_has_pclmul() ? "yes" : "no",
	       sodium_runtime_has_avx2() ? "yes" : "no",
	       sodium_runtime_has_avx512f() ? "yes" : "no",
	       __builtin_cpu_supports("vaes") ? "yes" : "no");
}

static void backends(int measure)
{
	static const enum encshim_backend all[] = { ENCSHIM_BACKEND_IPSECMB,
						    ENCSHIM_BACKEND_OPENSSL,
						    ENCSHIM_BACKEND_SODIUM };
	static const size_t sizes[] = { 1024, 16384, 1 << 20 };

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		enum encshim_backend got;
		const char *why;

		if (encshim_backend_resolve(all[i], &got, &why)) {
			printf("backend:  %-8s unusable: %s\n",
			       encshim_backend_name(all[i]), why);
			continue;
		}
		printf("backend:  %-8s usable", encshim_backend_name(all[i]));
		for (size_t k = 0; measure && k < 3; k++) {
			double s, o;

			if (rate(all[i], sizes[k], &s, &o) == 0)
				printf("  %zu B: seal %.2f open %.2f GB/s",
				       sizes[k], s, o);
		}
		printf("\n");
	}
}

int cmd_info(int argc, char **argv)
{
	enum encshim_backend want, got;
	const char *why = NULL;
	char path[4096], why_env[ENCSHIM_ENV_WHY_BYTES];
	struct encshim_verbs_env verbs;
	uint8_t secret[32];
	int measure = 1, rc;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--no-measure")) {
			measure = 0;
		} else {
			FILE *f = strcmp(argv[i], "--help") ? stderr : stdout;

			fprintf(f, "usage: encshim info [--no-measure]\n\n"
				   "Prints the version, the AES-256-GCM backend that ENCSHIM_BACKEND\n"
				   "selects and why, CPU features, the single-core seal/open rate of\n"
				   "each backend (median of 5 rounds), the job secret's state and the\n"
				   "verbs interposer's settings. Exit 2 when an ENCSHIM_* value is refused.\n");
			return f == stdout ? EXIT_OK : EXIT_USAGE;
		}
	}
	printf("encshim %s (wire version 1, AES-256-GCM)\n", PACKAGE_VERSION);
	printf("libs:     libsodium %s%s%s\n", sodium_version_string(),
#ifdef HAVE_OPENSSL
	       ", OpenSSL libcrypto",
#else
	       " (OpenSSL backend not built)",
#endif
#ifdef HAVE_IPSEC_MB
	       ", Intel ipsec-mb"
#else
	       " (ipsec-mb backend not built)"
#endif
	);
	cpu_features();
	if (encshim_env_backend(&want, why_env)) {
		printf("selected: none: %s\n", why_env);
		return EXIT_USAGE;
	}
	rc = encshim_backend_resolve(want, &got, &why);
	printf("selected: %s (%s)\n", rc ? "none" : encshim_backend_name(got), why);
	backends(measure);
	rc = encshim_keyfile_path(path, sizeof(path));
	if (!rc)
		rc = encshim_keyfile_load(path, secret);
	sodium_memzero(secret, sizeof(secret));
	printf("key file: %s: %s\n", rc == ENCSHIM_E_ENV ? "$ENCSHIM_KEY_FILE" : path,
	       rc ? encshim_strerror(rc) : "ok (0600, well formed)");
	if (encshim_env_verbs(&verbs, why_env)) {
		printf("verbs:    refused: %s\n", why_env);
		return EXIT_USAGE;
	}
	printf("verbs:    one-sided %s, stats %s, HELLO timeout %u s, "
	       "progress thread %s\n",
	       verbs.allow_one_sided ? "ALLOWED IN CLEAR" : "refused",
	       verbs.stats ? "on" : "off", verbs.hello_timeout,
	       verbs.progress ? "on" : "off");
	return EXIT_OK;
}

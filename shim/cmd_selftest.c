/* SPDX-License-Identifier: MIT */
/*
 * encshim selftest: two in-process parties with a fresh secret exchange
 * frames through every pair of backends; tampered, replayed and
 * misrouted frames must be refused. A quick check of an installation.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "commands.h"
#include "encshim/session.h"

struct side {
	struct encshim_local *local;
	struct encshim_peer *peer;
};

static int pair(struct side *a, struct side *b, enum encshim_backend ba,
		enum encshim_backend bb)
{
	uint8_t secret[32], pa[32], pb[32];
	int rc;

	randombytes_buf(secret, sizeof(secret));
	rc = encshim_local_new(&a->local, secret, "selftest", 8, "rank0", 5, ba);
	if (!rc)
		rc = encshim_local_new(&b->local, secret, "selftest", 8, "rank1", 5, bb);
	sodium_memzero(secret, sizeof(secret));
	if (rc)
		return rc;
	encshim_local_public_key(a->local, pa);
	encshim_local_public_key(b->local, pb);
	rc = encshim_peer_new(&a->peer, a->local, "rank1", 5, pb, 0);
	return rc ? rc : encshim_peer_new(&b->peer, b->local, "rank0", 5, pa, 0);
}

static void unpair(struct side *a, struct side *b)
{
	encshim_peer_free(a->peer);
	encshim_peer_free(b->peer);
	encshim_local_free(a->local);
	encshim_local_free(b->local);
}

static int expect(const char *what, int got, int want)
{
	printf("  %-44s %s\n", what, got == want ? "ok" : "FAILED");
	if (got != want)
		printf("    got: %s\n", encshim_strerror(got));
	return got != want;
}

static int run(enum encshim_backend ba, enum encshim_backend bb)
{
	static const char env[] = "src=0 dst=1 tag=7";
	size_t len = 1 << 16;
	uint8_t *msg = malloc(len), *frame = malloc(len + ENCSHIM_OVERHEAD),
		*out = malloc(len);
	struct side a = { 0 }, b = { 0 };
	int fails = 0, rc;

	printf("%s -> %s\n", encshim_backend_name(ba), encshim_backend_name(bb));
	if (!msg || !frame || !out) {
		fails = 1;
		goto out;
	}
	randombytes_buf(msg, len);
	rc = pair(&a, &b, ba, bb);
	if (expect("key negotiation", rc, 0))
		goto fail;
	rc = encshim_peer_seal(a.peer, env, sizeof(env), msg, len, frame);
	fails += expect("seal 64 KiB", rc, 0);
	rc = encshim_peer_open(b.peer, env, sizeof(env), frame, len + ENCSHIM_OVERHEAD, out);
	fails += expect("open 64 KiB, plaintext intact", rc ? rc : memcmp(msg, out, len), 0);
	rc = encshim_peer_open(b.peer, env, sizeof(env), frame, len + ENCSHIM_OVERHEAD, out);
	fails += expect("replayed frame refused", rc, ENCSHIM_E_REPLAY);
	rc = encshim_peer_seal(a.peer, env, sizeof(env), msg, len, frame);
	frame[ENCSHIM_HEADER_BYTES + 100] ^= 1;
	fails += expect("seal, then flip one ciphertext bit", rc, 0);
	rc = encshim_peer_open(b.peer, env, sizeof(env), frame, len + ENCSHIM_OVERHEAD, out);
	fails += expect("tampered frame refused", rc, ENCSHIM_E_AUTH);
	frame[ENCSHIM_HEADER_BYTES + 100] ^= 1;
	rc = encshim_peer_open(b.peer, "src=0 dst=1 tag=8", sizeof(env), frame,
			       len + ENCSHIM_OVERHEAD, out);
	fails += expect("frame with another tag refused", rc, ENCSHIM_E_AUTH);
	rc = encshim_peer_open(a.peer, env, sizeof(env), frame, len + ENCSHIM_OVERHEAD, out);
	fails += expect("frame reflected to its sender refused", rc, ENCSHIM_E_AUTH);
	goto out;
fail:
	fails++;
out:
	unpair(&a, &b);
	free(msg);
	free(frame);
	free(out);
	return fails;
}

int cmd_selftest(int argc, char **argv)
{
	static const enum encshim_backend all[] = { ENCSHIM_BACKEND_IPSECMB,
						    ENCSHIM_BACKEND_OPENSSL,
						    ENCSHIM_BACKEND_SODIUM };
	const size_t n = sizeof(all) / sizeof(all[0]);
	int fails = 0, ran = 0;

	if (argc > 1) {
		FILE *f = strcmp(argv[1], "--help") ? stderr : stdout;

		fprintf(f, "usage: encshim selftest\n\nSeals and opens frames between two "
			   "in-process parties through every usable pair\nof backends and checks "
			   "that tampered, replayed, misrouted and reflected\nframes are refused.\n");
		return f == stdout ? EXIT_OK : EXIT_USAGE;
	}
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++) {
			enum encshim_backend g;

			if (encshim_backend_resolve(all[i], &g, NULL) ||
			    encshim_backend_resolve(all[j], &g, NULL))
				continue;
			fails += run(all[i], all[j]);
			ran++;
		}
	printf("selftest: %s (%d backend pairs)\n", fails || !ran ? "FAILED" : "passed", ran);
	return fails || !ran ? EXIT_FAIL : EXIT_OK;
}

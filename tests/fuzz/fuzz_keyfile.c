/* SPDX-License-Identifier: MIT */
/* libFuzzer target: arbitrary key file contents must load or be refused
 * with a key error, and never leave a half-loaded secret. */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sodium.h>

#include "encshim.h"

static char path[] = "/tmp/encshim-fuzz-key.XXXXXX";

static void remove_file(void)
{
	unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int made;
	uint8_t secret[32];
	int fd, rc;

	/* A file of our own (mkstemp: 0600, never a stale file another
	 * process left with this name), rewritten for every input. */
	if (!made) {
		if ((fd = mkstemp(path)) < 0 || close(fd))
			abort();
		atexit(remove_file);
		made = 1;
	}
	fd = open(path, O_WRONLY | O_TRUNC);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size || close(fd))
		abort();
	rc = encshim_keyfile_load(path, secret);
	if (rc != 0 && rc != ENCSHIM_E_KEY_FORMAT) {
		fprintf(stderr, "keyfile_load: %d (%s)\n", rc, encshim_strerror(rc));
		abort();
	}
	if (rc != 0 && !sodium_is_zero(secret, 32))
		abort();
	return 0;
}

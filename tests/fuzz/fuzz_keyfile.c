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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[64];
	uint8_t secret[32];
	int fd, rc;

	if (!path[0])
		snprintf(path, sizeof(path), "/tmp/encshim-fuzz-key.%ld", (long)getpid());
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size || close(fd))
		abort();
	rc = encshim_keyfile_load(path, secret);
	if (rc != 0 && rc != ENCSHIM_E_KEY_FORMAT)
		abort();
	if (rc != 0 && !sodium_is_zero(secret, 32))
		abort();
	return 0;
}

/* SPDX-License-Identifier: MIT */
/* The job secret file: checks that fail closed with a fix in the message. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>

#include "encshim/keyfile.h"
#include "encshim/wire.h"

#define PREFIX_LEN (sizeof(ENCSHIM_KEYFILE_PREFIX) - 1)
#define LINE_LEN (PREFIX_LEN + 2 * ENCSHIM_SECRET_BYTES)

int encshim_keyfile_path(char *buf, size_t buflen)
{
	const char *env = getenv("ENCSHIM_KEY_FILE"), *home;
	struct passwd *pw;
	int n;

	if (env) {
		if (!*env)
			return ENCSHIM_E_ENV;
		n = snprintf(buf, buflen, "%s", env);
	} else {
		home = getenv("HOME");
		if ((!home || !*home) && (pw = getpwuid(geteuid())))
			home = pw->pw_dir;
		if (!home || !*home)
			return ENCSHIM_E_KEY_MISSING;
		n = snprintf(buf, buflen, "%s/%s", home, ENCSHIM_KEYFILE_DEFAULT);
	}
	return n < 0 || (size_t)n >= buflen ? ENCSHIM_E_INVAL : 0;
}

static int open_checked(const char *path)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return ENCSHIM_E_KEY_MISSING;
		return errno == ELOOP ? ENCSHIM_E_KEY_NOTREG : ENCSHIM_E_KEY_IO;
	}
	if (fstat(fd, &st) != 0) {
		close(fd);
		return ENCSHIM_E_KEY_IO;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return ENCSHIM_E_KEY_NOTREG;
	}
	if (st.st_uid != geteuid() || (st.st_mode & (S_IRWXG | S_IRWXO))) {
		close(fd);
		return ENCSHIM_E_KEY_PERMS;
	}
	return fd;
}

/* Accepts exactly PREFIX || 64 lowercase hex || optional "\n". */
static int parse(const char *buf, size_t n, uint8_t secret[32])
{
	size_t bin_len;

	if (n == LINE_LEN + 1 && buf[LINE_LEN] == '\n')
		n--;
	if (n != LINE_LEN || memcmp(buf, ENCSHIM_KEYFILE_PREFIX, PREFIX_LEN))
		return ENCSHIM_E_KEY_FORMAT;
	for (size_t i = PREFIX_LEN; i < n; i++)
		if (!((buf[i] >= '0' && buf[i] <= '9') ||
		      (buf[i] >= 'a' && buf[i] <= 'f')))
			return ENCSHIM_E_KEY_FORMAT;
	if (sodium_hex2bin(secret, 32, buf + PREFIX_LEN, n - PREFIX_LEN, NULL,
			   &bin_len, NULL) != 0 ||
	    bin_len != 32)
		return ENCSHIM_E_KEY_FORMAT;
	return 0;
}

int encshim_keyfile_load(const char *path, uint8_t secret[32])
{
	char buf[LINE_LEN + 2]; /* one byte more than a valid file */
	size_t n = 0;
	ssize_t r;
	int fd, rc;

	sodium_memzero(secret, 32);
	fd = open_checked(path);
	if (fd < 0)
		return fd;
	while (n < sizeof(buf) && (r = read(fd, buf + n, sizeof(buf) - n)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = ENCSHIM_E_KEY_IO;
			goto out;
		}
		n += (size_t)r;
	}
	rc = parse(buf, n, secret);
out:
	close(fd);
	sodium_memzero(buf, sizeof(buf));
	if (rc)
		sodium_memzero(secret, 32);
	return rc;
}

static int ensure_parent(const char *path)
{
	char dir[4096];
	char *slash;

	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
		return ENCSHIM_E_INVAL;
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return ENCSHIM_E_KEY_IO;
	return 0;
}

static int write_all(int fd, const char *buf, size_t n)
{
	while (n) {
		ssize_t w = write(fd, buf, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		buf += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * Writes to PATH.tmp.PID with O_EXCL and renames: a reader sees the old
 * or the new secret, never a partial one; O_EXCL|O_CREAT with 0600
 * means the secret is never readable by others, even briefly.
 */
int encshim_keyfile_generate(const char *path, int force)
{
	uint8_t secret[32];
	char line[LINE_LEN + 2], tmp[4096];
	struct stat st;
	int fd, rc = 0;

	if (!force && lstat(path, &st) == 0)
		return ENCSHIM_E_KEY_EXISTS;
	rc = ensure_parent(path);
	if (rc)
		return rc;
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >=
	    (int)sizeof(tmp))
		return ENCSHIM_E_INVAL;
	randombytes_buf(secret, sizeof(secret));
	memcpy(line, ENCSHIM_KEYFILE_PREFIX, PREFIX_LEN);
	sodium_bin2hex(line + PREFIX_LEN, sizeof(line) - PREFIX_LEN, secret,
		       sizeof(secret));
	line[LINE_LEN] = '\n';
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		  0600);
	if (fd < 0) {
		rc = ENCSHIM_E_KEY_IO;
		goto out;
	}
	if (fchmod(fd, 0600) != 0 || write_all(fd, line, LINE_LEN + 1) != 0 ||
	    fsync(fd) != 0)
		rc = ENCSHIM_E_KEY_IO;
	if (close(fd) != 0)
		rc = ENCSHIM_E_KEY_IO;
	if (!rc && (force ? rename(tmp, path) : link(tmp, path)) != 0)
		rc = errno == EEXIST ? ENCSHIM_E_KEY_EXISTS : ENCSHIM_E_KEY_IO;
	if (rc || !force)
		unlink(tmp);
out:
	sodium_memzero(secret, sizeof(secret));
	sodium_memzero(line, sizeof(line));
	return rc;
}

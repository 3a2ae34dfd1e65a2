/* SPDX-License-Identifier: MIT */
/*
 * Test-only LD_PRELOAD library: an on-path attacker below MPI. It acts on
 * writes of at least TAMPER_MIN_LEN bytes (default 256) to a TCP socket
 * whose local or remote port lies in [TAMPER_PORT_MIN, TAMPER_PORT_MAX]
 * (the BTL's ports, so that mpirun's own control connections are left
 * alone). TAMPER_MODE=flip (default) flips one bit in the last byte of
 * each such write; TAMPER_MODE=replay keeps the last TAMPER_TAIL bytes of
 * the first such write (a whole frame, for messages of one size) and puts
 * them in place of the last TAMPER_TAIL bytes of every later write of the
 * same length: the transport's headers stay valid, the frame is an old
 * one. The caller's buffer is never changed: altered bytes go out from a
 * copy.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

ssize_t write(int fd, const void *buf, size_t len);
ssize_t writev(int fd, const struct iovec *iov, int iovcnt);
ssize_t sendmsg(int fd, const struct msghdr *msg, int flags);

static int port_of(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	return -1;
}

static int env_int(const char *name, int dflt)
{
	const char *v = getenv(name);

	return v && *v ? atoi(v) : dflt;
}

static int targeted(int fd, size_t len)
{
	struct sockaddr_storage a, b;
	socklen_t la = sizeof(a), lb = sizeof(b);
	int lo = env_int("TAMPER_PORT_MIN", 0), hi = env_int("TAMPER_PORT_MAX", 0);
	int pa, pb;

	if (len < (size_t)env_int("TAMPER_MIN_LEN", 256) || hi <= 0)
		return 0;
	if (getsockname(fd, (struct sockaddr *)&a, &la) ||
	    getpeername(fd, (struct sockaddr *)&b, &lb))
		return 0; /* not a connected socket */
	pa = port_of(&a);
	pb = port_of(&b);
	return (pa >= lo && pa <= hi) || (pb >= lo && pb <= hi);
}

static size_t iov_total(const struct iovec *iov, int n)
{
	size_t t = 0;

	for (int i = 0; i < n; i++)
		t += iov[i].iov_len;
	return t;
}

static int replaying(void)
{
	const char *m = getenv("TAMPER_MODE");

	return m && !strcmp(m, "replay");
}

/* Replay: the whole write as one buffer, its tail taken from the first
 * write of this length. NULL when there is nothing to replay yet. */
static struct iovec *replayed(const struct iovec *iov, int n, void **copy)
{
	static unsigned char *saved;
	static size_t saved_total;
	size_t total = iov_total(iov, n), tail = (size_t)env_int("TAMPER_TAIL", 0);
	struct iovec *out;
	unsigned char *flat;

	if (tail == 0 || tail > total)
		return NULL;
	flat = malloc(total);
	out = malloc(sizeof(*out));
	if (!flat || !out) {
		free(flat);
		free(out);
		return NULL;
	}
	for (size_t off = 0, i = 0; i < (size_t)n; off += iov[i].iov_len, i++)
		memcpy(flat + off, iov[i].iov_base, iov[i].iov_len);
	if (!saved) {
		saved = malloc(tail);
		if (saved) {
			memcpy(saved, flat + total - tail, tail);
			saved_total = total;
		}
		free(flat);
		free(out);
		return NULL;
	}
	if (total != saved_total) {
		free(flat);
		free(out);
		return NULL;
	}
	memcpy(flat + total - tail, saved, tail);
	out->iov_base = flat;
	out->iov_len = total;
	*copy = flat;
	return out;
}

/* Copies iov with its last non-empty buffer duplicated and altered. */
static struct iovec *altered(const struct iovec *iov, int n, void **copy)
{
	struct iovec *out = malloc(sizeof(*out) * (size_t)n);
	int last = n - 1;

	while (last > 0 && iov[last].iov_len == 0)
		last--;
	*copy = malloc(iov[last].iov_len);
	if (!out || !*copy) {
		free(out);
		free(*copy);
		return NULL;
	}
	memcpy(out, iov, sizeof(*out) * (size_t)n);
	memcpy(*copy, iov[last].iov_base, iov[last].iov_len);
	((unsigned char *)*copy)[iov[last].iov_len - 1] ^= 0x01;
	out[last].iov_base = *copy;
	return out;
}

ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
	static ssize_t (*real)(int, const struct iovec *, int);
	struct iovec *alt;
	void *copy = NULL;
	ssize_t rc;

	if (!real)
		real = (ssize_t(*)(int, const struct iovec *, int))dlsym(RTLD_NEXT, "writev");
	if (iovcnt <= 0 || !targeted(fd, iov_total(iov, iovcnt)))
		return real(fd, iov, iovcnt);
	if (replaying()) {
		if (!(alt = replayed(iov, iovcnt, &copy)))
			return real(fd, iov, iovcnt);
		rc = real(fd, alt, 1);
		/* report what the caller asked for: the BTL must not resend */
		if (rc == (ssize_t)alt->iov_len)
			rc = (ssize_t)iov_total(iov, iovcnt);
	} else {
		if (!(alt = altered(iov, iovcnt, &copy)))
			return real(fd, iov, iovcnt);
		rc = real(fd, alt, iovcnt);
	}
	free(alt);
	free(copy);
	return rc;
}

ssize_t write(int fd, const void *buf, size_t len)
{
	static ssize_t (*real)(int, const void *, size_t);
	struct iovec one = { (void *)buf, len };

	if (!real)
		real = (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
	if (len && targeted(fd, len))
		return writev(fd, &one, 1);
	return real(fd, buf, len);
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	static ssize_t (*real)(int, const struct msghdr *, int);
	struct msghdr m = *msg;
	void *copy = NULL;
	ssize_t rc;

	if (!real)
		real = (ssize_t(*)(int, const struct msghdr *, int))dlsym(RTLD_NEXT, "sendmsg");
	if (msg->msg_iovlen <= 0 || replaying() ||
	    !targeted(fd, iov_total(msg->msg_iov, (int)msg->msg_iovlen)) ||
	    !(m.msg_iov = altered(msg->msg_iov, (int)msg->msg_iovlen, &copy)))
		return real(fd, msg, flags);
	rc = real(fd, &m, flags);
	free(m.msg_iov);
	free(copy);
	return rc;
}

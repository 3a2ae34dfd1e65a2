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
 * one. Two modes act on the first two such writes of one length, the
 * first being held back until the second comes:
 * TAMPER_MODE=swap sends them in the other order, each keeping the
 * TAMPER_KEEP_LEN bytes at TAMPER_KEEP_OFF of its slot (ob1's match
 * sequence number: the attacker rewrites the transport's ordering so
 * that the PML sees nothing wrong); TAMPER_MODE=drop discards the first
 * one's last TAMPER_TAIL bytes (its frame) and sends the second one's in
 * both slots. TAMPER_MODE=swapany is swap for the first two such writes
 * on one socket whatever their lengths (an eager message and a
 * rendezvous header, attack3_order.sh). TAMPER_MODE=vanish discards the first such write (its
 * whole message, reported as written) and, where TAMPER_SEQ_OFF is set,
 * lowers by one the host-order u16 at that offset of every later such
 * write on the same socket (ob1's hdr_seq: the PML sees no gap); UCX's
 * tcp transport needs no renumbering. The caller's buffer is never
 * changed: altered bytes go out
 * from a copy. send() (UCX's tcp transport), and sendmsg() in the
 * replay, xor, swap and drop modes, go through writev(); TAMPER_LOG=1 prints
 * the length of every targeted write.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

ssize_t write(int fd, const void *buf, size_t len);
ssize_t writev(int fd, const struct iovec *iov, int iovcnt);
ssize_t sendmsg(int fd, const struct msghdr *msg, int flags);
ssize_t send(int fd, const void *buf, size_t len, int flags);

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

static int mode_is(const char *want)
{
	const char *m = getenv("TAMPER_MODE");

	return m && !strcmp(m, want);
}

static int replaying(void)
{
	return mode_is("replay") || mode_is("xor");
}

static int holding(void)
{
	return mode_is("swap") || mode_is("swapany") || mode_is("drop") ||
	       mode_is("vanish");
}

static unsigned char *flatten(const struct iovec *iov, int n, size_t total)
{
	unsigned char *flat = malloc(total ? total : 1);

	for (size_t off = 0, i = 0; flat && i < (size_t)n; off += iov[i].iov_len, i++)
		memcpy(flat + off, iov[i].iov_base, iov[i].iov_len);
	return flat;
}

static int write_all(ssize_t (*real)(int, const struct iovec *, int), int fd,
		     const unsigned char *b, size_t len)
{
	while (len > 0) {
		struct iovec one = { (void *)b, len };
		ssize_t rc = real(fd, &one, 1);

		if (rc < 0)
			return -1; /* test tool: the job fails visibly */
		b += rc;
		len -= (size_t)rc;
	}
	return 0;
}

/* Vanish: the first targeted write is dropped whole; later ones on its
 * socket are renumbered. -1: pass the write through. */
static ssize_t vanished(ssize_t (*real)(int, const struct iovec *, int), int fd,
			const struct iovec *iov, int n)
{
	static int gone_fd = -1;
	size_t total = iov_total(iov, n);
	int off = env_int("TAMPER_SEQ_OFF", -1);
	unsigned char *b;
	unsigned short seq;

	if (gone_fd < 0) {
		gone_fd = fd;
		return (ssize_t)total;
	}
	if (fd != gone_fd || off < 0 || (size_t)off + sizeof(seq) > total)
		return -1;
	if (!(b = flatten(iov, n, total)))
		return -1;
	memcpy(&seq, b + off, sizeof(seq));
	seq--;
	memcpy(b + off, &seq, sizeof(seq));
	if (write_all(real, fd, b, total))
		total = 0;
	free(b);
	return total ? (ssize_t)total : -1;
}

/* Swap/drop: the first targeted write is held (reported as written); at
 * the next one of the same length on the same socket both go out,
 * altered. Once only. -1: not acted on, pass the write through. */
static ssize_t held(ssize_t (*real)(int, const struct iovec *, int), int fd,
		    const struct iovec *iov, int n)
{
	static unsigned char *first;
	static size_t first_len;
	static int first_fd = -1, done;
	size_t total = iov_total(iov, n), tail = (size_t)env_int("TAMPER_TAIL", 0);
	size_t koff = (size_t)env_int("TAMPER_KEEP_OFF", 0);
	size_t klen = (size_t)env_int("TAMPER_KEEP_LEN", 0);
	unsigned char *second, keep[16];

	if (mode_is("vanish"))
		return vanished(real, fd, iov, n);
	if (done || (first && (fd != first_fd ||
			       (total != first_len && !mode_is("swapany")))))
		return -1;
	if (!first) {
		if (!(first = flatten(iov, n, total)))
			return -1;
		first_len = total;
		first_fd = fd;
		return (ssize_t)total;
	}
	done = 1;
	if (!(second = flatten(iov, n, total)))
		return -1;
	if ((mode_is("swap") || mode_is("swapany")) && klen <= sizeof(keep) &&
	    koff + klen <= total && koff + klen <= first_len) {
		memcpy(keep, first + koff, klen);
		memcpy(first + koff, second + koff, klen);
		memcpy(second + koff, keep, klen);
		if (write_all(real, fd, second, total) ||
		    write_all(real, fd, first, first_len))
			total = 0;
	} else if (mode_is("drop") && tail <= total) {
		memcpy(first + total - tail, second + total - tail, tail);
		if (write_all(real, fd, first, total) || write_all(real, fd, second, total))
			total = 0;
	}
	free(second);
	return total ? (ssize_t)total : -1;
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

/* Xor: the whole write as one buffer, one byte altered. NULL when the
 * write is too short. */
static struct iovec *xored(const struct iovec *iov, int n, void **copy)
{
	size_t total = iov_total(iov, n), end = (size_t)env_int("TAMPER_XOR_END", 0);
	struct iovec *out;
	unsigned char *flat;

	if (end == 0 || end > total)
		return NULL;
	flat = flatten(iov, n, total);
	out = malloc(sizeof(*out));
	if (!flat || !out) {
		free(flat);
		free(out);
		return NULL;
	}
	flat[total - end] ^= (unsigned char)env_int("TAMPER_XOR_MASK", 1);
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
	if (env_int("TAMPER_LOG", 0)) {
		char line[64];
		int n = snprintf(line, sizeof(line), "tamper: fd %d write of %zu\n", fd,
				 iov_total(iov, iovcnt));
		struct iovec l = { line, (size_t)n };

		real(2, &l, 1);
	}
	if (holding()) {
		rc = held(real, fd, iov, iovcnt);
		return rc >= 0 ? rc : real(fd, iov, iovcnt);
	}
	if (replaying()) {
		alt = mode_is("xor") ? xored(iov, iovcnt, &copy)
				     : replayed(iov, iovcnt, &copy);
		if (!alt)
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

/* Replay, swap and drop rewrite whole writes: sendmsg() and send() (UCX's
 * tcp transport) go through writev() then; only flip keeps sendmsg(). */
ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	static ssize_t (*real)(int, const struct msghdr *, int);
	struct msghdr m = *msg;
	void *copy = NULL;
	ssize_t rc;

	if (!real)
		real = (ssize_t(*)(int, const struct msghdr *, int))dlsym(RTLD_NEXT, "sendmsg");
	if (msg->msg_iovlen > 0 && (replaying() || holding()) && !msg->msg_controllen &&
	    targeted(fd, iov_total(msg->msg_iov, (int)msg->msg_iovlen)))
		return writev(fd, msg->msg_iov, (int)msg->msg_iovlen);
	if (msg->msg_iovlen <= 0 || replaying() || holding() ||
	    !targeted(fd, iov_total(msg->msg_iov, (int)msg->msg_iovlen)) ||
	    !(m.msg_iov = altered(msg->msg_iov, (int)msg->msg_iovlen, &copy)))
		return real(fd, msg, flags);
	rc = real(fd, &m, flags);
	free(m.msg_iov);
	free(copy);
	return rc;
}

ssize_t send(int fd, const void *buf, size_t len, int flags)
{
	static ssize_t (*real)(int, const void *, size_t, int);
	struct iovec one = { (void *)buf, len };

	if (!real)
		real = (ssize_t(*)(int, const void *, size_t, int))dlsym(RTLD_NEXT, "send");
	if (len && targeted(fd, len))
		return writev(fd, &one, 1);
	return real(fd, buf, len, flags);
}

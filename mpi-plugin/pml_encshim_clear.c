/* SPDX-License-Identifier: MIT */
/*
 * Intra-node policy (pml_encshim_local, docs/PROTOCOL.md section 11,
 * "Local-clear frames"). With `clear`, messages between two ranks of one
 * node go as plaintext through the wrapped PML. Open MPI's own locality
 * flags come from launcher data, which the attacker of section 1 may
 * rewrite, so they are not the proof: each rank draws a random token
 * and writes it to a file of its own uid, mode 0600, in a node-local
 * tmpfs (pml_encshim_local_dir). A peer is local-clear only if Open MPI
 * says it is on our node AND we can read its token file; a clear frame
 * carries the receiver's token, which only processes of our uid on this
 * node can know. Everything that fails a check seals (sealing is always
 * correct).
 */
#include "pml_encshim.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <sodium.h>

#include "ompi/mca/bml/base/base.h"
#include "opal/mca/base/mca_base_var.h"

/* statfs(2) f_type of the file systems that live in this node's memory */
#define TMPFS_FS 0x01021994
#define RAMFS_FS 0x858458f6

static bool clear_mode;  /* pml_encshim_local is clear and our file exists */
static bool want_clear;  /* pml_encshim_local is clear */
static uint8_t my_token[ENCSHIM_MPI_TOKEN_BYTES];
static char my_path[PATH_MAX];
/* the process that made my_path: a child forked from it inherits the
 * exit handler, and its exit() must not remove the parent's file */
static pid_t my_pid;
static char name_hash[2 * 16 + 1]; /* hex of H_K(J), 16 bytes */
/* K: names keyed by the job secret, so a job with another secret never
 * finds our files even when an attacker gives it our J (section 11) */
static uint8_t name_key[crypto_generichash_KEYBYTES];

static const char *dir(void)
{
	const char *d = encshim_param.local_dir;

	return NULL == d || '\0' == d[0] ? "/dev/shm" : d;
}

const char *encshim_clear_dir(void)
{
	return dir();
}

int encshim_clear_init(const uint8_t secret[ENCSHIM_SECRET_BYTES])
{
	static const char label[] = "encshim v1 local-clear names";

	const char *m = encshim_param.local;

	if (NULL == m || '\0' == m[0] || 0 == strcmp(m, "seal"))
		return OMPI_SUCCESS;
	if (0 != strcmp(m, "clear")) {
		encshim_log("pml_encshim_local is '%s': use seal (the default) "
			    "or clear", m);
		return OMPI_ERROR;
	}
	want_clear = true;
	randombytes_buf(my_token, sizeof(my_token));
	crypto_generichash(name_key, sizeof(name_key), (const uint8_t *)label,
			   sizeof(label) - 1, secret, ENCSHIM_SECRET_BYTES);
	return OMPI_SUCCESS;
}

/* 0 if path is in a file system that lives in this node's memory, else
 * an errno value (EXDEV: another file system). */
static int memory_fs(const char *path)
{
	struct statfs fs;

	if (0 != statfs(path, &fs))
		return errno;
	return TMPFS_FS == (unsigned long)fs.f_type ||
			       RAMFS_FS == (unsigned long)fs.f_type
		       ? 0
		       : EXDEV;
}

/* The directory must be in this node's memory: a token file on a shared
 * file system would let another node pass for local. */
static bool dir_is_local(void)
{
	int err = memory_fs(dir());

	if (0 != err && EXDEV != err) {
		encshim_log("pml_encshim_local_dir %s: %s; sealing every "
			    "message", dir(), strerror(err));
		return false;
	}
	if (EXDEV == err) {
		encshim_log("pml_encshim_local_dir %s is not a tmpfs or ramfs "
			    "(node-local memory); sealing every message: name "
			    "a tmpfs such as /dev/shm", dir());
		return false;
	}
	return true;
}

static int path_of(char *out, size_t len, uint32_t vpid)
{
	int n = snprintf(out, len, "%s/encshim-%s-%u", dir(), name_hash,
			 (unsigned)vpid);

	return n > 0 && (size_t)n < len ? 0 : -1;
}

static bool write_token(void)
{
	int fd = open(my_path, O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY |
				       O_CLOEXEC, 0600);
	bool ok;

	if (fd < 0) {
		encshim_log("cannot create the token file %s: %s; sealing "
			    "every message", my_path, strerror(errno));
		return false;
	}
	/* exactly 0600 whatever the umask: readers insist on it */
	ok = 0 == fchmod(fd, 0600) &&
	     (ssize_t)sizeof(my_token) == write(fd, my_token, sizeof(my_token));
	if (0 != close(fd))
		ok = false;
	if (!ok) {
		encshim_log("cannot write the token file %s: %s; sealing "
			    "every message", my_path, strerror(errno));
		(void)unlink(my_path);
	}
	return ok;
}

static void unlink_mine(void)
{
	if ('\0' != my_path[0] && getpid() == my_pid)
		(void)unlink(my_path);
	my_path[0] = '\0';
}

void encshim_clear_publish(const uint8_t job[ENCSHIM_MPI_JOB_BYTES])
{
	uint8_t h[16];

	if (!want_clear || clear_mode)
		return;
	/* J holds rank 0's random nonce: two jobs never share a name */
	crypto_generichash(h, sizeof(h), job, ENCSHIM_MPI_JOB_BYTES, name_key,
			   sizeof(name_key));
	sodium_bin2hex(name_hash, sizeof(name_hash), h, sizeof(h));
	if (!dir_is_local() ||
	    0 != path_of(my_path, sizeof(my_path), encshim_my_vpid())) {
		my_path[0] = '\0';
		return;
	}
	my_pid = getpid();
	clear_mode = write_token();
	if (!clear_mode)
		my_path[0] = '\0';
	/* an exit without MPI_Finalize; a rank killed, or ended by
	 * MPI_Abort (a refused frame by default: Open MPI's abort calls
	 * _exit, and mpirun kills the other ranks), leaves its file
	 * (unique name, never read again) */
	else if (0 != atexit(unlink_mine))
		encshim_log("cannot register the removal of %s at exit", my_path);
}

void encshim_clear_fini(void)
{
	unlink_mine();
	clear_mode = want_clear = false;
	sodium_memzero(my_token, sizeof(my_token));
	sodium_memzero(name_key, sizeof(name_key));
}

const uint8_t *encshim_clear_mine(void)
{
	return clear_mode ? my_token : NULL;
}

/* O_NONBLOCK: a FIFO planted under the name must not block us. */
bool encshim_clear_peer(uint32_t vpid, uint8_t token[ENCSHIM_MPI_TOKEN_BYTES])
{
	char path[PATH_MAX];
	struct stat st;
	bool ok;
	int fd;

	if (!clear_mode || 0 != path_of(path, sizeof(path), vpid))
		return false;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return false;
	ok = 0 == fstat(fd, &st) && S_ISREG(st.st_mode) &&
	     st.st_uid == geteuid() && 0600 == (st.st_mode & 07777) &&
	     (off_t)ENCSHIM_MPI_TOKEN_BYTES == st.st_size &&
	     (ssize_t)ENCSHIM_MPI_TOKEN_BYTES ==
		     read(fd, token, ENCSHIM_MPI_TOKEN_BYTES);
	(void)close(fd);
	if (!ok)
		sodium_memzero(token, ENCSHIM_MPI_TOKEN_BYTES);
	return ok;
}

/* Shared-memory BTLs: they reach only processes that mapped their
 * segment on this node. */
static bool btl_in_node(const mca_bml_base_btl_array_t *a)
{
	size_t i, n = mca_bml_base_btl_array_get_size((mca_bml_base_btl_array_t *)a);

	for (i = 0; i < n; i++) {
		const char *name = mca_bml_base_btl_array_get_index(
			(mca_bml_base_btl_array_t *)a, i)->btl->btl_component
			->btl_version.mca_component_name;

		if (0 != strcmp(name, "vader") && 0 != strcmp(name, "sm"))
			return false;
	}
	return true;
}

/* btl vader moves messages through segments it maps from files in its
 * backing directory (/dev/shm, else Open MPI's session directory under
 * TMPDIR, or btl_vader_backing_directory): on a disk the kernel writes
 * those pages out, on a network file system (NFS, Lustre) across the
 * wire. Clear frames only where that directory is node memory. */
static bool vader_in_memory(void)
{
	static atomic_bool told;
	char **v = NULL;
	int idx = -1, err = ENOENT;

	if (OPAL_SUCCESS ==
		    mca_base_var_find_by_name("btl_vader_backing_directory",
					      &idx) &&
	    OPAL_SUCCESS == mca_base_var_get_value(idx, &v, NULL, NULL) &&
	    NULL != v && NULL != *v)
		err = memory_fs(*v);
	if (0 != err && !atomic_exchange(&told, true))
		encshim_log("pml_encshim_local clear: btl vader keeps its "
			    "segments in %s, %s; sealing to every peer (name a "
			    "tmpfs: --mca btl_vader_backing_directory /dev/shm)",
			    NULL != v && NULL != *v ? *v : "(unknown)",
			    EXDEV == err ? "not a tmpfs or ramfs (node memory)"
					 : strerror(err));
	return 0 == err;
}

/* Whether the wrapped PML moves messages to proc only through this
 * node's memory. The token file proves that the peer named vpid runs
 * here, but the PML routes by launcher data (addresses, J), which may
 * point elsewhere (docs/PROTOCOL.md section 11, "Local-clear frames"):
 * only ob1 over vader/sm cannot carry a byte off the node. */
bool encshim_clear_path(ompi_proc_t *proc)
{
	static atomic_bool told;
	const char *pml = encshim_inner_name();
	mca_bml_base_endpoint_t *ep = NULL;
	bool ok = 0 == strcmp(pml, "ob1");

	if (ok)
		ep = mca_bml_base_get_endpoint(proc);
	ok = ok && NULL != ep &&
	     0 != mca_bml_base_btl_array_get_size(&ep->btl_eager) &&
	     btl_in_node(&ep->btl_eager) && btl_in_node(&ep->btl_send) &&
	     btl_in_node(&ep->btl_rdma);
	if (ok)
		return vader_in_memory();
	if (!atomic_exchange(&told, true))
		encshim_log("pml_encshim_local clear: rank %u is on this node, "
			    "but pml %s moves its messages through a transport "
			    "that launcher data could route off the node; "
			    "sealing to it (clear frames go only through ob1's "
			    "btl vader: --mca pml ob1 --mca btl self,vader,...)",
			    (unsigned)proc->super.proc_name.vpid, pml);
	return ok;
}

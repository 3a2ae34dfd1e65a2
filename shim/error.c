/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "encshim/error.h"

const char *encshim_strerror(int status)
{
	switch (status) {
	case ENCSHIM_OK:
		return "success";
	case ENCSHIM_E_INVAL:
		return "invalid argument (a bug in the caller; please report it)";
	case ENCSHIM_E_NOMEM:
		return "out of memory";
	case ENCSHIM_E_CRYPTO:
		return "the AES-256-GCM library failed; check that libcrypto/libsodium are intact";
	case ENCSHIM_E_NOBACKEND:
		return "no usable AES-256-GCM backend: the one ENCSHIM_BACKEND (pml_encshim_backend) names is not built in or this CPU lacks AES-NI/PCLMUL for it (`encshim info` says which); leave it unset for auto, or install libipsec-mb-dev / libssl-dev and rebuild";
	case ENCSHIM_E_MALFORMED:
		return "malformed frame (too short, or unknown version/type): the peer is not running a compatible encshim, or the data was corrupted";
	case ENCSHIM_E_AUTH:
		return "authentication failed: the frame was modified in transit, misrouted, or the peer uses a different job secret (check that every rank reads the same ENCSHIM_KEY_FILE)";
	case ENCSHIM_E_REPLAY:
		return "replayed frame: this frame was already delivered once; it was dropped";
	case ENCSHIM_E_STALE:
		return "frame older than the replay window: it was dropped; if the application reorders more than the window, raise the window size";
	case ENCSHIM_E_EPOCH:
		return "frame from a key epoch that is not adjacent to the current one: dropped";
	case ENCSHIM_E_TOOBIG:
		return "message larger than AES-GCM allows in one frame (64 GiB - 32 bytes)";
	case ENCSHIM_E_EXHAUSTED:
		return "sequence numbers of this peer pair are used up; restart the job to negotiate fresh keys";
	case ENCSHIM_E_PEERKEY:
		return "peer public key rejected (low-order point or a copy of our own): the key exchange was tampered with";
	case ENCSHIM_E_KEY_MISSING:
		return "job secret file not found: run `encshim keygen` (or point ENCSHIM_KEY_FILE at the job's secret)";
	case ENCSHIM_E_KEY_PERMS:
		return "job secret file is readable by group/others or not owned by you: run `chmod 600` on it (and chown it to the job's user)";
	case ENCSHIM_E_KEY_FORMAT:
		return "job secret file has the wrong size or format: regenerate it with `encshim keygen --force`";
	case ENCSHIM_E_KEY_NOTREG:
		return "job secret path is a symlink, directory or device: point ENCSHIM_KEY_FILE at a regular file";
	case ENCSHIM_E_KEY_IO:
		return "job secret file cannot be read or written (permissions of the file or its directory?)";
	case ENCSHIM_E_KEY_EXISTS:
		return "job secret file already exists: use `encshim keygen --force` to replace it (running jobs keep the old one)";
	case ENCSHIM_E_ORDER:
		return "frame out of order: an earlier frame of this ordered stream was dropped or reordered in transit; it was not delivered";
	case ENCSHIM_E_ENV:
		return "bad value in an ENCSHIM_* environment variable (see `encshim --help`)";
	default:
		return "unknown encshim error";
	}
}

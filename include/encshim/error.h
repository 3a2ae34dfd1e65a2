/* SPDX-License-Identifier: MIT */
/* Result codes of the core: 0 is success, every failure a negative code. */
#ifndef ENCSHIM_ERROR_H
#define ENCSHIM_ERROR_H

#define ENCSHIM_WUR __attribute__((warn_unused_result))

enum encshim_status {
	ENCSHIM_OK = 0,
	ENCSHIM_E_INVAL = -1,     /* bad argument (a bug in the caller) */
	ENCSHIM_E_NOMEM = -2,
	ENCSHIM_E_CRYPTO = -3,    /* the AEAD library failed */
	ENCSHIM_E_NOBACKEND = -4, /* backend asked for not built in or unusable here */
	ENCSHIM_E_MALFORMED = -5, /* frame too short, bad version/type/reserved */
	ENCSHIM_E_AUTH = -6,      /* tag mismatch: tampered, wrong key/envelope */
	ENCSHIM_E_REPLAY = -7,    /* authentic frame already delivered */
	ENCSHIM_E_STALE = -8,     /* authentic frame older than the window */
	ENCSHIM_E_EPOCH = -9,     /* epoch not adjacent to the current one */
	ENCSHIM_E_TOOBIG = -10,   /* over ENCSHIM_MAX_PLAINTEXT */
	ENCSHIM_E_EXHAUSTED = -11, /* sequence or epoch space used up */
	ENCSHIM_E_PEERKEY = -12,  /* peer public key of low order, or our own */
	ENCSHIM_E_KEY_MISSING = -13,
	ENCSHIM_E_KEY_PERMS = -14,
	ENCSHIM_E_KEY_FORMAT = -15,
	ENCSHIM_E_KEY_NOTREG = -16, /* symlink, directory, device */
	ENCSHIM_E_KEY_IO = -17,
	ENCSHIM_E_KEY_EXISTS = -18,
	ENCSHIM_E_ENV = -19,      /* bad value in an ENCSHIM_* variable */
	ENCSHIM_E_ORDER = -20,    /* authentic frame after a gap: lost or reordered */
};

/* Cause and fix of a status code, one sentence each; static storage. */
const char *encshim_strerror(int status);

#endif

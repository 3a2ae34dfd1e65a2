/* SPDX-License-Identifier: MIT */
/*
 * Settings read from ENCSHIM_* environment variables. Each one accepts
 * only the values documented for it (README.md); anything else is
 * ENCSHIM_E_ENV together with a message naming the variable, the value
 * and what is accepted, so that a misspelt "off" can never turn a
 * protection off. Unset or empty means the default.
 */
#ifndef ENCSHIM_ENV_H
#define ENCSHIM_ENV_H

#include <stddef.h>

#include "encshim/aead.h"
#include "encshim/error.h"

/* Size of the `why` buffer every parser takes: the message of a refused
 * value (a long value is cut, unprintable bytes shown as '?'). */
#define ENCSHIM_ENV_WHY_BYTES 256

/* One accepted word of an enumerated setting. */
struct encshim_env_choice {
	const char *word;
	int value;
};

/* 1, yes, true, on give 1; 0, no, false, off give 0 (lower case). */
int encshim_env_bool(const char *name, int dflt, int *out, char *why) ENCSHIM_WUR;

/* One of the n words of `choices`. */
int encshim_env_enum(const char *name, const struct encshim_env_choice *choices,
		     size_t n, int dflt, int *out, char *why) ENCSHIM_WUR;

/* A decimal number from min to max: digits only, no sign or space. */
int encshim_env_uint(const char *name, unsigned min, unsigned max, unsigned dflt,
		     unsigned *out, char *why) ENCSHIM_WUR;

/* ENCSHIM_BACKEND: auto, openssl or sodium (encshim_backend_parse). */
int encshim_env_backend(enum encshim_backend *out, char *why) ENCSHIM_WUR;

/* The verbs interposer's settings (docs/VERBS.md), read together by the
 * interposer and checked by `encshim preload` before it starts anything. */
#define ENCSHIM_HELLO_TIMEOUT_DEFAULT 60u
#define ENCSHIM_HELLO_TIMEOUT_MAX 3600u
struct encshim_verbs_env {
	int allow_one_sided;        /* ENCSHIM_VERBS_ALLOW_ONE_SIDED, default 0 */
	int stats;                  /* ENCSHIM_STATS, default 0 */
	unsigned hello_timeout;     /* ENCSHIM_VERBS_HELLO_TIMEOUT, seconds */
	int progress;               /* ENCSHIM_VERBS_PROGRESS, default 1 */
	enum encshim_backend backend; /* ENCSHIM_BACKEND */
};

/* On failure *out holds the defaults (one-sided refused) and `why` names
 * the first bad variable. */
int encshim_env_verbs(struct encshim_verbs_env *out, char *why) ENCSHIM_WUR;

#endif

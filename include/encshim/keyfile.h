/* SPDX-License-Identifier: MIT */
/* The job secret: 32 random bytes in a file only its owner can read. */
#ifndef ENCSHIM_KEYFILE_H
#define ENCSHIM_KEYFILE_H

#include <stddef.h>
#include <stdint.h>
#include "encshim/error.h"

/* $ENCSHIM_KEY_FILE if set, else $HOME/.encshim/job.key. */
int encshim_keyfile_path(char *buf, size_t buflen) ENCSHIM_WUR;

/*
 * Reads and checks the file: a regular file (not a symlink), owned by
 * us, mode without group/other bits, exactly one line of the format in
 * wire.h. On failure secret is zeroed.
 */
int encshim_keyfile_load(const char *path, uint8_t secret[32]) ENCSHIM_WUR;

/* Writes a fresh secret with mode 0600; refuses to replace an existing
 * file unless force. Creates the parent directory (0700) if missing. */
int encshim_keyfile_generate(const char *path, int force) ENCSHIM_WUR;

#endif

/* SPDX-License-Identifier: MIT */
/*
 * The job secret S for the life of the process. Every connection makes its
 * own encshim_local from S, so S cannot be dropped after start-up; it lives
 * in one sodium_malloc block (guard pages, mlocked where allowed, excluded
 * from core dumps) that is readable only while a local is being made. The
 * key file loader writes into esv_cfg.secret; esv_secret_take moves it here
 * and wipes that copy at once.
 * Callers hold esv_lock.
 */
#include "config.h"

#include <string.h>
#include <sodium.h>

#include "esv.h"

static uint8_t *secret;

int esv_secret_take(void)
{
	if (sodium_is_zero(esv_cfg.secret, sizeof(esv_cfg.secret)))
		return secret ? 0 : -1;
	if (!secret) {
		secret = sodium_malloc(ENCSHIM_SECRET_BYTES);
		if (!secret) {
			sodium_memzero(esv_cfg.secret, sizeof(esv_cfg.secret));
			esv_log("out of memory for the job secret: refused");
			return -1;
		}
	}
	sodium_mprotect_readwrite(secret);
	memcpy(secret, esv_cfg.secret, ENCSHIM_SECRET_BYTES);
	sodium_memzero(esv_cfg.secret, sizeof(esv_cfg.secret));
	sodium_mprotect_noaccess(secret);
	return 0;
}

int esv_local_new(struct encshim_local **out, const uint8_t *id, size_t idlen)
{
	int rc;

	if (esv_secret_take())
		return ENCSHIM_E_KEY_MISSING;
	sodium_mprotect_readonly(secret);
	rc = encshim_local_new(out, secret, esv_cfg.job_id, esv_cfg.job_id_len,
			       id, idlen, esv_cfg.backend);
	sodium_mprotect_noaccess(secret);
	return rc;
}

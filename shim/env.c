/* SPDX-License-Identifier: MIT */
/* Strict parsers of ENCSHIM_* settings (include/encshim/env.h). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encshim/env.h"

/* Shown values are cut here: the message must stay one readable line. */
#define SHOWN_MAX 48

/* NULL when the variable is unset or empty: the caller's default. */
static const char *value_of(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

/* "NAME='VALUE' is not accepted: ACCEPTED" with VALUE printable. */
static int refuse(const char *name, const char *value, const char *accepted,
		  char *why)
{
	char shown[SHOWN_MAX + 4];
	size_t i;

	for (i = 0; value[i] && i < SHOWN_MAX; i++)
		shown[i] = value[i] >= 0x20 && value[i] < 0x7f ? value[i] : '?';
	shown[i] = '\0';
	if (value[i])
		memcpy(shown + i, "...", 4);
	snprintf(why, ENCSHIM_ENV_WHY_BYTES, "%s='%s' is not accepted: %s",
		 name, shown, accepted);
	return ENCSHIM_E_ENV;
}

int encshim_env_enum(const char *name, const struct encshim_env_choice *choices,
		     size_t n, int dflt, int *out, char *why)
{
	const char *v = value_of(name);
	char accepted[ENCSHIM_ENV_WHY_BYTES] = "use one of";
	size_t len = strlen(accepted);

	*out = dflt;
	if (!v)
		return ENCSHIM_OK;
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(v, choices[i].word)) {
			*out = choices[i].value;
			return ENCSHIM_OK;
		}
	}
	for (size_t i = 0; i < n && len < sizeof(accepted); i++)
		len += (size_t)snprintf(accepted + len, sizeof(accepted) - len,
					"%s %s", i ? "," : "", choices[i].word);
	return refuse(name, v, accepted, why);
}

int encshim_env_bool(const char *name, int dflt, int *out, char *why)
{
	static const struct encshim_env_choice words[] = {
		{ "1", 1 }, { "yes", 1 }, { "true", 1 }, { "on", 1 },
		{ "0", 0 }, { "no", 0 }, { "false", 0 }, { "off", 0 },
	};

	return encshim_env_enum(name, words, sizeof(words) / sizeof(words[0]),
				dflt, out, why);
}

int encshim_env_uint(const char *name, unsigned min, unsigned max, unsigned dflt,
		     unsigned *out, char *why)
{
	const char *v = value_of(name);
	char accepted[96];
	unsigned long n = 0;
	size_t i;

	*out = dflt;
	if (!v)
		return ENCSHIM_OK;
	/* digits only (strtoul would take signs, spaces and hex), at most 9 of
	 * them: no overflow before the range check */
	for (i = 0; v[i] >= '0' && v[i] <= '9' && i < 9; i++)
		n = n * 10 + (unsigned long)(v[i] - '0');
	if (v[i] || n < min || n > max) {
		snprintf(accepted, sizeof(accepted), "use a whole number from %u to %u",
			 min, max);
		return refuse(name, v, accepted, why);
	}
	*out = (unsigned)n;
	return ENCSHIM_OK;
}

int encshim_env_backend(enum encshim_backend *out, char *why)
{
	const char *v = value_of("ENCSHIM_BACKEND");

	if (!encshim_backend_parse(v, out))
		return ENCSHIM_OK;
	*out = ENCSHIM_BACKEND_AUTO;
	return refuse("ENCSHIM_BACKEND", v, "use one of auto, ipsecmb, openssl, sodium", why);
}

int encshim_env_verbs(struct encshim_verbs_env *out, char *why)
{
	int rc;

	rc = encshim_env_bool("ENCSHIM_VERBS_ALLOW_ONE_SIDED", 0,
			      &out->allow_one_sided, why);
	if (!rc)
		rc = encshim_env_bool("ENCSHIM_STATS", 0, &out->stats, why);
	if (!rc)
		rc = encshim_env_uint("ENCSHIM_VERBS_HELLO_TIMEOUT", 1,
				      ENCSHIM_HELLO_TIMEOUT_MAX,
				      ENCSHIM_HELLO_TIMEOUT_DEFAULT,
				      &out->hello_timeout, why);
	if (!rc)
		rc = encshim_env_bool("ENCSHIM_VERBS_PROGRESS", 1,
				      &out->progress, why);
	if (!rc)
		rc = encshim_env_backend(&out->backend, why);
	if (rc) {
		out->allow_one_sided = 0;
		out->stats = 0;
		out->progress = 1;
		out->hello_timeout = ENCSHIM_HELLO_TIMEOUT_DEFAULT;
		out->backend = ENCSHIM_BACKEND_AUTO;
	}
	return rc;
}

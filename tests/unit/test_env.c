/* SPDX-License-Identifier: MIT */
/* Table-driven tests of the ENCSHIM_* setting parsers (env.c): every
 * documented value is taken, everything else refused with a message that
 * names the variable, the value and what is accepted. */
#include "util.h"

#define VAR "ENCSHIM_TEST_SETTING"
#define REFUSED (-1000) /* `want` of a case that must be refused */

struct env_case {
	const char *value; /* NULL: unset */
	int want;
};

static const struct env_case bools[] = {
	{ NULL, 7 }, { "", 7 },
	{ "1", 1 }, { "yes", 1 }, { "true", 1 }, { "on", 1 },
	{ "0", 0 }, { "no", 0 }, { "false", 0 }, { "off", 0 },
	{ "disable", REFUSED }, { "disabled", REFUSED }, { "enable", REFUSED },
	{ "OFF", REFUSED }, { "No", REFUSED }, { "TRUE", REFUSED }, { "2", REFUSED },
	{ "00", REFUSED }, { "01", REFUSED }, { "-1", REFUSED }, { " 1", REFUSED },
	{ "1 ", REFUSED }, { "0x1", REFUSED }, { "y", REFUSED }, { "n", REFUSED },
	{ "of", REFUSED }, { "offf", REFUSED }, { "1\n", REFUSED },
};

static const struct env_case uints[] = {
	{ NULL, 60 }, { "", 60 }, { "1", 1 }, { "60", 60 }, { "3600", 3600 },
	{ "007", 7 }, { "0", REFUSED }, { "3601", REFUSED }, { "-1", REFUSED },
	{ "+5", REFUSED }, { " 5", REFUSED }, { "5 ", REFUSED }, { "1.5", REFUSED },
	{ "1e3", REFUSED }, { "0x10", REFUSED }, { "ten", REFUSED },
	{ "4294967297", REFUSED }, { "99999999999999999999", REFUSED },
};

static const struct encshim_env_choice colours[] = {
	{ "red", 1 }, { "green", 2 }, { "blue", 3 },
};

static const struct env_case enums[] = {
	{ NULL, 9 }, { "", 9 }, { "red", 1 }, { "green", 2 }, { "blue", 3 },
	{ "Red", REFUSED }, { "gree", REFUSED }, { "greenish", REFUSED },
	{ "red,blue", REFUSED }, { "1", REFUSED },
};

static void set(const char *value)
{
	if (value)
		assert_int_equal(setenv(VAR, value, 1), 0);
	else
		assert_int_equal(unsetenv(VAR), 0);
}

/* The outcome of one case: the value, or the refusal and its message. */
static void check(const struct env_case *c, int rc, int got, const char *why,
		  const char *accepted)
{
	char want_msg[ENCSHIM_ENV_WHY_BYTES];

	if (c->want == REFUSED) {
		assert_int_equal(rc, ENCSHIM_E_ENV);
		snprintf(want_msg, sizeof(want_msg), VAR "='%s' is not accepted: %s",
			 c->value, accepted);
		if (!strchr(c->value, '\n'))
			assert_string_equal(why, want_msg);
		else
			assert_non_null(strstr(why, "='1?' is not accepted"));
	} else {
		assert_int_equal(rc, ENCSHIM_OK);
		assert_int_equal(got, c->want);
	}
}

static void test_bool(void **state)
{
	for (size_t i = 0; i < sizeof(bools) / sizeof(bools[0]); i++) {
		char why[ENCSHIM_ENV_WHY_BYTES] = "";
		int got = -1, rc;

		set(bools[i].value);
		rc = encshim_env_bool(VAR, 7, &got, why);
		check(&bools[i], rc, got, why,
		      "use one of 1, yes, true, on, 0, no, false, off");
		if (rc)
			assert_int_equal(got, 7); /* the default, never a guess */
	}
}

static void test_uint(void **state)
{
	for (size_t i = 0; i < sizeof(uints) / sizeof(uints[0]); i++) {
		char why[ENCSHIM_ENV_WHY_BYTES] = "";
		unsigned got = 0;
		int rc;

		set(uints[i].value);
		rc = encshim_env_uint(VAR, 1, 3600, 60, &got, why);
		check(&uints[i], rc, (int)got, why, "use a whole number from 1 to 3600");
	}
}

static void test_enum(void **state)
{
	for (size_t i = 0; i < sizeof(enums) / sizeof(enums[0]); i++) {
		char why[ENCSHIM_ENV_WHY_BYTES] = "";
		int got = -1, rc;

		set(enums[i].value);
		rc = encshim_env_enum(VAR, colours, 3, 9, &got, why);
		check(&enums[i], rc, got, why, "use one of red, green, blue");
	}
}

/* A long or hostile value is cut and shown printable. */
static void test_message_shape(void **state)
{
	char why[ENCSHIM_ENV_WHY_BYTES], big[4096];
	int got;

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	set(big);
	assert_int_equal(encshim_env_bool(VAR, 0, &got, why), ENCSHIM_E_ENV);
	assert_true(strlen(why) < ENCSHIM_ENV_WHY_BYTES);
	assert_non_null(strstr(why, "xxx...' is not accepted"));
	set("\033[2Joff");
	assert_int_equal(encshim_env_bool(VAR, 0, &got, why), ENCSHIM_E_ENV);
	assert_non_null(strstr(why, "='?[2Joff'"));
	set(NULL);
}

static void test_backend(void **state)
{
	char why[ENCSHIM_ENV_WHY_BYTES];
	enum encshim_backend b;

	assert_int_equal(setenv("ENCSHIM_BACKEND", "openssl", 1), 0);
	assert_int_equal(encshim_env_backend(&b, why), ENCSHIM_OK);
	assert_int_equal(b, ENCSHIM_BACKEND_OPENSSL);
	assert_int_equal(setenv("ENCSHIM_BACKEND", "gcm", 1), 0);
	assert_int_equal(encshim_env_backend(&b, why), ENCSHIM_E_ENV);
	assert_string_equal(why, "ENCSHIM_BACKEND='gcm' is not accepted: use one "
				 "of auto, ipsecmb, openssl, sodium");
	assert_int_equal(unsetenv("ENCSHIM_BACKEND"), 0);
	assert_int_equal(encshim_env_backend(&b, why), ENCSHIM_OK);
	assert_int_equal(b, ENCSHIM_BACKEND_AUTO);
}

/* One bad verbs setting: refused, and the result holds the safe defaults,
 * one-sided refused, even when ALLOW_ONE_SIDED itself was fine. */
static void test_verbs_defaults_on_error(void **state)
{
	char why[ENCSHIM_ENV_WHY_BYTES];
	struct encshim_verbs_env v;

	assert_int_equal(setenv("ENCSHIM_VERBS_ALLOW_ONE_SIDED", "1", 1), 0);
	assert_int_equal(setenv("ENCSHIM_VERBS_HELLO_TIMEOUT", "5", 1), 0);
	assert_int_equal(encshim_env_verbs(&v, why), ENCSHIM_OK);
	assert_int_equal(v.allow_one_sided, 1);
	assert_int_equal(v.hello_timeout, 5);
	assert_int_equal(v.progress, 1); /* ENCSHIM_VERBS_PROGRESS default */
	assert_int_equal(setenv("ENCSHIM_VERBS_PROGRESS", "off", 1), 0);
	assert_int_equal(encshim_env_verbs(&v, why), ENCSHIM_OK);
	assert_int_equal(v.progress, 0);
	assert_int_equal(setenv("ENCSHIM_STATS", "verbose", 1), 0);
	assert_int_equal(encshim_env_verbs(&v, why), ENCSHIM_E_ENV);
	assert_int_equal(v.allow_one_sided, 0);
	assert_int_equal(v.hello_timeout, ENCSHIM_HELLO_TIMEOUT_DEFAULT);
	assert_int_equal(v.progress, 1);
	assert_non_null(strstr(why, "ENCSHIM_STATS='verbose'"));
	assert_int_equal(unsetenv("ENCSHIM_VERBS_PROGRESS"), 0);
	assert_int_equal(unsetenv("ENCSHIM_VERBS_ALLOW_ONE_SIDED"), 0);
	assert_int_equal(unsetenv("ENCSHIM_VERBS_HELLO_TIMEOUT"), 0);
	assert_int_equal(unsetenv("ENCSHIM_STATS"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bool),
		cmocka_unit_test(test_uint),
		cmocka_unit_test(test_enum),
		cmocka_unit_test(test_message_shape),
		cmocka_unit_test(test_backend),
		cmocka_unit_test(test_verbs_defaults_on_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/* The job secret file: every way it can be wrong gets its own error. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include "util.h"

static char dir[] = "/tmp/encshim-keyfile-XXXXXX";
static char path[256];

static void put(const char *name, const char *content, mode_t mode)
{
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

static const char GOOD[] =
	"encshim-secret-v1:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n";

static int load(void)
{
	uint8_t s[32];
	int rc = encshim_keyfile_load(path, s);

	if (rc)
		assert_true(all_zero(s, 32)); /* nothing half-loaded */
	else
		assert_int_equal(s[31], 0x1f);
	return rc;
}

static void test_good(void **state)
{
	put("good", GOOD, 0600);
	assert_int_equal(load(), 0);
	put("good-no-newline", "encshim-secret-v1:000102030405060708090a0b0c0d0e0f"
			       "101112131415161718191a1b1c1d1e1f", 0400);
	assert_int_equal(load(), 0);
}

static void test_format(void **state)
{
	static const char *bad[] = {
		"",
		"encshim-secret-v1:\n",
		"encshim-secret-v1:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e\n",
		"encshim-secret-v1:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f00\n",
		"encshim-secret-v1:000102030405060708090A0B0C0D0E0F101112131415161718191a1b1c1d1e1f\n",
		"encshim-secret-v1:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1g\n",
		"encshim-secret-v2:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
		"encshim-secret-v1:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n\n",
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		put("bad", bad[i], 0600);
		assert_int_equal(load(), ENCSHIM_E_KEY_FORMAT);
	}
}

static void test_permissions(void **state)
{
	static const mode_t modes[] = { 0640, 0604, 0660, 0644, 0610, 0601 };

	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		put("perm", GOOD, modes[i]);
		assert_int_equal(load(), ENCSHIM_E_KEY_PERMS);
	}
	if (geteuid() == 0) { /* a file owned by someone else */
		put("owner", GOOD, 0600);
		assert_int_equal(chown(path, 65534, 65534), 0);
		assert_int_equal(load(), ENCSHIM_E_KEY_PERMS);
	}
}

static void test_not_regular(void **state)
{
	char target[300];

	put("target", GOOD, 0600);
	snprintf(target, sizeof(target), "%s", path);
	snprintf(path, sizeof(path), "%s/link", dir);
	assert_int_equal(symlink(target, path), 0);
	assert_int_equal(load(), ENCSHIM_E_KEY_NOTREG);
	snprintf(path, sizeof(path), "%s", dir);
	assert_int_equal(load(), ENCSHIM_E_KEY_NOTREG);
	snprintf(path, sizeof(path), "/dev/null");
	assert_int_equal(load(), ENCSHIM_E_KEY_NOTREG);
}

static void test_missing(void **state)
{
	snprintf(path, sizeof(path), "%s/none", dir);
	assert_int_equal(load(), ENCSHIM_E_KEY_MISSING);
	snprintf(path, sizeof(path), "%s/no/such/dir", dir);
	assert_int_equal(load(), ENCSHIM_E_KEY_MISSING);
}

static void test_unreadable(void **state)
{
	if (geteuid() == 0) /* root reads mode 000 files: nothing to show */
		skip();
	put("unreadable", GOOD, 0000);
	assert_int_equal(load(), ENCSHIM_E_KEY_IO);
}

static void test_generate(void **state)
{
	struct stat st;
	uint8_t a[32], b[32];

	snprintf(path, sizeof(path), "%s/sub/gen.key", dir);
	assert_int_equal(encshim_keyfile_generate(path, 0), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(encshim_keyfile_load(path, a), 0);
	/* never overwrites without force */
	assert_int_equal(encshim_keyfile_generate(path, 0), ENCSHIM_E_KEY_EXISTS);
	assert_int_equal(encshim_keyfile_load(path, b), 0);
	assert_memory_equal(a, b, 32);
	assert_int_equal(encshim_keyfile_generate(path, 1), 0);
	assert_int_equal(encshim_keyfile_load(path, b), 0);
	assert_memory_not_equal(a, b, 32);
}

static void test_path(void **state)
{
	char buf[256];

	setenv("ENCSHIM_KEY_FILE", "/x/y.key", 1);
	assert_int_equal(encshim_keyfile_path(buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/x/y.key");
	setenv("ENCSHIM_KEY_FILE", "", 1);
	assert_int_equal(encshim_keyfile_path(buf, sizeof(buf)), ENCSHIM_E_ENV);
	unsetenv("ENCSHIM_KEY_FILE");
	setenv("HOME", "/home/u", 1);
	assert_int_equal(encshim_keyfile_path(buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/home/u/.encshim/job.key");
}

static int setup(void **state)
{
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),        cmocka_unit_test(test_format),
		cmocka_unit_test(test_permissions), cmocka_unit_test(test_not_regular),
		cmocka_unit_test(test_missing),     cmocka_unit_test(test_unreadable),
		cmocka_unit_test(test_generate),    cmocka_unit_test(test_path),
	};

	if (encshim_init())
		return 1;
	return cmocka_run_group_tests(tests, setup, teardown);
}

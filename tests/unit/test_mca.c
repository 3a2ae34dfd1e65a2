/* SPDX-License-Identifier: MIT */
/* Table-driven tests of encshim mpirun's MCA checks (shim/mca_check.c):
 * component lists, and the sources a job takes them from. */
#include "util.h"

#include <stdio.h>
#include <unistd.h>
#include <sys/stat.h>

#include "mca_check.h"

static const struct {
	const char *list;
	int keeps;
} lists[] = {
	{ NULL, 1 }, { "", 1 }, { "encshim", 1 }, { "ob1,encshim", 1 },
	{ "encshim,ucx", 1 }, { "^ucx", 1 }, { "^ucx,cm", 1 }, { "^encshimx", 1 },
	{ "^", 1 },
	{ "ob1", 0 }, { "ucx", 0 }, { "^encshim", 0 }, { "^ucx,encshim", 0 },
	{ "^ encshim ", 0 }, { "^ucx, encshim", 0 }, { "ob1, encshim", 0 },
	{ "encshimx", 0 }, { "xencshim", 0 }, { "ob1,^encshim", 0 },
	{ "encshim,^ucx", 0 }, { "^^ucx", 0 }, { "ENCSHIM", 0 }, { ",", 0 },
};

static void test_lists(void **state)
{
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		int got = mca_list_keeps(lists[i].list, "encshim");

		if (got != lists[i].keeps)
			print_error("list '%s': keeps %d, want %d\n",
				    lists[i].list ? lists[i].list : "(null)", got,
				    lists[i].keeps);
		assert_int_equal(got, lists[i].keeps);
	}
}

static char dir[64];

/* Writes `text` to DIR/name; returns the path (static). */
static const char *file(const char *name, const char *text)
{
	static char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

struct job {
	const char *args[8];
	int refused, names_hook;
};

static int run(const struct job *j)
{
	char *argv[8];
	int argc = 0, names_hook = -1, rc;

	while (argc < 8 && j->args[argc]) {
		argv[argc] = (char *)j->args[argc];
		argc++;
	}
	rc = mca_check_job(argc, argv, &names_hook);
	assert_int_equal(names_hook, j->names_hook);
	return rc;
}

static void test_command_line(void **state)
{
	static const struct job jobs[] = {
		{ { "-np", "2", "a.out" }, 0, 0 },
		{ { "--mca", "pml", "ob1,encshim", "a.out" }, 0, 0 },
		{ { "--mca", "pml", "^ucx", "a.out" }, 0, 0 },
		{ { "--mca", "hook", "encshim", "a.out" }, 0, 1 },
		{ { "-gmca", "ompi_hook", "encshim,x", "a.out" }, 0, 1 },
		{ { "--mca", "btl", "^encshim", "a.out" }, 0, 0 },
		{ { "--mca", "pml", "^encshim", "--mca", "hook", "^encshim" }, -1, 1 },
		{ { "--mca", "pml", "ob1", "a.out" }, -1, 0 },
		{ { "-mca", "pml", "ob1", "a.out" }, -1, 0 },
		{ { "--gmca", "pml", "ob1", "a.out" }, -1, 0 },
		{ { "-gmca", "hook", "^encshim", "a.out" }, -1, 1 },
		{ { "--mca", "ompi_pml", "ob1", "a.out" }, -1, 0 },
		{ { "--mca", "opal_pml", "ob1", "a.out" }, -1, 0 },
		{ { "-x", "OMPI_MCA_pml=ob1", "a.out" }, -1, 0 },
		{ { "-x", "OMPI_MCA_hook=^encshim", "a.out" }, -1, 0 },
		{ { "-x", "OMPI_MCA_pml", "a.out" }, 0, 0 }, /* the environment's */
		{ { "--mca", "mca_base_env_list", "A=1;OMPI_MCA_pml=ob1" }, -1, 0 },
		{ { "a.out", "--mca", "pml", "ob1" }, -1, 0 }, /* refuses more */
		{ { "--mca", "pml" }, 0, 0 },
		{ { "-x", "OMPI_MCA_pml_encshim_enable=0", "a.out" }, -1, 0 },
		{ { "-x", "OMPI_MCA_ompi_pml_encshim_enable=false" }, -1, 0 },
		{ { "-x", "OMPI_MCA_pml_encshim_enable=1", "a.out" }, 0, 0 },
		{ { "--mca", "pml_encshim_enable", "0", "a.out" }, -1, 0 },
	};

	for (size_t i = 0; i < sizeof(jobs) / sizeof(jobs[0]); i++) {
		print_message("job %zu: %s %s %s\n", i, jobs[i].args[0],
			      jobs[i].args[1] ? jobs[i].args[1] : "",
			      jobs[i].args[1] && jobs[i].args[2] ? jobs[i].args[2] : "");
		assert_int_equal(run(&jobs[i]), jobs[i].refused);
	}
}

static void test_environment(void **state)
{
	static const struct job plain = { { "a.out" }, 0, 0 };
	static const struct {
		const char *name, *value;
		int refused;
	} envs[] = {
		{ "OMPI_MCA_pml", "ob1", -1 },
		{ "OMPI_MCA_ompi_pml", "ob1", -1 },
		{ "OMPI_MCA_hook", "^encshim", -1 },
		{ "OMPI_MCA_pml", "ucx,encshim", 0 },
		{ "OMPI_MCA_pml", "^ucx", 0 },
		{ "OMPI_MCA_mca_base_env_list", "OMPI_MCA_hook=none", -1 },
		{ "OMPI_MCA_pml_encshim_enable", "0", -1 },
		{ "OMPI_MCA_pml_encshim_enable", "1", 0 },
	};

	for (size_t i = 0; i < sizeof(envs) / sizeof(envs[0]); i++) {
		assert_int_equal(setenv(envs[i].name, envs[i].value, 1), 0);
		assert_int_equal(run(&plain), envs[i].refused);
		assert_int_equal(unsetenv(envs[i].name), 0);
	}
}

static void test_files(void **state)
{
	char home[96], tune[128], am[128], pf[128];
	struct job j = { { NULL }, 0, 0 };

	/* $HOME/.openmpi/mca-params.conf */
	snprintf(home, sizeof(home), "%s/.openmpi", dir);
	assert_int_equal(mkdir(home, 0700), 0);
	assert_int_equal(setenv("HOME", dir, 1), 0);
	j.args[0] = "a.out";
	file(".openmpi/mca-params.conf", "# pml = ob1\n\n  btl = ^openib\n");
	assert_int_equal(run(&j), 0);
	file(".openmpi/mca-params.conf", "btl = tcp,self\n  pml=ob1  \n");
	assert_int_equal(run(&j), -1);
	file(".openmpi/mca-params.conf", "hook = ^encshim\n");
	assert_int_equal(run(&j), -1);
	file(".openmpi/mca-params.conf", "pml = ob1,encshim\n");
	assert_int_equal(run(&j), 0);

	/* mca_base_param_files: a missing file is skipped, as Open MPI does */
	snprintf(pf, sizeof(pf), "%s", file("p.conf", "ompi_pml = ob1\n"));
	assert_int_equal(setenv("OMPI_MCA_mca_base_param_files", pf, 1), 0);
	assert_int_equal(run(&j), -1);
	assert_int_equal(setenv("OMPI_MCA_mca_base_param_files", "/nonexistent/x.conf", 1), 0);
	assert_int_equal(run(&j), 0);
	assert_int_equal(unsetenv("OMPI_MCA_mca_base_param_files"), 0);
	j.args[0] = "--mca";
	j.args[1] = "mca_base_param_files";
	j.args[2] = pf;
	j.args[3] = "a.out";
	assert_int_equal(run(&j), -1);

	/* --am: key = value lines; a file that cannot be read is refused */
	snprintf(am, sizeof(am), "%s", file("a.conf", "hook = none\n"));
	j.args[0] = "--am";
	j.args[1] = am;
	j.args[2] = "a.out";
	j.args[3] = NULL;
	assert_int_equal(run(&j), -1);
	j.args[1] = "/nonexistent/a.conf";
	assert_int_equal(run(&j), -1);
	snprintf(am, sizeof(am), "%s", file("a.conf", "btl = self,tcp\n"));
	j.args[1] = am;
	assert_int_equal(run(&j), 0);

	/* --tune: options as on the command line, or key = value lines */
	snprintf(tune, sizeof(tune), "%s", file("t.conf", "-x A=1 --mca hook ^encshim\n"));
	j.args[0] = "--tune";
	j.args[1] = tune;
	assert_int_equal(run(&j), -1);
	file("t.conf", "-x OMPI_MCA_pml=ob1\n");
	assert_int_equal(run(&j), -1);
	file("t.conf", "pml = ob1\n");
	assert_int_equal(run(&j), -1);
	file("t.conf", "-x A=1 --mca btl self,tcp\n");
	assert_int_equal(run(&j), 0);
	/* a tune file naming itself: bounded */
	{
		char text[256];

		snprintf(text, sizeof(text), "--tune %s\n", tune);
		file("t.conf", text);
		assert_int_equal(run(&j), -1);
	}
}

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/encshim-mca-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	/* the caller's own settings are not this test's */
	for (char **e = environ; *e;) {
		if (!strncmp(*e, "OMPI_MCA_", 9)) {
			char name[256];

			snprintf(name, sizeof(name), "%.*s",
				 (int)(strchr(*e, '=') - *e), *e);
			unsetenv(name);
		} else {
			e++;
		}
	}
	return setenv("HOME", dir, 1);
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) ? -1 : 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lists),
		cmocka_unit_test(test_command_line),
		cmocka_unit_test(test_environment),
		cmocka_unit_test(test_files),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

/* SPDX-License-Identifier: MIT */
/*
 * encshim mpirun ARGS...: runs Open MPI's mpirun with the encshim
 * plugin loaded and required. It checks the job secret first (a job
 * that would abort on every rank is better refused here), then execs
 * mpirun with:
 *   --mca mca_component_path <encshim components>:<Open MPI's own>
 *   --mca pml_encshim_enable 1     (wrap the PML; fail closed otherwise)
 *   -x ENCSHIM_KEY_FILE=<absolute path>  (every rank reads the same file)
 *   -x ENCSHIM_BACKEND             (if set)
 *   --mca hook encshim             (unless ARGS name hooks: a hook that
 *                                   cannot be loaded then stops MPI_Init
 *                                   instead of going unnoticed)
 *   --mca osc encshim,sm,pt2pt     (unless ARGS choose osc components:
 *                                   pt2pt carries one-sided operations as
 *                                   PML messages, so they are sealed; sm
 *                                   stays on the node; osc/encshim gives
 *                                   pt2pt windows under
 *                                   MPI_THREAD_MULTIPLE; Debian's default
 *                                   configuration excludes pt2pt)
 * followed by ARGS unchanged. Before that, every pml and hook list the job
 * would see (ARGS, OMPI_MCA_* variables, parameter files: mca_check.c)
 * must keep encshim; one that leaves it out is refused with exit 2.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "encshim.h"
#include "mca_check.h"

#ifndef ENCSHIM_OMPI_COMPONENT_DIR
#define ENCSHIM_OMPI_COMPONENT_DIR ""
#endif
#ifndef ENCSHIM_OMPI_SYSTEM_COMPONENT_DIR
#define ENCSHIM_OMPI_SYSTEM_COMPONENT_DIR ""
#endif

static void usage(FILE *f)
{
	fprintf(f,
		"usage: encshim mpirun [MPIRUN-ARGS...] PROGRAM [ARGS...]\n\n"
		"Runs Open MPI's mpirun with every MPI message of the job sealed with\n"
		"AES-256-GCM by the encshim plugin (pml/encshim + hook/encshim). If\n"
		"encryption cannot be set up, MPI_Init aborts: the job never runs in clear.\n\n"
		"Adds to the mpirun command line:\n"
		"  --mca mca_component_path DIR:OPENMPI_DIR  --mca pml_encshim_enable 1\n"
		"  -x ENCSHIM_KEY_FILE=PATH  [-x ENCSHIM_BACKEND]  --mca hook encshim\n"
		"  [--mca osc encshim,sm,pt2pt]\n\n"
		"Refused before anything starts (exit 2): a pml or hook component list that\n"
		"leaves encshim out, such as '--mca pml ob1' or '--mca hook ^encshim', from\n"
		"any of: -mca/--mca/-gmca/--gmca KEY VALUE, -x OMPI_MCA_KEY=VALUE,\n"
		"OMPI_MCA_KEY in the environment, mca_base_env_list, --tune and --am files,\n"
		"$HOME/.openmpi/mca-params.conf and mca_base_param_files (KEY: pml, hook,\n"
		"ompi_pml, ompi_hook), and any pml_encshim_enable but 1 from these sources.\n"
		"Every source counts, even one another overrides.\n"
		"To force a PML, name encshim with it: --mca pml ob1,encshim; an exclusion\n"
		"list is fine without encshim: --mca pml ^ucx. System-wide files\n"
		"(openmpi-mca-params.conf) are the administrator's and are not read.\n\n"
		"Settings to pass as MPIRUN-ARGS (all of them: docs/MPI.md, Parameters):\n"
		"  --mca pml_encshim_verbose 1     one line of counters per rank at exit\n"
		"  --mca pml_encshim_local clear   plaintext between ranks of one node that\n"
		"                                  ob1 joins through btl vader (default seal;\n"
		"                                  docs/PROTOCOL.md sections 1 and 11)\n\n"
		"environment:\n"
		"  ENCSHIM_KEY_FILE       job secret (default ~/.encshim/job.key;\n"
		"                         create it with 'encshim keygen')\n"
		"  ENCSHIM_BACKEND        auto | ipsecmb | openssl | sodium\n"
		"  ENCSHIM_COMPONENT_DIR  where mca_pml_encshim.so lives\n"
		"                         (default %s)\n"
		"  ENCSHIM_MPIRUN         the mpirun to run (default: mpirun from PATH)\n",
		ENCSHIM_OMPI_COMPONENT_DIR);
}

/* The secret must load on every rank; check it here, once. */
static int check_key(char *path, size_t len)
{
	uint8_t secret[ENCSHIM_SECRET_BYTES];
	char abs[PATH_MAX];
	int rc = encshim_keyfile_path(path, len);

	if (ENCSHIM_OK == rc)
		rc = encshim_keyfile_load(path, secret);
	explicit_bzero(secret, sizeof(secret));
	if (ENCSHIM_OK != rc) {
		fprintf(stderr, "encshim mpirun: job secret %s: %s\n", path,
			encshim_strerror(rc));
		return EXIT_KEY;
	}
	/* ranks may start in another directory: pass an absolute path */
	if (NULL != realpath(path, abs) && strlen(abs) < len)
		memcpy(path, abs, strlen(abs) + 1);
	return EXIT_OK;
}

static int find_components(const char **dir)
{
	char so[PATH_MAX];

	*dir = getenv("ENCSHIM_COMPONENT_DIR");
	if (NULL == *dir || '\0' == (*dir)[0])
		*dir = ENCSHIM_OMPI_COMPONENT_DIR;
	if ('\0' == (*dir)[0] ||
	    snprintf(so, sizeof(so), "%s/mca_pml_encshim.so", *dir) >=
		    (int)sizeof(so) ||
	    0 != access(so, R_OK)) {
		fprintf(stderr,
			"encshim mpirun: the Open MPI plugin is not at '%s' (it is "
			"built when configure finds libopenmpi-dev; run 'make "
			"install', or set ENCSHIM_COMPONENT_DIR to the directory "
			"holding mca_pml_encshim.so)\n", *dir);
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

/* The value the user's arguments give to MCA framework `fw`, or NULL. */
static const char *user_choice(int argc, char **argv, const char *fw)
{
	const char *v = NULL;

	for (int i = 1; i + 2 < argc; i++)
		if ((!strcmp(argv[i], "--mca") || !strcmp(argv[i], "-mca")) &&
		    !strcmp(argv[i + 1], fw))
			v = argv[i + 2];
	return v;
}

/* Appends the -x options every app context needs; returns the new count. */
static int add_env(char **av, int n, char *keyarg)
{
	av[n++] = "-x";
	av[n++] = keyarg;
	if (NULL != getenv("ENCSHIM_BACKEND")) {
		av[n++] = "-x";
		av[n++] = "ENCSHIM_BACKEND";
	}
	return n;
}

int cmd_mpirun(int argc, char **argv)
{
	static char keyarg[sizeof("ENCSHIM_KEY_FILE=") + 4096];
	char path[4096], comppath[2 * PATH_MAX + 2], why[ENCSHIM_ENV_WHY_BYTES];
	enum encshim_backend backend;
	const char *mpirun = getenv("ENCSHIM_MPIRUN"), *dir = NULL;
	char **av;
	int n = 0, names_hook = 0, rc;

	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		return EXIT_OK;
	}
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	/* a pml or hook list without encshim, from any source, would keep
	 * the plugin out: say so before starting anything */
	if (mca_check_job(argc - 1, argv + 1, &names_hook))
		return EXIT_USAGE;
	/* every rank would refuse it at MPI_Init */
	if (encshim_env_backend(&backend, why)) {
		fprintf(stderr, "encshim mpirun: %s\n", why);
		return EXIT_USAGE;
	}
	rc = check_key(path, sizeof(path));
	if (EXIT_OK != rc)
		return rc;
	rc = find_components(&dir);
	if (EXIT_OK != rc)
		return rc;
	snprintf(comppath, sizeof(comppath), "%s:%s", dir,
		 ENCSHIM_OMPI_SYSTEM_COMPONENT_DIR);
	snprintf(keyarg, sizeof(keyarg), "ENCSHIM_KEY_FILE=%s", path);
	if (NULL == mpirun || '\0' == mpirun[0])
		mpirun = "mpirun";

	/* Each MPMD app context after a ':' gets the -x options again:
	 * mpirun applies -x only to the context it precedes. */
	av = calloc((size_t)argc * 5 + 16, sizeof(*av));
	if (NULL == av)
		return EXIT_FAIL;
	av[n++] = (char *)mpirun;
	av[n++] = "--mca";
	av[n++] = "mca_component_path";
	av[n++] = comppath;
	av[n++] = "--mca";
	av[n++] = "pml_encshim_enable";
	av[n++] = "1";
	n = add_env(av, n, keyarg);
	/* Naming the hook makes Open MPI stop at MPI_Init if it cannot load
	 * it, rather than run without the check. */
	if (!names_hook) {
		av[n++] = "--mca";
		av[n++] = "hook";
		av[n++] = "encshim";
	}
	if (NULL == user_choice(argc, argv, "osc") && NULL == getenv("OMPI_MCA_osc")) {
		av[n++] = "--mca";
		av[n++] = "osc";
		av[n++] = "encshim,sm,pt2pt";
	}
	for (int i = 1; i < argc; i++) {
		av[n++] = argv[i];
		if (!strcmp(argv[i], ":"))
			n = add_env(av, n, keyarg);
	}
	av[n] = NULL;
	execvp(mpirun, av);
	fprintf(stderr, "encshim mpirun: cannot run %s: %s\n", mpirun,
		strerror(errno));
	free(av);
	return EXIT_FAIL;
}

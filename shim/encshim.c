/* SPDX-License-Identifier: MIT */
/* The encshim command: dispatch and top-level help. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "encshim/aead.h"
#include "encshim/error.h"

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
} commands[] = {
	{ "keygen", cmd_keygen, "write a new job secret (mode 0600)" },
	{ "info", cmd_info, "version, AES-GCM backend, CPU features, seal/open rate" },
	{ "selftest", cmd_selftest, "seal/open round trips and tamper checks, both backends" },
	{ "mpirun", cmd_mpirun, "run mpirun with the encshim Open MPI plugin loaded and required" },
	{ "preload", cmd_preload, "run an RDMA program with the verbs interposer preloaded" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: encshim COMMAND [ARGS...]\n"
		   "       encshim COMMAND --help\n\n"
		   "AES-256-GCM encryption in transit for MPI and RDMA jobs.\n\n"
		   "commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nenvironment:\n"
		   "  ENCSHIM_KEY_FILE  job secret file (default ~/.encshim/job.key)\n"
		   "  ENCSHIM_BACKEND   auto | ipsecmb | openssl | sodium (default auto: fastest usable)\n\n"
		   "exit codes: 0 ok, 1 failure, 2 usage error, 3 job secret missing or unsafe\n");
}

int main(int argc, char **argv)
{
	int rc;

	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		usage(stdout);
		return EXIT_OK;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("encshim %s\n", PACKAGE_VERSION);
		return EXIT_OK;
	}
	rc = encshim_init();
	if (rc) {
		fprintf(stderr, "encshim: %s\n", encshim_strerror(rc));
		return EXIT_FAIL;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "encshim: unknown command '%s'\n\n", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}

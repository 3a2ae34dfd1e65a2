/* SPDX-License-Identifier: MIT */
/* encshim keygen [--force] [PATH] */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "encshim/keyfile.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: encshim keygen [--force] [PATH]\n\n"
		   "Writes a new 32-byte job secret to PATH (default: $ENCSHIM_KEY_FILE,\n"
		   "else ~/.encshim/job.key) with mode 0600. Every rank of a job must read\n"
		   "the same secret: on a shared home directory the default needs no setup;\n"
		   "otherwise copy the file to each node with its mode kept.\n"
		   "Never replaces an existing file unless --force is given.\n");
}

int cmd_keygen(int argc, char **argv)
{
	char path[4096];
	const char *p = NULL;
	int force = 0, rc;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return EXIT_OK;
		} else if (!strcmp(argv[i], "--force") || !strcmp(argv[i], "-f")) {
			force = 1;
		} else if (argv[i][0] == '-' || p) {
			usage(stderr);
			return EXIT_USAGE;
		} else {
			p = argv[i];
		}
	}
	if (!p) {
		rc = encshim_keyfile_path(path, sizeof(path));
		if (rc) {
			fprintf(stderr, "encshim keygen: %s\n", encshim_strerror(rc));
			return EXIT_KEY;
		}
		p = path;
	}
	rc = encshim_keyfile_generate(p, force);
	if (rc) {
		fprintf(stderr, "encshim keygen: %s: %s\n", p, encshim_strerror(rc));
		return EXIT_KEY;
	}
	printf("encshim: wrote a new job secret to %s (mode 0600)\n", p);
	return EXIT_OK;
}

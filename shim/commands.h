/* SPDX-License-Identifier: MIT */
/* Subcommands of the encshim command; each returns an exit code. */
#ifndef ENCSHIM_COMMANDS_H
#define ENCSHIM_COMMANDS_H

/* Exit codes (documented in `encshim --help` and README.md). */
#define EXIT_OK 0
#define EXIT_FAIL 1    /* the operation failed; the message says why */
#define EXIT_USAGE 2   /* bad command line */
#define EXIT_KEY 3     /* job secret missing or unsafe */

int cmd_keygen(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_selftest(int argc, char **argv);
int cmd_mpirun(int argc, char **argv);
int cmd_preload(int argc, char **argv);

#endif

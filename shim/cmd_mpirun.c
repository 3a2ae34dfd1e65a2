/* SPDX-License-Identifier: MIT */
/* encshim mpirun: replaced by the Open MPI plugin's launcher. */
#include "config.h"

#include <stdio.h>

#include "commands.h"

int cmd_mpirun(int argc, char **argv)
{
	fprintf(stderr, "encshim mpirun: the Open MPI plugin is not part of this build yet\n");
	return EXIT_FAIL;
}

/* SPDX-License-Identifier: MIT */
/*
 * encshim mpirun: finds every place an Open MPI job takes its pml and hook
 * component lists from, and refuses a list that leaves encshim out (the
 * job would then run unencrypted, or without the check that stops it),
 * and any pml_encshim_enable other than 1.
 */
#ifndef ENCSHIM_MCA_CHECK_H
#define ENCSHIM_MCA_CHECK_H

/* Whether Open MPI's component list `list` (the value of --mca pml LIST)
 * keeps component `name` selectable: unset or empty keeps every
 * component; "^a,b" keeps all but a and b; "a,b" only a and b. A '^'
 * anywhere but first counts as leaving `name` out. */
int mca_list_keeps(const char *list, const char *name);

/* Checks mpirun's arguments (argv[0] is the first one), the OMPI_MCA_*
 * environment and the parameter files these name. Returns 0, or -1 after
 * printing where a setting leaves encshim out and the fix. *names_hook is set
 * when the command line itself gives a hook list. */
int mca_check_job(int argc, char **argv, int *names_hook);

#endif

/* SPDX-License-Identifier: MIT */
/* Byte counts on the command line of the benchmarks. */
#ifndef ENCSHIM_BENCH_SIZE_H
#define ENCSHIM_BENCH_SIZE_H

#include <stddef.h>

/* "64", "4K", "16MiB", "1G": binary suffixes, optional "i" and "B".
 * Returns 0, or -1 if s is not such a number. */
int bench_parse_size(const char *s, size_t *out);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * Plaintext left behind (review item 11, MPI part). Rank 0 sends rank 1 a
 * message in a non-contiguous (vector) datatype, so rank 1 opens it in a
 * staging frame and unpacks it; rank 1 checks it, wipes its own buffer,
 * and then searches every writable mapping of its own memory for the
 * message's bytes. Prints "residue: none", or "residue: FOUND n" when a
 * copy survived (in a staging frame returned to the pool, for example).
 */
#define _GNU_SOURCE
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOCKS 64
#define BLOCK 64 /* bytes per block; the vector has a stride of 2 blocks */

/* A pattern made at run time (it is in no binary): 64 bytes per block. */
static void pattern(unsigned char *p, size_t len)
{
	uint32_t x = 0x9e3779b9u;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (unsigned char)x;
	}
}

/* Copies of needle in rw mappings, other than at skip. */
static int search(const unsigned char *needle, size_t len,
		  const unsigned char *skip)
{
	char line[512];
	FILE *f = fopen("/proc/self/maps", "r");
	int found = 0;

	while (f && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		char perms[8];

		if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) != 3 ||
		    perms[0] != 'r' || perms[1] != 'w' || strstr(line, "[v"))
			continue;
		for (const unsigned char *p = (const unsigned char *)lo;
		     (p = memmem(p, hi - (unsigned long)p, needle, len));
		     p++)
			if (p != skip)
				found++;
	}
	if (f)
		fclose(f);
	return found;
}

int main(int argc, char **argv)
{
	int rank;
	unsigned char *want = malloc(BLOCKS * BLOCK), *buf = calloc(2 * BLOCKS, BLOCK);
	MPI_Datatype vec;

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Type_vector(BLOCKS, BLOCK, 2 * BLOCK, MPI_BYTE, &vec);
	MPI_Type_commit(&vec);
	pattern(want, BLOCKS * BLOCK);
	if (rank == 0) {
		for (int b = 0; b < BLOCKS; b++)
			memcpy(buf + 2 * b * BLOCK, want + b * BLOCK, BLOCK);
		MPI_Send(buf, 1, vec, 1, 9, MPI_COMM_WORLD);
	} else if (rank == 1) {
		int bad = 0, found;

		MPI_Recv(buf, 1, vec, 0, 9, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
		for (int b = 0; b < BLOCKS; b++)
			bad |= memcmp(buf + 2 * b * BLOCK, want + b * BLOCK, BLOCK);
		memset(buf, 0, 2 * BLOCKS * BLOCK);
		/* the packed message: all blocks back to back, as staged */
		found = search(want, BLOCKS * BLOCK, want);
		if (bad)
			printf("residue: WRONG data received\n");
		else if (found)
			printf("residue: FOUND %d\n", found);
		else
			printf("residue: none\n");
	}
	MPI_Type_free(&vec);
	MPI_Finalize();
	return 0;
}

#!/bin/sh
# MPI_THREAD_MULTIPLE: 4 threads per rank, thousands of messages with
# random sizes (0..64 KiB) and tags, received with wildcards, each one
# checked, and persistent requests restarted in every thread. vader runs
# 2 ranks: with 3 ranks, Open MPI 4.1.4's vader stalls in MPI_Waitall in
# about 2 runs of 5 without encshim as well (seen on this 2-core machine).
. "$top_srcdir/tests/mpi/lib.sh"
enc $(transport tcp 1) -np 3 "$TB/threads" 800 4
expect_ok "4 threads x 3 ranks x 6400 messages per rank over tcp" "threads: ok"
for tr in vader ucx; do
	enc $(transport $tr 1) -np 2 "$TB/threads" 1500 4
	expect_ok "4 threads x 2 ranks x 6000 messages per rank over $tr" "threads: ok"
done

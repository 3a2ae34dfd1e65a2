#!/bin/sh
# MPI_THREAD_MULTIPLE: 4 threads per rank, thousands of messages with
# random sizes and tags, received with wildcards, each checked.
. "$top_srcdir/tests/mpi/lib.sh"
for tr in tcp vader ucx; do
	enc $(transport $tr 1) -np 3 "$TB/threads" 800 4
	expect_ok "4 threads x 3 ranks x 1600 messages over $tr" "threads: ok"
done

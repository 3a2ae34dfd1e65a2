#!/bin/sh
# No plaintext survives a receive (review item 11, MPI part): a message in
# a non-contiguous datatype is opened in a staging frame and unpacked;
# once the receiver has wiped its own buffer, no copy of the message is
# left anywhere in its writable memory (the staging frame is zeroed
# before it returns to the pool).
. "$top_srcdir/tests/mpi/lib.sh"
for tr in tcp vader; do
	enc $(transport $tr 1) -np 2 "$TB/residue"
	expect_ok "no plaintext left in the receiver's memory over $tr" "residue: none"
done

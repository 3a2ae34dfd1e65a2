#!/bin/sh
# Coverage x collectives over ob1+tcp, ob1+vader and ucx, all encrypted;
# every program checks each result against the value it computed.
. "$top_srcdir/tests/mpi/lib.sh"
for tr in tcp vader ucx; do
	enc $(transport $tr 1) --mca pml_encshim_verbose 1 -np 3 "$TB/p2p"
	expect_ok "p2p over $tr" "p2p: ok"
	grep -q "auth failures 0" "$T/out" || fail "p2p over $tr: no summary line"
	enc $(transport $tr 1) -np 4 "$TB/coll"
	expect_ok "collectives over $tr" "coll: ok"
done
# 256 MiB in one message (and a big allreduce on the way back)
enc $(transport vader 1) -np 2 "$TB/p2p" 268435456
expect_ok "256 MiB message over vader" "p2p: ok"
enc $(transport tcp 1) -np 2 "$TB/pvars"
expect_ok "MPI_T counters" "pvars: ok"
enc $(transport tcp 1) --mca pml_encshim_verbose 1 -np 3 "$TB/rma"
expect_ok "one-sided (osc pt2pt) through the PML" "rma: ok"
grep -q "sealed [1-9]" "$T/out" || fail "one-sided: nothing sealed"

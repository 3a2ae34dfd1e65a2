#!/bin/sh
# An on-path attacker below MPI flips a bit in what goes into the BTL's
# TCP sockets: without encshim the application gets corrupted data; with
# it the frame is refused, the peer named, nothing corrupted delivered.
. "$top_srcdir/tests/mpi/lib.sh"
LIB="$TB/.libs/libtamper.so"
[ -f "$LIB" ] || fail "missing $LIB"
TAMPER="--mca btl self,tcp --mca btl_tcp_if_include lo
	--mca btl_tcp_port_min_v4 46100 --mca btl_tcp_port_range_v4 64
	-x LD_PRELOAD=$LIB -x TAMPER_PORT_MIN=46100 -x TAMPER_PORT_MAX=46163"
plain --mca pml ob1 $TAMPER -np 2 "$TB/marker" 5 4096
grep -q CORRUPTED "$T/out" || fail "the tamper library did not alter plaintext traffic"
ok "without encshim, tampered bytes reach the application"
enc $TAMPER -np 2 "$TB/marker" 5 4096
expect_refused "tampered frame" "message from rank 0 .*refused, not delivered: authentication failed"
if grep -q CORRUPTED "$T/out"; then fail "corrupted data was delivered"; fi
ok "no corrupted data delivered"

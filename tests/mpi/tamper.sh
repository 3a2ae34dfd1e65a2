#!/bin/sh
# An on-path attacker below MPI alters what goes into the BTL's TCP
# sockets. A flipped bit: without encshim the application gets corrupted
# data; with it the frame is refused, the peer named, nothing corrupted
# delivered. A replayed frame: without encshim accepted unnoticed; with it
# refused as a replay.
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

# Replay: every later 4 KiB message carries the first message's frame
# (4096 + 48 bytes) under fresh, valid transport headers.
REPLAY="--mca btl self,tcp --mca btl_tcp_if_include lo
	--mca btl_tcp_port_min_v4 46200 --mca btl_tcp_port_range_v4 64
	-x LD_PRELOAD=$LIB -x TAMPER_PORT_MIN=46200 -x TAMPER_PORT_MAX=46263
	-x TAMPER_MODE=replay -x TAMPER_TAIL=4144"
plain --mca pml ob1 $REPLAY -np 2 "$TB/marker" 5 4096 same-tag
expect_ok "without encshim a replayed message is accepted unnoticed" "marker: ok"
enc $REPLAY -np 2 "$TB/marker" 5 4096 same-tag
expect_refused "replayed frame" "message from rank . .*refused, not delivered: replayed frame"

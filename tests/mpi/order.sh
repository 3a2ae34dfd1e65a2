#!/bin/sh
# MPI's message order and communicator identity against an on-path
# attacker below MPI (tamper.c on the TCP sockets of ob1's TCP BTL and of
# UCX's tcp transport) who rewrites the transport's own ordering, drops or
# repeats a frame, or replays a frame of a freed communicator onto a
# later one with the same context id. Without encshim each attack makes
# the application take wrong data; with it the frame is refused and the
# peer named (docs/PROTOCOL.md section 11, "Order", "Communicators").
. "$top_srcdir/tests/mpi/lib.sh"
LIB="$TB/.libs/libtamper.so"
[ -f "$LIB" ] || fail "missing $LIB"
# Frame bytes after a 4096-byte message (48; 32 before stream fields).
FRAME=$((4096 + ${ENCSHIM_TEST_MPI_OVERHEAD:-48}))
REFUSED="message from rank 0 .*refused, not delivered"
BCAST="--mca coll_tuned_use_dynamic_rules 1 --mca coll_tuned_bcast_algorithm 3
	--mca coll_tuned_bcast_algorithm_segmentsize 4096"

# ob1 over the TCP BTL. To swap, the attacker keeps each slot's ob1
# hdr_seq (8 bytes of BTL TCP header, then offset 12 of the match header,
# u16), so ob1 sees its sequence intact. UCX's tcp transport has no
# sequence number of its own (TCP orders it): swapping whole writes is
# enough.
ob1_args() {
	TR="--mca btl self,tcp --mca btl_tcp_if_include lo
		--mca btl_tcp_port_min_v4 46300 --mca btl_tcp_port_range_v4 64
		-x LD_PRELOAD=$LIB -x TAMPER_PORT_MIN=46300 -x TAMPER_PORT_MAX=46363"
	PLAIN="--mca pml ob1"
	SWAP="-x TAMPER_MODE=swap -x TAMPER_KEEP_OFF=20 -x TAMPER_KEEP_LEN=2"
}
ucx_args() {
	TR="--mca pml_ucx_tls any --mca pml_ucx_devices any -x UCX_TLS=tcp,self
		-x UCX_NET_DEVICES=lo -x UCX_TCP_PORT_RANGE=46400-46463
		-x LD_PRELOAD=$LIB -x TAMPER_PORT_MIN=46400 -x TAMPER_PORT_MAX=46463"
	PLAIN="--mca pml ucx"
	SWAP="-x TAMPER_MODE=swap"
}

# attack NAME TAMPER_ARGS PLAIN_TAIL ENC_TAIL PROGRAM_ARGS CAUSE
attack() {
	name="$1 ($pml)" how=$2 ptail=$3 etail=$4 args=$5 cause=$6
	plain $PLAIN $TR $how -x TAMPER_TAIL=$ptail -np 2 "$TB/order" $args
	grep -q "order: WRONG" "$T/out" ||
		fail "$name: the attack did not alter a plaintext job"
	[ "$pml" = ucx ] && set -- --mca pml ucx,encshim || set --
	enc_attack "$@" $TR $how -x TAMPER_TAIL=$etail -np 2 "$TB/order" $args
	if grep -q "order: WRONG" "$T/out"; then fail "$name: wrong data delivered"; fi
	expect_refused_or_held "$name" "$REFUSED: $cause"
}

# ob1 over tcp by default. UCX's tcp transport may coalesce the frames
# the tamper tool must hold apart, and the held write is then never
# released (the job hangs until its time limit, with or without encshim):
# ATTACK_PMLS="ob1 ucx" runs the UCX cases too (they passed in most runs).
for pml in ${ATTACK_PMLS:-ob1}; do
	${pml}_args
	attack "swapped same-tag messages" "$SWAP" 0 0 tag "dropped or reordered"
	attack "dropped message" "-x TAMPER_MODE=drop" 4096 $FRAME tag "dropped or reordered"
	attack "duplicated message" "-x TAMPER_MODE=replay" 4096 $FRAME tag "replayed frame"
	attack "swapped same-tag messages, receives in two threads (MPI_THREAD_MULTIPLE)" \
		"$SWAP" 0 0 threads "dropped or reordered"
	attack "swapped messages, ANY_SOURCE/ANY_TAG receives" "$SWAP" 0 0 any "dropped or reordered"
	attack "swapped messages, ANY_TAG receives, a receive of another tag pending" \
		"$SWAP" 0 0 bystander "dropped or reordered"
	attack "swapped messages, MPI_Mprobe/MPI_Mrecv" "$SWAP" 0 0 mprobe "dropped or reordered"
	attack "swapped segments of a pipelined MPI_Bcast" "$SWAP $BCAST" 0 0 bcast "dropped or reordered"
	attack "frame of a freed communicator, same context id and group" \
		"-x TAMPER_MODE=replay" 4096 $FRAME reuse "authentication failed"
	attack "frame of a freed communicator, same context id, other group" \
		"-x TAMPER_MODE=replay" 4096 $FRAME regroup "authentication failed"
done

# MPI's own out-of-order completions are never refused.
for tr in tcp vader ucx; do
	enc $(transport $tr 1) -np 2 "$TB/order" honest
	expect_ok "honest out-of-order completions over $tr" "order: ok"
done

#!/bin/sh
# MPI's message order and communicator identity against an on-path
# attacker below MPI (tamper.c on the TCP sockets of ob1's TCP BTL and of
# UCX's tcp transport) who rewrites the transport's own ordering, drops or
# repeats a frame, or replays a frame of a freed communicator onto a
# later one with the same context id. Without encshim each attack makes
# the application take wrong data; with it the frame is refused and the
# peer named (docs/PROTOCOL.md section 11, "Order", "Communicators").
. "$top_srcdir/tests/mpi/lib.sh"
# Frame bytes after a 4096-byte message (48; 32 before stream fields).
FRAME=$((4096 + ${ENCSHIM_TEST_MPI_OVERHEAD:-48}))
BCAST="--mca coll_tuned_use_dynamic_rules 1 --mca coll_tuned_bcast_algorithm 3
	--mca coll_tuned_bcast_algorithm_segmentsize 4096"

# attack NAME TAMPER_ARGS PLAIN_TAIL ENC_TAIL PROGRAM_ARGS CAUSE
attack() {
	name="$1 ($pml)" how=$2 ptail=$3 etail=$4 args=$5 cause=$6
	plain $PLAIN $TR $how -x TAMPER_TAIL=$ptail -np 2 "$TB/order" $args
	grep -q "order: WRONG" "$T/out" ||
		fail "$name: the attack did not alter a plaintext job"
	enc_attack $ENC $TR $how -x TAMPER_TAIL=$etail -np 2 "$TB/order" $args
	if grep -q "order: WRONG" "$T/out"; then fail "$name: wrong data delivered"; fi
	expect_refused_or_held "$name" "$REFUSED: $cause"
}

# Over $ATTACK_PMLS (lib.sh, tamper_args).
for pml in $ATTACK_PMLS; do
	tamper_args $pml 46300
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

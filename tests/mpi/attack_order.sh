#!/bin/sh
# Attacks on pml/encshim's order audit that deliver a later message to an
# earlier receive with no error (attack_order.c). tamper.c swaps the first
# two 4096-byte messages of rank 0, keeping each slot's ob1 hdr_seq, while
# a 1024-byte message of another tag passes between them (each was an
# exploit on 13182cd; the audit must refuse all, docs/PROTOCOL.md 11):
#  - evict: tags 0 and 4 shared the sender's tag slot, so the second tag-0
#    message carried delta 0 and the first tag-0 receive took it;
#  - gap: the first ANY_TAG receive takes place 2, whose stream field
#    names place 1 (tag 1, which an earlier tag-1 receive may take) and
#    nothing of place 0 (tag 7, which only this receive may take);
#  - probe: MPI_Probe(ANY_TAG) reports the later message, and the receive
#    of that one tag that follows takes it; the swap is never refused;
#  - vanish: the same dispatcher (probe, then receive the reported tag,
#    until a stop tag); the first message is discarded whole (ob1's
#    hdr_seq of the later ones lowered by one): the job ends normally.
# Neighbours that hold, kept as regression checks: probeany (probe, then
# a receive of MPI_ANY_TAG), persist (MPI_Bsend, one persistent receive
# started twice).
# The exploit works when a receive completes without an error holding the
# wrong message ("attack: WRONG"); a fix refuses that receive.
. "$top_srcdir/tests/mpi/lib.sh"
LIB="$TB/.libs/libtamper.so"
[ -f "$LIB" ] || fail "missing $LIB"
# ob1: keep each slot's hdr_seq (8 bytes of BTL TCP header, then offset
# 12 of the match header); UCX's tcp transport has no sequence number of
# its own, swapping whole writes is enough (as in order.sh).
ob1_args() {
	TR="--mca btl self,tcp --mca btl_tcp_if_include lo
		--mca btl_tcp_port_min_v4 47300 --mca btl_tcp_port_range_v4 64
		-x LD_PRELOAD=$LIB -x TAMPER_PORT_MIN=47300 -x TAMPER_PORT_MAX=47363"
	SWAP="-x TAMPER_MODE=swap -x TAMPER_KEEP_OFF=20 -x TAMPER_KEEP_LEN=2"
	VANISH="-x TAMPER_MODE=vanish -x TAMPER_SEQ_OFF=20"
	PLAIN="--mca pml ob1" ENC=""
}
ucx_args() {
	TR="--mca pml_ucx_tls any --mca pml_ucx_devices any -x UCX_TLS=tcp,self
		-x UCX_NET_DEVICES=lo -x UCX_TCP_PORT_RANGE=47400-47463
		-x LD_PRELOAD=$LIB -x TAMPER_PORT_MIN=47400 -x TAMPER_PORT_MAX=47463"
	SWAP="-x TAMPER_MODE=swap" VANISH="-x TAMPER_MODE=vanish"
	PLAIN="--mca pml ucx" ENC="--mca pml ucx,encshim"
}
REFUSED="message from rank 0 .*refused, not delivered"
status=0

# ob1 over tcp by default. UCX's tcp transport may coalesce the frames
# the tamper tool must hold apart, and the held write is then never
# released (the job hangs until its time limit, with or without encshim):
# ATTACK_PMLS="ob1 ucx" runs the UCX cases too (they passed in most runs).
for pml in ${ATTACK_PMLS:-ob1}; do
	${pml}_args
	for mode in ${ATTACK_MODES:-evict gap probe vanish probeany persist}; do
		[ $mode = vanish ] && how=$VANISH || how=$SWAP
		plain $PLAIN $TR $how -np 2 "$TB/attack_order" $mode
		grep -q "attack: WRONG" "$T/out" ||
			fail "$mode ($pml): the attack did not alter a plaintext job"
		enc_attack $ENC $TR $how -np 2 "$TB/attack_order" $mode
		if grep -q "attack: WRONG" "$T/out"; then
			echo "FAIL: $mode ($pml): wrong data delivered without an error"
			grep "^attack\|^encshim" "$T/out" | sed 's/^/  | /'
			status=1
			continue
		fi
		expect_refused_or_held "$mode ($pml)" "$REFUSED"
	done
done
exit $status

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
status=0

# Over $ATTACK_PMLS (lib.sh, tamper_args).
for pml in $ATTACK_PMLS; do
	tamper_args $pml 47300
	for mode in ${ATTACK_MODES:-evict gap probe vanish probeany persist}; do
		[ $mode = vanish ] && how=$VANISH || how=$SWAP
		attack_job "$mode ($pml)" "$how" "$TB/attack_order" $mode
	done
done
exit $status

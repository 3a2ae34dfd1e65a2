#!/bin/sh
# Second red team on pml/encshim's order audit (attack2_order.c): attacks
# on the fixes themselves, each ending with "attack: WRONG" and "attack:
# job ended without any error" on the code they broke (ca61726), and each
# refused, or held with nothing wrong delivered, now (docs/PROTOCOL.md
# section 11, steps 6 and 7):
#  - probecap: 64 later probe reports pushed an MPI_ANY_TAG probe's
#    report out of a list of 64 (probecap63, one report fewer, the
#    control);
#  - gapvanish: the first message discarded whole while an earlier
#    receive of another tag is pending: the ANY_TAG count passed, the
#    next tag-2 receive took the message after (step 7 holds both);
#  - gaphandle: a message discarded whole while a matched probe of
#    another tag, posted earlier, is pending: the next receive of the
#    discarded message's tag took the one after (step 7 holds it);
#  - probedrop (ob1 only): the ANY_TAG probe's report was dropped
#    unchecked because a receive posted after the probe (the probed
#    message's own, a rendezvous one still in progress) was pending when
#    the next receive of that tag completed. tamper.c acts on rank 0 only
#    here and on writes of 30 bytes or more: it swaps the two rendezvous
#    headers;
#  - probestale: an earlier MPI_Iprobe of the one tag left the report for
#    that envelope (the oldest was kept), so a later MPI_ANY_TAG probe's
#    choice of the same message was checked with the one tag's pattern.
# The modes need only tamper.c (swap, vanish) as attack_order.sh uses it.
. "$top_srcdir/tests/mpi/lib.sh"
status=0

# Over $ATTACK_PMLS (lib.sh, tamper_args).
for pml in $ATTACK_PMLS; do
	tamper_args $pml 47500
	for mode in ${ATTACK_MODES:-probecap63 probecap gapvanish gaphandle probedrop probestale}; do
		set -- "$TB/attack2_order" $mode
		case $mode in
		gapvanish|gaphandle) how=$VANISH ;;
		probedrop) [ $pml = ob1 ] || continue
			how="$SWAP -x TAMPER_MIN_LEN=30"
			set -- sh -c '[ "$OMPI_COMM_WORLD_RANK" = 1 ] &&
				export TAMPER_PORT_MAX=0; exec "$0" "$@"' "$@" ;;
		*) how=$SWAP ;;
		esac
		attack_job "$mode ($pml)" "$how" "$@"
	done
done
exit $status

#!/bin/sh
# Second red team on pml/encshim's order audit (attack2_order.c): attacks
# on the fixes themselves, each ending with "attack: WRONG" and "attack:
# job ended without any error" when it works:
#  - probecap: 64 later probe reports push an MPI_ANY_TAG probe's report
#    out (ENCSHIM_MPI_PROBED_MAX), so the swap it reported is never
#    checked (probecap63, one report fewer, is refused: the control);
#  - gapvanish: the first message discarded whole while an earlier
#    receive of another tag is pending: the ANY_TAG count passes, the
#    next tag-2 receive takes the message after, the drain finds nothing;
#  - probedrop (ob1 only): the ANY_TAG probe's report dropped unchecked
#    because a receive posted after the probe (the probed message's own,
#    a rendezvous one still in progress) is pending when the next receive
#    of that tag completes. tamper.c acts on rank 0 only here and on
#    writes of 30 bytes or more: it swaps the two rendezvous headers;
#  - probestale: an earlier MPI_Iprobe of the one tag left the report for
#    that envelope (the oldest is kept), so a later MPI_ANY_TAG probe's
#    choice of the same message is checked with the one tag's pattern.
# The modes need only tamper.c (swap, vanish) as attack_order.sh uses it.
# Run by default: the control (probecap63), which is refused. probecap,
# gapvanish, probedrop and probestale still succeed: attack2_known.sh runs
# them as an expected failure, a known limit of PROTOCOL.md section 11.
. "$top_srcdir/tests/mpi/lib.sh"
status=0

# Over $ATTACK_PMLS (lib.sh, tamper_args).
for pml in $ATTACK_PMLS; do
	tamper_args $pml 47500
	for mode in ${ATTACK_MODES:-probecap63}; do
		set -- "$TB/attack2_order" $mode
		case $mode in
		gapvanish) how=$VANISH ;;
		probedrop) [ $pml = ob1 ] || continue
			how="$SWAP -x TAMPER_MIN_LEN=30"
			set -- sh -c '[ "$OMPI_COMM_WORLD_RANK" = 1 ] &&
				export TAMPER_PORT_MAX=0; exec "$0" "$@"' "$@" ;;
		*) how=$SWAP ;;
		esac
		plain $PLAIN $TR $how -np 2 "$@"
		grep -q "attack: WRONG" "$T/out" ||
			fail "$mode ($pml): the attack did not alter a plaintext job"
		enc_attack $ENC $TR $how -np 2 "$@"
		if grep -q "attack: WRONG" "$T/out"; then
			echo "FAIL: $mode ($pml): wrong data delivered (exit status $rc)"
			grep "^attack\|^encshim" "$T/out" | sed 's/^/  | /'
			status=1
			continue
		fi
		expect_refused_or_held "$mode ($pml)" "$REFUSED"
	done
done
exit $status

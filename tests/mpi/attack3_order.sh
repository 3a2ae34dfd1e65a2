#!/bin/sh
# Third red team on pml/encshim's order audit (attack3_order.c), on
# e24a853 (steps 6 and 7). On e24a853 the first three delivered wrong
# data with no error; now each is refused, or held with nothing wrong
# delivered (docs/PROTOCOL.md section 11):
#  - probelate (ob1): a nonblocking dispatcher (MPI_Probe(ANY_TAG), then
#    MPI_Irecv of the reported tag, twice). tamper.c (swapany, rank 0
#    only, writes of 30 bytes or more) puts B's rendezvous header before
#    A (eager), keeping each slot's hdr_seq. The first probe reports B;
#    A's receive, posted after the probe, completed before B's, so when
#    step 6 settled the report no place below B was untaken (now: a
#    receive posted after the probe took an earlier message it fits);
#  - probemerge (ob1; ucx/tcp too): the same dispatcher three times; P (tag 2, 8 MiB,
#    rendezvous), A (tag 7), N (tag 2); tamper.c swaps A and N. The second
#    probe reported N while P's receive was in progress: its report merged
#    into the first probe's (now: a report merges only if no receive was
#    posted between the probes);
#  - truncvanish (ob1): after the program's own MPI_ERR_TRUNCATE on an
#    MPI_ANY_TAG receive, a message discarded whole (vanish) was never
#    missed: the truncated receive's phantom kept the wildcard pattern
#    and any truncation turned step 7 off for one-tag receives (now: the
#    phantom has the reported tag, and a truncation excuses only its own
#    tag); truncheld, the same without the truncation, is the control;
#  - oobmrecv (honest): MPI_Imrecv of a matched large message waited in
#    the call for the frame (now it returns at once).
# oob, oobtag, oobchain (honest jobs that wait for a sender outside MPI)
# are a known limit: attack3_known.sh. lategap (honest, vader; about 3
# minutes, ATTACK_MODES=lategap): one message received last while 262144
# later ones of 8 tags are received is refused at the 65537th run.
# A break prints "attack: WRONG", a regression "regression: WAITED" or
# "regression: REFUSED".
. "$top_srcdir/tests/mpi/lib.sh"
status=0
export OOB_DIR="$T" OOB_WAIT=${OOB_WAIT:-10}

for pml in $ATTACK_PMLS; do
	tamper_args $pml 47700
	for mode in ${ATTACK_MODES:-probelate probemerge truncvanish truncheld oobmrecv}; do
		set -- "$TB/attack3_order" $mode
		case $mode in
		probelate) [ $pml = ob1 ] || continue
			how="-x TAMPER_MODE=swapany -x TAMPER_KEEP_OFF=20
				-x TAMPER_KEEP_LEN=2 -x TAMPER_MIN_LEN=30"
			set -- sh -c '[ "$OMPI_COMM_WORLD_RANK" = 1 ] &&
				export TAMPER_PORT_MAX=0; exec "$0" "$@"' "$@" ;;
		probemerge) how=$SWAP ;;
		trunc*) [ $pml = ob1 ] || continue
			how=$VANISH ;;
		lategap) [ $pml = ob1 ] || continue
			LIMIT=${ENCSHIM_TEST_LIMIT:-400}
			export GAP_MSGS=${GAP_MSGS:-270000}
			plain $(transport vader 0) -x GAP_MSGS -np 2 "$@"
			grep -q "regression: REFUSED" "$T/out" &&
				fail "$mode: refused without encshim"
			enc $(transport vader 1) -x GAP_MSGS -np 2 "$@"
			if grep -q "regression: REFUSED" "$T/out" || [ $rc != 0 ]; then
				echo "FAIL: $mode: honest job: $(grep '^gap: [0-9]* messages' "$T/out") (exit status $rc)"
				grep "^gap\|^encshim" "$T/out" | sed 's/^/  | /'
				status=1
			else
				ok "$mode: $(grep '^gap: [0-9]* messages' "$T/out")"
			fi
			continue ;;
		oob*)	# honest: the tamper preload passes writes under its
			# threshold, so set one no write reaches
			how="-x TAMPER_MODE=swap -x TAMPER_MIN_LEN=1000000000 -x OOB_DIR -x OOB_WAIT"
			plain $PLAIN $TR $how -np 2 "$@"
			grep -q "regression: WAITED" "$T/out" &&
				fail "$mode ($pml): waits without encshim"
			enc $ENC $TR $how -np 2 "$@"
			if grep -q "regression: WAITED" "$T/out" || [ $rc != 0 ]; then
				echo "FAIL: $mode ($pml): honest job: $(grep -m1 '^oob: [sM]' "$T/out") (exit status $rc)"
				status=1
			else
				ok "$mode ($pml): $(grep -m1 '^oob: [sM]' "$T/out")"
			fi
			continue ;;
		esac
		attack_job "$mode ($pml)" "$how" "$@"
	done
done
exit $status

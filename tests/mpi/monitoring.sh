#!/bin/sh
# Open MPI's pml/monitoring beside encshim (docs/MPI.md, "Fail closed"):
# with --mca pml_monitoring_enable 1 and no PML named, monitoring wraps
# encshim's table, which still seals every message: the job runs,
# monitoring reports what it saw, and (as root) the marker never reaches
# the wire. A PML list that leaves encshim out is refused, naming the
# list, with advice that works when followed; a missing pml/encshim is
# named as such.
. "$top_srcdir/tests/mpi/lib.sh"
TCP=$(transport tcp 1)
MON="--mca pml_monitoring_enable 1 --mca pml_monitoring_enable_output 1"

enc $TCP $MON --mca pml_encshim_verbose 1 -np 2 "$TB/marker" 5 4096
expect_ok "pml_monitoring_enable 1 beside encshim" "marker: ok"
grep -q "rank 1: sealed [1-9]" "$T/out" || fail "rank 1 sealed nothing"
grep -q "^E	1	0	.* msgs sent" "$T/out" || fail "pml/monitoring reported nothing"
ok "monitoring counted the messages that encshim sealed"

CP="$ENCSHIM_COMPONENT_DIR:$(ompi_info --path pkglibdir --parsable | sed 's/^path:pkglibdir://')"
BYHAND="--mca mca_component_path $CP --mca pml_encshim_enable 1 -x ENCSHIM_KEY_FILE --mca hook encshim"
plain $BYHAND $MON --mca pml ob1 $TCP -np 2 "$TB/marker"
expect_refused "monitoring with --mca pml ob1" "The PML list 'ob1' (--mca pml, or OMPI_MCA_pml) keeps pml/encshim from loading"
if grep -q "marker: ok" "$T/out"; then fail "the job ran"; fi
plain $BYHAND $MON --mca pml ob1,encshim --mca pml_encshim_verbose 1 $TCP -np 2 "$TB/marker"
expect_ok "the advice followed: --mca pml ob1,encshim" "marker: ok"
grep -q "rank 1: sealed [1-9]" "$T/out" || fail "rank 1 sealed nothing"
# pml/encshim missing (a directory with the hook only) and no PML list
# (Debian's exclusion list "^ucx" is not one): the refusal says so
mkdir "$T/hookonly" && cp "$ENCSHIM_COMPONENT_DIR/mca_hook_encshim.so" "$T/hookonly/" || fail "copy"
plain --mca mca_component_path "$T/hookonly:${CP#*:}" --mca pml_encshim_enable 1 \
	-x ENCSHIM_KEY_FILE --mca hook encshim $TCP -np 2 "$TB/marker"
expect_refused "pml/encshim not installed" "and no PML list was set: pml/encshim was not loaded"

# ---- the wire, in a network namespace of its own (as wire.sh) ----
if [ "$(id -u)" != 0 ] || ! command -v tcpdump >/dev/null ||
	! command -v ip >/dev/null; then
	echo "SKIP: the wire capture needs root, tcpdump and iproute2"
	exit 0
fi
NS=esmon$$
if ! ip netns add $NS 2>/dev/null; then
	echo "SKIP: cannot create a network namespace"
	exit 0
fi
CLEANUP="ip netns del $NS 2>/dev/null;"
ip -n $NS link set lo up || fail "lo up"
ip netns exec $NS tcpdump -i lo -U --immediate-mode -Z root -s 0 \
	-w "$T/mon.pcap" tcp >"$T/mon.tcpdump" 2>&1 &
CAP=$!
CLEANUP="kill $CAP 2>/dev/null; $CLEANUP"
for _ in 1 2 3 4 5 6 7 8 9 10; do
	grep -qs listening "$T/mon.tcpdump" && break
	sleep 0.2
done
grep -qs listening "$T/mon.tcpdump" || fail "tcpdump did not start"
rc=0; ip netns exec $NS timeout -k 10 "$LIMIT" "$B/encshim" mpirun $MPIRUN_OPTS \
	$TCP $MON -np 2 "$TB/marker" 5 4096 >"$T/out" 2>&1 || rc=$?
sleep 0.5; kill $CAP; wait $CAP 2>/dev/null
expect_ok "pml_monitoring_enable 1 beside encshim, captured" "marker: ok"
[ "$(stat -c %s "$T/mon.pcap")" -gt 10000 ] || fail "nearly empty capture"
if grep -a -q ENCSHIM-PLAINTEXT-MARKER-7f3a9c "$T/mon.pcap"; then
	fail "the marker is on the wire with monitoring beside encshim"
fi
ok "with monitoring beside encshim the marker is not on the wire"

#!/bin/sh
# Wire proof on loopback: a job whose buffers hold a known marker runs
# over btl tcp while tcpdump captures; the marker is on the wire without
# encshim and absent with it (and absent when the user names a PML and
# hook/encshim stops the job). Everything runs in a network namespace of
# its own, so that the capture sees only this test's traffic (make -j
# runs other tests beside it).
. "$top_srcdir/tests/mpi/lib.sh"
need_root "tcpdump, network namespace"
command -v tcpdump >/dev/null || skip "tcpdump not installed"
command -v ip >/dev/null || skip "iproute2 not installed"
MARK=ENCSHIM-PLAINTEXT-MARKER-7f3a9c
NS=esmpiw$$
ip netns add $NS 2>/dev/null || skip "cannot create a network namespace"
CLEANUP="ip netns del $NS 2>/dev/null;"
ip -n $NS link set lo up || fail "lo up"
# the jobs of this script run in the namespace
plain() {
	rc=0
	ip netns exec $NS timeout -k 10 "$LIMIT" mpirun $MPIRUN_OPTS "$@" >"$T/out" 2>&1 || rc=$?
	{ [ "$rc" = 124 ] || [ "$rc" = 137 ]; } && fail "timed out after ${LIMIT}s: mpirun $*"
	return 0
}
enc() {
	rc=0
	ip netns exec $NS timeout -k 10 "$LIMIT" "$B/encshim" mpirun $MPIRUN_OPTS "$@" >"$T/out" 2>&1 || rc=$?
	{ [ "$rc" = 124 ] || [ "$rc" = 137 ]; } && fail "timed out after ${LIMIT}s: encshim mpirun $*"
	return 0
}

# capture NAME: starts tcpdump on lo into $T/NAME.pcap
capture() {
	ip netns exec $NS tcpdump -i lo -U --immediate-mode -Z root -s 0 \
		-w "$T/$1.pcap" tcp >"$T/$1.tcpdump" 2>&1 &
	CAP=$!
	CLEANUP="kill $CAP 2>/dev/null; ip netns del $NS 2>/dev/null;"
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		grep -qs "listening" "$T/$1.tcpdump" && return 0
		sleep 0.2
	done
	skip "tcpdump did not start: $(cat "$T/$1.tcpdump")"
}
stop() {
	sleep 0.5
	kill "$CAP"; wait "$CAP" 2>/dev/null
	CLEANUP="ip netns del $NS 2>/dev/null;"
}
has_marker() { grep -a -q "$MARK" "$T/$1.pcap"; }

TCP=$(transport tcp 1)
capture plain
plain --mca pml ob1 $TCP -np 2 "$TB/marker" 5 4096
stop
expect_ok "plaintext job" "marker: ok"
has_marker plain || fail "the marker is not in the plaintext capture: the capture sees nothing"
ok "without encshim the marker is on the wire ($(grep -a -c "$MARK" "$T/plain.pcap") packets)"

capture enc
enc $TCP -np 2 "$TB/marker" 5 4096
stop
expect_ok "encrypted job" "marker: ok"
[ "$(stat -c %s "$T/enc.pcap")" -gt 10000 ] || fail "the capture of the encrypted job is nearly empty"
if has_marker enc; then fail "the marker is on the wire with encshim"; fi
ok "with encshim the marker is not on the wire"

UCXTCP="-x UCX_TLS=tcp,self -x UCX_NET_DEVICES=lo"
capture ucxplain
plain $(transport ucx 0) $UCXTCP -np 2 "$TB/marker" 5 4096
stop
expect_ok "plaintext job over ucx/tcp" "marker: ok"
has_marker ucxplain || fail "ucx did not use tcp on lo: nothing to compare"
ok "without encshim over ucx/tcp the marker is on the wire"

capture ucx
enc $(transport ucx 1) $UCXTCP -np 2 "$TB/marker" 5 4096
stop
expect_ok "encrypted job over ucx/tcp" "marker: ok"
if has_marker ucx; then fail "the marker is on the wire with encshim over ucx"; fi
ok "with encshim over ucx/tcp the marker is not on the wire"

CP="$ENCSHIM_COMPONENT_DIR:$(ompi_info --path pkglibdir --parsable | sed 's/^path:pkglibdir://')"
capture named
plain --mca mca_component_path "$CP" --mca pml_encshim_enable 1 \
	-x ENCSHIM_KEY_FILE --mca pml ob1 $TCP -np 2 "$TB/marker" 5 4096
stop
expect_refused "--mca pml ob1" "refusing to run unencrypted"
if has_marker named; then fail "the marker went out in clear before the job stopped"; fi
ok "with --mca pml ob1 the job stops before any clear text"

#!/bin/sh
# Two hosts: network namespaces A and B joined by a veth pair; mpirun
# runs in A and starts the second rank in B through plm_rsh_agent, the
# ranks talk over btl tcp across the veth while tcpdump captures it. The
# marker crosses the veth in clear without encshim and never with it.
. "$top_srcdir/tests/mpi/lib.sh"
need_root "network namespaces"
command -v ip >/dev/null || skip "iproute2 not installed"
command -v tcpdump >/dev/null || skip "tcpdump not installed"
command -v unshare >/dev/null || skip "unshare not installed"
two_hosts esmpi 231 || skip "cannot create network namespaces"
AGENT="$top_srcdir/tests/mpi/rsh-netns.sh"
MARK=ENCSHIM-PLAINTEXT-MARKER-7f3a9c
HOSTS="--host $NET.1,$NET.2 -np 2 --map-by node
	--mca plm_rsh_agent $AGENT --mca btl self,tcp
	--mca btl_tcp_if_include $NET.0/24 --mca oob_tcp_if_include $NET.0/24
	-x ENCSHIM_NETNS_MAP"


capture plain
rc=0; in_a timeout -k 10 "$LIMIT" mpirun $MPIRUN_OPTS --mca pml ob1 $HOSTS \
	"$TB/marker" 5 4096 >"$T/out" 2>&1 || rc=$?
stop
expect_ok "plaintext job across two namespaces" "marker: ok"
grep -a -q "$MARK" "$T/plain.pcap" || fail "no marker on the veth without encshim: the ranks did not talk across it"
ok "without encshim the marker crosses the veth"

capture enc
rc=0; in_a timeout -k 10 "$LIMIT" "$B/encshim" mpirun $MPIRUN_OPTS $HOSTS \
	--mca pml_encshim_verbose 1 "$TB/marker" 5 4096 >"$T/out" 2>&1 || rc=$?
stop
expect_ok "encrypted job across two namespaces" "marker: ok"
grep -q "rank 1: sealed [1-9]" "$T/out" || fail "rank 1 sealed nothing"
[ "$(stat -c %s "$T/enc.pcap")" -gt 10000 ] || fail "nearly empty capture"
if grep -a -q "$MARK" "$T/enc.pcap"; then fail "the marker crossed the veth with encshim"; fi
ok "with encshim the marker never crosses the veth"

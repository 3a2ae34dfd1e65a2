#!/bin/sh
# One-sided communication under encshim mpirun (docs/MPI.md, "One-sided
# communication"). tests/mpi/rma checks every window flavour with every
# synchronisation and operation on COMM_SELF, a dup, a split and WORLD
# against expected values; here it runs with 2 ranks over tcp and vader,
# at every thread level (SINGLE to MULTIPLE), against the plaintext
# run that works (osc sm,pt2pt at MPI_THREAD_SINGLE: Debian's default
# osc rdma makes no window over tcp or vader, and pt2pt alone declines
# MPI_THREAD_MULTIPLE). The windows must come from pt2pt and sm only,
# also when rdma and ucx are on the osc list, and forcing ucx is refused.
# As root: two "hosts" in network namespaces (as netns.sh) exchange a
# marker through one-sided calls only; it crosses the veth in clear
# without encshim and never with it.
. "$top_srcdir/tests/mpi/lib.sh"

# checks / windows_by: what the last rma job printed
checks() { sed -n 's/^rma: ok \([0-9]*\) checks.*/\1/p' "$T/out"; }
windows_by() { sed -n 's/^rma: ok .* windows by: //p' "$T/out"; }
expect_windows() {
	[ "$(windows_by)" = "$2" ] || fail "$1: windows made by '$(windows_by)', expected '$2'"
	ok "$1: windows made by $2"
}
sealed() { grep -q "rank 1: sealed [1-9]" "$T/out" || fail "$1: rank 1 sealed nothing"; }
# ran_ok WHAT: expect_ok for rma, printing a crash's backtrace first
# (fail shows only the end of the output)
ran_ok() {
	[ "$rc" = 0 ] || grep -a -E "Signal|\] \[ ?[0-9]+\] " "$T/out" | head -40
	expect_ok "$1" "rma: ok"
}

for tr in tcp vader; do
	plain $(transport $tr 0) --mca osc sm,pt2pt -np 2 "$TB/rma"
	ran_ok "plaintext one-sided over $tr (THREAD_SINGLE)"
	ref=$(checks)
	for level in single funneled serialized multiple; do
		enc $(transport $tr 1) --mca pml_encshim_verbose 1 -np 2 "$TB/rma" $level
		ran_ok "encrypted one-sided over $tr (THREAD_$level)"
		sealed "$tr $level"
		expect_windows "$tr $level" "pt2pt,sm"
		if [ $level != multiple ]; then
			[ "$(checks)" = "$ref" ] || fail "$(checks) checks encrypted, $ref in plaintext"
			ok "same $ref checks, same results as in plaintext"
		fi
	done
done

TCP=$(transport tcp 1)
enc $TCP --mca osc encshim,sm,pt2pt,rdma,ucx -np 2 "$TB/rma" multiple
ran_ok "osc rdma and ucx on the osc list"
expect_windows "osc rdma and ucx on the list" "pt2pt,sm"
enc $TCP --mca osc encshim,sm,pt2pt,ucx --mca osc_ucx_priority 100 -np 2 "$TB/rma"
expect_refused "forced osc ucx" "osc_ucx_priority was set"

# ---- two hosts ----
if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null ||
	! command -v tcpdump >/dev/null || ! command -v unshare >/dev/null; then
	echo "SKIP: the wire capture between network namespaces needs root, iproute2, tcpdump and unshare"
	exit 0
fi
if ! two_hosts esosc 232; then
	echo "SKIP: cannot create network namespaces"
	exit 0
fi
MARK=ENCSHIM-PLAINTEXT-MARKER-7f3a9c
HOSTS="--host $NET.1,$NET.2 -np 2 --map-by node
	--mca plm_rsh_agent $top_srcdir/tests/mpi/rsh-netns.sh --mca btl self,tcp
	--mca btl_tcp_if_include $NET.0/24 --mca oob_tcp_if_include $NET.0/24
	-x ENCSHIM_NETNS_MAP"


capture plain
rc=0; in_a timeout -k 10 "$LIMIT" mpirun $MPIRUN_OPTS --mca pml ob1 --mca osc pt2pt \
	$HOSTS "$TB/rma" marker >"$T/out" 2>&1 || rc=$?
stop
ran_ok "plaintext one-sided job across two namespaces"
grep -a -q "$MARK" "$T/plain.pcap" || fail "no marker on the veth without encshim: the ranks did not talk across it"
ok "without encshim the one-sided marker crosses the veth"

capture enc
rc=0; in_a timeout -k 10 "$LIMIT" "$B/encshim" mpirun $MPIRUN_OPTS $HOSTS \
	--mca pml_encshim_verbose 1 "$TB/rma" marker multiple >"$T/out" 2>&1 || rc=$?
stop
ran_ok "encrypted one-sided job across two namespaces"
sealed "two hosts"
expect_windows "two hosts" "pt2pt"
[ "$(stat -c %s "$T/enc.pcap")" -gt 10000 ] || fail "nearly empty capture"
if grep -a -q "$MARK" "$T/enc.pcap"; then fail "the marker crossed the veth with encshim"; fi
ok "with encshim the one-sided marker never crosses the veth"

rc=0; in_a timeout -k 10 "$LIMIT" "$B/encshim" mpirun $MPIRUN_OPTS $HOSTS \
	"$TB/rma" multiple noshared >"$T/out" 2>&1 || rc=$?
ran_ok "every flavour and operation across two namespaces (THREAD_MULTIPLE)"

#!/bin/sh
# Item 8 of the security review: Open MPI's jobid repeats across launches
# (a hash of the host name and mpirun's pid), so two launches of mpirun,
# each as pid 1 of a pid namespace of its own, get the same jobid. Their
# ranks must still bind their keys to different job ids J, or, sharing a
# secret, they could be spliced together (PROTOCOL.md section 11).
. "$top_srcdir/tests/mpi/lib.sh"
need_root "pid namespaces"
command -v unshare >/dev/null || skip "unshare not installed"
unshare -pf --mount-proc true 2>/dev/null || skip "cannot create a pid namespace"

launch() {
	rc=0
	timeout -k 10 "$LIMIT" unshare -pf --mount-proc "$B/encshim" mpirun $MPIRUN_OPTS \
		-np 2 $(transport tcp 1) --mca pml_encshim_verbose 2 "$TB/p2p" \
		>"$T/out" 2>&1 || rc=$?
	expect_ok "launch $1 in a pid namespace of its own" "job id:"
	grep -o 'Open MPI jobid 0x[0-9a-f]*' "$T/out" | sort -u >"$T/jobid$1"
	grep -o 'nonce [0-9a-f]*' "$T/out" | sort -u >"$T/nonce$1"
	[ "$(wc -l <"$T/nonce$1")" = 1 ] || fail "launch $1: ranks disagree on the job nonce"
}

launch 1
launch 2
cmp -s "$T/jobid1" "$T/jobid2" ||
	skip "the two launches got different Open MPI jobids here ($(cat "$T/jobid1" "$T/jobid2" | tr '\n' ' '))"
ok "both launches have $(cat "$T/jobid1")"
cmp -s "$T/nonce1" "$T/nonce2" && fail "same jobid and the same job nonce: keys would be spliceable"
ok "their job ids J differ: $(cat "$T/nonce1") vs $(cat "$T/nonce2")"

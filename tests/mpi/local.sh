#!/bin/sh
# pml_encshim_local clear (docs/PROTOCOL.md section 11, "Local-clear
# frames"): two ranks of one node exchange plaintext only when each read
# the other's token file and ob1 reaches the peer through btl vader alone;
# launcher data alone (forged locality), tcp or ucx routes, a rank in seal
# mode, a wrong token or a clear flag from a peer that is not local-clear
# all end sealed or refused; across two hosts (network namespaces, each
# with its own /dev/shm) the wire carries no plaintext while each host's
# pair exchanges clear frames.
. "$top_srcdir/tests/mpi/lib.sh"
V="--mca pml_encshim_verbose 1"
CLEAR="--mca pml_encshim_local clear"
# per-rank settings: perrank VAR VALUE0 VALUE1 PROGRAM ARGS...
cat >"$T/perrank" <<'EOF'
#!/bin/sh
var=$1 v0=$2 v1=$3
shift 3
if [ "${OMPI_COMM_WORLD_RANK:-0}" = 0 ]; then v=$v0; else v=$v1; fi
export "$var=$v"
exec "$@"
EOF
chmod +x "$T/perrank"

# counters R: the finalize line of rank R
line() { grep "encshim: rank $1: sealed" "$T/out"; }
expect_clear() { # WHAT: both ranks sent and took clear frames, sealed none
	for r in 0 1; do
		line $r | grep -q "sealed 0 msgs.*auth failures 0.*clear sent [1-9][0-9]* msgs.*clear received [1-9][0-9]* msgs.*local-clear peers 1" ||
			fail "$1: rank $r: $(line $r)"
	done
	ok "$1: $(line 0 | grep -o 'clear sent.*')"
}
expect_sealed() { # WHAT: everything sealed, nothing clear
	for r in 0 1; do
		line $r | grep -q "sealed [1-9].*auth failures 0.*clear sent 0 msgs 0 bytes, clear received 0 msgs 0 bytes, local-clear peers 0" ||
			fail "$1: rank $r: $(line $r)"
	done
	ok "$1 (all sealed)"
}

# token files already there (of jobs killed elsewhere: they stay, section
# 11): ours must not join them
tokens() { ls /dev/shm/encshim-* 2>/dev/null; }
TOKENS0=$(tokens)

# a. one node, clear: correct results, clear frames only over ob1/vader;
# over tcp and ucx, whose routes come from launcher data, sealed
for tr in vader tcp ucx; do
	want=expect_clear
	[ $tr = vader ] || want=expect_sealed
	enc $(transport $tr 1) $V $CLEAR -np 2 "$TB/coll"
	expect_ok "clear over $tr: collectives" "coll: ok"
	$want "clear over $tr"
	if [ $tr != vader ]; then
		grep -q "launcher data could route off the node; sealing to it" "$T/out" ||
			fail "clear over $tr: no reason logged for sealing"
		continue
	fi
	enc $(transport $tr 1) $V $CLEAR -np 2 "$TB/marker" 20 70000
	expect_ok "clear over $tr: p2p (eager and rendezvous)" "marker: ok"
	$want "clear over $tr, p2p"
	# every point-to-point form (probes, matched probes, truncation,
	# derived datatypes, persistent, buffered; self messages stay sealed)
	enc $(transport $tr 1) $V $CLEAR -np 2 "$TB/p2p"
	expect_ok "clear over $tr: p2p coverage" "p2p: ok"
	[ "$(grep -c "clear sent [1-9].*local-clear peers 1" "$T/out")" = 2 ] ||
		fail "clear over $tr: p2p coverage sent no clear frames"
done
# chunking on: a local-clear peer's collective messages go whole
enc $(transport vader 1) $V $CLEAR --mca pml_encshim_chunk_threshold 8192 \
	--mca pml_encshim_chunk_bytes 4096 -np 2 "$TB/chunk"
expect_ok "clear with chunking on" "chunk: ok"
expect_clear "clear with chunking on"
[ "$(grep -c "chunked sent 0 received 0" "$T/out")" = 2 ] || fail "a clear peer's message was chunked"
enc $(transport tcp 1) $CLEAR -np 3 "$TB/threads" 800 4
expect_ok "clear, 4 threads x 3 ranks over tcp" "threads: ok"
enc $(transport vader 1) $CLEAR -np 2 "$TB/threads" 1500 4
expect_ok "clear, 4 threads x 2 ranks over vader" "threads: ok"
enc $(transport vader 1) $CLEAR -np 2 "$TB/pvars" clear
expect_ok "MPI_T counters of clear frames" "pvars: ok"
# a child that rank 1 forks and that ends with exit() runs the exit
# handlers it inherited: rank 1's token file must stay (rank 0's first
# contact with rank 1 is a receive, after the fork)
enc $(transport vader 1) $V $CLEAR -np 2 "$TB/localfile" fork
expect_ok "clear, a rank forks a child that exits" "localfile: ok"
expect_clear "clear, a rank forks a child that exits"
# no barrier ends MPI_Init under async_mpi_init: a rank may send to a peer
# before the peer wrote its token file, and that peer's first clear frame
# back must find the file then (6 ranks all to all at once; on 6e03334
# about half of such launches were refused)
for i in 1 2 3 4; do
	enc $(transport vader 1) $CLEAR --mca async_mpi_init 1 -np 6 "$TB/localfile" a2a
	expect_ok "clear, async_mpi_init, 6 ranks all to all ($i)" "localfile: ok"
done
enc $(transport vader 1) $V -np 2 "$TB/coll"
expect_ok "default (seal)" "coll: ok"
expect_sealed "default pml_encshim_local"
[ "$(tokens)" = "$TOKENS0" ] || fail "token files left in /dev/shm: $(tokens)"
ok "no token file left after MPI_Finalize"

# b. forged locality: Open MPI calls the peer local, but each rank has
# its own token directory, so neither finds the other's file
D0=$(mktemp -d /dev/shm/encshim-test0.XXXXXX) && D1=$(mktemp -d /dev/shm/encshim-test1.XXXXXX) ||
	fail "mktemp in /dev/shm"
CLEANUP="rm -rf $D0 $D1; $CLEANUP"
for tr in vader tcp; do
	enc $(transport $tr 1) $V $CLEAR -np 2 "$T/perrank" \
		OMPI_MCA_pml_encshim_local_dir "$D0" "$D1" "$TB/coll"
	expect_ok "forged locality over $tr" "coll: ok"
	expect_sealed "forged locality over $tr (no token file of the peer)"
done
# a token directory that is not node-local memory: sealed
enc $(transport vader 1) $V $CLEAR --mca pml_encshim_local_dir "$T" -np 2 "$TB/coll"
expect_ok "token directory on disk" "coll: ok"
expect_sealed "token directory not a tmpfs"
grep -q "is not a tmpfs or ramfs" "$T/out" || fail "no reason logged for the disk directory"
# btl vader's segments, through which clear frames travel, in a directory
# on disk: the kernel writes their pages out (over the network on NFS or
# Lustre): sealed
enc $(transport vader 1) $V $CLEAR --mca btl_vader_backing_directory "$T" -np 2 "$TB/coll"
expect_ok "vader segments on disk" "coll: ok"
expect_sealed "vader segments on disk"
grep -q "btl vader keeps its segments in $T, not a tmpfs" "$T/out" ||
	fail "no reason logged for vader's directory"

# c. mixed: rank 0 clear, rank 1 seal
enc $(transport vader 1) $V -np 2 "$T/perrank" OMPI_MCA_pml_encshim_local clear seal "$TB/coll"
expect_ok "rank 0 clear, rank 1 seal" "coll: ok"
expect_sealed "mixed modes"

# d. injection below MPI (tamper.c, ob1 over tcp on lo, where every rank
# seals, as in (a)): 4096-byte messages, frames of 4144 bytes at the end
# of each write; the clear flag (stream byte 0, mask 64) set on a frame
LIB="$TB/.libs/libtamper.so"
[ -f "$LIB" ] || fail "missing $LIB"
# (a refused frame stops the job: a token file of a killed rank stays)
DD=$(mktemp -d /dev/shm/encshim-testd.XXXXXX) || fail "mktemp in /dev/shm"
CLEANUP="rm -rf $DD; $CLEANUP"
XOR="--mca pml_encshim_local_dir $DD --mca btl self,tcp --mca btl_tcp_if_include lo
	--mca btl_tcp_port_min_v4 46300 --mca btl_tcp_port_range_v4 64
	-x LD_PRELOAD=$LIB -x TAMPER_PORT_MIN=46300 -x TAMPER_PORT_MAX=46363
	-x TAMPER_MODE=xor"
# between two ranks in clear mode: its token is not the receiver's
enc $XOR -x TAMPER_XOR_END=4144 -x TAMPER_XOR_MASK=64 $CLEAR -np 2 "$TB/marker" 5 4096
expect_refused "clear frame with a wrong token" \
	"refused, not delivered: clear frame refused: wrong token"
if grep -q CORRUPTED "$T/out"; then fail "a forged clear frame was delivered"; fi
# from a rank in seal mode, taken by a rank in clear mode (rank 1, first
# to receive), then the reverse
flag() {
	enc $XOR -x TAMPER_XOR_END=4144 -x TAMPER_XOR_MASK=64 -np 2 "$T/perrank" \
		OMPI_MCA_pml_encshim_local $1 $2 "$TB/marker" 5 4096
	expect_refused "$3" "refused, not delivered: clear frame refused: $4"
	if grep -q CORRUPTED "$T/out"; then fail "a forged clear frame was delivered"; fi
}
flag seal clear "clear flag from a peer in seal mode" \
	"rank 0 is not a local-clear peer here"
flag clear seal "clear flag at a rank in seal mode" \
	"pml_encshim_local is not clear on this rank"

# e. two hosts, two ranks each: clear inside a host, sealed across
[ "$(id -u)" = 0 ] || { echo "SKIP: e (needs root)"; exit 0; }
for c in ip tcpdump unshare; do
	command -v $c >/dev/null || { echo "SKIP: e ($c missing)"; exit 0; }
done
two_hosts esloc 233 || { echo "SKIP: e (no network namespaces)"; exit 0; }
export ENCSHIM_NETNS_SHM=1
# host A (mpirun's) gets a /dev/shm of its own too
in_a() { ip netns exec $NSA unshare --uts --mount sh -c \
	"hostname $NSA; mount -t tmpfs -o mode=1777 tmpfs /dev/shm && exec \"\$@\"" sh "$@"; }
MARK=ENCSHIM-PLAINTEXT-MARKER-7f3a9c
HOSTS="--host $NET.1:2,$NET.2:2 -np 4 --map-by slot
	--mca plm_rsh_agent $top_srcdir/tests/mpi/rsh-netns.sh --mca btl self,vader,tcp
	--mca btl_tcp_if_include $NET.0/24 --mca oob_tcp_if_include $NET.0/24
	-x ENCSHIM_NETNS_MAP"
capture clear
rc=0; in_a timeout -k 10 "$LIMIT" "$B/encshim" mpirun $MPIRUN_OPTS $HOSTS $V $CLEAR \
	"$TB/marker" 5 4096 >"$T/out" 2>&1 || rc=$?
stop
expect_ok "two hosts, clear" "marker: ok"
for r in 0 1 2 3; do
	line $r | grep -q "sealed [1-9].*auth failures 0.*local-clear peers 1" &&
	line $r | grep -Eq "clear sent [1-9]|clear received [1-9]" ||
		fail "rank $r: $(line $r)"
done
ok "every rank: clear frames to its host's peer, sealed to the other host"
[ "$(stat -c %s "$T/clear.pcap")" -gt 10000 ] || fail "nearly empty capture"
if grep -a -q "$MARK" "$T/clear.pcap"; then fail "the marker crossed the veth"; fi
ok "the marker never crosses the veth"

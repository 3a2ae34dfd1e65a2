#!/bin/sh
# Runs inside the soft-RoCE guest as PID 1 (see run.sh). Writes logs,
# captures, summary.txt and checks.txt to /mnt/results, then powers off.
R=/mnt/results
top=$esv_top
LIB=$top/verbs/.libs/libencshim-verbs.so
PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH
export PATH
mount -t proc proc /proc; mount -t sysfs sys /sys
# /run is the scratch space: /tmp stays the host's (under the overlay), so a
# build tree under /tmp (a CI clone) is visible here
mount -t tmpfs tmpfs /run
mkdir -p /dev/shm; mount -t tmpfs tmpfs /dev/shm  # UCX probes it
exec >"$R/suite.log" 2>&1
[ -f "$LIB" ] || echo "FAIL setup: the build tree is not visible in the guest (no $LIB)" >> "$R/summary.txt"
say() { echo "$*"; echo "$*" >> "$R/summary.txt"; }
off() { sync; touch "$R/suite.done"; sync; busybox poweroff -f; }
trap off EXIT

t0=$(cut -d' ' -f1 /proc/uptime)
for m in ib_uverbs rdma_ucm rdma_rxe veth crc32_generic; do modprobe $m || say "SETUP modprobe $m failed"; done
ip link set lo up
hostname encshim-guest  # Open MPI refuses the kernel default "(none)"
ip link add veth0 type veth peer name veth1
ip addr add 10.0.0.1/24 dev veth0; ip addr add 10.0.0.2/24 dev veth1
ip link set veth0 up; ip link set veth1 up
for f in /proc/sys/net/ipv4/conf/*/rp_filter; do echo 0 > $f; done
for f in /proc/sys/net/ipv4/conf/*/accept_local; do echo 1 > $f; done
ip route add 10.0.0.2 dev veth0 src 10.0.0.1 table 100
ip route add 10.0.0.1 dev veth1 src 10.0.0.2 table 100
ip rule add pref 10 iif lo lookup 100; ip rule add pref 20 lookup local; ip rule del pref 0
rdma link add rxe0 type rxe netdev veth0 || say "SETUP rxe0 failed"
rdma link add rxe1 type rxe netdev veth1 || say "SETUP rxe1 failed"
gidx() { # device, ipv4-mapped suffix
	for g in /sys/class/infiniband/$1/ports/1/gids/*; do
		n=${g##*/}
		if [ "$(cat $g 2>/dev/null)" = "0000:0000:0000:0000:0000:ffff:$2" ] &&
		   [ "$(cat /sys/class/infiniband/$1/ports/1/gid_attrs/types/$n 2>/dev/null)" = "RoCE v2" ]; then
			echo $n; return; fi
	done; echo 1; }
sleep 1
G0=$(gidx rxe0 0a00:0001); G1=$(gidx rxe1 0a00:0002)
echo "setup done at $(cut -d' ' -f1 /proc/uptime)s, gid index rxe0=$G0 rxe1=$G1"

KA=/run/a.key; KB=/run/b.key
ENCSHIM_KEY_FILE=$KA $top/encshim keygen >/dev/null || say "SETUP keygen failed"
ENCSHIM_KEY_FILE=$KB $top/encshim keygen >/dev/null
PA="env LD_PRELOAD=$LIB ENCSHIM_KEY_FILE=$KA ENCSHIM_STATS=1 ENCSHIM_VERBS_HELLO_TIMEOUT=10"
PB="env LD_PRELOAD=$LIB ENCSHIM_KEY_FILE=$KB ENCSHIM_STATS=1 ENCSHIM_VERBS_HELLO_TIMEOUT=10"
NP="env"

want() { case ",$esv_tests," in *,$1,*|*,all,*) return 0;; *) return 1;; esac; }

# pair NAME EXPECT(ok|fail) TMO "SERVER CMD" "CLIENT CMD"
# Runs a server on rxe0 (10.0.0.1) and a client on rxe1 with a capture.
pair() {
	name=$1 expect=$2 tmo=$3 scmd=$4 ccmd=$5
	tcpdump -i veth0 -B 65536 -s 0 -w /run/$name.pcap udp port 4791 2>/dev/null &
	tp=$!
	sleep 1
	timeout $tmo sh -c "$scmd" > $R/$name.server.log 2>&1 &
	sp=$!
	sleep 2
	timeout $tmo sh -c "$ccmd" > $R/$name.client.log 2>&1
	crc=$?
	wait $sp; src=$?
	sleep 1
	kill -INT $tp; wait $tp
	cp /run/$name.pcap $R/$name.pcap
	if [ $expect = ok ]; then
		if [ $src -eq 0 ] && [ $crc -eq 0 ]; then say "PASS $name"; else say "FAIL $name (server rc=$src client rc=$crc)"; fi
	else
		if [ $src -ne 0 ] || [ $crc -ne 0 ]; then say "PASS $name (failed as expected: server rc=$src client rc=$crc)"; else say "FAIL $name (expected a failure, both exited 0)"; fi
	fi
}
# job NAME TMO CMD: runs CMD (an mpirun starting both ranks) with a capture.
job() {
	name=$1 tmo=$2 cmd=$3
	tcpdump -i veth0 -B 65536 -s 0 -w /run/$name.pcap udp port 4791 2>$R/$name.tcpdump.log &
	tp=$!
	sleep 1
	timeout $tmo sh -c "$cmd" > $R/$name.log 2>&1
	jrc=$?
	sleep 1
	kill -INT $tp; wait $tp
	cp /run/$name.pcap $R/$name.pcap
	rm -f /run/$name.pcap  # a 64 MiB job's capture is ~150 MB of guest memory
	if [ $jrc -eq 0 ]; then say "PASS $name"; else say "FAIL $name (rc=$jrc)"; fi
}
# grep_job NAME COUNT PATTERN: PATTERN is on COUNT lines of the job's log
grep_job() {
	n=$(grep -c "$3" $R/$1.log)
	if [ "$n" = "$2" ]; then say "PASS $1 log: $2 x $3"; else say "FAIL $1 log: $n x $3, want $2"; fi
}
# check NAME clear|sealed [src=IP] [marker=STRING] [runs=no]: evaluated on
# the host by pcapcheck.py
check() { echo "$*" >> $R/checks.txt; }
# grep_log NAME FILE PATTERN: the expected message is there
grep_log() {
	if grep -q "$3" $R/$1.$2.log; then say "PASS $1 message: $3"; else say "FAIL $1 message missing: $3"; fi
}

RCP="ibv_rc_pingpong -s 4096 -n 50"
if want rc; then
	pair rc_clear ok 60 "$NP $RCP -d rxe0 -g $G0" "$NP $RCP -d rxe1 -g $G1 10.0.0.1"
	check rc_clear clear
	pair rc_sealed ok 90 "$PA $RCP -d rxe0 -g $G0" "$PA $RCP -d rxe1 -g $G1 10.0.0.1"
	check rc_sealed sealed
	grep_log rc_sealed server "stats: sealed 50 msgs"
	# completion channels and events (-e)
	pair rc_events ok 90 "$PA $RCP -e -d rxe0 -g $G0" "$PA $RCP -e -d rxe1 -g $G1 10.0.0.1"
	check rc_events sealed
fi
if want mixed; then
	pair rc_oneside fail 20 "$PA $RCP -d rxe0 -g $G0" "$NP $RCP -d rxe1 -g $G1 10.0.0.1"
	check rc_oneside sealed src=10.0.0.1
	grep_log rc_oneside server "not an encshim HELLO\|larger than a HELLO"
	pair rc_badkey fail 20 "$PA $RCP -d rxe0 -g $G0" "$PB $RCP -d rxe1 -g $G1 10.0.0.1"
	check rc_badkey sealed
	grep_log rc_badkey server "another job secret"
	grep_log rc_badkey client "no HELLO from the peer"
fi
if want srq; then
	SQP="ibv_srq_pingpong -s 4096 -n 20 -q 4"
	pair srq_clear ok 60 "$NP $SQP -d rxe0 -g $G0" "$NP $SQP -d rxe1 -g $G1 10.0.0.1"
	check srq_clear clear
	pair srq_sealed ok 90 "$PA $SQP -d rxe0 -g $G0" "$PA $SQP -d rxe1 -g $G1 10.0.0.1"
	check srq_sealed sealed
fi
if want perf; then
	pair send_bw ok 120 "$PA ib_send_bw -F -d rxe0 -x $G0 -s 65536 -n 200 --use_old_post_send" "$PA ib_send_bw -F -d rxe1 -x $G1 -s 65536 -n 200 --use_old_post_send 10.0.0.1"
	check send_bw sealed
	pair send_lat ok 120 "$PA ib_send_lat -F -d rxe0 -x $G0 -s 1024 -n 200 --use_old_post_send" "$PA ib_send_lat -F -d rxe1 -x $G1 -s 1024 -n 200 --use_old_post_send 10.0.0.1"
	check send_lat sealed
	# the new post API (ibv_wr_*) through the shim's builders
	pair send_bw_newapi ok 120 "$PA ib_send_bw -F -d rxe0 -x $G0 -s 65536 -n 200" "$PA ib_send_bw -F -d rxe1 -x $G1 -s 65536 -n 200 10.0.0.1"
	check send_bw_newapi sealed
fi
if want onesided; then
	# RC RDMA WRITE is sealed (PROTOCOL section 10, "Sealed writes"). The
	# writer needs the responder's HELLO, and ib_write_bw's server stays
	# at RTR and never polls: the shim's progress thread answers it
	# (verbs/progress.c); without it (ENCSHIM_VERBS_PROGRESS=0) the client
	# fails closed after the HELLO timeout, nothing in clear (old and new
	# post API). The writes land in the server's shadow as ciphertext and
	# are never opened (no completion follows them; perftest checks no
	# data). The control runs in clear (perftest's buffers hold no runs
	# the capture check could see).
	WBW="ib_write_bw -F -s 65536 -n 50"
	pair write_bw_clear ok 90 "$NP $WBW -d rxe0 -x $G0 --use_old_post_send" "$NP $WBW -d rxe1 -x $G1 --use_old_post_send 10.0.0.1"
	pair write_bw_sealed ok 120 "$PA $WBW -d rxe0 -x $G0 --use_old_post_send" "$PA $WBW -d rxe1 -x $G1 --use_old_post_send 10.0.0.1"
	check write_bw_sealed sealed
	grep_log write_bw_sealed client "RDMA WRITEs: sealed [1-9]"
	pair write_bw_newapi ok 120 "$PA $WBW -d rxe0 -x $G0" "$PA $WBW -d rxe1 -x $G1 10.0.0.1"
	check write_bw_newapi sealed
	grep_log write_bw_newapi client "RDMA WRITEs: sealed [1-9]"
	pair write_bw_noprogress fail 40 "$PA ENCSHIM_VERBS_PROGRESS=0 $WBW -d rxe0 -x $G0" "$PA $WBW -d rxe1 -x $G1 10.0.0.1"
	check write_bw_noprogress sealed
	grep_log write_bw_noprogress client "no HELLO from the peer"
	# ib_write_lat learns of written data by polling memory: sealed writes
	# reach memory only at a later completion, so it waits for ever (a
	# documented limit); the wire stays sealed.
	pair write_lat_sealed fail 40 "$PA ib_write_lat -F -s 1024 -n 20 -d rxe0 -x $G0 --use_old_post_send" "$PA ib_write_lat -F -s 1024 -n 20 -d rxe1 -x $G1 --use_old_post_send 10.0.0.1"
	check write_lat_sealed sealed
	pair read_bw_refused fail 30 "$PA ib_read_bw -F -d rxe0 -x $G0 -n 50 --use_old_post_send" "$PA ib_read_bw -F -d rxe1 -x $G1 -n 50 --use_old_post_send 10.0.0.1"
	grep_log read_bw_refused client "refused RDMA_READ"
	pair write_bw_optin ok 90 "$PA ENCSHIM_VERBS_ALLOW_ONE_SIDED=1 ib_write_bw -F -d rxe0 -x $G0 -n 50 --use_old_post_send" "$PA ENCSHIM_VERBS_ALLOW_ONE_SIDED=1 ib_write_bw -F -d rxe1 -x $G1 -n 50 --use_old_post_send 10.0.0.1"
	pair rping_refused fail 30 "$PA rping -s -a 10.0.0.1 -C 5 -v" "$PA rping -c -a 10.0.0.1 -C 5 -v"
	grep_log rping_refused server "refused RDMA_READ"
	pair rping_optin ok 60 "$PA ENCSHIM_VERBS_ALLOW_ONE_SIDED=1 rping -s -a 10.0.0.1 -C 5 -v" "$PA ENCSHIM_VERBS_ALLOW_ONE_SIDED=1 rping -c -a 10.0.0.1 -C 5 -v"
fi
if want ud; then
	# -s 400: under the preload the port shows the next smaller MTU (512:
	# a sealed datagram is 40 bytes longer than the application's).
	UDP="ibv_ud_pingpong -s 400 -n 50"
	pair ud_clear ok 60 "$NP $UDP -d rxe0 -g $G0" "$NP $UDP -d rxe1 -g $G1 10.0.0.1"
	check ud_clear clear
	pair ud_sealed ok 90 "$PA $UDP -d rxe0 -g $G0" "$PA $UDP -d rxe1 -g $G1 10.0.0.1"
	check ud_sealed sealed
	grep_log ud_sealed server "stats: sealed 50 msgs"
	grep_log ud_sealed client "stats: sealed 50 msgs"
	pair ud_oneside fail 20 "$PA $UDP -d rxe0 -g $G0" "$NP $UDP -d rxe1 -g $G1 10.0.0.1"
	check ud_oneside sealed src=10.0.0.1
	grep_log ud_oneside server "no HELLO from that sender"
	pair ud_badkey fail 20 "$PA $UDP -d rxe0 -g $G0" "$PB $UDP -d rxe1 -g $G1 10.0.0.1"
	check ud_badkey sealed
	grep_log ud_badkey server "another job secret"
fi
# Our RC marker program (librdmacm, SEND_WITH_IMM): the marker and every
# byte checked; the capture is judged by the marker (rdma_cm's connection
# MADs hold runs of zeros).
VMARK=ENCSHIM-VERBS-MARKER-8f14e45fceea167a
VM=$top/tests/verbs/verbs_marker
if want marker; then
	pair marker_clear ok 60 "$NP $VM -l 10.0.0.1" "$NP $VM 10.0.0.1"
	check marker_clear clear marker=$VMARK runs=no
	pair marker_sealed ok 90 "$PA $VM -l 10.0.0.1" "$PA $VM 10.0.0.1"
	check marker_sealed sealed marker=$VMARK runs=no
	grep_log marker_sealed server "server ok, 20 messages checked"
	grep_log marker_sealed server "stats: sealed 1 msgs"
	grep_log marker_sealed client "stats: sealed 20 msgs"
fi
# Open MPI over UCX on the two rxe devices (../shared/notes/rdma-vm.md):
# verbs transports only, rank r on rxe<r>, both ranks on this guest but all
# their traffic through the veth (no shared-memory transport). Root may run
# mpirun here; the ranks inherit the UCX settings from the environment.
MARK=ENCSHIM-MPI-MARKER-5d41402abc4b2a76
MPIPROG=$top/tests/verbs/mpi_marker
printf '#!/bin/sh\nUCX_NET_DEVICES=rxe${OMPI_COMM_WORLD_RANK}:1 exec "$@"\n' > /run/rankdev
chmod +x /run/rankdev
MPIRUN="--allow-run-as-root --oversubscribe -np 2 --mca btl self --mca pml_ucx_tls any --mca pml_ucx_devices any"
MPIENV="UCX_TLS=rc_verbs,ud_verbs,self UCX_UD_VERBS_ETH_DGID_CHECK=n"
if want mpi && [ -x $MPIPROG ]; then
	# The MPI plugin (pml/encshim around pml ucx): its protection, no preload.
	job mpi_clear 120 "env $MPIENV mpirun $MPIRUN --mca pml ucx /run/rankdev $MPIPROG"
	check mpi_clear clear marker=$MARK runs=no
	grep_job mpi_clear 2 "mpi_marker: ok rank"
	job mpi_plugin 120 "env $MPIENV ENCSHIM_KEY_FILE=$KA ENCSHIM_COMPONENT_DIR=$top/mpi-plugin/components $top/encshim mpirun $MPIRUN --mca pml ucx,encshim --mca pml_encshim_verbose 1 /run/rankdev $MPIPROG"
	check mpi_plugin sealed marker=$MARK runs=no
	grep_job mpi_plugin 2 "mpi_marker: ok rank"
	grep_job mpi_plugin 2 "encshim: rank [01]: sealed [1-9][0-9]* msgs"
fi
if want mpiverbs && [ -x $MPIPROG ]; then
	# The verbs preload under an unmodified Open MPI + UCX job: two-sided
	# only (mpirndv below runs rendezvous by sealed RDMA WRITE): no
	# rendezvous, and endpoint flushes by a flow-control SEND instead of
	# a zero-length RDMA WRITE at MPI_Finalize (refused before writes
	# were sealed; mpirndv's mpi_rndv_flush shows the default now works).
	UCX2="UCX_RNDV_THRESH=inf UCX_RC_VERBS_FLUSH_MODE=fc"
	job mpi_preload 180 "env $MPIENV $UCX2 ENCSHIM_KEY_FILE=$KA ENCSHIM_STATS=1 ENCSHIM_VERBS_HELLO_TIMEOUT=20 $top/encshim preload mpirun $MPIRUN --mca pml ucx -x LD_PRELOAD /run/rankdev $MPIPROG"
	check mpi_preload sealed marker=$MARK
	grep_job mpi_preload 2 "mpi_marker: ok rank"
	grep_job mpi_preload 2 "stats: sealed [1-9][0-9]* msgs"
fi
if want mpirndv && [ -x $MPIPROG ]; then
	# Zero-copy rendezvous by RDMA WRITE left on (UCX put_zcopy, default
	# UCX_RNDV_THRESH) under the preload: UCX's puts are sealed writes
	# (PROTOCOL section 10, "Sealed writes") whose descriptors ride on its
	# ATP SEND; the marker program's sizes plus one 64 MiB allreduce. The
	# control runs the same job without encshim; mpi_rndv_flush leaves
	# UCX's endpoint flush (a zero-length RDMA WRITE) at its default.
	BIG=67108864
	RNDV="UCX_RNDV_SCHEME=put_zcopy"
	PRE="ENCSHIM_KEY_FILE=$KA ENCSHIM_STATS=1 ENCSHIM_VERBS_HELLO_TIMEOUT=20 $top/encshim preload mpirun $MPIRUN --mca pml ucx -x LD_PRELOAD"
	job mpi_rndv_clear 300 "env $MPIENV $RNDV mpirun $MPIRUN --mca pml ucx /run/rankdev $MPIPROG $BIG"
	check mpi_rndv_clear clear marker=$MARK runs=no
	grep_job mpi_rndv_clear 2 "mpi_marker: ok rank"
	job mpi_rndv 400 "env $MPIENV $RNDV UCX_RC_VERBS_FLUSH_MODE=fc $PRE /run/rankdev $MPIPROG $BIG"
	check mpi_rndv sealed marker=$MARK
	grep_job mpi_rndv 2 "mpi_marker: ok rank"
	grep_job mpi_rndv 2 "RDMA WRITEs: sealed [0-9]* / [0-9]* bytes, opened [1-9][0-9]* / [0-9]* bytes"
	job mpi_rndv_flush 400 "env $MPIENV $RNDV $PRE /run/rankdev $MPIPROG $BIG"
	check mpi_rndv_flush sealed marker=$MARK
	grep_job mpi_rndv_flush 2 "mpi_marker: ok rank"
fi
if { want mpi || want mpiverbs || want mpirndv; } && [ ! -x $MPIPROG ]; then
	say "SKIP mpi: $MPIPROG not built (Open MPI devel files missing)"
fi
echo "suite done at $(cut -d' ' -f1 /proc/uptime)s (setup from ${t0}s)"

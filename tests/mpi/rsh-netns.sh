#!/bin/sh
# plm_rsh_agent for netns.sh: "rsh-netns.sh [OPTIONS] HOST COMMAND..."
# runs COMMAND in the network namespace that $ENCSHIM_NETNS_MAP maps HOST
# to ("10.0.0.2=nsB 10.0.0.1=nsA"), with a hostname of its own so that
# Open MPI sees a second node. With ENCSHIM_NETNS_SHM=1 it also gets a
# /dev/shm of its own (a private tmpfs), as a second node would
# (local.sh: token files of one host are not seen by the other).
while [ $# -gt 0 ] && [ "${1#-}" != "$1" ]; do shift; done
host=$1; shift
ns=""
for m in $ENCSHIM_NETNS_MAP; do
	[ "${m%%=*}" = "$host" ] && ns=${m#*=}
done
[ -n "$ns" ] || { echo "rsh-netns: unknown host $host" >&2; exit 1; }
if [ "${ENCSHIM_NETNS_SHM:-0}" = 1 ]; then
	exec ip netns exec "$ns" unshare --uts --mount sh -c \
		"hostname $ns; mount -t tmpfs -o mode=1777 tmpfs /dev/shm && $*"
fi
exec ip netns exec "$ns" unshare --uts sh -c "hostname $ns; $*"

#!/bin/sh
# plm_rsh_agent for netns.sh: "rsh-netns.sh [OPTIONS] HOST COMMAND..."
# runs COMMAND in the network namespace that $ENCSHIM_NETNS_MAP maps HOST
# to ("10.0.0.2=nsB 10.0.0.1=nsA"), with a hostname of its own so that
# Open MPI sees a second node.
while [ $# -gt 0 ] && [ "${1#-}" != "$1" ]; do shift; done
host=$1; shift
ns=""
for m in $ENCSHIM_NETNS_MAP; do
	[ "${m%%=*}" = "$host" ] && ns=${m#*=}
done
[ -n "$ns" ] || { echo "rsh-netns: unknown host $host" >&2; exit 1; }
exec ip netns exec "$ns" unshare --uts sh -c "hostname $ns; $*"

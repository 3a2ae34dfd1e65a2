#!/bin/sh
# What users see: parameters in ompi_info, encshim mpirun's help and its
# refusals before anything starts.
. "$top_srcdir/tests/mpi/lib.sh"
out=$(OMPI_MCA_mca_component_path="$ENCSHIM_COMPONENT_DIR:$(ompi_info --path pkglibdir --parsable | sed 's/^path:pkglibdir://')" \
	ompi_info --param pml encshim --level 9 2>&1)
for p in pml_encshim_enable pml_encshim_verbose pml_encshim_backend \
	pml_encshim_replay_window pml_encshim_pool_max_bytes \
	pml_encshim_messages_sealed pml_encshim_auth_failures; do
	echo "$out" | grep -q "\"$p\"" || { echo "$out"; fail "ompi_info lacks $p"; }
done
ok "ompi_info --param pml encshim --level 9 lists parameters and counters"
"$B/encshim" mpirun --help | grep -q "pml_encshim_enable" || fail "mpirun --help"
ok "encshim mpirun --help"
rc=0; ENCSHIM_COMPONENT_DIR="$T/none" "$B/encshim" mpirun -np 1 true >"$T/out" 2>&1 || rc=$?
expect_refused "plugin directory missing" "the Open MPI plugin is not at"
# MPMD: a job of two app contexts runs encrypted. (encshim mpirun repeats
# its -x options after each ':', which matters on remote nodes; local ranks
# inherit mpirun's environment, so this job cannot show that part.)
enc --mca pml_encshim_verbose 1 -np 1 "$TB/marker" 2 64 : -np 1 "$TB/marker" 2 64
expect_ok "MPMD job (two app contexts)" "marker: ok"
[ "$(grep -c 'auth failures 0' "$T/out")" = 2 ] || fail "MPMD: both ranks must seal and open"
ok "MPMD: both app contexts read the job secret"

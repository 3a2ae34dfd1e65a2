#!/bin/sh
# What users see: parameters in ompi_info, encshim mpirun's help and its
# refusals before anything starts.
. "$top_srcdir/tests/mpi/lib.sh"
out=$(OMPI_MCA_mca_component_path="$ENCSHIM_COMPONENT_DIR:$(ompi_info --path pkglibdir --parsable | sed 's/^path:pkglibdir://')" \
	ompi_info --param pml encshim --level 9 2>&1)
for p in pml_encshim_enable pml_encshim_verbose pml_encshim_backend \
	pml_encshim_pool_max_bytes pml_encshim_local pml_encshim_local_dir \
	pml_encshim_messages_sealed pml_encshim_auth_failures \
	pml_encshim_messages_clear_sent pml_encshim_messages_clear_received; do
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

# encshim mpirun refuses, before it starts mpirun (here a stub that says
# so), every spelling of a pml or hook list that leaves encshim out.
# STUB_ENV: extra environment, e.g. "OMPI_MCA_hook=^encshim".
printf '#!/bin/sh\necho "mpirun started: $*"\n' >"$T/mpirun-stub" && chmod +x "$T/mpirun-stub"
mkdir -p "$T/home/.openmpi"
stub() {
	rc=0
	env $STUB_ENV HOME="$T/home" ENCSHIM_MPIRUN="$T/mpirun-stub" "$B/encshim" mpirun "$@" \
		>"$T/out" 2>&1 || rc=$?
	STUB_ENV=""
}
# refused_early WHAT PATTERN ARGS...
refused_early() {
	what=$1 pat=$2
	shift 2
	stub "$@"
	grep -q "mpirun started" "$T/out" && fail "$what: mpirun was started"
	[ "$rc" = 2 ] || fail "$what: exit status $rc, want 2"
	grep -q -- "$pat" "$T/out" || fail "$what: no '$pat' in the output"
	ok "$what (refused: $(grep -m1 -o -- "$pat" "$T/out"))"
}
STUB_ENV=""
K="keeps the encshim plugin from loading"
refused_early "--mca pml ^encshim --mca hook ^encshim" "'--mca pml ^encshim' (command line) $K" \
	--mca pml ^encshim --mca hook ^encshim -np 1 true
refused_early "--mca hook ^encshim" "'--mca hook ^encshim' (command line) $K" --mca hook ^encshim -np 1 true
refused_early "-mca pml ^ucx,encshim" "'-mca pml ^ucx,encshim' (command line) $K" -mca pml ^ucx,encshim -np 1 true
refused_early "-gmca pml ob1" "'-gmca pml ob1' (command line) $K" -gmca pml ob1 -np 1 true
refused_early "--gmca hook none" "'--gmca hook none' (command line) $K" --gmca hook none -np 1 true
refused_early "--mca ompi_pml ob1" "'--mca ompi_pml ob1' (command line) $K" --mca ompi_pml ob1 -np 1 true
refused_early "--mca pml encshimx (substring)" "'--mca pml encshimx' (command line) $K" --mca pml encshimx -np 1 true
refused_early "--mca pml ob1,^encshim" "'--mca pml ob1,^encshim' (command line) $K" --mca pml ob1,^encshim -np 1 true
refused_early "-x OMPI_MCA_pml=ob1" "'-x OMPI_MCA_pml=ob1' (command line) $K" -x OMPI_MCA_pml=ob1 -np 1 true
refused_early "mca_base_env_list" "'mca_base_env_list OMPI_MCA_hook=^encshim' (command line) $K" \
	--mca mca_base_env_list "A=1;OMPI_MCA_hook=^encshim" -np 1 true
refused_early "-x OMPI_MCA_pml_encshim_enable=0" "'-x OMPI_MCA_pml_encshim_enable=0' (command line) turns encryption off" \
	-x OMPI_MCA_pml_encshim_enable=0 -np 1 true
STUB_ENV="OMPI_MCA_pml=^encshim"
refused_early "OMPI_MCA_pml=^encshim" "'OMPI_MCA_pml=^encshim' (environment) $K" -np 1 true
STUB_ENV="OMPI_MCA_ompi_hook=ucx"
refused_early "OMPI_MCA_ompi_hook=ucx" "'OMPI_MCA_ompi_hook=ucx' (environment) $K" -np 1 true
echo "pml = ^encshim" >"$T/home/.openmpi/mca-params.conf"
refused_early "\$HOME/.openmpi/mca-params.conf" "'pml = ^encshim' (parameter file $T/home/.openmpi/mca-params.conf:1) $K" -np 1 true
rm "$T/home/.openmpi/mca-params.conf"
printf '# site\nhook = ^encshim\n' >"$T/params.conf"
STUB_ENV="OMPI_MCA_mca_base_param_files=$T/params.conf"
refused_early "OMPI_MCA_mca_base_param_files" "'hook = ^encshim' (parameter file $T/params.conf:2) $K" -np 1 true
refused_early "--am FILE" "'hook = ^encshim' (--am file $T/params.conf:2) $K" --am "$T/params.conf" -np 1 true
refused_early "--am missing file" "cannot check --am file" --am "$T/none.conf" -np 1 true
printf -- '-x A=1 --mca pml ^encshim\n' >"$T/tune.conf"
refused_early "--tune FILE" "'--mca pml ^encshim' (--tune file $T/tune.conf:1) $K" --tune "$T/tune.conf" -np 1 true
# what is fine still starts
for args in "--mca pml ob1,encshim" "--mca pml ^ucx" "--mca hook encshim,x" "-x OMPI_MCA_pml"; do
	stub $args -np 1 true
	[ "$rc" = 0 ] && grep -q "mpirun started" "$T/out" || fail "encshim mpirun $args: not started"
done
ok "encshim mpirun starts jobs whose lists keep encshim"
"$B/encshim" mpirun --help | grep -q -- "--mca hook ^encshim" || fail "mpirun --help lacks the MCA rules"
ok "encshim mpirun --help documents the MCA rules"
for w in "pml_encshim_local clear" "auto | ipsecmb | openssl | sodium"; do
	"$B/encshim" mpirun --help | grep -q -- "$w" || fail "mpirun --help lacks '$w'"
done
ok "encshim mpirun --help names pml_encshim_local and every backend"

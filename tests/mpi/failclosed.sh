#!/bin/sh
# Each way of running without encryption is refused with a message that
# says why. (wire.sh proves no clear text leaves in the ob1 case.)
. "$top_srcdir/tests/mpi/lib.sh"
TCP=$(transport tcp 1)

enc $TCP --mca pml ob1 -np 2 "$TB/marker"
expect_refused "encshim mpirun --mca pml ob1" "'--mca pml ob1' (command line) keeps the encshim plugin from loading"
# Lists that leave encshim out however they are spelt (454c9f4 matched
# "encshim" as a substring, and this first job ran in clear); tools.sh
# checks every spelling without starting jobs.
enc $TCP --mca pml ^encshim --mca hook ^encshim -np 2 "$TB/marker"
expect_refused "encshim mpirun --mca pml ^encshim --mca hook ^encshim" "'--mca pml ^encshim' (command line) keeps the encshim plugin from loading"
if grep -q "marker: ok" "$T/out"; then fail "the job ran"; fi
# 454c9f4 ran this job in clear: -x reaches the ranks past --mca's 1
enc $TCP -x OMPI_MCA_pml_encshim_enable=0 -np 2 "$TB/marker"
expect_refused "encshim mpirun -x OMPI_MCA_pml_encshim_enable=0" "'-x OMPI_MCA_pml_encshim_enable=0' (command line) turns encryption off"
if grep -q "marker: ok" "$T/out"; then fail "the job ran"; fi
rc=0; OMPI_MCA_hook=^encshim timeout -k 10 "$LIMIT" "$B/encshim" mpirun $MPIRUN_OPTS $TCP \
	-gmca pml ob1 -np 2 "$TB/marker" >"$T/out" 2>&1 || rc=$?
expect_refused "encshim mpirun -gmca pml ob1, OMPI_MCA_hook=^encshim" "'OMPI_MCA_hook=^encshim' (environment) keeps the encshim plugin from loading"
if grep -q "marker: ok" "$T/out"; then fail "the job ran"; fi
# past encshim mpirun's check: hook/encshim stops the job in MPI_Init
CP="$ENCSHIM_COMPONENT_DIR:$(ompi_info --path pkglibdir --parsable | sed 's/^path:pkglibdir://')"
plain --mca mca_component_path "$CP" --mca pml_encshim_enable 1 \
	-x ENCSHIM_KEY_FILE --mca pml ob1 $TCP -np 2 "$TB/marker"
expect_refused "user names a PML (--mca pml ob1)" "refusing to run unencrypted: pml_encshim_enable=1 but the PML 'ob1'"
if grep -q "marker: ok" "$T/out"; then fail "the job ran"; fi
rc=0; OMPI_MCA_pml=ob1 timeout -k 10 "$LIMIT" "$B/encshim" mpirun $MPIRUN_OPTS $TCP \
	-np 2 "$TB/marker" >"$T/out" 2>&1 || rc=$?
expect_refused "OMPI_MCA_pml=ob1 in the environment (encshim mpirun)" "'OMPI_MCA_pml=ob1' (environment) keeps the encshim plugin from loading"
rc=0; OMPI_MCA_pml=ob1 timeout -k 10 "$LIMIT" mpirun $MPIRUN_OPTS --mca mca_component_path "$CP" \
	--mca pml_encshim_enable 1 -x ENCSHIM_KEY_FILE $TCP -np 2 "$TB/marker" >"$T/out" 2>&1 || rc=$?
expect_refused "OMPI_MCA_pml=ob1 in the environment (MPI_Init)" "but the PML 'ob1' runs without the encshim wrapper"
# pml excluded, hook loaded (not excluded): hook/encshim stops MPI_Init
plain --mca mca_component_path "$CP" --mca pml_encshim_enable 1 \
	-x ENCSHIM_KEY_FILE --mca pml ^encshim $TCP -np 2 "$TB/marker"
expect_refused "pml ^encshim past encshim mpirun (MPI_Init)" "refusing to run unencrypted: pml_encshim_enable=1 but the PML"
if grep -q "marker: ok" "$T/out"; then fail "the job ran"; fi

enc $TCP --mca coll_sm_priority 100 -np 2 "$TB/marker"
expect_refused "forced coll sm" "coll_sm_priority was set"
enc $TCP --mca coll_han_priority 100 -np 2 "$TB/marker"
expect_refused "forced coll han" "coll_han_priority was set"
enc $TCP --mca osc rdma --mca osc_rdma_priority 100 -np 2 "$TB/marker"
expect_refused "forced osc rdma" "osc_rdma_priority was set"

rc=0; ENCSHIM_KEY_FILE="$T/missing.key" "$B/encshim" mpirun -np 2 "$TB/marker" >"$T/out" 2>&1 || rc=$?
expect_refused "missing key (encshim mpirun)" "job secret file not found"
# the same, past encshim mpirun's own check: MPI_Init aborts
plain --mca mca_component_path "$CP" --mca pml_encshim_enable 1 \
	-x ENCSHIM_KEY_FILE="$T/missing.key" $TCP -np 2 "$TB/marker"
expect_refused "missing key (MPI_Init)" "key file .*missing.key: job secret file not found"
if grep -q "marker: ok" "$T/out"; then fail "the job ran"; fi

cp "$ENCSHIM_KEY_FILE" "$T/open.key"; chmod 0644 "$T/open.key"
plain --mca mca_component_path "$CP" --mca pml_encshim_enable 1 \
	-x ENCSHIM_KEY_FILE="$T/open.key" $TCP -np 2 "$TB/marker"
expect_refused "key readable by others (MPI_Init)" "key file .*open.key: "
if grep -q "marker: ok" "$T/out"; then fail "the job ran"; fi

"$B/encshim" keygen "$T/other.key" >/dev/null
plain --mca mca_component_path "$CP" --mca pml_encshim_enable 1 $TCP \
	-np 1 -x ENCSHIM_KEY_FILE="$ENCSHIM_KEY_FILE" "$TB/marker" : \
	-np 1 -x ENCSHIM_KEY_FILE="$T/other.key" "$TB/marker"
expect_refused "ranks with different job secrets" "refused, not delivered: authentication failed"

plain --mca mca_component_path "$CP" $TCP \
	-np 1 -x OMPI_MCA_pml_encshim_enable=1 -x ENCSHIM_KEY_FILE "$TB/marker" : \
	-np 1 -x OMPI_MCA_pml_encshim_enable=0 "$TB/marker"
expect_refused "one rank without encshim" "rank 1 published no encshim key"

# the plugin directory holds a hook that cannot be loaded
mkdir "$T/broken" && cp "$ENCSHIM_COMPONENT_DIR/mca_pml_encshim.so" "$T/broken/" &&
	echo garbage >"$T/broken/mca_hook_encshim.so"
rc=0; ENCSHIM_COMPONENT_DIR="$T/broken" timeout -k 10 "$LIMIT" "$B/encshim" mpirun \
	$MPIRUN_OPTS $TCP -np 2 "$TB/marker" >"$T/out" 2>&1 || rc=$?
expect_refused "hook component that cannot be loaded" "Framework: hook"
if grep -q "marker: ok" "$T/out"; then fail "the job ran"; fi

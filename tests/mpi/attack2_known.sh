#!/bin/sh
# KNOWN LIMIT (an expected failure, XFAIL_TESTS): the second red team's
# attacks on the order audit that still deliver wrong data with no error
# (docs/PROTOCOL.md section 11, "Limits"): probecap, probestale and
# probedrop defeat the probe records; gapvanish drops a message whole so
# that an MPI_ANY_TAG receive's count of skipped places is met by a later
# message of another tag. This test turns into an unexpected pass (and
# fails the suite) once they are fixed: then move the modes into
# attack2_order.sh's defaults.
ATTACK_MODES="${ATTACK_MODES:-probecap gapvanish probedrop probestale}"
ENCSHIM_TEST_LIMIT="${ENCSHIM_TEST_LIMIT:-60}"
export ATTACK_MODES ENCSHIM_TEST_LIMIT
exec sh "$top_srcdir/tests/mpi/attack2_order.sh"

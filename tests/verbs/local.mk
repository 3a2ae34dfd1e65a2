# Verbs interposer tests: unit tests against a fake provider, and the
# soft-RoCE guest suite (skips with exit 77 where qemu cannot run).
if HAVE_CMOCKA
check_PROGRAMS += tests/verbs/test_verbs
TESTS += tests/verbs/test_verbs
endif
tests_verbs_test_verbs_SOURCES = tests/verbs/test_verbs.c
tests_verbs_test_verbs_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(VERBS_CFLAGS) $(SODIUM_CFLAGS) -pthread
tests_verbs_test_verbs_LDADD = verbs/libesv.la shim/libencshim_core.la \
	$(CMOCKA_LIBS) $(SODIUM_LIBS) $(CRYPTO_LIBS) -ldl -lpthread

# Wire-proof program of the guest suite (RC SEND with an ASCII marker).
check_PROGRAMS += tests/verbs/verbs_marker
tests_verbs_verbs_marker_SOURCES = tests/verbs/verbs_marker.c
tests_verbs_verbs_marker_CFLAGS = $(AM_CFLAGS) $(VERBS_CFLAGS)
tests_verbs_verbs_marker_LDADD = $(VERBS_LIBS)

check_PROGRAMS += tests/verbs/test_dlopen
tests_verbs_test_dlopen_SOURCES = tests/verbs/test_dlopen.c
tests_verbs_test_dlopen_LDADD = -ldl
TESTS += tests/verbs/dlopen.sh
dist_noinst_SCRIPTS += tests/verbs/dlopen.sh

TESTS += tests/verbs/guest/run.sh
dist_noinst_SCRIPTS += tests/verbs/guest/run.sh tests/verbs/guest/guest-suite.sh \
	tests/verbs/guest/guest-init tests/verbs/guest/pcapcheck.py
CLEANFILES += tests/verbs/guest-results/*

# Wire-proof program of the guest suite's MPI groups (marker in every buffer).
if BUILD_MPI
check_PROGRAMS += tests/verbs/mpi_marker
tests_verbs_mpi_marker_SOURCES = tests/verbs/mpi_marker.c
tests_verbs_mpi_marker_CFLAGS = $(AM_CFLAGS) $(MPI_CFLAGS)
tests_verbs_mpi_marker_LDADD = $(MPI_LIBS)
endif

# Settings fail closed: each case runs the program again with one value.
if HAVE_CMOCKA
check_PROGRAMS += tests/verbs/test_verbs_env
TESTS += tests/verbs/test_verbs_env
endif
tests_verbs_test_verbs_env_SOURCES = tests/verbs/test_verbs_env.c
tests_verbs_test_verbs_env_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(VERBS_CFLAGS) $(SODIUM_CFLAGS) -pthread
tests_verbs_test_verbs_env_LDADD = verbs/libesv.la shim/libencshim_core.la \
	$(CMOCKA_LIBS) $(SODIUM_LIBS) $(CRYPTO_LIBS) -ldl -lpthread

# Attacks by an on-path attacker who rewrites what encshim does not seal
# (reuses the fake provider of test_verbs.c, which it includes).
if HAVE_CMOCKA
check_PROGRAMS += tests/verbs/test_attack
TESTS += tests/verbs/test_attack
endif
tests_verbs_test_attack_SOURCES = tests/verbs/test_attack.c tests/verbs/inject.h
EXTRA_tests_verbs_test_attack_DEPENDENCIES = tests/verbs/test_verbs.c
tests_verbs_test_attack_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(VERBS_CFLAGS) $(SODIUM_CFLAGS) -pthread
tests_verbs_test_attack_LDADD = verbs/libesv.la shim/libencshim_core.la \
	$(CMOCKA_LIBS) $(SODIUM_LIBS) $(CRYPTO_LIBS) -ldl -lpthread

# Second red team: attacks on the fixes of PROTOCOL section 10 (includes
# test_attack.c, which includes test_verbs.c).
if HAVE_CMOCKA
check_PROGRAMS += tests/verbs/test_attack2
TESTS += tests/verbs/test_attack2
endif
tests_verbs_test_attack2_SOURCES = tests/verbs/test_attack2.c tests/verbs/inject.h
EXTRA_tests_verbs_test_attack2_DEPENDENCIES = tests/verbs/test_verbs.c
tests_verbs_test_attack2_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(VERBS_CFLAGS) $(SODIUM_CFLAGS) -pthread
tests_verbs_test_attack2_LDADD = verbs/libesv.la shim/libencshim_core.la \
	$(CMOCKA_LIBS) $(SODIUM_LIBS) $(CRYPTO_LIBS) -ldl -lpthread

# Sealed RDMA WRITE (PROTOCOL section 10, "Sealed writes"; includes
# test_verbs.c for the fake provider).
if HAVE_CMOCKA
check_PROGRAMS += tests/verbs/test_write
TESTS += tests/verbs/test_write
endif
tests_verbs_test_write_SOURCES = tests/verbs/test_write.c tests/verbs/wpair.h
EXTRA_tests_verbs_test_write_DEPENDENCIES = tests/verbs/test_verbs.c
tests_verbs_test_write_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(VERBS_CFLAGS) $(SODIUM_CFLAGS) -pthread
tests_verbs_test_write_LDADD = verbs/libesv.la shim/libencshim_core.la \
	$(CMOCKA_LIBS) $(SODIUM_LIBS) $(CRYPTO_LIBS) -ldl -lpthread

# The extended API (ibv_wr_*, ibv_cq_ex) through the shim (includes
# test_verbs.c for the fake provider).
if HAVE_CMOCKA
check_PROGRAMS += tests/verbs/test_ex
TESTS += tests/verbs/test_ex
endif
tests_verbs_test_ex_SOURCES = tests/verbs/test_ex.c
EXTRA_tests_verbs_test_ex_DEPENDENCIES = tests/verbs/test_verbs.c
tests_verbs_test_ex_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(VERBS_CFLAGS) $(SODIUM_CFLAGS) -pthread
tests_verbs_test_ex_LDADD = verbs/libesv.la shim/libencshim_core.la \
	$(CMOCKA_LIBS) $(SODIUM_LIBS) $(CRYPTO_LIBS) -ldl -lpthread

# Third red team: sealed writes, the extended API, registrations around
# the shadow (includes test_verbs.c for the fake provider).
if HAVE_CMOCKA
check_PROGRAMS += tests/verbs/test_attack3
TESTS += tests/verbs/test_attack3
endif
tests_verbs_test_attack3_SOURCES = tests/verbs/test_attack3.c tests/verbs/wpair.h
EXTRA_tests_verbs_test_attack3_DEPENDENCIES = tests/verbs/test_verbs.c
tests_verbs_test_attack3_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(VERBS_CFLAGS) $(SODIUM_CFLAGS) -pthread
tests_verbs_test_attack3_LDADD = verbs/libesv.la shim/libencshim_core.la \
	$(CMOCKA_LIBS) $(SODIUM_LIBS) $(CRYPTO_LIBS) -ldl -lpthread

# Fourth red team: the progress thread of write targets that never poll
# (includes test_verbs.c for the fake provider).
if HAVE_CMOCKA
check_PROGRAMS += tests/verbs/test_attack4
TESTS += tests/verbs/test_attack4
endif
tests_verbs_test_attack4_SOURCES = tests/verbs/test_attack4.c tests/verbs/wpair.h
EXTRA_tests_verbs_test_attack4_DEPENDENCIES = tests/verbs/test_verbs.c
tests_verbs_test_attack4_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(VERBS_CFLAGS) $(SODIUM_CFLAGS) -pthread
tests_verbs_test_attack4_LDADD = verbs/libesv.la shim/libencshim_core.la \
	$(CMOCKA_LIBS) $(SODIUM_LIBS) $(CRYPTO_LIBS) -ldl -lpthread

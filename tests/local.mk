# Unit tests of the crypto core (cmocka): `make check`.
UNIT_TESTS = tests/unit/test_aead tests/unit/test_kdf tests/unit/test_frame \
	tests/unit/test_replay tests/unit/test_threads tests/unit/test_keyfile \
	tests/unit/test_kex tests/unit/test_secmem tests/unit/test_env tests/unit/test_mca \
	tests/unit/test_keycache
if HAVE_CMOCKA
check_PROGRAMS += $(UNIT_TESTS)
TESTS += $(UNIT_TESTS)
endif
UNIT_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(SODIUM_CFLAGS) -pthread
UNIT_LDADD = shim/libencshim_core.la $(CMOCKA_LIBS) $(SODIUM_LIBS) -lpthread
tests_unit_test_aead_SOURCES = tests/unit/test_aead.c tests/unit/util.h
tests_unit_test_aead_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_aead_LDADD = $(UNIT_LDADD)
tests_unit_test_kdf_SOURCES = tests/unit/test_kdf.c tests/unit/util.h
tests_unit_test_kdf_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_kdf_LDADD = $(UNIT_LDADD)
tests_unit_test_frame_SOURCES = tests/unit/test_frame.c tests/unit/util.h
tests_unit_test_frame_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_frame_LDADD = $(UNIT_LDADD)
tests_unit_test_replay_SOURCES = tests/unit/test_replay.c tests/unit/util.h
tests_unit_test_replay_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_replay_LDADD = $(UNIT_LDADD)
tests_unit_test_threads_SOURCES = tests/unit/test_threads.c tests/unit/util.h
tests_unit_test_threads_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_threads_LDADD = $(UNIT_LDADD)
tests_unit_test_keyfile_SOURCES = tests/unit/test_keyfile.c tests/unit/util.h
tests_unit_test_keyfile_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_keyfile_LDADD = $(UNIT_LDADD)
tests_unit_test_kex_SOURCES = tests/unit/test_kex.c tests/unit/util.h
tests_unit_test_kex_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_kex_LDADD = $(UNIT_LDADD)
tests_unit_test_keycache_SOURCES = tests/unit/test_keycache.c tests/unit/util.h
tests_unit_test_keycache_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_keycache_LDADD = $(UNIT_LDADD)
tests_unit_test_secmem_SOURCES = tests/unit/test_secmem.c tests/unit/util.h
tests_unit_test_secmem_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_secmem_LDADD = $(UNIT_LDADD)
tests_unit_test_env_SOURCES = tests/unit/test_env.c tests/unit/util.h
tests_unit_test_env_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_env_LDADD = $(UNIT_LDADD)
tests_unit_test_mca_SOURCES = tests/unit/test_mca.c tests/unit/util.h \
	shim/mca_check.h shim/mca_check.c
tests_unit_test_mca_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_mca_LDADD = $(UNIT_LDADD)
EXTRA_DIST += tests/vectors/keyschedule.py

# Bounded libFuzzer runs (clang): frame opening, key file parsing, the
# verbs receive path.
TESTS += tests/fuzz/run.sh
EXTRA_DIST += tests/fuzz/fuzz_open.c tests/fuzz/fuzz_keyfile.c tests/fuzz/fuzz_verbs.c
dist_noinst_SCRIPTS += tests/fuzz/run.sh
# run.sh builds its targets and corpora in the build tree.
clean-fuzz:
	rm -rf tests/fuzz/fuzz_open tests/fuzz/fuzz_keyfile tests/fuzz/fuzz_verbs \
		tests/fuzz/probe tests/fuzz/probe.c tests/fuzz/*.log \
		tests/fuzz/corpus-fuzz_open tests/fuzz/corpus-fuzz_keyfile \
		tests/fuzz/corpus-fuzz_verbs
.PHONY: clean-fuzz

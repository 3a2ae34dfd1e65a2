# Crypto core: a PIC convenience library linked into every front end.
noinst_LTLIBRARIES += shim/libencshim_core.la
shim_libencshim_core_la_SOURCES = \
	include/encshim.h include/encshim/wire.h include/encshim/error.h \
	include/encshim/aead.h include/encshim/keyfile.h include/encshim/session.h \
	include/encshim/env.h \
	shim/aead_impl.h shim/aead.c shim/aead_sodium.c \
	shim/kdf.h shim/kdf.c shim/keyschedule.h shim/keyschedule.c \
	shim/replay.h shim/replay.c shim/secmem.h shim/secmem.c shim/session_internal.h \
	shim/session.c shim/keyfile.c shim/error.c shim/env.c
if HAVE_OPENSSL
shim_libencshim_core_la_SOURCES += shim/aead_openssl.c
endif
if HAVE_IPSEC_MB
shim_libencshim_core_la_SOURCES += shim/aead_ipsecmb.c
endif
shim_libencshim_core_la_CFLAGS = $(AM_CFLAGS) $(SODIUM_CFLAGS) $(CRYPTO_CFLAGS) -pthread
shim_libencshim_core_la_LIBADD = $(SODIUM_LIBS) $(CRYPTO_LIBS) $(IPSEC_MB_LIBS) -lpthread

bin_PROGRAMS += encshim
encshim_SOURCES = shim/commands.h shim/encshim.c shim/cmd_keygen.c \
	shim/cmd_info.c shim/cmd_selftest.c shim/cmd_mpirun.c shim/cmd_preload.c \
	shim/mca_check.h shim/mca_check.c
encshim_CFLAGS = $(AM_CFLAGS) $(SODIUM_CFLAGS)
encshim_LDADD = shim/libencshim_core.la $(SODIUM_LIBS)

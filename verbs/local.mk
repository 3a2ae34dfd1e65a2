# verbs: libencshim-verbs.so, an LD_PRELOAD interposer over libibverbs /
# librdmacm that seals two-sided RDMA traffic (docs/VERBS.md).
if BUILD_VERBS
noinst_LTLIBRARIES += verbs/libesv.la
verbs_libesv_la_SOURCES = verbs/esv.h verbs/registry.c verbs/util.c verbs/secret.c verbs/pool.c \
	verbs/send.c verbs/write.c verbs/wmr.c verbs/qpex.c verbs/cqex.c verbs/recv.c verbs/hello.c verbs/ud.c verbs/qp.c verbs/cq.c verbs/progress.c \
	verbs/interpose.c
verbs_libesv_la_CFLAGS = $(AM_CFLAGS) $(VERBS_CFLAGS) $(SODIUM_CFLAGS) -pthread

verbsdir = $(pkglibdir)
verbs_LTLIBRARIES = verbs/libencshim-verbs.la
verbs_libencshim_verbs_la_SOURCES =
verbs_libencshim_verbs_la_LDFLAGS = -module -avoid-version -shared -no-undefined
verbs_libencshim_verbs_la_LIBADD = verbs/libesv.la shim/libencshim_core.la \
	$(SODIUM_LIBS) $(CRYPTO_LIBS) $(VERBS_LIBS) -ldl -lpthread

include $(srcdir)/tests/verbs/local.mk
endif

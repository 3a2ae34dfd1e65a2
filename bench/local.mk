# bench: AEAD and MPI benchmarks, the driver (bench/run) and its CI smoke test.
# See bench/README.md.

noinst_PROGRAMS += bench/aeadbench
bench_aeadbench_SOURCES = bench/aeadbench.c bench/size.h bench/size.c
bench_aeadbench_CFLAGS = $(AM_CFLAGS) $(SODIUM_CFLAGS) $(CRYPTO_CFLAGS)
bench_aeadbench_LDADD = shim/libencshim_core.la $(SODIUM_LIBS) $(CRYPTO_LIBS) $(IPSEC_MB_LIBS)

# The verbs interposer's sealed RDMA WRITE over a fake provider (CPU cost).
if BUILD_VERBS
noinst_PROGRAMS += bench/verbsbench
bench_verbsbench_SOURCES = bench/verbsbench.c bench/size.h bench/size.c
bench_verbsbench_CFLAGS = $(AM_CFLAGS) $(VERBS_CFLAGS) $(SODIUM_CFLAGS) -pthread
bench_verbsbench_LDADD = verbs/libesv.la shim/libencshim_core.la \
	$(SODIUM_LIBS) $(CRYPTO_LIBS) $(IPSEC_MB_LIBS) -ldl -lpthread
endif

if BUILD_MPI
noinst_PROGRAMS += bench/mpibench
bench_mpibench_SOURCES = bench/mpibench.c bench/size.h bench/size.c
bench_mpibench_CFLAGS = $(AM_CFLAGS) $(MPI_CFLAGS)
bench_mpibench_LDADD = $(MPI_LIBS) -lm
endif

dist_noinst_SCRIPTS += bench/run bench/smoke.sh bench/report.py bench/profile bench/perfsplit.py \
	examples/run examples/train_ddp.py
EXTRA_DIST += bench/README.md bench/results/.gitignore bench/results/latest.txt \
	bench/results/latest.csv bench/results/latest.png

TESTS += bench/smoke.sh

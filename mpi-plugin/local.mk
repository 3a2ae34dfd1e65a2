# Open MPI plugin: pml/encshim (the wrapper), hook/encshim (the
# fail-closed check at MPI_Init) and osc/encshim (pt2pt's windows under
# MPI_THREAD_MULTIPLE), built as dlopen-able MCA components.
# From the build tree they load with
#   --mca mca_component_path $(abs_top_builddir)/mpi-plugin/.libs:<Open MPI's component dir>

if BUILD_MPI
ompicompdir = $(OMPI_COMPONENT_DIR)
ompicomp_LTLIBRARIES = mpi-plugin/mca_pml_encshim.la mpi-plugin/mca_hook_encshim.la \
	mpi-plugin/mca_osc_encshim.la

MPI_PLUGIN_CFLAGS = $(AM_CFLAGS) $(MPI_CFLAGS) $(SODIUM_CFLAGS) -pthread
MPI_PLUGIN_LDFLAGS = -module -avoid-version -no-undefined -shared

mpi_plugin_mca_pml_encshim_la_SOURCES = \
	mpi-plugin/pml_encshim.h \
	mpi-plugin/pml_encshim_component.c \
	mpi-plugin/pml_encshim_bypass.c \
	mpi-plugin/pml_encshim_peer.c \
	mpi-plugin/pml_encshim_job.c \
	mpi-plugin/pml_encshim_pool.c \
	mpi-plugin/pml_encshim_request.c \
	mpi-plugin/pml_encshim_send.c \
	mpi-plugin/pml_encshim_chunk.c \
	mpi-plugin/pml_encshim_recv.c \
	mpi-plugin/pml_encshim_probe.c \
	mpi-plugin/pml_encshim_start.c \
	mpi-plugin/pml_encshim_comm.h \
	mpi-plugin/pml_encshim_comm.c \
	mpi-plugin/pml_encshim_order.c \
	mpi-plugin/pml_encshim_clear.c
mpi_plugin_mca_pml_encshim_la_CFLAGS = $(MPI_PLUGIN_CFLAGS)
mpi_plugin_mca_pml_encshim_la_LDFLAGS = $(MPI_PLUGIN_LDFLAGS)
mpi_plugin_mca_pml_encshim_la_LIBADD = shim/libencshim_core.la \
	$(SODIUM_LIBS) $(CRYPTO_LIBS) $(MPI_LIBS) -lopen-pal -lpthread

mpi_plugin_mca_hook_encshim_la_SOURCES = mpi-plugin/hook_encshim.c
mpi_plugin_mca_hook_encshim_la_CFLAGS = $(MPI_PLUGIN_CFLAGS)
mpi_plugin_mca_hook_encshim_la_LDFLAGS = $(MPI_PLUGIN_LDFLAGS)
mpi_plugin_mca_hook_encshim_la_LIBADD = $(MPI_LIBS) -lopen-pal

mpi_plugin_mca_osc_encshim_la_SOURCES = mpi-plugin/osc_encshim.h \
	mpi-plugin/osc_encshim_component.c mpi-plugin/osc_encshim_serial.c
mpi_plugin_mca_osc_encshim_la_CFLAGS = $(MPI_PLUGIN_CFLAGS)
mpi_plugin_mca_osc_encshim_la_LDFLAGS = $(MPI_PLUGIN_LDFLAGS)
mpi_plugin_mca_osc_encshim_la_LIBADD = $(MPI_LIBS) -lopen-pal -lpthread
endif

# encshim mpirun finds the installed components here.
encshim_CPPFLAGS = $(AM_CPPFLAGS) -DENCSHIM_OMPI_COMPONENT_DIR='"$(OMPI_COMPONENT_DIR)"' \
	-DENCSHIM_OMPI_SYSTEM_COMPONENT_DIR='"$(MPI_PKGLIBDIR)"'

include $(srcdir)/tests/mpi/local.mk

# The build tree's .libs also holds object files that Open MPI would try
# (noisily) to open as components: tests and ENCSHIM_COMPONENT_DIR use a
# directory with only the three modules.
if BUILD_MPI
all-local: mpi-plugin/components/.stamp
mpi-plugin/components/.stamp: mpi-plugin/mca_pml_encshim.la mpi-plugin/mca_hook_encshim.la \
		mpi-plugin/mca_osc_encshim.la
	$(AM_V_GEN)$(MKDIR_P) mpi-plugin/components && \
	cp -f mpi-plugin/.libs/mca_pml_encshim.so mpi-plugin/.libs/mca_hook_encshim.so \
		mpi-plugin/.libs/mca_osc_encshim.so mpi-plugin/components/ && \
	touch $@
endif

clean-mpi-components:
	rm -rf mpi-plugin/components
.PHONY: clean-mpi-components

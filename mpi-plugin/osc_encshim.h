/* SPDX-License-Identifier: MIT */
/*
 * osc/encshim: one-sided windows under MPI_THREAD_MULTIPLE that travel
 * through the (sealed) PML.
 *
 * Open MPI 4.1 has two one-sided components that send through the PML
 * table, and so through pml/encshim: pt2pt (RMA as PML messages) and sm
 * (no messages: a shared memory segment on one node). pt2pt declines
 * every window under MPI_THREAD_MULTIPLE (open-mpi/ompi#2614, concurrent
 * calls on one window), and osc rdma/ucx, which would take over, move
 * data past the PML and are refused by pml/encshim. This component gives
 * pt2pt's windows back to MPI_THREAD_MULTIPLE programs, with every call
 * on a window serialised by a mutex of that window (osc_encshim_serial.c),
 * so pt2pt never sees two calls on one window at once.
 */
#ifndef OSC_ENCSHIM_H
#define OSC_ENCSHIM_H

#include "ompi_config.h"

#include "ompi/mca/osc/osc.h"
#include "ompi/win/win.h"

#define ENCSHIM_OSC_NAME "encshim"

OMPI_MODULE_DECLSPEC extern ompi_osc_base_component_t mca_osc_encshim_component;

/* Creates the serialisation state; must run once before any window is
 * wrapped. */
int encshim_osc_serial_init(void);
void encshim_osc_serial_fini(void);

/* Replaces the function table of WIN's module (just created by pt2pt)
 * with one that takes WIN's mutex around each call and forwards. */
int encshim_osc_serialise(struct ompi_win_t *win);

#endif

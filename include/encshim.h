/* SPDX-License-Identifier: MIT */
/* encshim: AES-256-GCM encryption in transit for MPI and RDMA. */
#ifndef ENCSHIM_H
#define ENCSHIM_H

#include "encshim/aead.h"
#include "encshim/env.h"
#include "encshim/error.h"
#include "encshim/keyfile.h"
#include "encshim/session.h"
#include "encshim/wire.h"

#endif

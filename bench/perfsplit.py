#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench/perfsplit.py: where a rank's CPU time goes, by kind of work.

  perfsplit.py --calls N LABEL=DIR [LABEL=DIR ...]

Reads DIR/perf.0.data and DIR/perf.1.data (bench/profile's perf record
-F 4000 of both ranks), sorts every sample into a kind of work by its
symbol and library, and prints CPU microseconds per rank per call of the
operation (the samples of both ranks / 2 / N; N = timed + warm-up calls).
The samples also cover MPI_Init and MPI_Finalize, so use enough calls
that those vanish. Rows whose label is not the first also print the
difference to the first, e.g. an encrypted run against plaintext.
"""
import argparse
import re
import subprocess
from collections import Counter

KINDS = ["aead", "kernel copy", "kernel other", "user memcpy", "reduce op",
         "mpi + polling", "encshim", "bench fill/check"]
LINE = re.compile(r"\s*(\d+)\s+(\S+)\s+\[(.)\]\s+(\S+)")


def kind(dso, ring, sym):
    if "IPSec_MB" in dso or "libcrypto" in dso or "libsodium" in dso:
        return "aead"
    if sym in ("run_once", "fill", "check_sum", "check_equal"):
        return "bench fill/check"  # outside the timed region
    if ring == "k":
        return "kernel copy" if "copy_" in sym and "iter" in sym else "kernel other"
    if "memmove" in sym or "memcpy" in sym:
        return "user memcpy"
    if "mca_op" in dso:
        return "reduce op"
    if "encshim" in dso:
        return "encshim"
    return "mpi + polling"


def split(path):
    out = subprocess.run(
        ["perf", "report", "-i", path, "--no-children", "--stdio", "-g", "none",
         "--sort", "dso,symbol", "-F", "sample,dso,symbol"],
        capture_output=True, text=True, check=True).stdout
    c = Counter()
    for line in out.splitlines():
        m = LINE.match(line)
        if m:
            c[kind(m[2], m[3], m[4])] += int(m[1])
    return c


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, required=True)
    ap.add_argument("--hz", type=float, default=4000.0)
    ap.add_argument("runs", nargs="+")
    a = ap.parse_args()
    us = 1e6 / a.hz / 2 / a.calls
    rows = []
    for spec in a.runs:
        label, d = spec.split("=", 1)
        c = split(d + "/perf.0.data") + split(d + "/perf.1.data")
        rows.append((label, {k: c[k] * us for k in KINDS}))
    print("CPU us per rank per call (both ranks' samples / 2 / %d calls)" % a.calls)
    print("%-17s" % "kind" + "".join("%12s" % r[0] for r in rows) +
          "".join("%12s" % ("+" + r[0]) for r in rows[1:]))
    for k in KINDS + ["total"]:
        v = [sum(r[1].values()) if k == "total" else r[1][k] for r in rows]
        print("%-17s" % k + "".join("%12.1f" % x for x in v) +
              "".join("%+12.1f" % (x - v[0]) for x in v[1:]))


if __name__ == "__main__":
    main()

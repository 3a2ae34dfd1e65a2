#!/bin/sh
# SPDX-License-Identifier: MIT
# CI smoke test of the benchmarks (make check): bench/run --quick, a few
# sizes and iterations of every configuration this machine can run; asserts
# only that every result is correct (the numbers are not judged).
# Exit 77 (skip) when mpibench was not built or mpirun is missing. The
# netns and WireGuard configurations are skipped by bench/run itself when
# not root or when ip / wireguard-go / wg are missing.
srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
builddir=${top_builddir:-.}
if [ ! -x "$builddir/bench/mpibench" ]; then
	echo "SKIP: $builddir/bench/mpibench not built (no Open MPI?)"
	exit 77
fi
command -v mpirun >/dev/null 2>&1 || { echo "SKIP: no mpirun"; exit 77; }
command -v python3 >/dev/null 2>&1 || { echo "SKIP: no python3"; exit 77; }
out=$(mktemp -d "${TMPDIR:-/tmp}/encshim-smoke.XXXXXX") || exit 99
"$srcdir/bench/run" --quick --builddir "$builddir" --out "$out"
rc=$?
if [ $rc = 0 ]; then
	# belt and braces: every measured row says ok
	if [ ! -s "$out/results.csv" ] || grep -v '^config,' "$out/results.csv" | grep -qv ',ok,'; then
		echo "FAIL: results.csv missing or has rows not ok ($out)"
		exit 1
	fi
	rm -rf "$out"
	exit 0
fi
echo "bench/run --quick exited $rc; its output is in $out"
exit $rc

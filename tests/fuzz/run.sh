#!/bin/sh
# Builds the libFuzzer targets with clang (ASan+UBSan) and runs each for
# FUZZ_SECONDS (default 15). Exit 77 (skip) where clang has no libFuzzer.
set -eu
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir/build}"
secs=${FUZZ_SECONDS:-15}
out=$top_builddir/tests/fuzz
mkdir -p "$out"
if ! command -v clang >/dev/null 2>&1; then
	echo "SKIP: clang not installed (apt-get install clang)"; exit 77
fi
echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n){return 0;}' > "$out/probe.c"
if ! clang -fsanitize=fuzzer "$out/probe.c" -o "$out/probe" 2>/dev/null; then
	echo "SKIP: clang lacks libFuzzer"; exit 77
fi
core="aead.c aead_sodium.c kdf.c keyschedule.c replay.c secmem.c keycache.c session.c keyfile.c error.c"
grep -q 'define HAVE_OPENSSL 1' "$top_builddir/config.h" && core="$core aead_openssl.c"
grep -q 'define HAVE_IPSEC_MB 1' "$top_builddir/config.h" && core="$core aead_ipsecmb.c"
srcs=""
for f in $core; do srcs="$srcs $top_srcdir/shim/$f"; done
libs="$(pkg-config --libs libsodium) $(pkg-config --libs libcrypto 2>/dev/null || true) -lpthread"
grep -q 'define HAVE_IPSEC_MB 1' "$top_builddir/config.h" && libs="$libs -lIPSec_MB"
for t in fuzz_open fuzz_keyfile; do
	# shellcheck disable=SC2086
	clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-I"$top_builddir" -I"$top_srcdir/include" -I"$top_srcdir/shim" \
		"$top_srcdir/tests/fuzz/$t.c" $srcs $libs -o "$out/$t"
	mkdir -p "$out/corpus-$t"
	echo "fuzzing $t for ${secs}s"
	"$out/$t" -max_total_time="$secs" -max_len=4096 -print_final_stats=1 \
		"$out/corpus-$t" 2>&1 | tail -n 4
done
rm -f /tmp/encshim-fuzz-key.*

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
# Runs target $1 on its corpus for $secs; a crash fails the test (its
# report is shown), as a pipe into tail would hide it. No leak check:
# key state lives in mmap'd key memory (shim/secmem.c) that LeakSanitizer
# does not scan, so what it points to would be reported as leaked.
run() {
	echo "fuzzing $1 for ${secs}s"
	if ! ASAN_OPTIONS=detect_leaks=0 "$out/$1" -max_total_time="$secs" \
		-max_len=4096 -print_final_stats=1 -detect_leaks=0 \
		"$out/corpus-$1" >"$out/$1.log" 2>&1; then
		grep -v '^encshim-verbs' "$out/$1.log" | tail -n 40
		echo "FAIL: $1 found a crash (input saved in the build dir)"
		exit 1
	fi
	tail -n 4 "$out/$1.log"
}
for t in fuzz_open fuzz_keyfile; do
	# shellcheck disable=SC2086
	clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-I"$top_builddir" -I"$top_srcdir/include" -I"$top_srcdir/shim" \
		"$top_srcdir/tests/fuzz/$t.c" $srcs $libs -o "$out/$t"
	mkdir -p "$out/corpus-$t"
	run "$t"
done
# The verbs receive path, over the fake provider of fuzz_verbs.c.
if [ -d "$top_builddir/verbs" ] && pkg-config --exists libibverbs; then
	vsrcs=""
	vsrcs="$top_srcdir/shim/env.c" # the settings parser of interpose.c
	for f in registry util secret pool send write wmr qpex cqex recv hello ud qp cq progress \
		interpose; do
		vsrcs="$vsrcs $top_srcdir/verbs/$f.c"
	done
	# shellcheck disable=SC2086
	clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-I"$top_builddir" -I"$top_srcdir/include" -I"$top_srcdir/shim" \
		-I"$top_srcdir/verbs" $(pkg-config --cflags libibverbs) \
		"$top_srcdir/tests/fuzz/fuzz_verbs.c" $vsrcs $srcs $libs -ldl \
		-o "$out/fuzz_verbs"
	mkdir -p "$out/corpus-fuzz_verbs"
	run fuzz_verbs
else
	echo "fuzz_verbs: verbs not built here, not fuzzed"
fi
rm -f /tmp/encshim-fuzz-key.*

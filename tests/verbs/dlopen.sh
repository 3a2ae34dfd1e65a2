#!/bin/sh
# Runs tests/verbs/test_dlopen under the preload (see test_dlopen.c).
b=${top_builddir:-.}
lib=$b/verbs/.libs/libencshim-verbs.so
[ -f "$lib" ] || { echo "SKIP: $lib not built"; exit 77; }
[ "$(uname -m)" = x86_64 ] || { echo "SKIP: dlsym is interposed on x86-64 only"; exit 77; }
LD_PRELOAD=$lib exec "$b/tests/verbs/test_dlopen"

/* SPDX-License-Identifier: MIT */
/*
 * A program that dlopen()s libibverbs and resolves its entry points from
 * that handle must still get the shim's wrappers (run under LD_PRELOAD by
 * tests/verbs/dlopen.sh). Also checks that dlsym(RTLD_NEXT/RTLD_DEFAULT)
 * keep working for other symbols. Exit 0 pass, 1 fail, 77 skip.
 */
#include "config.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
	void *h = dlopen("libibverbs.so.1", RTLD_NOW | RTLD_LOCAL);
	void *via_handle, *via_default, *real, *p;
	int bad = 0;

	if (!h) {
		printf("SKIP: cannot dlopen libibverbs.so.1: %s\n", dlerror());
		return 77;
	}
	via_handle = dlsym(h, "ibv_open_device");
	via_default = dlsym(RTLD_DEFAULT, "ibv_open_device");
	real = dlvsym(h, "ibv_open_device", "IBVERBS_1.1");
	printf("handle %p default %p libibverbs %p\n", via_handle, via_default, real);
	if (!via_handle || via_handle != via_default || via_handle == real) {
		printf("FAIL: dlsym(handle, \"ibv_open_device\") bypasses the shim\n");
		bad = 1;
	}
	/* Every context constructor (item 13 of issue 8). */
	p = dlsym(h, "ibv_import_device");
	if (!p || p == dlvsym(h, "ibv_import_device", "IBVERBS_1.10")) {
		printf("FAIL: dlsym(handle, \"ibv_import_device\") bypasses the shim\n");
		bad = 1;
	}
	p = dlsym(h, "ibv_get_device_list");
	if (!p || p != dlvsym(h, "ibv_get_device_list", "IBVERBS_1.1")) {
		printf("FAIL: an unwrapped symbol is not libibverbs' own\n");
		bad = 1;
	}
	if (dlsym(h, "no_such_symbol_xyz")) {
		printf("FAIL: a missing symbol resolved\n");
		bad = 1;
	}
	if (dlsym(RTLD_DEFAULT, "strlen") != (void *)strlen && !dlsym(RTLD_DEFAULT, "strlen")) {
		printf("FAIL: dlsym(RTLD_DEFAULT, strlen)\n");
		bad = 1;
	}
	if (!dlsym(RTLD_NEXT, "malloc")) {
		printf("FAIL: dlsym(RTLD_NEXT, malloc)\n");
		bad = 1;
	}
	if (!bad)
		printf("PASS: dlopen'd libibverbs resolves to the shim\n");
	return bad;
}

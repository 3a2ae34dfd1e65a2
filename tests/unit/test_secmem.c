/* SPDX-License-Identifier: MIT */
/* Key memory (secmem.c): zeroed, aligned, excluded from core dumps
 * (the kernel's "dd" VmFlag in /proc/self/smaps), wiped on free. */
#include <stdio.h>
#include "util.h"
#include "secmem.h"

/* Whether the mapping holding p carries VmFlag `flag`. */
static int vmflag(const void *p, const char *flag)
{
	uintptr_t a = (uintptr_t)p, lo, hi;
	char line[512];
	int inside = 0, found = 0;
	FILE *f = fopen("/proc/self/smaps", "r");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' '))
			inside = a >= lo && a < hi;
		else if (inside && !strncmp(line, "VmFlags:", 8))
			found = strstr(line + 8, flag) != NULL;
	}
	fclose(f);
	return found;
}

static void test_sizes(void **state)
{
	static const size_t sizes[] = { 1, 63, 64, 65, 512, 1024, 1025, 70000 };

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint8_t *p = secmem_alloc(sizes[i]);

		assert_non_null(p);
		assert_int_equal((uintptr_t)p % 64, 0);
		assert_true(all_zero(p, sizes[i]));
		assert_true(vmflag(p, " dd"));
		memset(p, 0x5a, sizes[i]);
		secmem_free(p, sizes[i]);
	}
}

/* A recycled block comes back zeroed: nothing of the last key stays. */
static void test_wiped_on_free(void **state)
{
	uint8_t *p = secmem_alloc(200), *q;

	assert_non_null(p);
	memset(p, 0xa5, 200);
	secmem_free(p, 200);
	q = secmem_alloc(200);
	assert_ptr_equal(p, q); /* the free list is LIFO */
	assert_true(all_zero(q, 200));
	secmem_free(q, 200);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_wiped_on_free),
	};

	if (encshim_init())
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}

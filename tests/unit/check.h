/*
 * The unit tests' shared pieces: one line per check ("ok" or "FAIL" and what was checked), the
 * counts for the closing "N passed, N failed" line, and a pixel of a uint8 [H, W, C] tensor.
 * Included by one test program each, so everything here is static.
 */
#ifndef FACET_TEST_CHECK_H
#define FACET_TEST_CHECK_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

#include "facet.h"

static int n_pass, n_fail;

__attribute__((format(printf, 2, 3))) static void check(int ok, const char *fmt, ...)
{
	va_list ap;
	printf("%-4s ", ok ? "ok" : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	ok ? n_pass++ : n_fail++;
}

static inline uint8_t px(const facet_tensor *t, int y, int x, int c)
{
	return ((const uint8_t *)t->data)[((size_t)y * t->shape[1] + x) * t->shape[2] + c];
}

#endif

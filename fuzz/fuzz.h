/*
 * Shared by facet's libFuzzer harnesses (fuzz/fuzz_*.c, built by scripts/fuzz.sh).
 *
 * The stream reader reads with read(2) on the file's descriptor, so an input reaches it through an
 * anonymous in-memory file (memfd), never through fmemopen (which has no descriptor).
 */
#ifndef FACET_FUZZ_H
#define FACET_FUZZ_H

#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* A FILE open for reading on a memfd holding data[0..size). Aborts when the system says no:
 * that is the harness failing, not facet. */
static inline FILE *fuzz_memfile(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz", MFD_CLOEXEC);
	FILE *f;
	size_t off = 0;

	if (fd < 0)
		abort();
	while (off < size) {
		ssize_t n = write(fd, data + off, size - off);
		if (n <= 0)
			abort();
		off += (size_t)n;
	}
	if (lseek(fd, 0, SEEK_SET) != 0 || !(f = fdopen(fd, "rb")))
		abort();
	return f;
}

/* A NUL-terminated copy of data, for parsers that take C strings. */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* A property the harness checks failed: report it as a crash with a message. */
#define FUZZ_ASSERT(c)                                                                             \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, #c);   \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#endif

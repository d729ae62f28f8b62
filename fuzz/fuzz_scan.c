/*
 * Fuzz target: facet_msgpack_scan, the allocation-free pre-pass that checks every msgpack header
 * against the limits before msgpack-c allocates anything. Differential against msgpack-c:
 *   - a length n > 0 means msgpack-c unpacks exactly data[0..n) as one object;
 *   - 0 (the buffer ends inside the object) means msgpack-c cannot unpack it from data[0..size)
 *     either (checked only when the input is small, so msgpack-c's up-front allocation is bounded);
 *   - -1 comes with a message.
 * The first input byte picks the size limit, so the limit checks are reached with small inputs.
 */
#include "fuzz.h"

#include "facet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *err = NULL;
	size_t max;
	long n;
	msgpack_unpacked up;
	size_t off = 0;

	if (size < 1)
		return 0;
	max = data[0] < 128 ? (size_t)64 + data[0] * 16 : FACET_DEFAULT_MAX_RECORD;
	data++;
	size--;
	n = facet_msgpack_scan(data, size, max, &err);
	if (n < 0) {
		FUZZ_ASSERT(err && *err);
		return 0;
	}
	FUZZ_ASSERT((size_t)n <= size && (size_t)n <= max);
	if (n == 0)
		return 0;
	msgpack_unpacked_init(&up);
	FUZZ_ASSERT(msgpack_unpack_next(&up, (const char *)data, (size_t)n, &off) ==
	            MSGPACK_UNPACK_SUCCESS);
	FUZZ_ASSERT(off == (size_t)n);
	msgpack_unpacked_destroy(&up);
	return 0;
}

/*
 * Fuzz target: JPEG decoding through facet_image_decode_memory with the TurboJPEG engine, at the
 * stored size and scaled (DCT-domain scaling, then a centre crop), RGB and grey.
 * After every input, a known-good JPEG is decoded on the same thread and must give its exact
 * size and near-exact pixels: a decoder left in a bad state by a hostile file is a bug too.
 */
#include "fuzz.h"

#include <turbojpeg.h>

#include "image.h"

static unsigned char *good;
static unsigned long good_len;

/* A 16x16 JPEG of one colour (10, 20, 30), made once. */
static void make_good(void)
{
	unsigned char px[16 * 16 * 3];
	tjhandle tj = tjInitCompress();

	for (int i = 0; i < 16 * 16; i++) {
		px[3 * i] = 10;
		px[3 * i + 1] = 20;
		px[3 * i + 2] = 30;
	}
	FUZZ_ASSERT(tj && tjCompress2(tj, px, 16, 0, 16, TJPF_RGB, &good, &good_len, TJSAMP_444, 95,
	                              0) == 0);
	tjDestroy(tj);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	facet_image_spec spec = {0, 0, 3, FACET_ENGINE_TURBO};
	facet_tensor t;
	char err[256];
	const uint8_t *p;

	if (!good)
		make_good();
	if (size < 1)
		return 0;
	/* first byte: target size (0: stored) and channels */
	if (data[0] & 1) {
		spec.width = 1 + (data[0] >> 4);
		spec.height = 1 + ((data[0] >> 1) & 7) * 3;
	}
	spec.channels = data[0] & 0x80 ? 1 : 3;
	if (facet_image_decode_memory(data + 1, size - 1, &spec, &t, err, sizeof err) == 0) {
		FUZZ_ASSERT(t.ndim == 3 && t.shape[2] == spec.channels && t.shape[0] > 0 &&
		            t.shape[1] > 0);
		FUZZ_ASSERT(t.nbytes == (size_t)(t.shape[0] * t.shape[1] * t.shape[2]));
		if (spec.width)
			FUZZ_ASSERT(t.shape[0] == spec.height && t.shape[1] == spec.width);
		facet_tensor_free(&t);
	} else {
		FUZZ_ASSERT(err[0]);
	}

	spec = (facet_image_spec){0, 0, 3, FACET_ENGINE_TURBO};
	if (facet_image_decode_memory(good, good_len, &spec, &t, err, sizeof err) != 0) {
		fprintf(stderr, "the good JPEG fails after this input: %s\n", err);
		abort();
	}
	FUZZ_ASSERT(t.ndim == 3 && t.shape[0] == 16 && t.shape[1] == 16 && t.shape[2] == 3);
	p = t.data;
	for (int i = 0; i < 16 * 16; i++)
		FUZZ_ASSERT(abs(p[3 * i] - 10) <= 3 && abs(p[3 * i + 1] - 20) <= 3 &&
		            abs(p[3 * i + 2] - 30) <= 3);
	facet_tensor_free(&t);
	return 0;
}

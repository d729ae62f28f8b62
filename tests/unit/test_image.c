/*
 * common/image.c: the resize against a naive 2-D area average written here, the crop and pad
 * geometry, the channel conversions, and the two decode engines (TurboJPEG, libvips) against
 * each other on a JPEG and a PNG made here.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <turbojpeg.h>
#include <vips/vips.h>
#include <vips/vector.h>

#include "facet.h"
#include "image.h"

static int n_pass, n_fail;
static unsigned long long rng = 88172645463325252ULL;

static unsigned rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng >> 32);
}

static void check(int ok, const char *fmt, ...)
{
	va_list ap;
	printf("%-4s ", ok ? "ok" : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	ok ? n_pass++ : n_fail++;
}

static facet_tensor image(int h, int w, int c)
{
	facet_tensor t;
	int64_t shape[3] = {h, w, c};
	facet_tensor_alloc(&t, FACET_U8, 3, shape);
	return t;
}

static uint8_t px(const facet_tensor *t, int y, int x, int c)
{
	return ((const uint8_t *)t->data)[((size_t)y * t->shape[1] + x) * t->shape[2] + c];
}

/* Naive reference: out pixel (i, j) = mean of in over the rectangle it covers, each source pixel
 * weighted by its overlap area. in [H, W, C] -> [h, w, C], shrinking only. */
static double ref_area(const facet_tensor *in, int h, int w, int i, int j, int c)
{
	double H = (double)in->shape[0], W = (double)in->shape[1];
	double y0 = i * H / h, y1 = (i + 1) * H / h, x0 = j * W / w, x1 = (j + 1) * W / w;
	double sum = 0, area = 0;
	for (int y = (int)floor(y0); y < (int)ceil(y1); y++)
		for (int x = (int)floor(x0); x < (int)ceil(x1); x++) {
			double a = (fmin(y1, y + 1.0) - fmax(y0, (double)y)) *
			           (fmin(x1, x + 1.0) - fmax(x0, (double)x));
			sum += a * px(in, y, x, c);
			area += a;
		}
	return sum / area;
}

static void test_area(int H, int W, int h, int w, int C)
{
	facet_tensor in = image(H, W, C), out;
	const char *err = NULL;
	double worst = 0;
	uint8_t *p = in.owned;

	for (size_t i = 0; i < in.nbytes; i++)
		p[i] = (uint8_t)rnd();
	if (facet_image_resize(&in, w, h, C, &out, &err) != 0) {
		check(0, "resize %dx%d -> %dx%d: %s", W, H, w, h, err);
		return;
	}
	for (int i = 0; i < h; i++)
		for (int j = 0; j < w; j++)
			for (int c = 0; c < C; c++)
				worst = fmax(
				    worst, fabs(px(&out, i, j, c) - ref_area(&in, h, w, i, j, c)));
	check(out.shape[0] == h && out.shape[1] == w && worst <= 0.5 + 1e-3,
	      "area resize %dx%dx%d -> %dx%d against the 2-D reference: worst %.3f (tol 0.5)", W, H,
	      C, w, h, worst);
	facet_tensor_free(&in);
	facet_tensor_free(&out);
}

static void test_constant_up(void)
{
	facet_tensor in = image(5, 7, 3), out;
	const char *err;
	int bad = 0;
	memset(in.owned, 77, in.nbytes);
	facet_image_resize(&in, 23, 19, 3, &out, &err);
	for (size_t i = 0; i < out.nbytes; i++)
		bad += ((const uint8_t *)out.data)[i] != 77;
	check(bad == 0 && out.shape[0] == 19 && out.shape[1] == 23,
	      "enlarging a constant image keeps it constant (%d pixels off)", bad);
	facet_tensor_free(&in);
	facet_tensor_free(&out);
}

static void test_channels(void)
{
	facet_tensor in = image(2, 2, 3), g, rgb;
	const char *err;
	uint8_t *p = in.owned;
	int ok;
	for (int k = 0; k < 4; k++) {
		p[3 * k] = (uint8_t)(60 * k);
		p[3 * k + 1] = (uint8_t)(255 - 50 * k);
		p[3 * k + 2] = (uint8_t)(17 * k);
	}
	facet_image_resize(&in, 2, 2, 1, &g, &err);
	ok = 1;
	for (int k = 0; k < 4; k++) {
		double y = 0.299 * p[3 * k] + 0.587 * p[3 * k + 1] + 0.114 * p[3 * k + 2];
		ok &= fabs(((const uint8_t *)g.data)[k] - y) <= 0.5 + 1e-3;
	}
	check(ok && g.shape[2] == 1, "RGB -> grey is BT.601 luma");
	facet_image_resize(&g, 2, 2, 3, &rgb, &err);
	ok = 1;
	for (int k = 0; k < 4; k++)
		for (int c = 0; c < 3; c++)
			ok &=
			    ((const uint8_t *)rgb.data)[3 * k + c] == ((const uint8_t *)g.data)[k];
	check(ok && rgb.shape[2] == 3, "grey -> RGB replicates the channel");
	facet_tensor_free(&in);
	facet_tensor_free(&g);
	facet_tensor_free(&rgb);
}

/* A 40 x 20 image: left quarter 0, middle half 100, right quarter 200. Crop to 10x10 keeps the
 * middle; pad to 20x20 centres a 20x10 band on the pad value. */
static void test_fit(void)
{
	facet_tensor in = image(20, 40, 1), out;
	const char *err;
	uint8_t *p = in.owned;
	int ok = 1;

	for (int y = 0; y < 20; y++)
		for (int x = 0; x < 40; x++)
			p[y * 40 + x] = x < 10 ? 0 : x < 30 ? 100 : 200;
	facet_image_fit(&in, 10, 10, 1, FACET_FIT_CROP, 0, &out, &err);
	for (size_t i = 0; i < out.nbytes; i++)
		ok &= ((const uint8_t *)out.data)[i] == 100;
	check(ok, "crop 40x20 -> 10x10 keeps the centre");
	facet_tensor_free(&out);

	facet_image_fit(&in, 20, 20, 1, FACET_FIT_PAD, 9, &out, &err);
	ok = px(&out, 0, 10, 0) == 9 && px(&out, 4, 10, 0) == 9 && px(&out, 15, 10, 0) == 9 &&
	     px(&out, 19, 10, 0) == 9 && px(&out, 5, 10, 0) == 100 && px(&out, 14, 0, 0) == 0 &&
	     px(&out, 10, 19, 0) == 200;
	check(ok, "pad 40x20 -> 20x20 centres a 20x10 band on the pad value");
	facet_tensor_free(&out);

	facet_image_fit(&in, 80, 20, 1, FACET_FIT_STRETCH, 0, &out, &err);
	check(out.shape[1] == 80 && px(&out, 3, 2, 0) == 0 && px(&out, 3, 40, 0) == 100 &&
	          px(&out, 3, 77, 0) == 200,
	      "stretch 40x20 -> 80x20 doubles the width");
	facet_tensor_free(&out);
	facet_tensor_free(&in);

	in = image(2, 2, 2);
	err = "no error";
	ok = facet_image_resize(&in, 4, 4, 3, &out, &err) == -1;
	check(ok, "a 2-channel tensor is refused (%s)", err);
	facet_tensor_free(&in);
}

/* A smooth test picture with some edges, [h, w, 3]. */
static facet_tensor picture(int h, int w)
{
	facet_tensor t = image(h, w, 3);
	uint8_t *p = t.owned;
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++) {
			double r = hypot(x - w / 2.0, y - h / 2.0) / w;
			p[(y * w + x) * 3] = (uint8_t)(r < 0.3 ? 220 : 40 + 100 * (double)x / w);
			p[(y * w + x) * 3 + 1] = (uint8_t)(r < 0.3 ? 170 - 200 * r : 90);
			p[(y * w + x) * 3 + 2] = (uint8_t)(60 + 150 * (double)y / h);
		}
	return t;
}

static double mean_abs_diff(const facet_tensor *a, const facet_tensor *b)
{
	double s = 0;
	if (a->nbytes != b->nbytes)
		return INFINITY;
	for (size_t i = 0; i < a->nbytes; i++)
		s += fabs((double)((const uint8_t *)a->data)[i] - ((const uint8_t *)b->data)[i]);
	return s / a->nbytes;
}

static void test_engines(void)
{
	facet_tensor pic = picture(200, 200), t, v;
	tjhandle tj = tjInitCompress();
	unsigned char *jpeg = NULL;
	unsigned long jlen = 0;
	void *png;
	size_t plen;
	VipsImage *vi;
	char err[256];
	static const int sizes[][3] = {
	    {0, 0, 3}, {64, 64, 3}, {48, 48, 1}, {100, 50, 3}, {30, 90, 1}};

	if (tjCompress2(tj, pic.data, 200, 0, 200, TJPF_RGB, &jpeg, &jlen, TJSAMP_420, 90, 0) !=
	    0) {
		check(0, "tjCompress2: %s", tjGetErrorStr2(tj));
		return;
	}
	for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
		facet_image_spec s = {sizes[k][0], sizes[k][1], sizes[k][2], FACET_ENGINE_TURBO};
		int a = facet_image_decode_memory(jpeg, jlen, &s, &t, err, sizeof err);
		s.engine = FACET_ENGINE_VIPS;
		int b = facet_image_decode_memory(jpeg, jlen, &s, &v, err, sizeof err);
		double d = a == 0 && b == 0 ? mean_abs_diff(&t, &v) : INFINITY;
		check(d < 2.0 && t.shape[0] == (s.height ? s.height : 200) &&
		          t.shape[2] == s.channels,
		      "JPEG %dx%dx%d: TurboJPEG vs libvips mean abs diff %.3f (tol 2)", s.width,
		      s.height, s.channels, d);
		if (a == 0)
			facet_tensor_free(&t);
		if (b == 0)
			facet_tensor_free(&v);
	}

	/* truncated: both engines must fail */
	for (int e = FACET_ENGINE_VIPS; e <= FACET_ENGINE_TURBO; e++) {
		facet_image_spec s = {64, 64, 3, (facet_engine)e};
		int rc = facet_image_decode_memory(jpeg, jlen / 2, &s, &t, err, sizeof err);
		check(rc == -1, "truncated JPEG fails with %s: %s",
		      e == FACET_ENGINE_VIPS ? "libvips" : "TurboJPEG",
		      rc == -1 ? err : "no error");
		if (rc == 0)
			facet_tensor_free(&t);
	}

	/* PNG goes through libvips in auto mode and matches the source exactly at full size */
	facet_image_init();
	/* liborc's code allocator races between worker threads (a SEGV seen in CI): it stays off */
	check(!vips_vector_isenabled(), "libvips runs without liborc code generation");
	vi = vips_image_new_from_memory(pic.data, pic.nbytes, 200, 200, 3, VIPS_FORMAT_UCHAR);
	if (!vi || vips_pngsave_buffer(vi, &png, &plen, NULL) != 0) {
		check(0, "vips_pngsave_buffer: %s", vips_error_buffer());
	} else {
		facet_image_spec s = {0, 0, 3, FACET_ENGINE_AUTO};
		int rc = facet_image_decode_memory(png, plen, &s, &t, err, sizeof err);
		check(rc == 0 && mean_abs_diff(&t, &pic) == 0, "PNG decodes to the exact pixels");
		if (rc == 0)
			facet_tensor_free(&t);
		s.engine = FACET_ENGINE_TURBO;
		rc = facet_image_decode_memory(png, plen, &s, &t, err, sizeof err);
		check(rc == -1, "the TurboJPEG engine refuses a PNG: %s", err);
		g_free(png);
	}
	if (vi)
		g_object_unref(vi);
	{
		facet_image_spec s = {0, 0, 3, FACET_ENGINE_AUTO};
		int rc = facet_image_decode_memory("hello\n", 6, &s, &t, err, sizeof err);
		check(rc == -1 && strstr(err, "not a known image format"), "text is refused: %s",
		      err);
	}
	tjFree(jpeg);
	tjDestroy(tj);
	facet_tensor_free(&pic);
}

int main(void)
{
	facet_init("test_image");
	test_area(200, 200, 64, 64, 3);
	test_area(75, 75, 64, 64, 3);
	test_area(50, 50, 48, 48, 1);
	test_area(37, 91, 10, 13, 3);
	test_area(9, 9, 3, 3, 1);
	test_constant_up();
	test_channels();
	test_fit();
	test_engines();
	printf("%d passed, %d failed\n", n_pass, n_fail);
	return n_fail ? 1 : 0;
}

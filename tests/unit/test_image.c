/*
 * common/resample.c: the resize against a naive 2-D area average written here, the crop and pad
 * geometry, the channel conversions; common/image.c: the two decode engines (TurboJPEG,
 * libvips) against each other on a JPEG and a PNG made here.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <turbojpeg.h>
#include <vips/vips.h>
#include <vips/vector.h>

#include "check.h"
#include "facet.h"
#include "image.h"

static unsigned long long rng = 88172645463325252ULL;

static unsigned rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng >> 32);
}

static facet_tensor image(int h, int w, int c)
{
	facet_tensor t;
	int64_t shape[3] = {h, w, c};
	facet_tensor_alloc(&t, FACET_U8, 3, shape);
	return t;
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
		facet_image_spec s = {.width = sizes[k][0],
		                      .height = sizes[k][1],
		                      .channels = sizes[k][2],
		                      .engine = FACET_ENGINE_TURBO};
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
		facet_image_spec s = {
		    .width = 64, .height = 64, .channels = 3, .engine = (facet_engine)e};
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
		facet_image_spec s = {.channels = 3, .engine = FACET_ENGINE_AUTO};
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
		facet_image_spec s = {.channels = 3, .engine = FACET_ENGINE_AUTO};
		int rc = facet_image_decode_memory("hello\n", 6, &s, &t, err, sizeof err);
		check(rc == -1 && strstr(err, "not a known image format"), "text is refused: %s",
		      err);
	}
	tjFree(jpeg);
	tjDestroy(tj);
	facet_tensor_free(&pic);
}

/* ---------------------------------------------------------------- EXIF orientation */

/* Stored corners of quad_jpeg's picture: top-left, top-right, bottom-left, bottom-right. Any turn
 * or flip moves them somewhere else, so each orientation has its own layout. */
static const uint8_t quad_rgb[2][2][3] = {{{200, 30, 30}, {30, 200, 30}},
                                          {{30, 30, 200}, {220, 220, 220}}};

/* A JPEG (4:4:4, quality 95) of w x h pixels in four flat quadrants coloured quad_rgb, or of
 * picture() when smooth is set. Free with tjFree. */
static unsigned char *make_jpeg(int w, int h, int smooth, unsigned long *len)
{
	facet_tensor pic = smooth ? picture(h, w) : image(h, w, 3);
	tjhandle tj = tjInitCompress();
	unsigned char *jpeg = NULL;
	uint8_t *p = pic.owned;

	if (!smooth)
		for (int y = 0; y < h; y++)
			for (int x = 0; x < w; x++)
				memcpy(p + ((size_t)y * w + x) * 3,
				       quad_rgb[y >= h / 2][x >= w / 2], 3);
	*len = 0;
	if (tjCompress2(tj, pic.data, w, 0, h, TJPF_RGB, &jpeg, len, TJSAMP_444, 95, 0) != 0) {
		check(0, "tjCompress2: %s", tjGetErrorStr2(tj));
		jpeg = NULL;
	}
	tjDestroy(tj);
	facet_tensor_free(&pic);
	return jpeg;
}

static void put16(unsigned char *p, unsigned v, int be)
{
	p[be ? 0 : 1] = (unsigned char)(v >> 8);
	p[be ? 1 : 0] = (unsigned char)v;
}

static void put32(unsigned char *p, uint32_t v, int be)
{
	put16(p + (be ? 0 : 2), v >> 16, be);
	put16(p + (be ? 2 : 0), v & 0xFFFF, be);
}

/* The TIFF block of an EXIF segment, written by hand: byte order MM (be) or II, IFD0 at 8 with
 * two entries, ResolutionUnit = 2 and Orientation = o (SHORT, count 1), no next IFD. t holds
 * 38 bytes; returns the length. */
static size_t exif_tiff(unsigned char *t, int o, int be)
{
	memcpy(t, be ? "MM" : "II", 2);
	put16(t + 2, 42, be);
	put32(t + 4, 8, be);
	put16(t + 8, 2, be);
	put16(t + 10, 0x0128, be); /* ResolutionUnit */
	put16(t + 12, 3, be);
	put32(t + 14, 1, be);
	put32(t + 18, 0, be);
	put16(t + 18, 2, be);
	put16(t + 22, 0x0112, be); /* Orientation */
	put16(t + 24, 3, be);
	put32(t + 26, 1, be);
	put32(t + 30, 0, be);
	put16(t + 30, (unsigned)o, be);
	put32(t + 34, 0, be);
	return 38;
}

/* jpeg with an APP1 segment holding p[0, n) after its SOI and JFIF APP0. A new buffer of *len
 * bytes (free). */
static unsigned char *with_app1(const unsigned char *jpeg, size_t jlen, const unsigned char *p,
                                size_t n, size_t *len)
{
	size_t at = 2, k;
	unsigned char *b = xmalloc(jlen + n + 4);

	if (jpeg[2] == 0xFF && jpeg[3] == 0xE0)
		at += 2 + ((size_t)jpeg[4] << 8 | jpeg[5]);
	memcpy(b, jpeg, at);
	k = at;
	b[k++] = 0xFF;
	b[k++] = 0xE1;
	b[k++] = (unsigned char)((n + 2) >> 8);
	b[k++] = (unsigned char)(n + 2);
	memcpy(b + k, p, n);
	k += n;
	memcpy(b + k, jpeg + at, jlen - at);
	*len = k + jlen - at;
	return b;
}

/* An APP1 payload: "Exif\0\0", then exif_tiff's block. p holds 44 bytes; returns the length. */
static size_t exif_payload(unsigned char *p, int o, int be)
{
	memcpy(p, "Exif\0\0", 6);
	return 6 + exif_tiff(p + 6, o, be);
}

static const char *const engine_name[] = {"auto", "libvips", "TurboJPEG"};

/* How a viewer shows the stored picture for each EXIF orientation, from the standard's own
 * words: the side of the view where the stored 0th row lies, and where the 0th column lies. */
static const char exif_sides[9][2] = {{0, 0},     {'T', 'L'}, {'T', 'R'}, {'B', 'R'}, {'B', 'L'},
                                      {'L', 'T'}, {'R', 'T'}, {'R', 'B'}, {'L', 'B'}};

static char opposite(char side)
{
	return side == 'T' ? 'B' : side == 'B' ? 'T' : side == 'L' ? 'R' : 'L';
}

/* Does the decoded t [h, w, 3] show the quadrant picture as a viewer shows orientation o? Each
 * stored corner (r, c) lies on the view's side of its row (0th or last) and of its column. */
static int shows_quads(const facet_tensor *t, int o, char *where, size_t wlen)
{
	int h = (int)t->shape[0], w = (int)t->shape[1];

	for (int r = 0; r < 2; r++)
		for (int c = 0; c < 2; c++) {
			char rs = r ? opposite(exif_sides[o][0]) : exif_sides[o][0];
			char cs = c ? opposite(exif_sides[o][1]) : exif_sides[o][1];
			int bottom = rs == 'B' || cs == 'B', right = rs == 'R' || cs == 'R';
			int y = bottom ? 3 * h / 4 : h / 4, x = right ? 3 * w / 4 : w / 4;
			for (int k = 0; k < 3; k++)
				if (abs(px(t, y, x, k) - quad_rgb[r][c][k]) > 30) {
					snprintf(where, wlen,
					         "stored corner (%d,%d) not at the view's %c%c", r,
					         c, bottom ? 'B' : 'T', right ? 'R' : 'L');
					return 0;
				}
		}
	return 1;
}

static void test_orientations(void)
{
	unsigned long jlen;
	unsigned char *jpeg = make_jpeg(64, 32, 0, &jlen), pay[44], *b;
	size_t n, blen;
	facet_tensor t;
	facet_image_info info;
	char err[256], where[256];

	if (!jpeg)
		return;
	for (int o = 1; o <= 8; o++) {
		int W = o >= 5 ? 32 : 64, H = o >= 5 ? 64 : 32;
		n = exif_payload(pay, o, o % 2);
		b = with_app1(jpeg, jlen, pay, n, &blen);
		for (int e = FACET_ENGINE_VIPS; e <= FACET_ENGINE_TURBO; e++)
			for (int half = 0; half < 2; half++) {
				facet_image_spec s = {.channels = 3,
				                      .engine = (facet_engine)e,
				                      .orient = 1,
				                      .width = half ? W / 2 : 0,
				                      .height = half ? H / 2 : 0};
				int rc = facet_image_decode_memory_info(b, blen, &s, &t, &info, err,
				                                        sizeof err);
				int ok =
				    rc == 0 && t.shape[1] == W >> half && t.shape[0] == H >> half;
				snprintf(where, sizeof where, "%s", rc ? err : "wrong size");
				ok = ok && shows_quads(&t, o, where, sizeof where);
				ok = ok && info.width == W && info.height == H &&
				     info.orientation == o;
				check(ok,
				      "EXIF orientation %d (%s), %s at %s: %dx%d as a viewer shows "
				      "it%s%s",
				      o, o % 2 ? "MM" : "II", engine_name[e],
				      half ? "half size" : "full size", W >> half, H >> half,
				      ok ? "" : ": ", ok ? "" : where);
				if (rc == 0)
					facet_tensor_free(&t);
			}
		/* orient off: the stored pixels, whatever the tag says */
		for (int e = FACET_ENGINE_VIPS; e <= FACET_ENGINE_TURBO; e++) {
			facet_image_spec s = {.channels = 3, .engine = (facet_engine)e};
			int rc =
			    facet_image_decode_memory_info(b, blen, &s, &t, &info, err, sizeof err);
			int ok = rc == 0 && t.shape[1] == 64 &&
			         shows_quads(&t, 1, where, sizeof where) && info.width == 64 &&
			         info.height == 32 && info.orientation == 1;
			check(ok, "EXIF orientation %d with orient off, %s: the stored pixels", o,
			      engine_name[e]);
			if (rc == 0)
				facet_tensor_free(&t);
		}
		free(b);
	}
	tjFree(jpeg);
}

/* A photo-sized JPEG turned by both engines: libvips must read it for random access (its
 * sequential read fails once a turn reads rows out of order past its few cached ones), and the
 * two engines turn it alike. */
static void test_orient_large(void)
{
	unsigned long jlen;
	unsigned char *jpeg = make_jpeg(1200, 800, 1, &jlen), pay[44], *b;
	size_t n, blen;
	facet_tensor t, v;
	char err[256];

	if (!jpeg)
		return;
	for (int o = 3; o <= 8; o += 5) {
		facet_image_spec s = {.channels = 3, .engine = FACET_ENGINE_TURBO, .orient = 1};
		n = exif_payload(pay, o, 1);
		b = with_app1(jpeg, jlen, pay, n, &blen);
		int a = facet_image_decode_memory(b, blen, &s, &t, err, sizeof err);
		s.engine = FACET_ENGINE_VIPS;
		int c = facet_image_decode_memory(b, blen, &s, &v, err, sizeof err);
		double d = a == 0 && c == 0 ? mean_abs_diff(&t, &v) : INFINITY;
		check(d < 0.5 && t.shape[1] == (o >= 5 ? 800 : 1200),
		      "a 1200x800 JPEG of orientation %d: TurboJPEG vs libvips mean abs diff %.3f "
		      "(tol 0.5)%s%s",
		      o, d, c ? ": " : "", c ? err : "");
		if (a == 0)
			facet_tensor_free(&t);
		if (c == 0)
			facet_tensor_free(&v);
		free(b);
	}
	tjFree(jpeg);
}

/* Malformed EXIF is orientation 1 (the stored pixels), never a crash or an over-read. */
static void test_bad_exif(void)
{
	unsigned long jlen;
	unsigned char *jpeg = make_jpeg(64, 32, 0, &jlen), pay[44], *b;
	size_t n, blen;
	facet_tensor t;
	facet_image_info info;
	char err[256], where[256];
	/* what is wrong; the payload bytes kept (0: all); a big-endian 16-bit value written at a
	 * payload offset (when at > 0) */
	struct {
		const char *what;
		size_t keep;
		int at, value;
	} bad[] = {
	    {"a TIFF block cut inside IFD0", 26, 0, 0},
	    {"a TIFF block cut inside its header", 11, 0, 0},
	    {"no TIFF block", 6, 0, 0},
	    {"a segment shorter than its Exif header", 4, 0, 0},
	    {"an IFD0 offset past the end", 0, 10, 0x7FFF},
	    {"an IFD0 offset inside the header", 0, 12, 0x0002},
	    {"a byte order marker IM", 0, 6, 0x494D},
	    {"a wrong TIFF magic number", 0, 8, 0x002B},
	    {"an IFD0 count of 65535", 0, 14, 0xFFFF},
	    {"an IFD0 count of 3 (one past the end)", 0, 14, 0x0003},
	    {"an Orientation of type LONG", 0, 30, 0x0004},
	    {"an Orientation of count 2", 0, 34, 0x0002},
	    {"an Orientation of 9", 0, 36, 0x0009},
	    {"an Orientation of 0", 0, 36, 0x0000},
	};

	if (!jpeg)
		return;
	for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
		n = exif_payload(pay, 6, 1);
		if (bad[k].keep)
			n = bad[k].keep;
		if (bad[k].at > 0) {
			pay[bad[k].at] = (unsigned char)(bad[k].value >> 8);
			pay[bad[k].at + 1] = (unsigned char)bad[k].value;
		}
		b = with_app1(jpeg, jlen, pay, n, &blen);
		for (int e = FACET_ENGINE_VIPS; e <= FACET_ENGINE_TURBO; e++) {
			facet_image_spec s = {
			    .channels = 3, .engine = (facet_engine)e, .orient = 1};
			int rc =
			    facet_image_decode_memory_info(b, blen, &s, &t, &info, err, sizeof err);
			int o = rc == 0 ? info.orientation : 0;
			int ok = rc == 0 && (e == FACET_ENGINE_VIPS || o == 1) && o >= 1 &&
			         o <= 8 && t.shape[1] == (o >= 5 ? 32 : 64) &&
			         shows_quads(&t, o, where, sizeof where);
			/* libvips reads EXIF with libexif, which keeps the entries of an IFD that
			 * fit and takes any count: there only its pixels and its info must agree */
			check(ok, "EXIF with %s, %s: orientation %d%s (%s)", bad[k].what,
			      engine_name[e], o,
			      e == FACET_ENGINE_VIPS ? " as libexif reads it" : "",
			      rc ? err : "decoded");
			if (rc == 0)
				facet_tensor_free(&t);
		}
		free(b);
	}

	/* a file cut inside its EXIF segment: an error, not a crash or an over-read */
	n = exif_payload(pay, 6, 1);
	b = with_app1(jpeg, jlen, pay, n, &blen);
	for (size_t cut = 4; cut < 60; cut += 5) {
		facet_image_spec s = {.channels = 3, .engine = FACET_ENGINE_TURBO, .orient = 1};
		unsigned char *c = xmalloc(cut);
		int rc;
		memcpy(c, b, cut);
		rc = facet_image_decode_memory_info(c, cut, &s, &t, &info, err, sizeof err);
		check(rc == -1, "a JPEG cut at byte %zu, inside its header or EXIF segment: %s",
		      cut, rc ? err : "decoded");
		if (rc == 0)
			facet_tensor_free(&t);
		free(c);
	}
	free(b);
	tjFree(jpeg);
}

/* ---------------------------------------------------------------- shrink on load, limits */

static void test_min_scale(void)
{
	unsigned long jlen, olen;
	unsigned char *jpeg = make_jpeg(200, 120, 1, &jlen), *odd = make_jpeg(203, 121, 1, &olen);
	unsigned char pay[44], *turned;
	size_t n, tlen;
	facet_tensor t, v;
	facet_image_info info;
	char err[256];
	void *png;
	size_t plen;
	VipsImage *vi;
	/* min_scale and the DCT factor it must pick: the smallest at least min_scale */
	static const struct {
		double s;
		int num, denom;
	} cases[] = {{0.1, 1, 8},   {0.125, 1, 8}, {0.2, 1, 4},   {0.25, 1, 4}, {0.3, 3, 8},
	             {0.375, 3, 8}, {0.4, 1, 2},   {0.5, 1, 2},   {0.51, 5, 8}, {0.7, 3, 4},
	             {0.8, 7, 8},   {0.9, 1, 1},   {0.999, 1, 1}, {0, 1, 1},    {1, 1, 1},
	             {1.5, 1, 1},   {-0.5, 1, 1}};

	if (!jpeg || !odd) {
		tjFree(jpeg);
		tjFree(odd);
		return;
	}
	for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
		facet_image_spec s = {
		    .channels = 3, .engine = FACET_ENGINE_TURBO, .min_scale = cases[k].s};
		int w = (203 * cases[k].num + cases[k].denom - 1) / cases[k].denom;
		int h = (121 * cases[k].num + cases[k].denom - 1) / cases[k].denom;
		int rc = facet_image_decode_memory_info(odd, olen, &s, &t, &info, err, sizeof err);
		check(rc == 0 && t.shape[1] == w && t.shape[0] == h && info.width == 203 &&
		          info.height == 121 && info.orientation == 1,
		      "min_scale %g on a 203x121 JPEG: DCT factor %d/%d, %dx%d (info %dx%d)",
		      cases[k].s, cases[k].num, cases[k].denom, w, h, rc ? 0 : info.width,
		      rc ? 0 : info.height);
		if (rc == 0)
			facet_tensor_free(&t);
	}
	tjFree(odd);

	/* both engines give a JPEG one geometry, and nearly the same pixels */
	for (int o = 1; o <= 8; o += 5) {
		n = exif_payload(pay, o, 0);
		turned = with_app1(jpeg, jlen, pay, n, &tlen);
		facet_image_spec s = {
		    .channels = 3, .engine = FACET_ENGINE_TURBO, .orient = 1, .min_scale = 0.25};
		int W = o >= 5 ? 120 : 200, H = o >= 5 ? 200 : 120;
		int a =
		    facet_image_decode_memory_info(turned, tlen, &s, &t, &info, err, sizeof err);
		int ok = a == 0 && t.shape[1] == W / 4 && t.shape[0] == H / 4 && info.width == W &&
		         info.height == H && info.orientation == o;
		check(ok, "min_scale 0.25, EXIF orientation %d, TurboJPEG: %dx%d of a %dx%d photo",
		      o, W / 4, H / 4, W, H);
		s.engine = FACET_ENGINE_VIPS;
		int b =
		    facet_image_decode_memory_info(turned, tlen, &s, &v, &info, err, sizeof err);
		ok = b == 0 && v.shape[1] == W / 4 && v.shape[0] == H / 4 && info.width == W &&
		     info.height == H && info.orientation == o;
		double d = a == 0 && b == 0 ? mean_abs_diff(&t, &v) : INFINITY;
		check(ok && d < 3.0,
		      "min_scale 0.25, EXIF orientation %d, libvips: %dx%d, mean abs diff to "
		      "TurboJPEG %.3f (tol 3)",
		      o, W / 4, H / 4, d);
		if (a == 0)
			facet_tensor_free(&t);
		if (b == 0)
			facet_tensor_free(&v);
		free(turned);
	}

	/* anything else: decoded whole, then box-filtered to ceil(W * s) x ceil(H * s) */
	{
		facet_tensor pic = picture(121, 203), ref;
		const char *msg;
		vi = vips_image_new_from_memory(pic.data, pic.nbytes, 203, 121, 3,
		                                VIPS_FORMAT_UCHAR);
		if (!vi || vips_pngsave_buffer(vi, &png, &plen, NULL) != 0) {
			check(0, "vips_pngsave_buffer: %s", vips_error_buffer());
		} else {
			facet_image_spec s = {.channels = 3, .min_scale = 0.3};
			int rc = facet_image_decode_memory_info(png, plen, &s, &t, &info, err,
			                                        sizeof err);
			facet_image_resize(&pic, 61, 37, 3, &ref, &msg);
			check(
			    rc == 0 && t.shape[1] == 61 && t.shape[0] == 37 &&
			        mean_abs_diff(&t, &ref) == 0 && info.width == 203 &&
			        info.height == 121,
			    "min_scale 0.3 on a 203x121 PNG: 61x37, the resize of the full image");
			if (rc == 0)
				facet_tensor_free(&t);
			facet_tensor_free(&ref);
			g_free(png);
		}
		if (vi)
			g_object_unref(vi);
		facet_tensor_free(&pic);
	}
	tjFree(jpeg);
}

static void test_max_pixels(void)
{
	unsigned long jlen;
	unsigned char *jpeg = make_jpeg(64, 32, 0, &jlen), *png = NULL;
	const char *huge = "tests/hostile/image-png-100000x100000.png";
	const char *env = getenv("FACET_MAX_RECORD_BYTES");
	char *saved = env ? xstrdup(env) : NULL;
	size_t plen, hw;
	facet_tensor t;
	facet_image_info info;
	char err[256];
	const char *want;
	int rc;

	if (!jpeg)
		return;
	/* the SOF0 frame header: FF C0, length, precision, then height and width */
	for (unsigned long i = 2; i + 9 < jlen; i++)
		if (jpeg[i] == 0xFF && jpeg[i + 1] == 0xC0) {
			jpeg[i + 5] = jpeg[i + 7] = 30000 >> 8;
			jpeg[i + 6] = jpeg[i + 8] = 30000 & 0xFF;
			break;
		}
	/* no other limit in the way: only max_pixels stands between the header and 2.7 GB */
	setenv("FACET_MAX_RECORD_BYTES", "1000000000000", 1);
	want = "image too large: 30000x30000 pixels, over the limit of 100000000";
	for (int e = FACET_ENGINE_VIPS; e <= FACET_ENGINE_TURBO; e++)
		for (int size = 0; size <= 64; size += 64) {
			facet_image_spec s = {.width = size,
			                      .height = size,
			                      .channels = 3,
			                      .engine = (facet_engine)e,
			                      .orient = 1,
			                      .max_pixels = 100000000};
			rc = facet_image_decode_memory_info(jpeg, jlen, &s, &t, &info, err,
			                                    sizeof err);
			check(rc == -1 && !strcmp(err, want),
			      "max_pixels refuses a JPEG whose header says 30000x30000, %s, %s: %s",
			      engine_name[e], size ? "64x64" : "full size", rc ? err : "decoded");
			if (rc == 0)
				facet_tensor_free(&t);
		}

	if (facet_image_read_file(huge, &png, &plen, err, sizeof err) != 0) {
		check(0, "%s: %s (run from the repository root)", huge, err);
	} else {
		want = "image too large: 100000x100000 pixels, over the limit of 100000000";
		hw = vips_tracked_get_mem_highwater();
		for (int size = 0; size <= 64; size += 64) {
			facet_image_spec s = {
			    .width = size, .height = size, .channels = 3, .max_pixels = 100000000};
			rc = facet_image_decode_memory_info(png, plen, &s, &t, &info, err,
			                                    sizeof err);
			check(rc == -1 && !strcmp(err, want),
			      "max_pixels refuses a PNG whose header says 100000x100000, %s: %s",
			      size ? "64x64" : "full size", rc ? err : "decoded");
			if (rc == 0)
				facet_tensor_free(&t);
		}
		check(vips_tracked_get_mem_highwater() <= hw + (1 << 20),
		      "... and libvips allocated no pixel memory for it (high water %zu -> %zu)",
		      hw, vips_tracked_get_mem_highwater());
		free(png);
	}
	if (saved)
		setenv("FACET_MAX_RECORD_BYTES", saved, 1);
	else
		unsetenv("FACET_MAX_RECORD_BYTES");
	free(saved);

	/* under the limit, and the limit of exactly the size, decode */
	tjFree(jpeg);
	jpeg = make_jpeg(64, 32, 0, &jlen);
	for (int64_t lim = 2047; lim <= 2048; lim++) {
		facet_image_spec s = {.channels = 3, .max_pixels = lim};
		rc = facet_image_decode_memory_info(jpeg, jlen, &s, &t, &info, err, sizeof err);
		check(lim == 2048 ? rc == 0 : rc == -1, "max_pixels %lld on a 64x32 JPEG: %s",
		      (long long)lim, rc ? err : "decoded");
		if (rc == 0)
			facet_tensor_free(&t);
	}
	tjFree(jpeg);
}

/* ---------------------------------------------------------------- names and folders */

static void test_list_images(void)
{
	char dir[] = "/tmp/test_image.XXXXXX", path[256], err[256], **paths = NULL;
	static const char *const files[] = {"b.jpg",     "a.PNG",  ".hidden.jpg",
	                                    "notes.txt", "d.tiff", "e.jpg.bak"};
	size_t n = 0;
	int ok;

	check(facet_is_image_name("x.JPEG") && facet_is_image_name("a.b.webp") &&
	          !facet_is_image_name("jpg") && !facet_is_image_name("x.jpg~"),
	      "image names go by extension, in any case");
	if (!mkdtemp(dir)) {
		check(0, "mkdtemp: %s", strerror(errno));
		return;
	}
	for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, files[i]);
		FILE *f = fopen(path, "w");
		if (f)
			fclose(f);
	}
	snprintf(path, sizeof path, "%s/c.jpg", dir); /* a folder with an image's name */
	mkdir(path, 0700);
	ok = facet_list_images(dir, &paths, &n, err, sizeof err) == 0 && n == 3;
	if (ok) {
		char want[3][256];
		snprintf(want[0], sizeof want[0], "%s/a.PNG", dir);
		snprintf(want[1], sizeof want[1], "%s/b.jpg", dir);
		snprintf(want[2], sizeof want[2], "%s/d.tiff", dir);
		for (int i = 0; i < 3; i++)
			ok &= !strcmp(paths[i], want[i]);
	}
	check(ok, "a folder lists its image files, sorted, without dot files or folders");
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);

	snprintf(path, sizeof path, "%s/", dir);
	ok = facet_list_images(path, &paths, &n, err, sizeof err) == 0 && n == 3 &&
	     !strncmp(paths[0], dir, strlen(dir)) && paths[0][strlen(dir)] == '/' &&
	     paths[0][strlen(dir) + 1] == 'a';
	check(ok, "a folder named with a final slash gives single slashes");
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);

	{
		unsigned char *buf;
		size_t len;
		ok = facet_image_read_file(dir, &buf, &len, err, sizeof err) == -1 &&
		     !strcmp(err, "is a directory");
		check(ok, "reading a folder as an image file: %s", err);
	}

	snprintf(path, sizeof path, "%s/c.jpg", dir);
	rmdir(path);
	for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, files[i]);
		unlink(path);
	}
	rmdir(dir);
	paths = NULL;
	n = 7;
	ok = facet_list_images(dir, &paths, &n, err, sizeof err) == -1 && n == 7 && !paths &&
	     !strcmp(err, "cannot open directory: No such file or directory");
	check(ok, "a missing folder: %s", err);
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
	test_orientations();
	test_orient_large();
	test_bad_exif();
	test_min_scale();
	test_max_pixels();
	test_list_images();
	printf("%d passed, %d failed\n", n_pass, n_fail);
	return n_fail ? 1 : 0;
}

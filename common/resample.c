/* Resize and convert uint8 images: facet's own separable area-averaging filter, plain C (no
 * libvips, no TurboJPEG), so that the network engine can use it alone. */
#include "resample.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- limits and names */

size_t facet_image_max_bytes(void)
{
	const char *s = getenv("FACET_MAX_RECORD_BYTES");
	char *end;
	unsigned long long v;

	if (s && *s) {
		errno = 0;
		v = strtoull(s, &end, 10);
		if (!errno && !*end && v > 0)
			return (size_t)v;
	}
	return FACET_DEFAULT_MAX_RECORD;
}

int facet_fit_parse(const char *s, facet_fit *f)
{
	static const char *const names[] = {"stretch", "crop", "pad"};
	int i = facet_name_index(s, names, 3);
	if (i >= 0)
		*f = (facet_fit)i;
	return i < 0 ? -1 : 0;
}

/* ---------------------------------------------------------------- resampling */

/* One axis of a separable filter: output pixel j reads count[j] source pixels from start[j],
 * weighted by w[j * taps ...] (the weights sum to 1). */
typedef struct {
	int n, taps;
	int *start, *count;
	float *w;
} axis;

static void axis_free(axis *a)
{
	free(a->start);
	free(a->count);
	free(a->w);
}

/* Map n output pixels onto the source window [x0, x0 + len) of an axis of size source pixels.
 * Shrinking: each output pixel is the exact area average of the source interval it covers.
 * Enlarging: bilinear between the two nearest source centres (clamped at the edges). */
static void axis_make(axis *a, int size, double x0, double len, int n)
{
	double s = len / n;

	a->n = n;
	a->taps = s > 1.0 ? (int)ceil(s) + 2 : 2;
	a->start = xmalloc((size_t)n * sizeof *a->start);
	a->count = xmalloc((size_t)n * sizeof *a->count);
	a->w = xcalloc((size_t)n * a->taps, sizeof *a->w);
	for (int j = 0; j < n; j++) {
		float *w = a->w + (size_t)j * a->taps;
		if (s > 1.0) {
			double lo = x0 + j * s, hi = lo + s, sum = 0;
			int i0 = (int)floor(lo), i1 = (int)ceil(hi) - 1, k = 0;
			if (i0 < 0)
				i0 = 0;
			if (i1 > size - 1)
				i1 = size - 1;
			if (i1 < i0)
				i1 = i0;
			for (int i = i0; i <= i1 && k < a->taps; i++) {
				double c = fmin(hi, i + 1.0) - fmax(lo, (double)i);
				w[k++] = c > 0 ? (float)c : 0.0f;
				sum += c > 0 ? c : 0;
			}
			for (int i = 0; i < k; i++)
				w[i] = sum > 0 ? (float)(w[i] / sum) : 1.0f / k;
			a->start[j] = i0;
			a->count[j] = k;
		} else {
			double c = x0 + (j + 0.5) * s - 0.5;
			int i0;
			if (c < 0)
				c = 0;
			if (c > size - 1)
				c = size - 1;
			i0 = (int)floor(c);
			if (i0 >= size - 1) {
				a->start[j] = size - 1;
				a->count[j] = 1;
				w[0] = 1.0f;
			} else {
				a->start[j] = i0;
				a->count[j] = 2;
				w[1] = (float)(c - i0);
				w[0] = 1.0f - w[1];
			}
		}
	}
}

static inline uint8_t clamp_u8(float v)
{
	int i = (int)(v + 0.5f);
	return i < 0 ? 0 : i > 255 ? 255 : (uint8_t)i;
}

/* Resample the window (x0, y0, ww, wh) of src [H, W, cin] into dst [oh, ow, cout] at (ox, oy) of
 * a dst whose rows are dw pixels wide. */
static void resample(const uint8_t *src, int W, int H, int cin, double x0, double y0, double ww,
                     double wh, uint8_t *dst, int dw, int ox, int oy, int ow, int oh, int cout)
{
	axis ax, ay;
	int r0, r1;
	float *tmp, *acc;

	axis_make(&ax, W, x0, ww, ow);
	axis_make(&ay, H, y0, wh, oh);
	r0 = ay.start[0];
	r1 = ay.start[oh - 1] + ay.count[oh - 1] - 1;
	tmp = xmalloc((size_t)(r1 - r0 + 1) * ow * cin * sizeof *tmp);
	acc = xmalloc((size_t)ow * cin * sizeof *acc);

	/* horizontal: rows r0..r1 of src [H, W, cin] -> tmp [r1-r0+1, ow, cin] */
	for (int y = r0; y <= r1; y++) {
		const uint8_t *row = src + (size_t)y * W * cin;
		float *t = tmp + (size_t)(y - r0) * ow * cin;
		for (int j = 0; j < ow; j++) {
			const float *w = ax.w + (size_t)j * ax.taps;
			const uint8_t *p = row + (size_t)ax.start[j] * cin;
			int n = ax.count[j];
			if (cin == 1) {
				float a = 0;
				for (int k = 0; k < n; k++)
					a += w[k] * p[k];
				t[j] = a;
			} else {
				float a0 = 0, a1 = 0, a2 = 0;
				for (int k = 0; k < n; k++) {
					a0 += w[k] * p[3 * k];
					a1 += w[k] * p[3 * k + 1];
					a2 += w[k] * p[3 * k + 2];
				}
				t[3 * j] = a0;
				t[3 * j + 1] = a1;
				t[3 * j + 2] = a2;
			}
		}
	}

	/* vertical, a whole row at a time, then the channel conversion: tmp -> dst [oh, ow, cout]
	 */
	for (int i = 0; i < oh; i++) {
		const float *w = ay.w + (size_t)i * ay.taps;
		uint8_t *out = dst + ((size_t)(oy + i) * dw + ox) * cout;
		size_t n = (size_t)ow * cin;
		memset(acc, 0, n * sizeof *acc);
		for (int k = 0; k < ay.count[i]; k++) {
			const float *t = tmp + (size_t)(ay.start[i] + k - r0) * n;
			float wk = w[k];
			for (size_t q = 0; q < n; q++)
				acc[q] += wk * t[q];
		}
		if (cin == cout) {
			for (size_t q = 0; q < n; q++)
				out[q] = clamp_u8(acc[q]);
		} else if (cin == 3) {
			for (int j = 0; j < ow; j++)
				out[j] = clamp_u8(0.299f * acc[3 * j] + 0.587f * acc[3 * j + 1] +
				                  0.114f * acc[3 * j + 2]);
		} else {
			for (int j = 0; j < ow; j++)
				out[3 * j] = out[3 * j + 1] = out[3 * j + 2] = clamp_u8(acc[j]);
		}
	}
	free(acc);
	free(tmp);
	axis_free(&ax);
	axis_free(&ay);
}

int facet_image_fit(const facet_tensor *in, int w, int h, int c, facet_fit fit, int pad_value,
                    facet_tensor *out, const char **err)
{
	int H, W, C;
	int64_t shape[3];
	double x0 = 0, y0 = 0, ww, wh;
	int ox = 0, oy = 0, ow = w, oh = h;
	uint8_t *dst;

	if (!facet_is_image(in)) {
		*err = "not an image tensor (uint8 [H, W, C], C = 1 or 3)";
		return -1;
	}
	H = (int)in->shape[0];
	W = (int)in->shape[1];
	C = (int)in->shape[2];
	if (H < 1 || W < 1) {
		*err = "empty image";
		return -1;
	}
	if (w < 1 || h < 1 || (c != 1 && c != 3)) {
		*err = "bad target geometry";
		return -1;
	}
	if ((uint64_t)w * h * c > facet_image_max_bytes()) {
		*err = "target image too large";
		return -1;
	}
	ww = W;
	wh = H;
	if (fit == FACET_FIT_CROP) {
		double s = fmax((double)w / W, (double)h / H);
		ww = fmin(W, w / s);
		wh = fmin(H, h / s);
		x0 = (W - ww) / 2;
		y0 = (H - wh) / 2;
	} else if (fit == FACET_FIT_PAD) {
		double s = fmin((double)w / W, (double)h / H);
		ow = (int)lround(W * s);
		oh = (int)lround(H * s);
		ow = ow < 1 ? 1 : ow > w ? w : ow;
		oh = oh < 1 ? 1 : oh > h ? h : oh;
		ox = (w - ow) / 2;
		oy = (h - oh) / 2;
	}

	shape[0] = h;
	shape[1] = w;
	shape[2] = c;
	facet_tensor_alloc(out, FACET_U8, 3, shape);
	dst = out->owned;
	if (fit == FACET_FIT_PAD && (ow != w || oh != h))
		memset(dst, pad_value, (size_t)w * h * c);
	if (ow == W && oh == H && C == c && x0 == 0 && y0 == 0) {
		for (int y = 0; y < oh; y++)
			memcpy(dst + ((size_t)(oy + y) * w + ox) * c,
			       (const uint8_t *)in->data + (size_t)y * W * C, (size_t)W * C);
		return 0;
	}
	resample(in->data, W, H, C, x0, y0, ww, wh, dst, w, ox, oy, ow, oh, c);
	return 0;
}

int facet_image_resize(const facet_tensor *in, int w, int h, int c, facet_tensor *out,
                       const char **err)
{
	return facet_image_fit(in, w, h, c, FACET_FIT_STRETCH, 0, out, err);
}

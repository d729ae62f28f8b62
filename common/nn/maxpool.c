/*
 * Max pooling: [maxpool] size, stride; no padding ('valid'), so 23 -> 11 with size 2, as Keras.
 * The argmax of every output is kept for the backward pass. The layer's kernels are the plain-C
 * reference; the fast path's (facet_fast_pool of fastops.h, used with net->fast) follow them.
 */
#include <float.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE4_1__
#include <immintrin.h>
#endif
#include "nn/nn.h"
#include "nn/fastops.h"

static const char *pool_setup(facet_layer *l)
{
	if (l->ih < l->size || l->iw < l->size)
		return "the input is smaller than the window";
	l->oc = l->ic;
	l->oh = (l->ih - l->size) / l->stride + 1;
	l->ow = (l->iw - l->size) / l->stride + 1;
	l->nparam = 0;
	return NULL;
}

static void pool_alloc(facet_layer *l)
{
	if (l->use_fast && l->x_blocked)
		l->fast = facet_fast_bpool_new(l->n, l->ic, l->ih, l->iw, l->size, l->stride,
		                               l->y_blocked);
	else if (l->use_fast)
		l->fast = facet_fast_pool_new(l->n, l->ic, l->ih, l->iw, l->size, l->stride,
		                              l->precision);
	else
		l->arg = xmalloc(sizeof(int32_t) * l->n * l->oc * l->oh * l->ow);
}

/* x [N,C,H,W] -> y [N,C,OH,OW], arg [N,C,OH,OW]: index of the max within its input plane. */
static void pool_forward(facet_layer *l, const float *x, int train)
{
	(void)train;
	if (l->fused) /* the batch norm before the relu before it pooled, into the same buffer */
		return;
	if (l->fast && l->x_blocked) {
		facet_fast_bpool_forward(l->fast, x, l->y);
		return;
	}
	if (l->fast) {
		facet_fast_pool_forward(l->fast, x, l->y);
		return;
	}
	long planes = (long)l->n * l->ic;
	int H = l->ih, W = l->iw, OH = l->oh, OW = l->ow;
#pragma omp parallel for schedule(static)
	for (long p = 0; p < planes; p++) {
		const float *xi = x + (size_t)p * H * W;
		float *yo = l->y + (size_t)p * OH * OW;
		int32_t *ao = l->arg + (size_t)p * OH * OW;
		for (int oh = 0; oh < OH; oh++)
			for (int ow = 0; ow < OW; ow++) {
				float best = -FLT_MAX;
				int32_t bi = (oh * l->stride) * W + ow * l->stride;
				for (int r = 0; r < l->size; r++)
					for (int s = 0; s < l->size; s++) {
						int32_t i =
						    (oh * l->stride + r) * W + ow * l->stride + s;
						if (xi[i] > best) {
							best = xi[i];
							bi = i;
						}
					}
				yo[oh * OW + ow] = best;
				ao[oh * OW + ow] = bi;
			}
	}
}

/* dy [N,C,OH,OW] -> dx [N,C,H,W]: each gradient goes to its window's max. */
static void pool_backward(facet_layer *l, const float *x, float *dx)
{
	(void)x;
	if (!dx || l->fused) /* dx is l->dy, and the batch norm takes it as it is */
		return;
	if (l->fast && l->x_blocked) {
		facet_fast_bpool_backward(l->fast, l->dy, dx);
		return;
	}
	if (l->fast) {
		facet_fast_pool_backward(l->fast, l->dy, dx);
		return;
	}
	long planes = (long)l->n * l->ic;
	int HW = l->ih * l->iw, OHW = l->oh * l->ow;
#pragma omp parallel for schedule(static)
	for (long p = 0; p < planes; p++) {
		float *xo = dx + (size_t)p * HW;
		const float *g = l->dy + (size_t)p * OHW;
		const int32_t *a = l->arg + (size_t)p * OHW;
		memset(xo, 0, sizeof(float) * HW);
		for (int i = 0; i < OHW; i++)
			xo[a[i]] += g[i];
	}
}

static void pool_release(facet_layer *l)
{
	if (l->fast && l->x_blocked)
		facet_fast_bpool_free(l->fast);
	else if (l->fast)
		facet_fast_pool_free(l->fast);
	l->fast = NULL;
	free(l->arg);
	l->arg = NULL;
}

const facet_layer_ops facet_maxpool_ops = {"maxpool",    pool_setup,    NULL,        pool_alloc,
                                           pool_forward, pool_backward, pool_release};

/* ---------------------------------------------------------------- the fast path (fastops.h) */

/* Max pooling is a plain OpenMP loop over (n, c) planes, not oneDNN: oneDNN's pooling on the
 * plain NCHW layout ("simple_nchw") took 34 ms forward for 64x64x46x46 here, and its fast
 * kernels want the blocked layout, which costs two reorders (three passes over x) at this
 * interface. The loop reads x once and writes y and the argmax once: ~2 ms for the same tensor.
 * Ties keep the first maximum in row-major window order; precision does not matter (max is
 * exact). */
struct facet_fast_pool {
	int N, C, H, W, k, s, OH, OW;
	uint16_t *arg; /* [N,C,OH,OW]: i*k + j of the maximum in its window */
};

facet_fast_pool *facet_fast_pool_new(int N, int C, int H, int W, int k, int s, int precision)
{
	facet_fast_pool *p = xcalloc(1, sizeof *p);

	(void)precision;
	if (k < 1 || k > 255 || s < 1 || k > H || k > W)
		die("fast max pooling: window %d stride %d does not fit %dx%d", k, s, H, W);
	*p = (facet_fast_pool){N, C, H, W, k, s, (H - k) / s + 1, (W - k) / s + 1, NULL};
	p->arg = xmalloc(sizeof *p->arg * (size_t)N * C * p->OH * p->OW);
	return p;
}

/* The 2x2 stride-2 window, the common case. Window order a b / c d; strict comparisons keep the
 * first maximum, as the reference kernel does (a NaN fails every comparison: it is kept when it
 * stands first in its pair, where the reference skips it; a NaN ends training either way). On
 * real activations the comparisons are coin flips, so a branching loop mispredicts about every
 * other window: the loop is written branch-free, four windows at a time with SSE4.1 where the
 * compiler targets it (eight at a time with AVX2 measured no faster: the loop waits on memory),
 * then one at a time with selects. */
static inline void pool_2x2_one(const float *r0, const float *r1, float *y, uint16_t *arg)
{
	float a = r0[0], b = r0[1], c = r1[0], d = r1[1];
	int bt = b > a, dc = d > c;
	float top = bt ? b : a, bottom = dc ? d : c;
	int lower = bottom > top;
	*y = lower ? bottom : top;
	*arg = (uint16_t)(lower ? 2 + dc : bt);
}

#ifdef __SSE4_1__
/* Four windows: the shuffles split the even and odd columns of the two rows' eight floats. */
static inline void pool_2x2_four(const float *r0, const float *r1, float *y, uint16_t *arg)
{
	__m128 t0 = _mm_loadu_ps(r0), t1 = _mm_loadu_ps(r0 + 4);
	__m128 u0 = _mm_loadu_ps(r1), u1 = _mm_loadu_ps(r1 + 4);
	__m128 a = _mm_shuffle_ps(t0, t1, _MM_SHUFFLE(2, 0, 2, 0));
	__m128 b = _mm_shuffle_ps(t0, t1, _MM_SHUFFLE(3, 1, 3, 1));
	__m128 c = _mm_shuffle_ps(u0, u1, _MM_SHUFFLE(2, 0, 2, 0));
	__m128 d = _mm_shuffle_ps(u0, u1, _MM_SHUFFLE(3, 1, 3, 1));
	__m128 m;
	__m128i i = facet__pool2x2_sse(a, b, c, d, &m);
	_mm_storeu_ps(y, m);
	_mm_storel_epi64((__m128i *)arg, _mm_packus_epi32(i, i));
}
#endif

static void pool_plane_2x2(const facet_fast_pool *p, const float *x, float *y, uint16_t *arg)
{
	for (int oh = 0; oh < p->OH; oh++) {
		const float *r0 = x + (size_t)2 * oh * p->W, *r1 = r0 + p->W;
		float *yr = y + (size_t)oh * p->OW;
		uint16_t *ar = arg + (size_t)oh * p->OW;
		int ow = 0;
#ifdef __SSE4_1__
		for (; ow + 4 <= p->OW; ow += 4)
			pool_2x2_four(r0 + 2 * ow, r1 + 2 * ow, yr + ow, ar + ow);
#endif
		for (; ow < p->OW; ow++)
			pool_2x2_one(r0 + 2 * ow, r1 + 2 * ow, yr + ow, ar + ow);
	}
}

static void pool_plane(const facet_fast_pool *p, const float *x, float *y, uint16_t *arg)
{
	int k = p->k, s = p->s;
	for (int oh = 0; oh < p->OH; oh++)
		for (int ow = 0; ow < p->OW; ow++) {
			const float *win = x + (size_t)oh * s * p->W + (size_t)ow * s;
			float m = win[0];
			int a = 0;
			for (int i = 0; i < k; i++)
				for (int j = 0; j < k; j++)
					if (win[(size_t)i * p->W + j] > m) {
						m = win[(size_t)i * p->W + j];
						a = i * k + j;
					}
			y[(size_t)oh * p->OW + ow] = m;
			arg[(size_t)oh * p->OW + ow] = (uint16_t)a;
		}
}

void facet_fast_pool_forward(facet_fast_pool *p, const float *x, float *y)
{
	long planes = (long)p->N * p->C;
	size_t in = (size_t)p->H * p->W, out = (size_t)p->OH * p->OW;
	int two = p->k == 2 && p->s == 2;
#pragma omp parallel for schedule(static)
	for (long i = 0; i < planes; i++) {
		if (two)
			pool_plane_2x2(p, x + i * in, y + i * out, p->arg + i * out);
		else
			pool_plane(p, x + i * in, y + i * out, p->arg + i * out);
	}
}

/* dx for the 2x2 stride-2 window: each x belongs to one window at most, so dx is written once
 * (no zeroing pass); an odd last row or column gets zeros. Branch-free, as the forward: four
 * windows at a time with SSE4.1 (the gradient masked by window index, then even and odd columns
 * interleaved back), one at a time for the rest. */
static inline void unpool_2x2_one(float g, unsigned a, float *r0, float *r1)
{
	r0[0] = a == 0 ? g : 0;
	r0[1] = a == 1 ? g : 0;
	r1[0] = a == 2 ? g : 0;
	r1[1] = a == 3 ? g : 0;
}

#ifdef __SSE4_1__
static inline void unpool_2x2_four(const float *g, const uint16_t *arg, float *r0, float *r1)
{
	__m128 v = _mm_loadu_ps(g);
	__m128i a = _mm_cvtepu16_epi32(_mm_loadl_epi64((const __m128i *)arg));
	__m128 m0 = _mm_castsi128_ps(_mm_cmpeq_epi32(a, _mm_setzero_si128()));
	__m128 m1 = _mm_castsi128_ps(_mm_cmpeq_epi32(a, _mm_set1_epi32(1)));
	__m128 m2 = _mm_castsi128_ps(_mm_cmpeq_epi32(a, _mm_set1_epi32(2)));
	__m128 m3 = _mm_castsi128_ps(_mm_cmpeq_epi32(a, _mm_set1_epi32(3)));
	__m128 e = _mm_and_ps(v, m0), o = _mm_and_ps(v, m1);
	_mm_storeu_ps(r0, _mm_unpacklo_ps(e, o));
	_mm_storeu_ps(r0 + 4, _mm_unpackhi_ps(e, o));
	e = _mm_and_ps(v, m2), o = _mm_and_ps(v, m3);
	_mm_storeu_ps(r1, _mm_unpacklo_ps(e, o));
	_mm_storeu_ps(r1 + 4, _mm_unpackhi_ps(e, o));
}
#endif

static void unpool_plane_2x2(const facet_fast_pool *p, const float *dy, const uint16_t *arg,
                             float *dx)
{
	size_t W = p->W;
	for (int oh = 0; oh < p->OH; oh++) {
		float *r0 = dx + (size_t)2 * oh * W, *r1 = r0 + W;
		const float *g = dy + (size_t)oh * p->OW;
		const uint16_t *a = arg + (size_t)oh * p->OW;
		int ow = 0;
#ifdef __SSE4_1__
		for (; ow + 4 <= p->OW; ow += 4)
			unpool_2x2_four(g + ow, a + ow, r0 + 2 * ow, r1 + 2 * ow);
#endif
		for (; ow < p->OW; ow++)
			unpool_2x2_one(g[ow], a[ow], r0 + 2 * ow, r1 + 2 * ow);
		for (size_t j = (size_t)2 * p->OW; j < W; j++)
			r0[j] = r1[j] = 0;
	}
	if (p->H > 2 * p->OH)
		memset(dx + (size_t)2 * p->OH * W, 0, sizeof *dx * W * (p->H - 2 * p->OH));
}

static void unpool_plane(const facet_fast_pool *p, const float *dy, const uint16_t *arg, float *dx)
{
	memset(dx, 0, sizeof *dx * p->H * p->W);
	for (int oh = 0; oh < p->OH; oh++)
		for (int ow = 0; ow < p->OW; ow++) {
			size_t o = (size_t)oh * p->OW + ow;
			int r = arg[o] / p->k, c = arg[o] % p->k;
			dx[(size_t)(oh * p->s + r) * p->W + ow * p->s + c] += dy[o];
		}
}

void facet_fast_pool_backward(facet_fast_pool *p, const float *dy, float *dx)
{
	long planes = (long)p->N * p->C;
	size_t in = (size_t)p->H * p->W, out = (size_t)p->OH * p->OW;
	int two = p->k == 2 && p->s == 2;
#pragma omp parallel for schedule(static)
	for (long i = 0; i < planes; i++) {
		if (two)
			unpool_plane_2x2(p, dy + i * out, p->arg + i * out, dx + i * in);
		else
			unpool_plane(p, dy + i * out, p->arg + i * out, dx + i * in);
	}
}

void facet_fast_pool_free(facet_fast_pool *p)
{
	if (!p)
		return;
	free(p->arg);
	free(p);
}

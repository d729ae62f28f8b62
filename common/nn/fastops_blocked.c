/*
 * Max pooling and batch norm on the blocked layout (see fastops.h): x [N, C/B, H, W, B], B
 * channels of a pixel side by side. A net whose convolutions take and give this layout keeps its
 * activations in it from layer to layer, so these loops replace the reorders to and from the
 * plain layout that each convolution would otherwise run on its input and output, both ways.
 *
 * The loops are over (sample, channel block) pairs, and the innermost loop runs over the B lanes
 * of a pixel: B independent channels, one vector (two with AVX2 and B = 16), no gathers and no
 * tails. Each computes what its plain twin in fastops_dnnl.c computes, in the same order per
 * channel where it matters (ties in pooling; the statistics' shift and per-plane float sums);
 * tests/unit/test_fastops.c checks both against the same references.
 */
#include "nn/fastops.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "facet.h"

#ifdef __SSE4_1__
#include <immintrin.h>
#endif

/* Blocks are at most 16 lanes; the lane loops run to a compile-time bound so that they unroll
 * into whole vectors. */
enum { LANES = 16 };

/* Index of element (n, c, i) of a blocked [N,C,HW] tensor of block B. */
static inline size_t blk_at(int B, int C, size_t HW, int n, int c, size_t i)
{
	return (((size_t)n * (C / B) + c / B) * HW + i) * B + c % B;
}

void facet_fast_to_blocked(const float *x, float *y, int N, int C, int HW)
{
	int B = facet_fast_block();
#pragma omp parallel for collapse(2) schedule(static)
	for (int n = 0; n < N; n++)
		for (int c = 0; c < C; c++)
			for (int i = 0; i < HW; i++)
				y[blk_at(B, C, HW, n, c, i)] = x[((size_t)n * C + c) * HW + i];
}

void facet_fast_from_blocked(const float *x, float *y, int N, int C, int HW)
{
	int B = facet_fast_block();
#pragma omp parallel for collapse(2) schedule(static)
	for (int n = 0; n < N; n++)
		for (int c = 0; c < C; c++)
			for (int i = 0; i < HW; i++)
				y[((size_t)n * C + c) * HW + i] = x[blk_at(B, C, HW, n, c, i)];
}

/* ---------------------------------------------------------------- max pooling */

/* Ties keep the first maximum in row-major window order, as the reference; arg is i*k + j. */
struct facet_fast_bpool {
	int N, C, H, W, k, s, OH, OW, B, y_blocked;
	uint8_t *arg; /* [N, C/B, OH, OW, B] */
};

facet_fast_bpool *facet_fast_bpool_new(int N, int C, int H, int W, int k, int s, int y_blocked)
{
	facet_fast_bpool *p = xcalloc(1, sizeof *p);
	int B = facet_fast_block();

	if (k < 1 || k > 15 || s < 1 || k > H || k > W || C % B)
		die("internal error: blocked max pooling: window %d stride %d, %dx%dx%d, block %d",
		    k, s, C, H, W, B);
	*p = (facet_fast_bpool){N, C, H, W, k, s, (H - k) / s + 1, (W - k) / s + 1, B, y_blocked,
	                        NULL};
	p->arg = xmalloc((size_t)N * C * p->OH * p->OW);
	return p;
}

/* One block of B channels: x [H, W, B] -> y (at stride ys between outputs and yl between
 * lanes), arg [OH, OW, B]. */
static void bpool_block(const facet_fast_bpool *p, const float *x, float *y, size_t ys,
                        size_t yl, uint8_t *arg)
{
	int B = p->B, k = p->k;
	for (int oh = 0; oh < p->OH; oh++)
		for (int ow = 0; ow < p->OW; ow++) {
			const float *win = x + ((size_t)oh * p->s * p->W + (size_t)ow * p->s) * B;
			size_t o = (size_t)oh * p->OW + ow;
			float m[LANES];
			uint8_t a[LANES];
			for (int l = 0; l < B; l++) {
				m[l] = win[l];
				a[l] = 0;
			}
			for (int i = 0; i < k; i++)
				for (int j = 0; j < k; j++) {
					const float *v = win + ((size_t)i * p->W + j) * B;
					uint8_t ij = (uint8_t)(i * k + j);
#pragma omp simd
					for (int l = 0; l < B; l++) {
						int gt = v[l] > m[l];
						m[l] = gt ? v[l] : m[l];
						a[l] = gt ? ij : a[l];
					}
				}
			for (int l = 0; l < B; l++) {
				y[o * ys + l * yl] = m[l];
				arg[o * B + l] = a[l];
			}
		}
}

/* The 2x2 stride-2 window into blocked y, the common case: branch-free, as the plain kernel
 * (window order a b / c d, strict comparisons keep the first maximum), four lanes of a pixel at
 * a time with SSE4.1 (the loop waits on memory: wider vectors gain nothing), else one. */
static inline void bpool2_one(const float *r0, const float *r1, size_t B, float *y, uint8_t *arg)
{
	float a = r0[0], b = r0[B], c = r1[0], d = r1[B];
	int bt = b > a, dc = d > c;
	float top = bt ? b : a, bottom = dc ? d : c;
	int lower = bottom > top;
	*y = lower ? bottom : top;
	*arg = (uint8_t)(lower ? 2 + dc : bt);
}

#ifdef __SSE4_1__
static inline void bpool2_four(const float *r0, const float *r1, size_t B, float *y,
                               uint8_t *arg)
{
	__m128 a = _mm_loadu_ps(r0), b = _mm_loadu_ps(r0 + B);
	__m128 c = _mm_loadu_ps(r1), d = _mm_loadu_ps(r1 + B);
	__m128 m;
	__m128i i = facet__pool2x2_sse(a, b, c, d, &m);
	_mm_storeu_ps(y, m);
	i = _mm_packus_epi32(i, i);
	int32_t packed = _mm_cvtsi128_si32(_mm_packus_epi16(i, i));
	memcpy(arg, &packed, 4);
}
#endif

static void bpool2_block(const facet_fast_bpool *p, const float *x, float *y, uint8_t *arg)
{
	size_t B = (size_t)p->B, W = p->W;
	for (int oh = 0; oh < p->OH; oh++) {
		const float *r0 = x + (size_t)2 * oh * W * B, *r1 = r0 + W * B;
		size_t o = (size_t)oh * p->OW * B;
		for (int ow = 0; ow < p->OW; ow++, o += B) {
			const float *a = r0 + 2 * ow * B, *c = r1 + 2 * ow * B;
			size_t l = 0;
#ifdef __SSE4_1__
			for (; l < B; l += 4) /* B is a multiple of 4 */
				bpool2_four(a + l, c + l, B, y + o + l, arg + o + l);
#endif
			for (; l < B; l++)
				bpool2_one(a + l, c + l, B, y + o + l, arg + o + l);
		}
	}
}

void facet_fast_bpool_forward(facet_fast_bpool *p, const float *x, float *y)
{
	int nb = p->C / p->B;
	size_t in = (size_t)p->H * p->W * p->B, out = (size_t)p->OH * p->OW * p->B;
	size_t ohw = (size_t)p->OH * p->OW;
#pragma omp parallel for collapse(2) schedule(static)
	for (int n = 0; n < p->N; n++)
		for (int cb = 0; cb < nb; cb++) {
			size_t blk = (size_t)n * nb + cb;
			if (p->y_blocked && p->k == 2 && p->s == 2)
				bpool2_block(p, x + blk * in, y + blk * out, p->arg + blk * out);
			else if (p->y_blocked) /* y [OH, OW, B] */
				bpool_block(p, x + blk * in, y + blk * out, p->B, 1, p->arg + blk * out);
			else /* y [B, OH, OW] */
				bpool_block(p, x + blk * in, y + blk * out, 1, ohw, p->arg + blk * out);
		}
}

/* dy of one block (at strides ys, yl as in the forward) -> dx [H, W, B]. With stride = window
 * every x is in one window at most: dx is written once, each value the gradient or 0, and the
 * rows and columns no window reaches are zeroed; else dx is zeroed and the gradients added. */
static void bpool_block_back(const facet_fast_bpool *p, const float *dy, size_t ys, size_t yl,
                             const uint8_t *arg, float *dx)
{
	int B = p->B, k = p->k;
	size_t W = p->W;
	if (p->s != k)
		memset(dx, 0, sizeof *dx * p->H * W * B);
	for (int oh = 0; oh < p->OH; oh++) {
		for (int ow = 0; ow < p->OW; ow++) {
			float *win = dx + ((size_t)oh * p->s * W + (size_t)ow * p->s) * B;
			size_t o = (size_t)oh * p->OW + ow;
			float g[LANES];
			uint8_t a[LANES];
			for (int l = 0; l < B; l++) {
				g[l] = dy[o * ys + l * yl];
				a[l] = arg[o * B + l];
			}
			for (int i = 0; i < k; i++)
				for (int j = 0; j < k; j++) {
					float *v = win + ((size_t)i * W + j) * B;
					uint8_t ij = (uint8_t)(i * k + j);
					if (p->s == k) {
#pragma omp simd
						for (int l = 0; l < B; l++)
							v[l] = a[l] == ij ? g[l] : 0.0f;
					} else {
#pragma omp simd
						for (int l = 0; l < B; l++)
							v[l] += a[l] == ij ? g[l] : 0.0f;
					}
				}
		}
		if (p->s == k) /* columns right of the last window */
			for (int i = 0; i < k; i++) {
				size_t row = (size_t)oh * k + i;
				size_t c0 = (size_t)p->OW * k;
				memset(dx + (row * W + c0) * B, 0, sizeof *dx * (W - c0) * B);
			}
	}
	if (p->s == k && p->H > p->OH * k) /* rows below the last window */
		memset(dx + (size_t)p->OH * k * W * B, 0,
		       sizeof *dx * (p->H - (size_t)p->OH * k) * W * B);
}

/* dx of the 2x2 stride-2 window from blocked dy: each x is in one window at most, so dx is
 * written once, each value the gradient or 0; four lanes at a time with SSE4.1, else one. */
static inline void bunpool2_one(float g, unsigned a, size_t B, float *r0, float *r1)
{
	r0[0] = a == 0 ? g : 0;
	r0[B] = a == 1 ? g : 0;
	r1[0] = a == 2 ? g : 0;
	r1[B] = a == 3 ? g : 0;
}

#ifdef __SSE4_1__
static inline void bunpool2_four(const float *g, const uint8_t *arg, size_t B, float *r0,
                                 float *r1)
{
	int32_t packed;
	memcpy(&packed, arg, 4);
	__m128 v = _mm_loadu_ps(g);
	__m128i a = _mm_cvtepu8_epi32(_mm_cvtsi32_si128(packed));
	_mm_storeu_ps(r0, _mm_and_ps(v, _mm_castsi128_ps(_mm_cmpeq_epi32(a, _mm_setzero_si128()))));
	_mm_storeu_ps(r0 + B, _mm_and_ps(v, _mm_castsi128_ps(_mm_cmpeq_epi32(a, _mm_set1_epi32(1)))));
	_mm_storeu_ps(r1, _mm_and_ps(v, _mm_castsi128_ps(_mm_cmpeq_epi32(a, _mm_set1_epi32(2)))));
	_mm_storeu_ps(r1 + B, _mm_and_ps(v, _mm_castsi128_ps(_mm_cmpeq_epi32(a, _mm_set1_epi32(3)))));
}
#endif

static void bunpool2_block(const facet_fast_bpool *p, const float *dy, const uint8_t *arg,
                           float *dx)
{
	size_t B = (size_t)p->B, W = p->W;
	for (int oh = 0; oh < p->OH; oh++) {
		float *r0 = dx + (size_t)2 * oh * W * B, *r1 = r0 + W * B;
		size_t o = (size_t)oh * p->OW * B;
		for (int ow = 0; ow < p->OW; ow++, o += B) {
			float *a = r0 + 2 * ow * B, *c = r1 + 2 * ow * B;
			size_t l = 0;
#ifdef __SSE4_1__
			for (; l < B; l += 4)
				bunpool2_four(dy + o + l, arg + o + l, B, a + l, c + l);
#endif
			for (; l < B; l++)
				bunpool2_one(dy[o + l], arg[o + l], B, a + l, c + l);
		}
		size_t c0 = (size_t)2 * p->OW; /* an odd last column */
		memset(r0 + c0 * B, 0, sizeof *dx * (W - c0) * B);
		memset(r1 + c0 * B, 0, sizeof *dx * (W - c0) * B);
	}
	if (p->H > 2 * p->OH) /* an odd last row */
		memset(dx + (size_t)2 * p->OH * W * B, 0, sizeof *dx * W * B);
}

void facet_fast_bpool_backward(facet_fast_bpool *p, const float *dy, float *dx)
{
	int nb = p->C / p->B;
	size_t in = (size_t)p->H * p->W * p->B, out = (size_t)p->OH * p->OW * p->B;
	size_t ohw = (size_t)p->OH * p->OW;
#pragma omp parallel for collapse(2) schedule(static)
	for (int n = 0; n < p->N; n++)
		for (int cb = 0; cb < nb; cb++) {
			size_t blk = (size_t)n * nb + cb;
			if (p->y_blocked && p->k == 2 && p->s == 2)
				bunpool2_block(p, dy + blk * out, p->arg + blk * out, dx + blk * in);
			else if (p->y_blocked)
				bpool_block_back(p, dy + blk * out, p->B, 1, p->arg + blk * out,
				                 dx + blk * in);
			else
				bpool_block_back(p, dy + blk * out, 1, ohw, p->arg + blk * out,
				                 dx + blk * in);
		}
}

void facet_fast_bpool_free(facet_fast_bpool *p)
{
	if (!p)
		return;
	free(p->arg);
	free(p);
}

/* ---------------------------------------------------------------- batch norm */

/* As the plain plan: statistics summed per (sample, channel) plane in float around a shift (the
 * channel's first value), across samples in double, in sample order (so the result does not
 * depend on the number of threads); with relu, the ReLU after the batch norm is applied in the
 * same passes, and backward masks dy where x * scale + offset <= 0 with the forward's scale and
 * offset. */
struct facet_fast_bbn {
	int N, C, H, W, B, relu;
	float eps;
	float *scale, *offset; /* [C], of the last forward pass */
	double *s1, *s2;       /* [N, C]: per-plane sums */
	float *tmp;            /* [3C]: per-channel factors of a pass */
	/* with pool: the 2x2 windows' outputs OH x OW, the argmax (0 a, 1 b, 2 c, 3 d) of each,
	 * [N, C/B, OH, OW, B], and with plain y a blocked copy of y or dy [N, C/B, OH, OW, B] */
	int pool, OH, OW;
	uint8_t *arg;
	float *yb;
};

facet_fast_bbn *facet_fast_bbn_new(int N, int C, int H, int W, float eps, int relu, int pool)
{
	facet_fast_bbn *p = xcalloc(1, sizeof *p);
	int B = facet_fast_block();

	if (C % B || (pool && (H < 2 || W < 2)))
		die("internal error: blocked batch norm of %d channels (block %d), %dx%d%s", C, B, H,
		    W, pool ? " pooled" : "");
	*p = (facet_fast_bbn){N, C, H, W, B, relu, eps, NULL, NULL, NULL, NULL, NULL,
	                      pool, H / 2, W / 2, NULL, NULL};
	p->scale = xcalloc((size_t)C, sizeof(float));
	p->offset = xcalloc((size_t)C, sizeof(float));
	p->s1 = xcalloc((size_t)N * C, sizeof(double));
	p->s2 = xcalloc((size_t)N * C, sizeof(double));
	p->tmp = xcalloc((size_t)3 * C, sizeof(float));
	if (pool) {
		size_t out = (size_t)N * C * p->OH * p->OW;
		p->arg = xmalloc(out);
		if (pool == FACET_FAST_POOL_PLAIN)
			p->yb = xmalloc(out * sizeof(float));
	}
	return p;
}

static inline float bbn_affine(float x, float scale, float offset)
{
	return x * scale + offset;
}

/* The passes over one block [HW, B] of one sample. B is a constant where they are inlined (the
 * callers pick 16 or 8), so the lane loops are whole vectors and the sums stay in registers. */
#define BLOCK_FN static inline __attribute__((always_inline))

BLOCK_FN void bbn_apply_blk(const float *x, float *y, const float *sc, const float *of,
                            size_t hw, int relu, const int B)
{
	for (size_t i = 0; i < hw; i++, x += B, y += B)
		if (relu) {
#pragma omp simd
			for (int l = 0; l < B; l++) {
				float t = bbn_affine(x[l], sc[l], of[l]);
				y[l] = t > 0 ? t : 0.0f;
			}
		} else {
#pragma omp simd
			for (int l = 0; l < B; l++)
				y[l] = bbn_affine(x[l], sc[l], of[l]);
		}
}

/* s1 = sum (x - shift), s2 = sum (x - shift)^2 per lane, in float */
BLOCK_FN void bbn_stats_blk(const float *x, const float *shift, double *s1, double *s2,
                            size_t hw, const int B)
{
	float s[LANES] = {0}, ss[LANES] = {0};
	for (size_t i = 0; i < hw; i++, x += B)
#pragma omp simd
		for (int l = 0; l < B; l++) {
			float d = x[l] - shift[l];
			s[l] += d;
			ss[l] += d * d;
		}
	for (int l = 0; l < B; l++) {
		s1[l] = s[l];
		s2[l] = ss[l];
	}
}

/* g = dy (masked with relu): s1 = sum g, s2 = sum g * (x - mu) per lane, in float */
BLOCK_FN void bbn_gsum_blk(const float *x, const float *dy, const float *mu, const float *sc,
                           const float *of, double *s1, double *s2, size_t hw, int relu,
                           const int B)
{
	float a[LANES] = {0}, b[LANES] = {0};
	for (size_t i = 0; i < hw; i++, x += B, dy += B)
#pragma omp simd
		for (int l = 0; l < B; l++) {
			float g = dy[l];
			if (relu)
				g = bbn_affine(x[l], sc[l], of[l]) > 0 ? g : 0.0f;
			a[l] += g;
			b[l] += g * (x[l] - mu[l]);
		}
	for (int l = 0; l < B; l++) {
		s1[l] = a[l];
		s2[l] = b[l];
	}
}

/* dx = k * g + k1 * (x - mu) + k0 */
BLOCK_FN void bbn_dx_blk(const float *x, const float *dy, float *dx, const float *mu,
                         const float *sc, const float *of, const float *k, const float *k1,
                         const float *k0, size_t hw, int relu, const int B)
{
	for (size_t i = 0; i < hw; i++, x += B, dy += B, dx += B)
#pragma omp simd
		for (int l = 0; l < B; l++) {
			float g = dy[l];
			if (relu)
				g = bbn_affine(x[l], sc[l], of[l]) > 0 ? g : 0.0f;
			dx[l] = k[l] * g + k1[l] * (x[l] - mu[l]) + k0[l];
		}
}

typedef float bbn_v8f __attribute__((vector_size(32)));
typedef int32_t bbn_v8i __attribute__((vector_size(32)));
typedef uint8_t bbn_v8b __attribute__((vector_size(8)));

/* The pooled passes work 8 lanes at a time in GCC's vector types: left to itself the compiler
 * vectorizes the mix of uint8 argmax and float lanes poorly for a block of 8 (pairs of floats). */
static inline bbn_v8f bbn_load8(const float *p)
{
	bbn_v8f v;
	memcpy(&v, p, sizeof v);
	return v;
}

static inline bbn_v8f bbn_sel8(bbn_v8i m, bbn_v8f a, bbn_v8f b) /* m ? a : b, lane-wise */
{
	return (bbn_v8f)(((bbn_v8i)a & m) | ((bbn_v8i)b & ~m));
}

/* 8 uint8 -> 8 int32 and back (GCC lowers __builtin_convertvector of these to scalar code) */
static inline bbn_v8i bbn_widen8(const uint8_t *p)
{
#ifdef __AVX2__
	return (bbn_v8i)_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p));
#else
	bbn_v8b b;
	memcpy(&b, p, sizeof b);
	return __builtin_convertvector(b, bbn_v8i);
#endif
}

static inline void bbn_narrow8(bbn_v8i v, uint8_t *p) /* v in 0..255 */
{
#ifdef __AVX2__
	__m256i w = (__m256i)v;
	__m128i h = _mm_packus_epi32(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
	_mm_storel_epi64((__m128i *)p, _mm_packus_epi16(h, h));
#else
	bbn_v8b b = __builtin_convertvector(v, bbn_v8b);
	memcpy(p, &b, sizeof b);
#endif
}

/* bbn_affine, then max(t, 0) with relu (t where t > 0, else +0, as the plain pass) */
BLOCK_FN bbn_v8f bbn_act8(bbn_v8f x, bbn_v8f sc, bbn_v8f of, const int relu)
{
	bbn_v8f t = x * sc + of;
	return relu ? (bbn_v8f)((bbn_v8i)t & (t > 0)) : t;
}

/* With pool: the 2x2 windows of the batch norm's output (with relu, of max(y, 0)), computed as
 * the plain pass then the pooling would: each value of a window by bbn_affine, the window's
 * maximum and its index by the comparisons of the blocked pooling (a b / c d, strict, so the
 * first maximum wins). x [H, W, B] -> y, arg [OH, OW, B]. relu is a constant where inlined, so
 * that the lane loop has no branch. */
BLOCK_FN void bbn_apply_pool_k(const float *x, float *y, uint8_t *arg, const float *sc,
                               const float *of, size_t W, int OH, int OW, const int relu,
                               const int B)
{
	bbn_v8f s8[2], o8[2];
	for (int j = 0; j < B / 8; j++) {
		s8[j] = bbn_load8(sc + 8 * j);
		o8[j] = bbn_load8(of + 8 * j);
	}
	for (int oh = 0; oh < OH; oh++) {
		const float *r0 = x + (size_t)2 * oh * W * B, *r1 = r0 + W * B;
		for (int ow = 0; ow < OW; ow++, y += B, arg += B) {
			const float *u = r0 + (size_t)2 * ow * B, *v = r1 + (size_t)2 * ow * B;
			for (int j = 0; j < B / 8; j++) {
				int l = 8 * j;
				bbn_v8f a = bbn_act8(bbn_load8(u + l), s8[j], o8[j], relu);
				bbn_v8f b = bbn_act8(bbn_load8(u + B + l), s8[j], o8[j], relu);
				bbn_v8f c = bbn_act8(bbn_load8(v + l), s8[j], o8[j], relu);
				bbn_v8f d = bbn_act8(bbn_load8(v + B + l), s8[j], o8[j], relu);
				bbn_v8i bt = b > a, dc = d > c;
				bbn_v8f top = bbn_sel8(bt, b, a), bottom = bbn_sel8(dc, d, c);
				bbn_v8i lower = bottom > top;
				bbn_v8f m = bbn_sel8(lower, bottom, top);
				memcpy(y + l, &m, sizeof m);
				/* lower ? 2 + dc : bt, as 0..3 */
				bbn_v8i one = (bbn_v8i){0} + 1;
				bbn_v8i it = bt & one, ib = (dc & one) + 2;
				bbn_narrow8((ib & lower) | (it & ~lower), arg + l);
			}
		}
	}
}

BLOCK_FN void bbn_apply_pool_blk(const float *x, float *y, uint8_t *arg, const float *sc,
                                 const float *of, size_t W, int OH, int OW, int relu, const int B)
{
	if (relu)
		bbn_apply_pool_k(x, y, arg, sc, of, W, OH, OW, 1, B);
	else
		bbn_apply_pool_k(x, y, arg, sc, of, W, OH, OW, 0, B);
}

/* The backward passes with dy the pooled gradient [OH, OW, B]: pixel (h, w) gets its window's
 * gradient where the window's maximum was there (at = its index in the window), else 0; a pixel
 * of an odd last row or column (in no window) gets 0. They visit the pixels in row order, as
 * the passes over a full-size gradient do, so the sums come out the same. With dx NULL: the
 * sums s1 = sum g, s2 = sum g * (x - mu) (bbn_gsum_blk); else dx = k * g + k1 * (x - mu) + k0
 * (bbn_dx_blk); g masked with relu. bbn_pool_px does one pixel: in, the pixel is in a window,
 * at its index there; m[6*j..] the factors of lanes 8j.. (mu, scale, offset, k, k1, k0). */
BLOCK_FN void bbn_pool_px(const float *x, const float *dy, const uint8_t *arg, int32_t at,
                          const int in, float *dx, const bbn_v8f *m, bbn_v8f *a, bbn_v8f *b,
                          const int relu, const int B)
{
	for (int j = 0; j < B / 8; j++) {
		const bbn_v8f *f = m + 6 * j; /* mu, sc, of, k, k1, k0 */
		bbn_v8f xv = bbn_load8(x + 8 * j), g = {0};
		if (in) {
			bbn_v8i hit = bbn_widen8(arg + 8 * j) == at;
			g = (bbn_v8f)((bbn_v8i)bbn_load8(dy + 8 * j) & hit);
		}
		if (relu) {
			bbn_v8f t = xv * f[1] + f[2]; /* bbn_affine */
			g = (bbn_v8f)((bbn_v8i)g & (t > 0));
		}
		if (dx) {
			bbn_v8f d = f[3] * g + f[4] * (xv - f[0]) + f[5];
			memcpy(dx + 8 * j, &d, sizeof d);
		} else {
			a[j] += g;
			b[j] += g * (xv - f[0]);
		}
	}
}

BLOCK_FN void bbn_pool_back_k(const float *x, const float *dy, const uint8_t *arg, float *dx,
                              const float *mu, const float *sc, const float *of, const float *k,
                              const float *k1, const float *k0, double *s1, double *s2, int H,
                              int W, int OH, int OW, const int relu, const int B)
{
	bbn_v8f a[2] = {{0}, {0}}, b[2] = {{0}, {0}}, m[12];
	for (int j = 0; j < B / 8; j++) {
		const float *src[6] = {mu, sc, of, k, k1, k0};
		for (int i = 0; i < 6; i++)
			m[6 * j + i] = src[i] ? bbn_load8(src[i] + 8 * j) : (bbn_v8f){0};
	}
	for (int h = 0; h < H; h++) {
		int in = h < 2 * OH;
		size_t o = (size_t)(h >> 1) * OW * B;
		int32_t row = (h & 1) * 2;
		for (int w = 0; w < W; w++, x += B) {
			float *d = dx ? dx + ((size_t)h * W + w) * B : NULL;
			if (in && w < 2 * OW) {
				size_t ow = o + (size_t)(w >> 1) * B;
				bbn_pool_px(x, dy + ow, arg + ow, row + (w & 1), 1, d, m, a, b, relu,
				            B);
			} else { /* in no window */
				bbn_pool_px(x, dy, arg, 0, 0, d, m, a, b, relu, B);
			}
		}
	}
	if (!dx)
		for (int l = 0; l < B; l++) {
			s1[l] = a[l / 8][l % 8];
			s2[l] = b[l / 8][l % 8];
		}
}

BLOCK_FN void bbn_pool_back_blk(const float *x, const float *dy, const uint8_t *arg, float *dx,
                                const float *mu, const float *sc, const float *of,
                                const float *k, const float *k1, const float *k0, double *s1,
                                double *s2, int H, int W, int OH, int OW, int relu, const int B)
{
	if (relu && dx)
		bbn_pool_back_k(x, dy, arg, dx, mu, sc, of, k, k1, k0, s1, s2, H, W, OH, OW, 1, B);
	else if (relu)
		bbn_pool_back_k(x, dy, arg, NULL, mu, sc, of, k, k1, k0, s1, s2, H, W, OH, OW, 1,
		                B);
	else if (dx)
		bbn_pool_back_k(x, dy, arg, dx, mu, sc, of, k, k1, k0, s1, s2, H, W, OH, OW, 0, B);
	else
		bbn_pool_back_k(x, dy, arg, NULL, mu, sc, of, k, k1, k0, s1, s2, H, W, OH, OW, 0,
		                B);
}

/* y = x * scale + offset (then max(y, 0) with relu) over every block, per-channel scale and
 * offset [C]; with pool, y is the pooled output. */
static void bbn_apply(const facet_fast_bbn *p, const float *x, float *y, const float *scale,
                      const float *offset)
{
	int B = p->B, nb = p->C / B;
	size_t hw = (size_t)p->H * p->W, ohw = (size_t)p->OH * p->OW;
	float *yp = p->pool == FACET_FAST_POOL_PLAIN ? p->yb : y;
#pragma omp parallel for collapse(2) schedule(static)
	for (int n = 0; n < p->N; n++)
		for (int cb = 0; cb < nb; cb++) {
			size_t blk = (size_t)n * nb + cb, off = blk * hw * B, cc = (size_t)cb * B;
			size_t po = blk * ohw * B;
			if (p->pool && B == 16)
				bbn_apply_pool_blk(x + off, yp + po, p->arg + po, scale + cc,
				                   offset + cc, p->W, p->OH, p->OW, p->relu, 16);
			else if (p->pool)
				bbn_apply_pool_blk(x + off, yp + po, p->arg + po, scale + cc,
				                   offset + cc, p->W, p->OH, p->OW, p->relu, 8);
			else if (B == 16)
				bbn_apply_blk(x + off, y + off, scale + cc, offset + cc, hw, p->relu, 16);
			else
				bbn_apply_blk(x + off, y + off, scale + cc, offset + cc, hw, p->relu, 8);
		}
	if (p->pool == FACET_FAST_POOL_PLAIN)
		facet_fast_from_blocked(p->yb, y, p->N, p->C, (int)ohw);
}

void facet_fast_bbn_forward_train(facet_fast_bbn *p, const float *x, const float *gamma,
                                  const float *beta, float *y, float *mean, float *var)
{
	int B = p->B, nb = p->C / B;
	size_t hw = (size_t)p->H * p->W;
#pragma omp parallel for collapse(2) schedule(static)
	for (int n = 0; n < p->N; n++)
		for (int cb = 0; cb < nb; cb++) {
			const float *shift = x + (size_t)cb * hw * B; /* sample 0, pixel 0 */
			const float *xp = x + ((size_t)n * nb + cb) * hw * B;
			double *s1 = p->s1 + (size_t)n * p->C + cb * B, *s2 = p->s2 + (s1 - p->s1);
			if (B == 16)
				bbn_stats_blk(xp, shift, s1, s2, hw, 16);
			else
				bbn_stats_blk(xp, shift, s1, s2, hw, 8);
		}
	double m = (double)p->N * hw;
	for (int c = 0; c < p->C; c++) {
		double s = 0, ss = 0;
		for (int n = 0; n < p->N; n++) {
			s += p->s1[(size_t)n * p->C + c];
			ss += p->s2[(size_t)n * p->C + c];
		}
		double d = s / m, mu = x[(size_t)(c / B) * hw * B + c % B] + d;
		double v = ss / m - d * d > 0 ? ss / m - d * d : 0;
		mean[c] = (float)mu;
		var[c] = (float)v;
		double inv = 1.0 / sqrt(v + p->eps);
		p->scale[c] = (float)(gamma[c] * inv);
		p->offset[c] = (float)(beta[c] - mu * gamma[c] * inv);
	}
	bbn_apply(p, x, y, p->scale, p->offset);
}

void facet_fast_bbn_forward_infer(facet_fast_bbn *p, const float *x, const float *gamma,
                                  const float *beta, const float *mean, const float *var,
                                  float *y)
{
	float *scale = p->tmp, *offset = scale + p->C;
	for (int c = 0; c < p->C; c++) {
		double inv = 1.0 / sqrt((double)var[c] + p->eps);
		scale[c] = (float)(gamma[c] * inv);
		offset[c] = (float)(beta[c] - (double)mean[c] * gamma[c] * inv);
	}
	bbn_apply(p, x, y, scale, offset);
}

/* With xhat = (x - mean) * inv, M = N*H*W, g = dy (masked by the ReLU with relu):
 * dbeta = sum g, dgamma = sum g * xhat, dx = gamma * inv * (g - dbeta / M - xhat * dgamma / M). */
void facet_fast_bbn_backward(facet_fast_bbn *p, const float *x, const float *gamma,
                             const float *mean, const float *var, const float *dy, float *dx,
                             float *dgamma, float *dbeta)
{
	int B = p->B, nb = p->C / B, relu = p->relu;
	size_t hw = (size_t)p->H * p->W;
	double m = (double)p->N * hw;
	const float *sc = p->scale, *of = p->offset;
	size_t ohw = (size_t)p->OH * p->OW;
	int H = p->H, W = p->W, OH = p->OH, OW = p->OW;
	if (p->pool == FACET_FAST_POOL_PLAIN) {
		facet_fast_to_blocked(dy, p->yb, p->N, p->C, (int)ohw);
		dy = p->yb;
	}
#pragma omp parallel for collapse(2) schedule(static)
	for (int n = 0; n < p->N; n++)
		for (int cb = 0; cb < nb; cb++) {
			size_t blk = (size_t)n * nb + cb, off = blk * hw * B, cc = (size_t)cb * B;
			size_t po = blk * ohw * B;
			double *s1 = p->s1 + (size_t)n * p->C + cc, *s2 = p->s2 + (s1 - p->s1);
			if (p->pool && B == 16)
				bbn_pool_back_blk(x + off, dy + po, p->arg + po, NULL, mean + cc,
				                  sc + cc, of + cc, NULL, NULL, NULL, s1, s2, H, W, OH,
				                  OW, relu, 16);
			else if (p->pool)
				bbn_pool_back_blk(x + off, dy + po, p->arg + po, NULL, mean + cc,
				                  sc + cc, of + cc, NULL, NULL, NULL, s1, s2, H, W, OH,
				                  OW, relu, 8);
			else if (B == 16)
				bbn_gsum_blk(x + off, dy + off, mean + cc, sc + cc, of + cc, s1, s2, hw,
				             relu, 16);
			else
				bbn_gsum_blk(x + off, dy + off, mean + cc, sc + cc, of + cc, s1, s2, hw,
				             relu, 8);
		}
	/* dx = k * g + k1 * (x - mu) + k0, per channel */
	float *k = p->tmp, *k1 = k + p->C, *k0 = k1 + p->C;
	for (int c = 0; c < p->C; c++) {
		double sdy = 0, sdyx = 0, inv = 1.0 / sqrt((double)var[c] + p->eps);
		for (int n = 0; n < p->N; n++) {
			sdy += p->s1[(size_t)n * p->C + c];
			sdyx += p->s2[(size_t)n * p->C + c];
		}
		dbeta[c] = (float)sdy;
		dgamma[c] = (float)(sdyx * inv);
		k[c] = (float)(gamma[c] * inv);
		k1[c] = (float)(-gamma[c] * inv * inv * inv * sdyx / m);
		k0[c] = (float)(-gamma[c] * inv * sdy / m);
	}
	if (!dx)
		return;
#pragma omp parallel for collapse(2) schedule(static)
	for (int n = 0; n < p->N; n++)
		for (int cb = 0; cb < nb; cb++) {
			size_t blk = (size_t)n * nb + cb, off = blk * hw * B, cc = (size_t)cb * B;
			size_t po = blk * ohw * B;
			if (p->pool && B == 16)
				bbn_pool_back_blk(x + off, dy + po, p->arg + po, dx + off, mean + cc,
				                  sc + cc, of + cc, k + cc, k1 + cc, k0 + cc, NULL, NULL,
				                  H, W, OH, OW, relu, 16);
			else if (p->pool)
				bbn_pool_back_blk(x + off, dy + po, p->arg + po, dx + off, mean + cc,
				                  sc + cc, of + cc, k + cc, k1 + cc, k0 + cc, NULL, NULL,
				                  H, W, OH, OW, relu, 8);
			else if (B == 16)
				bbn_dx_blk(x + off, dy + off, dx + off, mean + cc, sc + cc, of + cc,
				           k + cc, k1 + cc, k0 + cc, hw, relu, 16);
			else
				bbn_dx_blk(x + off, dy + off, dx + off, mean + cc, sc + cc, of + cc,
				           k + cc, k1 + cc, k0 + cc, hw, relu, 8);
		}
}

void facet_fast_bbn_free(facet_fast_bbn *p)
{
	if (!p)
		return;
	free(p->scale);
	free(p->offset);
	free(p->s1);
	free(p->s2);
	free(p->tmp);
	free(p->arg);
	free(p->yb);
	free(p);
}

/*
 * The fast path: oneDNN primitives behind a small plan-based interface (convolution, dense, int8;
 * fastops_dnnl.c), and OpenMP loops where oneDNN is slow on the plain layout (max pooling, batch
 * norm; in maxpool.c and batchnorm.c, beside the reference kernels).
 *
 * Layout at this interface: fp32, plain NCHW for activations, KCRS for convolution weights,
 * [out, in] for dense weights (y = x W^T + b). A plan is made once per layer and batch size and
 * reused every step: it owns its primitives, its reorder buffers and its workspace, so a step
 * allocates nothing. Plans may keep data in oneDNN's blocked formats inside.
 *
 * Every function here has a plain-C reference twin in the engine (common/nn/), and
 * tests/unit/test_fastops.c checks them against each other.
 *
 * precision: FACET_PREC_F32 or FACET_PREC_BF16 (bf16 compute, fp32 in/out and master weights).
 */
#ifndef FACET_NN_FASTOPS_H
#define FACET_NN_FASTOPS_H

#include <stdint.h>

/* FACET_PREC_INT8 is the net's (nn/quant.h); the plans here take F32 or BF16. */
enum { FACET_PREC_F32 = 0, FACET_PREC_BF16 = 1, FACET_PREC_INT8 = 2 };

/* Does this CPU run bf16 natively (AVX512-BF16 or AMX)? */
int facet_fast_has_bf16(void);
/* Threads used by the fast path (OpenMP); 0 = all cores. */
void facet_fast_set_threads(int n);

/* ---- the blocked layout: activations as [N, C/B, H, W, B], B channels of a pixel side by side
 * (oneDNN's nChw8c or nChw16c), the layout its convolutions work in. Between layers that all
 * take it (convolution, batch norm, max pooling) a net keeps its activations blocked, so that
 * no reorder runs between them; C must be a multiple of B. B is 16 where oneDNN runs AVX-512,
 * else 8. */
int facet_fast_block(void);
/* x [N,C,HW] plain -> y blocked, and back (tests, and where a plain tensor is wanted). */
void facet_fast_to_blocked(const float *x, float *y, int N, int C, int HW);
void facet_fast_from_blocked(const float *x, float *y, int N, int C, int HW);

/* ---- convolution: x [N,C,H,W], w [K,C,R,S], b [K] -> y [N,K,OH,OW]
 * OH = (H + 2*pad_h - R) / stride + 1, likewise OW. relu != 0 fuses ReLU into the forward
 * output (and then backward takes dy already masked by the caller: y > 0). A kernel that covers
 * the whole unpadded input (R = H, S = W: a read-out to 1x1) runs as an inner product.
 * layout: FACET_FAST_X_BLOCKED: x and dx are blocked (C a multiple of B); FACET_FAST_Y_BLOCKED:
 * y and dy are (K a multiple of B); neither for the inner-product case. */
enum { FACET_FAST_X_BLOCKED = 1, FACET_FAST_Y_BLOCKED = 2 };
typedef struct facet_fast_conv facet_fast_conv;
facet_fast_conv *facet_fast_conv_new(int N, int C, int H, int W, int K, int R, int S, int stride,
                                     int pad_h, int pad_w, int relu, int precision, int layout);
void facet_fast_conv_forward(facet_fast_conv *p, const float *x, const float *w, const float *b,
                             float *y);
/* dy [N,K,OH,OW] -> dx [N,C,H,W] (skipped when NULL), dw [K,C,R,S], db [K] (overwritten, not
 * accumulated). x and w are the forward inputs: when x is the pointer the last forward got, the
 * plan reuses its own copy of x from that forward (so x must not have changed in between). */
void facet_fast_conv_backward(facet_fast_conv *p, const float *x, const float *w, const float *dy,
                              float *dx, float *dw, float *db);
void facet_fast_conv_free(facet_fast_conv *p);

/* ---- max pooling, window k x k (k <= 255), stride s, no padding ('valid'):
 * x [N,C,H,W] -> y [N,C,OH,OW]. An OpenMP loop on the plain layout (faster here than oneDNN's
 * plain-layout pooling or a reorder to its blocked one; maxpool.c); ties keep the first maximum. */
typedef struct facet_fast_pool facet_fast_pool;
facet_fast_pool *facet_fast_pool_new(int N, int C, int H, int W, int k, int s, int precision);
void facet_fast_pool_forward(facet_fast_pool *p, const float *x, float *y); /* keeps argmax */
void facet_fast_pool_backward(facet_fast_pool *p, const float *dy, float *dx);
void facet_fast_pool_free(facet_fast_pool *p);

/* ---- batch norm over N,H,W per channel C (training: batch statistics; inference: running)
 * forward_train writes y and the batch mean/var [C] (biased var, as used for normalising);
 * backward gives dx (unless NULL), dgamma, dbeta from the saved mean/var and the last
 * forward_train. relu: y is max(batch norm, 0) and dy is the gradient of that y (a [relu] after
 * the batch norm, fused into its passes). OpenMP loops on the plain layout (batchnorm.c). */
typedef struct facet_fast_bn facet_fast_bn;
facet_fast_bn *facet_fast_bn_new(int N, int C, int H, int W, float eps, int relu, int precision);
void facet_fast_bn_forward_train(facet_fast_bn *p, const float *x, const float *gamma,
                                 const float *beta, float *y, float *mean, float *var);
void facet_fast_bn_forward_infer(facet_fast_bn *p, const float *x, const float *gamma,
                                 const float *beta, const float *mean, const float *var, float *y);
void facet_fast_bn_backward(facet_fast_bn *p, const float *x, const float *gamma, const float *mean,
                            const float *var, const float *dy, float *dx, float *dgamma,
                            float *dbeta);
void facet_fast_bn_free(facet_fast_bn *p);

/* ---- max pooling and batch norm on blocked x (C a multiple of B): the same contracts as the
 * plain plans above, in fp32. The pooling's y and dy are blocked when y_blocked, else plain
 * [N,C,OH,OW] (a pooling before a layer that wants the plain layout). */
typedef struct facet_fast_bpool facet_fast_bpool;
facet_fast_bpool *facet_fast_bpool_new(int N, int C, int H, int W, int k, int s, int y_blocked);
void facet_fast_bpool_forward(facet_fast_bpool *p, const float *x, float *y);
void facet_fast_bpool_backward(facet_fast_bpool *p, const float *dy, float *dx);
void facet_fast_bpool_free(facet_fast_bpool *p);

/* The batch norm can also do the 2x2 stride-2 max pooling that follows it (after the ReLU, with
 * relu): pool FACET_FAST_POOL_BLOCKED or _PLAIN gives y and takes dy as the pooling's output
 * [N,C,H/2,W/2], blocked or plain, and the pooling's full-size output is never written (one pass
 * over the tensor fewer each way). The results are the batch norm's then the pooling's exactly. */
enum { FACET_FAST_POOL_BLOCKED = 1, FACET_FAST_POOL_PLAIN = 2 };
typedef struct facet_fast_bbn facet_fast_bbn;
facet_fast_bbn *facet_fast_bbn_new(int N, int C, int H, int W, float eps, int relu, int pool);
void facet_fast_bbn_forward_train(facet_fast_bbn *p, const float *x, const float *gamma,
                                  const float *beta, float *y, float *mean, float *var);
void facet_fast_bbn_forward_infer(facet_fast_bbn *p, const float *x, const float *gamma,
                                  const float *beta, const float *mean, const float *var,
                                  float *y);
void facet_fast_bbn_backward(facet_fast_bbn *p, const float *x, const float *gamma,
                             const float *mean, const float *var, const float *dy, float *dx,
                             float *dgamma, float *dbeta);
void facet_fast_bbn_free(facet_fast_bbn *p);

/* ---- dense: x [N,I], w [O,I], b [O] -> y [N,O] */
typedef struct facet_fast_dense facet_fast_dense;
facet_fast_dense *facet_fast_dense_new(int N, int I, int O, int precision);
void facet_fast_dense_forward(facet_fast_dense *p, const float *x, const float *w, const float *b,
                              float *y);
void facet_fast_dense_backward(facet_fast_dense *p, const float *x, const float *w, const float *dy,
                               float *dx, float *dw, float *db);
void facet_fast_dense_free(facet_fast_dense *p);

/* ---- int8 inference (facet-score --int8). A quantized tensor holds codes q, uint8 or int8, of
 * one scale s per tensor: the value is s * q. Activations are NHWC here (oneDNN's int8 kernels
 * work on it directly, so a chain of convolutions and poolings needs no reorder in between);
 * weights are int8 [K,C,R,S] with one scale per output channel k. */
enum { FACET_Q8_U8, FACET_Q8_S8, FACET_Q8_F32 };

/* The largest uint8 code an activation may take here: 255 where oneDNN's int8 kernels run on
 * VNNI (or AMX), 127 on AVX2 and AVX-512 without VNNI, whose u8 x s8 multiply (vpmaddubsw)
 * saturates a pair of products at 32767: with codes <= 127 and weights in -127..127 no pair can
 * reach it. */
int facet_fast_q8_u8_levels(void);

/* A quantized convolution: x [N,H,W,C] (int8 when x_signed, else uint8), codes w [K,C,R,S] of
 * scales w_scale [K], bias b [K] (fp32, the real value) ->
 *   t = x_scale * w_scale[k] * sum(x * w) + b[k], then max(t, 0) with relu;
 *   y_type U8 (only with relu): y [N,OH,OW,K] = min(round(t / y_scale), y_levels)
 *   y_type S8: y [N,OH,OW,K] = round(t / y_scale), saturated to -128..127
 *   y_type F32: y [N,K,OH,OW] = t (plain NCHW: the layers after it are fp32)
 * round is to nearest, ties to even. The plan copies w and b into its own layout at _new. */
typedef struct {
	int N, C, H, W, K, R, S, stride, pad_h, pad_w;
	int relu, x_signed, y_type, y_levels;
	float x_scale, y_scale;
	const int8_t *w;      /* [K,C,R,S] */
	const float *w_scale; /* [K] */
	const float *b;       /* [K] */
} facet_q8_conv_args;

typedef struct facet_fast_q8_conv facet_fast_q8_conv;
facet_fast_q8_conv *facet_fast_q8_conv_new(const facet_q8_conv_args *a);
void facet_fast_q8_conv_forward(facet_fast_q8_conv *p, const void *x, void *y);
void facet_fast_q8_conv_free(facet_fast_q8_conv *p);

/* Max pooling of codes (max commutes with quantization, so the scale is the input's): window
 * k x k, stride s, no padding, x [N,H,W,C] -> y [N,OH,OW,C], int8 when is_signed, else uint8. */
typedef struct facet_fast_q8_pool facet_fast_q8_pool;
facet_fast_q8_pool *facet_fast_q8_pool_new(int N, int C, int H, int W, int k, int s, int is_signed);
void facet_fast_q8_pool_forward(facet_fast_q8_pool *p, const void *x, void *y);
void facet_fast_q8_pool_free(facet_fast_q8_pool *p);

#ifdef __SSE4_1__
#include <immintrin.h>
/* Four 2x2 max-pooling windows at once, branch-free (internal to the plain and blocked pooling):
 * a, b the top row's left and right values, c, d the bottom row's; *max gets the window's largest
 * value, the result its index in the window (0 a, 1 b, 2 c, 3 d; on ties the first in that order).
 */
static inline __m128i facet__pool2x2_sse(__m128 a, __m128 b, __m128 c, __m128 d, __m128 *max)
{
	__m128 bt = _mm_cmpgt_ps(b, a), dc = _mm_cmpgt_ps(d, c);
	__m128 top = _mm_blendv_ps(a, b, bt), bottom = _mm_blendv_ps(c, d, dc);
	__m128 lower = _mm_cmpgt_ps(bottom, top);
	__m128i one = _mm_set1_epi32(1), two = _mm_set1_epi32(2);
	__m128i itop = _mm_and_si128(_mm_castps_si128(bt), one);
	__m128i ibottom = _mm_add_epi32(two, _mm_and_si128(_mm_castps_si128(dc), one));
	*max = _mm_blendv_ps(top, bottom, lower);
	return _mm_castps_si128(
	    _mm_blendv_ps(_mm_castsi128_ps(itop), _mm_castsi128_ps(ibottom), lower));
}
#endif

#endif

/*
 * Convolution layer: [conv] filters, size, stride, pad = same | valid, activation = linear | relu.
 * 'same' pads (size - 1) / 2 on every side (size must be odd), so stride 1 keeps H x W.
 * Weights [K, C, R, S] (He-normal initialised), bias [K]; ReLU is fused when asked.
 */
#include <math.h>
#include <stddef.h>
#include <string.h>
#include "nn/nn.h"
#include "nn/fastops.h"

static int out_dim(int in, int k, int stride, int pad)
{
	return (in + 2 * pad - k) / stride + 1;
}

/* Range of output positions o with 0 <= o*stride - pad + r < in. */
static void valid_range(int in, int out, int stride, int pad, int r, int *lo, int *hi)
{
	int a = pad - r; /* need o*stride >= a */
	*lo = a <= 0 ? 0 : (a + stride - 1) / stride;
	int b = in - 1 + pad - r; /* need o*stride <= b */
	*hi = b < 0 ? 0 : b / stride + 1;
	if (*hi > out)
		*hi = out;
	if (*lo > *hi)
		*lo = *hi;
}

void facet_ref_conv_forward(const float *x /* [N,C,H,W] */, const float *w /* [K,C,R,S] */,
                            const float *b /* [K] */, float *y /* [N,K,OH,OW] */, int N, int C,
                            int H, int W, int K, int R, int S, int stride, int pad)
{
	int OH = out_dim(H, R, stride, pad), OW = out_dim(W, S, stride, pad);
#pragma omp parallel for collapse(2) schedule(static)
	for (int n = 0; n < N; n++)
		for (int k = 0; k < K; k++) {
			float *yo = y + ((size_t)n * K + k) * OH * OW;
			for (int i = 0; i < OH * OW; i++)
				yo[i] = b[k];
			for (int c = 0; c < C; c++) {
				const float *xi = x + ((size_t)n * C + c) * H * W;
				for (int r = 0; r < R; r++) {
					int oh0, oh1;
					valid_range(H, OH, stride, pad, r, &oh0, &oh1);
					for (int s = 0; s < S; s++) {
						float wv = w[(((size_t)k * C + c) * R + r) * S + s];
						int ow0, ow1;
						valid_range(W, OW, stride, pad, s, &ow0, &ow1);
						for (int oh = oh0; oh < oh1; oh++) {
							ptrdiff_t base =
							    (ptrdiff_t)(oh * stride - pad + r) * W -
							    pad + s;
							float *yr = yo + (size_t)oh * OW;
							for (int ow = ow0; ow < ow1; ow++)
								yr[ow] +=
								    wv * xi[base + ow * stride];
						}
					}
				}
			}
		}
}

void facet_ref_conv_backward(const float *x /* [N,C,H,W] */, const float *w /* [K,C,R,S] */,
                             const float *dy /* [N,K,OH,OW] */, float *dx /* [N,C,H,W] or NULL */,
                             float *dw /* [K,C,R,S] */, float *db /* [K] */, int N, int C, int H,
                             int W, int K, int R, int S, int stride, int pad)
{
	int OH = out_dim(H, R, stride, pad), OW = out_dim(W, S, stride, pad);
	/* dw, db: one thread per output channel, samples summed in order (deterministic). */
#pragma omp parallel for schedule(static)
	for (int k = 0; k < K; k++) {
		double bsum = 0;
		for (int n = 0; n < N; n++) {
			const float *g = dy + ((size_t)n * K + k) * OH * OW;
			for (int i = 0; i < OH * OW; i++)
				bsum += g[i];
		}
		db[k] = (float)bsum;
		for (int c = 0; c < C; c++)
			for (int r = 0; r < R; r++) {
				int oh0, oh1;
				valid_range(H, OH, stride, pad, r, &oh0, &oh1);
				for (int s = 0; s < S; s++) {
					int ow0, ow1;
					valid_range(W, OW, stride, pad, s, &ow0, &ow1);
					float acc = 0;
					for (int n = 0; n < N; n++) {
						const float *g = dy + ((size_t)n * K + k) * OH * OW;
						const float *xi = x + ((size_t)n * C + c) * H * W;
						for (int oh = oh0; oh < oh1; oh++) {
							ptrdiff_t base =
							    (ptrdiff_t)(oh * stride - pad + r) * W -
							    pad + s;
							const float *gr = g + (size_t)oh * OW;
							for (int ow = ow0; ow < ow1; ow++)
								acc +=
								    gr[ow] * xi[base + ow * stride];
						}
					}
					dw[(((size_t)k * C + c) * R + r) * S + s] = acc;
				}
			}
	}
	if (!dx)
		return;
		/* dx: one thread per (sample, input channel). */
#pragma omp parallel for collapse(2) schedule(static)
	for (int n = 0; n < N; n++)
		for (int c = 0; c < C; c++) {
			float *xo = dx + ((size_t)n * C + c) * H * W;
			memset(xo, 0, sizeof(float) * H * W);
			for (int k = 0; k < K; k++) {
				const float *g = dy + ((size_t)n * K + k) * OH * OW;
				for (int r = 0; r < R; r++) {
					int oh0, oh1;
					valid_range(H, OH, stride, pad, r, &oh0, &oh1);
					for (int s = 0; s < S; s++) {
						float wv = w[(((size_t)k * C + c) * R + r) * S + s];
						int ow0, ow1;
						valid_range(W, OW, stride, pad, s, &ow0, &ow1);
						for (int oh = oh0; oh < oh1; oh++) {
							ptrdiff_t base =
							    (ptrdiff_t)(oh * stride - pad + r) * W -
							    pad + s;
							const float *gr = g + (size_t)oh * OW;
							for (int ow = ow0; ow < ow1; ow++)
								xo[base + ow * stride] +=
								    wv * gr[ow];
						}
					}
				}
			}
		}
}

static int pad_of(const facet_layer *l)
{
	return l->pad ? (l->size - 1) / 2 : 0;
}

static const char *conv_setup(facet_layer *l)
{
	if (l->pad && l->size % 2 == 0)
		return "pad=same needs an odd size";
	int p = pad_of(l);
	if (l->ih + 2 * p < l->size || l->iw + 2 * p < l->size)
		return "the input is smaller than the kernel";
	l->oc = l->filters;
	l->oh = out_dim(l->ih, l->size, l->stride, p);
	l->ow = out_dim(l->iw, l->size, l->stride, p);
	facet_param *w = &l->param[0], *b = &l->param[1];
	w->ndim = 4;
	w->shape[0] = l->filters;
	w->shape[1] = l->ic;
	w->shape[2] = w->shape[3] = l->size;
	w->decay = 1;
	b->ndim = 1;
	b->shape[0] = l->filters;
	l->nparam = 2;
	return NULL;
}

static void conv_init(facet_layer *l, facet_rng *rng)
{
	float sd = sqrtf(2.0f / (float)(l->ic * l->size * l->size));
	for (size_t i = 0; i < l->param[0].n; i++)
		l->param[0].data[i] = sd * (float)facet_rng_normal(rng);
	memset(l->param[1].data, 0, sizeof(float) * l->param[1].n);
}

static void conv_alloc(facet_layer *l)
{
	if (l->use_fast)
		l->fast = facet_fast_conv_new(l->n, l->ic, l->ih, l->iw, l->oc, l->size, l->size,
		                              l->stride, pad_of(l), pad_of(l),
		                              l->act == FACET_ACT_RELU, l->precision,
		                              (l->x_blocked ? FACET_FAST_X_BLOCKED : 0) |
		                                  (l->y_blocked ? FACET_FAST_Y_BLOCKED : 0));
}

static void conv_forward(facet_layer *l, const float *x, int train)
{
	(void)train;
	if (l->fast) {
		facet_fast_conv_forward(l->fast, x, l->param[0].data, l->param[1].data, l->y);
		return;
	}
	facet_ref_conv_forward(x, l->param[0].data, l->param[1].data, l->y, l->n, l->ic, l->ih,
	                       l->iw, l->oc, l->size, l->size, l->stride, pad_of(l));
	facet_act_forward(l->act, l->y, (size_t)l->n * l->oc * l->oh * l->ow);
}

static void conv_backward(facet_layer *l, const float *x, float *dx)
{
	facet_act_backward(l->act, l->y, l->dy, (size_t)l->n * l->oc * l->oh * l->ow);
	if (l->fast) {
		facet_fast_conv_backward(l->fast, x, l->param[0].data, l->dy, dx, l->param[0].grad,
		                         l->param[1].grad);
		return;
	}
	facet_ref_conv_backward(x, l->param[0].data, l->dy, dx, l->param[0].grad, l->param[1].grad,
	                        l->n, l->ic, l->ih, l->iw, l->oc, l->size, l->size, l->stride,
	                        pad_of(l));
}

static void conv_release(facet_layer *l)
{
	if (l->fast)
		facet_fast_conv_free(l->fast);
	l->fast = NULL;
}

const facet_layer_ops facet_conv_ops = {"conv",       conv_setup,    conv_init,   conv_alloc,
                                        conv_forward, conv_backward, conv_release};

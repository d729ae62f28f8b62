/*
 * Max pooling: [maxpool] size, stride; no padding ('valid'), so 23 -> 11 with size 2, as Keras.
 * The argmax of every output is kept for the backward pass.
 */
#include <float.h>
#include <string.h>
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
	if (!dx)
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

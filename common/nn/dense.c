/*
 * [dense] units, activation: y = x W^T + b on a flat input ([flatten] or [gap] before it).
 * Weights [O, I] (He-normal for ReLU, Glorot-normal otherwise), bias [O].
 */
#include <math.h>
#include <string.h>
#include "nn/nn.h"
#include "nn/fastops.h"

void facet_ref_dense_forward(const float *x /* [N,I] */, const float *w /* [O,I] */,
                             const float *b /* [O] */, float *y /* [N,O] */, int N, int I, int O)
{
#pragma omp parallel for collapse(2) schedule(static)
	for (int n = 0; n < N; n++)
		for (int o = 0; o < O; o++) {
			const float *xr = x + (size_t)n * I, *wr = w + (size_t)o * I;
			float acc = 0;
			for (int i = 0; i < I; i++)
				acc += xr[i] * wr[i];
			y[(size_t)n * O + o] = acc + b[o];
		}
}

void facet_ref_dense_backward(const float *x /* [N,I] */, const float *w /* [O,I] */,
                              const float *dy /* [N,O] */, float *dx /* [N,I] or NULL */,
                              float *dw /* [O,I] */, float *db /* [O] */, int N, int I, int O)
{
#pragma omp parallel for schedule(static)
	for (int o = 0; o < O; o++) {
		float *wr = dw + (size_t)o * I;
		memset(wr, 0, sizeof(float) * I);
		double bs = 0;
		for (int n = 0; n < N; n++) {
			float g = dy[(size_t)n * O + o];
			const float *xr = x + (size_t)n * I;
			bs += g;
			for (int i = 0; i < I; i++)
				wr[i] += g * xr[i];
		}
		db[o] = (float)bs;
	}
	if (!dx)
		return;
#pragma omp parallel for schedule(static)
	for (int n = 0; n < N; n++) {
		float *xr = dx + (size_t)n * I;
		memset(xr, 0, sizeof(float) * I);
		for (int o = 0; o < O; o++) {
			float g = dy[(size_t)n * O + o];
			const float *wr = w + (size_t)o * I;
			for (int i = 0; i < I; i++)
				xr[i] += g * wr[i];
		}
	}
}

static const char *dense_setup(facet_layer *l)
{
	if (l->ih != 1 || l->iw != 1)
		return "the input is not flat: put [flatten] or [gap] before [dense]";
	l->oc = l->units;
	l->oh = l->ow = 1;
	facet_param *w = &l->param[0], *b = &l->param[1];
	w->ndim = 2;
	w->shape[0] = l->units;
	w->shape[1] = l->ic;
	w->decay = 1;
	b->ndim = 1;
	b->shape[0] = l->units;
	l->nparam = 2;
	return NULL;
}

static void dense_init(facet_layer *l, facet_rng *rng)
{
	float sd = l->act == FACET_ACT_RELU ? sqrtf(2.0f / (float)l->ic)
	                                    : sqrtf(2.0f / (float)(l->ic + l->units));
	for (size_t i = 0; i < l->param[0].n; i++)
		l->param[0].data[i] = sd * (float)facet_rng_normal(rng);
	memset(l->param[1].data, 0, sizeof(float) * l->param[1].n);
}

static void dense_alloc(facet_layer *l)
{
	if (l->use_fast)
		l->fast = facet_fast_dense_new(l->n, l->ic, l->oc, l->precision);
}

static void dense_forward(facet_layer *l, const float *x, int train)
{
	(void)train;
	if (l->fast)
		facet_fast_dense_forward(l->fast, x, l->param[0].data, l->param[1].data, l->y);
	else
		facet_ref_dense_forward(x, l->param[0].data, l->param[1].data, l->y, l->n, l->ic,
		                        l->oc);
	facet_act_forward(l->act, l->y, (size_t)l->n * l->oc);
}

static void dense_backward(facet_layer *l, const float *x, float *dx)
{
	facet_act_backward(l->act, l->y, l->dy, (size_t)l->n * l->oc);
	if (l->fast)
		facet_fast_dense_backward(l->fast, x, l->param[0].data, l->dy, dx, l->param[0].grad,
		                          l->param[1].grad);
	else
		facet_ref_dense_backward(x, l->param[0].data, l->dy, dx, l->param[0].grad,
		                         l->param[1].grad, l->n, l->ic, l->oc);
}

static void dense_release(facet_layer *l)
{
	if (l->fast)
		facet_fast_dense_free(l->fast);
	l->fast = NULL;
}

const facet_layer_ops facet_dense_ops = {"dense",       dense_setup,    dense_init,   dense_alloc,
                                         dense_forward, dense_backward, dense_release};

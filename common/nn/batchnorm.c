/*
 * [batchnorm] eps, momentum: normalise each channel over (N, H, W) (or each feature over N after
 * a flatten), then scale by gamma and shift by beta. Training uses the batch statistics and
 * updates the running ones: running = momentum * running + (1 - momentum) * batch (Keras'
 * convention: momentum 0.99), the running variance unbiased. Inference uses the running ones.
 * On the fast path a [relu] right after it is fused into its passes (l->fused; see net.c).
 */
#include <math.h>
#include <string.h>
#include "nn/nn.h"
#include "nn/fastops.h"

static const char *bn_setup(facet_layer *l)
{
	if (l->eps <= 0)
		return "eps must be > 0";
	if (l->momentum < 0 || l->momentum >= 1)
		return "momentum must be in [0, 1)";
	l->oc = l->ic;
	l->oh = l->ih;
	l->ow = l->iw;
	for (int i = 0; i < 4; i++) {
		l->param[i].ndim = 1;
		l->param[i].shape[0] = l->ic;
		l->param[i].decay = 0;
	}
	l->nparam = 4; /* gamma, beta, running_mean, running_var (the last two without gradient) */
	return NULL;
}

static void bn_init(facet_layer *l, facet_rng *rng)
{
	(void)rng;
	for (int c = 0; c < l->ic; c++) {
		l->param[0].data[c] = 1;
		l->param[1].data[c] = 0;
		l->param[2].data[c] = 0;
		l->param[3].data[c] = 1;
	}
}

static void bn_alloc(facet_layer *l)
{
	l->save = xmalloc(sizeof(float) * 2 * l->ic);
	if (l->use_fast && l->x_blocked)
		l->fast = facet_fast_bbn_new(l->n, l->ic, l->ih, l->iw, l->eps, l->fused);
	else if (l->use_fast)
		l->fast =
		    facet_fast_bn_new(l->n, l->ic, l->ih, l->iw, l->eps, l->fused, l->precision);
}

/* x [N,C,H,W] -> mean, var [C] (biased): sums in double, one thread per channel. */
static void bn_stats(const facet_layer *l, const float *x, float *mean, float *var)
{
	int N = l->n, C = l->ic, HW = l->ih * l->iw;
#pragma omp parallel for schedule(static)
	for (int c = 0; c < C; c++) {
		double s = 0, ss = 0;
		for (int n = 0; n < N; n++) {
			const float *p = x + ((size_t)n * C + c) * HW;
			for (int i = 0; i < HW; i++)
				s += p[i];
		}
		double m = s / ((double)N * HW);
		for (int n = 0; n < N; n++) {
			const float *p = x + ((size_t)n * C + c) * HW;
			for (int i = 0; i < HW; i++)
				ss += (p[i] - m) * (p[i] - m);
		}
		mean[c] = (float)m;
		var[c] = (float)(ss / ((double)N * HW));
	}
}

/* y = gamma * (x - mean) / sqrt(var + eps) + beta, per channel. */
static void bn_apply(const facet_layer *l, const float *x, const float *mean, const float *var,
                     float *y)
{
	int N = l->n, C = l->ic, HW = l->ih * l->iw;
	const float *gamma = l->param[0].data, *beta = l->param[1].data;
#pragma omp parallel for collapse(2) schedule(static)
	for (int n = 0; n < N; n++)
		for (int c = 0; c < C; c++) {
			float a = gamma[c] / sqrtf(var[c] + l->eps);
			float b = beta[c] - a * mean[c];
			const float *p = x + ((size_t)n * C + c) * HW;
			float *q = y + ((size_t)n * C + c) * HW;
			for (int i = 0; i < HW; i++)
				q[i] = a * p[i] + b;
		}
}

static void bn_forward(facet_layer *l, const float *x, int train)
{
	float *mean = l->save, *var = l->save + l->ic;
	float *rmean = l->param[2].data, *rvar = l->param[3].data;
	if (!train) {
		if (l->fast && l->x_blocked)
			facet_fast_bbn_forward_infer(l->fast, x, l->param[0].data, l->param[1].data,
			                             rmean, rvar, l->y);
		else if (l->fast)
			facet_fast_bn_forward_infer(l->fast, x, l->param[0].data, l->param[1].data,
			                            rmean, rvar, l->y);
		else
			bn_apply(l, x, rmean, rvar, l->y);
		return;
	}
	if (l->fast && l->x_blocked) {
		facet_fast_bbn_forward_train(l->fast, x, l->param[0].data, l->param[1].data, l->y,
		                             mean, var);
	} else if (l->fast) {
		facet_fast_bn_forward_train(l->fast, x, l->param[0].data, l->param[1].data, l->y,
		                            mean, var);
	} else {
		bn_stats(l, x, mean, var);
		bn_apply(l, x, mean, var, l->y);
	}
	double m = (double)l->n * l->ih * l->iw;
	float unbias = m > 1 ? (float)(m / (m - 1)) : 1.0f;
	for (int c = 0; c < l->ic; c++) {
		rmean[c] = l->momentum * rmean[c] + (1 - l->momentum) * mean[c];
		rvar[c] = l->momentum * rvar[c] + (1 - l->momentum) * var[c] * unbias;
	}
}

/* dy [N,C,H,W] -> dgamma = sum dy*xhat, dbeta = sum dy,
 * dx = gamma / sqrt(var + eps) * (dy - dbeta/M - xhat * dgamma/M), M = N*H*W. */
static void bn_backward(facet_layer *l, const float *x, float *dx)
{
	const float *mean = l->save, *var = l->save + l->ic, *gamma = l->param[0].data;
	float *dgamma = l->param[0].grad, *dbeta = l->param[1].grad;
	if (l->fast && l->x_blocked) {
		facet_fast_bbn_backward(l->fast, x, gamma, mean, var, l->dy, dx, dgamma, dbeta);
		return;
	}
	if (l->fast) {
		facet_fast_bn_backward(l->fast, x, gamma, mean, var, l->dy, dx, dgamma, dbeta);
		return;
	}
	int N = l->n, C = l->ic, HW = l->ih * l->iw;
	double M = (double)N * HW;
#pragma omp parallel for schedule(static)
	for (int c = 0; c < C; c++) {
		float inv = 1.0f / sqrtf(var[c] + l->eps);
		double sg = 0, sgx = 0;
		for (int n = 0; n < N; n++) {
			const float *p = x + ((size_t)n * C + c) * HW;
			const float *g = l->dy + ((size_t)n * C + c) * HW;
			for (int i = 0; i < HW; i++) {
				sg += g[i];
				sgx += g[i] * (p[i] - mean[c]) * inv;
			}
		}
		dgamma[c] = (float)sgx;
		dbeta[c] = (float)sg;
		if (!dx)
			continue;
		float a = gamma[c] * inv, mg = (float)(sg / M), mgx = (float)(sgx / M);
		for (int n = 0; n < N; n++) {
			const float *p = x + ((size_t)n * C + c) * HW;
			const float *g = l->dy + ((size_t)n * C + c) * HW;
			float *q = dx + ((size_t)n * C + c) * HW;
			for (int i = 0; i < HW; i++)
				q[i] = a * (g[i] - mg - (p[i] - mean[c]) * inv * mgx);
		}
	}
}

static void bn_release(facet_layer *l)
{
	if (l->fast && l->x_blocked)
		facet_fast_bbn_free(l->fast);
	else if (l->fast)
		facet_fast_bn_free(l->fast);
	l->fast = NULL;
	free(l->save);
	l->save = NULL;
}

const facet_layer_ops facet_batchnorm_ops = {"batchnorm", bn_setup,    bn_init,   bn_alloc,
                                             bn_forward,  bn_backward, bn_release};

/*
 * [batchnorm] eps, momentum: normalise each channel over (N, H, W) (or each feature over N after
 * a flatten), then scale by gamma and shift by beta. Training uses the batch statistics and
 * updates the running ones: running = momentum * running + (1 - momentum) * batch (Keras'
 * convention: momentum 0.99), the running variance unbiased. Inference uses the running ones.
 * On the fast path a [relu] right after it is fused into its passes (l->fused; see net.c), and
 * on the blocked layout a 2x2 [maxpool] after that relu too (l->pooled).
 * The layer's kernels are the plain-C reference; the fast path's (facet_fast_bn of fastops.h,
 * used with net->fast) follow them.
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
		l->fast =
		    facet_fast_bbn_new(l->n, l->ic, l->ih, l->iw, l->eps, l->fused, l->pooled);
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

/* ---------------------------------------------------------------- the fast path (fastops.h) */

/* Batch norm is OpenMP loops over channels on the plain layout, in fp32, not oneDNN: oneDNN's
 * plain-layout batch norm ("ncsp_bnorm") moved 1.1 GB/s here (30 ms forward for 64x32x64x64),
 * and its fast kernels want the blocked layout (two reorders at this interface). Forward reads x
 * twice and writes y once; backward reads x and dy twice and writes dx once. Statistics are
 * summed per plane in float, across planes in double, around a per-channel shift (the channel's
 * first value) so that the variance does not cancel.
 *
 * With relu set, the [relu] after the batch norm is applied in the same pass: y = max(t, 0) with
 * t = x * scale + offset, and backward takes dy as the gradient of that y, masking it where
 * t <= 0. The mask is recomputed from x with the scale and offset the forward pass used (kept per
 * channel, and the same expression, fast_bn_affine), so it is the forward's y > 0 exactly; the
 * separate ReLU pass each way is gone. */
struct facet_fast_bn {
	int N, C, H, W, relu;
	float eps;
	float *scale, *offset; /* of the last forward pass, per channel */
};

facet_fast_bn *facet_fast_bn_new(int N, int C, int H, int W, float eps, int relu, int precision)
{
	facet_fast_bn *p = xcalloc(1, sizeof *p);

	(void)precision;
	*p = (facet_fast_bn){N, C, H, W, relu, eps, NULL, NULL};
	p->scale = xcalloc((size_t)C, sizeof(float));
	p->offset = xcalloc((size_t)C, sizeof(float));
	return p;
}

/* Mean and biased variance of channel c of x [N,C,H,W]. */
static void fast_bn_stats(const facet_fast_bn *p, const float *x, int c, double *mean, double *var)
{
	size_t hw = (size_t)p->H * p->W;
	const float shift = x[(size_t)c * hw];
	double s = 0, ss = 0;
	for (int n = 0; n < p->N; n++) {
		const float *xp = x + ((size_t)n * p->C + c) * hw;
		float ps = 0, pss = 0;
#pragma omp simd reduction(+ : ps, pss)
		for (size_t i = 0; i < hw; i++) {
			float d = xp[i] - shift;
			ps += d;
			pss += d * d;
		}
		s += ps;
		ss += pss;
	}
	double m = (double)p->N * hw, d = s / m;
	*mean = shift + d;
	*var = ss / m - d * d > 0 ? ss / m - d * d : 0;
}

/* The normalised value before the ReLU: one expression for the forward pass and the backward
 * pass's mask, so both round alike. */
static inline float fast_bn_affine(float x, float scale, float offset)
{
	return x * scale + offset;
}

/* y = x * scale + offset over channel c, then max(y, 0) with p->relu. */
static void fast_bn_apply(const facet_fast_bn *p, const float *x, float *y, int c, float scale,
                          float offset)
{
	size_t hw = (size_t)p->H * p->W;
	for (int n = 0; n < p->N; n++) {
		const float *xp = x + ((size_t)n * p->C + c) * hw;
		float *yp = y + ((size_t)n * p->C + c) * hw;
		if (p->relu) {
#pragma omp simd
			for (size_t i = 0; i < hw; i++) {
				float t = fast_bn_affine(xp[i], scale, offset);
				yp[i] = t > 0 ? t : 0.0f;
			}
		} else {
#pragma omp simd
			for (size_t i = 0; i < hw; i++)
				yp[i] = fast_bn_affine(xp[i], scale, offset);
		}
	}
}

void facet_fast_bn_forward_train(facet_fast_bn *p, const float *x, const float *gamma,
                                 const float *beta, float *y, float *mean, float *var)
{
#pragma omp parallel for schedule(static)
	for (int c = 0; c < p->C; c++) {
		double m, v;
		fast_bn_stats(p, x, c, &m, &v);
		mean[c] = (float)m;
		var[c] = (float)v;
		double inv = 1.0 / sqrt(v + p->eps);
		p->scale[c] = (float)(gamma[c] * inv);
		p->offset[c] = (float)(beta[c] - m * gamma[c] * inv);
		fast_bn_apply(p, x, y, c, p->scale[c], p->offset[c]);
	}
}

void facet_fast_bn_forward_infer(facet_fast_bn *p, const float *x, const float *gamma,
                                 const float *beta, const float *mean, const float *var, float *y)
{
#pragma omp parallel for schedule(static)
	for (int c = 0; c < p->C; c++) {
		double inv = 1.0 / sqrt((double)var[c] + p->eps);
		fast_bn_apply(p, x, y, c, (float)(gamma[c] * inv),
		              (float)(beta[c] - (double)mean[c] * gamma[c] * inv));
	}
}

/* With xhat = (x - mean) * inv, M = N*H*W, g = dy (masked by the ReLU with p->relu):
 * dbeta = sum g, dgamma = sum g * xhat, dx = gamma * inv * (g - dbeta / M - xhat * dgamma / M).
 * dx may be NULL (the parameter gradients only). */
void facet_fast_bn_backward(facet_fast_bn *p, const float *x, const float *gamma, const float *mean,
                            const float *var, const float *dy, float *dx, float *dgamma,
                            float *dbeta)
{
	size_t hw = (size_t)p->H * p->W;
	double m = (double)p->N * hw;
#pragma omp parallel for schedule(static)
	for (int c = 0; c < p->C; c++) {
		const float mu = mean[c], sc = p->scale[c], of = p->offset[c];
		double inv = 1.0 / sqrt((double)var[c] + p->eps), sdy = 0, sdyx = 0;
		for (int n = 0; n < p->N; n++) {
			size_t off = ((size_t)n * p->C + c) * hw;
			float a = 0, b = 0;
			if (p->relu) {
#pragma omp simd reduction(+ : a, b)
				for (size_t i = 0; i < hw; i++) {
					float d = dy[off + i], xi = x[off + i];
					float g = fast_bn_affine(xi, sc, of) > 0 ? d : 0.0f;
					a += g;
					b += g * (xi - mu);
				}
			} else {
#pragma omp simd reduction(+ : a, b)
				for (size_t i = 0; i < hw; i++) {
					a += dy[off + i];
					b += dy[off + i] * (x[off + i] - mu);
				}
			}
			sdy += a;
			sdyx += b;
		}
		dbeta[c] = (float)sdy;
		dgamma[c] = (float)(sdyx * inv);
		if (!dx)
			continue;
		/* dx = k * g + k1 * (x - mu) + k0 */
		float k = (float)(gamma[c] * inv),
		      k1 = (float)(-gamma[c] * inv * inv * inv * sdyx / m),
		      k0 = (float)(-gamma[c] * inv * sdy / m);
		for (int n = 0; n < p->N; n++) {
			size_t off = ((size_t)n * p->C + c) * hw;
			if (p->relu) {
#pragma omp simd
				for (size_t i = 0; i < hw; i++) {
					float d = dy[off + i], xi = x[off + i];
					float g = fast_bn_affine(xi, sc, of) > 0 ? d : 0.0f;
					dx[off + i] = k * g + k1 * (xi - mu) + k0;
				}
			} else {
#pragma omp simd
				for (size_t i = 0; i < hw; i++)
					dx[off + i] = k * dy[off + i] + k1 * (x[off + i] - mu) + k0;
			}
		}
	}
}

void facet_fast_bn_free(facet_fast_bn *p)
{
	if (!p)
		return;
	free(p->scale);
	free(p->offset);
	free(p);
}

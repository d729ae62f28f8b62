/*
 * The fast path (common/nn/fastops.h: the oneDNN plans of fastops_dnnl.c, the max pooling and batch
 * norm loops of maxpool.c and batchnorm.c) against naive loops written here.
 *
 * Every op, forward and backward, in fp32 (tolerance 1e-4) and bf16 (2e-2; where the CPU lacks
 * AVX512-BF16 a bf16 plan runs fp32, and is held to 1e-4). The error printed is the largest
 * absolute difference divided by the largest magnitude of the reference tensor (for the dense
 * layer's sums, of the sums of their terms' magnitudes). Plans are run twice on different data,
 * so state left over from a previous call would show.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facet.h"
#include "nn/fastops.h"

static int n_pass, n_fail;
static unsigned long long rng = 88172645463325252ULL;

static float frand(void) /* uniform in [-1, 1) */
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (float)((rng >> 11) * (1.0 / 9007199254740992.0) * 2.0 - 1.0);
}

static float *rnd(size_t n)
{
	float *p = xmalloc(n * sizeof *p);
	for (size_t i = 0; i < n; i++)
		p[i] = frand();
	return p;
}

static float *zeros(size_t n)
{
	return xcalloc(n, sizeof(float));
}

/* As check, with the error divided by the largest of mag [n] instead: for sums that cancel, the
 * sum of the terms' magnitudes, which bounds the rounding error of a low-precision sum. */
static void check_mag(const char *what, const float *got, const float *ref, const float *mag,
                      size_t n, double tol)
{
	double maxdiff = 0, maxref = 1e-12;
	for (size_t i = 0; i < n; i++) {
		double d = fabs((double)got[i] - ref[i]);
		if (!(d <= maxdiff)) /* NaN counts as worst */
			maxdiff = isnan(d) ? INFINITY : d;
		if (fabs(mag[i]) > maxref)
			maxref = fabs(mag[i]);
	}
	double err = maxdiff / maxref;
	int ok = err <= tol;
	printf("%-4s %-58s worst %.2e (tol %.0e)\n", ok ? "ok" : "FAIL", what, err, tol);
	ok ? n_pass++ : n_fail++;
}

static void check(const char *what, const float *got, const float *ref, size_t n, double tol)
{
	check_mag(what, got, ref, ref, n, tol);
}

/* A copy of x [N,C,HW] in the blocked layout of fastops.h (plain when !on). */
static float *blk(const float *x, int N, int C, int HW, int on)
{
	size_t n = (size_t)N * C * HW;
	float *y = xmalloc(n * sizeof *y);
	if (on)
		facet_fast_to_blocked(x, y, N, C, HW);
	else
		memcpy(y, x, n * sizeof *y);
	return y;
}

/* xb (blocked when on) -> x plain; frees xb. */
static void unblk(float *xb, float *x, int N, int C, int HW, int on)
{
	if (on)
		facet_fast_from_blocked(xb, x, N, C, HW);
	else
		memcpy(x, xb, (size_t)N * C * HW * sizeof *x);
	free(xb);
}

/* ---------------------------------------------------------------- convolution */

/* x [N,C,H,W], w [K,C,R,S], b [K] -> y [N,K,OH,OW] */
static void ref_conv_fwd(int N, int C, int H, int W, int K, int R, int S, int st, int ph, int pw,
                         int relu, const float *x, const float *w, const float *b, float *y)
{
	int OH = (H + 2 * ph - R) / st + 1, OW = (W + 2 * pw - S) / st + 1;
	for (int n = 0; n < N; n++)
		for (int k = 0; k < K; k++)
			for (int oh = 0; oh < OH; oh++)
				for (int ow = 0; ow < OW; ow++) {
					double acc = b[k];
					for (int c = 0; c < C; c++)
						for (int r = 0; r < R; r++)
							for (int s = 0; s < S; s++) {
								int ih = oh * st - ph + r,
								    iw = ow * st - pw + s;
								if (ih < 0 || ih >= H || iw < 0 ||
								    iw >= W)
									continue;
								acc +=
								    (double)
								        x[((n * C + c) * H + ih) *
								              W +
								          iw] *
								    w[((k * C + c) * R + r) * S +
								      s];
							}
					if (relu && acc < 0)
						acc = 0;
					y[((n * K + k) * OH + oh) * OW + ow] = (float)acc;
				}
}

/* dy [N,K,OH,OW] -> dx [N,C,H,W], dw [K,C,R,S], db [K] */
static void ref_conv_bwd(int N, int C, int H, int W, int K, int R, int S, int st, int ph, int pw,
                         const float *x, const float *w, const float *dy, float *dx, float *dw,
                         float *db)
{
	int OH = (H + 2 * ph - R) / st + 1, OW = (W + 2 * pw - S) / st + 1;
	memset(dx, 0, sizeof(float) * N * C * H * W);
	memset(dw, 0, sizeof(float) * K * C * R * S);
	memset(db, 0, sizeof(float) * K);
	for (int n = 0; n < N; n++)
		for (int k = 0; k < K; k++)
			for (int oh = 0; oh < OH; oh++)
				for (int ow = 0; ow < OW; ow++) {
					float g = dy[((n * K + k) * OH + oh) * OW + ow];
					db[k] += g;
					for (int c = 0; c < C; c++)
						for (int r = 0; r < R; r++)
							for (int s = 0; s < S; s++) {
								int ih = oh * st - ph + r,
								    iw = ow * st - pw + s;
								if (ih < 0 || ih >= H || iw < 0 ||
								    iw >= W)
									continue;
								size_t xi =
								    ((n * C + c) * H + ih) * W + iw;
								size_t wi =
								    ((k * C + c) * R + r) * S + s;
								dx[xi] += g * w[wi];
								dw[wi] += g * x[xi];
							}
				}
}

/* layout: the plan's (fastops.h); its blocked tensors are converted here, the checks are on
 * plain ones */
static void test_conv(int N, int C, int H, int W, int K, int R, int S, int st, int pad, int relu,
                      int prec, double tol, int layout)
{
	int xb = layout & FACET_FAST_X_BLOCKED, yb = layout & FACET_FAST_Y_BLOCKED;
	int OH = (H + 2 * pad - R) / st + 1, OW = (W + 2 * pad - S) / st + 1;
	size_t nx = (size_t)N * C * H * W, nw = (size_t)K * C * R * S, ny = (size_t)N * K * OH * OW;
	char name[160];
	float *x = rnd(nx), *w = rnd(nw), *b = rnd(K), *dy = rnd(ny);
	float *y = zeros(ny), *yr = zeros(ny), *dx = zeros(nx), *dxr = zeros(nx);
	float *dw = zeros(nw), *dwr = zeros(nw), *db = zeros(K), *dbr = zeros(K);
	facet_fast_conv *p =
	    facet_fast_conv_new(N, C, H, W, K, R, S, st, pad, pad, relu, prec, layout);
	int HW = H * W, OHW = OH * OW;
	float *xl = blk(x, N, C, HW, xb), *yl = blk(y, N, K, OHW, yb);

	for (size_t i = 0; i < nw; i++) /* keep outputs O(1) */
		w[i] /= sqrtf((float)(C * R * S));
	facet_fast_conv_forward(p, xl, w, b, yl); /* a first run on other data */
	for (size_t i = 0; i < nx; i++)
		x[i] = frand();
	free(xl);
	xl = blk(x, N, C, HW, xb);
	facet_fast_conv_forward(p, xl, w, b, yl);
	unblk(yl, y, N, K, OHW, yb);
	ref_conv_fwd(N, C, H, W, K, R, S, st, pad, pad, relu, x, w, b, yr);
	snprintf(name, sizeof name, "conv %s N%d C%d %dx%d K%d %dx%d s%d p%d%s%s%s fwd",
	         prec ? "bf16" : "fp32", N, C, H, W, K, R, S, st, pad, relu ? " relu" : "",
	         xb ? " x-blk" : "", yb ? " y-blk" : "");
	check(name, y, yr, ny, tol);

	if (relu) /* the caller masks dy by y > 0 */
		for (size_t i = 0; i < ny; i++)
			if (yr[i] <= 0)
				dy[i] = 0;
	float *dyl = blk(dy, N, K, OHW, yb), *dxl = blk(dx, N, C, HW, xb);
	facet_fast_conv_backward(p, xl, w, dyl, dxl, dw, db);
	unblk(dxl, dx, N, C, HW, xb);
	ref_conv_bwd(N, C, H, W, K, R, S, st, pad, pad, x, w, dy, dxr, dwr, dbr);
	name[strlen(name) - 3] = 0;
	char sub[200];
	snprintf(sub, sizeof sub, "%sbwd dx", name);
	check(sub, dx, dxr, nx, tol);
	snprintf(sub, sizeof sub, "%sbwd dw", name);
	check(sub, dw, dwr, nw, tol);
	snprintf(sub, sizeof sub, "%sbwd db", name);
	check(sub, db, dbr, K, tol);
	/* dx skipped, and x passed as another buffer (so the plan cannot reuse its copy) */
	float *xcopy = blk(x, N, C, HW, xb);
	memset(dw, 0, nw * sizeof *dw);
	facet_fast_conv_backward(p, xcopy, w, dyl, NULL, dw, db);
	snprintf(sub, sizeof sub, "%sbwd dw (dx NULL, x copied)", name);
	check(sub, dw, dwr, nw, tol);
	free(xcopy);
	free(xl);
	free(dyl);

	facet_fast_conv_free(p);
	float *all[] = {x, w, b, dy, y, yr, dx, dxr, dw, dwr, db, dbr};
	for (size_t i = 0; i < sizeof all / sizeof *all; i++)
		free(all[i]);
}

/* ---------------------------------------------------------------- max pooling */

/* ties: x takes only three values, so most windows hold equal maxima and the first one in
 * row-major window order must win (forward value and where backward puts the gradient) */
/* blocked: 0 the plain plan; 1 the blocked one, x and y blocked; 2 the blocked one, y plain */
static void test_pool(int N, int C, int H, int W, int k, int s, int ties, int prec, double tol,
                      int blocked)
{
	int OH = (H - k) / s + 1, OW = (W - k) / s + 1;
	size_t nx = (size_t)N * C * H * W, ny = (size_t)N * C * OH * OW;
	float *x = rnd(nx), *dy = rnd(ny), *y = zeros(ny), *yr = zeros(ny);
	float *dx = zeros(nx), *dxr = zeros(nx);
	char name[160];
	if (ties)
		for (size_t i = 0; i < nx; i++)
			x[i] = roundf(x[i]);
	facet_fast_pool *p = blocked ? NULL : facet_fast_pool_new(N, C, H, W, k, s, prec);
	facet_fast_bpool *bp = blocked ? facet_fast_bpool_new(N, C, H, W, k, s, blocked == 1) : NULL;
	int HW = H * W, OHW = OH * OW, yb = blocked == 1;

	if (p) {
		facet_fast_pool_forward(p, dxr, y); /* a first run on other data (zeros) */
		facet_fast_pool_forward(p, x, y);
	} else {
		float *xl = blk(x, N, C, HW, 1), *yl = blk(y, N, C, OHW, yb);
		facet_fast_bpool_forward(bp, dxr, yl);
		facet_fast_bpool_forward(bp, xl, yl);
		unblk(yl, y, N, C, OHW, yb);
		free(xl);
	}
	for (int nc = 0; nc < N * C; nc++)
		for (int oh = 0; oh < OH; oh++)
			for (int ow = 0; ow < OW; ow++) {
				size_t best = 0;
				float m = -INFINITY;
				for (int i = 0; i < k; i++)
					for (int j = 0; j < k; j++) {
						size_t xi =
						    ((size_t)nc * H + oh * s + i) * W + ow * s + j;
						if (x[xi] > m) {
							m = x[xi];
							best = xi;
						}
					}
				size_t yi = ((size_t)nc * OH + oh) * OW + ow;
				yr[yi] = m;
				dxr[best] += dy[yi];
			}
	snprintf(name, sizeof name, "maxpool %s N%d C%d %dx%d k%d s%d%s%s fwd",
	         prec ? "bf16" : "fp32", N, C, H, W, k, s, ties ? " ties" : "",
	         blocked == 1 ? " blk" : blocked ? " blk->plain" : "");
	check(name, y, yr, ny, tol);
	for (size_t i = 0; i < nx; i++) /* stale content must be overwritten */
		dx[i] = 7.0f;
	if (p) {
		facet_fast_pool_backward(p, dy, dx);
	} else {
		float *dyl = blk(dy, N, C, OHW, yb), *dxl = blk(dx, N, C, HW, 1);
		facet_fast_bpool_backward(bp, dyl, dxl);
		unblk(dxl, dx, N, C, HW, 1);
		free(dyl);
	}
	name[strlen(name) - 3] = 0;
	strcat(name, "bwd dx");
	check(name, dx, dxr, nx, tol);
	facet_fast_pool_free(p);
	facet_fast_bpool_free(bp);
	float *all[] = {x, dy, y, yr, dx, dxr};
	for (size_t i = 0; i < sizeof all / sizeof *all; i++)
		free(all[i]);
}

/* ---------------------------------------------------------------- batch norm */

/* x ~ 3 * U(-1, 1) + offset: a large offset tests the variance against cancellation. With relu,
 * the fused batch norm + ReLU against the reference batch norm followed by ReLU: y = max(bn, 0),
 * and the gradient reaching the batch norm is dy where that y > 0. */
static void test_bn(int N, int C, int H, int W, float offset, int relu, int prec, double tol,
                    int blocked)
{
	size_t nx = (size_t)N * C * H * W, hw = (size_t)H * W;
	float eps = 1e-3f;
	float *x = rnd(nx), *dy = rnd(nx), *g = rnd(C), *be = rnd(C);
	float *y = zeros(nx), *yr = zeros(nx), *dx = zeros(nx), *dxr = zeros(nx), *gm = zeros(nx);
	float *mean = zeros(C), *var = zeros(C), *meanr = zeros(C), *varr = zeros(C);
	float *dg = zeros(C), *dgr = zeros(C), *db = zeros(C), *dbr = zeros(C);
	float *dg2 = zeros(C), *db2 = zeros(C);
	char name[160], sub[200];
	facet_fast_bn *p = blocked ? NULL : facet_fast_bn_new(N, C, H, W, eps, relu, prec);
	facet_fast_bbn *bp = blocked ? facet_fast_bbn_new(N, C, H, W, eps, relu, 0) : NULL;
	int HW = H * W;

	for (size_t i = 0; i < nx; i++) /* a channel mean away from 0 */
		x[i] = 3.0f * x[i] + offset;
	snprintf(name, sizeof name, "batchnorm%s %s N%d C%d %dx%d +%g%s", relu ? "+relu" : "",
	         prec ? "bf16" : "fp32", N, C, H, W, offset, blocked ? " blk" : "");
	float *xl = blk(x, N, C, HW, blocked), *dyl = blk(dy, N, C, HW, blocked);
	float *yl = blk(y, N, C, HW, blocked), *dxl = blk(dx, N, C, HW, blocked);
	if (p) {
		facet_fast_bn_forward_train(p, dy, g, be, y, mean, var); /* a first run on other data */
		facet_fast_bn_forward_train(p, x, g, be, y, mean, var);
	} else {
		facet_fast_bbn_forward_train(bp, dyl, g, be, yl, mean, var);
		facet_fast_bbn_forward_train(bp, xl, g, be, yl, mean, var);
		facet_fast_from_blocked(yl, y, N, C, HW);
	}
	/* the gradient through the ReLU, masked by the forward pass's own output (a value within
	 * rounding of 0 may fall either side of it in the double-precision reference) */
	for (size_t i = 0; i < nx; i++)
		gm[i] = !relu || y[i] > 0 ? dy[i] : 0.0f;
	double m_count = (double)N * hw;
	for (int c = 0; c < C; c++) {
		double s = 0, ss = 0;
		for (int n = 0; n < N; n++)
			for (size_t i = 0; i < hw; i++)
				s += x[(n * C + c) * hw + i];
		double mu = s / m_count;
		for (int n = 0; n < N; n++)
			for (size_t i = 0; i < hw; i++) {
				double d = x[(n * C + c) * hw + i] - mu;
				ss += d * d;
			}
		double v = ss / m_count, inv = 1.0 / sqrt(v + eps);
		meanr[c] = (float)mu;
		varr[c] = (float)v;
		double sdy = 0, sdyx = 0;
		for (int n = 0; n < N; n++)
			for (size_t i = 0; i < hw; i++) {
				size_t j = (n * C + c) * hw + i;
				double xh = (x[j] - mu) * inv, t = g[c] * xh + be[c];
				yr[j] = (float)(relu && t < 0 ? 0 : t);
				sdy += gm[j];
				sdyx += gm[j] * xh;
			}
		dbr[c] = (float)sdy;
		dgr[c] = (float)sdyx;
		for (int n = 0; n < N; n++)
			for (size_t i = 0; i < hw; i++) {
				size_t j = (n * C + c) * hw + i;
				double xh = (x[j] - mu) * inv;
				dxr[j] = (float)(g[c] * inv *
				                 (gm[j] - sdy / m_count - xh * sdyx / m_count));
			}
	}
	snprintf(sub, sizeof sub, "%s train y", name);
	check(sub, y, yr, nx, tol);
	snprintf(sub, sizeof sub, "%s train mean", name);
	check(sub, mean, meanr, C, tol);
	snprintf(sub, sizeof sub, "%s train var", name);
	check(sub, var, varr, C, tol);
	if (p) {
		facet_fast_bn_backward(p, x, g, mean, var, dy, dx, dg, db);
	} else {
		facet_fast_bbn_backward(bp, xl, g, mean, var, dyl, dxl, dg, db);
		facet_fast_from_blocked(dxl, dx, N, C, HW);
	}
	snprintf(sub, sizeof sub, "%s bwd dx", name);
	check(sub, dx, dxr, nx, tol);
	snprintf(sub, sizeof sub, "%s bwd dgamma", name);
	check(sub, dg, dgr, C, tol);
	snprintf(sub, sizeof sub, "%s bwd dbeta", name);
	check(sub, db, dbr, C, tol);
	/* without dx (a batch norm first in the net): the same parameter gradients */
	if (p)
		facet_fast_bn_backward(p, x, g, mean, var, dy, NULL, dg2, db2);
	else
		facet_fast_bbn_backward(bp, xl, g, mean, var, dyl, NULL, dg2, db2);
	snprintf(sub, sizeof sub, "%s bwd no dx: dgamma", name);
	check(sub, dg2, dgr, C, tol);
	snprintf(sub, sizeof sub, "%s bwd no dx: dbeta", name);
	check(sub, db2, dbr, C, tol);
	/* inference with given statistics: made-up running mean/var */
	for (int c = 0; c < C; c++) {
		meanr[c] = frand();
		varr[c] = 1.0f + frand() * 0.5f;
	}
	for (int c = 0; c < C; c++)
		for (int n = 0; n < N; n++)
			for (size_t i = 0; i < hw; i++) {
				size_t j = (n * C + c) * hw + i;
				double t = g[c] * (x[j] - meanr[c]) / sqrt(varr[c] + eps) + be[c];
				yr[j] = (float)(relu && t < 0 ? 0 : t);
			}
	if (p) {
		facet_fast_bn_forward_infer(p, x, g, be, meanr, varr, y);
	} else {
		facet_fast_bbn_forward_infer(bp, xl, g, be, meanr, varr, yl);
		facet_fast_from_blocked(yl, y, N, C, HW);
	}
	snprintf(sub, sizeof sub, "%s infer y", name);
	check(sub, y, yr, nx, tol);
	facet_fast_bn_free(p);
	facet_fast_bbn_free(bp);
	free(xl);
	free(dyl);
	free(yl);
	free(dxl);
	float *all[] = {x,   dy,    g,    be, y,   yr, dx,  dxr, gm, mean,
	                var, meanr, varr, dg, dgr, db, dbr, dg2, db2};
	for (size_t i = 0; i < sizeof all / sizeof *all; i++)
		free(all[i]);
}

/* The blocked batch norm that also pools (pool FACET_FAST_POOL_BLOCKED or _PLAIN) against the
 * blocked batch norm then the blocked 2x2 pooling, each held to the references above: the same
 * numbers exactly, forward (training and inference) and backward. ties rounds x to a few values
 * (ties within windows; with relu, whole windows at 0). */
static void test_bn_pool(int N, int C, int H, int W, int relu, int pool, int ties)
{
	int OH = H / 2, OW = W / 2, HW = H * W, OHW = OH * OW, yb = pool == FACET_FAST_POOL_BLOCKED;
	size_t nx = (size_t)N * C * HW, ny = (size_t)N * C * OHW;
	float eps = 1e-3f;
	float *x = rnd(nx), *dyp = rnd(ny), *g = rnd(C), *be = rnd(C);
	float *y = zeros(nx), *dy = zeros(nx), *yp = zeros(ny), *yf = zeros(ny);
	float *dx = zeros(nx), *dxf = zeros(nx);
	float *mean = zeros(C), *var = zeros(C), *meanf = zeros(C), *varf = zeros(C);
	float *dg = zeros(C), *db = zeros(C), *dgf = zeros(C), *dbf = zeros(C);
	char name[160], sub[200];
	if (ties)
		for (size_t i = 0; i < nx; i++)
			x[i] = roundf(2.0f * x[i]);
	facet_fast_bbn *bn = facet_fast_bbn_new(N, C, H, W, eps, relu, 0);
	facet_fast_bpool *bp = facet_fast_bpool_new(N, C, H, W, 2, 2, yb);
	facet_fast_bbn *f = facet_fast_bbn_new(N, C, H, W, eps, relu, pool);
	float *xl = blk(x, N, C, HW, 1), *dypl = blk(dyp, N, C, OHW, yb);

	snprintf(name, sizeof name, "batchnorm%s+maxpool N%d C%d %dx%d%s, blk->%s",
	         relu ? "+relu" : "", N, C, H, W, ties ? " ties" : "", yb ? "blk" : "plain");
	facet_fast_bbn_forward_train(bn, xl, g, be, y, mean, var);
	facet_fast_bpool_forward(bp, y, yp);
	facet_fast_bbn_forward_train(f, dx, g, be, yf, meanf, varf); /* first on other data */
	facet_fast_bbn_forward_train(f, xl, g, be, yf, meanf, varf);
	snprintf(sub, sizeof sub, "%s train y", name);
	check(sub, yf, yp, ny, 0);
	snprintf(sub, sizeof sub, "%s train mean", name);
	check(sub, meanf, mean, C, 0);
	snprintf(sub, sizeof sub, "%s train var", name);
	check(sub, varf, var, C, 0);
	facet_fast_bpool_backward(bp, dypl, dy);
	facet_fast_bbn_backward(bn, xl, g, mean, var, dy, dx, dg, db);
	for (size_t i = 0; i < nx; i++) /* stale content must be overwritten */
		dxf[i] = 7.0f;
	facet_fast_bbn_backward(f, xl, g, mean, var, dypl, dxf, dgf, dbf);
	snprintf(sub, sizeof sub, "%s bwd dx", name);
	check(sub, dxf, dx, nx, 0);
	snprintf(sub, sizeof sub, "%s bwd dgamma", name);
	check(sub, dgf, dg, C, 0);
	snprintf(sub, sizeof sub, "%s bwd dbeta", name);
	check(sub, dbf, db, C, 0);
	facet_fast_bbn_forward_infer(bn, xl, g, be, mean, var, y);
	facet_fast_bpool_forward(bp, y, yp);
	facet_fast_bbn_forward_infer(f, xl, g, be, mean, var, yf);
	snprintf(sub, sizeof sub, "%s infer y", name);
	check(sub, yf, yp, ny, 0);
	facet_fast_bbn_free(bn);
	facet_fast_bpool_free(bp);
	facet_fast_bbn_free(f);
	float *all[] = {x,    dyp,  g,     be,   y,  dy, yp,  yf,  dx, dxf,
	                mean, var,  meanf, varf, dg, db, dgf, dbf, xl, dypl};
	for (size_t i = 0; i < sizeof all / sizeof *all; i++)
		free(all[i]);
}

/* ---------------------------------------------------------------- dense */

static void test_dense(int N, int I, int O, int prec, double tol)
{
	float *x = rnd((size_t)N * I), *w = rnd((size_t)O * I), *b = rnd(O),
	      *dy = rnd((size_t)N * O);
	float *y = zeros((size_t)N * O), *yr = zeros((size_t)N * O);
	float *dx = zeros((size_t)N * I), *dxr = zeros((size_t)N * I);
	float *dw = zeros((size_t)O * I), *dwr = zeros((size_t)O * I), *db = zeros(O),
	      *dbr = zeros(O);
	/* the sums of the terms' magnitudes: a few terms (N3 I1 O1) can cancel to far below them,
	 * and bf16 rounds each term */
	float *ym = zeros((size_t)N * O), *dxm = zeros((size_t)N * I), *dwm = zeros((size_t)O * I),
	      *dbm = zeros(O);
	char name[160], sub[200];
	facet_fast_dense *p = facet_fast_dense_new(N, I, O, prec);

	for (int n = 0; n < N; n++)
		for (int o = 0; o < O; o++) {
			double acc = b[o], mag = fabs(b[o]);
			for (int i = 0; i < I; i++) {
				acc += (double)x[n * I + i] * w[o * I + i];
				mag += fabs((double)x[n * I + i] * w[o * I + i]);
			}
			yr[n * O + o] = (float)acc;
			ym[n * O + o] = (float)mag;
			dbr[o] += dy[n * O + o];
			dbm[o] += fabsf(dy[n * O + o]);
			for (int i = 0; i < I; i++) {
				dxr[n * I + i] += dy[n * O + o] * w[o * I + i];
				dwr[o * I + i] += dy[n * O + o] * x[n * I + i];
				dxm[n * I + i] += fabsf(dy[n * O + o] * w[o * I + i]);
				dwm[o * I + i] += fabsf(dy[n * O + o] * x[n * I + i]);
			}
		}
	snprintf(name, sizeof name, "dense %s N%d I%d O%d", prec ? "bf16" : "fp32", N, I, O);
	facet_fast_dense_forward(p, dx, w, b, y); /* a first run on other data (zeros) */
	facet_fast_dense_forward(p, x, w, b, y);
	snprintf(sub, sizeof sub, "%s fwd", name);
	check_mag(sub, y, yr, ym, (size_t)N * O, tol);
	facet_fast_dense_backward(p, x, w, dy, dx, dw, db);
	snprintf(sub, sizeof sub, "%s bwd dx", name);
	check_mag(sub, dx, dxr, dxm, (size_t)N * I, tol);
	snprintf(sub, sizeof sub, "%s bwd dw", name);
	check_mag(sub, dw, dwr, dwm, (size_t)O * I, tol);
	snprintf(sub, sizeof sub, "%s bwd db", name);
	check_mag(sub, db, dbr, dbm, O, tol);
	facet_fast_dense_free(p);
	float *all[] = {x, w, b, dy, y, yr, dx, dxr, dw, dwr, db, dbr, ym, dxm, dwm, dbm};
	for (size_t i = 0; i < sizeof all / sizeof *all; i++)
		free(all[i]);
}

int main(void)
{
	facet_init("test_fastops");
	facet_fast_set_threads(0);
	int bf16 = facet_fast_has_bf16();
	printf("bf16: %s\n",
	       bf16 ? "native (AVX512-BF16)"
	            : "not on this CPU; bf16 plans run fp32 and are held to fp32 tolerance");
	for (int prec = FACET_PREC_F32; prec <= FACET_PREC_BF16; prec++) {
		double tol = prec == FACET_PREC_BF16 && bf16 ? 2e-2 : 1e-4;
		/*        N  C   H   W   K  R  S st pad relu */
		test_conv(2, 1, 12, 12, 8, 3, 3, 1, 1, 0, prec, tol, 0);  /* first layer, same */
		test_conv(2, 1, 13, 11, 8, 3, 3, 2, 1, 1, prec, tol, 0);  /* first layer, stride 2 */
		test_conv(2, 8, 10, 10, 16, 3, 3, 1, 0, 1, prec, tol, 0); /* valid */
		test_conv(3, 5, 9, 7, 6, 3, 3, 2, 1, 0, prec, tol, 0);    /* odd channels, stride 2 */
		test_conv(2, 16, 8, 8, 32, 5, 5, 1, 2, 1, prec, tol, 0);  /* 5x5 same */
		test_conv(2, 32, 6, 6, 16, 1, 1, 1, 0, 0, prec, tol, 0);  /* 1x1 */
		/* a kernel over the whole input (a read-out): run as an inner product */
		test_conv(3, 16, 4, 4, 8, 4, 4, 1, 0, 0, prec, tol, 0);
		test_conv(2, 4, 3, 5, 6, 3, 5, 2, 0, 1, prec, tol, 0);
		test_pool(2, 3, 8, 8, 2, 2, 0, prec, tol, 0);
		/* odd sizes: the last row/col dropped */
		test_pool(2, 16, 9, 7, 2, 2, 0, prec, tol, 0);
		test_pool(1, 4, 9, 9, 3, 2, 0, prec, tol, 0); /* overlapping windows */
		test_pool(2, 5, 6, 7, 2, 1, 0, prec, tol, 0); /* stride 1 */
		/* 2x2 rows that the vector loop (four windows at a time) takes whole or with a
		 * tail of one to three, odd last columns; then inputs full of ties */
		test_pool(2, 3, 6, 37, 2, 2, 0, prec, tol, 0);  /* 18 windows a row: 4 x 4 + 2 */
		test_pool(1, 2, 4, 16, 2, 2, 0, prec, tol, 0);  /* 8: 2 x 4 */
		test_pool(2, 3, 10, 10, 2, 2, 0, prec, tol, 0); /* 5: 4 + 1 */
		test_pool(2, 3, 9, 27, 2, 2, 1, prec, tol, 0);  /* 13: 3 x 4 + 1 */
		test_pool(2, 3, 7, 40, 2, 2, 1, prec, tol, 0);  /* 20: 5 x 4 */
		test_pool(2, 3, 6, 15, 2, 2, 1, prec, tol, 0);  /* 7: 4 + 3 */
		test_pool(2, 3, 8, 8, 2, 2, 1, prec, tol, 0);
		for (int relu = 0; relu <= 1; relu++) {
			test_bn(4, 3, 5, 5, 0.5f, relu, prec, tol, 0);
			test_bn(8, 16, 6, 6, 0.5f, relu, prec, tol, 0);
			test_bn(64, 8, 1, 1, 0.5f, relu, prec, tol, 0); /* after a dense layer */
			test_bn(16, 4, 32, 32, 100.0f, relu, prec, tol, 0);
		}
		/* the blocked layout (channels a multiple of 16: whole blocks of 8 or 16) */
		int X = FACET_FAST_X_BLOCKED, Y = FACET_FAST_Y_BLOCKED;
		test_conv(2, 16, 8, 8, 32, 3, 3, 1, 1, 1, prec, tol, X | Y);
		test_conv(2, 3, 10, 10, 16, 3, 3, 1, 1, 0, prec, tol, Y);  /* first layer */
		test_conv(2, 32, 6, 6, 16, 3, 3, 1, 1, 0, prec, tol, X);   /* to plain */
		test_conv(2, 16, 9, 9, 16, 3, 3, 2, 1, 0, prec, tol, X | Y); /* stride 2 */
		test_conv(2, 16, 8, 8, 32, 5, 5, 1, 2, 1, prec, tol, X | Y);
		for (int b = 1; b <= 2; b++) { /* blocked y, plain y */
			test_pool(2, 16, 8, 8, 2, 2, 0, prec, tol, b);
			test_pool(2, 32, 9, 7, 2, 2, 0, prec, tol, b);  /* odd: last row/col */
			test_pool(1, 16, 9, 9, 3, 2, 0, prec, tol, b);  /* overlapping windows */
			test_pool(2, 16, 6, 7, 2, 1, 0, prec, tol, b);  /* stride 1 */
			test_pool(2, 16, 7, 9, 2, 2, 1, prec, tol, b);  /* ties */
			test_pool(2, 32, 4, 4, 3, 3, 1, prec, tol, b);  /* 3x3, stride 3 */
		}
		for (int relu = 0; relu <= 1; relu++) {
			test_bn(8, 16, 6, 6, 0.5f, relu, prec, tol, 1);
			test_bn(16, 32, 16, 16, 100.0f, relu, prec, tol, 1);
			test_bn(64, 16, 1, 1, 0.5f, relu, prec, tol, 1);
			for (int pool = 1; pool <= 2; pool++) { /* y blocked, y plain */
				test_bn_pool(4, 32, 8, 8, relu, pool, 0);
				test_bn_pool(3, 16, 9, 7, relu, pool, 0); /* odd: last row/col */
				test_bn_pool(2, 16, 6, 10, relu, pool, 1);
			}
		}
		test_dense(4, 30, 7, prec, tol);
		test_dense(64, 512, 10, prec, tol);
		test_dense(3, 1, 1, prec, tol);
	}
	printf("%d passed, %d failed\n", n_pass, n_fail);
	return n_fail ? 1 : 0;
}

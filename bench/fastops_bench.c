/*
 * fastops_bench: speed of the fast-path plans (common/nn/fastops.h), one layer at a time.
 *
 *   make build/libfacet.a && cc -O2 -march=native -fopenmp -Icommon bench/fastops_bench.c \
 *       build/libfacet.a $(pkg-config --libs msgpack) -ldnnl -lm -o build/fastops_bench
 *   build/fastops_bench [fp32|bf16] [N C H W K R S stride pad relu]...
 *   build/fastops_bench fp32 bnpool      # batch norm (+ ReLU, two layers and fused), max pooling
 *   build/fastops_bench fp32 bbnpool     # blocked: batch norm + ReLU, pooling; and all three fused
 *
 * Prints, per convolution, the median time of forward and backward (data + weights) over 20 runs
 * and the GFLOP/s they reach (2*N*K*C*R*S*OH*OW per pass), reorders at the plan boundary
 * included. Without shapes it runs the default set: the notebook's age CNN layers at batch 64
 * and the DESIGN.md reference layer (128->128 3x3 23x23).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "facet.h"
#include "nn/fastops.h"
#include "nn/nn.h"

static double now(void)
{
	/* BENCH_CPUTIME=1: process CPU time instead of wall time, for A/B comparisons with
	 * OMP_NUM_THREADS=1 on a machine that is not quiet */
	static int cpu = -1;
	struct timespec t;
	if (cpu < 0)
		cpu = getenv("BENCH_CPUTIME") != NULL;
	clock_gettime(cpu ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* The median of t [n] (sorts t). */
static double median(double *t, int n)
{
	qsort(t, (size_t)n, sizeof *t, cmp);
	return t[n / 2];
}

/* Pseudo-random values in [-0.5, 0.5) (a 64-bit LCG's high bits): data-dependent branches, as
 * in max pooling, see coin flips here as they do on real activations, not a pattern a branch
 * predictor learns. */
static float *buf(size_t n)
{
	float *p = xmalloc(n * sizeof *p);
	uint64_t s = 0x9E3779B97F4A7C15u;
	for (size_t i = 0; i < n; i++) {
		s = s * 6364136223846793005u + 1442695040888963407u;
		p[i] = (float)(s >> 40) / 16777216.0f - 0.5f;
	}
	return p;
}

static void bench_conv(const int *a, int prec)
{
	int N = a[0], C = a[1], H = a[2], W = a[3], K = a[4], R = a[5], S = a[6], st = a[7],
	    pad = a[8], relu = a[9];
	int OH = (H + 2 * pad - R) / st + 1, OW = (W + 2 * pad - S) / st + 1;
	size_t nx = (size_t)N * C * H * W, nw = (size_t)K * C * R * S, ny = (size_t)N * K * OH * OW;
	float *x = buf(nx), *w = buf(nw), *b = buf(K), *y = buf(ny), *dy = buf(ny), *dx = buf(nx),
	      *dw = buf(nw), *db = buf(K);
	facet_fast_conv *p = facet_fast_conv_new(N, C, H, W, K, R, S, st, pad, pad, relu, prec, 0);
	enum { RUNS = 20 };
	double tf[RUNS], tb[RUNS];
	for (int i = -3; i < RUNS; i++) {
		double t0 = now();
		facet_fast_conv_forward(p, x, w, b, y);
		double t1 = now();
		facet_fast_conv_backward(p, x, w, dy, C > 1 ? dx : NULL, dw, db);
		double t2 = now();
		if (i >= 0) {
			tf[i] = t1 - t0;
			tb[i] = t2 - t1;
		}
	}
	double mf = median(tf, RUNS), mb = median(tb, RUNS);
	double flop = 2.0 * N * K * C * R * S * OH * OW;
	double fb = flop * (C > 1 ? 2 : 1);
	printf("conv N%-3d %3dx%-3dx%-3d -> %3d %dx%d s%d p%d: fwd %7.2f ms %6.1f GFLOP/s   bwd "
	       "%7.2f ms "
	       "%6.1f GFLOP/s\n",
	       N, C, H, W, K, R, S, st, pad, mf * 1e3, flop / mf * 1e-9, mb * 1e3,
	       fb / mb * 1e-9);
	facet_fast_conv_free(p);
	float *all[] = {x, w, b, y, dy, dx, dw, db};
	for (size_t i = 0; i < sizeof all / sizeof *all; i++)
		free(all[i]);
}

/* Batch norm (train forward + backward), batch norm + ReLU (as two layers, and fused into the
 * batch norm as the fast path runs a [batchnorm][relu] pair) and max pooling on x [N,C,H,W]:
 * median time and GB/s of x. The variants run interleaved, so a machine's drift hits each alike. */
static void bench_bn_pool(int N, int C, int H, int W)
{
	size_t nx = (size_t)N * C * H * W;
	float *x = buf(nx), *y = buf(nx), *dy = buf(nx), *dx = buf(nx), *g = buf(C), *b = buf(C),
	      *m = buf(C), *v = buf(C), *dg = buf(C), *db = buf(C), *dr = buf(nx);
	facet_fast_bn *bn = facet_fast_bn_new(N, C, H, W, 1e-3f, 0, FACET_PREC_F32);
	facet_fast_bn *bnr = facet_fast_bn_new(N, C, H, W, 1e-3f, 1, FACET_PREC_F32);
	facet_fast_pool *pl = facet_fast_pool_new(N, C, H, W, 2, 2, FACET_PREC_F32);
	enum { RUNS = 15, K = 8 };
	double t[K][RUNS];
	for (int i = -2; i < RUNS; i++) {
		double t0 = now();
		facet_fast_bn_forward_train(bn, x, g, b, y, m, v);
		double t1 = now();
		facet_fast_bn_backward(bn, x, g, m, v, dy, dx, dg, db);
		double t2 = now();
		/* the [relu] layer's passes (relu.c), in place: the same reads and writes */
		facet_fast_bn_forward_train(bn, x, g, b, y, m, v);
		facet_act_forward(FACET_ACT_RELU, y, nx);
		double t3 = now();
		facet_act_backward(FACET_ACT_RELU, y, dr, nx);
		facet_fast_bn_backward(bn, x, g, m, v, dr, dx, dg, db);
		double t4 = now();
		facet_fast_bn_forward_train(bnr, x, g, b, y, m, v);
		double t5 = now();
		facet_fast_bn_backward(bnr, x, g, m, v, dy, dx, dg, db);
		double t6 = now();
		facet_fast_pool_forward(pl, x, y);
		double t7 = now();
		facet_fast_pool_backward(pl, y, dx); /* y as dy [N,C,H/2,W/2] */
		double t8 = now();
		if (i >= 0) {
			double e[K] = {t1 - t0, t2 - t1, t3 - t2, t4 - t3,
			               t5 - t4, t6 - t5, t7 - t6, t8 - t7};
			for (int k = 0; k < K; k++)
				t[k][i] = e[k];
		}
	}
	const char *name[K] = {"bn fwd",
	                       "bn bwd",
	                       "bn+relu fwd (2 layers)",
	                       "bn+relu bwd (2 layers)",
	                       "bn+relu fwd (fused)",
	                       "bn+relu bwd (fused)",
	                       "pool fwd",
	                       "pool bwd"};
	for (int k = 0; k < K; k++) {
		double m = median(t[k], RUNS);
		printf("%-22s N%-3d %3dx%-3dx%-3d: %7.2f ms (%.1f GB/s of x)\n", name[k], N, C, H,
		       W, m * 1e3, nx * 4.0 / m * 1e-9);
	}
	facet_fast_bn_free(bn);
	facet_fast_bn_free(bnr);
	facet_fast_pool_free(pl);
	float *all[] = {x, y, dy, dx, g, b, m, v, dg, db, dr};
	for (size_t i = 0; i < sizeof all / sizeof *all; i++)
		free(all[i]);
}

/* On the blocked layout: batch norm + ReLU then 2x2 max pooling as two plans, against the
 * batch norm that pools (as the fast path runs a [batchnorm][relu][maxpool] triple), training
 * forward and backward, interleaved; y_blocked as the pooling before another convolution (1) or
 * before a read-out or flatten (0). */
static void bench_bbn_pool(int N, int C, int H, int W, int y_blocked)
{
	size_t nx = (size_t)N * C * H * W, ny = (size_t)N * C * (H / 2) * (W / 2);
	float *x = buf(nx), *y = buf(nx), *dy = buf(nx), *dx = buf(nx), *g = buf(C), *b = buf(C),
	      *m = buf(C), *v = buf(C), *dg = buf(C), *db = buf(C), *yp = buf(ny), *dyp = buf(ny);
	int pool = y_blocked ? FACET_FAST_POOL_BLOCKED : FACET_FAST_POOL_PLAIN;
	facet_fast_bbn *bn = facet_fast_bbn_new(N, C, H, W, 1e-3f, 1, 0);
	facet_fast_bpool *pl = facet_fast_bpool_new(N, C, H, W, 2, 2, y_blocked);
	facet_fast_bbn *f = facet_fast_bbn_new(N, C, H, W, 1e-3f, 1, pool);
	enum { RUNS = 15, K = 4 };
	double t[K][RUNS];
	for (int i = -2; i < RUNS; i++) {
		double t0 = now();
		facet_fast_bbn_forward_train(bn, x, g, b, y, m, v);
		facet_fast_bpool_forward(pl, y, yp);
		double t1 = now();
		facet_fast_bpool_backward(pl, dyp, dy);
		facet_fast_bbn_backward(bn, x, g, m, v, dy, dx, dg, db);
		double t2 = now();
		facet_fast_bbn_forward_train(f, x, g, b, yp, m, v);
		double t3 = now();
		facet_fast_bbn_backward(f, x, g, m, v, dyp, dx, dg, db);
		double t4 = now();
		if (i >= 0) {
			double e[K] = {t1 - t0, t2 - t1, t3 - t2, t4 - t3};
			for (int k = 0; k < K; k++)
				t[k][i] = e[k];
		}
	}
	const char *name[K] = {"bn+relu, pool fwd", "bn+relu, pool bwd", "bn+relu+pool fwd",
	                       "bn+relu+pool bwd"};
	for (int k = 0; k < K; k++) {
		printf("%-18s blocked N%-3d %3dx%-3dx%-3d -> %s: %7.2f ms\n", name[k], N, C, H, W,
		       y_blocked ? "blocked" : "plain", median(t[k], RUNS) * 1e3);
	}
	facet_fast_bbn_free(bn);
	facet_fast_bpool_free(pl);
	facet_fast_bbn_free(f);
	float *all[] = {x, y, dy, dx, g, b, m, v, dg, db, yp, dyp};
	for (size_t i = 0; i < sizeof all / sizeof *all; i++)
		free(all[i]);
}

int main(int argc, char **argv)
{
	facet_init("fastops_bench");
	int prec = argc > 1 && !strcmp(argv[1], "bf16") ? FACET_PREC_BF16 : FACET_PREC_F32;
	facet_fast_set_threads(0);
	printf("precision %s (native bf16: %s)\n", prec ? "bf16" : "fp32",
	       facet_fast_has_bf16() ? "yes" : "no");
	if (argc > 2 && !strcmp(argv[2], "bnpool")) {
		/* the 80x80 read-out net's four blocks (multitask-light-readout80.cfg) */
		bench_bn_pool(64, 32, 80, 80);
		bench_bn_pool(64, 64, 40, 40);
		bench_bn_pool(64, 128, 20, 20);
		bench_bn_pool(64, 256, 10, 10);
		return 0;
	}
	if (argc > 2 && !strcmp(argv[2], "bbnpool")) {
		/* the 64x64 read-out net's four blocks (multitask-light-readout.cfg) */
		bench_bbn_pool(64, 32, 64, 64, 1);
		bench_bbn_pool(64, 64, 32, 32, 1);
		bench_bbn_pool(64, 128, 16, 16, 1);
		bench_bbn_pool(64, 256, 8, 8, 0);
		return 0;
	}
	if (argc > 2) {
		for (int i = 2; i + 10 <= argc; i += 10) {
			int a[10];
			for (int j = 0; j < 10; j++)
				a[j] = atoi(argv[i + j]);
			bench_conv(a, prec);
		}
		return 0;
	}
	static const int set[][10] = {
	    {64, 128, 23, 23, 128, 3, 3, 1, 1, 1}, {64, 1, 48, 48, 64, 3, 3, 1, 1, 1},
	    {64, 64, 48, 48, 64, 3, 3, 1, 1, 1},   {64, 64, 24, 24, 128, 3, 3, 1, 1, 1},
	    {64, 128, 12, 12, 256, 3, 3, 1, 1, 1},
	};
	for (size_t i = 0; i < sizeof set / sizeof *set; i++)
		bench_conv(set[i], prec);
	bench_bn_pool(64, 32, 64, 64);
	bench_bn_pool(64, 128, 16, 16);
	return 0;
}

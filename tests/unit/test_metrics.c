/* Unit tests of common/metrics.c and the bounded tile sets of common/montage.c, against values
 * worked out by hand (scikit-learn's, for the classification ones; SciPy's, for the confidence
 * intervals). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "facet.h"
#include "metrics.h"
#include "montage.h"

static int n_pass, n_fail;

static void check(int ok, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (!ok) {
		printf("FAIL: ");
		vprintf(fmt, ap);
		printf("\n");
	}
	va_end(ap);
	ok ? n_pass++ : n_fail++;
}

static void near(double got, double want, const char *what)
{
	check(fabs(got - want) < 1e-12, "%s: got %.17g, want %.17g", what, got, want);
}

static void test_auc(void)
{
	/* pos {0.8, 0.4}, neg {0.1, 0.6}: 3 of 4 pairs ordered. */
	facet_scored s[4] = {{0.1f, 0}, {0.8f, 1}, {0.4f, 1}, {0.6f, 0}};
	near(facet_auc(s, 4), 0.75, "auc");
	/* Ties count half: pos {0.5, 0.9}, neg {0.5, 0.1} -> (1 + 1 + 0.5 + 1) / 4. */
	facet_scored t[4] = {{0.5f, 1}, {0.9f, 1}, {0.5f, 0}, {0.1f, 0}};
	near(facet_auc(t, 4), 0.875, "auc with a tie");
	facet_scored one[2] = {{0.5f, 1}, {0.2f, 1}};
	check(isnan(facet_auc(one, 2)), "auc of one class is NAN");
	double fpr[8], tpr[8];
	int n = facet_roc(t, 4, fpr, tpr, 8);
	check(n == 4 && fpr[0] == 0 && tpr[0] == 0 && fpr[n - 1] == 1 && tpr[n - 1] == 1,
	      "roc from (0,0) to (1,1) with one point per distinct score: %d points", n);
}

static void test_confusion(void)
{
	/* truth 0 1 2 0, predicted 0 2 2 0 (K = 5: classes 3 and 4 never seen). */
	facet_confusion c;
	facet_class_report r;
	facet_confusion_init(&c, 5);
	int t[4] = {0, 1, 2, 0}, p[4] = {0, 2, 2, 0};
	for (int i = 0; i < 4; i++)
		facet_confusion_add(&c, t[i], p[i]);
	facet_confusion_report(&c, &r);
	near(r.accuracy, 0.75, "accuracy");
	check(r.correct == 3 && r.tp[0] == 2 && r.tp[1] == 0 && r.tp[2] == 1,
	      "correct %llu, true positives %llu %llu %llu", (unsigned long long)r.correct,
	      (unsigned long long)r.tp[0], (unsigned long long)r.tp[1],
	      (unsigned long long)r.tp[2]);
	near(r.precision[2], 0.5, "precision of class 2");
	near(r.recall[2], 1, "recall of class 2");
	near(r.f1[2], 2 * 0.5 / 1.5, "F1 of class 2");
	near(r.precision[1], 0, "precision of a never-predicted class (zero_division=0)");
	check(r.n_present == 3, "classes present: %d", r.n_present);
	near(r.macro_precision, 0.5, "macro precision");
	near(r.macro_recall, 2.0 / 3, "macro recall");
	check(facet_argmax((double[]){0.2, 0.5, 0.5}, 3) == 1, "argmax takes the first of ties");
}

static void test_running(void)
{
	facet_reg g = {0};
	facet_reg_add(&g, 20, 25);
	facet_reg_add(&g, 30, 27);
	near(facet_reg_mae(&g), 4, "mae");
	near(facet_reg_mse(&g), 17, "mse");
	near(facet_reg_bias(&g), 1, "bias");
	facet_stat s = {0};
	for (int i = 1; i <= 4; i++)
		facet_stat_add(&s, i);
	near(s.mean, 2.5, "mean");
	near(facet_stat_sd(&s), sqrt(1.25), "sd");
	facet_corr c = {0};
	for (int i = 0; i < 5; i++)
		facet_corr_add(&c, i, 2 * i + 1);
	near(facet_corr_value(&c), 1, "correlation of a line");
	facet_corr k = {0};
	facet_corr_add(&k, 1, 1);
	facet_corr_add(&k, 1, 2);
	check(isnan(facet_corr_value(&k)), "correlation with a constant is NAN");
	/* Values 1, 2, 2, 10: numpy.percentile -> 25%: 1.75, 50%: 2, 75%: 4. */
	uint64_t h[11] = {0};
	h[1] = 1, h[2] = 2, h[10] = 1;
	near(facet_hist_quantile(h, 11, 0.25), 1.75, "q1");
	near(facet_hist_quantile(h, 11, 0.5), 2, "median");
	near(facet_hist_quantile(h, 11, 0.75), 4, "q3");
	near(facet_hist_quantile(h, 11, 1), 10, "max");
	check(facet_age_band(9.9) == 0 && facet_age_band(10) == 1 && facet_age_band(116) == 8,
	      "age bands");
}

/* Expected ends from scipy 1.10: scipy.stats.binomtest(k, n).proportion_ci(0.95, "wilson"),
 * whose z is scipy.stats.norm.ppf(0.975) = 1.959963984540054. 81 of 263 is Newcombe's (1998)
 * worked example, printed there as 0.2553 to 0.3662. */
static void test_wilson(void)
{
	static const struct {
		uint64_t k, n;
		double lo, hi;
	} cases[] = {
	    {81, 263, 0.2552885198782742, 0.36620957698280004},
	    {50, 100, 0.4038315303659956, 0.5961684696340044},
	    {2, 4, 0.15003898915214953, 0.8499610108478505},
	    {3, 4, 0.30064184258240184, 0.9544127391902995},
	    {2051, 2185, 0.9278220909466605, 0.947983688533066},
	    {0, 10, 0, 0.27753279986288926},
	    {10, 10, 0.7224672001371109, 1},
	    {0, 1, 0, 0.7934506856227626},
	    {1, 1, 0.20654931437723745, 1},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		double lo, hi;
		char what[64];
		int rc = facet_wilson(cases[i].k, cases[i].n, FACET_Z95, &lo, &hi);
		check(rc == 0, "wilson %llu/%llu returns %d", (unsigned long long)cases[i].k,
		      (unsigned long long)cases[i].n, rc);
		snprintf(what, sizeof what, "wilson %llu/%llu low", (unsigned long long)cases[i].k,
		         (unsigned long long)cases[i].n);
		near(lo, cases[i].lo, what);
		snprintf(what, sizeof what, "wilson %llu/%llu high", (unsigned long long)cases[i].k,
		         (unsigned long long)cases[i].n);
		near(hi, cases[i].hi, what);
	}
	double lo, hi;
	check(facet_wilson(0, 10, FACET_Z95, &lo, &hi) == 0 && lo == 0, "k = 0: low is exactly 0");
	check(facet_wilson(10, 10, FACET_Z95, &lo, &hi) == 0 && hi == 1,
	      "k = n: high is exactly 1");
	check(facet_wilson(0, 0, FACET_Z95, &lo, &hi) == -1 && isnan(lo) && isnan(hi),
	      "n = 0: no interval (NAN, -1)");
	check(facet_wilson(5, 4, FACET_Z95, &lo, &hi) == -1 && isnan(lo) && isnan(hi),
	      "k > n: no interval (NAN, -1)");
	/* Contains the estimate and narrows as n grows at the same proportion. */
	double width = 2;
	for (uint64_t n = 10; n <= 1000000; n *= 10) {
		uint64_t k = 3 * n / 10;
		facet_wilson(k, n, FACET_Z95, &lo, &hi);
		check(lo <= 0.3 && 0.3 <= hi && hi - lo < width,
		      "wilson %llu/%llu: [%g, %g] holds 0.3 and is narrower than %g",
		      (unsigned long long)k, (unsigned long long)n, lo, hi, width);
		width = hi - lo;
	}
	/* z = 0 is the point estimate itself. */
	facet_wilson(81, 263, 0, &lo, &hi);
	near(lo, 81.0 / 263, "wilson at z = 0 low");
	near(hi, 81.0 / 263, "wilson at z = 0 high");
}

/* Expected ends from NumPy/SciPy: a = |errors|, a.mean() -+ norm.ppf(0.975) * scipy.stats.sem(a)
 * (sem: sample standard deviation, ddof=1, over sqrt(n)). */
static void test_mae_ci(void)
{
	double lo, hi;
	facet_reg g = {0};
	for (int i = 1; i <= 10; i++) /* |errors| 1..10, signs alternating */
		facet_reg_add(&g, 50, i % 2 ? 50 + i : 50 - i);
	check(facet_reg_mae_ci(&g, FACET_Z95, &lo, &hi) == 0, "mae ci of 10 errors");
	near(lo, 3.623477350975228, "mae ci of 1..10 low");
	near(hi, 7.376522649024772, "mae ci of 1..10 high");

	facet_reg two = {0};
	facet_reg_add(&two, 20, 25);
	facet_reg_add(&two, 30, 27);
	facet_reg_mae_ci(&two, FACET_Z95, &lo, &hi);
	near(lo, 2.040036015459946, "mae ci of 5, 3 low");
	near(hi, 5.959963984540054, "mae ci of 5, 3 high");

	/* Errors 5, -3, -25, 0: 8.25 -+ 11.13 reaches below 0 and is clamped there. */
	facet_reg four = {0};
	double act[4] = {20, 30, 85, 5}, pred[4] = {25, 27, 60, 5};
	for (int i = 0; i < 4; i++)
		facet_reg_add(&four, act[i], pred[i]);
	facet_reg_mae_ci(&four, FACET_Z95, &lo, &hi);
	check(lo == 0, "mae ci low clamped at 0: %g", lo);
	check(fabs(hi - 19.3768601400075) < 1e-9, "mae ci of 5, -3, -25, 0 high: %.17g", hi);

	/* One error, or none: no spread, no interval. Equal errors: a zero-width interval. */
	facet_reg one = {0};
	check(facet_reg_mae_ci(&one, FACET_Z95, &lo, &hi) == -1 && isnan(lo) && isnan(hi),
	      "mae ci of no error is NAN");
	facet_reg_add(&one, 10, 13);
	check(facet_reg_mae_ci(&one, FACET_Z95, &lo, &hi) == -1 && isnan(lo) && isnan(hi),
	      "mae ci of one error is NAN");
	facet_reg_add(&one, 10, 7);
	check(facet_reg_mae_ci(&one, FACET_Z95, &lo, &hi) == 0 && lo == 3 && hi == 3,
	      "mae ci of equal |errors| is [3, 3]: [%g, %g]", lo, hi);
}

/* Expected p-values from scipy 1.10: scipy.stats.binomtest(b, b + c).pvalue (the exact McNemar
 * test) and 2 * scipy.stats.norm.sf(|z|); compared to 1e-9 relative. */
static void test_paired_p(void)
{
	static const struct {
		uint64_t b, c;
		double p;
	} cases[] = {
	    {9, 14, 0.4048728942871094},
	    {17, 26, 0.2220528201560228},
	    {0, 5, 0.0625},
	    {5, 5, 1.0},
	    {3, 30, 1.4011748135089874e-06},
	    {1000, 1100, 0.030720707864242486},
	    {0, 1, 1.0},
	    {40, 0, 1.8189894035458565e-12},
	    {0, 0, 1.0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		double p = facet_mcnemar_p(cases[i].b, cases[i].c);
		check(fabs(p - cases[i].p) <= 1e-9 * cases[i].p,
		      "mcnemar %llu vs %llu: got %.17g, want %.17g", (unsigned long long)cases[i].b,
		      (unsigned long long)cases[i].c, p, cases[i].p);
		check(p == facet_mcnemar_p(cases[i].c, cases[i].b),
		      "mcnemar %llu vs %llu is symmetric", (unsigned long long)cases[i].b,
		      (unsigned long long)cases[i].c);
	}
	static const double z[][2] = {
	    {0, 1.0}, {FACET_Z95, 0.05}, {-2.5, 0.012419330651552265}, {4, 6.334248366623973e-05}};
	for (size_t i = 0; i < sizeof z / sizeof *z; i++) {
		double p = facet_normal_p(z[i][0]);
		check(fabs(p - z[i][1]) <= 1e-9 * z[i][1], "normal p of %g: got %.17g, want %.17g",
		      z[i][0], p, z[i][1]);
	}
	check(isnan(facet_normal_p(NAN)), "normal p of NaN is NaN");
}

static void test_tiles(void)
{
	int64_t shape[3] = {2, 2, 1};
	facet_tensor im;
	facet_tensor_alloc(&im, FACET_U8, 3, shape);

	/* Worst-3 of scores 5 1 9 3 7 8: 9 8 7. */
	facet_tiles w;
	facet_tiles_init(&w, 3, 0);
	double scores[6] = {5, 1, 9, 3, 7, 8};
	for (int i = 0; i < 6; i++) {
		facet_tile *t = facet_tiles_worst(&w, scores[i]);
		if (t) {
			facet_tile_set(t, &im, "x", "id", scores[i], (uint64_t)i + 1);
			facet_tiles_worst_fix(&w);
		}
	}
	facet_tiles_sort_by_score(&w);
	check(w.n == 3 && w.tiles[0].score == 9 && w.tiles[1].score == 8 && w.tiles[2].score == 7,
	      "worst-3: %g %g %g", w.tiles[0].score, w.tiles[1].score, w.tiles[2].score);
	facet_tiles_free(&w);

	/* Reservoir: 4 of 1000, every record equally likely: over many seeds each of 10 blocks
	 * of 100 records gets about a tenth of the picks. */
	int blocks[10] = {0};
	for (uint64_t seed = 1; seed <= 500; seed++) {
		facet_tiles s;
		facet_tiles_init(&s, 4, seed);
		for (uint64_t r = 1; r <= 1000; r++) {
			facet_tile *t = facet_tiles_sample(&s);
			if (t)
				facet_tile_set(t, &im, "", "", 0, r);
		}
		for (int i = 0; i < s.n; i++)
			blocks[(s.tiles[i].record - 1) / 100]++;
		facet_tiles_free(&s);
	}
	int lo = blocks[0], hi = blocks[0];
	for (int b = 1; b < 10; b++) {
		lo = blocks[b] < lo ? blocks[b] : lo;
		hi = blocks[b] > hi ? blocks[b] : hi;
	}
	check(lo > 140 && hi < 260, "reservoir is uniform: blocks hold %d..%d of 2000 picks", lo,
	      hi);
	check(facet_montage_columns(36) == 9 && facet_montage_columns(24) == 8,
	      "montage columns: 36 -> %d, 24 -> %d", facet_montage_columns(36),
	      facet_montage_columns(24));
	facet_tensor_free(&im);
}

int main(void)
{
	facet_init("test_metrics");
	test_auc();
	test_confusion();
	test_running();
	test_wilson();
	test_mae_ci();
	test_paired_p();
	test_tiles();
	printf("%d passed, %d failed\n", n_pass, n_fail);
	return n_fail ? 1 : 0;
}

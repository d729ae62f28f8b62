/* Unit tests of common/metrics.c and the bounded tile sets of common/montage.c, against values
 * worked out by hand (scikit-learn's, for the classification ones). */
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
	test_tiles();
	printf("%d passed, %d failed\n", n_pass, n_fail);
	return n_fail ? 1 : 0;
}
